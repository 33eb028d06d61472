"""Benchmark: run-dependent MC with synthetic beam background vs random-trigger overlay.

What it measures
----------------
One data run (exp 12, ``--run``), one event type: ``--events`` events simulated with
:func:`b2grid.physics.chain.simulate_run` (generation + detector) and made into mDST
with :func:`b2grid.physics.chain.produce_mc` (the reconstruction and HLT added), once
with the synthetic background of the run's conditions and once overlaid with
``--triggers`` random-trigger events of the same run (cycled when fewer), read back
from a RAW file as a production job would. CPU time of this process (best of
``--repeat``), so other sessions on the shared machine disturb the figures less; the
ratio overlay / synthetic is printed. Writing and reading the random-trigger file is
timed apart.

Run: ``python benchmarks/bench_overlay.py [--events 10000] [--triggers 2000]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import awkward as ak

from b2grid import formats
from b2grid.conditions import ConditionsDB
from b2grid.physics import chain
from b2grid.physics.conditions import ONLINE_TAG, install_default_tags, true_conditions


def best_cpu(fn: Callable[[], object], repeat: int) -> float:
    """Least CPU seconds of ``repeat`` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--triggers", type=int, default=2_000)
    ap.add_argument("--event-type", default="mixed")
    ap.add_argument("--run", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    exp, run, n = 12, args.run, args.events
    cond = true_conditions(exp, run)
    print(
        f"exp {exp} run {run}: background_scale {cond.background_scale:.2f}; "
        f"{n} {args.event_type} events, {args.triggers} random triggers"
    )
    with tempfile.TemporaryDirectory() as tmp:
        db = ConditionsDB(Path(tmp) / "cdb")
        install_default_tags(db)
        rt_path = Path(tmp) / "rt.root"
        t0 = time.process_time()
        rt = chain.random_trigger(args.triggers, experiment=exp, run=run, seed=1)
        meta = formats.FileMetadata(
            level="raw",
            experiment=exp,
            run=run,
            is_mc=False,
            event_type=chain.RANDOM_TRIGGER,
        )
        formats.write_events(rt_path, rt, meta)
        t1 = time.process_time()
        overlay = formats.read_events(rt_path)
        t2 = time.process_time()
        size = rt_path.stat().st_size / args.triggers
        print(
            f"random triggers: make+write {args.triggers / (t1 - t0):,.0f} ev/s, "
            f"read {args.triggers / (t2 - t1):,.0f} ev/s, {size / 1e3:.2f} kB/event"
        )

        def sim(bg: ak.Array | None) -> Callable[[], object]:
            return lambda: chain.simulate_run(
                args.event_type, n, experiment=exp, run=run, seed=2,
                overlay=bg,
            )  # fmt: skip

        def mdst(bg: ak.Array | None) -> Callable[[], object]:
            return lambda: chain.produce_mc(
                args.event_type, n, seed=2, db=db, tags=ONLINE_TAG, experiment=exp,
                run=run, overlay=bg,
            )  # fmt: skip

        # warm up compiled kernels and caches outside the timing
        chain.produce_mc(args.event_type, 200, seed=0, db=db, tags=ONLINE_TAG,
                         experiment=exp, run=run, overlay=overlay)  # fmt: skip
        chain.produce_mc(args.event_type, 200, seed=0, db=db, tags=ONLINE_TAG,
                         experiment=exp, run=run)  # fmt: skip
        print(f"{'stage':<22}{'synthetic ev/s':>16}{'overlay ev/s':>16}{'ratio':>8}")
        for name, make in (("generate+simulate", sim), ("to mDST (+reco, HLT)", mdst)):
            synthetic = n / best_cpu(make(None), args.repeat)
            overlaid = n / best_cpu(make(overlay), args.repeat)
            print(
                f"{name:<22}{synthetic:>16,.0f}{overlaid:>16,.0f}"
                f"{overlaid / synthetic:>8.2f}"
            )


if __name__ == "__main__":
    main()
