"""Toy Belle II particle identification: raw PID signals and their likelihoods.

``simulate_raw`` gives each track a CDC dE/dx and a TOP/ARICH Cherenkov angle;
``likelihoods`` turns those, E/p and KLM depth into log-likelihoods per detector and
hypothesis, which ``binary_id`` and ``global_id`` combine like basf2's ``kaonID`` & co.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from b2grid.errors import PhysicsError
from b2grid.physics import pdg as pdgdata

F64 = NDArray[np.float64]
F32 = NDArray[np.float32]

#: PID detectors, the second axis of :func:`likelihoods`
DETECTORS: tuple[str, ...] = ("CDC", "TOP", "ECL", "KLM")
#: mass hypotheses, the third axis of :func:`likelihoods`
HYPOTHESES: tuple[str, ...] = ("e", "mu", "pi", "K", "p", "d")
#: PDG code of each hypothesis (the particle, not the antiparticle)
HYPOTHESIS_PDG: tuple[int, ...] = (11, 13, 211, 321, 2212, 1000010020)
#: hypothesis masses in GeV, in :data:`HYPOTHESES` order
HYPOTHESIS_MASS: F64 = np.array([pdgdata.mass(c) for c in HYPOTHESIS_PDG])

#: CDC dE/dx resolution (relative)
DEDX_RESOLUTION = 0.07
#: refractive index of the TOP/ARICH radiators (quartz)
REFRACTIVE_INDEX = 1.44
#: per-track Cherenkov-angle resolution in rad
CHERENKOV_RESOLUTION = 0.004
#: mean number of detected photons of a beta = 1 track
PHOTONS_AT_SATURATION = 20.0
#: ECL energy of a minimum-ionising particle (GeV), the peak of the muon E/p template
ECL_MIP_ENERGY = 0.2
#: momentum (GeV) a muon needs to reach the first KLM layer, and per further layer
KLM_MUON_THRESHOLD = 0.6
KLM_GEV_PER_LAYER = 0.055
#: KLM layers in the barrel, forward and backward endcap
KLM_LAYERS_BARREL, KLM_LAYERS_FORWARD, KLM_LAYERS_BACKWARD = 15, 14, 12
#: probability that a charged hadron (electron) punches through to the KLM
HADRON_PUNCH_THROUGH, ELECTRON_PUNCH_THROUGH = 0.04, 0.005

# Bethe-Bloch-like shape with a density-effect plateau (Fermi plateau ≈ 1.5 x MIP)
_BB_CONST, _BB_PLATEAU = 10.0, 150.0
_SIN2_MAX = 1.0 - 1.0 / REFRACTIVE_INDEX**2
_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


def _dedx_shape(bg: NDArray[np.floating]) -> NDArray[np.floating]:
    bg2 = bg * bg
    b2 = bg2 / (1.0 + bg2)
    log_term = np.log(bg2 / (1.0 + bg2 * (1.0 / _BB_PLATEAU**2)))
    out: NDArray[np.floating] = (_BB_CONST + log_term - b2) / b2
    return out


_DEDX_MIP = float(_dedx_shape(np.logspace(0.0, 1.0, 2001)).min())


def dedx_expected(beta_gamma: ArrayLike) -> NDArray[np.floating]:
    """Mean CDC dE/dx for ``beta_gamma`` relative to a minimum-ionising particle.

    The minimum (1.0) is at βγ ≈ 3.4; the relativistic rise saturates at ≈ 1.5.
    Float32 in, float32 out; anything else gives float64.

    Examples
    --------
    >>> [round(float(x), 2) for x in dedx_expected([0.5, 3.4, 20.0, 1e4])]
    [3.36, 1.0, 1.2, 1.52]
    """
    bg = np.asarray(beta_gamma)
    if not np.issubdtype(bg.dtype, np.floating):
        bg = bg.astype(np.float64)
    return _dedx_shape(bg) * (1.0 / _DEDX_MIP)


def cherenkov_expected(beta: ArrayLike) -> F64:
    """Cherenkov angle cos θc = 1/(nβ) in quartz; NaN below threshold (β < 1/n).

    Examples
    --------
    >>> [round(float(x), 4) for x in cherenkov_expected([0.5, 1.0])]
    [nan, 0.8031]
    """
    cos = 1.0 / (REFRACTIVE_INDEX * np.asarray(beta, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        out: F64 = np.arccos(np.where(cos <= 1.0, cos, np.nan))
    return out


def muon_range_layers(p: ArrayLike, theta: ArrayLike | None = None) -> F64:
    """Number of KLM layers a muon of momentum ``p`` (GeV) is expected to cross.

    Range-out model: none below 0.6 GeV, one more layer per 55 MeV, capped at the
    layers of the KLM part at polar angle ``theta`` (15 barrel, 14 forward, 12
    backward; 15 when ``theta`` is None).

    Examples
    --------
    >>> muon_range_layers([0.5, 1.0, 3.0]).round(1).tolist()
    [0.0, 7.3, 15.0]
    """
    depth = (np.asarray(p, dtype=np.float64) - KLM_MUON_THRESHOLD) / KLM_GEV_PER_LAYER
    if theta is None:
        cap: F64 | float = float(KLM_LAYERS_BARREL)
    else:
        th = np.asarray(theta, dtype=np.float64)
        cap = np.where(
            th < np.radians(45.0),
            KLM_LAYERS_FORWARD,
            np.where(th > np.radians(125.0), KLM_LAYERS_BACKWARD, KLM_LAYERS_BARREL),
        ).astype(np.float64)
    out: F64 = np.clip(depth, 0.0, cap)
    return out


def _mass_table() -> F64:
    table = np.full(10_000, np.nan)
    for code in pdgdata.CODES:
        if 0 < code < table.size:
            table[code] = pdgdata.mass(code)
    return table


_MASS = _mass_table()


def masses_of(pdg: ArrayLike) -> F64:
    """PDG masses (GeV) of an array of codes, charge-conjugates included.

    Examples
    --------
    >>> masses_of([-211, 1000010020]).round(4).tolist()
    [0.1396, 1.8761]
    """
    code = np.abs(np.asarray(pdg, dtype=np.int64))
    out = _MASS[np.where(code < _MASS.size, code, 0)]
    other = np.isnan(out)
    if other.any():  # nuclei and other rare species: one look-up per distinct code
        uniq, inverse = np.unique(code[other], return_inverse=True)
        out[other] = np.array([pdgdata.mass(int(c)) for c in uniq])[inverse]
    return out


def simulate_raw(
    p: ArrayLike, pdg: ArrayLike, rng: np.random.Generator
) -> tuple[F32, F32]:
    """Raw PID signals ``(dedx, cherenkov_angle)`` of tracks of momentum ``p``.

    ``pdg`` gives the true species (hence mass). dE/dx is :func:`dedx_expected`
    smeared by 7 %; the Cherenkov angle is smeared by 4 mrad and is 0.0 when no
    photon was detected (always below threshold, rarely just above it: the photon
    yield grows as sin²θc). Both float32.

    Examples
    --------
    >>> dedx, angle = simulate_raw([1.0, 0.3], [211, 321], np.random.default_rng(1))
    >>> dedx.dtype.name, float(angle[1])
    ('float32', 0.0)
    """
    mom = np.asarray(p, dtype=np.float64)
    beta_gamma = mom / masses_of(pdg)
    g = rng.standard_normal((2, mom.size))
    dedx = dedx_expected(beta_gamma) * (1.0 + DEDX_RESOLUTION * g[0])
    cos, p_none = _cherenkov(beta_gamma)
    seen = rng.random(mom.size) > p_none
    angle = np.where(seen, np.arccos(cos) + CHERENKOV_RESOLUTION * g[1], 0.0)
    return dedx.astype(np.float32), angle.astype(np.float32)


def _cherenkov(beta_gamma: NDArray[Any]) -> tuple[NDArray[Any], NDArray[Any]]:
    """cos θc (1 below threshold) and the probability of seeing no photon."""
    cos = np.sqrt(1.0 + 1.0 / (beta_gamma * beta_gamma)) / REFRACTIVE_INDEX
    cos = np.minimum(cos, 1.0)
    p_none = np.exp((cos * cos - 1.0) * (PHOTONS_AT_SATURATION / _SIN2_MAX))
    return cos, p_none


_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def _gauss(
    x: NDArray[Any], mean: NDArray[Any] | float, sigma: NDArray[Any] | float
) -> NDArray[Any]:
    z = (x - mean) / sigma
    out: NDArray[Any] = np.exp(-0.5 * z * z) * (_INV_SQRT_2PI / sigma)
    return out


# The per-detector terms work on (hypothesis, track) arrays: numpy's inner loops
# then run over the tracks, not over the six hypotheses.


def _cdc(dedx: F32, beta_gamma: F32) -> F32:
    mean = dedx_expected(beta_gamma).astype(np.float32)
    sigma = DEDX_RESOLUTION * mean
    z = (dedx - mean) / sigma
    # floor: outliers at 1e-4 per unit of dE/dx
    out: F32 = np.maximum(-0.5 * z * z - np.log(sigma) - _LOG_SQRT_2PI, np.log(1e-4))
    return out


def _top(angle: F32, beta_gamma: F32) -> F32:
    cos, p_none = _cherenkov(beta_gamma)
    # below threshold cos = 1 and p_none = 1: the signal term vanishes by itself
    signal = (1.0 - p_none) * _gauss(angle, np.arccos(cos), CHERENKOV_RESOLUTION)
    # photons: signal plus background at 1e-3 per rad; none: below threshold, or a
    # track above it whose photons were all lost (1e-3)
    out: F32 = np.log(np.where(angle > 0, signal + 1e-3, p_none + 1e-3))
    return out


def _ecl(p: F64, eop: F64) -> F32:
    x = eop.astype(np.float32)
    mip = np.minimum(ECL_MIP_ENERGY / p, 1.5).astype(np.float32)
    at_mip = _gauss(x, mip, 0.25 * mip + 0.02)
    electron = 0.95 * _gauss(x, 1.0, 0.05) + 0.05 / 1.5  # tail: uniform in [0, 1.5]
    muon = 0.97 * at_mip + 0.03 / 1.5
    # hadrons: half minimum ionising, half a hadronic shower (exponential, mean 0.4)
    hadron = 0.5 * at_mip + 1.25 * np.exp(-np.maximum(x, 0.0) / 0.4)
    out: F32 = np.log(np.maximum(np.stack([electron, muon] + [hadron] * 4), 1e-6))
    return out


_NORM_STEP = 0.01


def _muon_norm_table() -> F32:
    """Normalisation of the muon's discrete Gaussian, by mean depth in 0.01 steps."""
    mean = np.arange(0.0, KLM_LAYERS_BARREL + 2 * _NORM_STEP, _NORM_STEP)
    k = np.arange(KLM_LAYERS_BARREL + 1)[:, None]
    norm: F32 = np.exp(-0.5 * ((k - mean) / (1.0 + 0.1 * mean)) ** 2).sum(axis=0)
    return norm.astype(np.float32)


