"""uDST files: the mDST of the events a skim keeps, its particle lists and flags.

A uDST ``<code>.udst.root`` is an mDST-level event file (level ``udst``) with extra
numeric collections (:mod:`b2grid.formats` allows them in uDST only):

- ``PList0``, ``PList1``, ...: one per particle list, the skim's saved lists first,
  then every list their candidates are built from. Per candidate: ``px py pz E``
  (lab, GeV, float64), ``pdg``, ``charge``, ``mdstIndex`` (the Track, ECLCluster or
  V0 index in the event; -1 for composites), ``dau0 dau1 ...`` (each daughter's
  index in its daughter list's entries of the same event) and ``key0 key1 ...``
  (the mDST objects used, for overlap checks). Daughter lists hold only the
  candidates some saved candidate uses.
- ``SkimResult``: one flag per skim of the pass, ``accept_<code>``.

The file's metadata ``extra["skim"]`` names the skim and maps each collection to
its list: ``{"code", "name", "lists": [{"collection", "name", "source", "origin",
"daughters", "saved"}], "flags"}``. :func:`read_lists` rebuilds the lists from
those columns alone (nothing is recomputed); :func:`open_udst` gives an
:class:`~b2grid.analysis.Analysis` with them already filled.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from b2grid import formats
from b2grid.analysis import Analysis
from b2grid.analysis.decay import parse_list_name
from b2grid.analysis.event import EventData, beam_of
from b2grid.analysis.particles import ParticleList, from_columns
from b2grid.errors import BadEventFile
from b2grid.physics.flat import offsets_of
from b2grid.skims.registry import Skim

I64 = npt.NDArray[np.int64]
#: prefix of the particle-list collections (extra uDST parts have no '_')
LIST_PREFIX = "PList"
FLAGS = "SkimResult"
_MDST_NAMES = tuple(p.name for p in formats.SCHEMAS["mdst"])
_OBJECT_COLLECTION = {"track": "Track", "cluster": "ECLCluster", "v0": "V0"}


def flag_name(code: str) -> str:
    """The SkimResult field of skim ``code``: ``accept_<code>``."""
    return f"accept_{code}"


@dataclass(frozen=True, slots=True)
class ListNode:
    """One list of a skim's tree as stored: its collection and what it is."""

    collection: str
    name: str
    source: str
    origin: str
    #: collections of the daughter lists, in slot order
    daughters: tuple[str, ...]
    #: a list the skim saves (not only a daughter of one)
    saved: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "name": self.name,
            "source": self.source,
            "origin": self.origin,
            "daughters": list(self.daughters),
            "saved": self.saved,
        }


def _tree(saved: Sequence[ParticleList]) -> list[ParticleList]:
    """Every list of the tree, parents before daughters, saved lists early."""
    seen: set[int] = set()
    post: list[ParticleList] = []

    def visit(pl: ParticleList) -> None:
        if id(pl) in seen:
            return
        seen.add(id(pl))
        for dl in reversed(pl.daughter_lists):
            visit(dl)
        post.append(pl)

    for pl in reversed(saved):
        visit(pl)
    return post[::-1]  # reverse post-order: a topological order


def _dedupe(saved: Sequence[ParticleList]) -> list[ParticleList]:
    out: list[ParticleList] = []
    for pl in saved:
        if all(pl is not x for x in out):
            out.append(pl)
    return out


