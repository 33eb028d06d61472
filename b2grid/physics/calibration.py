"""Calibration algorithms: Bhabha E/p → ECL crystal constants, μμ → momentum scale.

Collectors (:func:`collect_bhabha`, :func:`collect_mumu`) reduce the cDST events of one
file to small, concatenable samples; algorithms (:func:`calibrate_ecl`,
:func:`calibrate_momentum`) turn merged samples into constants, or raise
:class:`~b2grid.errors.CalibrationFailed` and return nothing; :func:`validate` measures
the peaks a staging tag is gated on. Pure functions: no conditions DB, disk or Dask.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from b2grid.errors import CalibrationFailed, PhysicsError
from b2grid.physics import pdg
from b2grid.physics.ecl import ADC_PER_GEV
from b2grid.physics.ecl_geometry import N_CRYSTALS, geometry
from b2grid.physics.flat import counts_of, flatten, offsets_of, pairs

__all__ = [
    "ECL_ALGORITHM",
    "ELECTRON_LEAKAGE",
    "MOMENTUM_ALGORITHM",
    "MUMU_PEAK_RATIO",
    "PI0_PEAK",
    "BhabhaSample",
    "EclCalibration",
    "MomentumCalibration",
    "MumuSample",
    "Validation",
    "ValidationLimits",
    "calibrate_ecl",
    "calibrate_momentum",
    "collect_bhabha",
    "collect_mumu",
    "energy_scale",
    "peak",
    "validate",
]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
I16 = npt.NDArray[np.int16]

#: the names :class:`~b2grid.errors.CalibrationFailed` carries
ECL_ALGORITHM = "ecl_bhabha"
MOMENTUM_ALGORITHM = "momentum_mumu"

#: E_true over calibrated deposit, per theta ring of the crystal (index = ring, see
#: ``ecl_geometry``): each crystal's energy times its ring's value sums to the
#: Bhabha electron's energy, in the statistic :func:`calibrate_ecl` fits. Measured
#: once by :func:`calibrate_ecl` with ``leakage=1`` and one constant per ring on
#: 296,000 Bhabha electrons of ideal MC (exp 1003, ``mc_default``), statistical
#: error 0.05-0.15 %; rings with fewer than 100 hits (outside the tracking
#: acceptance) take 1.052. The barrel matches the photon leakage of the
#: reconstruction (``ecl_reco.LEAKAGE`` = 1.052); rings next to the barrel-endcap
#: gaps (12, 13, 58, 59) lose 5-7 % and rings where the phi-count changes gain or
#: lose 1 %, which a single constant would put into those crystals' constants.
ELECTRON_LEAKAGE: F64 = np.array([
    1.0520, 1.0520, 1.0520, 1.0434, 1.0657, 1.0506, 1.0515, 1.0527, 1.0529,
    1.0549, 1.0638, 1.0472, 1.1051, 1.1047, 1.0501, 1.0529, 1.0533, 1.0528,
    1.0526, 1.0531, 1.0533, 1.0518, 1.0528, 1.0520, 1.0526, 1.0529, 1.0517,
    1.0512, 1.0530, 1.0533, 1.0518, 1.0527, 1.0527, 1.0513, 1.0525, 1.0518,
    1.0512, 1.0515, 1.0515, 1.0531, 1.0507, 1.0514, 1.0515, 1.0518, 1.0517,
    1.0524, 1.0515, 1.0517, 1.0502, 1.0524, 1.0513, 1.0507, 1.0511, 1.0511,
    1.0519, 1.0510, 1.0504, 1.0482, 1.1198, 1.1115, 1.0484, 1.0605, 1.0530,
    1.0501, 1.0489, 1.0505, 1.0507, 0.9856, 1.0520,
])  # fmt: skip
ELECTRON_LEAKAGE.flags.writeable = False
#: peak of the μμ mass (muon hypothesis, :func:`peak`) over sqrt(s), ideal detector:
#: measured on 80,000 ``mumu`` events of ``chain.produce_mc`` (exp 1003,
#: ``mc_default``; 66,000 within 5 % of sqrt(s)): 0.99969 ± 0.00002, below 1 by the
#: soft-photon tail under the core (core sigma 42 MeV)
MUMU_PEAK_RATIO = 0.99969
#: peak (:func:`peak` after background subtraction) of the gamma-gamma mass of π0
#: in hadron events, ideal detector: 0.13577 and 0.13593 GeV on two samples of 10,000
#: ``uubar`` of ``chain.produce_mc`` (19,000 π0 each)
PI0_PEAK = 0.1359
#: digits outside this time window (ns) are not in clusters, see ``ecl_reco.cluster``
TIME_WINDOW = (-50.0, 50.0)
_MUON_MASS = pdg.mass(13)
_NC = N_CRYSTALS + 1


# ----------------------------------------------------------------- robust peaks
def _truncation_factor(k: float) -> float:
    """Standard deviation of a unit Gaussian truncated to ±k."""
    phi = math.exp(-0.5 * k * k) / math.sqrt(2 * math.pi)
    inside = math.erf(k / math.sqrt(2))
    return math.sqrt(1.0 - 2.0 * k * phi / inside)


def peak(
    x: npt.ArrayLike,
    *,
    k: float = 2.0,
    iterations: int = 20,
    weights: npt.ArrayLike | None = None,
) -> tuple[float, float]:
    """Peak position and width of the Gaussian core of a distribution with tails.

    Starting from the median and the 16-84 % half-width, the mean and standard
    deviation are taken over ``x`` within ±k sigma and iterated (sigma corrected
    for the truncation) until they settle.

    Parameters
    ----------
    x : array_like
        Values (at least 10).
    k : float
        Half-width of the window in sigmas.
    iterations : int
        Most iterations.
    weights : array_like, optional
        Per-value weights (for a background-subtracted histogram: its bin
        contents, which may be negative); ``x`` then holds the bin centres.

    Returns
    -------
    (float, float)
        Peak and Gaussian sigma.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> core = rng.normal(1.0, 0.02, 20000)
    >>> tail = rng.uniform(0.5, 1.0, 4000)  # a radiative tail moves the mean
    >>> mu, sigma = peak(np.concatenate([core, tail]))
    >>> round(mu, 2), round(sigma, 2)
    (1.0, 0.02)
    """
    v = np.asarray(x, dtype=np.float64)
    w = np.ones_like(v) if weights is None else np.asarray(weights, np.float64)
    if len(v) < 10:
        raise PhysicsError(f"peak: {len(v)} values; at least 10 are needed")
    if weights is None:
        mu = float(np.median(v))
        lo, hi = np.percentile(v, [16, 84])
        sigma = max(float(hi - lo) / 2, 1e-12)
    else:
        top = int(np.argmax(w))
        mu, sigma = float(v[top]), float(np.std(v)) / 4
    factor = _truncation_factor(k)
    for _ in range(iterations):
        inside = np.abs(v - mu) < k * sigma
        wi = w[inside]
        total = float(wi.sum())
        if total <= 0:
            break
        new_mu = float(np.dot(wi, v[inside])) / total
        var = float(np.dot(wi, (v[inside] - new_mu) ** 2)) / total
        new_sigma = max(math.sqrt(max(var, 0.0)) / factor, 1e-12)
        done = abs(new_mu - mu) < 1e-6 * sigma and abs(new_sigma / sigma - 1) < 1e-6
        mu, sigma = new_mu, new_sigma
        if done:
            break
    return mu, sigma


# ------------------------------------------------------------------ selections
@dataclass(frozen=True, slots=True)
class _Electrons:
    """Bhabha electron candidates of a batch, two per selected event, event-sorted."""

    event: I64  # index into the batch
    cluster: I64  # flat index into the batch's ECLClusters
    p: F64
    energy: F64
    theta: F64
    seed: I64


def _good_tracks(trk: Mapping[str, Any]) -> npt.NDArray[np.bool_]:
    """Tracks from the interaction point (the HLT's |d0| < 2 cm, |z0| < 4 cm)."""
    good: npt.NDArray[np.bool_] = (np.abs(trk["d0"]) < 2.0) & (np.abs(trk["z0"]) < 4.0)
    return good


def _momentum(trk: Mapping[str, Any]) -> tuple[F64, F64]:
    px, py, pz = (trk[c].astype(np.float64) for c in ("px", "py", "pz"))
    pt = np.hypot(px, py)
    return np.hypot(pt, pz), np.arctan2(pt, pz)


def _bhabha_electrons(
    events: ak.Array, ep_window: tuple[float, float], isolation: float
) -> _Electrons:
    """Two opposite-charge tracks per event, each matched to a cluster with E/p in
    ``ep_window``, no other cluster seed within ``isolation`` crystal widths."""
    n = len(events)
    t_event, trk = flatten(events.Track)
    c_event, cls = flatten(events.ECLCluster)
    t_off = offsets_of(counts_of(t_event, n))
    c_off = offsets_of(counts_of(c_event, n))
    cand = np.flatnonzero(cls["trackIndex"] >= 0)
    ev = c_event[cand]
    ti = t_off[ev] + cls["trackIndex"][cand].astype(np.int64)
    p, theta = _momentum({c: trk[c][ti] for c in ("px", "py", "pz")})
    energy = cls["E"][cand].astype(np.float64)
    ep = energy / np.maximum(p, 1e-9)
    ok = (
        (ep > ep_window[0])
        & (ep < ep_window[1])
        & _good_tracks({c: trk[c][ti] for c in ("d0", "z0")})
    )
    sel = np.flatnonzero(ok)
    sel = sel[(np.bincount(ev[sel], minlength=n) == 2)[ev[sel]]]
    charge = trk["charge"][ti[sel]].astype(np.int64).reshape(-1, 2)
    sel = sel[np.repeat(charge[:, 0] * charge[:, 1] < 0, 2)]
    cand, ev, p, theta, energy = (a[sel] for a in (cand, ev, p, theta, energy))
    seed = cls["seedCellId"][cand].astype(np.int64)

    # isolation: no other cluster's seed near the electron's (its 21 crystals
    # would hold that cluster's energy too)
    per_event = np.bincount(ev, minlength=n)
    ia, ib = pairs(per_event, np.diff(c_off))
    other = ib != cand[ia]
    ia, ib = ia[other], ib[other]
    geo = geometry()
    sa, sb = seed[ia], cls["seedCellId"][ib].astype(np.int64)
    d_ring = np.abs(geo.cell_ring[sa] - geo.cell_ring[sb])
    d_phi = np.abs(np.remainder(geo.cell_phi[sa] - geo.cell_phi[sb] + np.pi, 2 * np.pi))
    d_phi = np.abs(d_phi - np.pi) / geo.cell_dphi[sa]
    near = (d_ring <= isolation) & (d_phi <= isolation + 0.5)
    lonely = np.bincount(ia[near], minlength=len(ev)) == 0
    return _Electrons(
        ev[lonely], cand[lonely], p[lonely], energy[lonely], theta[lonely], seed[lonely]
    )


def _flag(events: ak.Array, line: str) -> ak.Array:
    if len(events) == 0:
        return events
    return events[ak.to_numpy(events.SoftwareTriggerResult[f"accept_{line}"])]


# -------------------------------------------------------------- Bhabha → ECL
@dataclass(frozen=True, slots=True)
class BhabhaSample:
    """Bhabha electrons with the crystals of their showers, flat.

    Per electron: ``experiment``, ``run``, ``p`` (track momentum, GeV, with the
    momentum scale the cDST was made with) and ``theta`` (rad, of the track);
    electron ``i`` owns the crystals ``cell[offsets[i]:offsets[i+1]]`` (cellId, the
    seed first) with raw ``adc`` counts: the in-time digits of the 21 crystals
    around its cluster's seed. Concatenate with :meth:`concat`; store with
    :meth:`arrays` / :meth:`from_arrays`.
    """

    experiment: I32
    run: I32
    p: F64
    theta: F64
    offsets: I64
    cell: I16
    adc: I32

    def __post_init__(self) -> None:
        for name, dtype in zip(self.__slots__, _BHABHA_DTYPES, strict=True):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype))
        n = len(self.p)
        if any(len(a) != n for a in (self.experiment, self.run, self.theta)):
            raise PhysicsError("BhabhaSample: per-electron arrays differ in length")
        if len(self.offsets) != n + 1 or self.offsets[0] != 0:
            raise PhysicsError("BhabhaSample: offsets must be 0, ..., one per electron")
        if self.offsets[-1] != len(self.cell) or len(self.cell) != len(self.adc):
            raise PhysicsError("BhabhaSample: offsets do not match the crystals")

    def __len__(self) -> int:
        return len(self.p)

    @classmethod
    def empty(cls) -> BhabhaSample:
        """No electrons."""
        i32, f64 = np.zeros(0, np.int32), np.zeros(0)
        one = np.zeros(1, np.int64)
        return cls(i32, i32, f64, f64, one, np.zeros(0, np.int16), i32)

    @classmethod
    def concat(cls, samples: Iterable[BhabhaSample]) -> BhabhaSample:
        """One sample of all electrons of ``samples``, in order.

        Examples
        --------
        >>> a = BhabhaSample([12], [5], [5.0], [1.0], [0, 2], [10, 11], [90000, 9000])
        >>> b = BhabhaSample.concat([a, BhabhaSample.empty(), a])
        >>> len(b), b.offsets.tolist()
        (2, [0, 2, 4])
        """
        parts = list(samples)
        if not parts:
            return cls.empty()
        shift = np.cumsum([0] + [len(s.cell) for s in parts[:-1]])
        offsets = np.concatenate(
            [[0]] + [s.offsets[1:] + d for s, d in zip(parts, shift, strict=True)]
        )
        return cls(
            experiment=np.concatenate([s.experiment for s in parts]),
            run=np.concatenate([s.run for s in parts]),
            p=np.concatenate([s.p for s in parts]),
            theta=np.concatenate([s.theta for s in parts]),
            offsets=offsets,
            cell=np.concatenate([s.cell for s in parts]),
            adc=np.concatenate([s.adc for s in parts]),
        )

    def runs(self) -> list[tuple[int, int]]:
        """The (experiment, run) pairs the electrons come from, sorted."""
        pair = np.unique(self.experiment.astype(np.int64) << 32 | self.run)
        return [(int(k >> 32), int(k & 0xFFFFFFFF)) for k in pair]

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The columns by name (e.g. for ``np.savez``)."""
        return {f: getattr(self, f) for f in self.__slots__}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.ArrayLike]) -> BhabhaSample:
        """Rebuild from :meth:`arrays`."""
        return cls(**{f: np.asarray(arrays[f]) for f in cls.__slots__})


_BHABHA_DTYPES = (
    np.int32,
    np.int32,
    np.float64,
    np.float64,
    np.int64,
    np.int16,
    np.int32,
)


def collect_bhabha(
    cdst: ak.Array,
    *,
    ep_window: tuple[float, float] = (0.7, 1.3),
    isolation: int = 4,
) -> BhabhaSample:
    """The Bhabha electrons of cDST events and the crystals of their showers.

    Parameters
    ----------
    cdst : awkward.Array
        cDST events (Track, ECLCluster, ECLDigit, EventMetaData,
        SoftwareTriggerResult), e.g. ``chain.process(raw, ..., cdst=True)``. Only
        events with ``accept_bhabha`` are looked at.
    ep_window : (float, float)
        E/p of a usable electron, with the constants the cDST was made with: wide
        enough for an uncalibrated detector (4 % crystal spread, ±1.5 % drift).
    isolation : int
        Electrons with another cluster's seed within this many crystals (rings
        and phi columns) are dropped: their 21 crystals would hold its energy.

    Returns
    -------
    BhabhaSample
        Two electrons per selected event: exactly two opposite-charge tracks from
        the interaction point each matched to a cluster with E/p in ``ep_window``.
        Crystals are the in-time (:data:`TIME_WINDOW`) digits among the 21 around
        the cluster's seed (the crystals the clustering sums), seed first.
    """
    events = _flag(cdst, "bhabha")
    n = len(events)
    if n == 0:
        return BhabhaSample.empty()
    el = _bhabha_electrons(events, ep_window, isolation)
    d_event, dig = flatten(events.ECLDigit)
    key = d_event * _NC + dig["cellId"].astype(np.int64)
    order = np.argsort(key, kind="stable")
    key = key[order]
    cells = geometry().neighbours21[el.seed]  # (electrons, 21), seed first
    want = el.event[:, None] * _NC + cells
    at = np.minimum(np.searchsorted(key, want), max(len(key) - 1, 0))
    found = order[at] if len(key) else np.zeros_like(want)
    time = dig["time"][found]
    hit = (
        (cells > 0)
        & (key[at] == want if len(key) else False)
        & (time >= TIME_WINDOW[0])
        & (time <= TIME_WINDOW[1])
    )
    meta = events.EventMetaData
    exp = ak.to_numpy(meta.experiment)[el.event]
    run = ak.to_numpy(meta.run)[el.event]
    return BhabhaSample(
        exp,
        run,
        el.p,
        el.theta,
        offsets_of(hit.sum(axis=1).astype(np.int64)),
        cells[hit].astype(np.int16),
        dig["adc"][found[hit]],
    )


@dataclass(frozen=True, slots=True)
class EclCalibration:
    """New ECL crystal constants and how they were obtained.

    ``calib`` (length N_CRYSTALS + 1, index = cellId) replaces the ``ecl_calib``
    payload. ``level`` says per crystal where its constant came from: 1 its own
    electrons, 2 the average of its theta ring, 3 the global average (0: cellId
    0). ``hits`` is the per-crystal sum over electrons of the squared energy
    fraction (1 for an electron fully inside the crystal): the statistical error
    of an individual constant is about 2 % / sqrt(hits).
    """

    calib: F64
    n_electrons: int
    n_individual: int
    iterations: int
    #: mean over crystals of new / current constant, minus 1
    scale_change: float
    converged: bool
    level: npt.NDArray[np.int8] = field(repr=False)
    hits: F64 = field(repr=False)


def _sum_by(index: npt.NDArray[Any], weights: npt.NDArray[Any], n: int) -> F64:
    """Sums of ``weights`` per ``index`` in [0, n)."""
    return np.asarray(np.bincount(index, weights=weights, minlength=n), np.float64)


def _fail(algorithm: str, what: str, have: int, need: int, knob: str) -> None:
    if have < need:
        raise CalibrationFailed(
            algorithm,
            f"{have} {what}, at least {need} needed; merge more runs or lower {knob}",
        )


def calibrate_ecl(
    sample: BhabhaSample,
    current_calib: npt.ArrayLike,
    *,
    leakage: float | npt.ArrayLike | None = None,
    momentum_correction: float = 1.0,
    min_electrons: int = 200,
    min_hits: float = 10.0,
    window: float = 0.15,
    max_iterations: int = 500,
    tolerance: float = 1e-6,
) -> EclCalibration:
    """Per-crystal ECL constants from Bhabha E/p.

    The energies of an electron's crystals, each times the ``leakage`` of its
    theta ring, should sum to ``p * momentum_correction``. The constants are
    corrections of ``current_calib`` that minimise the sum over electrons of
    (measured / expected deposit - 1)^2: a linear
    least-squares problem, solved by conjugate gradients on its normal equations
    (with the diagonal as preconditioner; vectorised with ``np.bincount``).
    Electrons whose expected / measured deposit is off by more than ``window``
    (leakage tails, wrong matches) are left out; the window is re-applied with
    the new constants until the electrons used no longer change.

    Parameters
    ----------
    sample : BhabhaSample
        Merged electrons, e.g. ``BhabhaSample.concat`` over the files of a bucket.
    current_calib : array_like
        The constants the statistics are corrected from (length N_CRYSTALS + 1);
        their crystal-to-crystal pattern is kept where the data cannot resolve it.
    leakage : float or array_like, optional
        E_true over calibrated deposit, one number or one per theta ring of the
        crystal (N_RINGS); default :data:`ELECTRON_LEAKAGE`, with which an ideal
        detector gets constants 1 / true gain.
    momentum_correction : float
        Calibrated over cDST momentum scale (e.g. ``MomentumCalibration.scale /
        old scale``): E/p needs the true p.
    min_electrons : int
        Fewer usable electrons raise :class:`~b2grid.errors.CalibrationFailed`.
    min_hits : float
        Least ``hits`` (see :class:`EclCalibration`) for a crystal of its own;
        others share one correction per theta ring (if the ring's rest has
        ``min_hits``), the rest one global correction.
    window, max_iterations, tolerance : float, int, float
        Outlier window; most conjugate-gradient iterations in all; relative
        residual of the normal equations at which they stop.

    Returns
    -------
    EclCalibration

    Raises
    ------
    CalibrationFailed
        Fewer than ``min_electrons`` electrons (before or after the window).
    """
    _fail(
        ECL_ALGORITHM, "Bhabha electrons", len(sample), min_electrons, "min_electrons"
    )
    current = np.asarray(current_calib, dtype=np.float64)
    if current.shape != (_NC,):
        raise PhysicsError(f"calibrate_ecl: current_calib needs shape ({_NC},)")
    n = len(sample)
    counts = np.diff(sample.offsets)
    owner = np.repeat(np.arange(n), counts)
    cell = sample.cell.astype(np.int64)
    # each crystal's energy, leakage-corrected, over the electron's: sums to 1
    leak = _leakage_of(cell, leakage)
    target = sample.p * momentum_correction
    raw = sample.adc * (current[cell] * leak / ADC_PER_GEV) / target[owner]

    def ratios(e: F64) -> tuple[F64, npt.NDArray[np.bool_]]:
        total = _sum_by(owner, e, n)
        return total, (total > 0) & (np.abs(total - 1) < window * total)

    # a global scale first, so that the window is centred; then the groups
    total, _ = ratios(raw)
    scale = 1.0 / float(np.median(total[total > 0])) if np.any(total > 0) else 1.0
    total, use = ratios(raw * scale)
    _fail(ECL_ALGORITHM, "electrons in the window", int(use.sum()), min_electrons,
          "min_electrons")  # fmt: skip
    frac = raw * scale / np.where(total > 0, total, 1.0)[owner]
    hits = _sum_by(cell, frac**2 * use[owner], _NC)
    group, level = _groups(hits, min_hits)
    n_groups = int(group.max()) + 1
    # the matrix: one entry per (electron, group), summed over the group's crystals
    pair_key, where = np.unique(owner * n_groups + group[cell], return_inverse=True)
    row, col = pair_key // n_groups, pair_key % n_groups
    val = _sum_by(where, raw, len(pair_key))
    r = np.full(n_groups, scale)
    iterations, converged = 0, False
    for _ in range(20):  # window passes; a few suffice
        weight = use[row].astype(np.float64)
        done, converged = _least_squares(
            row, col, val * weight, n, n_groups, r, max_iterations - iterations,
            tolerance,
        )  # fmt: skip
        iterations += done
        total, new_use = ratios(raw * r[group[cell]])
        if np.array_equal(new_use, use) or iterations >= max_iterations:
            use = new_use
            break
        use = new_use
    n_used = int(use.sum())
    _fail(ECL_ALGORITHM, "electrons in the window", n_used, min_electrons,
          "min_electrons")  # fmt: skip
    # the global group (crystals with little or no data, mostly outside the
    # tracking acceptance) takes the hits-weighted average of the other groups:
    # its own few hits are at the edges, where showers leak most
    group_hits = _sum_by(group, hits, n_groups)
    if n_groups > 1 and group_hits[:-1].sum() > 0:
        r[-1] = float(np.dot(group_hits[:-1], r[:-1]) / group_hits[:-1].sum())
    new = current * r[group]
    new[0] = current[0]
    return EclCalibration(
        calib=new,
        n_electrons=n_used,
        n_individual=int(np.sum(level == 1)),
        iterations=iterations,
        scale_change=float(np.mean(new[1:] / current[1:]) - 1.0),
        converged=converged,
        level=level,
        hits=hits,
    )


def _least_squares(
    row: I64, col: I64, val: F64, n_rows: int, n_cols: int, x: F64,
    max_iterations: int, tolerance: float,
) -> tuple[int, bool]:  # fmt: skip
    """Solve min |A x - 1|^2 for the sparse A (row, col, val) in place, by
    preconditioned conjugate gradients on A^T A x = A^T 1, from ``x``. Returns
    the iterations done and whether the relative residual reached ``tolerance``."""
    ones = (_sum_by(row, val, n_rows) > 0).astype(np.float64)

    def normal(v: F64) -> F64:
        av = _sum_by(row, val * v[col], n_rows)
        return _sum_by(col, val * av[row], n_cols)

    rhs = _sum_by(col, val * ones[row], n_cols)
    diag = _sum_by(col, val**2, n_cols)
    inv = np.where(diag > 0, 1.0 / np.where(diag > 0, diag, 1.0), 0.0)
    res = rhs - normal(x)
    z = inv * res
    d = z.copy()
    rz = float(res @ z)
    norm = max(float(np.sqrt(rhs @ rhs)), 1e-300)
    for i in range(max_iterations):
        if float(np.sqrt(res @ res)) <= tolerance * norm:
            return i, True
        ad = normal(d)
        alpha = rz / float(d @ ad)
        x += alpha * d
        res -= alpha * ad
        z = inv * res
        rz, rz_old = float(res @ z), rz
        d = z + (rz / rz_old) * d
    return max_iterations, float(np.sqrt(res @ res)) <= tolerance * norm


def _leakage_of(cell: I64, leakage: float | npt.ArrayLike | None) -> F64:
    """The leakage of each crystal from its theta ring."""
    table = np.asarray(ELECTRON_LEAKAGE if leakage is None else leakage, np.float64)
    if table.ndim == 0:
        return np.full(len(cell), float(table))
    geo = geometry()
    if table.shape != (len(geo.ring_nphi),):
        raise PhysicsError(
            "calibrate_ecl: leakage needs one value or one per theta ring "
            f"({len(geo.ring_nphi)})"
        )
    out: F64 = table[geo.cell_ring[cell]]
    return out


def _groups(hits: F64, min_hits: float) -> tuple[I64, npt.NDArray[np.int8]]:
    """Parameter index of each crystal (own, its ring's, or the last: global) and
    its level (1, 2, 3; 0 for cellId 0, which joins the global group)."""
    ring = geometry().cell_ring
    own = hits >= min_hits
    own[0] = False
    rest = ~own
    rest[0] = False
    ring_hits = _sum_by(ring[rest], hits[rest], int(ring.max()) + 1)
    ring_ok = ring_hits >= min_hits
    by_ring = rest & ring_ok[ring]
    group = np.empty(_NC, dtype=np.int64)
    n_own = int(own.sum())
    group[own] = np.arange(n_own)
    ring_ids = np.flatnonzero(ring_ok)
    ring_index = np.full(len(ring_ok), -1)
    ring_index[ring_ids] = n_own + np.arange(len(ring_ids))
    group[by_ring] = ring_index[ring[by_ring]]
    leftover = ~(own | by_ring)
    group[leftover] = n_own + len(ring_ids)
    level = np.where(own, 1, np.where(by_ring, 2, 3)).astype(np.int8)
    level[0] = 0
    return group, level


# -------------------------------------------------------- μμ → momentum scale
@dataclass(frozen=True, slots=True)
class MumuSample:
    """μμ pair masses (muon hypothesis, GeV) with the (experiment, run) of each."""

    experiment: I32
    run: I32
    mass: F64

    def __post_init__(self) -> None:
        for name, dtype in zip(
            self.__slots__, (np.int32, np.int32, np.float64), strict=True
        ):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype))
        if not len(self.experiment) == len(self.run) == len(self.mass):
            raise PhysicsError("MumuSample: arrays differ in length")

    def __len__(self) -> int:
        return len(self.mass)

    @classmethod
    def empty(cls) -> MumuSample:
        """No events."""
        i = np.zeros(0, dtype=np.int32)
        return cls(i, i, np.zeros(0))

    @classmethod
    def concat(cls, samples: Iterable[MumuSample]) -> MumuSample:
        """One sample of all events of ``samples``, in order."""
        parts = list(samples) or [cls.empty()]
        return cls(
            *(np.concatenate([getattr(s, f) for s in parts]) for f in cls.__slots__)
        )

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The columns by name."""
        return {f: getattr(self, f) for f in self.__slots__}

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.ArrayLike]) -> MumuSample:
        """Rebuild from :meth:`arrays`."""
        return cls(**{f: np.asarray(arrays[f]) for f in cls.__slots__})


