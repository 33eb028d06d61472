"""Toy Belle II tracking: charged particles → perigee helix fits → calibrated tracks.

``simulate`` smears true helices (CDC/SVD/PXD hit model, efficiency, beam-background
fakes) into :class:`RawTracks`; ``reconstruct`` applies the momentum-scale constant;
``propagate_to_ecl`` bends tracks in the 1.5 T field out to the ECL front face.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from b2grid.errors import PhysicsError
from b2grid.physics import pdg as pdgdata
from b2grid.physics import pid

F64 = NDArray[np.float64]
F32 = NDArray[np.float32]
I64 = NDArray[np.int64]
I32 = NDArray[np.int32]
I16 = NDArray[np.int16]
I8 = NDArray[np.int8]
Floats = NDArray[np.floating] | F64

#: solenoid field in T (along +z)
B_FIELD = 1.5
#: pt [GeV] = CURVATURE_CONSTANT · B [T] · R [cm]
CURVATURE_CONSTANT = 0.299792458e-2
_K = CURVATURE_CONSTANT * B_FIELD
#: |PDG| of the long-lived charged particles that make tracks
TRACKED_PDG: tuple[int, ...] = (11, 13, 211, 321, 2212)
#: CDC polar-angle acceptance (rad)
THETA_MIN, THETA_MAX = np.radians(17.0), np.radians(150.0)
_COS_FWD, _COS_BWD = np.cos(THETA_MIN), np.cos(THETA_MAX)
#: detector radii (cm): PXD layers, SVD layers, CDC inner/outer sense layer
PXD_RADII: tuple[float, ...] = (1.4, 2.2)
SVD_RADII: tuple[float, ...] = (3.9, 8.0, 10.4, 13.5)
CDC_R_IN, CDC_R_OUT, CDC_LAYERS = 16.8, 111.0, 56
#: CDC end plates (cm)
CDC_Z_FWD, CDC_Z_BWD = 160.0, -80.0
#: ECL front: barrel radius, forward and backward endcap planes (cm)
ECL_R, ECL_Z_FWD, ECL_Z_BWD = 125.0, 196.0, -102.0
#: endcap radial coverage (cm): forward 12.4°-32.5°, backward 129.2°-155.1°
ECL_FWD_R_MIN, ECL_BWD_R_MIN = 43.1, 47.3
#: fake tracks per event per unit of background ("BGx1" = 1)
FAKES_PER_BG_UNIT = 0.5

_LAYER_RADII = np.array((*PXD_RADII, *SVD_RADII, CDC_R_IN))


@dataclass(frozen=True, slots=True)
class Helix:
    """Perigee helix parameters at the point of closest approach to the z axis.

    ``d0`` (cm) is signed: the POCA is ``d0 · (sin phi0, -cos phi0)``; ``phi0``
    is the momentum direction at the POCA; ``omega`` = charge / R (1/cm);
    ``z0`` (cm) is z at the POCA; ``tan_lambda`` = pz / pt.
    """

    d0: Floats
    phi0: Floats
    omega: Floats
    z0: Floats
    tan_lambda: Floats


@dataclass(frozen=True, slots=True)
class RawTracks:
    """Track fits as the detector delivers them (nominal-field curvature unknown).

    One entry per track, flat, ``event`` sorted ascending. ``omega_raw`` is the
    curvature actually measured, in the *true* field; :func:`reconstruct` divides it
    by the momentum-scale constant.
    """

    event: I64
    d0: F32
    phi0: F32
    omega_raw: F32
    z0: F32
    tan_lambda: F32
    chi2: F32
    ndf: I16
    n_cdc: I16
    n_svd: I16
    n_pxd: I16
    #: CDC dE/dx relative to a MIP (see :func:`pid.simulate_raw`)
    dedx: F32
    #: TOP/ARICH Cherenkov angle (rad), 0.0 when no photons
    cherenkov_angle: F32
    #: index of the MC particle in its event, -1 for beam-background fakes
    mc_index: I32


@dataclass(frozen=True, slots=True)
class Tracks:
    """Reconstructed tracks: calibrated helix, momentum at the POCA, fit quality."""

    event: I64
    d0: F32
    phi0: F32
    omega: F32
    z0: F32
    tan_lambda: F32
    px: F32
    py: F32
    pz: F32
    charge: I8
    p_value: F32
    chi2: F32
    ndf: I16
    n_cdc: I16
    n_svd: I16
    n_pxd: I16
    dedx: F32
    cherenkov_angle: F32
    mc_index: I32


def _wrap(angle: F64) -> F64:
    """Angles folded into [-pi, pi]."""
    out: F64 = angle - 2.0 * np.pi * np.rint(angle / (2.0 * np.pi))
    return out


def _charge_table() -> I8:
    table = np.zeros(10_000, dtype=np.int8)
    for code in pdgdata.CODES:
        if 0 < code < table.size:
            table[code] = pdgdata.charge(code)
    return table


_CHARGE = _charge_table()


def charge_of(pdg: ArrayLike) -> I8:
    """Electric charge (units of e) of PDG codes; 0 for neutral and unknown codes.

    Examples
    --------
    >>> charge_of([11, -11, 211, -2212, 22, 130, 1000010020]).tolist()
    [-1, 1, 1, -1, 0, 0, 1]
    """
    code = np.asarray(pdg, dtype=np.int64)
    mag = np.abs(code)
    q = _CHARGE[np.where(mag < _CHARGE.size, mag, 0)]
    q = np.where(mag == 1000010020, 1, q)
    return np.where(code < 0, -q, q).astype(np.int8)


def _helix(
    px: F64, py: F64, pz: F64, q: F64, vx: F64, vy: F64, vz: F64, field_scale: float
) -> tuple[Helix, F64]:
    """Perigee helices and the largest radius each circle reaches (no trigonometry)."""
    pt = np.sqrt(px * px + py * py)
    ux, uy = px / pt, py / pt
    omega = np.sign(q) * (_K * field_scale) / pt
    inv = 1.0 / omega
    cx, cy = vx + inv * uy, vy - inv * ux
    dist = np.sqrt(cx * cx + cy * cy)
    sgn = np.sign(omega)
    # momentum direction at the POCA: (sin phi0, -cos phi0) = sgn * centre / dist
    sin0, cos0 = sgn * cx / dist, -sgn * cy / dist
    tan_lambda = pz / pt
    turn = np.arctan2(
        sin0 * ux - cos0 * uy, cos0 * ux + sin0 * uy
    )  # phi0 - phi(vertex)
    helix = Helix(
        d0=sgn * dist - inv,
        phi0=np.arctan2(sin0, cos0),
        omega=omega,
        z0=vz - tan_lambda * turn / omega,
        tan_lambda=tan_lambda,
    )
    return helix, dist + np.abs(inv)


def helix_from_truth(
    px: ArrayLike,
    py: ArrayLike,
    pz: ArrayLike,
    charge: ArrayLike,
    vx: ArrayLike,
    vy: ArrayLike,
    vz: ArrayLike,
    *,
    field_scale: float = 1.0,
) -> Helix:
    """The exact perigee helix of charged particles produced at (vx, vy, vz).

    The circle in xy goes through the vertex with the momentum's direction there;
    z0 is reached along the shorter arc. ``field_scale`` is the field in units of
    the nominal 1.5 T. ``charge`` and pt must be non-zero.

    Examples
    --------
    >>> h = helix_from_truth([1.0], [0.0], [0.5], [1], [0.0], [0.1], [0.0])
    >>> round(float(h.d0[0]), 4), round(float(h.phi0[0]), 4), float(h.tan_lambda[0])
    (-0.1, 0.0, 0.5)
    """
    a = [np.asarray(x, dtype=np.float64) for x in (px, py, pz, charge, vx, vy, vz)]
    return _helix(a[0], a[1], a[2], a[3], a[4], a[5], a[6], field_scale)[0]


def momentum_from_helix(helix: Helix, field_scale: float = 1.0) -> tuple[F64, F64, F64]:
    """Momentum (px, py, pz) at the POCA of helices curved in ``field_scale`` x 1.5 T.

    Examples
    --------
    >>> h = helix_from_truth([0.6], [0.8], [0.3], [-1], [0.0], [0.0], [1.0])
    >>> [round(float(x[0]), 6) for x in momentum_from_helix(h)]
    [0.6, 0.8, 0.3]
    """
    pt = _K * field_scale / np.abs(np.asarray(helix.omega, dtype=np.float64))
    phi0 = np.asarray(helix.phi0, dtype=np.float64)
    return pt * np.cos(phi0), pt * np.sin(phi0), pt * helix.tan_lambda


def helix_circle(helix: Helix) -> tuple[F64, F64, F64]:
    """Centre (cx, cy) and radius R (cm) of the helices' projection on xy."""
    inv = 1.0 / np.asarray(helix.omega, dtype=np.float64)
    phi0 = np.asarray(helix.phi0, dtype=np.float64)
    dist = helix.d0 + inv
    return dist * np.sin(phi0), -dist * np.cos(phi0), np.abs(inv)


