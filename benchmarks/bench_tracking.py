"""Benchmark: the toy tracking, PID, KLM and V0 chain on BB̄-like events, in events/s.

What it measures
----------------
``--events`` synthetic events are drawn once: per event Poisson(11) charged
particles (70 % π, 12 % K, 6 % p, 6 % e, 6 % μ), Poisson(12) photons, Poisson(1) K_L,
Poisson(0.5) neutrons, isotropic with momenta from a Gamma(2, 0.3 GeV), and
Poisson(0.6) K_S → π+π- decaying at a random distance. Then each step of the chain is
timed on the whole sample (best of ``--repeat`` runs, in CPU seconds of this
process, so that other load on the machine matters less) and reported as events/s:

* ``tracking.simulate`` (with raw PID signals, BGx1 fakes) and ``tracking.reconstruct``;
* ``tracking.propagate_to_ecl`` of every final-state particle (simulation) and of
  every track (matching);
* ``klm.simulate``, ``klm.reconstruct``, ``klm.match_tracks``;
* ``pid.likelihoods`` and ``v0.find``.

The last lines give the whole chain, simulation + reconstruction, in events/s per
core; the target is 80,000 events/s. Large temporaries dominate: glibc returns freed
memory to the kernel and the next call page-faults it back, which costs 10-20 %;
``MALLOC_TRIM_THRESHOLD_=4000000000 MALLOC_MMAP_THRESHOLD_=268435456`` in the
environment shows the difference.

How to run
----------
    python benchmarks/bench_tracking.py                  # 200,000 events
    python benchmarks/bench_tracking.py --events 20000 --repeat 1   # smoke run
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from b2grid.physics import klm, pid, tracking, v0

_CHARGED = np.array([211, 321, 2212, 11, 13])
_CHARGED_P = np.array([0.70, 0.12, 0.06, 0.06, 0.06])


def make_events(
    n_events: int, rng: np.random.Generator
) -> dict[str, np.ndarray[Any, Any]]:
    """Flat particle arrays of ``n_events`` BB̄-like events, sorted by event."""
    parts: list[tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]] = []
    n_ch = rng.poisson(11, n_events)
    code = rng.choice(_CHARGED, n_ch.sum(), p=_CHARGED_P) * rng.choice(
        [-1, 1], n_ch.sum()
    )
    parts.append((np.repeat(np.arange(n_events), n_ch), code))
    for pdg, mean in ((22, 12.0), (130, 1.0), (2112, 0.5)):
        n = rng.poisson(mean, n_events)
        parts.append((np.repeat(np.arange(n_events), n), np.full(n.sum(), pdg)))
    event = np.concatenate([e for e, _ in parts])
    pdg = np.concatenate([c for _, c in parts])
    p = rng.gamma(2.0, 0.3, event.size)
    cos = rng.uniform(-1, 1, event.size)
    phi = rng.uniform(-np.pi, np.pi, event.size)
    sin = np.sqrt(1 - cos**2)
    mom = np.stack([p * sin * np.cos(phi), p * sin * np.sin(phi), p * cos])
    vtx = rng.normal(0.0, [[0.001], [0.001], [0.03]], (3, event.size))

    # K_S -> pi+ pi-: back-to-back in the rest frame, boosted, displaced
    n_ks = rng.poisson(0.6, n_events)
    ks_event = np.repeat(np.arange(n_events), n_ks)
    m_ks, m_pi = 0.497611, 0.13957039
    k = ks_event.size
    p_ks = rng.gamma(2.0, 0.4, k)
    d_ks = _unit(rng, k)
    star = np.sqrt((m_ks / 2) ** 2 - m_pi**2) * _unit(rng, k)
    gamma = np.sqrt(1 + (p_ks / m_ks) ** 2)
    beta = d_ks * (p_ks / m_ks / gamma)
    e_star = m_ks / 2
    daughters = []
    for sign in (1, -1):
        q = sign * star
        bq = (beta * q).sum(0)
        b2 = (beta**2).sum(0)
        q_lab = q + beta * ((gamma - 1) * bq / b2 + gamma * e_star)
        daughters.append(q_lab)
    length = rng.exponential(2.68 * p_ks / m_ks)
    decay = d_ks * length
    event = np.concatenate([event, ks_event, ks_event])
    pdg = np.concatenate([pdg, np.full(k, 211), np.full(k, -211)])
    mom = np.concatenate([mom, daughters[0], daughters[1]], axis=1)
    vtx = np.concatenate([vtx, decay, decay], axis=1)
    order = np.argsort(event, kind="stable")
    event = event[order]
    mc_index = (np.arange(event.size) - np.searchsorted(event, event)).astype(np.int32)
    return {
        "event": event.astype(np.int64),
        "pdg": pdg[order],
        "px": mom[0][order],
        "py": mom[1][order],
        "pz": mom[2][order],
        "vx": vtx[0][order],
        "vy": vtx[1][order],
        "vz": vtx[2][order],
        "mc_index": mc_index,
    }


def _unit(rng: np.random.Generator, n: int) -> np.ndarray[Any, Any]:
    cos = rng.uniform(-1, 1, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    sin = np.sqrt(1 - cos**2)
    return np.stack([sin * np.cos(phi), sin * np.sin(phi), cos])


def _best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(repeat):
        start = time.process_time()
        out = fn()
        best = min(best, time.process_time() - start)
    return best, out


def main() -> None:
    """Run the benchmark and print events/s per step and for the whole chain."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    n = args.events
    ev = make_events(n, np.random.default_rng(args.seed))
    print(f"{n} events, {ev['event'].size / n:.1f} particles/event")
    times: dict[str, float] = {}

    def step(name: str, fn: Callable[[], Any]) -> Any:
        seconds, out = _best(fn, args.repeat)
        times[name] = seconds
        print(f"{name:<34} {n / seconds:>12,.0f} events/s")
        return out

    def rng() -> np.random.Generator:
        return np.random.default_rng(args.seed)

    charge = tracking.charge_of(ev["pdg"])
    raw = step(
        "tracking.simulate",
        lambda: tracking.simulate(
            ev["event"], ev["pdg"], ev["px"], ev["py"], ev["pz"], ev["vx"], ev["vy"],
            ev["vz"], ev["mc_index"], rng(), background="BGx1", n_events=n,
        ),
    )  # fmt: skip
    step(
        "tracking.propagate_to_ecl (sim)",
        lambda: tracking.propagate_to_ecl(
            ev["px"], ev["py"], ev["pz"], charge, ev["vx"], ev["vy"], ev["vz"]
        ),
    )
    digits = step(
        "klm.simulate",
        lambda: klm.simulate(
            ev["event"], ev["pdg"], ev["px"], ev["py"], ev["pz"], charge,
            ev["mc_index"], rng(), n_events=n,
        ),
    )  # fmt: skip
    trk = step("tracking.reconstruct", lambda: tracking.reconstruct(raw, 1.0))
    tracks, hits = trk.event.size / n, digits.event.size / n
    print(f"  ({tracks:.1f} tracks/event, {hits:.1f} KLM digits/event)")
    zero = np.zeros(trk.event.size)
    theta, phi, _ = step(
        "tracking.propagate_to_ecl (reco)",
        lambda: tracking.propagate_to_ecl(
            trk.px, trk.py, trk.pz, trk.charge, zero, zero, trk.z0
        ),
    )
    clusters = step("klm.reconstruct", lambda: klm.reconstruct(digits, n))
    layers, _ = step(
        "klm.match_tracks", lambda: klm.match_tracks(trk.event, theta, phi, clusters)
    )
    p = np.sqrt(trk.px.astype(np.float64) ** 2 + trk.py**2 + trk.pz**2)
    eop = np.full(p.size, np.nan)
    step(
        "pid.likelihoods",
        lambda: pid.likelihoods(p, trk.dedx, trk.cherenkov_angle, eop, layers),
    )
    v0s = step("v0.find", lambda: v0.find(trk, n))
    print(f"  ({v0s.event.size / n:.2f} V0 candidates/event)")
    sim = sum(t for k, t in times.items() if "simulate" in k or "(sim)" in k)
    reco = sum(times.values()) - sim
    print(f"{'simulation':<34} {n / sim:>12,.0f} events/s")
    print(f"{'reconstruction':<34} {n / reco:>12,.0f} events/s")
    print(f"{'simulation + reconstruction':<34} {n / (sim + reco):>12,.0f} events/s")


if __name__ == "__main__":
    main()
