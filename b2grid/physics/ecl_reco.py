"""ECL reconstruction: calibrated crystal energies and basf2-like clusters.

Clusters grow from in-time local maxima over their 21 crystals (shared crystals split),
with a log-weighted position, E9/E21 and the id of their connected region of digits.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt

from b2grid.errors import PhysicsError
from b2grid.physics.ecl import ADC_PER_GEV, EclDigits
from b2grid.physics.ecl_geometry import (
    N_CRYSTALS,
    OFFSETS21,
    event_blocks,
    geometry,
    scratch_table,
)

__all__ = [
    "CR_THRESHOLD",
    "LEAKAGE",
    "EclClusters",
    "calibrated_energy",
    "cluster",
    "default_leakage",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

#: mean E_true / E_reco of single photons with ``leakage=1`` (20,000 each at 0.1, 1
#: and 5 GeV in the barrel and both endcaps, BGx0, ideal calibration; from 1.045 at
#: 1 GeV to 1.055): the energy outside the 21 crystals or below threshold and the rear
#: leakage. ``tests/physics/test_ecl.py`` checks it.
LEAKAGE = 1.052
#: connected regions link in-time digits above this (GeV; basf2's "grow" cut)
CR_THRESHOLD = 1.5e-3
#: weight of a shared crystal for a seed: E_seed * exp(-ALPHA * d), d the distance in
#: crystal widths -- basf2's exp(-2.5 d / R_M) with ~5 cm crystals and R_M = 3.8 cm
_ALPHA = 2.5 * 5.0 / 3.8
_SPLIT = np.exp(-_ALPHA * np.hypot(*np.array(OFFSETS21, dtype=float).T))
#: log-weight offset of the position (basf2's w0)
_W0 = 4.0
_TWO_PI = 2.0 * math.pi
_NC = N_CRYSTALS + 1
#: forward half of the 3x3 (same ring +1 in phi, next ring) for connected regions
_FORWARD = [
    i for i, (r, c) in enumerate(OFFSETS21[:9]) if r == 1 or (r == 0 and c == 1)
]
_BACKWARD = [i for i, (r, _) in enumerate(OFFSETS21[:9]) if r == -1]


def default_leakage() -> float:
    """The leakage correction for photons: :data:`LEAKAGE` (E_true / E_reco)."""
    return LEAKAGE


@dataclass(frozen=True, slots=True)
class EclClusters:
    """Flat ECL clusters of many events, sorted by event.

    ``energy`` (GeV, leakage-corrected), ``theta``/``phi`` (rad, phi in [-pi, pi)),
    ``e9oe21``, ``time`` (ns, of the seed), ``n_hits`` (crystals of the 21 with
    energy), ``seed_cell``, ``connected_region`` (1-based per event, shared by the
    clusters of one region) and ``mc_index`` (of the seed digit, -1 background).
    """

    event: I64
    energy: npt.NDArray[np.float32]
    theta: npt.NDArray[np.float32]
    phi: npt.NDArray[np.float32]
    e9oe21: npt.NDArray[np.float32]
    time: npt.NDArray[np.float32]
    n_hits: npt.NDArray[np.int16]
    seed_cell: npt.NDArray[np.int16]
    connected_region: npt.NDArray[np.int16]
    mc_index: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return len(self.event)


_FIELDS = tuple(f.name for f in fields(EclClusters))


def calibrated_energy(digits: EclDigits, calib: npt.ArrayLike) -> F64:
    """Crystal energies (GeV): ``adc / ADC_PER_GEV * calib[cell]``.

    ``calib`` holds one constant per cellId (length N_CRYSTALS + 1); the ideal
    constant of a crystal is 1 / its true gain.

    Examples
    --------
    >>> d = EclDigits.from_arrays([0], [7], [20000], [0.0], [0])
    >>> calibrated_energy(d, np.full(8737, 0.5)).tolist()
    [0.5]
    """
    c = np.asarray(calib, dtype=np.float64)
    e: F64 = digits.adc * (c[digits.cell] / ADC_PER_GEV)
    return e


@functools.cache
def _tables() -> tuple[I64, I64, I64, I64, npt.NDArray[np.bool_]]:
    """Contiguous neighbour tables: 8 neighbours, the forward 4 and backward 3 of
    the graph of connected regions, the 21; and which crystals need the backward
    ones (their ring and the ring below differ in phi-count, so that the
    neighbour relation is not symmetric there)."""
    geo = geometry()
    nb8 = np.ascontiguousarray(geo.neighbours9[:, 1:])
    fwd = np.ascontiguousarray(geo.neighbours9[:, _FORWARD])
    back = np.ascontiguousarray(geo.neighbours9[:, _BACKWARD])
    ring = geo.cell_ring
    below = geo.ring_nphi[np.maximum(ring - 1, 0)]
    needs_back = (ring > 0) & (below != geo.ring_nphi[ring])
    needs_back[0] = False
    return nb8, fwd, back, geo.neighbours21, needs_back


def _roots(a: I64, b: I64, label: I64) -> I64:
    """Root of each node's connected component for the edges (a, b), starting from
    the forest of parent pointers ``label`` (changed in place or returned)."""
    up = np.empty_like(label)
    while True:
        while True:  # jump pointers until every node points at its root
            np.take(label, label, out=up)
            if np.array_equal(up, label):
                break
            label, up = up, label
        la, lb = np.take(label, a), np.take(label, b)
        apart = np.flatnonzero(la != lb)
        if not len(apart):
            return label
        # hook the larger root of each edge still apart onto the smaller one
        a, b, la, lb = a[apart], b[apart], la[apart], lb[apart]
        np.minimum.at(label, np.maximum(la, lb), np.minimum(la, lb))


def cluster(
    digits: EclDigits,
    energy: npt.ArrayLike,
    n_events: int,
    *,
    seed_threshold: float = 0.02,
    time_window: tuple[float, float] = (-50.0, 50.0),
    leakage: float = 1.0,
) -> EclClusters:
    """Find the ECL clusters of many events.

    Parameters
    ----------
    digits : EclDigits
        Event-sorted digits.
    energy : array_like
        Calibrated energy of each digit (GeV), see :func:`calibrated_energy`.
    n_events : int
        Number of events.
    seed_threshold : float
        Least seed energy (GeV).
    time_window : (float, float)
        Digits outside [lo, hi] ns are ignored altogether.
    leakage : float
        Multiplicative energy correction (conditions payload), e.g.
        :func:`default_leakage`.

    Returns
    -------
    EclClusters
        One cluster per seed, sorted by event.

    Notes
    -----
    A seed is an in-time digit above ``seed_threshold`` whose energy exceeds that
    of each in-time 3x3 neighbour (ties go to the lower cellId). A cluster sums the
    in-time digits of the 21 crystals (5x5 minus corners) around its seed; a crystal
    in the 21 of several seeds is shared with weights E_seed * exp(-3.3 d), d the
    distance to the seed in crystal widths -- one pass of basf2's iterative split,
    with seed instead of cluster energies. The position is the centroid of the
    3x3 with weights max(0, 4 + ln(E_i / E9)) (phi relative to the seed's).
    Connected regions are the components of the graph of in-time digits above
    :data:`CR_THRESHOLD` (basf2's "grow" cut) linked by 3x3 neighbourhood.
    """
    geo = geometry()
    nb8, fwd, back, nb21, needs_back = _tables()
    e_all = np.asarray(energy, dtype=np.float64)
    if len(e_all) != len(digits):
        raise PhysicsError("ECL cluster: one energy per digit is needed")
    if len(digits) and not 0 <= digits.event[0] <= digits.event[-1] < n_events:
        raise PhysicsError(f"ECL cluster: digits not sorted in events [0, {n_events})")
    lo, hi = time_window
    cr_cut = min(CR_THRESHOLD, seed_threshold)
    table = scratch_table(np.int64)  # all zero between blocks
    parts: list[tuple[npt.NDArray[np.generic], ...]] = []
    try:
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
            take = np.take  # gathers: np.take is several times faster on rows

            cand = np.flatnonzero(e >= seed_threshold)
            nb = take(
                table, take(base, cand)[:, None] + take(nb8, take(cells, cand), 0)
            )
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
            dphi -= _TWO_PI * np.rint(dphi / _TWO_PI)  # neighbours across phi = +-pi
            phi = phi0 + (lw * dphi).sum(axis=1) / sw
            phi -= _TWO_PI * np.floor((phi + math.pi) / _TWO_PI)

            # connected regions over the digits above the CR cut
            node = np.flatnonzero(e >= cr_cut)
            k = len(node)  # node k: "no node", a dummy that never gets an edge
            node_of = np.full(m + 1, k)
            node_of[node + 1] = np.arange(k)
            node_cell = take(cells, node)
            node_base = take(base, node)[:, None]
            link = take(
                node_of, take(table, node_base + take(fwd, node_cell, 0))
            ).ravel()
            edge = np.flatnonzero(link < k)
            a, b = edge // len(_FORWARD), take(link, edge)
            extra = np.flatnonzero(take(needs_back, node_cell))  # asymmetric rings
            if len(extra):
                keys = node_base[extra] + take(back, node_cell[extra], 0)
                link = take(node_of, take(table, keys)).ravel()
                edge = np.flatnonzero(link < k)
                a = np.concatenate([a, extra[edge // len(_BACKWARD)]])
                b = np.concatenate([b, take(link, edge)])
            # start from each seed's 3x3, adjacent to it, as one tree
            label = np.arange(k + 1)
            seed_node = take(node_of, seed + 1)
            label[take(node_of, member[:, :9])] = seed_node[:, None]
            seed_root = take(_roots(a, b, label), seed_node)
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
    except BaseException:
        table.fill(0)  # keep the table clean for the next call
        raise
    if not parts:
        z = np.zeros(0)
        parts = [(z.astype(np.int64), *(z.astype(np.float32),) * 5, *(z,) * 4)]
    cols = [np.concatenate([p[i] for p in parts]) for i in range(len(_FIELDS))]
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
