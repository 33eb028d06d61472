"""The event data model of each data level, and its ROOT I/O with uproot.

One TTree ``events`` per file holds RAW, cDST, mDST or uDST events; an ntuple file holds
one flat TTree of candidates. A file states what it is in a JSON ``TObjString`` named
``b2grid_metadata`` (:class:`FileMetadata`), so a file found anywhere explains itself.

In memory an event batch is one awkward Array, one record per event: *groups* are
per-event records (``events.EventMetaData.run``) and *collections* are per-event lists
of records (``events.Track.px``). On disk a group field is the branch
``EventMetaData_run`` and a collection is an ``int32`` counter ``nTrack`` plus one
jagged branch per field, ``Track_px``; links between objects are plain index branches
(``Track_mcIndex`` indexes the same event's ``MCParticle`` list), since uproot cannot
write nested lists.

Compression and baskets were chosen by measurement (``benchmarks/bench_formats.py``,
numbers in docs/physics.md): ZSTD level 1 writes about as fast as LZ4 and gives the
smallest files; LZ4 reads faster but files are about a fifth bigger, and the grid moves
and stores every byte several times while analysis time is dominated by compute, not
decompression. Every ``extend`` writes one basket per branch, so the writer buffers
``basket_events`` events (10,000 by default: 0.1-1 MB baskets for the big branches);
chunked reading steps by whole baskets, because uproot keeps no basket cache and a
step inside a basket decompresses it again.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import awkward as ak
import numpy as np
import pydantic
import uproot

from b2grid.errors import BadEventFile, SchemaError

#: the data levels, in processing order
Level = Literal["raw", "cdst", "mdst", "udst", "ntuple"]
LEVELS: tuple[str, ...] = ("raw", "cdst", "mdst", "udst", "ntuple")
#: name of the event tree and of the metadata object in every file
EVENT_TREE = "events"
NTUPLE_TREE = "ntuple"
METADATA_KEY = "b2grid_metadata"
#: the codec every file is written with (see the module docstring for why)
COMPRESSION = uproot.ZSTD(1)
#: events per basket: one ``extend`` call per this many events
BASKET_EVENTS = 10_000


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a group or collection: name, numpy dtype, unit and meaning."""

    name: str
    dtype: str
    unit: str
    doc: str


@dataclass(frozen=True, slots=True)
class Part:
    """A group (one record per event) or a collection (a list of records per event)."""

    name: str
    jagged: bool
    fields: tuple[Field, ...]
    doc: str
    mc_only: bool = False

    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def branches(self) -> tuple[str, ...]:
        """Branch names on disk (with the counter first for a collection)."""
        names = tuple(f"{self.name}_{f.name}" for f in self.fields)
        return (f"n{self.name}", *names) if self.jagged else names


def _fields(*rows: tuple[str, str, str, str]) -> tuple[Field, ...]:
    return tuple(Field(*row) for row in rows)


EVENT_META = Part(
    "EventMetaData",
    jagged=False,
    doc="Which event this is.",
    fields=_fields(
        ("experiment", "int32", "", "experiment number (data 7-30; MC 0, 1003, 1004)"),
        ("run", "int32", "", "run number inside the experiment"),
        ("event", "int64", "", "event number inside the run, from 1"),
    ),
)

#: HLT lines, in the order of SoftwareTriggerResult fields
HLT_LINES: tuple[str, ...] = (
    "hadron",
    "hadronb",
    "hadronb1",
    "hadronb2",
    "bhabha",
    "mumu_2trk",
    "gamma_gamma",
    "tau_tau",
)

TRIGGER = Part(
    "SoftwareTriggerResult",
    jagged=False,
    doc="The HLT decision: each line's selection, after its prescale.",
    fields=_fields(
        ("total_result", "bool", "", "the event was kept by the HLT"),
        *(
            (f"accept_{line}", "bool", "", f"HLT line {line} accepted (prescaled)")
            for line in HLT_LINES
        ),
    ),
)

