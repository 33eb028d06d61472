"""Benchmark: ECL simulation and clustering, the numba kernels against numpy.

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

Each stage runs two ways in the same process, side by side: the package (compiled
numba kernels) and the numpy implementation they replaced, kept below verbatim as
the baseline. Both get the same seeds; the run checks that they give the same digits
and clusters (connected regions as the same partition: their numbering differs) and
prints events/s of each, the ratio, and the first call of the numba path (loading
the cached kernels, or compiling them on a cold cache).

How to run
----------
    python benchmarks/bench_ecl.py                 # 10,000 events, best of 5
    python benchmarks/bench_ecl.py --events 5000 --repeats 1 --pions
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from b2grid.physics import ecl, ecl_reco
from b2grid.physics.ecl import (
    _DEPOSIT_CUT,
    _EM_CONSTANT,
    _EM_STOCHASTIC,
    _PROFILE,
    _SPAN,
    _STEPS,
    ADC_PER_GEV,
    NOISE_SIGMA,
    THRESHOLD,
    EclDigits,
    _laplace_cdf,
    _normals,
    _profile_table,
    _species,
)
from b2grid.physics.ecl_geometry import (
    BLOCK_EVENTS,
    N_CRYSTALS,
    OFFSETS21,
    event_blocks,
    geometry,
    group_by_key,
    locate,
    scratch_table,
)
from b2grid.physics.ecl_reco import _FORWARD, _SPLIT, _W0, CR_THRESHOLD, EclClusters


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


# --------------------------------------------------------------------------------------
# The numpy baseline: b2grid.physics.ecl and ecl_reco as they were before the numba
# kernels (30-40 whole-array passes per block of 128 events), for the comparison only.
# --------------------------------------------------------------------------------------

_NC = N_CRYSTALS + 1
_EM, _MIP, _HAD = 0, 1, 2
_BACKWARD = [i for i, (r, _) in enumerate(OFFSETS21[:9]) if r == -1]
_TWO_PI = 2.0 * math.pi
_Columns = tuple[np.ndarray, ...]


def _np_showers(
    pdg: np.ndarray,
    energy: np.ndarray,
    theta: np.ndarray,
    phi: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, ...]:
    n = len(pdg)
    cls_table, mass_table = _species()
    code = np.minimum(np.abs(pdg), 2999)
    cls = cls_table[code]
    choice = rng.random(n)
    kind = np.where(cls == 0, _EM, _HAD)
    kind[(cls == 1) | ((cls == 2) & (choice < 0.5))] = _MIP
    kinetic = np.maximum(energy - mass_table[code], 0.0)
    z = _normals(rng, 5 * n).reshape(5, n).astype(np.float64)
    e = np.maximum(energy, 1e-3)
    res = np.sqrt(_EM_STOCHASTIC**2 / np.sqrt(e) + _EM_CONSTANT**2)
    rear = 0.0045 * np.log(np.maximum(e, 0.05) / 0.05)
    em_dep = energy * (1.0 - rear) * (1.0 + res * z[0])
    landau = 0.18 - 0.008 * np.log(np.square(z[1]))
    mip_dep = np.minimum(landau, kinetic)
    had_dep = (0.2 + 0.6 * rng.random(n)) * kinetic
    deposit = np.choose(kind, [em_dep, mip_dep, had_dep])
    lost = (cls == 4) | ((cls == 3) & (choice >= 0.6))
    cell, u, v = locate(theta, phi)
    deposit = np.where(lost | (cell == 0), 0.0, np.maximum(deposit, 0.0))
    wander = np.choose(kind, [np.sqrt(0.0049 / e + 0.0016), 0.0, 0.3])
    u += wander * z[2]
    v += wander * z[3]
    core = np.clip(_PROFILE[kind, 0] + np.where(kind == _MIP, 0.0, 0.03 * z[4]), 0, 1)
    return cell, u, v, deposit, core, kind


def _np_deposits(
    cell: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    deposit: np.ndarray,
    core: np.ndarray,
    kind: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    geo = geometry()
    table = _profile_table()
    size = int(2 * _SPAN * _STEPS) + 1
    iu = np.clip(np.rint((u + _SPAN) * _STEPS), 0, size - 1).astype(np.int64)
    iv = np.clip(np.rint((v + _SPAN) * _STEPS), 0, size - 1).astype(np.int64)
    base = 2 * size * kind
    w_core = (deposit * core).astype(np.float32)[:, None]
    w_halo = (deposit * (1.0 - core)).astype(np.float32)[:, None]
    t_core = np.take(table, base + iu, 0) * w_core
    t_halo = np.take(table, base + size + iu, 0) * w_halo
    edge = np.flatnonzero(geo.cell_near_region_edge[cell])
    if len(edge):
        c = cell[edge]
        lo, hi = geo.ring_theta_lo, geo.ring_theta_hi
        rows = np.clip(geo.cell_ring[c][:, None] + np.arange(-2, 3), 0, len(lo) - 1)
        width = geo.cell_dtheta[c][:, None]
        centre = geo.cell_theta[c][:, None] + u[edge, None] * width
        a_lo, a_hi = (lo[rows] - centre) / width, (hi[rows] - centre) / width
        a_hi = np.where(np.take(geo.neighbours25, c, 0)[:, ::5] > 0, a_hi, a_lo)
        for comp, out, w in ((1, t_core, w_core), (2, t_halo, w_halo)):
            scale = _PROFILE[kind[edge], comp][:, None]
            frac = _laplace_cdf(a_hi, scale) - _laplace_cdf(a_lo, scale)
            out[edge] = frac * w[edge]
    deps = (
        t_core[:, :, None] * np.take(table, base + iv, 0)[:, None, :]
        + t_halo[:, :, None] * np.take(table, base + size + iv, 0)[:, None, :]
    )
    return np.take(geo.neighbours25, cell, 0), deps.reshape(len(cell), 25)


def np_simulate(
    ev: np.ndarray,
    pdg: np.ndarray,
    energy: np.ndarray,
    theta: np.ndarray,
    phi: np.ndarray,
    mc: np.ndarray,
    gains: np.ndarray,
    rng: np.random.Generator,
    *,
    n_events: int,
) -> EclDigits:
    """The numpy ``ecl.simulate`` (event-sorted input only)."""
    p_pdg, mc = pdg.astype(np.int64), mc.astype(np.int64)
    p_e, p_theta, p_phi = (c.astype(np.float64) for c in (energy, theta, phi))
    gain = np.asarray(gains, dtype=np.float64)
    parts = []
    for first, p0, p1 in event_blocks(ev, n_events):
        sl = slice(p0, p1)
        cell, u, v, dep, core, kind = _np_showers(
            p_pdg[sl], p_e[sl], p_theta[sl], p_phi[sl], rng
        )
        live = np.flatnonzero(dep > 0.0)
        cells, deps = _np_deposits(
            cell[live], u[live], v[live], dep[live], core[live], kind[live]
        )
        entry = np.flatnonzero(deps > _DEPOSIT_CUT)
        shower = np.take(live, entry // 25) + p0
        e_cell = np.take(cells, entry)
        e_dep = np.take(deps, entry)
        key = (np.take(ev, shower) - first) * _NC + e_cell
        rep, total, owner = group_by_key(key, e_dep, 1e7)
        e = total + NOISE_SIGMA * _normals(rng, len(total))
        keep = np.flatnonzero(e > THRESHOLD)
        e = e[keep]
        owner = owner[keep]
        c = np.take(e_cell, np.take(rep, keep))
        sigma_t = np.sqrt(1.0 + np.square(1e-2 / e))
        parts.append(
            (
                ev[shower[owner]],
                c.astype(np.int16),
                np.rint(e * (ADC_PER_GEV * np.take(gain, c))).astype(np.int32),
                (sigma_t * _normals(rng, len(keep))).astype(np.float32),
                mc[shower[owner]].astype(np.int32),
            )
        )
    return _np_concat(parts)


def _np_concat(parts: list[_Columns]) -> EclDigits:
    if not parts:
        return EclDigits.empty()
    cols = [np.concatenate([p[i] for p in parts]) for i in range(5)]
    return EclDigits(cols[0], cols[1], cols[2], cols[3], cols[4])


def np_background(
    n_events: int, rng: np.random.Generator, *, gains: np.ndarray
) -> EclDigits:
    """The numpy ``ecl.background`` at BGx1."""
    gain = np.asarray(gains, dtype=np.float64)
    event = np.repeat(np.arange(n_events), rng.poisson(150.0, n_events))
    n_reg = np.array([1152, 6624, 960])
    edge = np.cumsum(n_reg * [3.0, 1.0, 3.0]) / np.dot(n_reg, [3.0, 1.0, 3.0])
    scale = n_reg / np.diff(edge, prepend=0.0)
    offset = np.array([1, 1153, 7777]) - np.concatenate([[0.0], edge[:2]]) * scale
    parts = []
    for first, p0, p1 in event_blocks(event, n_events):
        x, y = rng.random(p1 - p0), rng.random(p1 - p0)
        reg = (x >= edge[0]).astype(np.intp) + (x >= edge[1])
        cell = (x * scale[reg] + offset[reg]).astype(np.int16)
        energy = np.where(
            y < 0.05,
            5e-3 * np.exp(y * (math.log(10.0) / 0.05)),
            0.5e-3 - 2e-3 * np.log1p((0.05 - y) / 0.95),
        )
        adc = np.rint(energy * ADC_PER_GEV * gain[cell]).astype(np.int32)
        time = (rng.random(p1 - p0, dtype=np.float32) - 0.5) * np.float32(1000.0)
        mc = np.full(p1 - p0, -1, dtype=np.int32)
        parts.append(_np_combine(first, event[p0:p1], cell, adc, time, mc))
    return _np_concat(parts)


def _np_combine(first: int, *cols: np.ndarray) -> _Columns:
    event, cell, adc, time, mc = cols
    a = adc.astype(np.float64)
    rep, total, owner = group_by_key((event - first) * _NC + cell, a, 1.0)
    return (event[rep], cell[rep], total.astype(np.int32), time[owner], mc[owner])


def np_merge(*digits: EclDigits) -> EclDigits:
    """The numpy ``ecl.merge``."""
    sets = [d for d in digits if len(d)]
    if len(sets) <= 1:
        return sets[0] if sets else EclDigits.empty()
    n_events = max(int(d.event[-1]) for d in sets) + 1
    starts = np.append(np.arange(0, n_events, BLOCK_EVENTS), n_events)
    cuts = [np.searchsorted(d.event, starts) for d in sets]
    fields = ("event", "cell", "adc", "time", "mc_index")
    parts = []
    for b in range(len(starts) - 1):
        cols = [
            np.concatenate(
                [
                    getattr(d, f)[c[b] : c[b + 1]]
                    for d, c in zip(sets, cuts, strict=True)
                ]
            )
            for f in fields
        ]
        order = np.argsort(cols[0], kind="stable")
        parts.append(_np_combine(int(starts[b]), *(c[order] for c in cols)))
    return _np_concat(parts)


def _np_tables() -> tuple[np.ndarray, ...]:
    geo = geometry()
    nb8 = np.ascontiguousarray(geo.neighbours9[:, 1:])
    fwd = np.ascontiguousarray(geo.neighbours9[:, _FORWARD])
    back = np.ascontiguousarray(geo.neighbours9[:, _BACKWARD])
    ring = geo.cell_ring
    below = geo.ring_nphi[np.maximum(ring - 1, 0)]
    needs_back = (ring > 0) & (below != geo.ring_nphi[ring])
    needs_back[0] = False
    return nb8, fwd, back, geo.neighbours21, needs_back


def _np_roots(a: np.ndarray, b: np.ndarray, label: np.ndarray) -> np.ndarray:
    up = np.empty_like(label)
    while True:
        while True:
            np.take(label, label, out=up)
            if np.array_equal(up, label):
                break
            label, up = up, label
        la, lb = np.take(label, a), np.take(label, b)
        apart = np.flatnonzero(la != lb)
        if not len(apart):
            return label
        a, b, la, lb = a[apart], b[apart], la[apart], lb[apart]
        np.minimum.at(label, np.maximum(la, lb), np.minimum(la, lb))


def np_cluster(
    digits: EclDigits, energy: np.ndarray, n_events: int, *, leakage: float
) -> EclClusters:
    """The numpy ``ecl_reco.cluster`` with the default seed threshold and window."""
    geo = geometry()
    nb8, fwd, back, nb21, needs_back = _np_tables()
    e_all = np.asarray(energy, dtype=np.float64)
    lo, hi = -50.0, 50.0
    seed_threshold = 0.02
    cr_cut = min(CR_THRESHOLD, seed_threshold)
    table = scratch_table(np.int64)
    parts: list[tuple[np.ndarray, ...]] = []
    for first, d0, d1 in event_blocks(digits.event, n_events):
        t_blk = digits.time[d0:d1]
        e_blk = e_all[d0:d1]
        d = np.flatnonzero((t_blk >= lo) & (t_blk <= hi) & (e_blk > 0.0))
        m = len(d)
        evl = digits.event[d0:d1][d] - first
        cells = digits.cell[d0:d1][d].astype(np.int64)
        e = e_blk[d]
        base = evl * _NC
        key = base + cells
        table[key] = np.arange(1, m + 1)
        e_pad = np.concatenate([[0.0], e])
        rank = np.concatenate([[-1.0], e - 1e-12 * cells])
        take = np.take
        cand = np.flatnonzero(e >= seed_threshold)
        nb = take(table, take(base, cand)[:, None] + take(nb8, take(cells, cand), 0))
        better = take(rank, nb).max(axis=1, initial=-2.0)
        seed = cand[take(rank, cand + 1) > better]
        seed_cell = take(cells, seed)
        around = take(nb21, seed_cell, 0)
        member = take(table, take(base, seed)[:, None] + around)
        weight = take(e, seed)[:, None] * _SPLIT
        shared = np.bincount(member.ravel(), weight.ravel(), minlength=m + 1)
        part = take(e_pad, member) * (weight / take(shared, member))
        e21 = part.sum(axis=1)
        p9 = part[:, :9]
        e9 = p9.sum(axis=1)
        lw = np.maximum(0.0, _W0 + np.log(np.maximum(p9, 1e-300) / e9[:, None]))
        sw = lw.sum(axis=1)
        around9 = around[:, :9]
        theta = (lw * take(geo.cell_theta, around9)).sum(axis=1) / sw
        phi0 = take(geo.cell_phi, seed_cell)
        dphi = take(geo.cell_phi, around9) - phi0[:, None]
        dphi -= _TWO_PI * np.rint(dphi / _TWO_PI)
        phi = phi0 + (lw * dphi).sum(axis=1) / sw
        phi -= _TWO_PI * np.floor((phi + math.pi) / _TWO_PI)
        node = np.flatnonzero(e >= cr_cut)
        k = len(node)
        node_of = np.full(m + 1, k)
        node_of[node + 1] = np.arange(k)
        node_cell = take(cells, node)
        node_base = take(base, node)[:, None]
        link = take(node_of, take(table, node_base + take(fwd, node_cell, 0))).ravel()
        edge = np.flatnonzero(link < k)
        a, b = edge // len(_FORWARD), take(link, edge)
        extra = np.flatnonzero(take(needs_back, node_cell))
        if len(extra):
            keys = node_base[extra] + take(back, node_cell[extra], 0)
            link = take(node_of, take(table, keys)).ravel()
            edge = np.flatnonzero(link < k)
            a = np.concatenate([a, extra[edge // len(_BACKWARD)]])
            b = np.concatenate([b, take(link, edge)])
        label = np.arange(k + 1)
        seed_node = take(node_of, seed + 1)
        label[take(node_of, member[:, :9])] = seed_node[:, None]
        seed_root = take(_np_roots(a, b, label), seed_node)
        marked = np.zeros(k, dtype=np.int64)
        marked[seed_root] = 1
        count = np.cumsum(marked)
        start = np.searchsorted(take(evl, node), take(evl, seed))
        region = take(count, seed_root) - take(count, start) + take(marked, start)
        table[key] = 0
        g = d[seed] + d0
        parts.append(
            (
                digits.event[g],
                (e21 * leakage).astype(np.float32),
                theta.astype(np.float32),
                phi.astype(np.float32),
                (e9 / e21).astype(np.float32),
                digits.time[g],
                np.count_nonzero(part > 0.0, axis=1).astype(np.int16),
                digits.cell[g],
                region.astype(np.int16),
                digits.mc_index[g],
            )
        )
    cols = [np.concatenate([p[i] for p in parts]) for i in range(10)]
    return EclClusters(
        cols[0].astype(np.int64),
        cols[1].astype(np.float32),
        cols[2].astype(np.float32),
        cols[3].astype(np.float32),
        cols[4].astype(np.float32),
        cols[5].astype(np.float32),
        cols[6].astype(np.int16),
        cols[7].astype(np.int16),
        cols[8].astype(np.int16),
        cols[9].astype(np.int32),
    )


# --------------------------------------------------------------------------------------


def _same_partition(event: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
    """Do the labels ``a`` and ``b`` group the clusters of each event alike?"""
    key_a = event * 65536 + a.astype(np.int64)
    key_b = event * 65536 + b.astype(np.int64)
    pairs = np.unique(np.stack([key_a, key_b]), axis=1)
    return len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


def _check(d1: EclDigits, c1: EclClusters, d2: EclDigits, c2: EclClusters) -> str:
    """Where the two paths disagree, or 'identical'."""
    bad = [
        f"digits.{f}"
        for f in ("event", "cell", "adc", "time", "mc_index")
        if not np.array_equal(getattr(d1, f), getattr(d2, f))
    ]
    for f in EclClusters.__dataclass_fields__:
        x, y = getattr(c1, f), getattr(c2, f)
        if f == "connected_region":
            same = len(x) == len(y) and _same_partition(c1.event, x, y)
        else:
            same = np.array_equal(x, y)
        if not same:
            bad.append(f"clusters.{f}")
    return "identical" if not bad else "DIFFER: " + ", ".join(bad)


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
    leak = ecl_reco.default_leakage()

    def sim(
        simulate: Callable[..., EclDigits],
        background: Callable[..., EclDigits],
        merge: Callable[..., EclDigits],
        r: int,
    ) -> tuple[EclDigits, float, float]:
        rng = np.random.default_rng(100 + r)
        t0 = time.perf_counter()
        d = simulate(event, pdg, energy, theta, phi, mc, gains, rng, n_events=n)
        t1 = time.perf_counter()
        d = merge(d, background(n, rng, gains=gains))
        return d, t1 - t0, time.perf_counter() - t1

    def reco(cluster: Callable[..., EclClusters], d: EclDigits) -> tuple[Any, float]:
        t0 = time.perf_counter()
        c = cluster(d, ecl_reco.calibrated_energy(d, calib), n, leakage=leak)
        return c, time.perf_counter() - t0

    paths = {
        "numpy": (np_simulate, np_background, np_merge, np_cluster),
        "numba": (
            ecl.simulate,
            lambda n, rng, gains: ecl.background(n, "BGx1", rng, gains=gains),
            ecl.merge,
            lambda d, e, n, leakage: ecl_reco.cluster(d, e, n, leakage=leakage),
        ),
    }
    # first call of the numba path: loads the cached kernels (or compiles them)
    t0 = time.perf_counter()
    few = np.searchsorted(event, 10)
    d = ecl.simulate(*(a[:few] for a in (event, pdg, energy, theta, phi, mc)),
                     gains, np.random.default_rng(0), n_events=10)  # fmt: skip
    d = ecl.merge(d, ecl.background(10, "BGx1", np.random.default_rng(0)))
    ecl_reco.cluster(d, ecl_reco.calibrated_energy(d, calib), 10)
    first_call = time.perf_counter() - t0
    np_cluster(d, ecl_reco.calibrated_energy(d, calib), 10, leakage=leak)  # tables

    best = {
        p: {"simulate": np.inf, "background+merge": np.inf, "reco": np.inf}
        for p in paths
    }
    out: dict[str, tuple[EclDigits, Any]] = {}
    for r in range(args.repeats):
        for name, (simulate, background, merge, cluster) in paths.items():
            d, t_sim, t_bg = sim(simulate, background, merge, r)
            c, t_reco = reco(cluster, d)
            for key, dt in zip(best[name], (t_sim, t_bg, t_reco), strict=True):
                best[name][key] = min(best[name][key], dt)
            out[name] = (d, c)

    digits, clusters = out["numba"]
    kind = "pi+-" if args.pions else "mu+-"
    print(f"{n} events: Poisson(15) photons + Poisson(11) {kind} + BGx1")
    print(f"  digits/event {len(digits) / n:8.1f}")
    print(f"  clusters/event {len(clusters) / n:6.1f}")
    print(f"  numba vs numpy results: {_check(*out['numba'], *out['numpy'])}")
    print(f"  numba first call (cache load or compile): {first_call:.2f} s")
    print(f"  {'us/event':22s}{'numpy':>10s}{'numba':>10s}{'ratio':>8s}")
    for key in best["numpy"]:
        a, b = best["numpy"][key] / n * 1e6, best["numba"][key] / n * 1e6
        print(f"    {key:20s}{a:10.1f}{b:10.1f}{a / b:7.1f}x")
    print(f"  {'events/s':22s}{'numpy':>10s}{'numba':>10s}{'ratio':>8s}")
    for stage in ("sim", "reco", "both"):
        keys = {"sim": ["simulate", "background+merge"], "reco": ["reco"]}.get(
            stage, list(best["numpy"])
        )
        a, b = (sum(best[p][k] for k in keys) for p in ("numpy", "numba"))
        print(f"    {stage:20s}{n / a:10,.0f}{n / b:10,.0f}{a / b:7.1f}x")


if __name__ == "__main__":
    main()
