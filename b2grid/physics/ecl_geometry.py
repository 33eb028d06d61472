"""Crystal geometry of the toy ECL: 8736 CsI(Tl) crystals on a theta-phi grid.

Directions to ``cellId`` (1..8736, 0 = none), crystal centres, regions and neighbour
tables (built once, on demand), and dense (event, crystal) tables to group digits.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from b2grid.errors import PhysicsError

__all__ = [
    "BLOCK_EVENTS",
    "N_CRYSTALS",
    "N_RINGS",
    "NEIGHBOURS9",
    "NEIGHBOURS21",
    "EclGeometry",
    "cell_id",
    "cell_phi",
    "cell_theta",
    "event_blocks",
    "geometry",
    "group_by_key",
    "locate",
    "region",
    "scratch_table",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

#: regions as (first theta [deg], last theta [deg], phi-count of every ring by rising
#: theta). The backward endcap counts are those of the spec read from the beam pipe
#: outwards (64 ... 144), so that, like basf2, rings next to the barrel hold 144
#: crystals and rings next to the beam pipe the fewest.
_REGIONS: tuple[tuple[float, float, tuple[int, ...]], ...] = (
    (12.4, 31.4, (48, 48, 64, 64, 64, 96, 96, 96, 96, 96, 96, 144, 144)),
    (32.2, 128.7, (144,) * 46),
    (130.7, 155.1, (144, 144, 96, 96, 96, 96, 96, 64, 64, 64)),
)
N_CRYSTALS = 8736
N_RINGS = 69
#: events per block of the dense (event, cellId) tables: keys are
#: ``(event - first event of the block) * (N_CRYSTALS + 1) + cellId``
BLOCK_EVENTS = 128

# Built on first access by the module ``__getattr__`` below (then cached):
#: centre theta, phi [rad] of each crystal, index = cellId (phi in [-pi, pi))
cell_theta: FloatArray
cell_phi: FloatArray
#: (N+1, 9): each crystal and its 3x3 neighbours; (N+1, 21): 5x5 minus corners
NEIGHBOURS9: IntArray
NEIGHBOURS21: IntArray

#: (ring offset, phi offset) of the columns of NEIGHBOURS21; the first 9 are the 3x3
#: block (column 0 the crystal itself), the last 12 the rest of the 5x5 minus corners
OFFSETS21: tuple[tuple[int, int], ...] = (
    (0, 0), (0, -1), (0, 1), (-1, -1), (-1, 0), (-1, 1), (1, -1), (1, 0), (1, 1),
    (0, -2), (0, 2), (-1, -2), (-1, 2), (1, -2), (1, 2),
    (-2, -1), (-2, 0), (-2, 1), (2, -1), (2, 0), (2, 1),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class EclGeometry:
    """Ring and crystal tables; arrays indexed by ``cellId`` have length N+1.

    Row 0 of every per-crystal array stands for "no crystal" (theta, phi 0,
    region 0, all neighbours 0). All arrays are read-only.
    """

    #: ring edges [rad], phi-count, cellId of phi index 0, and region, per ring
    ring_theta_lo: FloatArray
    ring_theta_hi: FloatArray
    ring_nphi: IntArray
    ring_first: IntArray
    ring_region: IntArray
    #: sorted theta edges [rad] and, per interval between them, its ring or -1 (gap)
    edges: FloatArray
    interval_ring: IntArray
    #: the same with every gap split at its middle and given to the nearer ring
    edges_snap: FloatArray
    interval_ring_snap: IntArray
    #: per crystal: ring, phi index, centre theta and phi [rad], region, ring width
    #: in theta and phi [rad]
    cell_ring: IntArray
    cell_iphi: IntArray
    cell_theta: FloatArray
    cell_phi: FloatArray
    cell_region: IntArray
    cell_dtheta: FloatArray
    cell_dphi: FloatArray
    #: (N+1, 9) and (N+1, 21) neighbour tables, columns ordered as OFFSETS21
    neighbours9: IntArray
    neighbours21: IntArray
    #: does the 5-ring window around the crystal leave its region or the ECL?
    cell_near_region_edge: npt.NDArray[np.bool_]
    #: (N+1, 25) 5x5 block by phi *column centres* (row-major, ring offset -2..2,
    #: phi offset -2..2): the crystal of each neighbouring ring under the centre of
    #: the column, which the shower simulation deposits into
    neighbours25: IntArray


def _readonly(*arrays: npt.NDArray[Any]) -> None:
    for a in arrays:
        a.flags.writeable = False


def _interval_rings(
    edges: FloatArray, ring_lo: FloatArray, ring_hi: FloatArray, *, snap: bool
) -> IntArray:
    """Ring of each interval between ``edges``; gaps -1, or the nearer ring."""
    mid = 0.5 * (edges[:-1] + edges[1:])
    ring = np.searchsorted(ring_lo, mid, side="right") - 1
    in_gap = mid >= ring_hi[ring]
    if not snap:
        return np.where(in_gap, -1, ring).astype(np.int64)
    nxt = np.minimum(ring + 1, len(ring_lo) - 1)
    nearer_next = mid - ring_hi[ring] > ring_lo[nxt] - mid
    return np.where(in_gap & nearer_next, nxt, ring).astype(np.int64)


@functools.cache
def geometry() -> EclGeometry:
    """Return the geometry tables, built on first use and cached."""
    lo: list[float] = []
    hi: list[float] = []
    nphi: list[int] = []
    reg: list[int] = []
    for k, (t0, t1, counts) in enumerate(_REGIONS):
        width = (t1 - t0) / len(counts)
        lo += [t0 + i * width for i in range(len(counts))]
        hi += [t0 + (i + 1) * width for i in range(len(counts))]
        nphi += list(counts)
        reg += [k + 1] * len(counts)
    ring_lo = np.radians(np.array(lo))
    ring_hi = np.radians(np.array(hi))
    ring_nphi = np.array(nphi, dtype=np.int64)
    ring_region = np.array(reg, dtype=np.int64)
    ring_first = 1 + np.concatenate([[0], np.cumsum(ring_nphi)[:-1]])
    assert int(ring_nphi.sum()) == N_CRYSTALS
    assert len(ring_nphi) == N_RINGS

    # theta intervals between consecutive ring edges, each a ring or a gap (-1);
    # hi of a ring and lo of the next are the same float inside a region
    edges = np.unique(np.concatenate([ring_lo, ring_hi]))
    interval_ring = _interval_rings(edges, ring_lo, ring_hi, snap=False)
    gaps = edges[:-1][interval_ring < 0] + 0.5 * np.diff(edges)[interval_ring < 0]
    edges_snap = np.unique(np.concatenate([edges, gaps]))
    interval_ring_snap = _interval_rings(edges_snap, ring_lo, ring_hi, snap=True)

    cell_ring = np.concatenate([[0], np.repeat(np.arange(N_RINGS), ring_nphi)])
    cell_iphi = np.concatenate(
        [[0], np.arange(N_CRYSTALS) - np.repeat(ring_first - 1, ring_nphi)]
    )
    n = ring_nphi[cell_ring]
    dphi = 2 * np.pi / n
    phi = np.remainder((cell_iphi + 0.5) * dphi + np.pi, 2 * np.pi) - np.pi
    theta = 0.5 * (ring_lo + ring_hi)[cell_ring]
    dtheta = (ring_hi - ring_lo)[cell_ring]
    region = ring_region[cell_ring]
    for a in (phi, theta, dphi, dtheta, region):
        a[0] = 0

    nb21 = np.zeros((N_CRYSTALS + 1, 21), dtype=np.int64)
    nb25 = np.zeros((N_CRYSTALS + 1, 25), dtype=np.int64)
    cells = np.arange(1, N_CRYSTALS + 1)
    ring = cell_ring[1:]
    centre = (cell_iphi[1:] + 0.5) / n[1:]  # centre phi in turns
    for dr in range(-2, 3):  # a fixed number of ring offsets
        other = ring + dr
        ok = (other >= 0) & (other < N_RINGS)
        other = np.clip(other, 0, N_RINGS - 1)
        n_other = ring_nphi[other]
        first = ring_first[other]
        home = np.floor(centre * n_other).astype(np.int64)
        for col, (r, c) in enumerate(OFFSETS21):
            if r == dr:
                nb21[cells, col] = np.where(ok, first + (home + c) % n_other, 0)
        for dc in range(-2, 3):
            under = np.floor((centre + dc / n[1:]) * n_other).astype(np.int64)
            nb25[cells, 5 * (dr + 2) + dc + 2] = np.where(
                ok, first + under % n_other, 0
            )
    nb9 = np.ascontiguousarray(nb21[:, :9])
    window = cell_ring[:, None] + np.arange(-2, 3)
    inside = (window >= 0) & (window < N_RINGS)
    other = ring_region[np.clip(window, 0, N_RINGS - 1)]
    near_edge = (~inside | (other != region[:, None])).any(axis=1)
    near_edge[0] = False
    geo = EclGeometry(
        ring_lo, ring_hi, ring_nphi, ring_first, ring_region,
        edges, interval_ring, edges_snap, interval_ring_snap,
        cell_ring, cell_iphi, theta, phi, region, dtheta, dphi,
        nb9, nb21, near_edge, nb25,
    )  # fmt: skip
    _readonly(*(getattr(geo, f) for f in EclGeometry.__slots__))
    return geo


def _ring_of(theta: FloatArray, *, snap: bool) -> IntArray:
    """Ring index of each theta [rad]; -1 outside (and, unless ``snap``, in gaps)."""
    geo = geometry()
    edges = geo.edges_snap if snap else geo.edges
    table = geo.interval_ring_snap if snap else geo.interval_ring
    k = np.searchsorted(edges, theta, side="right") - 1
    inside = (k >= 0) & (k < len(table))
    return np.where(inside, table[np.clip(k, 0, len(table) - 1)], -1)


def _cell_in_ring(ring: IntArray, phi: FloatArray) -> IntArray:
    """cellId at ``phi`` [rad, any range] in ``ring`` (which must be >= 0)."""
    geo = geometry()
    n = geo.ring_nphi[ring]
    turns = np.remainder(phi * (0.5 / math.pi), 1.0)
    j = np.minimum((turns * n).astype(np.int64), n - 1)
    return geo.ring_first[ring] + j


def cell_id(theta: npt.ArrayLike, phi: npt.ArrayLike) -> IntArray:
    """Return the cellId (1..8736) hit by each direction, 0 in gaps and outside.

    Parameters
    ----------
    theta, phi : array_like
        Polar angle in [0, pi] and azimuth (any range, taken modulo 2 pi), rad,
        broadcast together.

    Returns
    -------
    numpy.ndarray of int64
        The crystal whose theta-phi face contains the direction.

    Examples
    --------
    >>> import numpy as np
    >>> int(cell_id(np.radians(90.0), 0.01))
    5041
    >>> int(cell_id(np.radians(31.8), 0.0))  # the forward endcap-barrel gap
    0
    """
    t, p = np.broadcast_arrays(np.asarray(theta, float), np.asarray(phi, float))
    ring = _ring_of(t, snap=False)
    ok = ring >= 0
    return np.where(ok, _cell_in_ring(np.where(ok, ring, 0), p), 0)


def locate(
    theta: FloatArray, phi: FloatArray
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Crystal nearest to each direction and the offset from its centre.

    Directions in a gap between regions go to the crystal of the nearer ring.
    Returns cellId (0 outside 12.4-155.1 deg) and the theta and phi offsets from
    the crystal centre in units of its widths ([-0.5, 0.5) on its face).
    """
    geo = geometry()
    ring = _ring_of(theta, snap=True)
    cell = np.where(ring >= 0, _cell_in_ring(np.maximum(ring, 0), phi), 0)
    u = (theta - geo.cell_theta[cell]) / np.where(cell > 0, geo.cell_dtheta[cell], 1.0)
    dphi = np.remainder(phi - geo.cell_phi[cell] + math.pi, 2 * math.pi) - math.pi
    return cell, u, dphi / np.where(cell > 0, geo.cell_dphi[cell], 1.0)