MC_PARTICLE = Part(
    "MCParticle",
    jagged=True,
    mc_only=True,
    doc="Generator truth; mother/daughter links are indices into the same list.",
    fields=_fields(
        ("pdg", "int32", "", "PDG code"),
        ("mother", "int32", "", "index of the mother, -1 for a primary"),
        ("firstDaughter", "int32", "", "index of the first daughter, -1 if none"),
        ("lastDaughter", "int32", "", "index of the last daughter (inclusive), -1"),
        ("px", "float32", "GeV", "momentum x, lab frame"),
        ("py", "float32", "GeV", "momentum y, lab frame"),
        ("pz", "float32", "GeV", "momentum z (along the solenoid), lab frame"),
        ("E", "float32", "GeV", "energy, lab frame"),
        ("vx", "float32", "cm", "production vertex x"),
        ("vy", "float32", "cm", "production vertex y"),
        ("vz", "float32", "cm", "production vertex z"),
        ("status", "int16", "", "1 final state, 2 decayed by the generator"),
    ),
)

RAW_TRACK = Part(
    "RawTrack",
    jagged=True,
    doc="Track finder output before calibration: raw curvature, raw PID signals.",
    fields=_fields(
        ("d0", "float32", "cm", "signed transverse impact parameter at the POCA"),
        ("phi0", "float32", "rad", "azimuth of the momentum at the POCA"),
        ("omega_raw", "float32", "1/cm", "signed curvature, uncalibrated field scale"),
        ("z0", "float32", "cm", "z of the POCA"),
        ("tanLambda", "float32", "", "pz / pt"),
        ("chi2", "float32", "", "track fit chi-square"),
        ("ndf", "int16", "", "track fit degrees of freedom"),
        ("nCDCHits", "int16", "", "drift chamber hits"),
        ("nSVDHits", "int16", "", "silicon strip hits"),
        ("nPXDHits", "int16", "", "pixel hits"),
        ("dedx", "float32", "MIP", "CDC truncated-mean dE/dx, 1.0 for a MIP"),
        ("cherenkovAngle", "float32", "rad", "TOP/ARICH angle; 0 below threshold"),
        ("mcIndex", "int32", "", "MCParticle index (MC truth), -1 if none"),
    ),
)

ECL_DIGIT = Part(
    "ECLDigit",
    jagged=True,
    doc="Calorimeter crystal signals above threshold, uncalibrated ADC counts.",
    fields=_fields(
        ("cellId", "int16", "", "crystal 1-8736 (forward endcap, barrel, backward)"),
        ("adc", "int32", "counts", "amplitude; energy = adc / ADC_PER_GEV x calib"),
        ("time", "float32", "ns", "signal time relative to the trigger"),
        ("mcIndex", "int32", "", "MCParticle depositing most energy, -1 background"),
    ),
)

KLM_DIGIT = Part(
    "KLMDigit",
    jagged=True,
    doc="Hits in the K_L and muon detector layers.",
    fields=_fields(
        ("layer", "int16", "", "layer 1-15 counted outward"),
        ("theta", "float32", "rad", "polar angle of the hit"),
        ("phi", "float32", "rad", "azimuth of the hit"),
        ("mcIndex", "int32", "", "MCParticle that made the hit, -1 if none"),
    ),
)

TRACK = Part(
    "Track",
    jagged=True,
    doc="Fitted tracks (pion hypothesis) with calibrated momenta.",
    fields=_fields(
        ("d0", "float32", "cm", "signed transverse impact parameter at the POCA"),
        ("phi0", "float32", "rad", "azimuth of the momentum at the POCA"),
        ("omega", "float32", "1/cm", "signed curvature (sign = charge)"),
        ("z0", "float32", "cm", "z of the POCA"),
        ("tanLambda", "float32", "", "pz / pt"),
        ("px", "float32", "GeV", "momentum x at the POCA"),
        ("py", "float32", "GeV", "momentum y at the POCA"),
        ("pz", "float32", "GeV", "momentum z at the POCA"),
        ("charge", "int8", "e", "electric charge"),
        ("pValue", "float32", "", "fit p-value"),
        ("nCDCHits", "int16", "", "drift chamber hits"),
        ("nSVDHits", "int16", "", "silicon strip hits"),
        ("nPXDHits", "int16", "", "pixel hits"),
        ("mcIndex", "int32", "", "matched MCParticle index, -1 if none or data"),
    ),
)

