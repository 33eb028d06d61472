"""Compiled kernels of the ECL and of track-cluster matching (numba, one core each).

Plain numpy arrays in and out: flat, event-sorted columns, loops over events inside.
Kernels draw no random numbers -- callers draw them with numpy and pass them in, so
results depend on the seed only -- and read no constants of other modules: physics
numbers come in as arguments, so that the on-disk cache can never hold stale ones.
Kernels that group by crystal go through one event at a time with a dense cellId
table of their own: thread-safe (``nogil``), and the working set stays in the cache.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt

__all__ = [
    "cluster_digits",
    "digitise",
    "match_nearest",
    "merge_digits",
    "shower_keys",
    "showers",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I16 = npt.NDArray[np.int16]
I32 = npt.NDArray[np.int32]
I64 = npt.NDArray[np.int64]
U16 = npt.NDArray[np.uint16]
Bool = npt.NDArray[np.bool_]
I8 = npt.NDArray[np.int8]

_F = TypeVar("_F", bound=Callable[..., Any])

#: length of the dense per-event tables indexed by cellId: every int16 value has a
#: slot (negative ones wrap around), so no cellId can index outside them
_TABLE = 1 << 16


def _kernel(fn: _F) -> _F:
    """Compile ``fn`` on its first call (cached on disk), for one core with the GIL
    released; numpy's float semantics (no ZeroDivisionError)."""
    return cast(_F, numba.njit(cache=True, nogil=True, error_model="numpy")(fn))


@_kernel
def _event_end(event: I64, i: int) -> int:
    """End of the run of equal ``event`` values that starts at ``i``."""
    j = i + 1
    while j < len(event) and event[j] == event[i]:
        j += 1
    return j


@_kernel
def _largest_event(event: I64) -> int:
    """Entries of the most populous event of the event-sorted ``event``."""
    most, i = 0, 0
    while i < len(event):
        j = _event_end(event, i)
        most = max(most, j - i)
        i = j
    return most


@_kernel
def _laplace_cdf(x: float, scale: float) -> float:
    half = 0.5 * math.exp(-abs(x) / scale)
    return half if x < 0 else 1.0 - half


@_kernel
def _group(
    cell: I64,
    value: npt.NDArray[Any],
    weight: I64,
    table: I32,
    total: npt.NDArray[Any],
    owner: I64,
    m: int,
) -> None:
    """Group the first ``m`` entries of one event by cell.

    ``table[cell]`` is left at the last entry of each cell (its representative),
    whose ``total`` gets the sum of the values (in numpy's ``np.add.at`` order:
    the representative's, then the others by entry) and whose ``owner`` the entry
    of largest ``weight`` (of equal ones, the later entry).
    """
    for q in range(m):
        table[cell[q]] = q
        total[q] = value[q]
        owner[q] = q
    for q in range(m):
        r = table[cell[q]]
        if r != q:
            total[r] += value[q]
            o = owner[r]
            if weight[q] > weight[o] or (weight[q] == weight[o] and q > o):
                owner[r] = q


