"""Benchmark: the full physics chain per generic sample, stage by stage, on one core.

What it measures
----------------
For each generic sample, ``--events`` events in batches of ``--batch`` go through
generation, detector simulation and reconstruction (the HLT included), exactly as
:func:`b2grid.physics.chain.produce_mc` runs them, timed per stage (CPU time of this
process, so other sessions on the shared machine disturb the figures less; the wall
time is printed beside). Then the mDST of the batch is written with
:func:`b2grid.formats.write_events` to report bytes per event beside PHYSICS.md's
8-12 kB (hadronic) and 1-5 kB (low multiplicity).

Run: ``python benchmarks/bench_physics.py [--events 20000] [--batch 10000]``.
Numbers in docs/physics.md and in the issue note.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import awkward as ak
import numpy as np

from b2grid import formats
from b2grid.conditions import ConditionsDB
from b2grid.physics import chain, detector, generator, reconstruction
from b2grid.physics.conditions import (
    MC_TAG,
    RecoPayloads,
    install_default_tags,
    true_conditions,
)

SAMPLES = ("mixed", "charged", "uubar", "ccbar", "taupair", "mumu", "ee", "gg")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--samples", nargs="*", default=list(SAMPLES))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = ConditionsDB(Path(tmp) / "cdb")
        install_default_tags(db)
        payloads = RecoPayloads.load(db, MC_TAG, 1003, 0)
        cond = true_conditions(1003, 0)
        # warm up caches (geometry tables, PDG tables) outside the timing
        reconstruction.reconstruct(
            detector.simulate(
                generator.generate("mixed", 100, seed=0), cond, np.random.default_rng()
            ),
            payloads,
        )
        header = (
            f"{'sample':<9}{'gen':>10}{'sim':>10}{'reco':>10}{'chain ev/s':>12}"
            f"{'(wall)':>10}{'B/event':>9}"
        )
        print(
            f"{args.events} events per sample, batches of {args.batch}; ev/s per core"
        )
        print(header)
        for sample in args.samples:
            t = dict.fromkeys(("gen", "sim", "reco"), 0.0)
            wall0 = time.perf_counter()
            size = 0
            for i in range(0, args.events, args.batch):
                n = min(args.batch, args.events - i)
                c0 = time.process_time()
                gen = generator.generate(sample, n, seed=i)
                c1 = time.process_time()
                raw = detector.simulate(gen, cond, np.random.default_rng(i))
                c2 = time.process_time()
                mdst = reconstruction.reconstruct(
                    raw, payloads, trigger_rng=np.random.default_rng(i)
                )
                c3 = time.process_time()
                t["gen"] += c1 - c0
                t["sim"] += c2 - c1
                t["reco"] += c3 - c2
                if i == 0:
                    meta = formats.FileMetadata(
                        level="mdst", experiment=1003, run=0, is_mc=True
                    )
                    path = Path(tmp) / f"{sample}.root"
                    mdst = ak.with_field(
                        mdst, chain.event_meta(n, 1003, 0), "EventMetaData"
                    )
                    formats.write_events(path, mdst, meta)
                    size = os.path.getsize(path) // n
            wall = time.perf_counter() - wall0
            total = sum(t.values())
            rates = "".join(f"{args.events / v:>10,.0f}" for v in t.values())
            print(
                f"{sample:<9}{rates}{args.events / total:>12,.0f}"
                f"{args.events / wall:>10,.0f}{size:>9,}"
            )


if __name__ == "__main__":
    main()