def _pair_mass(events: ak.Array, mass: float) -> tuple[I64, F64]:
    """Events with exactly two opposite-charge tracks from the interaction point,
    and their invariant mass with ``mass`` for both tracks."""
    n = len(events)
    t_event, trk = flatten(events.Track)
    good = _good_tracks(trk)
    two = np.bincount(t_event[good], minlength=n) == 2
    sel = good & two[t_event]
    ev = t_event[sel]
    p3 = np.column_stack([trk[c][sel].astype(np.float64) for c in ("px", "py", "pz")])
    q = trk["charge"][sel].astype(np.int64).reshape(-1, 2)
    p3 = p3.reshape(-1, 2, 3)
    e = np.sqrt((p3**2).sum(axis=2) + mass**2).sum(axis=1)
    m2 = e**2 - (p3.sum(axis=1) ** 2).sum(axis=1)
    opposite = q[:, 0] * q[:, 1] < 0
    return ev[::2][opposite], np.sqrt(np.maximum(m2, 0.0))[opposite]


def collect_mumu(cdst: ak.Array) -> MumuSample:
    """The μμ masses of mDST or cDST events flagged ``accept_mumu_2trk``.

    Events need exactly two opposite-charge tracks from the interaction point
    (|d0| < 2 cm, |z0| < 4 cm); the mass takes the muon mass for both.
    """
    events = _flag(cdst, "mumu_2trk")
    if len(events) == 0:
        return MumuSample.empty()
    ev, mass = _pair_mass(events, _MUON_MASS)
    meta = events.EventMetaData
    return MumuSample(ak.to_numpy(meta.experiment)[ev], ak.to_numpy(meta.run)[ev], mass)