def _background_units(background: str) -> float:
    match = re.fullmatch(r"BGx(\d+(?:\.\d+)?)", background)
    if match is None:
        raise PhysicsError(
            f"unknown beam-background level {background!r}; use 'BGx0' or 'BGx1'"
        )
    return float(match.group(1))


def _same_length(*arrays: ArrayLike) -> None:
    sizes = {np.size(a) for a in arrays}
    if len(sizes) > 1:
        raise PhysicsError(f"particle arrays differ in length: {sorted(sizes)}")


def simulate(
    event: ArrayLike,
    pdg: ArrayLike,
    px: ArrayLike,
    py: ArrayLike,
    pz: ArrayLike,
    vx: ArrayLike,
    vy: ArrayLike,
    vz: ArrayLike,
    mc_index: ArrayLike,
    rng: np.random.Generator,
    *,
    field_scale: float = 1.0,
    background: str = "BGx0",
    background_scale: float = 1.0,
    n_events: int,
) -> RawTracks:
    """Raw track fits of the MC particles that the tracking system finds.

    Parameters
    ----------
    event, pdg, px, py, pz, vx, vy, vz, mc_index : array_like
        One entry per MC particle: event number in [0, n_events), PDG code,
        momentum (GeV) and production vertex (cm), index within its event.
        Only e, mu, pi, K, p and antiparticles with 17° < theta < 150° and a finite
        vertex can make a track; anything else is ignored.
    rng : numpy.random.Generator
        The only source of randomness: equal seeds give equal tracks.
    field_scale : float
        True field over the nominal 1.5 T. ``omega_raw`` is the curvature in that
        field, so momenta computed with the nominal field are off by 1/field_scale.
    background : str
        ``"BGxN"``: Poisson(0.5 N) fake low-pt tracks per event with |d0| up to
        10 cm, |z0| up to 30 cm and ``mc_index`` -1 (see :func:`background`).
    background_scale : float
        The run's background over nominal: multiplies the mean number of fakes.
    n_events : int
        Number of events (for the beam-background fakes).

    Returns
    -------
    RawTracks
        One entry per found track, sorted by event (stable: real tracks in input
        order, then the event's fakes).

    Notes
    -----
    Finding efficiency ≈ 0.98 above pt 0.3 GeV, falling below ~0.1 GeV (0.5 at
    0.06 GeV) and with production radius (0.5 at 55 cm). Resolutions: sigma(pt)/pt
    = 0.1 %·pt ⊕ 0.3 %/beta; sigma(d0) = 10 µm ⊕ 20 µm/(p beta sin^1.5 theta),
    times (radius of the first layer outside the vertex / 1.4 cm); sigma(z0) = 1.5
    sigma(d0); sigma(phi0) = 1 mrad ⊕ 2 mrad/(p beta); sigma(tan_lambda) the same
    over cos²lambda. Hits follow the geometry: PXD 1.4 and 2.2 cm, SVD 3.9, 8.0,
    10.4, 13.5 cm (two strips each), 56 CDC layers from 16.8 cm until the circle
    turns back or leaves through an end plate. chi2 is drawn so that its p-value
    is uniform, with 3 % doubled like badly fitted tracks.

    Examples
    --------
    >>> rng = np.random.default_rng(7)
    >>> raw = simulate([0, 1], [211, 22], [1.0, 1.0], [0.0, 0.0], [0.2, 0.2],
    ...                [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [3, 0], rng, n_events=2)
    >>> raw.event.tolist(), raw.mc_index.tolist(), int(raw.n_pxd[0]) <= 2
    ([0], [3], True)
    """
    _same_length(event, pdg, px, py, pz, vx, vy, vz, mc_index)
    code = np.asarray(pdg, dtype=np.int64)
    mag = np.abs(code)
    tracked = np.zeros(mag.shape, dtype=bool)
    for species in TRACKED_PDG:
        tracked |= mag == species
    idx = np.flatnonzero(tracked)
    px_, py_, pz_ = (np.asarray(a, dtype=np.float64)[idx] for a in (px, py, pz))
    pt = np.sqrt(px_ * px_ + py_ * py_)
    with np.errstate(divide="ignore", invalid="ignore"):
        cos_t = pz_ / np.sqrt(pt * pt + pz_ * pz_)
    vx_, vy_, vz_ = (np.asarray(a, dtype=np.float64)[idx] for a in (vx, vy, vz))
    vertex_ok = np.isfinite(vx_) & np.isfinite(vy_) & np.isfinite(vz_)
    inside = np.flatnonzero(
        (cos_t < _COS_FWD) & (cos_t > _COS_BWD) & (pt > 0.0) & vertex_ok
    )
    px_, py_, pz_, pt = px_[inside], py_[inside], pz_[inside], pt[inside]
    vx_, vy_, vz_, idx = vx_[inside], vy_[inside], vz_[inside], idx[inside]
    code = code[idx]
    q = charge_of(code).astype(np.float64)
    truth, r_max = _helix(px_, py_, pz_, q, vx_, vy_, vz_, field_scale)

    # hits: the radii a track spans decide which layers it crosses
    r_prod = np.sqrt(vx_ * vx_ + vy_ * vy_)
    z_end = np.where(pz_ >= 0, CDC_Z_FWD, CDC_Z_BWD)
    path = np.abs((z_end - vz_) * pt) / np.maximum(np.abs(pz_), 1e-12)
    r_out = np.minimum(np.minimum(r_max, CDC_R_OUT), r_prod + path)
    frac = (r_out - np.maximum(r_prod, CDC_R_IN)) / (CDC_R_OUT - CDC_R_IN)
    layers = np.rint(CDC_LAYERS * np.clip(frac, 0.0, 1.0))
    u = rng.random((4, idx.size))
    n_cdc = np.clip(
        np.rint(0.9 * layers + 0.3 * np.sqrt(layers) * rng.standard_normal(idx.size)),
        0,
        layers,
    )
    n_svd = 2 * _crossed(SVD_RADII, r_prod, r_max)
    n_svd -= u[0] < 1.0 - 0.97**n_svd  # at most one lost strip hit
    n_pxd = _crossed(PXD_RADII, r_prod, r_max)
    n_pxd -= u[1] < 1.0 - 0.95**n_pxd
    eff = 0.98 / (
        (1.0 + np.exp((0.06 - pt) / 0.015)) * (1.0 + np.exp((r_prod - 55.0) / 6.0))
    )
    keep = np.flatnonzero((u[2] < eff) & ((n_cdc >= 6) | (n_svd >= 6)))
    n = keep.size

    # resolutions from the true kinematics
    pt, tl = pt[keep], truth.tan_lambda[keep]
    p = pt * np.sqrt(1.0 + tl * tl)
    mass = pid.masses_of(code[keep])
    p_beta = p * p / np.sqrt(p * p + mass * mass)
    # impact parameters extrapolate from the first layer outside the production point
    r0 = r_prod[keep]
    first = np.searchsorted(_LAYER_RADII, r0)
    r_first = np.where(first < 7, _LAYER_RADII[np.minimum(first, 6)], r0)
    sin_t = pt / p
    sig_d0 = (r_first / PXD_RADII[0]) * np.sqrt(
        1e-6 + 4e-6 / (p_beta * p_beta * sin_t**3)
    )
    sig_ang = np.sqrt(1e-6 + 4e-6 / (p_beta * p_beta))
    sig_pt = np.sqrt((1e-3 * pt) ** 2 + (3e-3 * p / p_beta) ** 2)
    g = rng.standard_normal((6, n))
    d0 = truth.d0[keep] + sig_d0 * g[0]
    z0 = truth.z0[keep] + 1.5 * sig_d0 * g[1]
    phi0 = _wrap(truth.phi0[keep] + sig_ang * g[2])
    tl = tl + sig_ang * (1.0 + tl * tl) * g[3]
    omega = truth.omega[keep] * (1.0 + sig_pt * g[4])

    hits = (n_cdc[keep], n_svd[keep], n_pxd[keep])
    ndf = np.maximum(hits[0] + hits[1] + 2 * hits[2] - 5, 1)
    chi2 = _chi2_quantile(g[5], ndf) * np.where(u[3, keep] < 0.03, 2.0, 1.0)
    dedx, angle = pid.simulate_raw(p, code[keep], rng)
    mc = np.asarray(mc_index, dtype=np.int32)[idx[keep]]
    ev = np.asarray(event, dtype=np.int64)[idx[keep]]
    columns = [ev, d0, phi0, omega, z0, tl, chi2, ndf, *hits, dedx, angle, mc]
    if np.any(ev[1:] < ev[:-1]):
        order = np.argsort(ev, kind="stable")
        columns = [a[order] for a in columns]
    n_fake_mean = _fake_mean(background, background_scale)
    fakes = _fakes(n_fake_mean, field_scale, rng, n_events) if n_fake_mean > 0 else None
    return RawTracks(*_merged(columns, fakes))