_MUON_NORM = _muon_norm_table()


def _klm(layers: F32, expected: F64) -> F32:
    # muons: a discrete Gaussian around 95 % of the expected depth (normalised over
    # 0-15 layers), plus 2 % that look like hadrons (cracks, decays in flight)
    mean = (0.95 * np.clip(expected, 0.0, KLM_LAYERS_BARREL)).astype(np.float32)
    norm = _MUON_NORM[np.rint(mean * (1.0 / _NORM_STEP)).astype(np.intp)]
    z = (layers - mean) / (1.0 + 0.1 * mean)
    gauss = np.exp(-0.5 * z * z) / norm
    tail = 0.5**layers  # punch-through depth: geometric, mean 2 layers
    hadron = np.where(
        layers > 0, HADRON_PUNCH_THROUGH * tail, 1.0 - HADRON_PUNCH_THROUGH
    )
    electron = np.where(
        layers > 0, ELECTRON_PUNCH_THROUGH * tail, 1.0 - ELECTRON_PUNCH_THROUGH
    )
    muon = 0.98 * gauss + 0.02 * hadron
    out: F32 = np.log(np.maximum(np.stack([electron, muon] + [hadron] * 4), 1e-6))
    return out


def _rows(mask: NDArray[np.bool_]) -> NDArray[np.intp] | slice:
    return slice(None) if mask.all() else np.flatnonzero(mask)