@dataclass(frozen=True, slots=True)
class MomentumCalibration:
    """A new momentum scale from the μμ mass peak.

    ``peak`` is the measured peak (GeV) with the scale the sample was made with,
    ``correction`` the factor it needs, ``error`` the statistical error of
    ``scale`` (relative) and ``sigma`` the core mass resolution (GeV).
    """

    scale: float
    n_events: int
    peak: float
    correction: float
    error: float
    sigma: float


def calibrate_momentum(
    sample: MumuSample,
    current_scale: float,
    sqrt_s: float,
    *,
    min_events: int = 200,
    peak_ratio: float = MUMU_PEAK_RATIO,
    window: float = 0.05,
) -> MomentumCalibration:
    """The momentum scale that puts the μμ mass peak where an ideal detector has it.

    Parameters
    ----------
    sample : MumuSample
        Merged μμ events of one beam energy.
    current_scale : float
        The ``momentum_scale`` payload the sample was reconstructed with.
    sqrt_s : float
        The CM energy the events were taken at (``Beam.sqrt_s``), GeV.
    min_events : int
        Fewer events within ``window`` of sqrt(s) raise CalibrationFailed.
    peak_ratio : float
        Peak over sqrt(s) for an ideal detector (:data:`MUMU_PEAK_RATIO`).
    window : float
        Masses further than this fraction from sqrt(s) are not used.

    Returns
    -------
    MomentumCalibration
        ``scale = current_scale * peak_ratio * sqrt_s / peak`` (momenta, and the
        mass of two fast muons, scale with the constant).

    Raises
    ------
    CalibrationFailed
        Too few events.
    """
    m = sample.mass[np.abs(sample.mass / sqrt_s - 1) < window]
    _fail(MOMENTUM_ALGORITHM, "mu-mu events", len(m), min_events, "min_events")
    mu, sigma = peak(m)
    core = int(np.sum(np.abs(m - mu) < 2 * sigma))
    correction = peak_ratio * sqrt_s / mu
    return MomentumCalibration(
        scale=current_scale * correction,
        n_events=len(m),
        peak=mu,
        correction=correction,
        error=sigma / mu / math.sqrt(max(core, 1)),
        sigma=sigma,
    )