def _fake_mean(background: str, scale: float) -> float:
    if not scale >= 0.0:
        raise PhysicsError(f"beam-background scale {scale!r} must be >= 0")
    return FAKES_PER_BG_UNIT * _background_units(background) * scale


def background(
    n_events: int,
    rng: np.random.Generator,
    *,
    field_scale: float = 1.0,
    background: str = "BGx1",
    background_scale: float = 1.0,
) -> RawTracks:
    """The beam-background fake tracks alone, as :func:`simulate` adds them.

    Poisson(0.5 N x ``background_scale``) fakes per event for ``"BGxN"``, with
    ``mc_index`` -1 (what a random trigger records in the tracking system).

    Examples
    --------
    >>> fakes = background(4000, np.random.default_rng(2), background_scale=1.5)
    >>> round(len(fakes.event) / 4000, 1), set(fakes.mc_index.tolist())
    (0.8, {-1})
    """
    mean = _fake_mean(background, background_scale)
    fakes = _fakes(mean, field_scale, rng, n_events) if mean > 0 else None
    if fakes is None:
        return RawTracks(*_merged([np.zeros(0, t) for t in _RAW_DTYPES], None))
    return RawTracks(*_merged(fakes, None))


def merge(first: RawTracks, then: RawTracks) -> RawTracks:
    """The tracks of both sets, per event those of ``first`` before those of
    ``then`` (e.g. tracks of a collision, then overlaid background tracks).

    Examples
    --------
    >>> a = background(3, np.random.default_rng(0), background_scale=2.0)
    >>> b = background(3, np.random.default_rng(1), background_scale=2.0)
    >>> m = merge(a, b)
    >>> len(m.event) == len(a.event) + len(b.event), bool(np.all(np.diff(m.event) >= 0))
    (True, True)
    """
    names = [f.name for f in fields(RawTracks)]
    return RawTracks(
        *_merged([getattr(first, f) for f in names], [getattr(then, f) for f in names])
    )