def region(cell: npt.ArrayLike) -> IntArray:
    """Return the region of each cellId: 1 forward, 2 barrel, 3 backward, 0 none."""
    return geometry().cell_region[np.asarray(cell, dtype=np.int64)]


_local = threading.local()


def scratch_table(dtype: type[np.integer[Any]]) -> npt.NDArray[np.integer[Any]]:
    """This thread's dense table of BLOCK_EVENTS x (N+1) entries of ``dtype``,
    created zero; users restore whatever invariant they rely on after each use."""
    tables: dict[Any, npt.NDArray[np.integer[Any]]] = _local.__dict__
    key = np.dtype(dtype).name
    if key not in tables:
        tables[key] = np.zeros(BLOCK_EVENTS * (N_CRYSTALS + 1), dtype=dtype)
    return tables[key]


def event_blocks(event: IntArray, n_events: int) -> list[tuple[int, int, int]]:
    """(first event, first entry, end entry) of each block of BLOCK_EVENTS events
    over the event-sorted ``event`` (a loop over blocks, not events)."""
    starts = np.arange(0, max(n_events, 1), BLOCK_EVENTS)
    cut = np.searchsorted(event, np.append(starts, max(n_events, 1)))
    return [(int(s), int(cut[i]), int(cut[i + 1])) for i, s in enumerate(starts)]