# ----------------------------------------------------------------- validation
@dataclass(frozen=True, slots=True)
class ValidationLimits:
    """What :meth:`Validation.check` requires (defaults: a calibrated run)."""

    #: |E/p peak - 1| below this
    ep_peak: float = 0.01
    #: E/p core width (sigma) below this: an uncalibrated detector has ~4.5 %
    ep_width: float = 0.04
    #: |μμ peak / ideal peak - 1| below this
    mumu: float = 0.002
    #: |π0 peak / PI0_PEAK - 1| below this (only when there is a π0 peak)
    pi0: float = 0.02
    #: least Bhabha electrons and μμ events for the E/p and μμ checks to count
    min_electrons: int = 100
    min_mumu: int = 100


@dataclass(frozen=True, slots=True)
class Validation:
    """Peaks of processed data: Bhabha E/p, μμ mass, π0 → gamma-gamma mass.

    A peak is None when there was too little to measure it (fewer than 20
    electrons or μμ events; for the π0 a background-subtracted yield below
    ``min_pi0``).
    """

    n_electrons: int
    ep_peak: float | None
    ep_width: float | None
    n_mumu: int
    #: μμ peak over the ideal detector's (MUMU_PEAK_RATIO x sqrt(s))
    mumu_ratio: float | None
    n_pi0: float
    #: π0 peak, GeV (compare with PI0_PEAK)
    pi0_peak: float | None

    def check(self, limits: ValidationLimits | None = None) -> list[str]:
        """The failures against ``limits`` (default :class:`ValidationLimits`).

        An empty list means the data passes. Too few electrons or μμ events is a
        failure (nothing shows the calibration is right); no π0 peak is not.

        Examples
        --------
        >>> v = Validation(500, 1.003, 0.021, 300, 1.0004, 0.0, None)
        >>> v.check()
        []
        >>> Validation(500, 0.97, 0.021, 300, 1.0004, 0.0, None).check()
        ['Bhabha E/p peak 0.9700 is off 1 by more than 0.01']
        """
        lim = limits or ValidationLimits()
        out: list[str] = []
        if self.n_electrons < lim.min_electrons or self.ep_peak is None:
            out.append(
                f"{self.n_electrons} Bhabha electrons, at least "
                f"{lim.min_electrons} needed to validate the ECL calibration"
            )
        else:
            if abs(self.ep_peak - 1) >= lim.ep_peak:
                out.append(
                    f"Bhabha E/p peak {self.ep_peak:.4f} is off 1 by more than "
                    f"{lim.ep_peak}"
                )
            if self.ep_width is not None and self.ep_width >= lim.ep_width:
                out.append(
                    f"Bhabha E/p width {self.ep_width:.4f} is not below {lim.ep_width}"
                )
        if self.n_mumu < lim.min_mumu or self.mumu_ratio is None:
            out.append(
                f"{self.n_mumu} mu-mu events, at least {lim.min_mumu} needed to "
                "validate the momentum scale"
            )
        elif abs(self.mumu_ratio - 1) >= lim.mumu:
            out.append(
                f"mu-mu mass peak / ideal {self.mumu_ratio:.5f} is off 1 by more "
                f"than {lim.mumu}"
            )
        if self.pi0_peak is not None and abs(self.pi0_peak / PI0_PEAK - 1) >= lim.pi0:
            out.append(
                f"pi0 peak {self.pi0_peak:.4f} GeV is off {PI0_PEAK} by more than "
                f"{lim.pi0:.0%}"
            )
        return out


