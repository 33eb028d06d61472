"""The whole toy experiment in four calls: generate+simulate, take data, process, MC.

``simulate_run`` makes RAW-level events with MC truth for any event type;
``take_data`` plays the detector at KEK (every process by cross section, the run's true
conditions, the online reconstruction deciding the HLT, rejected events gone, truth
dropped); ``process`` is offline reconstruction RAW → mDST/cDST with a global tag
stack; ``produce_mc`` goes straight to mDST on the same code path. Each stage draws
from its own random stream derived from the seed, so a seed fixes every byte.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import awkward as ak
import numpy as np

from b2grid import formats
from b2grid.conditions import ConditionsDB
from b2grid.errors import SchemaError
from b2grid.physics import detector, generator, reconstruction
from b2grid.physics.conditions import (
    MC_TAG,
    ONLINE_TAG,
    RecoPayloads,
    RunConditions,
    true_conditions,
)

#: random streams per stage: seed -> default_rng([seed, STAGE])
_GEN, _SIM, _HLT = 1, 2, 3


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
) -> ak.Array:
    """``n`` RAW-level events of ``event_type`` with MC truth and EventMetaData.

    ``conditions`` defaults to :func:`true_conditions` of (experiment, run).
    """
    cond = conditions or true_conditions(experiment, run)
    gen = generator.generate(
        event_type, n, seed=int(np.random.default_rng([seed, _GEN]).integers(2**62)),
        beam=cond.beam,
    )  # fmt: skip
    raw = detector.simulate(gen, cond, np.random.default_rng([seed, _SIM]))
    return ak.with_field(
        raw, event_meta(n, experiment, run, first_event), "EventMetaData"
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
) -> ak.Array:
    """MC straight to mDST: generate, simulate, reconstruct and trigger (no filtering).

    The trigger result is computed and stored, not applied, as for Belle II MC.
    """
    raw = simulate_run(
        event_type, n, experiment=experiment, run=run, seed=seed,
        conditions=conditions, first_event=first_event,
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
) -> formats.FileMetadata:
    """Produce ``n`` MC events of ``event_type`` into an mDST (or cDST, RAW) file.

    The file's metadata records the event type, seed, global tags and software
    version, so the file explains itself. Returns the stored metadata.
    """
    from b2grid import __version__

    stack = (tags,) if isinstance(tags, str) else tuple(tags)
    if level == "raw":
        events = simulate_run(event_type, n, experiment=experiment, run=run, seed=seed)
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
            run=run, cdst=level == "cdst",
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
    return formats.write_events(path, events, meta)
