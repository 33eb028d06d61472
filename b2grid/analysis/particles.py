"""ParticleList: the candidates of one list in a batch of events, as flat columns.

A list is event-sorted flat numpy columns plus per-event ``offsets`` (no Python
objects per candidate): lab four-momenta, signed PDG code, charge, the mDST object a
final-state candidate comes from, and for a composite the indices of its daughters in
the daughter lists. ``keys`` names every mDST object a candidate is built from, so the
combiner can refuse to use one track twice in a candidate. Lists are immutable:
selecting makes a new list.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import awkward as ak
import numpy as np
import numpy.typing as npt

from b2grid.physics.flat import offsets_of

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]

#: where final-state candidates come from; composites come from a decay
Source = Literal["track", "cluster", "v0", "composite"]
#: key = kind offset + the object's index in its event (kinds never collide)
KEY_TRACK, KEY_CLUSTER = 0, 1 << 20


@dataclass(frozen=True, eq=False)
class ParticleList:
    """The candidates of one particle list (and its charge conjugate) per event.

    Attributes are flat arrays of one entry per candidate, sorted by event;
    ``offsets[e]:offsets[e + 1]`` are event ``e``'s candidates.
    """

    #: ``name:label`` of the particle (not the antiparticle), e.g. ``D0:Kpi``
    name: str
    source: Source
    #: what the list was made from: the cut or the decay string
    origin: str
    #: (n_events + 1,) start of each event's candidates
    offsets: I64
    #: (n,) event of each candidate
    event: I64
    #: (n,) lab four-momentum components, GeV
    px: F64
    py: F64
    pz: F64
    E: F64
    #: (n,) signed PDG code (the particle or its conjugate)
    pdg: I32
    #: (n,) charge in units of e
    charge: I32
    #: (n,) flat index of the mDST object (Track, ECLCluster, V0); -1 for composites
    obj: I64
    #: (n,) index of that object inside its event (basf2's mdstIndex); -1 likewise
    local: I64
    #: (n, n_daughters) flat index of each daughter in ``daughter_lists[j]``
    daughters: I64
    #: (n, n_final_state) the mDST objects used, as ``KEY_* + index in event``
    keys: I64
    daughter_lists: tuple[ParticleList, ...] = ()
    #: per-list memo of derived columns (truth); not part of the list's identity
    memo: dict[str, Any] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.event)

    @property
    def n_events(self) -> int:
        return len(self.offsets) - 1

    @property
    def n_daughters(self) -> int:
        return int(self.daughters.shape[1])

    def counts(self) -> I64:
        """Candidates per event."""
        return np.diff(self.offsets)

    def local_index(self) -> I64:
        """Index of each candidate inside its event (``__candidate__``)."""
        return np.arange(len(self), dtype=np.int64) - self.offsets[self.event]

    def select(
        self, mask: npt.NDArray[np.bool_], origin: str | None = None
    ) -> ParticleList:
        """A new list with the candidates where ``mask`` is true (order kept)."""
        keep = np.flatnonzero(mask)
        counts = np.bincount(self.event[keep], minlength=self.n_events)
        return replace(
            self,
            origin=self.origin if origin is None else origin,
            offsets=offsets_of(counts.astype(np.int64)),
            event=self.event[keep],
            px=self.px[keep],
            py=self.py[keep],
            pz=self.pz[keep],
            E=self.E[keep],
            pdg=self.pdg[keep],
            charge=self.charge[keep],
            obj=self.obj[keep],
            local=self.local[keep],
            daughters=self.daughters[keep],
            keys=self.keys[keep],
            memo={},
        )

    def renamed(self, name: str) -> ParticleList:
        """The same candidates under another list name (a copy of a list)."""
        return replace(self, name=name, memo={})

    def event_mask(self) -> npt.NDArray[np.bool_]:
        """Events with at least one candidate (what a skim keeps)."""
        return self.counts() > 0

    def to_awkward(self) -> ak.Array:
        """Per-event lists of candidate records (for a uDST extra collection).

        Fields: px, py, pz, E, pdg, charge, mdstIndex (the object's index in its
        event, -1 for composites) and ``dau0``, ``dau1``, ... (each daughter's
        index in its daughter list's event entries).
        """
        fields: dict[str, npt.NDArray[Any]] = {
            "px": self.px,
            "py": self.py,
            "pz": self.pz,
            "E": self.E,
            "pdg": self.pdg,
            "charge": self.charge,
            "mdstIndex": self.local,
        }
        for j, dl in enumerate(self.daughter_lists):
            fields[f"dau{j}"] = self.daughters[:, j] - dl.offsets[self.event]
        contents = [
            ak.contents.NumpyArray(np.ascontiguousarray(v)) for v in fields.values()
        ]
        record = ak.contents.RecordArray(contents, list(fields), length=len(self))
        lists = ak.contents.ListOffsetArray(ak.index.Index64(self.offsets), record)
        return ak.Array(lists)

    def __repr__(self) -> str:
        return (
            f"<ParticleList {self.name}: {len(self)} candidates in "
            f"{self.n_events} events, from {self.origin!r}>"
        )


def from_columns(
    name: str,
    source: Source,
    origin: str,
    n_events: int,
    event: I64,
    p4: tuple[F64, F64, F64, F64],
    pdg: I32,
    charge: I32,
    *,
    obj: I64 | None = None,
    local: I64 | None = None,
    daughters: I64 | None = None,
    keys: I64,
    daughter_lists: tuple[ParticleList, ...] = (),
) -> ParticleList:
    """Build a list from event-sorted flat columns (offsets computed here)."""
    n = len(event)
    counts = np.bincount(event, minlength=n_events).astype(np.int64)
    return ParticleList(
        name=name,
        source=source,
        origin=origin,
        offsets=offsets_of(counts),
        event=np.ascontiguousarray(event, dtype=np.int64),
        px=np.ascontiguousarray(p4[0], dtype=np.float64),
        py=np.ascontiguousarray(p4[1], dtype=np.float64),
        pz=np.ascontiguousarray(p4[2], dtype=np.float64),
        E=np.ascontiguousarray(p4[3], dtype=np.float64),
        pdg=np.asarray(pdg, dtype=np.int32),
        charge=np.asarray(charge, dtype=np.int32),
        obj=np.full(n, -1, dtype=np.int64) if obj is None else obj.astype(np.int64),
        local=(
            np.full(n, -1, dtype=np.int64) if local is None else local.astype(np.int64)
        ),
        daughters=(
            np.zeros((n, 0), dtype=np.int64) if daughters is None else daughters
        ),
        keys=np.ascontiguousarray(keys, dtype=np.int64),
        daughter_lists=daughter_lists,
    )


__all__ = ["KEY_CLUSTER", "KEY_TRACK", "ParticleList", "Source", "from_columns"]