@_kernel
def showers(
    pdg: I64,
    energy: F64,
    theta: F64,
    phi: F64,
    choice: F64,
    z_index: U16,
    fraction: F64,
    normal: F32,
    species_class: I8,
    species_mass: F64,
    em_resolution: tuple[float, float],
    profile: F64,
    edges: F64,
    interval_ring: I64,
    ring_first: I64,
    ring_nphi: I64,
    cell_theta: F64,
    cell_phi: F64,
    cell_dtheta: F64,
    cell_dphi: F64,
    cell: I64,
    u: F64,
    v: F64,
    deposit: F64,
    core: F64,
    kind: I64,
) -> None:
    """The shower of each particle: impact crystal (0 outside), centre (u, v)
    relative to its centre in crystal widths, deposit (0 = none), core weight and
    kind (0 EM, 1 MIP, 2 hadronic).

    Random numbers: uniform ``choice`` and ``fraction``, and five normals per
    particle, ``normal[z_index[k * n + i]]``. Species classes (0 e/gamma, 1 muon,
    2 charged hadron, 3 K_L/neutron, 4 neutrino) and masses come from the dense
    tables over ``min(|pdg|, 2999)``; ``em_resolution`` is (stochastic**2,
    constant**2); ``profile[kind, 0]`` the mean core weight. The crystal is found
    on the ``edges``/``interval_ring`` grid where gaps go to the nearer ring.
    """
    n = len(pdg)
    for i in range(n):
        code = min(abs(pdg[i]), 2999)
        cls = species_class[code]
        k = 0 if cls == 0 else (1 if cls == 1 or (cls == 2 and choice[i] < 0.5) else 2)
        kinetic = max(energy[i] - species_mass[code], 0.0)
        e = max(energy[i], 1e-3)
        z0 = np.float64(normal[z_index[i]])  # five normals of particle i
        z1 = np.float64(normal[z_index[n + i]])
        z2 = np.float64(normal[z_index[2 * n + i]])
        z3 = np.float64(normal[z_index[3 * n + i]])
        z4 = np.float64(normal[z_index[4 * n + i]])
        if k == 0:
            res = math.sqrt(em_resolution[0] / math.sqrt(e) + em_resolution[1])
            # rear leakage out of the 16 X0 crystals grows with the depth of the
            # shower maximum, ~ln E: 0.3 % at 0.1 GeV, 1.3 % at 1 GeV, 2 % at 5 GeV
            rear = 0.0045 * math.log(max(e, 0.05) / 0.05)
            dep = energy[i] * (1.0 - rear) * (1.0 + res * z0)
            # the shower axis wanders: EM by ~0.07/sqrt(E) crystal widths
            wander = math.sqrt(0.0049 / e + 0.0016)
        elif k == 1:
            landau = 0.18 - 0.008 * math.log(z1 * z1)  # Moyal, most probable 0.18
            dep = min(landau, kinetic)
            wander = 0.0
        else:
            dep = (0.2 + 0.6 * fraction[i]) * kinetic
            wander = 0.3  # hadronic showers wander by 0.3 crystal widths
        c = 0
        j = np.searchsorted(edges, theta[i], side="right") - 1
        if 0 <= j < len(interval_ring):
            ring = interval_ring[j]
            nphi = ring_nphi[ring]
            turns = np.remainder(phi[i] * (0.5 / math.pi), 1.0)
            c = ring_first[ring] + min(int(turns * nphi), nphi - 1)
        lost = cls == 4 or (cls == 3 and choice[i] >= 0.6)
        cell[i], kind[i] = c, k
        deposit[i] = 0.0 if lost or c == 0 else max(dep, 0.0)
        if c:
            dphi = np.remainder(phi[i] - cell_phi[c] + math.pi, 2 * math.pi) - math.pi
            u[i] = (theta[i] - cell_theta[c]) / cell_dtheta[c] + wander * z2
            v[i] = dphi / cell_dphi[c] + wander * z3
            spread = 0.0 if k == 1 else 0.03 * z4
            core[i] = min(max(profile[k, 0] + spread, 0.0), 1.0)