#: dtypes of the :class:`RawTracks` columns, in field order
_RAW_DTYPES = [np.dtype(t) for t in ("i8", *["f4"] * 6, *["i2"] * 4, "f4", "f4", "i4")]


def _merged(
    real: list[NDArray[np.generic]], fake: list[NDArray[np.generic]] | None
) -> list[Any]:
    """Columns in :class:`RawTracks` order and dtypes, fakes after the real tracks
    of their event (both inputs sorted by event, the first column)."""
    if fake is None:
        return [a.astype(t) for a, t in zip(real, _RAW_DTYPES, strict=True)]
    at_real = np.arange(real[0].size) + np.searchsorted(fake[0], real[0], "left")
    at_fake = np.arange(fake[0].size) + np.searchsorted(real[0], fake[0], "right")
    out = []
    for a, b, dtype in zip(real, fake, _RAW_DTYPES, strict=True):
        merged = np.empty(a.size + b.size, dtype=dtype)
        merged[at_real], merged[at_fake] = a, b
        out.append(merged)
    return out


def _crossed(radii: tuple[float, ...], r_min: F64, r_max: F64) -> I64:
    """Number of the cylinders ``radii`` that circles spanning r_min..r_max cross."""
    out = np.zeros(r_min.shape, dtype=np.int64)
    for r in radii:
        out += (r_min < r) & (r_max > r)
    return out


