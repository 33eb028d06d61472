"""What production jobs run on a site's worker: one function per kind of job.

Each takes the :class:`~b2grid.jobs.execution.JobContext` the workload system
gives (inputs already staged and checksum-verified, declared outputs to write,
keyword arguments of the submission) and writes event files or payload files; it
declares each output's events and run with ``ctx.describe`` so the catalog knows
them. Workers read the conditions database (``kwargs["conditions"]``, a path every
site reaches) but never write it, nor the catalog: calibration jobs write payload
*files*, which the production service checks and stores in a staging tag.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from b2grid import formats
from b2grid.conditions import ConditionsDB
from b2grid.errors import CalibrationFailed
from b2grid.jobs.execution import JobContext
from b2grid.physics import calibration, chain
from b2grid.physics.conditions import (
    ECL_CALIB,
    MOMENTUM_SCALE,
    RecoPayloads,
    true_conditions,
)
from b2grid.production.layout import CALIBRATION_SKIMS, MDST_SKIMS
from b2grid.production.model import merge_runs

#: events per batch when data taking writes a run
CHUNK = 20_000
#: random-trigger events recorded per run
RANDOM_TRIGGERS = 500


def _version() -> str:
    from b2grid import __version__

    return f"b2grid-{__version__}"


def _db(ctx: JobContext) -> ConditionsDB:
    return ConditionsDB(ctx.kwargs["conditions"])


def _tags(ctx: JobContext, key: str = "tags") -> tuple[str, ...]:
    return tuple(ctx.kwargs[key])


def _flag(events: ak.Array, line: str) -> np.ndarray[Any, np.dtype[np.bool_]]:
    return np.asarray(ak.to_numpy(events.SoftwareTriggerResult[line]), dtype=bool)


def _exp_run(events: ak.Array, fallback: tuple[int, int]) -> tuple[int, int]:
    if len(events) == 0:
        return fallback
    meta = events.EventMetaData
    return int(meta.experiment[0]), int(meta.run[0])


def _write(
    ctx: JobContext,
    name: str,
    events: ak.Array,
    meta: formats.FileMetadata,
) -> None:
    """Write ``events`` (maybe none: an empty file says so) as output ``name``."""
    with formats.EventWriter(ctx.output(name), meta) as writer:
        writer.extend(events)
    ctx.describe(name, events=writer.nevents, exp=meta.experiment, run=meta.run)


# ---------------------------------------------------------------- data taking


def take_data(ctx: JobContext) -> str:
    """Data taking at KEK: one run's RAW (``raw.root``) and random triggers
    (``randomtrigger.root``), with the online tag deciding the HLT."""
    kw = ctx.kwargs
    exp, run, seed = int(kw["exp"]), int(kw["run"]), int(kw["seed"])
    beam = str(kw.get("beam_energy", "4S"))
    n, db = int(kw["collisions"]), _db(ctx)
    meta = formats.FileMetadata(
        level="raw", experiment=exp, run=run, is_mc=False, campaign="raw",
        global_tag=",".join(_tags(ctx)), beam_energy=beam,
        software_version=_version(),
        extra={"collisions": n, "luminosity": float(kw["luminosity"])},
    )  # fmt: skip
    kept = 0
    with formats.EventWriter(ctx.output("raw.root"), meta) as writer:
        for i, first in enumerate(range(0, n, CHUNK)):
            events = chain.take_data(
                min(CHUNK, n - first), experiment=exp, run=run, seed=seed * 1000 + i,
                db=db, tags=_tags(ctx), beam_energy=beam, first_event=first + 1,
            )  # fmt: skip
            if i == 0 or len(events):
                writer.extend(events)
            kept += len(events)
    ctx.describe("raw.root", events=kept, exp=exp, run=run)
    randoms = chain.random_trigger(
        int(kw.get("random_triggers", RANDOM_TRIGGERS)), experiment=exp, run=run,
        seed=seed,
    )  # fmt: skip
    _write(
        ctx,
        "randomtrigger.root",
        randoms,
        meta.model_copy(update={"event_type": "randomtrigger", "extra": {}}),
    )
    print(f"exp {exp} run {run}: {n} collisions, {kept} events kept by the HLT")
    return f"{kept} events"


# ---------------------------------------------------------------- processing


def _read_raw(ctx: JobContext) -> ak.Array:
    parts = [formats.read_events(path) for path in ctx.inputs]
    return parts[0] if len(parts) == 1 else ak.concatenate(parts)


def _derived_meta(
    ctx: JobContext, level: str, raw_path: str, exp: int, run: int, skim: str
) -> formats.FileMetadata:
    source = formats.read_metadata(raw_path)
    return formats.FileMetadata(
        level=level,  # type: ignore[arg-type]
        experiment=exp,
        run=run,
        is_mc=False,
        campaign=str(ctx.kwargs["campaign"]),
        global_tag=",".join(_tags(ctx)),
        beam_energy=source.beam_energy,
        software_version=_version(),
        parents=tuple(ctx.input_lfns),
        extra={"skim": skim},
    )


def cdst(ctx: JobContext) -> str:
    """RAW → cDST calibration skims of one run: ``bhabha.root``, ``mumu.root``,
    ``hadron.root`` (events with that HLT flag; hadron prescaled by
    ``hadron_prescale``), reconstructed with the campaign's current tags."""
    raw = _read_raw(ctx)
    exp, run = _exp_run(raw, (int(ctx.kwargs["exp"]), int(ctx.kwargs["run"])))
    if len(raw) == 0:
        events = raw
    else:
        events = chain.process(raw, db=_db(ctx), tags=_tags(ctx), cdst=True)
    prescale = int(ctx.kwargs.get("hadron_prescale", 1))
    counts = []
    for skim, line in CALIBRATION_SKIMS.items():
        keep = _flag(events, line) if len(events) else np.zeros(0, bool)
        if skim == "hadron" and prescale > 1:
            keep &= np.asarray(events.EventMetaData.event) % prescale == 0
        _write(
            ctx, f"{skim}.root", events[keep],
            _derived_meta(ctx, "cdst", ctx.inputs[0], exp, run, skim),
        )  # fmt: skip
        counts.append(f"{skim} {int(keep.sum())}")
    return ", ".join(counts)


