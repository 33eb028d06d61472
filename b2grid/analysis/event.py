"""EventData: one batch of mDST/uDST events as flat columns, checked at the edge.

Variables and list filling read the collections (Track, PIDLikelihood, ECLCluster,
V0, MCParticle) as flat numpy columns with per-event offsets, flattened once per
field on first use. The beam (for the CMS frame, Mbc and ΔE) comes with the batch:
from the file's metadata (``beam_energy``) or given by the caller. Anything that is
not mDST or uDST is refused here, naming the file or the missing collection.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from b2grid import formats
from b2grid.errors import BadEventFile, SchemaError
from b2grid.physics.flat import offsets_of
from b2grid.physics.kinematics import Beam

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: the collections an analysis reads; a batch without them is not mDST/uDST
REQUIRED: tuple[str, ...] = (
    "EventMetaData",
    "Track",
    "PIDLikelihood",
    "ECLCluster",
    "V0",
)
ANALYSIS_LEVELS: tuple[str, ...] = ("mdst", "udst")


def beam_of(meta: formats.FileMetadata) -> Beam:
    """The nominal beams of a file's runs (``beam_energy`` 4S or 4S_offres)."""
    return Beam.off_resonance() if meta.beam_energy == "4S_offres" else Beam.y4s()


class Collection:
    """One jagged collection as flat columns: ``offsets``, ``event``, fields."""

    def __init__(self, array: ak.Array) -> None:
        self._array = array
        self.counts: I64 = ak.to_numpy(ak.num(array)).astype(np.int64)
        self.offsets: I64 = offsets_of(self.counts)
        # the common case (as read from a file): a list-offset layout over a record
        # of flat numbers, whose fields can be sliced without ak.flatten
        layout = ak.to_layout(array)
        self._record: Any = None
        if isinstance(layout, ak.contents.ListOffsetArray) and layout.content.is_record:
            off = np.asarray(layout.offsets.data)
            if np.array_equal(off - off[0], self.offsets):
                self._record = layout.content
                self._span = (int(off[0]), int(off[-1]))
        self.event: I64 = np.repeat(
            np.arange(len(self.counts), dtype=np.int64), self.counts
        )
        self._flat: dict[str, npt.NDArray[Any]] = {}

    def __len__(self) -> int:
        return len(self.event)

    def __getitem__(self, name: str) -> npt.NDArray[Any]:
        out = self._flat.get(name)
        if out is None:
            content = (
                self._record.content(name)
                if self._record is not None and name in self._record.fields
                else None
            )
            if isinstance(content, ak.contents.NumpyArray) and content.data.ndim == 1:
                start, stop = self._span
                out = np.asarray(content.data)[start:stop]
            else:
                out = np.asarray(ak.to_numpy(ak.flatten(self._array[name])))
            self._flat[name] = out
        return out

    def local(self) -> I64:
        """Index of each object inside its event."""
        return np.arange(len(self), dtype=np.int64) - self.offsets[self.event]


@dataclass(eq=False)
class EventData:
    """A batch of mDST/uDST events prepared for analysis (see the module docstring)."""

    events: ak.Array
    beam: Beam
    #: where the events came from (a path, or ``<memory>``), for messages
    source: str = "<memory>"
    #: memo of evaluated variables and derived columns for this batch
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        fields = set(ak.fields(self.events))
        missing = [c for c in REQUIRED if c not in fields]
        if missing:
            raw = {"RawTrack", "ECLDigit"} & fields
            kind = "a RAW batch" if raw else "not an event batch of mDST/uDST"
            raise SchemaError(
                "mdst",
                missing[0],
                f"missing from {self.source} ({kind}; it has "
                f"{', '.join(sorted(fields)) or 'no collections'}): the analysis "
                "reads mDST or uDST events; process RAW to mDST first",
            )
        self.track = Collection(self.events.Track)
        self.cluster = Collection(self.events.ECLCluster)
        self.v0 = Collection(self.events.V0)
        self.pid = Collection(self.events.PIDLikelihood)
        self.is_mc = "MCParticle" in fields
        self.mc = Collection(self.events.MCParticle) if self.is_mc else None
        self.klm_counts: I64 = (
            ak.to_numpy(ak.num(self.events.KLMCluster)).astype(np.int64)
            if "KLMCluster" in fields
            else np.zeros(len(self.events), dtype=np.int64)
        )

    def __len__(self) -> int:
        return len(self.events)

    @property
    def n_events(self) -> int:
        return len(self.events)

    def meta(self, name: str) -> npt.NDArray[Any]:
        """An EventMetaData column (experiment, run, event) per event."""
        key = ("meta", name)
        if key not in self.cache:
            self.cache[key] = ak.to_numpy(self.events.EventMetaData[name])
        out: npt.NDArray[Any] = self.cache[key]
        return out

    def track_cluster(self) -> I64:
        """Flat ECLCluster index matched to each track, -1 if none."""
        key = "track_cluster"
        if key not in self.cache:
            out = np.full(len(self.track), -1, dtype=np.int64)
            ti = self.cluster["trackIndex"].astype(np.int64)
            matched = np.flatnonzero(ti >= 0)
            ev = self.cluster.event[matched]
            out[self.track.offsets[ev] + ti[matched]] = matched
            self.cache[key] = out
        result: I64 = self.cache[key]
        return result


def open_events(path: str | os.PathLike[str], *, beam: Beam | None = None) -> EventData:
    """Read an mDST or uDST file for analysis.

    Raises :class:`~b2grid.errors.BadEventFile` naming the file when it is not a
    readable event file of level mdst or udst (a RAW, cDST or ntuple file, say).
    """
    meta = check_level(path)
    events = formats.read_events(path)
    return EventData(events, beam or beam_of(meta), source=str(path))


def check_level(path: str | os.PathLike[str]) -> formats.FileMetadata:
    """The metadata of an mDST or uDST file (read alone, no events);
    :class:`~b2grid.errors.BadEventFile` naming the file for any other."""
    meta = formats.read_metadata(path)
    if meta.level not in ANALYSIS_LEVELS:
        raise BadEventFile(
            str(path),
            f"is a {meta.level} file; the analysis reads mDST or uDST files "
            "(process RAW to mDST first; ntuples are read with read_ntuple)",
        )
    return meta


__all__ = [
    "ANALYSIS_LEVELS",
    "Collection",
    "EventData",
    "beam_of",
    "check_level",
    "open_events",
]