def _fakes(
    mean: float, field_scale: float, rng: np.random.Generator, n_events: int
) -> list[NDArray[np.generic]]:
    """Beam-background fake tracks, in the column order of :func:`simulate`."""
    ev = np.repeat(np.arange(n_events, dtype=np.int64), rng.poisson(mean, n_events))
    n = ev.size
    pt = 0.05 + rng.exponential(0.1, n)
    tan_l = rng.uniform(1.0 / np.tan(THETA_MAX), 1.0 / np.tan(THETA_MIN), n)
    n_cdc = rng.integers(12, 40, n)
    n_svd = rng.binomial(8, 0.3, n)
    ndf = n_cdc + n_svd - 5
    dedx, angle = pid.simulate_raw(
        pt * np.sqrt(1.0 + tan_l**2), rng.choice(np.array([11, 211, 2212]), n), rng
    )
    return [
        ev,
        rng.uniform(-10.0, 10.0, n),
        rng.uniform(-np.pi, np.pi, n),
        rng.choice(np.array([-1.0, 1.0]), n) * _K * field_scale / pt,
        rng.uniform(-30.0, 30.0, n),
        tan_l,
        1.5 * _chi2_quantile(rng.standard_normal(n), ndf),
        ndf,
        n_cdc,
        n_svd,
        np.zeros(n, dtype=np.int64),
        dedx,
        angle,
        np.full(n, -1, dtype=np.int32),
    ]


