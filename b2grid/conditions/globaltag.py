"""Global tags: named lists of payload revisions, editable while staging, then frozen.

:class:`GlobalTag` is the record; :func:`resolve` picks the payload revision a tag
gives for one run and :func:`coverage` says where a payload name is valid. Pure: the
database (:mod:`b2grid.conditions.database`) does the storing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from b2grid.conditions.payload import PayloadRef
from b2grid.errors import ConditionsError

#: global tag names: as on the Belle II conditions database server
TAG_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")


class TagStatus(str, Enum):
    """A global tag's state: ``staging`` tags change, ``published`` ones never do."""

    STAGING = "staging"
    PUBLISHED = "published"


def check_tag_name(name: str) -> str:
    """Return ``name`` if it is a valid global tag name, else raise ConditionsError.

    Examples
    --------
    >>> check_tag_name("main_2026-03.v1")
    'main_2026-03.v1'
    >>> check_tag_name("my tag")
    Traceback (most recent call last):
    ...
    b2grid.errors.ConditionsError: bad global tag name 'my tag': ...
    """
    if (
        not isinstance(name, str)
        or TAG_NAME.match(name) is None
        or name.startswith(".")
    ):
        raise ConditionsError(
            f"bad global tag name {name!r}: use 1 to 64 letters, digits, '_', '.' "
            "or '-', not starting with '.'"
        )
    return name


@dataclass(frozen=True, slots=True)
class GlobalTag:
    """A global tag as stored: its state and the payload revisions it lists."""

    #: the tag's name, see :func:`check_tag_name`
    name: str
    #: staging (editable) or published (immutable)
    status: TagStatus
    #: free text: what the tag is for
    description: str = ""
    #: grid time of creation
    created: float = 0.0
    #: grid time of publication, None while staging
    published_at: float | None = None
    #: the payload revisions, in the order they were added
    payloads: tuple[PayloadRef, ...] = ()

    @property
    def published(self) -> bool:
        """Whether the tag is published (hence immutable)."""
        return self.status is TagStatus.PUBLISHED

    def payload_names(self) -> list[str]:
        """The distinct payload names the tag lists, sorted."""
        return sorted({ref.name for ref in self.payloads})

    def resolve(self, name: str, exp: int, run: int) -> PayloadRef | None:
        """:func:`resolve` over this tag's payloads."""
        return resolve(self.payloads, name, exp, run)


def resolve(
    refs: Iterable[PayloadRef], name: str, exp: int, run: int
) -> PayloadRef | None:
    """The revision of ``name`` valid for (``exp``, ``run``), or None.

    When several revisions of ``name`` cover the run, the highest revision (the one
    added last) wins.

    Examples
    --------
    >>> from b2grid.conditions.iov import IoV
    >>> refs = [PayloadRef("Gains", 1, IoV.always()),
    ...         PayloadRef("Gains", 2, IoV(12, 0))]
    >>> resolve(refs, "Gains", 10, 3).revision, resolve(refs, "Gains", 12, 3).revision
    (1, 2)
    >>> resolve(refs, "BeamSpot", 12, 3) is None
    True
    """
    best: PayloadRef | None = None
    for ref in refs:
        if (
            ref.name == name
            and ref.iov.contains(exp, run)
            and (best is None or ref.revision > best.revision)
        ):
            best = ref
    return best


def coverage(refs: Iterable[PayloadRef], name: str) -> str:
    """Where ``name`` is valid, as sorted distinct IoVs (``""`` when nowhere).

    Examples
    --------
    >>> from b2grid.conditions.iov import IoV
    >>> refs = [PayloadRef("Gains", 2, IoV(14, 0)),
    ...         PayloadRef("Gains", 1, IoV(12, 0, 12, 100))]
    >>> coverage(refs, "Gains")
    '(12,0)-(12,100), (14,0)-(-1,-1)'
    """
    iovs = sorted(
        {ref.iov for ref in refs if ref.name == name},
        key=lambda iov: (iov.lower, iov.upper),
    )
    return ", ".join(str(iov) for iov in iovs)


__all__ = [
    "GlobalTag",
    "TAG_NAME",
    "TagStatus",
    "check_tag_name",
    "coverage",
    "resolve",
]