def likelihoods(
    p: ArrayLike,
    dedx: ArrayLike,
    cherenkov_angle: ArrayLike,
    eop: ArrayLike,
    klm_layers: ArrayLike,
    expected_muon_layers: ArrayLike | None = None,
) -> F32:
    """PID log-likelihoods of tracks per detector and mass hypothesis.

    Parameters
    ----------
    p : array_like
        Track momenta (GeV), one per track.
    dedx, cherenkov_angle : array_like
        Raw signals as :func:`simulate_raw` gives them; NaN (or dE/dx ≤ 0) when
        missing. A Cherenkov angle of 0.0 means *no photons*, which is information.
    eop : array_like
        E/p of the matched ECL cluster, NaN without a cluster.
    klm_layers : array_like
        Layers of the matched KLM cluster: 0 when nothing was found, < 0 when the
        track has no KLM information.
    expected_muon_layers : array_like, optional
        Depth a muon would reach; default :func:`muon_range_layers` of ``p``.

    Returns
    -------
    ndarray of float32, shape (n, 4, 6)
        Axis 1 is :data:`DETECTORS`, axis 2 :data:`HYPOTHESES`. Each entry is the
        log of a normalised density (CDC, TOP, ECL) or probability (KLM) of the
        measurement under the hypothesis; a missing measurement gives 0 for every
        hypothesis of that detector.

    Examples
    --------
    >>> ll = likelihoods([1.0], [1.0], [0.80], [np.nan], [0])
    >>> ll.shape, float(ll[0, 2, 0])
    ((1, 4, 6), 0.0)
    """
    mom = np.asarray(p, dtype=np.float64)
    beta_gamma = (mom / HYPOTHESIS_MASS[:, None]).astype(np.float32)  # (6, n)
    signals = [
        np.asarray(a, dtype=np.float32) for a in (dedx, cherenkov_angle, klm_layers)
    ]
    dedx_, angle, layers = signals
    ratio = np.asarray(eop, dtype=np.float64)
    expected = (
        muon_range_layers(mom)
        if expected_muon_layers is None
        else np.asarray(expected_muon_layers, dtype=np.float64)
    )
    out = np.zeros((mom.size, len(DETECTORS), len(HYPOTHESES)), dtype=np.float32)
    rows = _rows(np.isfinite(dedx_) & (dedx_ > 0))
    out[rows, 0] = _cdc(dedx_[rows], beta_gamma[:, rows]).T
    rows = _rows(~np.isnan(angle))
    out[rows, 1] = _top(angle[rows], beta_gamma[:, rows]).T
    rows = _rows(np.isfinite(ratio))
    out[rows, 2] = _ecl(mom[rows], ratio[rows]).T
    rows = _rows(layers >= 0)
    out[rows, 3] = _klm(layers[rows], expected[rows]).T
    return out