@_kernel
def shower_keys(
    event: I64,
    cell: I64,
    u: F64,
    v: F64,
    deposit: F64,
    core: F64,
    kind: I64,
    profile_table: F32,
    profile_scales: F64,
    span: float,
    steps: float,
    deposit_cut: float,
    near_edge: Bool,
    cell_ring: I64,
    cell_theta: F64,
    cell_dtheta: F64,
    ring_lo: F64,
    ring_hi: F64,
    neighbours25: I16,
    key_cell: I64,
    key_total: F32,
    key_owner: I64,
) -> int:
    """Crystal deposits of the showers, summed per (event, crystal).

    Each shower with ``deposit > 0`` (impact crystal, centre offset ``u``, ``v`` in
    crystal widths, core weight and kind) spreads over the 5x5 block around its
    crystal (``neighbours25``): a product of tabulated Laplace profiles (rows
    ``(2 kind + component) x size + offset`` of ``profile_table``), with exact theta
    integrals over the real ring edges (scales ``profile_scales[kind]``) where the
    block leaves its region, so that energy falls into the gaps between regions.
    Entries above ``deposit_cut`` are summed per crystal of each event in float32.
    Writes per crystal its cellId, summed deposit and the shower of the largest
    entry (index into the inputs); keys come out in the order of their last entry.
    Returns the number of keys.
    """
    size = profile_table.shape[0] // 6
    n_rings = len(ring_lo)
    cut = np.float32(deposit_cut)
    scale = np.float32(1e7)
    biggest = 25 * _largest_event(event)
    ent_cell = np.empty(biggest, np.int64)
    ent_dep = np.empty(biggest, np.float32)
    ent_value = np.empty(biggest, np.int64)
    ent_shower = np.empty(biggest, np.int64)
    total = np.empty(biggest, np.float32)
    best = np.empty(biggest, np.int64)
    table = np.empty(_TABLE, np.int32)  # never cleared: each read follows a write
    t_core = np.empty(5, np.float32)
    t_halo = np.empty(5, np.float32)
    n_keys = 0
    i = 0
    while i < len(event):
        end = _event_end(event, i)
        m = 0
        for s in range(i, end):
            if not deposit[s] > 0.0:
                continue
            c, k = cell[s], kind[s]
            base = 2 * size * k
            iu = int(min(max(np.rint((u[s] + span) * steps), 0.0), size - 1.0))
            iv = int(min(max(np.rint((v[s] + span) * steps), 0.0), size - 1.0))
            w_core = np.float32(deposit[s] * core[s])
            w_halo = np.float32(deposit[s] * (1.0 - core[s]))
            if near_edge[c]:  # exact theta integrals over the real ring edges
                width = cell_dtheta[c]
                centre = cell_theta[c] + u[s] * width
                for r in range(5):
                    row = min(max(cell_ring[c] + r - 2, 0), n_rings - 1)
                    a_lo = (ring_lo[row] - centre) / width
                    a_hi = (ring_hi[row] - centre) / width
                    if neighbours25[c, 5 * r] <= 0:
                        a_hi = a_lo
                    sc, sh = profile_scales[k, 0], profile_scales[k, 1]
                    f_core = _laplace_cdf(a_hi, sc) - _laplace_cdf(a_lo, sc)
                    f_halo = _laplace_cdf(a_hi, sh) - _laplace_cdf(a_lo, sh)
                    t_core[r] = np.float32(f_core * np.float64(w_core))
                    t_halo[r] = np.float32(f_halo * np.float64(w_halo))
            else:
                for r in range(5):
                    t_core[r] = profile_table[base + iu, r] * w_core
                    t_halo[r] = profile_table[base + size + iu, r] * w_halo
            for r in range(5):
                for col in range(5):
                    d = (
                        t_core[r] * profile_table[base + iv, col]
                        + t_halo[r] * profile_table[base + size + iv, col]
                    )
                    ent_cell[m] = neighbours25[c, 5 * r + col]
                    ent_dep[m] = d
                    ent_value[m] = np.int64(d * scale)
                    ent_shower[m] = s
                    m += d > cut  # kept when above the cut (no branch)
        _group(ent_cell, ent_dep, ent_value, table, total, best, m)
        for q in range(m):
            if table[ent_cell[q]] == q:
                key_cell[n_keys] = ent_cell[q]
                key_total[n_keys] = total[q]
                key_owner[n_keys] = ent_shower[best[q]]
                n_keys += 1
        i = end
    return n_keys