def _chi2_quantile(z: F64, ndf: NDArray[np.integer] | F64) -> F64:
    """chi2 whose Wilson-Hilferty p-value is that of the standard normal ``z``."""
    var = 2.0 / (9.0 * ndf)
    out: F64 = ndf * np.maximum(1.0 - var + z * np.sqrt(var), 0.0) ** 3
    return out


def chi2_sf(chi2: ArrayLike, ndf: ArrayLike) -> F64:
    """P(χ² > chi2 | ndf) by the Wilson-Hilferty cube root.

    The absolute error is below 2e-3 for ndf ≥ 10 (track fits have ndf ≳ 30).

    Examples
    --------
    >>> chi2_sf([40.0, 10.0], [40, 40]).round(3).tolist()
    [0.47, 1.0]
    """
    k = np.maximum(np.asarray(ndf, dtype=np.float64), 1.0)
    x = np.maximum(np.asarray(chi2, dtype=np.float64), 0.0)
    var = 2.0 / (9.0 * k)
    z = (np.cbrt(x / k) - (1.0 - var)) / np.sqrt(var) / np.sqrt(2.0)
    # erfc, Numerical Recipes' Chebyshev fit (relative error < 1.2e-7)
    a = np.abs(z)
    t = 1.0 / (1.0 + 0.5 * a)
    coeffs = (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807,
              -0.18628806, 0.09678418, 0.37409196, 1.00002368, -1.26551223)  # fmt: skip
    poly = np.zeros_like(t)
    for c in coeffs:
        poly = poly * t + c
    erfc_a = t * np.exp(-a * a + poly)
    out: F64 = 0.5 * np.where(z >= 0, erfc_a, 2.0 - erfc_a)
    return out