def _hypothesis(hyp: str | int) -> int:
    if isinstance(hyp, str):
        if hyp not in HYPOTHESES:
            raise PhysicsError(f"unknown hypothesis {hyp!r}; use one of {HYPOTHESES}")
        return HYPOTHESES.index(hyp)
    if abs(hyp) not in HYPOTHESIS_PDG:
        raise PhysicsError(
            f"no hypothesis for PDG code {hyp}; use one of {HYPOTHESIS_PDG}"
        )
    return HYPOTHESIS_PDG.index(abs(hyp))


def _summed(loglik: ArrayLike, detectors: Sequence[str] | None) -> F64:
    ll = np.asarray(loglik, dtype=np.float64)
    if detectors is None:
        total: F64 = ll.sum(axis=1)
        return total
    unknown = set(detectors) - set(DETECTORS)
    if unknown:
        raise PhysicsError(f"unknown detector(s) {sorted(unknown)}; use {DETECTORS}")
    summed: F64 = ll[:, [DETECTORS.index(d) for d in detectors]].sum(axis=1)
    return summed


def binary_id(
    loglik: ArrayLike,
    hyp_a: str | int,
    hyp_b: str | int,
    detectors: Sequence[str] | None = None,
) -> F64:
    """Binary likelihood ratio L_a / (L_a + L_b), summed over ``detectors`` (all).

    Hypotheses are names (``"K"``) or PDG codes (``321``, sign ignored); this is
    basf2's ``binaryPID(321, 211)``. Computed from log-likelihood differences, so it
    never overflows.

    Examples
    --------
    >>> ll = np.zeros((1, 4, 6), dtype=np.float32); ll[0, 1, 3] = np.log(3.0)
    >>> binary_id(ll, "K", 211).round(3).tolist()
    [0.75]
    """
    ll = _summed(loglik, detectors)
    diff = ll[:, _hypothesis(hyp_a)] - ll[:, _hypothesis(hyp_b)]
    out: F64 = np.exp(-np.logaddexp(0.0, -diff))
    return out


def global_id(
    loglik: ArrayLike, hyp: str | int, detectors: Sequence[str] | None = None
) -> F64:
    """Global likelihood ratio L_h / Σ_all L, summed over ``detectors`` (all).

    basf2's ``electronID``, ``muonID``, ``pionID``, ``kaonID``, ``protonID``;
    a log-sum-exp keeps it finite for any log-likelihoods.

    Examples
    --------
    >>> global_id(np.zeros((2, 4, 6)), "e").round(4).tolist()
    [0.1667, 0.1667]
    """
    ll = _summed(loglik, detectors)
    top = ll.max(axis=1, keepdims=True)
    log_total = top[:, 0] + np.log(np.exp(ll - top).sum(axis=1))
    out: F64 = np.exp(ll[:, _hypothesis(hyp)] - log_total)
    return out


__all__ = [
    "DETECTORS",
    "HYPOTHESES",
    "HYPOTHESIS_PDG",
    "HYPOTHESIS_MASS",
    "dedx_expected",
    "cherenkov_expected",
    "muon_range_layers",
    "masses_of",
    "simulate_raw",
    "likelihoods",
    "binary_id",
    "global_id",
]