#: particle identification: detectors x hypotheses, the field ``<DET>_<hyp>``
PID_DETECTORS: tuple[str, ...] = ("CDC", "TOP", "ECL", "KLM")
PID_HYPOTHESES: tuple[str, ...] = ("e", "mu", "pi", "K", "p", "d")

PID_LIKELIHOOD = Part(
    "PIDLikelihood",
    jagged=True,
    doc="Log-likelihood per detector and hypothesis; row i belongs to Track i.",
    fields=tuple(
        Field(f"{det}_{hyp}", "float32", "", f"log L({hyp}) from the {det}")
        for det in PID_DETECTORS
        for hyp in PID_HYPOTHESES
    ),
)

ECL_CLUSTER = Part(
    "ECLCluster",
    jagged=True,
    doc="Calorimeter clusters around local maxima, calibrated energy.",
    fields=_fields(
        ("E", "float32", "GeV", "energy, calibrated and leakage corrected"),
        ("theta", "float32", "rad", "polar angle of the centroid"),
        ("phi", "float32", "rad", "azimuth of the centroid"),
        ("E9oE21", "float32", "", "energy in 3x3 over 5x5-minus-corners"),
        ("time", "float32", "ns", "seed crystal time"),
        ("nHits", "int16", "", "crystals in the cluster"),
        ("seedCellId", "int16", "", "crystal of the local maximum"),
        ("connectedRegionId", "int16", "", "connected region of crystals, per event"),
        ("trackIndex", "int16", "", "matched Track index, -1 for a neutral cluster"),
        ("mcIndex", "int32", "", "MCParticle of the seed, -1 if none or data"),
    ),
)

KLM_CLUSTER = Part(
    "KLMCluster",
    jagged=True,
    doc="Groups of KLM hits; muons penetrate many layers, K_L few.",
    fields=_fields(
        ("theta", "float32", "rad", "polar angle"),
        ("phi", "float32", "rad", "azimuth"),
        ("layers", "int16", "", "number of layers hit"),
        ("innermostLayer", "int16", "", "first layer hit"),
        ("trackIndex", "int16", "", "matched Track index, -1 for a neutral cluster"),
        ("mcIndex", "int32", "", "MCParticle of most hits, -1 if none or data"),
    ),
)

V0 = Part(
    "V0",
    jagged=True,
    doc="Displaced two-track vertices (K_S -> pi+ pi-, Lambda -> p pi-).",
    fields=_fields(
        ("trackIndexPos", "int16", "", "Track index of the positive daughter"),
        ("trackIndexNeg", "int16", "", "Track index of the negative daughter"),
        ("pdg", "int32", "", "hypothesis: 310 K_S, 3122 Lambda (-3122 anti)"),
        ("M", "float32", "GeV", "invariant mass under the hypothesis"),
        ("px", "float32", "GeV", "momentum x at the vertex"),
        ("py", "float32", "GeV", "momentum y at the vertex"),
        ("pz", "float32", "GeV", "momentum z at the vertex"),
        ("vx", "float32", "cm", "decay vertex x"),
        ("vy", "float32", "cm", "decay vertex y"),
        ("vz", "float32", "cm", "decay vertex z"),
    ),
)

