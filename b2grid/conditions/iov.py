"""Intervals of validity: which (experiment, run) a payload is valid for.

An :class:`IoV` is the closed range ``(exp_low, run_low)`` to ``(exp_high, run_high)``
of (experiment, run) points, compared lexicographically. ``-1`` in a high field is an
open end, as in basf2: ``run_high=-1`` runs to the end of experiment ``exp_high`` and
``(-1, -1)`` runs forever. Pure: no disk, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from b2grid.errors import BadIoV

#: stands for ``-1`` (open) in a high field when points are compared
OPEN = 2**63 - 1

_TEXT = re.compile(
    r"^\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)\s*-\s*\(\s*(-?\d+)\s*,\s*(-?\d+)\s*\)$"
)


def _text(exp_low: object, run_low: object, exp_high: object, run_high: object) -> str:
    return f"({exp_low},{run_low})-({exp_high},{run_high})"


@dataclass(frozen=True, slots=True)
class IoV:
    """The experiments and runs ``(exp_low, run_low)`` to ``(exp_high, run_high)``.

    Low fields are ``>= 0``; high fields are ``>= 0`` or ``-1`` (open). An open
    experiment (``exp_high=-1``) needs an open run (``run_high=-1``), and the high
    point may not come before the low one; anything else raises
    :class:`~b2grid.errors.BadIoV`.

    Examples
    --------
    >>> iov = IoV(12, 0, 12, -1)
    >>> str(iov), iov.contains(12, 5000), iov.contains(13, 0)
    ('(12,0)-(12,-1)', True, False)
    >>> IoV.parse("(14,0)-(-1,-1)") == IoV(14, 0)
    True
    >>> IoV(12, 50, 12, 10)
    Traceback (most recent call last):
    ...
    b2grid.errors.BadIoV: bad interval of validity (12,50)-(12,10): ...
    """

    #: first experiment of the interval
    exp_low: int
    #: first run in ``exp_low``
    run_low: int
    #: last experiment, or -1 for no end
    exp_high: int = -1
    #: last run in ``exp_high``, or -1 for all runs of it
    run_high: int = -1

    def __post_init__(self) -> None:
        text = _text(self.exp_low, self.run_low, self.exp_high, self.run_high)
        fields = (self.exp_low, self.run_low, self.exp_high, self.run_high)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in fields):
            raise BadIoV(text, "experiment and run numbers must be integers")
        if self.exp_low < 0 or self.run_low < 0:
            raise BadIoV(text, "the low experiment and run must be >= 0")
        if self.exp_high < -1 or self.run_high < -1:
            raise BadIoV(text, "a high experiment or run must be >= 0, or -1 (open)")
        if self.exp_high == -1 and self.run_high != -1:
            raise BadIoV(text, "an open experiment (-1) needs an open run (-1) too")
        if self.upper < self.lower:
            raise BadIoV(text, "it ends before it starts")

    @property
    def lower(self) -> tuple[int, int]:
        """The first (exp, run) point."""
        return (self.exp_low, self.run_low)

    @property
    def upper(self) -> tuple[int, int]:
        """The last (exp, run) point, with :data:`OPEN` for ``-1``."""
        return (
            OPEN if self.exp_high == -1 else self.exp_high,
            OPEN if self.run_high == -1 else self.run_high,
        )

    def contains(self, exp: int, run: int) -> bool:
        """Whether run ``run`` of experiment ``exp`` lies in the interval.

        Examples
        --------
        >>> IoV.runs(12, 10, 20).contains(12, 20), IoV.always().contains(99, 1)
        (True, True)
        """
        return self.lower <= (exp, run) <= self.upper

    def overlaps(self, other: IoV) -> bool:
        """Whether some (exp, run) lies in both intervals.

        Examples
        --------
        >>> IoV.runs(12, 0, 10).overlaps(IoV.runs(12, 10, 20))
        True
        >>> IoV.experiment(12).overlaps(IoV(13, 0))
        False
        """
        return self.lower <= other.upper and other.lower <= self.upper

    def as_tuple(self) -> tuple[int, int, int, int]:
        """``(exp_low, run_low, exp_high, run_high)``, the form stored on disk."""
        return (self.exp_low, self.run_low, self.exp_high, self.run_high)

    def __str__(self) -> str:
        return _text(self.exp_low, self.run_low, self.exp_high, self.run_high)

    @classmethod
    def parse(cls, text: str) -> IoV:
        """Read ``"(exp_low,run_low)-(exp_high,run_high)"``, the form of ``str()``.

        Examples
        --------
        >>> IoV.parse(" (12, 0)-(12, 100) ")
        IoV(exp_low=12, run_low=0, exp_high=12, run_high=100)
        >>> IoV.parse("12:0-12:100")
        Traceback (most recent call last):
        ...
        b2grid.errors.BadIoV: bad interval of validity '12:0-12:100': ...
        """
        m = _TEXT.match(text.strip())
        if m is None:
            raise BadIoV(repr(text), "expected '(exp_low,run_low)-(exp_high,run_high)'")
        a, b, c, d = (int(g) for g in m.groups())
        return cls(a, b, c, d)

    @classmethod
    def always(cls) -> IoV:
        """Every run of every experiment: ``(0,0)-(-1,-1)``."""
        return cls(0, 0, -1, -1)

    @classmethod
    def run(cls, exp: int, run: int) -> IoV:
        """The single run ``run`` of experiment ``exp``."""
        return cls(exp, run, exp, run)

    @classmethod
    def runs(cls, exp: int, first: int, last: int) -> IoV:
        """Runs ``first`` to ``last`` (-1: to the end) of experiment ``exp``."""
        return cls(exp, first, exp, last)

    @classmethod
    def experiment(cls, exp: int) -> IoV:
        """Every run of experiment ``exp``: ``(exp,0)-(exp,-1)``."""
        return cls(exp, 0, exp, -1)


__all__ = ["IoV", "OPEN"]