def validate(
    events: ak.Array,
    *,
    sqrt_s: float,
    min_pi0: float = 200.0,
    ep_window: tuple[float, float] = (0.7, 1.3),
) -> Validation:
    """Measure the calibration of processed data (mDST or cDST).

    Parameters
    ----------
    events : awkward.Array
        Processed events with SoftwareTriggerResult: the bhabha line gives E/p
        (cluster energy over track momentum of the electrons
        :func:`collect_bhabha` selects), the mumu_2trk line the μμ mass, the
        hadron line the gamma-gamma mass of neutral clusters.
    sqrt_s : float
        CM energy of the data, GeV.
    min_pi0 : float
        Least background-subtracted π0 yield for a π0 peak.
    ep_window : (float, float)
        E/p window of the electron selection.

    Returns
    -------
    Validation
        Peaks and widths by :func:`peak` (iterated 2-sigma Gaussian core).
    """
    ep_peak = ep_width = mumu_ratio = pi0_peak = None
    bhabha = _flag(events, "bhabha")
    n_el = 0
    if len(bhabha):
        el = _bhabha_electrons(bhabha, ep_window, isolation=4)
        n_el = len(el.p)
        if n_el >= 20:
            ep_peak, ep_width = peak(el.energy / el.p)
    mumu = collect_mumu(events)
    m = mumu.mass[np.abs(mumu.mass / sqrt_s - 1) < 0.05]
    if len(m) >= 20:
        mumu_ratio = peak(m)[0] / (MUMU_PEAK_RATIO * sqrt_s)
    n_pi0, pi0_peak = _pi0(_flag(events, "hadron"), min_pi0)
    return Validation(n_el, ep_peak, ep_width, len(m), mumu_ratio, n_pi0, pi0_peak)