def mdst(ctx: JobContext) -> str:
    """RAW → mDST of one run with the final tags: ``all.root`` (every event) and
    ``hadron.root`` (the HLT hadron skim)."""
    raw = _read_raw(ctx)
    exp, run = _exp_run(raw, (int(ctx.kwargs["exp"]), int(ctx.kwargs["run"])))
    events = chain.process(raw, db=_db(ctx), tags=_tags(ctx)) if len(raw) else raw
    counts = []
    for skim, line in MDST_SKIMS.items():
        keep = (
            np.ones(len(events), bool)
            if line is None
            else (_flag(events, line) if len(events) else np.zeros(0, bool))
        )
        _write(
            ctx, f"{skim}.root", events[keep],
            _derived_meta(ctx, "mdst", ctx.inputs[0], exp, run, skim),
        )  # fmt: skip
        counts.append(f"{skim} {int(keep.sum())}")
    return ", ".join(counts)


# ---------------------------------------------------------------- calibration


def _iov_payloads(
    groups: Sequence[tuple[int, ...]], exp: int
) -> list[tuple[int, int, int, int]]:
    """The IoV of each merged group of runs: its first to its last run."""
    return [(exp, g[0], exp, g[-1]) for g in groups]


def _write_payloads(ctx: JobContext, payloads: list[dict[str, Any]]) -> None:
    path = ctx.output("payloads.json")
    path.write_text(json.dumps({"payloads": payloads}), encoding="utf-8")


def _half(events: ak.Array, parity: int) -> ak.Array:
    """Events with even (0) or odd (1) event numbers: calibration and validation
    use disjoint halves, so validation is not fooled by over-fitted constants."""
    if len(events) == 0:
        return events
    return events[np.asarray(events.EventMetaData.event) % 2 == parity]


