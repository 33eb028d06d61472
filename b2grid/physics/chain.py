"""The whole toy experiment in four calls: generate+simulate, take data, process, MC.

``simulate_run`` makes RAW-level events with MC truth for any event type;
``take_data`` plays the detector at KEK (every process by cross section, the run's true
conditions, the online reconstruction deciding the HLT, rejected events gone, truth
dropped); ``process`` is offline reconstruction RAW → mDST/cDST with a global tag
stack; ``produce_mc`` goes straight to mDST on the same code path. ``random_trigger``
records a run's beam background, which run-dependent MC overlays (``overlay=``).
Each stage draws from its own random stream derived from the seed, so a seed fixes
every byte.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import awkward as ak
import numpy as np

from b2grid import formats
from b2grid.conditions import ConditionsDB
from b2grid.errors import PhysicsError, SchemaError
from b2grid.physics import detector, ecl, generator, reconstruction, tracking
from b2grid.physics.conditions import (
    MC_TAG,
    ONLINE_TAG,
    RecoPayloads,
    RunConditions,
    true_conditions,
)
from b2grid.physics.flat import jagged

#: random streams per stage: seed -> default_rng([seed, STAGE])
_GEN, _SIM, _HLT, _RANDOM_TRIGGER = 1, 2, 3, 4
#: ``FileMetadata.event_type`` of random-trigger (beam-background) RAW files
RANDOM_TRIGGER = "randomtrigger"


def event_meta(n: int, experiment: int, run: int, first_event: int = 1) -> ak.Array:
    """The EventMetaData group of ``n`` consecutive events of one run."""
    return ak.zip(
        {
            "experiment": np.full(n, experiment, dtype=np.int32),
            "run": np.full(n, run, dtype=np.int32),
            "event": np.arange(first_event, first_event + n, dtype=np.int64),
        },
        depth_limit=1,
    )


def simulate_run(
    event_type: str,
    n: int,
    *,
    experiment: int,
    run: int,
    seed: int,
    conditions: RunConditions | None = None,
    first_event: int = 1,
    overlay: ak.Array | None = None,
) -> ak.Array:
    """``n`` RAW-level events of ``event_type`` with MC truth and EventMetaData.

    ``conditions`` defaults to :func:`true_conditions` of (experiment, run).
    ``overlay``: random-trigger events whose recorded beam background replaces the
    synthetic one (see :func:`detector.simulate`); for a data experiment they must
    be of the same run.
    """
    cond = conditions or true_conditions(experiment, run)
    if overlay is not None:
        _check_overlay(overlay, cond)
    gen = generator.generate(
        event_type, n, seed=int(np.random.default_rng([seed, _GEN]).integers(2**62)),
        beam=cond.beam,
    )  # fmt: skip
    raw = detector.simulate(
        gen, cond, np.random.default_rng([seed, _SIM]), overlay=overlay
    )
    return ak.with_field(
        raw, event_meta(n, experiment, run, first_event), "EventMetaData"
    )


def _overlay_runs(overlay: ak.Array) -> list[tuple[int, int]]:
    """The distinct (experiment, run) of overlay events, if they say."""
    if "EventMetaData" not in overlay.fields or len(overlay) == 0:
        return []
    meta = overlay.EventMetaData
    pairs = np.unique(
        np.stack([ak.to_numpy(meta.experiment), ak.to_numpy(meta.run)]), axis=1
    )
    return [(int(e), int(r)) for e, r in pairs.T]


def _check_overlay(overlay: ak.Array, cond: RunConditions) -> None:
    """Run-dependent MC takes the background of its own run, nothing else."""
    if len(overlay) == 0:
        raise PhysicsError("no random-trigger events to overlay; pass None instead")
    runs = _overlay_runs(overlay)
    if not cond.is_mc and runs and runs != [(cond.experiment, cond.run)]:
        found = ", ".join(f"exp {e} run {r}" for e, r in runs)
        raise PhysicsError(
            f"overlay events are of {found}, the MC of exp {cond.experiment} run "
            f"{cond.run}: overlay that run's random-trigger file"
        )


def random_trigger(
    n: int,
    *,
    experiment: int,
    run: int,
    seed: int,
    conditions: RunConditions | None = None,
    first_event: int = 1,
) -> ak.Array:
    """``n`` random-trigger RAW events of a run: its beam background, recorded.

    What the detector reads out on a random trigger: no collision, just the run's
    beam background -- ECL digits (``background_scale`` x nominal, true gains
    applied) and fake tracks (the toy's KLM has no background: ``KLMDigit`` is
    empty). ``SoftwareTriggerResult`` is all false: the events are not HLT-selected.
    Every ``mcIndex`` is -1; data runs carry no ``MCParticle``, MC experiments an
    empty one (so the events write as MC too). Write them with
    ``formats.FileMetadata(level="raw", event_type=RANDOM_TRIGGER, ...)`` and
    overlay them with ``produce_mc(..., overlay=events)``.

    Examples
    --------
    >>> rt = random_trigger(50, experiment=12, run=100, seed=1)
    >>> sorted(rt.fields)
    ['ECLDigit', 'EventMetaData', 'KLMDigit', 'RawTrack', 'SoftwareTriggerResult']
    >>> bool(ak.any(rt.SoftwareTriggerResult.total_result))
    False
    """
    cond = conditions or true_conditions(experiment, run)
    rng = np.random.default_rng([seed, _RANDOM_TRIGGER])
    tracks = tracking.background(
        n, rng, field_scale=cond.field_scale, background=cond.background,
        background_scale=cond.background_scale,
    )  # fmt: skip
    digits = ecl.background(
        n, cond.background, rng, gains=cond.ecl_gains, scale=cond.background_scale
    )
    parts = {
        "RawTrack": jagged(
            tracks.event,
            n,
            {
                "d0": tracks.d0,
                "phi0": tracks.phi0,
                "omega_raw": tracks.omega_raw,
                "z0": tracks.z0,
                "tanLambda": tracks.tan_lambda,
                "chi2": tracks.chi2,
                "ndf": tracks.ndf,
                "nCDCHits": tracks.n_cdc,
                "nSVDHits": tracks.n_svd,
                "nPXDHits": tracks.n_pxd,
                "dedx": tracks.dedx,
                "cherenkovAngle": tracks.cherenkov_angle,
                "mcIndex": tracks.mc_index,
            },
        ),
        "ECLDigit": jagged(
            digits.event,
            n,
            {
                "cellId": digits.cell,
                "adc": digits.adc,
                "time": digits.time,
                "mcIndex": digits.mc_index,
            },
        ),
        "KLMDigit": _empty(n, formats.KLM_DIGIT),
        "SoftwareTriggerResult": ak.zip(
            {f.name: np.zeros(n, dtype=bool) for f in formats.TRIGGER.fields},
            depth_limit=1,
        ),
        "EventMetaData": event_meta(n, experiment, run, first_event),
    }
    if cond.is_mc:
        parts["MCParticle"] = _empty(n, formats.MC_PARTICLE)
    return ak.zip(parts, depth_limit=1)


def _empty(n: int, part: formats.Part) -> ak.Array:
    """``n`` events with an empty ``part`` collection, of the schema's dtypes."""
    return jagged(
        np.zeros(0, dtype=np.int64),
        n,
        {f.name: np.zeros(0, dtype=f.dtype) for f in part.fields},
    )