@_kernel
def digitise(
    key_cell: I64,
    key_total: F32,
    key_owner: I64,
    n_keys: int,
    noise_index: U16,
    normal: F32,
    noise_sigma: float,
    threshold: float,
    adc_per_gev: float,
    gain: F64,
    time_constant: float,
    time_noise: float,
    event: I64,
    mc: I64,
    out_event: I64,
    out_cell: I16,
    out_adc: I32,
    out_mc: I32,
    sigma_t: F32,
) -> int:
    """Noise, threshold and ADC counts of the summed crystal deposits.

    Key ``q`` gets ``noise_sigma * normal[noise_index[q]]`` (float32) and is kept
    above ``threshold``; kept digits are written to the ``out_`` columns (``event``
    and ``mc`` of the owning shower, ``adc = rint(E * adc_per_gev * gain)``) and
    the width of their time, ``hypot(time_constant, time_noise / E)``, to
    ``sigma_t``. Returns the number kept.
    """
    sigma, cut = np.float32(noise_sigma), np.float32(threshold)
    t_const, t_noise = np.float32(time_constant), np.float32(time_noise)
    k = 0
    for q in range(n_keys):
        e = key_total[q] + sigma * normal[noise_index[q]]
        c, o, at = key_cell[q], key_owner[q], k
        out_event[at] = event[o]
        out_cell[at] = np.int16(c)
        out_adc[at] = np.int32(np.rint(np.float64(e) * (adc_per_gev * gain[c])))
        out_mc[at] = np.int32(mc[o])
        x = t_noise / e
        sigma_t[k] = np.sqrt(t_const * t_const + x * x)
        k += e > cut  # kept when above the threshold (no branch)
    return k


@_kernel
def merge_digits(
    events: tuple[I64, ...],
    cells: tuple[I16, ...],
    adcs: tuple[I32, ...],
    times: tuple[F32, ...],
    mcs: tuple[I32, ...],
    out_event: I64,
    out_cell: I16,
    out_adc: I32,
    out_time: F32,
    out_mc: I32,
) -> int:
    """One digit per (event, crystal) of one or more event-sorted digit sets.

    Counts of a crystal are summed; time and mc index are those of the largest
    count (of equal ones, the later, taking the sets in order). Crystals of an
    event come out in the order of their last entry. Returns the number written.
    """
    k = len(events)
    biggest = 0
    for s in range(k):
        biggest += _largest_event(events[s])
    ent_cell = np.empty(biggest, np.int64)
    ent_count = np.empty(biggest, np.int64)
    ent_set = np.empty(biggest, np.int64)
    ent_index = np.empty(biggest, np.int64)
    total = np.empty(biggest, np.int64)
    owner = np.empty(biggest, np.int64)
    table = np.empty(_TABLE, np.int32)  # never cleared: each read follows a write
    pos = np.zeros(k, np.int64)
    n = 0
    while True:
        ev, found = 0, False
        for s in range(k):  # the next event: the smallest of the sets' heads
            if pos[s] < len(events[s]) and (not found or events[s][pos[s]] < ev):
                ev, found = events[s][pos[s]], True
        if not found:
            return n
        m = 0
        for s in range(k):
            p, e = pos[s], events[s]
            while p < len(e) and e[p] == ev:
                ent_cell[m] = cells[s][p]
                ent_count[m] = adcs[s][p]
                ent_set[m], ent_index[m] = s, p
                m += 1
                p += 1
            pos[s] = p
        _group(ent_cell, ent_count, ent_count, table, total, owner, m)
        for q in range(m):
            if table[ent_cell[q]] == q:
                o = owner[q]
                out_event[n] = ev
                out_cell[n] = np.int16(ent_cell[q])
                out_adc[n] = np.int32(total[q])
                out_time[n] = times[ent_set[o]][ent_index[o]]
                out_mc[n] = mcs[ent_set[o]][ent_index[o]]
                n += 1


@_kernel
def _root(parent: I32, q: int) -> int:
    while parent[q] != q:
        parent[q] = parent[parent[q]]  # path halving
        q = parent[q]
    return q


