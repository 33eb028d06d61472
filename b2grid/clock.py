"""Grid time.

Policy code never calls ``time.time()``: it takes ``now`` from a :class:`Clock`. A
:class:`WallClock` follows real time; a :class:`VirtualClock` stands still until it is
advanced, so lifetimes of 90 days can be tested in microseconds. All times are
timezone-aware UTC datetimes.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

from b2grid.errors import BadArgument


def utcnow() -> datetime:
    """The current wall-clock time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


@runtime_checkable
class Clock(Protocol):
    """Anything that tells grid time."""

    def now(self) -> datetime:
        """The current grid time (timezone-aware UTC)."""
        ...


class WallClock:
    """Grid time is real time."""

    def now(self) -> datetime:
        return utcnow()

    def __repr__(self) -> str:
        return "WallClock()"


class VirtualClock:
    """Grid time that moves only when told to.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> clock = VirtualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    >>> clock.advance(days=90).date().isoformat()
    '2026-04-01'
    """

    def __init__(self, start: datetime | None = None) -> None:
        """Start at ``start`` (default: now); a naive datetime raises
        :class:`~b2grid.errors.BadArgument`."""
        start = utcnow() if start is None else start
        if not isinstance(start, datetime) or start.tzinfo is None:
            shown = start.isoformat() if isinstance(start, datetime) else repr(start)
            raise BadArgument(
                "start",
                f"{shown} is not a timezone-aware datetime; pass one, e.g. "
                "datetime(2026, 1, 1, tzinfo=timezone.utc)",
            )
        self._now = start.astimezone(timezone.utc)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(
        self,
        *,
        days: float = 0,
        hours: float = 0,
        minutes: float = 0,
        seconds: float = 0,
    ) -> datetime:
        """Move grid time forward and return the new time; time never goes back
        (a negative step raises :class:`~b2grid.errors.BadArgument`)."""
        parts = {"days": days, "hours": hours, "minutes": minutes, "seconds": seconds}
        step = timedelta(**parts)
        if step < timedelta(0):
            field = next((k for k, v in parts.items() if v < 0), "days")
            raise BadArgument(
                field,
                f"grid time cannot go back (asked to advance by {step}); give a "
                "step >= 0",
            )
        with self._lock:
            self._now += step
            return self._now

    def __repr__(self) -> str:
        return f"VirtualClock({self._now.isoformat()})"


__all__ = ["Clock", "VirtualClock", "WallClock", "utcnow"]
