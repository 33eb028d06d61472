"""SuperKEKB beams and Lorentz kinematics: boosts between lab and CM, collisions.

Four-vectors are ``(..., 4)`` float arrays ``[px, py, pz, E]`` in GeV; boost vectors
are ``(..., 3)`` velocities β. The lab z axis is the solenoid axis.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: electron mass in GeV
ELECTRON_MASS = 0.00051099895

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Beam:
    """The SuperKEKB beams: HER e- and LER e+ energies, crossing angle and spreads.

    Each beam makes ``half_crossing_angle`` with the z axis and both momenta have a
    positive x component, so the CM system moves ~151 mrad off z. Energies and
    spreads are GeV; the beam spot sigmas are cm.

    Examples
    --------
    >>> beam = Beam.y4s()
    >>> round(beam.sqrt_s, 4), round(beam.beta_gamma, 3)
    (10.5796, 0.287)
    """

    #: HER (e-) energy
    her: float = 7.004
    #: LER (e+) energy
    ler: float = 4.002
    #: angle of each beam to the z axis, rad
    half_crossing_angle: float = 0.0415
    #: Gaussian energy spread of the HER
    her_spread: float = 5.13e-3
    #: Gaussian energy spread of the LER
    ler_spread: float = 2.375e-3
    #: Gaussian sigmas of the luminous region in x, y, z (cm)
    spot_sigma: tuple[float, float, float] = (10e-4, 0.2e-4, 0.035)

    @classmethod
    def y4s(cls) -> Beam:
        """The nominal Y(4S) running: 7.004 GeV on 4.002 GeV."""
        return cls()

    @classmethod
    def off_resonance(cls) -> Beam:
        """Off-resonance running, 60 MeV below the Y(4S): 6.964 GeV on 3.979 GeV."""
        return cls(her=6.964, ler=3.979)

    @property
    def p4_her(self) -> FloatArray:
        """Four-momentum of the HER electron."""
        return _beam_p4(self.her, self.half_crossing_angle, +1.0)

    @property
    def p4_ler(self) -> FloatArray:
        """Four-momentum of the LER positron."""
        return _beam_p4(self.ler, self.half_crossing_angle, -1.0)

    @property
    def p4(self) -> FloatArray:
        """Total four-momentum of the colliding pair in the lab."""
        return self.p4_her + self.p4_ler

    @property
    def sqrt_s(self) -> float:
        """Centre-of-mass energy (GeV)."""
        return float(invariant_mass(self.p4))

    @property
    def boost_vector(self) -> FloatArray:
        """Velocity β of the CM system in the lab (3-vector)."""
        p4 = self.p4
        beta: FloatArray = p4[:3] / p4[3]
        return beta

    @property
    def beta_gamma(self) -> float:
        """βγ of the CM system (0.287 at the Y(4S))."""
        p4 = self.p4
        return float(np.linalg.norm(p4[:3]) / self.sqrt_s)

    @property
    def tilt(self) -> float:
        """Angle (rad) between the boost and the z axis (~151 mrad)."""
        b = self.boost_vector
        return math.atan2(math.hypot(b[0], b[1]), b[2])

    @property
    def e_beam_cms(self) -> float:
        """Beam energy in the CM frame, sqrt(s)/2 (GeV)."""
        return self.sqrt_s / 2.0

    @property
    def sqrt_s_spread(self) -> float:
        """Gaussian spread of sqrt(s) from the beam-energy spreads (~5 MeV)."""
        return math.hypot(
            self.her_spread * math.sqrt(self.ler / self.her),
            self.ler_spread * math.sqrt(self.her / self.ler),
        )

    @property
    def axis_cms(self) -> FloatArray:
        """Unit vector of the HER electron's direction in the CM frame."""
        p = to_cms(self.p4_her, self)[:3]
        return p / np.linalg.norm(p)


def _beam_p4(energy: float, angle: float, sign: float) -> FloatArray:
    p = math.sqrt(energy**2 - ELECTRON_MASS**2)
    return np.array([p * math.sin(angle), 0.0, sign * p * math.cos(angle), energy])