@_kernel
def cluster_digits(
    offsets: I64,
    cell: I16,
    time: F32,
    energy: F64,
    time_lo: float,
    time_hi: float,
    seed_threshold: float,
    cr_threshold: float,
    leakage: float,
    w0: float,
    neighbours8: I16,
    links: I16,
    neighbours21: I16,
    split: F64,
    cell_theta: F64,
    cell_phi: F64,
) -> tuple[I64, F32, F32, F32, F32, I16, I16]:
    """Clusters of event-sorted digits; see :func:`b2grid.physics.ecl_reco.cluster`.

    Event ``ev`` has the digits ``offsets[ev]:offsets[ev + 1]``; they take part if
    ``time_lo <= time <= time_hi`` (in float32) and ``energy > 0``. Seeds are local
    maxima over ``neighbours8``; clusters sum the ``neighbours21`` shared by
    ``split``; connected regions join the digits above ``cr_threshold`` along
    ``links`` (0: none), which must hold one end of every 3x3 neighbour pair.
    Returns per cluster, by event and seed digit: the seed digit, energy (times
    ``leakage``), theta, phi, E9/E21, hits and connected region (numbered in each
    event in the order of the first cluster of each).
    """
    t_lo, t_hi = np.float32(time_lo), np.float32(time_hi)
    # log weights below this fraction of E9 are surely 0 (skips their logarithm)
    no_weight = math.exp(-w0) * (1.0 - 1e-9)
    cap, biggest = 0, 0
    for ev in range(len(offsets) - 1):
        biggest = max(biggest, offsets[ev + 1] - offsets[ev])
    for g in range(offsets[-1]):
        cap += energy[g] >= seed_threshold
    out_digit = np.empty(cap, np.int64)
    out_energy = np.empty(cap, np.float32)
    out_theta = np.empty(cap, np.float32)
    out_phi = np.empty(cap, np.float32)
    out_e9oe21 = np.empty(cap, np.float32)
    out_hits = np.empty(cap, np.int16)
    out_region = np.empty(cap, np.int16)
    digit = np.empty(biggest, np.int64)
    d_cell = np.empty(biggest, np.int64)
    e = np.empty(biggest + 1, np.float64)  # e[1 + j]: digit j; e[0] = 0 (none)
    shared = np.empty(biggest + 1, np.float64)  # the same indexing
    seeds = np.empty(biggest, np.int64)
    parent = np.empty(biggest, np.int32)
    region = np.zeros(biggest, np.int16)
    part = np.empty(21, np.float64)
    table = np.zeros(_TABLE, np.int32)  # cellId -> 1 + digit of this event, 0 none
    two_pi = 2.0 * math.pi
    e[0] = 0.0
    k = 0
    for ev in range(len(offsets) - 1):
        m = 0
        for g in range(offsets[ev], offsets[ev + 1]):  # in-time digits, no branch
            digit[m], d_cell[m], e[m + 1] = g, cell[g], energy[g]
            m += (time[g] >= t_lo) & (time[g] <= t_hi) & (energy[g] > 0.0)
        for j in range(m):
            table[d_cell[j]] = j + 1
        # seeds: local maxima over the 3x3 (ties to the lower cellId)
        ns = 0
        for j in range(m):
            if e[j + 1] >= seed_threshold:
                mine = e[j + 1] - 1e-12 * d_cell[j]
                better = -2.0
                for col in range(neighbours8.shape[1]):
                    t = table[neighbours8[d_cell[j], col]]
                    rank = e[t] - 1e-12 * d_cell[t - 1] if t > 0 else -1.0
                    better = max(better, rank)
                if mine > better:
                    seeds[ns] = j
                    ns += 1
        # crystals in the 21 of several seeds are shared by E_seed * split
        shared[: m + 1] = 0.0
        for s in range(ns):
            es, sc = e[seeds[s] + 1], d_cell[seeds[s]]
            for col in range(21):
                shared[table[neighbours21[sc, col]]] += es * split[col]
        # connected regions: digits above cr_threshold joined along the links
        for j in range(m):
            parent[j] = j
        for j in range(m):
            if e[j + 1] >= cr_threshold:
                a = _root(parent, j)
                for col in range(links.shape[1]):
                    t = table[links[d_cell[j], col]]
                    if t > 0 and e[t] >= cr_threshold:
                        b = _root(parent, t - 1)
                        parent[max(a, b)] = min(a, b)
                        a = min(a, b)
        n_regions = 0
        for s in range(ns):
            seed = seeds[s]
            sc = d_cell[seed]
            es = e[seed + 1]
            e21, e9, hits = 0.0, 0.0, 0
            for col in range(21):
                t = table[neighbours21[sc, col]]
                share = es * split[col]
                part[col] = e[t] * (share / shared[t]) if t > 0 else 0.0
                e21 += part[col]
                hits += part[col] > 0.0
                if col == 8:
                    e9 = e21
            # log-weighted 3x3 position, phi relative to the seed's
            sw, st, sp = 0.0, 0.0, 0.0
            phi0 = cell_phi[sc]
            for col in range(9):
                if part[col] > no_weight * e9:
                    lw = max(0.0, w0 + math.log(part[col] / e9))
                    other = neighbours21[sc, col]
                    dphi = cell_phi[other] - phi0
                    dphi -= two_pi * np.rint(dphi / two_pi)  # across phi = +-pi
                    sw += lw
                    st += lw * cell_theta[other]
                    sp += lw * dphi
            phi = phi0 + sp / sw
            phi -= two_pi * math.floor((phi + math.pi) / two_pi)
            root = _root(parent, seed)
            if region[root] == 0:
                n_regions += 1
                region[root] = n_regions
            out_digit[k] = digit[seed]
            out_energy[k] = e21 * leakage
            out_theta[k] = st / sw
            out_phi[k] = phi
            out_e9oe21[k] = e9 / e21
            out_hits[k] = hits
            out_region[k] = region[root]
            k += 1
        for j in range(m):
            table[d_cell[j]] = 0
            region[j] = 0
    return (
        out_digit[:k],
        out_energy[:k],
        out_theta[:k],
        out_phi[:k],
        out_e9oe21[:k],
        out_hits[:k],
        out_region[:k],
    )


