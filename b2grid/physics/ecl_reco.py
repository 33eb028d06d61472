"""ECL reconstruction: calibrated crystal energies and basf2-like clusters.

Clusters grow from in-time local maxima over their 21 crystals (shared crystals split),
with a log-weighted position, E9/E21 and the id of their connected region of digits.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from b2grid.errors import PhysicsError
from b2grid.physics import ecl_kernels
from b2grid.physics.ecl import ADC_PER_GEV, EclDigits
from b2grid.physics.ecl_geometry import N_CRYSTALS, OFFSETS21, geometry

__all__ = [
    "CR_THRESHOLD",
    "LEAKAGE",
    "EclClusters",
    "calibrated_energy",
    "cluster",
    "default_leakage",
]

F64 = npt.NDArray[np.float64]
I16 = npt.NDArray[np.int16]
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
    clusters of one region, numbered in the order of their first cluster) and
    ``mc_index`` (of the seed digit, -1 background).
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
def _tables() -> tuple[I16, I16, I16]:
    """Compact neighbour tables of the clustering: the 8 neighbours; the links of
    the graph of connected regions, the forward 4 and, where the ring below has
    another phi-count (so that the neighbour relation is not symmetric), the
    backward 3 (0 elsewhere); the 21."""
    geo = geometry()
    ring = geo.cell_ring
    below = geo.ring_nphi[np.maximum(ring - 1, 0)]
    needs_back = (ring > 0) & (below != geo.ring_nphi[ring])
    back = np.where(needs_back[:, None], geo.neighbours9[:, _BACKWARD], 0)
    links = np.concatenate([geo.neighbours9[:, _FORWARD], back], axis=1)
    tables = (geo.neighbours9[:, 1:], links, geo.neighbours21)
    nb8, links, nb21 = (np.ascontiguousarray(t, dtype=np.int16) for t in tables)
    return nb8, links, nb21


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
    e_all = np.require(energy, np.float64, ["C", "W"])
    if len(e_all) != len(digits):
        raise PhysicsError("ECL cluster: one energy per digit is needed")
    if len(digits) and not 0 <= digits.event[0] <= digits.event[-1] < n_events:
        raise PhysicsError(f"ECL cluster: digits not sorted in events [0, {n_events})")
    if len(digits) and not 0 <= digits.cell.min() <= digits.cell.max() <= N_CRYSTALS:
        raise PhysicsError(f"ECL cluster: cellIds outside 1..{N_CRYSTALS}")
    geo = geometry()
    nb8, links, nb21 = _tables()
    lo, hi = time_window
    offsets = np.searchsorted(digits.event, np.arange(n_events + 1))
    cell = np.require(digits.cell, requirements=["C", "W"])
    time = np.require(digits.time, requirements=["C", "W"])
    seed, energy21, theta, phi, e9oe21, n_hits, region = ecl_kernels.cluster_digits(
        offsets, cell, time, e_all, float(lo), float(hi), float(seed_threshold),
        float(min(CR_THRESHOLD, seed_threshold)), float(leakage), _W0,
        nb8, links, nb21, _SPLIT, geo.cell_theta, geo.cell_phi,
    )  # fmt: skip
    return EclClusters(
        digits.event[seed],
        energy21,
        theta,
        phi,
        e9oe21,
        digits.time[seed],
        n_hits,
        digits.cell[seed],
        region,
        digits.mc_index[seed],
    )
