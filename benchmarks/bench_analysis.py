"""Benchmark: D0 -> K pi and B+ -> anti-D0 pi+ with the toolkit vs plain awkward.

What it measures
----------------
One set of generated mDST events (generic ``charged`` B+B- events with a fraction of
``1213030000`` signal mixed in) is analysed twice, side by side in one run, with the
same selection:

* ``K+:good`` = tracks with ``kaonID > 0.5``, ``pi+:all`` = every track;
* ``D0:Kpi -> K- pi+`` with ``1.8 < M < 1.9`` (and the conjugate);
* ``B+:Dpi -> anti-D0:Kpi pi+`` with ``Mbc > 5.2 and abs(deltaE) < 0.2``.

``toolkit`` is :class:`b2grid.analysis.Analysis` (flattening, PID, compiled
combinatorics, cut evaluation: everything from the awkward batch to the final list);
``awkward`` is the same selection written with ``ak.cartesian`` and awkward array
arithmetic, as a physicist would write it without the toolkit. Both start from the
same in-memory batch; reading the file is not timed (it is the same for both). The
candidate counts must agree exactly, which checks the toolkit's combinatorics too.
Best of ``--repeat`` runs each, after a warm-up (numba compiles on first use).

Run: ``python benchmarks/bench_analysis.py [--events 40000] [--signal 0.1]``.
Numbers in docs/analysis.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from b2grid.analysis import Analysis
from b2grid.conditions import ConditionsDB
from b2grid.formats import PID_DETECTORS, PID_HYPOTHESES
from b2grid.physics import chain, pdg
from b2grid.physics.conditions import install_default_tags
from b2grid.physics.kinematics import Beam, boost_t

M_K, M_PI = pdg.mass(321), pdg.mass(211)


def make_events(n: int, signal: float, db: ConditionsDB) -> ak.Array:
    """``n`` events: ``signal`` of them B+ -> anti-D0 pi+, the rest generic B+B-."""
    n_sig = int(n * signal)
    batches = []
    for i, start in enumerate(range(0, n - n_sig, 10_000)):
        size = min(10_000, n - n_sig - start)
        batches.append(chain.produce_mc("charged", size, seed=100 + i, db=db))
    if n_sig:
        batches.append(chain.produce_mc("1213030000", n_sig, seed=7, db=db))
    return ak.concatenate(batches)


def toolkit_lists(events: ak.Array) -> Analysis:
    ana = Analysis(events)
    ana.fill_particle_list("K+:good", "kaonID > 0.5")
    ana.fill_particle_list("pi+:all")
    return ana


def toolkit_decays(ana: Analysis) -> tuple[int, int]:
    d = ana.reconstruct_decay("D0:Kpi -> K-:good pi+:all", "1.8 < M < 1.9")
    b = ana.reconstruct_decay(
        "B+:Dpi -> anti-D0:Kpi pi+:all", "Mbc > 5.2 and abs(deltaE) < 0.2"
    )
    return len(d), len(b)


def awkward_lists(events: ak.Array) -> dict[str, Any]:
    """Per-track kaonID (global likelihood ratio) and four-momenta, in awkward."""
    trk, pidl = events.Track, events.PIDLikelihood
    sums = {
        h: sum(ak.values_astype(pidl[f"{d}_{h}"], np.float64) for d in PID_DETECTORS)
        for h in PID_HYPOTHESES
    }
    top = sums["e"]
    for h in PID_HYPOTHESES[1:]:
        top = np.maximum(top, sums[h])
    total = top + np.log(sum(np.exp(sums[h] - top) for h in PID_HYPOTHESES))
    px, py, pz = (ak.values_astype(trk[c], np.float64) for c in ("px", "py", "pz"))
    p2 = px * px + py * py + pz * pz
    return {
        "kid": np.exp(sums["K"] - total),
        "px": px,
        "py": py,
        "pz": pz,
        "q": trk.charge,
        "e_k": np.sqrt(p2 + M_K**2),
        "e_pi": np.sqrt(p2 + M_PI**2),
        "idx": ak.local_index(trk),
    }


def awkward_decays(t: dict[str, Any]) -> tuple[int, int]:
    kid, px, py, pz, q, idx = (t[c] for c in ("kid", "px", "py", "pz", "q", "idx"))
    # D0 -> K- pi+ and anti-D0 -> K+ pi-: a kaon and an opposite-charge pion
    kp = ak.cartesian({"k": idx, "p": idx})
    k, p = kp.k, kp.p
    ok = (k != p) & (kid[k] > 0.5) & (q[k] == -q[p])
    k, p = k[ok], p[ok]
    dx, dy, dz = px[k] + px[p], py[k] + py[p], pz[k] + pz[p]
    de = t["e_k"][k] + t["e_pi"][p]
    m = np.sqrt(np.maximum(de * de - dx * dx - dy * dy - dz * dz, 0.0))
    win = (m > 1.8) & (m < 1.9)
    d = ak.zip(
        {
            "k": k[win],
            "p": p[win],
            "x": dx[win],
            "y": dy[win],
            "z": dz[win],
            "e": de[win],
        }
    )
    # B+ -> anti-D0 pi+ (anti-D0 has the K+): the bachelor has the kaon's charge
    db = ak.cartesian({"d": d, "b": idx})
    dd, b = db.d, db.b
    ok = (b != dd.k) & (b != dd.p) & (q[b] == q[dd.k])
    dd, b = dd[ok], b[ok]
    lab = np.stack(
        [
            ak.to_numpy(ak.flatten(dd.x + px[b])),
            ak.to_numpy(ak.flatten(dd.y + py[b])),
            ak.to_numpy(ak.flatten(dd.z + pz[b])),
            ak.to_numpy(ak.flatten(dd.e + t["e_pi"][b])),
        ]
    )
    beam = Beam.y4s()
    cms = boost_t(lab, -beam.boost_vector[:, None])
    e_beam = beam.e_beam_cms
    mbc = np.sqrt(np.maximum(e_beam**2 - (cms[:3] ** 2).sum(axis=0), 0.0))
    delta_e = cms[3] - e_beam
    keep = (mbc > 5.2) & (np.abs(delta_e) < 0.2)
    _ = ak.unflatten(keep, ak.num(b))  # the per-event B list a user goes on with
    return int(ak.sum(ak.num(d.k))), int(keep.sum())


def timed(
    lists: Callable[[ak.Array], Any],
    decays: Callable[[Any], tuple[int, int]],
    events: ak.Array,
    repeat: int,
) -> tuple[float, float, tuple[int, int]]:
    """Best-of-``repeat`` seconds of the two stages, and the candidate counts."""
    t_lists, t_decays, out = [], [], (0, 0)
    for _ in range(repeat):
        t0 = time.perf_counter()
        state = lists(events)
        t1 = time.perf_counter()
        out = decays(state)
        t2 = time.perf_counter()
        t_lists.append(t1 - t0)
        t_decays.append(t2 - t1)
    return min(t_lists), min(t_decays), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=40_000)
    ap.add_argument("--signal", type=float, default=0.1)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = ConditionsDB(Path(tmp) / "cdb")
        install_default_tags(db)
        t0 = time.perf_counter()
        events = make_events(args.events, args.signal, db)
        print(
            f"{len(events)} events ({args.signal:.0%} signal) generated in "
            f"{time.perf_counter() - t0:.1f} s; "
            f"{float(ak.mean(ak.num(events.Track))):.1f} tracks/event"
        )
    for lists, decays in (
        (toolkit_lists, toolkit_decays),
        (awkward_lists, awkward_decays),
    ):
        decays(lists(events[:200]))  # warm-up: numba compiles (or loads its cache)
    results = {
        "toolkit": timed(toolkit_lists, toolkit_decays, events, args.repeat),
        "plain awkward": timed(awkward_lists, awkward_decays, events, args.repeat),
    }
    n = len(events)
    print(
        f"{'implementation':<15}{'lists ev/s':>12}{'decays ev/s':>13}{'total ev/s':>12}"
        f"{'D0 cands':>10}{'B cands':>9}"
    )
    for name, (t_l, t_d, counts) in results.items():
        print(
            f"{name:<15}{n / t_l:>12,.0f}{n / t_d:>13,.0f}{n / (t_l + t_d):>12,.0f}"
            f"{counts[0]:>10}{counts[1]:>9}"
        )
    (tl, td, tc), (al, ad, ac) = results["toolkit"], results["plain awkward"]
    print(
        f"toolkit speed-up: lists {al / tl:.1f}x, decays (combinatorics) "
        f"{ad / td:.1f}x, total {(al + ad) / (tl + td):.1f}x"
    )
    if tc != ac:
        raise SystemExit(f"candidate counts differ: toolkit {tc}, awkward {ac}")


if __name__ == "__main__":
    main()