_RAW_PARTS = (EVENT_META, TRIGGER, RAW_TRACK, ECL_DIGIT, KLM_DIGIT, MC_PARTICLE)
_MDST_PARTS = (
    EVENT_META,
    TRIGGER,
    TRACK,
    PID_LIKELIHOOD,
    ECL_CLUSTER,
    KLM_CLUSTER,
    V0,
    MC_PARTICLE,
)
#: the parts of each event level; uDST adds any numeric collections of its own
#: (particle lists, skim flags) to the mDST parts
SCHEMAS: dict[str, tuple[Part, ...]] = {
    "raw": _RAW_PARTS,
    "cdst": (*_MDST_PARTS, ECL_DIGIT),
    "mdst": _MDST_PARTS,
    "udst": _MDST_PARTS,
}
EXTENSIBLE: frozenset[str] = frozenset({"udst"})


def parts(level: str, *, mc: bool) -> tuple[Part, ...]:
    """The groups and collections an event file of ``level`` holds."""
    if level not in SCHEMAS:
        raise SchemaError(level, "level", f"not an event level; use one of {LEVELS}")
    return tuple(p for p in SCHEMAS[level] if mc or not p.mc_only)


class FileMetadata(pydantic.BaseModel):
    """What a file says about itself (stored as JSON inside the file).

    Examples
    --------
    >>> m = FileMetadata(level="mdst", experiment=12, run=5, is_mc=False)
    >>> FileMetadata.model_validate_json(m.model_dump_json()) == m
    True
    """

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    level: Level
    experiment: int
    run: int
    is_mc: bool
    nevents: int = 0
    campaign: str = ""
    global_tag: str = ""
    event_type: str = "data"
    beam_energy: str = "4S"
    background: str = "BGx1"
    generator_seed: int | None = None
    software_version: str = ""
    parents: tuple[str, ...] = ()
    extra: dict[str, Any] = pydantic.Field(default_factory=dict)


def _check(events: ak.Array, level: str, mc: bool) -> list[tuple[Part, bool]]:
    """Which parts to write, each with whether it is a schema part; raise if short."""
    present = set(events.fields)
    out: list[tuple[Part, bool]] = []
    for part in parts(level, mc=mc):
        if part.name not in present:
            what = "MC truth for an MC file" if part.mc_only else "required"
            raise SchemaError(level, part.name, f"missing ({what})")
        have = set(events[part.name].fields)
        for name in part.field_names():
            if name not in have:
                raise SchemaError(level, f"{part.name}.{name}", "missing")
        out.append((part, True))
    known = {p.name for p in SCHEMAS[level]}
    for name in sorted(present - known):
        if level not in EXTENSIBLE:
            raise SchemaError(
                level, name, f"not part of {level}; only uDST takes extra collections"
            )
        out.append((_infer_part(events[name], name, level), False))
    return out


def _infer_part(array: ak.Array, name: str, level: str) -> Part:
    """Describe an extra (uDST) group or collection from its awkward type."""
    layout = array.layout
    jagged = layout.is_list
    record = layout.content if jagged else layout
    if not record.is_record:
        raise SchemaError(level, name, "extra parts must be records of numbers")
    if "_" in name or not name.isidentifier():
        raise SchemaError(level, name, "extra part names are identifiers without '_'")
    fields = []
    for f in record.fields:
        content = record.content(f)
        if not content.is_numpy or content.data.ndim != 1:
            raise SchemaError(level, f"{name}.{f}", "extra fields must be flat numbers")
        fields.append(Field(f, str(content.data.dtype), "", "extra"))
    return Part(name, jagged=jagged, fields=tuple(fields), doc="extra")