def reconstruct(raw: RawTracks, momentum_scale: float) -> Tracks:
    """Calibrated tracks from raw track fits.

    Parameters
    ----------
    raw : RawTracks
        Output of :func:`simulate` (or read back from RAW data).
    momentum_scale : float
        The momentum-scale constant of the run from the conditions database;
        ideally the run's true ``field_scale``.

    Returns
    -------
    Tracks
        Same rows as ``raw``. ``omega = omega_raw / momentum_scale``; momenta at the
        POCA are computed from it with the nominal field, i.e. they are the raw
        momenta times ``momentum_scale``. ``charge`` is the sign of omega and
        ``p_value`` is P(χ² > chi2 | ndf).

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> raw = simulate([0], [13], [2.0], [0.0], [0.0], [0.0], [0.0], [0.0], [0],
    ...                rng, field_scale=1.01, n_events=1)
    >>> trk = reconstruct(raw, 1.01)
    >>> int(trk.charge[0]), abs(float(trk.px[0]) - 2.0) < 0.03
    (-1, True)
    """
    omega = (raw.omega_raw.astype(np.float64) / momentum_scale).astype(np.float32)
    helix = Helix(raw.d0, raw.phi0, omega, raw.z0, raw.tan_lambda)
    px, py, pz = (x.astype(np.float32) for x in momentum_from_helix(helix))
    same = {f: getattr(raw, f) for f in RawTracks.__slots__ if f != "omega_raw"}
    return Tracks(
        **same,
        omega=omega,
        px=px,
        py=py,
        pz=pz,
        charge=np.sign(omega).astype(np.int8),
        p_value=chi2_sf(raw.chi2, raw.ndf).astype(np.float32),
    )


def propagate_to_ecl(
    px: ArrayLike,
    py: ArrayLike,
    pz: ArrayLike,
    charge: ArrayLike,
    vx: ArrayLike,
    vy: ArrayLike,
    vz: ArrayLike,
    *,
    field_scale: float = 1.0,
) -> tuple[F64, F64, NDArray[np.bool_]]:
    """Where particles hit the ECL front face, seen from the origin.

    Parameters
    ----------
    px, py, pz, charge, vx, vy, vz : array_like
        Momentum (GeV), charge (any sign-carrying dtype; 0 = neutral) and start
        point (cm) of each particle.
    field_scale : float
        Field in units of the nominal 1.5 T.

    Returns
    -------
    theta, phi : ndarray of float64
        Polar and azimuthal angle of the impact point; the momentum direction
        where ``reaches`` is False.
    reaches : ndarray of bool
        False for curlers that never get out to the ECL (2R < 125 cm in the
        barrel, more than two turns before an endcap), for particles escaping
        along the beam pipe and for non-finite vertices.

    Notes
    -----
    Charged particles follow their helix, neutral ones a straight line, to the first
    of: the barrel cylinder r = 125 cm (-102 < z < 196 cm, i.e. 32.5°-129°), the
    forward endcap plane z = 196 cm (r > 43 cm), the backward one z = -102 cm
    (r > 47 cm). Energy loss and the gaps between barrel and endcaps are ignored.

    Examples
    --------
    >>> th, ph, ok = propagate_to_ecl([1.0, 1.0, 0.1], [0.0] * 3, [0.0] * 3,
    ...                               [1, -1, 1], [0.0] * 3, [0.0] * 3, [0.0] * 3)
    >>> ok.tolist(), bool(ph[0] < 0 < ph[1]), round(float(th[0]), 4)
    ([True, True, False], True, 1.5708)
    """
    px_, py_, pz_, vx_, vy_, vz_ = (
        np.asarray(a, dtype=np.float64) for a in (px, py, pz, vx, vy, vz)
    )
    q = np.asarray(charge)
    pt = np.sqrt(px_ * px_ + py_ * py_)
    theta, phi = np.arctan2(pt, pz_), np.arctan2(py_, px_)
    reaches = np.zeros(pt.shape, dtype=bool)
    finite = np.isfinite(vx_) & np.isfinite(vy_) & np.isfinite(vz_) & np.isfinite(pt)
    for charged in (False, True):
        sub = np.flatnonzero(((q != 0) == charged) & (pt > 0) & finite)
        x, y, z, ok = (_to_ecl_charged if charged else _to_ecl_straight)(
            px_[sub], py_[sub], pz_[sub], q[sub], vx_[sub], vy_[sub], vz_[sub],
            pt[sub], field_scale,
        )  # fmt: skip
        theta[sub] = np.where(ok, np.arctan2(np.sqrt(x * x + y * y), z), theta[sub])
        phi[sub] = np.where(ok, np.arctan2(y, x), phi[sub])
        reaches[sub] = ok
    return theta, phi, reaches