def momentum_calibration(ctx: JobContext) -> str:
    """Raw-data calibration of the momentum scale: the μμ events of each run's RAW,
    reconstructed with the current tags; runs merged until each interval has
    ``min_mumu`` events; writes ``payloads.json``."""
    db, tags = _db(ctx), _tags(ctx)
    minimum = int(ctx.kwargs.get("min_mumu", 200))
    per_run: dict[int, calibration.MumuSample] = {}
    scales: dict[int, float] = {}
    beams: dict[int, float] = {}
    exp = int(ctx.kwargs["exp"])
    for path in ctx.inputs:
        raw = formats.read_events(path)
        if len(raw) == 0:
            continue
        _, run = _exp_run(raw, (exp, -1))
        raw = _half(raw[_flag(raw, "accept_mumu_2trk")], 0)
        if len(raw) == 0:
            continue
        payloads = RecoPayloads.load(db, tags, exp, run)
        scales[run], beams[run] = payloads.momentum_scale, payloads.beam.sqrt_s
        per_run[run] = calibration.collect_mumu(chain.process(raw, db=db, tags=tags))
    counts = [(run, len(s)) for run, s in sorted(per_run.items())]
    groups = merge_runs(counts, minimum)
    if not groups:
        raise CalibrationFailed(
            MOMENTUM_SCALE,
            f"{sum(n for _, n in counts)} mu-mu events in runs "
            f"{[r for r, _ in counts]}, at least {minimum} needed; merge more runs "
            "(a longer bucket) or lower min_mumu",
        )
    out = []
    for group, iov in zip(groups, _iov_payloads(groups, exp), strict=True):
        result = calibration.calibrate_momentum(
            calibration.MumuSample.concat(per_run[r] for r in group),
            scales[group[0]], beams[group[0]], min_events=minimum,
        )  # fmt: skip
        print(
            f"runs {group[0]}-{group[-1]}: {result.n_events} mu-mu events, peak "
            f"{result.peak:.4f} GeV, scale {result.scale:.5f}"
        )
        out.append(
            {
                "name": MOMENTUM_SCALE,
                "iov": iov,
                "arrays": {"scale": [result.scale]},
                "attrs": {"n_events": result.n_events, "error": result.error},
            }
        )
    _write_payloads(ctx, out)
    return f"{len(out)} intervals"


def ecl_calibration(ctx: JobContext) -> str:
    """Data calibration of the ECL crystal energies from the Bhabha cDST: runs
    merged until each interval has ``min_electrons`` electrons; writes
    ``payloads.json`` (constants relative to the tags the cDST was made with)."""
    db, tags = _db(ctx), _tags(ctx)
    minimum = int(ctx.kwargs.get("min_electrons", 200))
    exp = int(ctx.kwargs["exp"])
    per_run: dict[int, calibration.BhabhaSample] = {}
    for path in ctx.inputs:
        events = _half(formats.read_events(path), 0)
        if len(events) == 0:
            continue
        _, run = _exp_run(events, (exp, -1))
        sample = calibration.collect_bhabha(events)
        per_run[run] = calibration.BhabhaSample.concat(
            [per_run.get(run, calibration.BhabhaSample.empty()), sample]
        )
    counts = [(run, len(s)) for run, s in sorted(per_run.items())]
    groups = merge_runs(counts, minimum)
    if not groups:
        raise CalibrationFailed(
            ECL_CALIB,
            f"{sum(n for _, n in counts)} Bhabha electrons in runs "
            f"{[r for r, _ in counts]}, at least {minimum} needed; merge more runs "
            "(a longer bucket) or lower min_electrons",
        )
    out = []
    for group, iov in zip(groups, _iov_payloads(groups, exp), strict=True):
        current = RecoPayloads.load(db, tags, exp, group[0])
        result = calibration.calibrate_ecl(
            calibration.BhabhaSample.concat(per_run[r] for r in group),
            current.ecl_calib, min_electrons=minimum,
        )  # fmt: skip
        print(
            f"runs {group[0]}-{group[-1]}: {result.n_electrons} electrons, "
            f"{result.n_individual} crystals individually, scale change "
            f"{result.scale_change:+.4f}"
        )
        out.append(
            {
                "name": ECL_CALIB,
                "iov": iov,
                "arrays": {"calib": np.asarray(result.calib, np.float32).tolist()},
                "attrs": {
                    "n_electrons": result.n_electrons,
                    "n_individual": result.n_individual,
                },
            }
        )
    _write_payloads(ctx, out)
    return f"{len(out)} intervals"