def boost(p4: ArrayLike, beta: ArrayLike) -> FloatArray:
    """Lorentz-boost four-vectors by velocity ``beta`` (broadcasting, pure boost).

    A particle at rest ends up moving with velocity ``beta``; ``boost(boost(p, b),
    -b)`` is ``p``. ``p4`` is ``(..., 4)``, ``beta`` ``(..., 3)`` with ``|beta| < 1``;
    the result has the broadcast shape of both.

    Examples
    --------
    >>> boost([0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.6]).round(6).tolist()
    [0.0, 0.0, 0.75, 1.25]
    """
    p = np.asarray(p4, dtype=np.float64)
    b = np.asarray(beta, dtype=np.float64)
    # the work is done component-first: contiguous components are much faster
    out = boost_t(np.moveaxis(p, -1, 0), np.moveaxis(b, -1, 0))
    return np.moveaxis(out, 0, -1)


def boost_t(p4: FloatArray, beta: FloatArray) -> FloatArray:
    """:func:`boost` for component-first arrays: p4 ``(4, ...)``, beta ``(3, ...)``.

    Broadcasts like :func:`boost` over the trailing axes and returns ``(4, ...)``.
    Fastest when the components are contiguous and the last axis is long.
    """
    bx, by, bz = beta[0], beta[1], beta[2]
    b2 = bx * bx + by * by + bz * bz
    gamma = 1.0 / np.sqrt(1.0 - b2)
    # (gamma - 1) / b2 written so that it stays finite at beta = 0
    g2 = gamma * gamma / (gamma + 1.0)
    px, py, pz, e = p4[0], p4[1], p4[2], p4[3]
    bp = bx * px + by * py + bz * pz
    along = g2 * bp + gamma * e
    out = np.empty((4, *np.broadcast_shapes(p4.shape[1:], beta.shape[1:])))
    np.add(px, along * bx, out=out[0, ...])
    np.add(py, along * by, out=out[1, ...])
    np.add(pz, along * bz, out=out[2, ...])
    np.multiply(gamma, e + bp, out=out[3, ...])
    return out


def to_lab(p4_cms: ArrayLike, beam: Beam) -> FloatArray:
    """Four-vectors from the nominal CM frame of ``beam`` to the lab."""
    return boost(p4_cms, beam.boost_vector)


def to_cms(p4_lab: ArrayLike, beam: Beam) -> FloatArray:
    """Four-vectors from the lab to the nominal CM frame of ``beam`` (pure boost).

    Examples
    --------
    >>> beam = Beam.y4s()
    >>> cms = to_cms(beam.p4, beam)
    >>> bool(np.allclose(cms[:3], 0.0)), round(float(cms[3]), 4)
    (True, 10.5796)
    """
    return boost(p4_lab, -beam.boost_vector)


def invariant_mass(p4: ArrayLike) -> FloatArray:
    """Invariant mass sqrt(E² - p²) of ``(..., 4)`` four-vectors (0 if spacelike).

    Examples
    --------
    >>> float(invariant_mass([3.0, 0.0, 0.0, 5.0]))
    4.0
    """
    p = np.asarray(p4, dtype=np.float64)
    m2 = p[..., 3] ** 2 - p[..., 0] ** 2 - p[..., 1] ** 2 - p[..., 2] ** 2
    return np.asarray(np.sqrt(np.maximum(m2, 0.0)), dtype=np.float64)


def sample_collisions(
    beam: Beam, n: int, rng: np.random.Generator
) -> tuple[FloatArray, FloatArray]:
    """Per-collision CM energy and CM velocity, with the beams' energy spreads.

    Returns ``(sqrt_s, beta)`` of shapes ``(n,)`` and ``(n, 3)``. The beam directions
    are fixed; only the energies fluctuate (Gaussian, ``her_spread``/``ler_spread``).
    """
    e_her = beam.her + beam.her_spread * rng.standard_normal(n)
    e_ler = beam.ler + beam.ler_spread * rng.standard_normal(n)
    s, c = math.sin(beam.half_crossing_angle), math.cos(beam.half_crossing_angle)
    p_her = np.sqrt(e_her**2 - ELECTRON_MASS**2)
    p_ler = np.sqrt(e_ler**2 - ELECTRON_MASS**2)
    total = np.empty((n, 4))
    total[:, 0] = (p_her + p_ler) * s
    total[:, 1] = 0.0
    total[:, 2] = (p_her - p_ler) * c
    total[:, 3] = e_her + e_ler
    beta: FloatArray = total[:, :3] / total[:, 3:]
    return invariant_mass(total), beta


def sample_vertices(beam: Beam, n: int, rng: np.random.Generator) -> FloatArray:
    """``(n, 3)`` primary vertices (cm) drawn from the Gaussian luminous region."""
    vertices: FloatArray = rng.standard_normal((n, 3)) * np.asarray(beam.spot_sigma)
    return vertices