#: gamma-gamma mass histogram of the π0 peak: range (GeV) and bins; sidebands are
#: the bins further than 3 sigma from the peak
_PI0_RANGE = (0.08, 0.19)
_PI0_BINS = 110


def _pi0(events: ak.Array, min_yield: float) -> tuple[float, float | None]:
    """Yield and peak of π0 → gamma-gamma among neutral clusters (E > 0.1 GeV, E9/E21 >
    0.8): a quadratic background fitted to the sidebands is subtracted."""
    if len(events) == 0:
        return 0.0, None
    cl = events.ECLCluster
    g = cl[(cl.trackIndex < 0) & (cl.E > 0.1) & (cl.E9oE21 > 0.8)]
    pair = ak.combinations(g[["E", "theta", "phi"]], 2, fields=["a", "b"])
    a, b = pair.a, pair.b
    cos = np.cos(a.theta) * np.cos(b.theta) + np.sin(a.theta) * np.sin(
        b.theta
    ) * np.cos(a.phi - b.phi)
    m = ak.to_numpy(ak.flatten(np.sqrt(np.maximum(2 * a.E * b.E * (1 - cos), 0))))
    h, edges = np.histogram(m, bins=_PI0_BINS, range=_PI0_RANGE)
    x = 0.5 * (edges[1:] + edges[:-1])
    mu, sigma = pdg.mass(111), 0.006
    signal = np.zeros_like(x)
    for _ in range(10):
        side = np.abs(x - mu) > 3 * sigma
        if side.sum() < 6:
            return 0.0, None
        coef = np.polyfit(x[side], h[side], 2)
        signal = np.where(~side, h - np.polyval(coef, x), 0.0)
        if signal.sum() <= 0:
            return 0.0, None
        new_mu, new_sigma = peak(x, weights=signal, iterations=1, k=2.5)
        if not _PI0_RANGE[0] < new_mu < _PI0_RANGE[1]:
            return 0.0, None
        mu, sigma = new_mu, min(max(new_sigma, 0.002), 0.015)
    n = float(signal[np.abs(x - mu) < 2.5 * sigma].sum())
    return (n, mu) if n >= min_yield else (n, None)


