"""Benchmark: event-generation speed of :func:`b2grid.physics.generator.generate`.

What it measures
----------------
For each sample (the generic samples of PHYSICS.md and the signal event types),
``--repeat`` runs of ``generate(sample, --events, seed=i)`` on one core. Reported
per sample: events/s from the best run's CPU time (``time.process_time``, so other
load on the machine does not count), events/s from its wall time, the mean number
of charged final-state particles and of MCParticles per event. A warm-up run first
fills the generator's caches (phase-space weight bounds, tables).

Run ``python benchmarks/bench_generator.py`` (``--help`` for options); the target is
>= 60,000 mixed B Bbar events/s.
"""

from __future__ import annotations

import argparse
import os
import time

import awkward as ak
import numpy as np

from b2grid.physics import generator, pdg


def measure(sample: str, n: int, repeat: int) -> tuple[float, float, float, float]:
    """Best CPU and wall events/s, charged final-state and all particles per event."""
    generator.generate(sample, 2000, seed=12345)  # warm-up
    best_cpu = best_wall = float("inf")
    events = None
    for i in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        events = generator.generate(sample, n, seed=i)
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
    assert events is not None
    mc = events.MCParticle
    final = ak.to_numpy(ak.flatten(mc.pdg[mc.status == 1]))
    charged = int(np.count_nonzero(pdg.charges(final)))
    total = int(ak.sum(ak.num(mc)))
    return n / best_cpu, n / best_wall, charged / n, total / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("samples", nargs="*", default=list(generator.SAMPLE_CODES))
    args = parser.parse_args()
    # one core: keep numpy's BLAS (unused here, but cheap insurance) single-threaded
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(f"{'sample':<14}{'ev/s (cpu)':>12}{'ev/s (wall)':>13}{'charged/ev':>12}"
          f"{'MCParticles/ev':>16}")  # fmt: skip
    for sample in args.samples:
        cpu, wall, charged, total = measure(sample, args.events, args.repeat)
        print(f"{sample:<14}{cpu:>12,.0f}{wall:>13,.0f}{charged:>12.2f}{total:>16.1f}")


if __name__ == "__main__":
    main()