@_kernel
def match_nearest(
    a_offsets: I64, b_offsets: I64, a_unit: F64, b_unit: F64, min_cos: float
) -> tuple[I64, I64]:
    """One-to-one matching of a- to b-objects of the same event by direction.

    Pairs with ``cos > min_cos`` of their unit vectors are candidates, nearest
    first (ties in pair order); in rounds, every free a asks its nearest free b and
    every b takes the nearest a asking, until no candidate pair is free. Returns
    ``(b_of_a, a_of_b)``: local indices of the partner in its event, -1 if none.
    """
    n_events = min(len(a_offsets), len(b_offsets)) - 1
    b_of_a = np.full(a_offsets[-1], -1, np.int64)
    a_of_b = np.full(b_offsets[-1], -1, np.int64)
    most = 0
    for ev in range(n_events):
        na = a_offsets[ev + 1] - a_offsets[ev]
        nb = b_offsets[ev + 1] - b_offsets[ev]
        most = max(most, na * nb)
    cos = np.empty(most, np.float64)
    pa = np.empty(most, np.int64)
    pb = np.empty(most, np.int64)
    asked = np.zeros(len(b_of_a), np.bool_)
    taken = np.zeros(len(a_of_b), np.bool_)
    for ev in range(n_events):
        a0, a1 = a_offsets[ev], a_offsets[ev + 1]
        b0, b1 = b_offsets[ev], b_offsets[ev + 1]
        m = 0
        for a in range(a0, a1):
            for b in range(b0, b1):
                c = (
                    a_unit[a, 0] * b_unit[b, 0]
                    + a_unit[a, 1] * b_unit[b, 1]
                    + a_unit[a, 2] * b_unit[b, 2]
                )
                if c > min_cos:  # insertion sort, nearest first, stable
                    q = m
                    while q > 0 and cos[q - 1] < c:
                        cos[q], pa[q], pb[q] = cos[q - 1], pa[q - 1], pb[q - 1]
                        q -= 1
                    cos[q], pa[q], pb[q] = c, a, b
                    m += 1
        while m:
            for q in range(m):  # one round
                a, b = pa[q], pb[q]
                if not asked[a]:
                    asked[a] = True
                    if not taken[b]:
                        taken[b] = True
                        b_of_a[a], a_of_b[b] = b - b0, a - a0
            left = 0
            for q in range(m):
                a, b = pa[q], pb[q]
                asked[a], taken[b] = False, False
                if b_of_a[a] < 0 and a_of_b[b] < 0:
                    cos[left], pa[left], pb[left] = cos[q], a, b
                    left += 1
            m = left
    return b_of_a, a_of_b