# ------------------------------------------------------------------ MC truth
def energy_scale(events: ak.Array, *, min_energy: float = 0.5) -> float:
    """Median reconstructed over true energy of photon and electron clusters (MC).

    Parameters
    ----------
    events : awkward.Array
        Reconstructed events with ``MCParticle`` (e.g. ``reconstruct`` of
        ``simulate_run`` output, any payloads).
    min_energy : float
        Least true energy (GeV) of the particle.

    Returns
    -------
    float
        median(E_cluster / E_true) over clusters whose seed came from a photon or
        an electron (by ``mcIndex``); about 1 for an ideal calibration.

    Raises
    ------
    PhysicsError
        No MC truth, or no such cluster.
    """
    if "MCParticle" not in events.fields:
        raise PhysicsError("energy_scale needs MC truth (MCParticle); data has none")
    cl, mc = events.ECLCluster, events.MCParticle
    idx = ak.where(cl.mcIndex >= 0, cl.mcIndex, 0)
    e_true = mc.E[idx]
    kind = abs(mc.pdg[idx])
    good = (cl.mcIndex >= 0) & ((kind == 11) | (kind == 22)) & (e_true > min_energy)
    r = ak.to_numpy(ak.flatten((cl.E / e_true)[good]))
    if len(r) == 0:
        raise PhysicsError(
            f"energy_scale: no photon or electron cluster above {min_energy} GeV"
        )
    return float(np.median(r))
