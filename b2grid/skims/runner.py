"""Combined skimming: read each input once, run every skim on each batch, one uDST each.

:func:`apply_skims` is the per-batch engine (a skim job on the grid calls it per
chunk): the skims run one after the other on one :class:`~b2grid.analysis.Analysis`,
so lists they share (:data:`b2grid.skims.definitions.SHARED`, the standard lists)
and the variables the batch caches are built once. :func:`run_skims` drives it over
files (chunks of whole baskets) or in-memory batches and writes
``<out_dir>/<code>.udst.root`` per skim with :class:`~b2grid.skims.udst.UdstWriter`.
A skim's decision never depends on which other skims ran: a combined pass and
separate passes write the same events and candidates.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import awkward as ak
import numpy as np
import numpy.typing as npt

from b2grid import formats
from b2grid.analysis import Analysis
from b2grid.analysis.event import ANALYSIS_LEVELS, EventData, beam_of
from b2grid.analysis.particles import ParticleList
from b2grid.errors import BadEventFile, SchemaError
from b2grid.physics.kinematics import Beam
from b2grid.skims.registry import Skim, resolve
from b2grid.skims.udst import UdstWriter

Mask = npt.NDArray[np.bool_]
Input: TypeAlias = "str | os.PathLike[str] | ak.Array"


@dataclass(frozen=True, slots=True)
class SkimOutcome:
    """One skim's decision on one batch: the events it keeps and its saved lists."""

    skim: Skim
    #: (n_events,) the events the skim keeps
    keep: Mask
    #: the lists the skim saves, in the order its selection named them
    lists: tuple[ParticleList, ...]
    #: CPU seconds the selection took
    cpu_seconds: float = 0.0


def hlt_flag(ana: Analysis, line: str) -> Mask:
    """The SoftwareTriggerResult flag ``accept_<line>`` of every event."""
    if "SoftwareTriggerResult" not in ana.events.fields:
        raise SchemaError(
            "mdst",
            "SoftwareTriggerResult",
            f"missing from {ana.data.source}: skims on the {line} HLT skim need it",
        )
    return np.asarray(
        ak.to_numpy(ana.events.SoftwareTriggerResult[f"accept_{line}"]), dtype=bool
    )


def apply_skim(ana: Analysis, skim: Skim) -> SkimOutcome:
    """Run one skim's selection on a batch (the lists stay in ``ana``)."""
    t0 = time.process_time()
    line = skim.hlt_line
    keep = hlt_flag(ana, line) if line else np.ones(len(ana), dtype=bool)
    lists: tuple[ParticleList, ...] = ()
    if skim.build is not None:
        lists = tuple(ana[name] for name in skim.build(ana))
        has = np.zeros(len(ana), dtype=bool)
        for pl in lists:
            has |= pl.event_mask()
        keep = keep & has
    return SkimOutcome(skim, keep, lists, time.process_time() - t0)


def apply_skims(ana: Analysis, skims: Iterable[str | Skim]) -> dict[str, SkimOutcome]:
    """Every skim on one batch, sharing lists; outcomes by skim code.

    Examples
    --------
    >>> from b2grid.testing import synthetic_events
    >>> ana = Analysis(synthetic_events("mdst", 20))
    >>> out = apply_skims(ana, ["hadron", "BtoD0h_Kpi"])
    >>> sorted(out), out["14140101"].keep.shape
    (['00000100', '14140101'], (20,))
    """
    return {s.code: apply_skim(ana, s) for s in resolve(skims)}


@dataclass
class SkimStats:
    """What one skim did over a whole run."""

    code: str
    name: str
    events_in: int = 0
    events_kept: int = 0
    #: candidates written per saved list
    candidates: dict[str, int] = field(default_factory=dict)
    bytes_written: int = 0
    #: CPU seconds of the selection and of writing (the shared read excluded)
    cpu_select: float = 0.0
    cpu_write: float = 0.0
    path: str = ""

    @property
    def retention(self) -> float:
        return self.events_kept / self.events_in if self.events_in else 0.0

    @property
    def bytes_per_event(self) -> float:
        """uDST bytes per kept event."""
        return self.bytes_written / self.events_kept if self.events_kept else 0.0

    @property
    def cpu_per_event(self) -> float:
        """CPU seconds of this skim per input event."""
        total = self.cpu_select + self.cpu_write
        return total / self.events_in if self.events_in else 0.0


@dataclass
class SkimReport:
    """A combined run: per-skim stats and the shared cost of reading."""

    stats: dict[str, SkimStats]
    inputs: tuple[str, ...]
    events_in: int = 0
    #: CPU seconds spent reading and preparing batches (shared by every skim)
    cpu_read: float = 0.0
    wall_seconds: float = 0.0
    outputs: dict[str, formats.FileMetadata] = field(default_factory=dict)

    @property
    def events_per_second(self) -> float:
        return self.events_in / self.wall_seconds if self.wall_seconds else 0.0


