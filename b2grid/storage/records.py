"""Plain records the catalog hands out: files, replicas, datasets, rules.

Frozen, slotted, no behaviour beyond a few derived properties; what the catalog knows
at the moment of reading, nothing live.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

#: replica states
AVAILABLE, COPYING, UPLOADING, BAD, UNAVAILABLE, DELETING = (
    "available",
    "copying",  # a transfer from another replica creates it
    "uploading",  # a client is putting the first copy
    "bad",
    "unavailable",
    "deleting",
)
#: file states
FILE_AVAILABLE, FILE_LOST, FILE_DELETED = "available", "lost", "deleted"
#: rule and lock states
OK, REPLICATING, STUCK, SUSPENDED = "OK", "REPLICATING", "STUCK", "SUSPENDED"


@dataclass(frozen=True, slots=True)
class DatasetMeta:
    """The metadata a dataset carries (the gb2_ds_search vocabulary)."""

    data_type: str | None = None  # data | mc | user
    campaign: str | None = None
    release: str | None = None
    global_tag: str | None = None
    data_level: str | None = None
    beam_energy: str | None = None
    mc_event_type: str | None = None
    bg_level: str | None = None
    general_skim: str | None = None
    skim_code: str | None = None
    exp_low: int | None = None
    run_low: int | None = None
    exp_high: int | None = None
    run_high: int | None = None
    parent_lpn: str | None = None
    #: production number (the ``prod<8 digits>`` part of an official LPN)
    production: int | None = None

    def as_row(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_row(cls, row: Any) -> DatasetMeta:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class NewFile:
    """A file about to be registered: its name inside a datablock and its facts."""

    name: str
    size: int
    adler32: str
    events: int | None = None
    exp: int | None = None
    run: int | None = None


@dataclass(frozen=True, slots=True)
class ReplicaRecord:
    """One copy of a file on one storage element."""

    site: str
    state: str
    created: str
    last_read: str | None
    lock_count: int
    tombstone: str | None


@dataclass(frozen=True, slots=True)
class FileRecord:
    """A file as the catalog knows it."""

    file_id: int
    lfn: str
    size: int
    adler32: str
    events: int | None
    exp: int | None
    run: int | None
    owner: str
    state: str
    datablock: str | None
    replicas: tuple[ReplicaRecord, ...] = ()

    @property
    def available_sites(self) -> tuple[str, ...]:
        return tuple(r.site for r in self.replicas if r.state == AVAILABLE)


@dataclass(frozen=True, slots=True)
class DatasetRecord:
    """A dataset with its datablocks and totals."""

    lpn: str
    owner: str
    created: str
    state: str
    meta: DatasetMeta
    datablocks: tuple[str, ...]
    nfiles: int
    size: int


@dataclass(frozen=True, slots=True)
class CollectionRecord:
    """An immutable named set of datasets, with totals over their available files."""

    lpn: str
    #: the last part of the LPN
    name: str
    #: ``data`` or ``mc``: the collection's and each of its datasets'
    data_type: str
    description: str
    #: integrated luminosity in fb^-1, as given by the creator (None: not given)
    luminosity: float | None
    created_by: str
    created: str
    #: the member datasets' LPNs, in the order given at creation
    datasets: tuple[str, ...]
    nfiles: int = 0
    size: int = 0
    events: int = 0


@dataclass(frozen=True, slots=True)
class RuleRecord:
    """A replication rule and how far it got."""

    rule_id: int
    target: str
    target_kind: str
    copies: int
    expression: str
    owner: str
    created: str
    expires: str | None
    state: str
    error: str | None
    comment: str | None
    #: lock counts by state (OK / REPLICATING / STUCK)
    locks: dict[str, int] = field(default_factory=dict)


__all__ = [
    "AVAILABLE",
    "BAD",
    "COPYING",
    "DELETING",
    "FILE_AVAILABLE",
    "FILE_DELETED",
    "FILE_LOST",
    "OK",
    "REPLICATING",
    "STUCK",
    "SUSPENDED",
    "UNAVAILABLE",
    "UPLOADING",
    "CollectionRecord",
    "DatasetMeta",
    "DatasetRecord",
    "FileRecord",
    "NewFile",
    "ReplicaRecord",
    "RuleRecord",
]