def _endcap_ok(x: F64, y: F64, pz: F64, path: F64) -> NDArray[np.bool_]:
    r2 = x * x + y * y
    r_min = np.where(pz >= 0, ECL_FWD_R_MIN, ECL_BWD_R_MIN)
    out: NDArray[np.bool_] = (path >= 0) & (r2 >= r_min * r_min) & (r2 <= ECL_R**2)
    return out


def _to_ecl_straight(
    px: F64, py: F64, pz: F64, q: NDArray[np.generic], vx: F64, vy: F64, vz: F64,
    pt: F64, field_scale: float,
) -> tuple[F64, F64, F64, NDArray[np.bool_]]:  # fmt: skip
    """Impact point (x, y, z, ok) of straight lines; see :func:`propagate_to_ecl`."""
    ux, uy, tan_l = px / pt, py / pt, pz / pt
    b = vx * ux + vy * uy
    with np.errstate(invalid="ignore"):  # NaN: a vertex outside the cylinder
        path = -b + np.sqrt(b * b - vx * vx - vy * vy + ECL_R**2)
    z = vz + path * tan_l
    ok = (z >= ECL_Z_BWD) & (z <= ECL_Z_FWD)
    e = np.flatnonzero(~ok & (pz != 0))  # towards an endcap
    z[e] = np.where(pz[e] > 0, ECL_Z_FWD, ECL_Z_BWD)
    path[e] = (z[e] - vz[e]) / tan_l[e]
    x, y = vx + path * ux, vy + path * uy
    ok[e] = _endcap_ok(x[e], y[e], pz[e], path[e])
    return x, y, z, ok


def _to_ecl_charged(
    px: F64, py: F64, pz: F64, q: NDArray[np.generic], vx: F64, vy: F64, vz: F64,
    pt: F64, field_scale: float,
) -> tuple[F64, F64, F64, NDArray[np.bool_]]:  # fmt: skip
    """Impact point (x, y, z, ok) of helices; see :func:`propagate_to_ecl`."""
    ux, uy, tan_l = px / pt, py / pt, pz / pt
    omega = np.sign(q) * (_K * field_scale) / pt
    inv = 1.0 / omega
    radius = np.abs(inv)
    rvx, rvy = -inv * uy, inv * ux  # vertex - centre
    cx, cy = vx - rvx, vy - rvy
    dist = np.sqrt(cx * cx + cy * cy)
    # the circle meets r = ECL_R at along * c_hat ± h * c_hat_perp
    along = (ECL_R**2 - radius * radius + dist * dist) / (2.0 * dist)
    h2 = ECL_R**2 - along * along
    h = np.sqrt(np.maximum(h2, 0.0))
    ex, ey = cx / dist, cy / dist
    # from a vertex inside the cylinder the first crossing is on the side of the
    # rotation: along * e + sgn * h * perp(e)
    sgn = np.sign(omega)
    xb, yb = along * ex - sgn * h * ey, along * ey + sgn * h * ex
    rx, ry = xb - cx, yb - cy
    # turning angle from the vertex, positive along the motion (clockwise if q > 0)
    turn = -sgn * np.arctan2(
        (rvx * ry - rvy * rx).astype(np.float32),
        (rvx * rx + rvy * ry).astype(np.float32),
    )
    turn = turn + (turn < 0) * (2.0 * np.pi)
    z = vz + turn * radius * tan_l
    barrel = (h2 >= 0) & (z >= ECL_Z_BWD) & (z <= ECL_Z_FWD)
    x, y, ok = xb, yb, barrel
    e = np.flatnonzero(~barrel & (pz != 0))  # towards an endcap: rotate to its plane
    z_e = np.where(pz[e] > 0, ECL_Z_FWD, ECL_Z_BWD)
    path = (z_e - vz[e]) / tan_l[e]
    rot = (-omega[e] * path).astype(np.float32)
    cos, sin = np.cos(rot), np.sin(rot)
    x[e] = cx[e] + rvx[e] * cos - rvy[e] * sin
    y[e] = cy[e] + rvx[e] * sin + rvy[e] * cos
    z[e] = z_e
    ok[e] = _endcap_ok(x[e], y[e], pz[e], path) & (np.abs(rot) <= 4.0 * np.pi)
    return x, y, z, ok