def validation(ctx: JobContext) -> str:
    """Check the staging tag: reprocess the held-out half of the Bhabha and μμ
    events of each run's RAW with the staging stack and with the tags before it,
    measure both (:func:`~b2grid.physics.calibration.validate`); writes
    ``validation.json``."""
    db = _db(ctx)
    new, old = _tags(ctx), _tags(ctx, "previous_tags")
    exp = int(ctx.kwargs["exp"])
    lines = ("accept_bhabha", "accept_mumu_2trk")
    before, after = [], []
    sqrt_s = 0.0
    for path in ctx.inputs:
        raw = formats.read_events(path)
        if len(raw) == 0:
            continue
        keep = np.zeros(len(raw), bool)
        for line in lines:
            keep |= _flag(raw, line)
        raw = _half(raw[keep], 1)
        if len(raw) == 0:
            continue
        _, run = _exp_run(raw, (exp, -1))
        sqrt_s = RecoPayloads.load(db, new, exp, run).beam.sqrt_s
        after.append(chain.process(raw, db=db, tags=new))
        before.append(chain.process(raw, db=db, tags=old))
    report: dict[str, Any] = {}
    for name, parts in (("before", before), ("after", after)):
        if not parts:
            report[name] = None
            continue
        v = calibration.validate(ak.concatenate(parts), sqrt_s=sqrt_s)
        report[name] = {
            "n_electrons": v.n_electrons, "ep_peak": v.ep_peak,
            "ep_width": v.ep_width, "n_mumu": v.n_mumu, "mumu_ratio": v.mumu_ratio,
            "n_pi0": v.n_pi0, "pi0_peak": v.pi0_peak,
        }  # fmt: skip
    ctx.output("validation.json").write_text(json.dumps(report), encoding="utf-8")
    return "measured"


def validation_of(report: Mapping[str, Any] | None) -> calibration.Validation | None:
    """The :class:`~b2grid.physics.calibration.Validation` a report stores."""
    return None if report is None else calibration.Validation(**report)


# ---------------------------------------------------------------- MC


def mc(ctx: JobContext) -> str:
    """MC straight to mDST (``mdst.root``): run-independent with the MC tag, or
    run-dependent with the run's conditions, tags and (the job's input) random
    triggers overlaid."""
    kw = ctx.kwargs
    exp, run, n = int(kw["exp"]), int(kw["run"]), int(kw["events"])
    overlay = formats.read_events(ctx.inputs[0]) if ctx.inputs else None
    tags = _tags(ctx)
    meta = chain.write_mc(
        ctx.output("mdst.root"), str(kw["event_type"]), n, seed=int(kw["seed"]),
        db=_db(ctx), tags=tags, experiment=exp, run=run, campaign=str(kw["campaign"]),
        overlay=overlay,
    )  # fmt: skip
    ctx.describe("mdst.root", events=meta.nevents, exp=exp, run=run)
    cond = true_conditions(exp, run)
    return f"{meta.nevents} events ({'rd' if not cond.is_mc else 'ri'})"


# ---------------------------------------------------------------- skims


def skim(ctx: JobContext) -> str:
    """Combined skims over the job's mDST (or uDST) inputs: each input read once,
    one ``<code>.udst.root`` per skim, and ``stats.json`` (per skim: events in and
    kept, bytes, CPU seconds). ``kwargs["skims"]`` are codes, names or
    :class:`~b2grid.skims.registry.Skim` records (a user's own skim travels too)."""
    from b2grid.skims.runner import run_skims

    report = run_skims(
        list(ctx.inputs), ctx.kwargs["skims"], ctx.scratch / "udst",
        parents=list(ctx.input_lfns),
    )  # fmt: skip
    stats = {}
    for code, st in report.stats.items():
        name = f"{code}.udst.root"
        meta = report.outputs.get(code)
        if meta is None:  # inputs without events: nothing to write
            raise ValueError(f"skim {code}: the inputs hold no events")
        (ctx.scratch / "udst" / Path(st.path).name).replace(ctx.output(name))
        ctx.describe(name, events=st.events_kept, exp=meta.experiment, run=meta.run)
        stats[code] = {
            "name": st.name, "events_in": st.events_in, "events_kept": st.events_kept,
            "bytes": st.bytes_written, "cpu_select": st.cpu_select,
            "cpu_write": st.cpu_write, "candidates": st.candidates,
        }  # fmt: skip
    if "stats.json" in ctx.output_names:
        payload = {"cpu_read": report.cpu_read, "skims": stats}
        ctx.output("stats.json").write_text(json.dumps(payload), encoding="utf-8")
    kept = ", ".join(f"{c} {v['events_kept']}" for c, v in stats.items())
    return f"{report.events_in} events in; kept {kept}"


__all__ = [
    "cdst",
    "ecl_calibration",
    "mc",
    "mdst",
    "momentum_calibration",
    "skim",
    "take_data",
    "validation",
    "validation_of",
]