def check_input(path: str | os.PathLike[str]) -> formats.FileMetadata:
    """The metadata of an input file, which must be mDST or uDST (BadEventFile)."""
    meta = formats.read_metadata(path)
    if meta.level not in ANALYSIS_LEVELS:
        raise BadEventFile(
            str(path),
            f"is a {meta.level} file; skims read mDST or uDST files "
            "(process RAW to mDST first)",
        )
    return meta


def _batch_metadata(events: ak.Array) -> formats.FileMetadata:
    meta = events.EventMetaData if "EventMetaData" in events.fields else None
    exp = int(meta.experiment[0]) if meta is not None and len(events) else 0
    run = int(meta.run[0]) if meta is not None and len(events) else 0
    return formats.FileMetadata(
        level="mdst", experiment=exp, run=run, is_mc="MCParticle" in events.fields
    )


def _batches(
    inputs: Sequence[Input],
    metas: Sequence[formats.FileMetadata],
    step: int | None,
    beam: Beam | None,
) -> Iterator[Analysis]:
    for item, meta in zip(inputs, metas, strict=True):
        b = beam or beam_of(meta)
        if isinstance(item, ak.Array):
            yield Analysis(EventData(item, b, source="<memory>"))
            continue
        with formats.EventFile(item) as f:
            for chunk in f.iterate(step=step):
                yield Analysis(EventData(chunk, b, source=str(item)))


def run_skims(
    inputs: Input | Sequence[Input],
    skims: Iterable[str | Skim],
    out_dir: str | os.PathLike[str],
    *,
    step: int | None = None,
    beam: Beam | None = None,
    metadata: formats.FileMetadata | None = None,
    parents: Sequence[str] | None = None,
    basket_events: int = formats.BASKET_EVENTS,
) -> SkimReport:
    """Run ``skims`` combined over ``inputs``; one ``<code>.udst.root`` per skim.

    Each input (an mDST/uDST path or an in-memory batch) is read once, in chunks
    of whole baskets of about ``step`` events; every skim runs on every chunk
    (:func:`apply_skims`). Outputs carry level ``udst``, the input's metadata,
    ``parents`` (the input paths by default) and ``extra["skim"]``. An input that
    is not mDST/uDST raises :class:`~b2grid.errors.BadEventFile` naming it before
    anything runs; an unknown skim raises :class:`~b2grid.errors.UnknownSkim`.
    """
    wall0 = time.perf_counter()
    items: list[Input] = (
        [inputs] if isinstance(inputs, str | os.PathLike | ak.Array) else list(inputs)
    )
    chosen = resolve(skims)
    metas = [
        (metadata or _batch_metadata(x)) if isinstance(x, ak.Array) else check_input(x)
        for x in items
    ]
    if not items:
        raise BadEventFile("<inputs>", "no input files given")
    source = metadata or metas[0]
    names = [str(x) for x in items if not isinstance(x, ak.Array)]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    writers = {
        s.code: UdstWriter(
            out / s.udst_name, s, source,
            parents=tuple(parents if parents is not None else names),
            basket_events=basket_events,
        )
        for s in chosen
    }  # fmt: skip
    stats = {
        s.code: SkimStats(s.code, s.name, path=str(out / s.udst_name)) for s in chosen
    }
    report = SkimReport(stats, tuple(names))
    try:
        batches = _batches(items, metas, step, beam)
        while True:
            t0 = time.process_time()
            ana = next(batches, None)
            report.cpu_read += time.process_time() - t0
            if ana is None:
                break
            _run_batch(ana, chosen, writers, stats)
            report.events_in += len(ana)
        for code, writer in writers.items():
            t0 = time.process_time()
            if not writer.started:
                continue  # no batch at all (empty inputs): no file
            report.outputs[code] = writer.close()
            stats[code].cpu_write += time.process_time() - t0
            stats[code].bytes_written = os.path.getsize(writer.path)
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    report.wall_seconds = time.perf_counter() - wall0
    return report


def _run_batch(
    ana: Analysis,
    chosen: Sequence[Skim],
    writers: Mapping[str, UdstWriter],
    stats: Mapping[str, SkimStats],
) -> None:
    outcomes = apply_skims(ana, chosen)
    flags = {code: o.keep for code, o in outcomes.items()}
    for code, o in outcomes.items():
        t0 = time.process_time()
        writers[code].add(ana.events, o.keep, o.lists, flags)
        st = stats[code]
        st.cpu_write += time.process_time() - t0
        st.cpu_select += o.cpu_seconds
        st.events_in += len(ana)
        st.events_kept += int(o.keep.sum())
        for pl in o.lists:
            n = int(o.keep[pl.event].sum())
            st.candidates[pl.name] = st.candidates.get(pl.name, 0) + n


__all__ = [
    "SkimOutcome",
    "SkimReport",
    "SkimStats",
    "apply_skim",
    "apply_skims",
    "check_input",
    "hlt_flag",
    "run_skims",
]