def prune(
    saved: Sequence[ParticleList], keep: npt.NDArray[np.bool_]
) -> tuple[list[ParticleList], list[ListNode]]:
    """The lists of ``saved``'s tree restricted to the events in ``keep``.

    Saved lists keep every candidate of a kept event; daughter lists keep only the
    candidates some kept parent uses; daughter indices are remapped. Returns the
    new lists (saved first, parents before daughters) and their nodes.
    """
    saved = _dedupe(saved)
    order = _tree(saved)
    position = {id(pl): i for i, pl in enumerate(order)}
    kept_events = np.flatnonzero(keep)
    new_event = np.full(len(keep), -1, dtype=np.int64)
    new_event[kept_events] = np.arange(len(kept_events), dtype=np.int64)
    need = [np.zeros(len(pl), dtype=bool) for pl in order]
    for pl in saved:
        need[position[id(pl)]] |= keep[pl.event]
    remaps: list[I64] = []
    for i, pl in enumerate(order):  # parents first: need[i] is final here
        for j, dl in enumerate(pl.daughter_lists):
            need[position[id(dl)]][pl.daughters[need[i], j]] = True
        idx = np.flatnonzero(need[i])
        remap = np.full(len(pl), -1, dtype=np.int64)
        remap[idx] = np.arange(len(idx), dtype=np.int64)
        remaps.append(remap)
    out: list[ParticleList] = []
    built: dict[int, ParticleList] = {}
    for i in range(len(order) - 1, -1, -1):  # daughters first: they are referenced
        pl = order[i]
        idx = np.flatnonzero(need[i])
        daughters = np.stack(
            [
                remaps[position[id(dl)]][pl.daughters[idx, j]]
                for j, dl in enumerate(pl.daughter_lists)
            ],
            axis=1,
        ) if pl.daughter_lists else np.zeros((len(idx), 0), dtype=np.int64)  # fmt: skip
        sub = from_columns(
            pl.name, pl.source, pl.origin, len(kept_events), new_event[pl.event[idx]],
            (pl.px[idx], pl.py[idx], pl.pz[idx], pl.E[idx]), pl.pdg[idx],
            pl.charge[idx], obj=pl.obj[idx], local=pl.local[idx],
            daughters=daughters, keys=pl.keys[idx],
            daughter_lists=tuple(built[id(dl)] for dl in pl.daughter_lists),
        )  # fmt: skip
        built[id(pl)] = sub
    saved_ids = {id(pl) for pl in saved}
    nodes = []
    for i, pl in enumerate(order):
        out.append(built[id(pl)])
        nodes.append(
            ListNode(
                f"{LIST_PREFIX}{i}",
                pl.name,
                pl.source,
                pl.origin,
                tuple(f"{LIST_PREFIX}{position[id(dl)]}" for dl in pl.daughter_lists),
                id(pl) in saved_ids,
            )
        )
    return out, nodes


def _collection(pl: ParticleList) -> ak.Array:
    """A pruned list as a jagged collection of flat numeric records."""
    fields: dict[str, npt.NDArray[Any]] = {
        "px": pl.px,
        "py": pl.py,
        "pz": pl.pz,
        "E": pl.E,
        "pdg": pl.pdg,
        "charge": pl.charge,
        "mdstIndex": pl.local,
    }
    for j, dl in enumerate(pl.daughter_lists):
        fields[f"dau{j}"] = pl.daughters[:, j] - dl.offsets[pl.event]
    for k in range(pl.keys.shape[1]):
        fields[f"key{k}"] = pl.keys[:, k]
    contents = [
        ak.contents.NumpyArray(np.ascontiguousarray(v)) for v in fields.values()
    ]
    record = ak.contents.RecordArray(contents, list(fields), length=len(pl))
    return ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(pl.offsets), record))


def udst_events(
    events: ak.Array,
    keep: npt.NDArray[np.bool_],
    lists: Sequence[ParticleList],
    flags: Mapping[str, npt.NDArray[np.bool_]],
) -> tuple[ak.Array, list[ListNode]]:
    """The uDST batch of a skim: kept events' mDST parts, lists and flags."""
    pruned, nodes = prune(lists, keep)
    parts = {name: events[name][keep] for name in _MDST_NAMES if name in events.fields}
    for node, pl in zip(nodes, pruned, strict=True):
        parts[node.collection] = _collection(pl)
    parts[FLAGS] = ak.zip(
        {flag_name(code): np.asarray(f, dtype=bool)[keep] for code, f in flags.items()},
        depth_limit=1,
    )
    return ak.zip(parts, depth_limit=1), nodes