def _branch_arrays(events: ak.Array, plan: list[tuple[Part, bool]]) -> dict[str, Any]:
    """The dictionary ``TTree.extend`` takes: collections as zipped records.

    Fields already of the schema's dtype are passed through without a copy; a
    collection is rebuilt as one list-of-records layout over its fields' contents
    (they share the collection's offsets), which is what uproot writes as one
    counter plus one branch per field.
    """
    out: dict[str, Any] = {}
    for part, _ in plan:
        sub = events[part.name]
        if not part.jagged:
            for f in part.fields:
                values = ak.to_numpy(sub[f.name])
                out[f"{part.name}_{f.name}"] = values.astype(f.dtype, copy=False)
            continue
        lists = ak.to_layout(ak.to_packed(sub[list(part.field_names())]))
        if isinstance(lists, ak.contents.ListArray):
            lists = lists.to_ListOffsetArray64(True)
        record = lists.content
        contents = []
        for f in part.fields:
            leaf = record.content(f.name)
            data = np.asarray(leaf.data).astype(f.dtype, copy=False)
            contents.append(ak.contents.NumpyArray(data))
        rebuilt = ak.contents.RecordArray(contents, list(part.field_names()))
        out[part.name] = ak.Array(ak.contents.ListOffsetArray(lists.offsets, rebuilt))
    return out


def to_branches(events: ak.Array, level: str, *, mc: bool) -> dict[str, Any]:
    """The branch dictionary ``TTree.extend`` takes for ``events`` (schema-checked)."""
    return _branch_arrays(events, _check(events, level, mc))


