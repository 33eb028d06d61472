"""Benchmark: ECL simulation and clustering throughput on BB-bar-like events.

What it measures
----------------
``--events`` events, each with Poisson(15) photons of energy ~ Exp(mean 0.3 GeV)
(at least 20 MeV) and Poisson(11) charged particles of energy 0.2 + Exp(0.8) GeV
(muons: minimum ionising; ``--pions``: charged pions, half of them showering),
directions uniform in cos(theta) over the ECL acceptance, plus BGx1 beam
background. Two stages are timed separately, each the best of ``--repeats``:

* ``sim``  -- :func:`b2grid.physics.ecl.simulate`, then
  :func:`~b2grid.physics.ecl.background` and :func:`~b2grid.physics.ecl.merge`
  (particles in, raw digits out; the two parts are also shown apart);
* ``reco`` -- :func:`b2grid.physics.ecl_reco.calibrated_energy` +
  :func:`~b2grid.physics.ecl_reco.cluster` (digits in, clusters out).

Reported: events/s for each stage and for both, digits and clusters per event.
The target is >= 60,000 events/s for sim + reco on one core.

How to run
----------
    python benchmarks/bench_ecl.py                 # 10,000 events, best of 5
    python benchmarks/bench_ecl.py --events 5000 --repeats 1 --pions
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from b2grid.physics import ecl, ecl_reco
from b2grid.physics.ecl_geometry import N_CRYSTALS


def make_events(
    n: int, rng: np.random.Generator, *, pions: bool
) -> tuple[np.ndarray, ...]:
    """Flat (event, pdg, energy, theta, phi, mc_index) of ``n`` BB-bar-like events."""
    n_gamma = rng.poisson(15, n)
    n_charged = rng.poisson(11, n)
    per_event = n_gamma + n_charged
    event = np.repeat(np.arange(n), per_event)
    first = np.repeat(np.cumsum(per_event) - per_event, per_event)
    slot = np.arange(len(event)) - first
    is_gamma = slot < np.repeat(n_gamma, per_event)
    sign = rng.choice([-1, 1], len(event))
    charged_pdg = 211 if pions else 13
    pdg = np.where(is_gamma, 22, charged_pdg * sign)
    energy = np.where(
        is_gamma,
        0.02 + rng.exponential(0.3, len(event)),
        0.2 + rng.exponential(0.8, len(event)),
    )
    cos_lo, cos_hi = np.cos(np.radians([155.1, 12.4]))
    theta = np.arccos(rng.uniform(cos_lo, cos_hi, len(event)))
    phi = rng.uniform(-np.pi, np.pi, len(event))
    return event, pdg, energy, theta, phi, slot


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pions", action="store_true", help="charged pions, not muons")
    args = parser.parse_args()

    n = args.events
    event, pdg, energy, theta, phi, mc = make_events(
        n, np.random.default_rng(1), pions=args.pions
    )
    gains = np.random.default_rng(2).normal(1.0, 0.05, N_CRYSTALS + 1)
    calib = 1.0 / gains
    ecl_reco.cluster(ecl.EclDigits.empty(), np.zeros(0), 1)  # build tables

    best = {"simulate": np.inf, "background+merge": np.inf, "reco": np.inf}
    for r in range(args.repeats):
        rng = np.random.default_rng(100 + r)
        t0 = time.perf_counter()
        digits = ecl.simulate(
            event, pdg, energy, theta, phi, mc, gains, rng, n_events=n
        )
        t1 = time.perf_counter()
        digits = ecl.merge(digits, ecl.background(n, "BGx1", rng, gains=gains))
        t2 = time.perf_counter()
        e = ecl_reco.calibrated_energy(digits, calib)
        clusters = ecl_reco.cluster(digits, e, n, leakage=ecl_reco.default_leakage())
        t3 = time.perf_counter()
        for key, dt in zip(best, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            best[key] = min(best[key], dt)

    kind = "pi+-" if args.pions else "mu+-"
    print(f"{n} events: Poisson(15) photons + Poisson(11) {kind} + BGx1")
    print(f"  digits/event   {len(digits) / n:8.1f}")
    print(f"  clusters/event {len(clusters) / n:8.1f}")
    for key, dt in best.items():
        print(f"    {key:18s} {dt / n * 1e6:6.1f} us/event")
    sim = best["simulate"] + best["background+merge"]
    reco = best["reco"]
    for name, dt in (("sim", sim), ("reco", reco), ("both", sim + reco)):
        print(f"  {name:5s} {n / dt:10,.0f} events/s  ({dt / n * 1e6:6.1f} us/event)")


if __name__ == "__main__":
    main()