def udst_metadata(
    skim: Skim,
    source: formats.FileMetadata,
    *,
    parents: Sequence[str],
    nodes: Sequence[ListNode],
    flags: Sequence[str],
) -> formats.FileMetadata:
    """The metadata of a skim's uDST made from files like ``source``."""
    extra = dict(source.extra)
    extra["skim"] = {
        "code": skim.code,
        "name": skim.name,
        "general": skim.general or (skim.name if skim.is_general else ""),
        "lists": [n.as_json() for n in nodes],
        "flags": list(flags),
    }
    return source.model_copy(
        update={
            "level": "udst",
            "nevents": 0,
            "parents": tuple(parents),
            "extra": extra,
        }
    )


class UdstWriter:
    """Write one skim's uDST batch by batch; the file appears on :meth:`close`.

    ``add`` takes the batch's events, the skim's decision per event, its saved
    lists and the skim flags of the pass; the first call fixes the metadata (the
    list structure is the same for every batch of a skim).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        skim: Skim,
        source: formats.FileMetadata,
        *,
        parents: Sequence[str] = (),
        basket_events: int = formats.BASKET_EVENTS,
    ) -> None:
        self.path = Path(path)
        self.skim = skim
        self.source = source
        self.parents = tuple(parents)
        self.basket_events = basket_events
        self._writer: formats.EventWriter | None = None
        self.nevents = 0

    def add(
        self,
        events: ak.Array,
        keep: npt.NDArray[np.bool_],
        lists: Sequence[ParticleList],
        flags: Mapping[str, npt.NDArray[np.bool_]],
    ) -> None:
        batch, nodes = udst_events(events, keep, lists, flags)
        if self._writer is None:
            meta = udst_metadata(
                self.skim,
                self.source,
                parents=self.parents,
                nodes=nodes,
                flags=list(flags),
            )
            self._writer = formats.EventWriter(
                self.path, meta, basket_events=self.basket_events
            )
        self._writer.extend(batch)
        self.nevents += len(batch)

    @property
    def started(self) -> bool:
        """Whether a batch was added (the file exists once closed)."""
        return self._writer is not None

    def close(self) -> formats.FileMetadata:
        if self._writer is None:
            raise BadEventFile(str(self.path), "no batch was added to this uDST")
        return self._writer.close()

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()


def write_udst(
    path: str | os.PathLike[str],
    skim: Skim,
    ana: Analysis,
    keep: npt.NDArray[np.bool_],
    lists: Sequence[ParticleList],
    *,
    source: formats.FileMetadata,
    flags: Mapping[str, npt.NDArray[np.bool_]] | None = None,
    parents: Sequence[str] = (),
) -> formats.FileMetadata:
    """Write the uDST of one skim over one batch in one go."""
    writer = UdstWriter(path, skim, source, parents=parents)
    try:
        writer.add(ana.events, keep, lists, flags or {skim.code: keep})
    except BaseException:
        writer.abort()
        raise
    return writer.close()


def skim_info(meta: formats.FileMetadata, path: str) -> dict[str, Any]:
    """The ``extra["skim"]`` record of a uDST's metadata (BadEventFile if none)."""
    if meta.level != "udst" or "skim" not in meta.extra:
        raise BadEventFile(
            path,
            f"is a {meta.level} file without skim lists; particle lists are read "
            "back from the uDSTs skims write",
        )
    info: dict[str, Any] = meta.extra["skim"]
    return info