class EventWriter:
    """Write events of one level to a ROOT file, in baskets of ``basket_events``.

    The file appears under ``path`` only when :meth:`close` succeeds (it is written
    as ``path + ".part"`` and renamed), so a crash never leaves a truncated file with
    a good name. ``close`` stores the metadata with the final event count.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        metadata: FileMetadata,
        *,
        basket_events: int = BASKET_EVENTS,
    ) -> None:
        if metadata.level == "ntuple":
            raise SchemaError("ntuple", "level", "use write_ntuple for ntuples")
        self.path = Path(path)
        self.metadata = metadata
        self.basket_events = basket_events
        self._partial = self.path.with_name(self.path.name + ".part")
        self._file: Any = uproot.recreate(self._partial, compression=COMPRESSION)
        self._plan: list[tuple[Part, bool]] | None = None
        self._pending: list[ak.Array] = []
        self._npending = 0
        self.nevents = 0

    def extend(self, events: ak.Array) -> None:
        """Append a batch of events (validated against the level's schema)."""
        plan = _check(events, self.metadata.level, self.metadata.is_mc)
        if self._plan is None:
            self._plan = plan
            types: dict[str, Any] = {}
            for name, arr in _branch_arrays(events[:0], plan).items():
                types[name] = arr.type if isinstance(arr, ak.Array) else arr.dtype
            self._file.mktree(EVENT_TREE, types, counter_name=lambda c: f"n{c}")
        elif [p.name for p, _ in plan] != [p.name for p, _ in self._plan]:
            raise SchemaError(
                self.metadata.level, "parts", "every batch must have the same parts"
            )
        self._pending.append(events)
        self._npending += len(events)
        while self._npending >= self.basket_events:
            self._flush(self.basket_events)

    def _flush(self, n: int) -> None:
        batch = (
            ak.concatenate(self._pending)
            if len(self._pending) > 1
            else self._pending[0]
        )
        head, rest = batch[:n], batch[n:]
        assert self._plan is not None
        if len(head):
            self._file[EVENT_TREE].extend(_branch_arrays(head, self._plan))
            self.nevents += len(head)
        self._pending = [rest] if len(rest) else []
        self._npending = len(rest)

    def close(self) -> FileMetadata:
        """Flush, store the metadata and move the file under its final name."""
        if self._plan is None:
            raise SchemaError(self.metadata.level, "events", "no events were written")
        if self._npending:
            self._flush(self._npending)
        final = self.metadata.model_copy(update={"nevents": self.nevents})
        self._file[METADATA_KEY] = final.model_dump_json()
        self._file.close()
        os.replace(self._partial, self.path)
        return final

    def abort(self) -> None:
        """Drop the partial file."""
        self._file.close()
        self._partial.unlink(missing_ok=True)

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_events(
    path: str | os.PathLike[str],
    events: ak.Array,
    metadata: FileMetadata,
    *,
    basket_events: int = BASKET_EVENTS,
) -> FileMetadata:
    """Write ``events`` to ``path`` in one go; returns the stored metadata."""
    with EventWriter(path, metadata, basket_events=basket_events) as writer:
        writer.extend(events)
    return writer.metadata.model_copy(update={"nevents": writer.nevents})


def _assemble(arrays: Mapping[str, ak.Array]) -> ak.Array:
    """Rebuild groups and collections from the flat branches uproot returns."""
    groups: dict[str, dict[str, Any]] = {}
    for branch in arrays:
        if "_" not in branch:  # a collection's counter, nTrack
            continue
        name, _, field = branch.partition("_")
        groups.setdefault(name, {})[field] = arrays[branch]
    out = {}
    for name, fields in groups.items():
        counter = arrays.get(f"n{name}")
        if counter is None:
            out[name] = ak.zip(fields, depth_limit=1)
            continue
        offsets = np.zeros(len(counter) + 1, dtype=np.int64)
        np.cumsum(ak.to_numpy(counter), out=offsets[1:])
        contents = [ak.to_layout(ak.flatten(v)) for v in fields.values()]
        record = ak.contents.RecordArray(
            contents, list(fields), length=int(offsets[-1])
        )
        lists = ak.contents.ListOffsetArray(ak.index.Index64(offsets), record)
        out[name] = ak.Array(lists)
    return ak.zip(out, depth_limit=1)


class EventFile:
    """An event file opened for reading: metadata, whole or chunked reads.

    Raises :class:`~b2grid.errors.BadEventFile` naming the file when it is not a
    complete b2grid event file (truncated, foreign, or an ntuple).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        try:
            self._file = uproot.open(self.path)
            self.metadata = FileMetadata.model_validate_json(
                str(self._file[METADATA_KEY])
            )
            self._tree = self._file[EVENT_TREE]
        except FileNotFoundError as exc:
            raise BadEventFile(self.path, "no such file") from exc
        except pydantic.ValidationError as exc:
            raise BadEventFile(
                self.path, f"bad metadata: {exc.errors()[0]['msg']}"
            ) from exc
        except Exception as exc:  # uproot raises many kinds for a damaged file
            raise BadEventFile(
                self.path,
                f"not a readable b2grid event file ({type(exc).__name__}: "
                f"{exc}); it may be truncated: fetch it again or declare it bad",
            ) from exc
        if self._tree.num_entries != self.metadata.nevents:
            raise BadEventFile(
                self.path,
                f"holds {self._tree.num_entries} events, its metadata says "
                f"{self.metadata.nevents}",
            )

    @property
    def num_events(self) -> int:
        return int(self._tree.num_entries)

    def _filter(self, collections: Sequence[str] | None) -> list[str] | None:
        if collections is None:
            return None
        keys = set(self._tree.keys())
        names: list[str] = []
        for c in collections:
            found = [k for k in keys if k.startswith(f"{c}_") or k == f"n{c}"]
            if not found:
                have = sorted({k.partition("_")[0] for k in keys if "_" in k})
                raise BadEventFile(self.path, f"has no {c!r}; it has {', '.join(have)}")
            names.extend(found)
        return sorted(names)

    def _read(self, names: list[str] | None, start: int, stop: int) -> ak.Array:
        try:
            arrays = self._tree.arrays(
                names, entry_start=start, entry_stop=stop, library="ak", how=dict
            )
        except Exception as exc:
            raise BadEventFile(
                self.path,
                f"cannot read events {start}-{stop} ({type(exc).__name__}: "
                f"{exc}); it may be truncated or corrupt",
            ) from exc
        return _assemble(arrays)

    def read(
        self,
        collections: Sequence[str] | None = None,
        *,
        start: int = 0,
        stop: int | None = None,
    ) -> ak.Array:
        """Events ``start:stop`` (all by default), only ``collections`` if given."""
        stop = self.num_events if stop is None else min(stop, self.num_events)
        return self._read(self._filter(collections), start, stop)

    def iterate(
        self, collections: Sequence[str] | None = None, *, step: int | None = None
    ) -> Iterator[ak.Array]:
        """Events in chunks of whole baskets (``step`` rounded to basket boundaries)."""
        names = self._filter(collections)
        bounds = [int(b) for b in self._tree.common_entry_offsets()]
        if step is not None:  # merge baskets until a chunk reaches ``step`` events
            merged = [bounds[0]]
            for b in bounds[1:]:
                if b - merged[-1] >= step or b == bounds[-1]:
                    merged.append(b)
            bounds = merged
        for start, stop in itertools.pairwise(bounds):
            yield self._read(names, start, stop)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> EventFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_events(
    path: str | os.PathLike[str], collections: Sequence[str] | None = None
) -> ak.Array:
    """Every event of a file (use :class:`EventFile.iterate` for big files)."""
    with EventFile(path) as f:
        return f.read(collections)


def read_metadata(path: str | os.PathLike[str]) -> FileMetadata:
    """The metadata a file (event file or ntuple) carries."""
    try:
        with uproot.open(str(path)) as f:
            return FileMetadata.model_validate_json(str(f[METADATA_KEY]))
    except FileNotFoundError as exc:
        raise BadEventFile(str(path), "no such file") from exc
    except Exception as exc:
        raise BadEventFile(
            str(path), f"no readable b2grid metadata ({type(exc).__name__}: {exc})"
        ) from exc


def write_ntuple(
    path: str | os.PathLike[str],
    columns: Mapping[str, np.ndarray[Any, Any]],
    metadata: FileMetadata,
    *,
    tree: str = NTUPLE_TREE,
) -> FileMetadata:
    """Write a flat table (one row per candidate) and its metadata.

    Every column must be a one-dimensional numeric array of the same length.
    """
    lengths = {name: np.asarray(col).shape for name, col in columns.items()}
    if not columns:
        raise SchemaError("ntuple", "columns", "no columns to write")
    first = next(iter(lengths.values()))
    for name, shape in lengths.items():
        col = np.asarray(columns[name])
        if len(shape) != 1 or shape != first:
            raise SchemaError("ntuple", name, f"shape {shape}, expected {first}")
        if col.dtype.kind not in "biuf":
            raise SchemaError("ntuple", name, f"dtype {col.dtype} is not numeric")
    final = metadata.model_copy(update={"level": "ntuple", "nevents": first[0]})
    target = Path(path)
    partial = target.with_name(target.name + ".part")
    with uproot.recreate(partial, compression=COMPRESSION) as f:
        f.mktree(tree, {k: np.asarray(v).dtype for k, v in columns.items()})
        f[tree].extend({k: np.asarray(v) for k, v in columns.items()})
        f[METADATA_KEY] = final.model_dump_json()
    os.replace(partial, target)
    return final


def read_ntuple(
    path: str | os.PathLike[str], *, tree: str = NTUPLE_TREE
) -> dict[str, np.ndarray[Any, Any]]:
    """The columns of an ntuple file as numpy arrays."""
    try:
        with uproot.open(str(path)) as f:
            return dict(f[tree].arrays(library="np"))
    except FileNotFoundError as exc:
        raise BadEventFile(str(path), "no such file") from exc
    except Exception as exc:
        raise BadEventFile(
            str(path), f"not a readable ntuple ({type(exc).__name__}: {exc})"
        ) from exc


def _ntuple_schema(path: str | os.PathLike[str], tree: str) -> dict[str, np.dtype[Any]]:
    """Branch name -> dtype of an ntuple file's flat tree."""
    try:
        with uproot.open(str(path)) as f:
            return {
                name: np.dtype(branch.interpretation.numpy_dtype).newbyteorder("=")
                for name, branch in f[tree].items()
            }
    except FileNotFoundError as exc:
        raise BadEventFile(str(path), "no such file") from exc
    except Exception as exc:
        raise BadEventFile(
            str(path), f"not a readable ntuple ({type(exc).__name__}: {exc})"
        ) from exc


def _same_schema(
    paths: Sequence[str | os.PathLike[str]], tree: str
) -> dict[str, np.dtype[Any]]:
    """The one schema of ``paths``; :class:`SchemaError` names the first that
    differs from the first file."""
    if not paths:
        raise SchemaError("ntuple", "files", "no ntuple files given")
    first = _ntuple_schema(paths[0], tree)
    for path in paths[1:]:
        other = _ntuple_schema(path, tree)
        if other == first:
            continue
        extra = sorted(set(other) - set(first))
        lacks = sorted(set(first) - set(other))
        retyped = sorted(k for k in set(first) & set(other) if first[k] != other[k])
        why = "; ".join(
            f"{label} {', '.join(names)}"
            for label, names in (
                ("has extra branches", extra),
                ("lacks branches", lacks),
                ("has other dtypes for", retyped),
            )
            if names
        )
        raise SchemaError(
            "ntuple",
            "branches",
            f"{path} {why} compared with {paths[0]}; merge only ntuples written "
            "by one analysis (same variables)",
        )
    return first


def read_ntuples(
    paths: Sequence[str | os.PathLike[str]], *, tree: str = NTUPLE_TREE
) -> dict[str, np.ndarray[Any, Any]]:
    """The rows of several ntuple files of one schema, concatenated in order."""
    schema = _same_schema(paths, tree)
    parts = [read_ntuple(p, tree=tree) for p in paths]
    return {
        name: np.concatenate([p[name] for p in parts]).astype(dtype, copy=False)
        for name, dtype in schema.items()
    }


def merge_ntuples(
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    tree: str = NTUPLE_TREE,
) -> FileMetadata:
    """Write the rows of ``paths`` (ntuples with the same branches) into one file.

    One input at a time is read and appended, so memory holds one file's rows.
    The result carries the first file's metadata, with the row count and the
    inputs' names as parents. Files with other branches or dtypes are refused
    (:class:`SchemaError`) before anything is written; ``out`` appears only whole.
    """
    schema = _same_schema(paths, tree)
    try:
        base = read_metadata(paths[0])
    except BadEventFile:  # an ntuple from elsewhere: describe it minimally
        base = FileMetadata(level="ntuple", experiment=0, run=0, is_mc=False)
    target = Path(out)
    partial = target.with_name(target.name + ".part")
    rows = 0
    try:
        with uproot.recreate(partial, compression=COMPRESSION) as f:
            f.mktree(tree, schema)
            for path in paths:
                columns = read_ntuple(path, tree=tree)
                n = len(next(iter(columns.values()))) if columns else 0
                if n:
                    f[tree].extend(
                        {k: columns[k].astype(d, copy=False) for k, d in schema.items()}
                    )
                rows += n
            final = base.model_copy(
                update={
                    "level": "ntuple",
                    "nevents": rows,
                    "parents": tuple(Path(p).name for p in paths),
                }
            )
            f[METADATA_KEY] = final.model_dump_json()
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return final


def describe(level: str) -> str:
    """A text table of a level's groups, collections and fields with units."""
    lines = []
    for part in SCHEMAS[level]:
        kind = "collection" if part.jagged else "group"
        mc = " (MC only)" if part.mc_only else ""
        lines.append(f"{part.name} [{kind}]{mc}: {part.doc}")
        for f in part.fields:
            unit = f" [{f.unit}]" if f.unit else ""
            lines.append(f"  {f.name:<18} {f.dtype:<8}{unit} {f.doc}")
    return "\n".join(lines)


def metadata_json(meta: FileMetadata) -> dict[str, Any]:
    """The metadata as plain JSON data (for catalogs and listings)."""
    return dict(json.loads(meta.model_dump_json()))