def _drop_truth(raw: ak.Array) -> ak.Array:
    """RAW as data: no MCParticle, every mcIndex -1."""
    out = {}
    for name in raw.fields:
        if name == "MCParticle":
            continue
        part = raw[name]
        if "mcIndex" in ak.fields(part):
            part = ak.with_field(part, part.mcIndex * 0 - 1, "mcIndex")
        out[name] = part
    return ak.zip(out, depth_limit=1)


def take_data(
    n_collisions: int,
    *,
    experiment: int,
    run: int,
    seed: int,
    db: ConditionsDB,
    tags: str | Sequence[str] = ONLINE_TAG,
    beam_energy: str = "4S",
    first_event: int = 1,
) -> ak.Array:
    """RAW data of one run: ``n_collisions`` collisions in, the HLT-accepted ones out.

    The collisions mix every generic process by cross section; the HLT runs on the
    online reconstruction (payloads from ``tags``) and its SoftwareTriggerResult is
    stored in RAW. Truth is dropped: this is data.
    """
    cond = true_conditions(experiment, run, beam_energy=beam_energy)
    raw = simulate_run(
        "all", n_collisions, experiment=experiment, run=run, seed=seed,
        conditions=cond, first_event=first_event,
    )  # fmt: skip
    online = RecoPayloads.load(db, tags, experiment, run)
    hlt_rng = np.random.default_rng([seed, _HLT])
    reco = reconstruction.reconstruct(raw, online, trigger_rng=hlt_rng)
    result = reco.SoftwareTriggerResult
    raw = ak.with_field(raw, result, "SoftwareTriggerResult")
    kept = raw[ak.to_numpy(result.total_result)]
    return _drop_truth(kept)