Floats = npt.NDArray[np.floating[Any]]


def group_by_key(
    key: IntArray, value: Floats, scale: float
) -> tuple[IntArray, Floats, IntArray]:
    """Group the entries of one block by (event, cellId) ``key``.

    Returns per key: one representative entry (keys come out in the order of their
    representatives, so event-sorted entries stay event-sorted), the sum of
    ``value``, and the entry of largest ``value`` (compared as the integers
    ``value * scale``, below 2**39). About a scatter and a gather per entry, no sort:
    keys hit more than once are the rare, cheap case.
    """
    m = len(key)
    if m >= 1 << 24:
        raise PhysicsError(f"ECL: {m} entries in one block of events; at most 2**24")
    idx = np.arange(m, dtype=np.int32)
    table = scratch_table(np.int32)  # never cleared: each read follows a write
    table[key] = idx  # one of the entries of each key stays in the table
    rep = np.take(table, key)
    is_rep = rep == idx
    first = np.flatnonzero(is_rep)
    if len(first) == m:  # no crystal hit twice
        return first, value, first
    dup = np.flatnonzero(~is_rep)
    into = rep[dup].astype(np.int64)
    total = value.copy()
    np.add.at(total, into, value[dup])
    # the largest contribution of each key with duplicates: max of (value, entry)
    best = np.empty(m, dtype=np.int64)
    best[into] = ((value[into] * scale).astype(np.int64) << 24) | into
    np.maximum.at(best, into, ((value[dup] * scale).astype(np.int64) << 24) | dup)
    owner = np.arange(m)
    owner[into] = best[into] & 0xFFFFFF
    return first, total[first], owner[first]


def __getattr__(name: str) -> IntArray | FloatArray:
    """Lazy, cached module constants (PEP 562): the tables are built on first use.

    ``cell_theta``, ``cell_phi`` (rad, length N+1, index = cellId; phi in
    [-pi, pi)), ``NEIGHBOURS9`` ((N+1, 9): the crystal and its 3x3 neighbours) and
    ``NEIGHBOURS21`` ((N+1, 21): the 5x5 block minus corners), 0-padded where a
    neighbour does not exist (first and last ring). Neighbours cross the small
    gaps between the barrel and the endcaps, as basf2's do. In a neighbouring ring
    with another phi-count the crystal whose phi range holds the centre phi is the
    middle of the row; columns are ordered as :data:`OFFSETS21`.
    """
    tables = {
        "cell_theta": "cell_theta",
        "cell_phi": "cell_phi",
        "NEIGHBOURS9": "neighbours9",
        "NEIGHBOURS21": "neighbours21",
    }
    if name in tables:
        value: IntArray | FloatArray = getattr(geometry(), tables[name])
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