def sample_cos_theta(a: float, n: int, rng: np.random.Generator) -> FloatArray:
    """``n`` values of cosθ distributed as 1 + a·cos²θ on [-1, 1], for 0 <= a <= 1.

    Accept-reject against a flat envelope (efficiency >= 1/2); vectorised.
    """
    out = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        c = rng.uniform(-1.0, 1.0, todo.size)
        ok = rng.random(todo.size) * (1.0 + a) < 1.0 + a * c * c
        out[todo[ok]] = c[ok]
        todo = todo[~ok]
    return out


def sample_bhabha_cos(
    n: int, lo: float, hi: float, rng: np.random.Generator
) -> FloatArray:
    """``n`` values of cosθ on [lo, hi] (hi < 1) distributed as ((3 + c²)/(1 - c))².

    The Bhabha cross section in the CM, θ between the outgoing and incoming e-;
    sampled against a 1/(1 - c)² envelope (efficiency >= 9/16).
    """
    out = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        v = rng.uniform(1.0 / (1.0 - lo), 1.0 / (1.0 - hi), todo.size)
        c = 1.0 - 1.0 / v
        ok = rng.random(todo.size) * 16.0 < (3.0 + c * c) ** 2
        out[todo[ok]] = c[ok]
        todo = todo[~ok]
    return out


def sample_gg_cos(n: int, lo: float, hi: float, rng: np.random.Generator) -> FloatArray:
    """``n`` values of cosθ on [lo, hi] (|lo|, |hi| < 1) as (1 + c²)/(1 - c²).

    The e+e- -> gamma gamma cross section in the CM; sampled against a 1/(1 - c²)
    envelope (efficiency >= 1/2).
    """
    out = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        c = np.tanh(rng.uniform(np.arctanh(lo), np.arctanh(hi), todo.size))
        ok = rng.random(todo.size) * 2.0 < 1.0 + c * c
        out[todo[ok]] = c[ok]
        todo = todo[~ok]
    return out


@functools.lru_cache(maxsize=16)
def acceptance_cos_range(beam: Beam, max_cos_lab: float) -> tuple[float, float]:
    """CM cosθ range (to the e- beam) where a back-to-back pair of beam-energy
    particles can have both lab polar angles within ``|cos| < max_cos_lab``.

    A scan of CM directions, widened by a margin for the beam-energy spread.
    """
    c = np.linspace(-1.0, 1.0, 4001)
    cc, phi = (a.ravel() for a in np.meshgrid(c, np.linspace(0.0, 2 * np.pi, 73)))
    d = directions(cc, phi, beam.axis_cms).T
    e = np.full(cc.size, beam.e_beam_cms)
    pair = np.stack([np.vstack([e * d, e]), np.vstack([-e * d, e])], axis=1)
    lab = boost_t(pair, beam.boost_vector[:, None, None])
    ok = (np.abs(lab[2] / np.linalg.norm(lab[:3], axis=0)) < max_cos_lab).all(axis=0)
    margin = 10 * (c[1] - c[0])
    return max(-1.0, cc[ok].min() - margin), min(1.0 - 1e-9, cc[ok].max() + margin)


def directions(cos_theta: FloatArray, phi: FloatArray, axis: ArrayLike) -> FloatArray:
    """Unit vectors at polar angle acos(``cos_theta``), azimuth ``phi`` about ``axis``.

    ``axis`` is ``(3,)`` or ``(n, 3)`` (unit vectors); the result is ``(n, 3)``.
    """
    z = np.broadcast_to(np.asarray(axis, dtype=np.float64), (*cos_theta.shape, 3))
    # a helper vector not parallel to the axis, then an orthonormal frame (x, y, z)
    helper = np.zeros_like(z)
    use_x = np.abs(z[:, 0]) < 0.9
    helper[use_x, 0] = 1.0
    helper[~use_x, 1] = 1.0
    x = np.cross(helper, z)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.cross(z, x)
    sin_theta = np.sqrt(np.maximum(1.0 - cos_theta * cos_theta, 0.0))
    return (
        (sin_theta * np.cos(phi))[:, None] * x
        + (sin_theta * np.sin(phi))[:, None] * y
        + cos_theta[:, None] * z
    )


__all__ = [
    "ELECTRON_MASS",
    "Beam",
    "boost",
    "boost_t",
    "to_lab",
    "to_cms",
    "invariant_mass",
    "sample_collisions",
    "sample_vertices",
    "sample_cos_theta",
    "sample_bhabha_cos",
    "sample_gg_cos",
    "acceptance_cos_range",
    "directions",
]