def process(
    raw: ak.Array,
    *,
    db: ConditionsDB,
    tags: str | Sequence[str],
    cdst: bool = False,
) -> ak.Array:
    """Offline reconstruction of RAW events of one run with a global tag stack."""
    if len(raw) == 0:
        raise ValueError("no events to process")
    meta = raw.EventMetaData
    exp, run = int(meta.experiment[0]), int(meta.run[0])
    payloads = RecoPayloads.load(db, tags, exp, run)
    return reconstruction.reconstruct(raw, payloads, cdst=cdst)


def produce_mc(
    event_type: str,
    n: int,
    *,
    seed: int,
    db: ConditionsDB,
    tags: str | Sequence[str] = MC_TAG,
    experiment: int = 1003,
    run: int = 0,
    conditions: RunConditions | None = None,
    cdst: bool = False,
    first_event: int = 1,
    overlay: ak.Array | None = None,
) -> ak.Array:
    """MC straight to mDST: generate, simulate, reconstruct and trigger (no filtering).

    The trigger result is computed and stored, not applied, as for Belle II MC.
    Run-dependent MC passes the run's random-trigger events as ``overlay``
    (:func:`simulate_run`).
    """
    raw = simulate_run(
        event_type, n, experiment=experiment, run=run, seed=seed,
        conditions=conditions, first_event=first_event, overlay=overlay,
    )  # fmt: skip
    payloads = RecoPayloads.load(db, tags, experiment, run)
    return reconstruction.reconstruct(
        raw, payloads, cdst=cdst, trigger_rng=np.random.default_rng([seed, _HLT])
    )


def write_mc(
    path: str | os.PathLike[str],
    event_type: str,
    n: int,
    *,
    seed: int,
    db: ConditionsDB,
    tags: str | Sequence[str] = MC_TAG,
    experiment: int = 1003,
    run: int = 0,
    level: str = "mdst",
    campaign: str = "",
    overlay: ak.Array | None = None,
) -> formats.FileMetadata:
    """Produce ``n`` MC events of ``event_type`` into an mDST (or cDST, RAW) file.

    The file's metadata records the event type, seed, global tags and software
    version, so the file explains itself. Returns the stored metadata.

    With ``overlay`` (the run's random-trigger events) the background is the
    recorded one: the metadata keeps ``background="BGx1"`` and says where it came
    from in ``extra``: ``{"background_source": "overlay", "overlay_runs": [[exp,
    run], ...], "overlay_events": <number of random-trigger events>}``.
    """
    from b2grid import __version__

    stack = (tags,) if isinstance(tags, str) else tuple(tags)
    if level == "raw":
        events = simulate_run(
            event_type, n, experiment=experiment, run=run, seed=seed, overlay=overlay
        )
        payloads = RecoPayloads.load(db, stack, experiment, run)
        reco = reconstruction.reconstruct(
            events, payloads, trigger_rng=np.random.default_rng([seed, _HLT])
        )
        events = ak.with_field(
            events, reco.SoftwareTriggerResult, "SoftwareTriggerResult"
        )
    elif level in ("mdst", "cdst"):
        events = produce_mc(
            event_type, n, seed=seed, db=db, tags=stack, experiment=experiment,
            run=run, cdst=level == "cdst", overlay=overlay,
        )  # fmt: skip
    else:
        raise SchemaError(level, "level", "MC files are raw, cdst or mdst")
    meta = formats.FileMetadata(
        level=level,  # type: ignore[arg-type]
        experiment=experiment,
        run=run,
        is_mc=True,
        campaign=campaign,
        global_tag=",".join(stack),
        event_type=event_type,
        generator_seed=seed,
        software_version=f"b2grid-{__version__}",
    )
    if overlay is not None:
        extra = {
            "background_source": "overlay",
            "overlay_runs": [list(r) for r in _overlay_runs(overlay)],
            "overlay_events": len(overlay),
        }
        meta = meta.model_copy(update={"background": "BGx1", "extra": extra})
    return formats.write_events(path, events, meta)