def lists_from_events(
    events: ak.Array, info: Mapping[str, Any]
) -> dict[str, ParticleList]:
    """Rebuild the particle lists of a uDST batch (see the module docstring)."""
    n = len(events)
    nodes = [
        ListNode(
            x["collection"], x["name"], x["source"], x["origin"],
            tuple(x["daughters"]), bool(x["saved"]),
        )
        for x in info["lists"]
    ]  # fmt: skip
    offsets = {
        coll: offsets_of(ak.to_numpy(ak.num(events[coll])).astype(np.int64))
        for coll in _OBJECT_COLLECTION.values()
        if coll in events.fields
    }
    built: dict[str, ParticleList] = {}
    for node in reversed(nodes):  # daughters are stored after their parents
        arr = events[node.collection]
        counts = ak.to_numpy(ak.num(arr)).astype(np.int64)
        event = np.repeat(np.arange(n, dtype=np.int64), counts)
        flat = {f: ak.to_numpy(ak.flatten(arr[f])) for f in ak.fields(arr)}
        local = flat["mdstIndex"].astype(np.int64)
        obj = np.full(len(event), -1, dtype=np.int64)
        if node.source in _OBJECT_COLLECTION:
            obj = local + offsets[_OBJECT_COLLECTION[node.source]][event]
        dls = tuple(built[c] for c in node.daughters)
        daughters = np.stack(
            [flat[f"dau{j}"].astype(np.int64) + dl.offsets[event]
             for j, dl in enumerate(dls)],
            axis=1,
        ) if dls else np.zeros((len(event), 0), dtype=np.int64)  # fmt: skip
        nkeys = sum(1 for f in flat if f.startswith("key"))
        keys = np.stack([flat[f"key{k}"].astype(np.int64) for k in range(nkeys)], 1)
        built[node.collection] = from_columns(
            node.name, node.source, node.origin, n, event,  # type: ignore[arg-type]
            (flat["px"], flat["py"], flat["pz"], flat["E"]),
            flat["pdg"].astype(np.int32), flat["charge"].astype(np.int32),
            obj=obj, local=local, daughters=daughters, keys=keys, daughter_lists=dls,
        )  # fmt: skip
    return {node.name: built[node.collection] for node in nodes if node.saved}


def read_lists(path: str | os.PathLike[str]) -> dict[str, ParticleList]:
    """The saved particle lists of a uDST, by list name, as they were written.

    Daughter lists are reachable through ``daughter_lists``; nothing is
    recomputed (the four-momenta and daughter links are the stored columns).
    """
    meta = formats.read_metadata(path)
    info = skim_info(meta, str(path))
    wanted = [x["collection"] for x in info["lists"]]
    wanted += list(_OBJECT_COLLECTION.values())
    events = formats.read_events(path, wanted)
    return lists_from_events(events, info)


def open_udst(path: str | os.PathLike[str]) -> Analysis:
    """An :class:`Analysis` of a uDST with the skim's lists (and their daughter
    lists) already filled, under their names."""
    meta = formats.read_metadata(path)
    info = skim_info(meta, str(path))
    events = formats.read_events(path)
    ana = Analysis(EventData(events, beam_of(meta), source=str(path)))
    saved = lists_from_events(events, info)
    for pl in _tree(list(saved.values()))[::-1]:
        ana.lists[parse_list_name(pl.name).key] = pl
    for pl in saved.values():
        ana.lists[parse_list_name(pl.name).key] = pl
    return ana


def same_candidates(a: ParticleList, b: ParticleList) -> bool:
    """Whether two lists hold the same candidates, daughters included (exact)."""
    cols = ("offsets", "event", "px", "py", "pz", "E", "pdg", "charge", "local")
    if a.name != b.name or a.source != b.source or len(a) != len(b):
        return False
    if any(not np.array_equal(getattr(a, c), getattr(b, c)) for c in cols):
        return False
    if not np.array_equal(a.keys, b.keys) or not np.array_equal(
        a.daughters, b.daughters
    ):
        return False
    if len(a.daughter_lists) != len(b.daughter_lists):
        return False
    return all(
        same_candidates(x, y)
        for x, y in zip(a.daughter_lists, b.daughter_lists, strict=True)
    )


__all__ = [
    "FLAGS",
    "LIST_PREFIX",
    "ListNode",
    "UdstWriter",
    "flag_name",
    "lists_from_events",
    "open_udst",
    "prune",
    "read_lists",
    "same_candidates",
    "skim_info",
    "udst_events",
    "udst_metadata",
    "write_udst",
]
