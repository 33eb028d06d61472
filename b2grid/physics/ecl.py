"""ECL simulation: particles at the calorimeter face in, crystal digits (ADC, time) out.

Showers are integrated over 5x5 crystals, summed per crystal, smeared, thresholded and
digitised with the true gains; beam background is made apart and overlaid by merge.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from particle import Particle

from b2grid.errors import PhysicsError
from b2grid.physics import ecl_kernels
from b2grid.physics.ecl_geometry import BLOCK_EVENTS, N_CRYSTALS, event_blocks, geometry

__all__ = [
    "ADC_PER_GEV",
    "BACKGROUND_LEVELS",
    "NOISE_SIGMA",
    "THRESHOLD",
    "EclDigits",
    "background",
    "merge",
    "simulate",
]

F64 = npt.NDArray[np.float64]
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]

#: ADC counts per GeV deposited in a crystal of nominal gain
ADC_PER_GEV = 20_000
#: electronics noise per crystal with a deposit (GeV)
NOISE_SIGMA = 0.3e-3
#: digits are kept above this deposit after noise (GeV)
THRESHOLD = 0.5e-3
#: mean beam-background crystals per event of each background level
BACKGROUND_LEVELS: dict[str, float] = {"BGx0": 0.0, "BGx1": 150.0}

_NC = N_CRYSTALS + 1
#: shower deposits below this (GeV) are not made into crystal entries at all
_DEPOSIT_CUT = 0.05e-3
#: electromagnetic energy resolution put into the total deposit; noise, threshold and
#: containment fluctuations add the rest after clustering (tuned on photon guns)
_EM_STOCHASTIC = 0.0153
_EM_CONSTANT = 0.0108
#: lateral profile of the shower kinds (rows: 0 EM, 1 MIP, 2 hadronic): weight of the
#: core, Laplace scales of core and halo in crystal widths (EM: central crystal
#: 70-85 %, E9/E21 ~ 0.95)
_PROFILE = np.array([[0.80, 0.15, 0.90], [1.0, 0.04, 0.04], [0.40, 0.45, 1.6]])
_SCALES = np.ascontiguousarray(_PROFILE[:, 1:])
#: digit time resolution hypot(_TIME_CONSTANT, _TIME_NOISE / E) [ns; ns GeV]
_TIME_CONSTANT = 1.0
_TIME_NOISE = 1e-2
#: species that need their mass for the kinetic energy; others count as massless
_MASSIVE = (13, 211, 321, 2212, 2112, 130)


_FIELDS = ("event", "cell", "adc", "time", "mc_index")
_DTYPES = (np.int64, np.int16, np.int32, np.float32, np.int32)


@dataclass(frozen=True, slots=True)
class EclDigits:
    """Flat crystal digits of many events, one per (event, crystal).

    ``event`` is sorted ascending (the order of crystals inside an event is not
    specified); ``cell`` is the cellId (1..8736), ``adc`` the counts (deposit x
    ADC_PER_GEV x true gain), ``time`` in ns, ``mc_index`` the MC particle that
    deposited most (-1: background). Inputs are converted to these dtypes.
    """

    event: I64
    cell: npt.NDArray[np.int16]
    adc: npt.NDArray[np.int32]
    time: F32
    mc_index: npt.NDArray[np.int32]

    def __post_init__(self) -> None:
        for name, dtype in zip(_FIELDS, _DTYPES, strict=True):
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype))

    def __len__(self) -> int:
        return len(self.event)

    @classmethod
    def from_arrays(cls, *columns: npt.ArrayLike) -> EclDigits:
        """Build from the five columns as any array-likes (converted)."""
        return cls(*(np.asarray(c, t) for c, t in zip(columns, _DTYPES, strict=True)))

    @classmethod
    def empty(cls) -> EclDigits:
        """No digits."""
        z = np.zeros(0)
        return cls.from_arrays(z, z, z, z, z)


@functools.cache
def _normal_table() -> F32:
    """2**16 fixed standard-normal values (mean 0, variance 1 exactly)."""
    x = np.random.default_rng(0xEC1).standard_normal(2**16)
    out: F32 = ((x - x.mean()) / x.std()).astype(np.float32)
    out.flags.writeable = False
    return out


def _normals(rng: np.random.Generator, n: int) -> F32:
    """``n`` normal deviates drawn from :func:`_normal_table` by 16-bit random
    indices: several times cheaper than the ziggurat, and plenty for noise, timing
    and shower fluctuations (a 2**16-point approximation of the Gaussian)."""
    return _normal_table()[rng.integers(0, 2**16, n, dtype=np.uint16)]


def _laplace_cdf(x: F64, scale: float | F64) -> F64:
    half = 0.5 * np.exp(-np.abs(x) / scale)
    out: F64 = np.where(x < 0, half, 1.0 - half)
    return out


#: shower-centre offsets tabulated per crystal width (nearest of 64 per width)
_STEPS = 64
_SPAN = 2.5


@functools.cache
def _profile_table() -> npt.NDArray[np.float32]:
    """(kind x component x offset, 5): fraction of a unit Laplace profile in each of
    5 neighbouring crystal widths, for a centre offset in [-2.5, 2.5] widths."""
    x0 = np.arange(-_SPAN * _STEPS, _SPAN * _STEPS + 1) / _STEPS
    edges = np.arange(-2.5, 3.0)[None, :] - x0[:, None]
    rows = [
        np.diff(_laplace_cdf(edges, float(_PROFILE[kind, 1 + comp])), axis=1)
        for kind in range(3)
        for comp in range(2)
    ]
    out = np.concatenate(rows).astype(np.float32)
    out.flags.writeable = False
    return out


@functools.cache
def _species() -> tuple[npt.NDArray[np.int8], F64]:
    """Dense tables over |pdg| < 3000 (larger codes use the last entry): class
    (0 e/gamma, 1 muon, 2 charged hadron or other, 3 K_L/neutron, 4 neutrino) and
    mass (GeV, 0 unless needed for the kinetic energy)."""
    cls = np.full(3000, 2, dtype=np.int8)
    for codes, c in (([11, 22], 0), ([13], 1), ([130, 2112], 3), ([12, 14, 16], 4)):
        cls[codes] = c
    mass = np.zeros(3000)
    for code in _MASSIVE:  # six species, once
        mass[code] = (Particle.from_pdgid(code).mass or 0.0) / 1e3
    return cls, mass


def simulate(
    event: npt.ArrayLike,
    pdg: npt.ArrayLike,
    energy: npt.ArrayLike,
    theta: npt.ArrayLike,
    phi: npt.ArrayLike,
    mc_index: npt.ArrayLike,
    gains: npt.ArrayLike,
    rng: np.random.Generator,
    *,
    n_events: int,
) -> EclDigits:
    """Simulate the ECL response to particles arriving at its front face.

    Parameters
    ----------
    event, pdg, energy, theta, phi, mc_index : array_like
        One entry per particle: event number in [0, n_events), PDG code, total
        energy (GeV), direction at the ECL face (rad) and MC index. Events need
        not be sorted. Particles outside 12.4-155.1 deg leave nothing.
    gains : array_like
        True gain of each crystal, length N_CRYSTALS + 1 (index = cellId).
    rng : numpy.random.Generator
        The only source of randomness: equal seeds give equal digits.
    n_events : int
        Number of events (events without particles get no digits).

    Returns
    -------
    EclDigits
        One digit per crystal above :data:`THRESHOLD` after noise, sorted by event.

    Notes
    -----
    Photons and e+- shower electromagnetically (full energy, narrow profile); muons,
    and half of the charged hadrons, ionise (~0.19 GeV Landau, 1-2 crystals); the
    other charged hadrons and 60 % of K_L and neutrons shower hadronically (20-80 %
    of the kinetic energy, wide profile). Deposits are summed per crystal, then get
    N(0, NOISE_SIGMA); ``adc = round(E * ADC_PER_GEV * gain)``; the time is
    N(0, hypot(1 ns, 10 ns MeV / E)). Neutrinos are dropped. Events are processed in
    blocks of a fixed number, so the result depends on the seed only.
    """
    ev = np.asarray(event, dtype=np.int64)
    columns = [np.asarray(a) for a in (pdg, energy, theta, phi, mc_index)]
    if any(len(c) != len(ev) for c in columns):
        raise PhysicsError("ECL simulate: particle arrays differ in length")
    if len(ev) and (ev.min() < 0 or ev.max() >= n_events):
        raise PhysicsError(f"ECL simulate: event numbers outside [0, {n_events})")
    if len(ev) and np.any(ev[1:] < ev[:-1]):
        order = np.argsort(ev, kind="stable")
        ev, columns = ev[order], [c[order] for c in columns]
    ev = _plain(ev, np.int64)
    p_pdg, mc = (_plain(c, np.int64) for c in (columns[0], columns[4]))
    p_e, p_theta, p_phi = (_plain(c, np.float64) for c in columns[1:4])
    gain = _plain(gains, np.float64)
    geo = geometry()
    species, species_mass = _species()
    normal, profile = _normal_table(), _profile_table()
    blocks = event_blocks(ev, n_events)
    most = max([p1 - p0 for _, p0, p1 in blocks], default=0)
    # per block: the shower of each particle, then one key per (event, crystal) --
    # each shower reaches at most the 25 crystals of its 5x5 block
    cell, kind = (np.empty(most, np.int64) for _ in range(2))
    u, v, deposit, core = (np.empty(most) for _ in range(4))
    key_cell, key_owner = (np.empty(25 * most, np.int64) for _ in range(2))
    key_total, sigma_t = (np.empty(25 * most, np.float32) for _ in range(2))
    out = _Digits(25 * len(ev))
    for _, p0, p1 in blocks:
        n, sl = p1 - p0, slice(p0, p1)
        choice = rng.random(n)
        z_index = rng.integers(0, 2**16, 5 * n, dtype=np.uint16)  # see _normals
        fraction = rng.random(n)
        ecl_kernels.showers(
            p_pdg[sl], p_e[sl], p_theta[sl], p_phi[sl], choice, z_index, fraction,
            normal, species, species_mass, (_EM_STOCHASTIC**2, _EM_CONSTANT**2),
            _PROFILE, geo.edges_snap, geo.interval_ring_snap, geo.ring_first,
            geo.ring_nphi, geo.cell_theta, geo.cell_phi, geo.cell_dtheta,
            geo.cell_dphi, cell, u, v, deposit, core, kind,
        )  # fmt: skip
        n_keys = ecl_kernels.shower_keys(
            ev[sl], cell[:n], u[:n], v[:n], deposit[:n], core[:n], kind[:n],
            profile, _SCALES, _SPAN, float(_STEPS), _DEPOSIT_CUT,
            geo.cell_near_region_edge, geo.cell_ring, geo.cell_theta, geo.cell_dtheta,
            geo.ring_theta_lo, geo.ring_theta_hi, _neighbours25(),
            key_cell, key_total, key_owner,
        )  # fmt: skip
        noise = rng.integers(0, 2**16, n_keys, dtype=np.uint16)  # see _normals
        kept = ecl_kernels.digitise(
            key_cell, key_total, key_owner, n_keys, noise, normal, NOISE_SIGMA,
            THRESHOLD, float(ADC_PER_GEV), gain, _TIME_CONSTANT, _TIME_NOISE,
            ev[sl], mc[sl], out.event[out.n :], out.cell[out.n :], out.adc[out.n :],
            out.mc[out.n :], sigma_t,
        )  # fmt: skip
        times = _normals(rng, kept)
        np.multiply(sigma_t[:kept], times, out=out.time[out.n : out.n + kept])
        out.n += kept
    return out.digits()


@functools.cache
def _neighbours25() -> npt.NDArray[np.int16]:
    """The 5x5 blocks of ``geometry().neighbours25`` as int16 (a quarter of the
    cache lines)."""
    out = geometry().neighbours25.astype(np.int16)
    out.flags.writeable = False
    return out


def _plain(a: npt.ArrayLike, dtype: type[Any]) -> npt.NDArray[Any]:
    """``a`` as a C-contiguous, writeable array of ``dtype``, copied only if it is
    not one: the kernels then always see the same array types (no recompiling)."""
    return np.require(a, dtype, ["C", "W"])


_Columns = tuple[
    I64, npt.NDArray[np.int16], npt.NDArray[np.int32], F32, npt.NDArray[np.int32]
]


class _Digits:
    """Digit columns of a known greatest length for the kernels to fill; the first
    ``n`` are done. :meth:`digits` hands them over trimmed, without a copy."""

    def __init__(self, capacity: int) -> None:
        self.event = np.empty(capacity, np.int64)
        self.cell = np.empty(capacity, np.int16)
        self.adc = np.empty(capacity, np.int32)
        self.time = np.empty(capacity, np.float32)
        self.mc = np.empty(capacity, np.int32)
        self.n = 0

    def columns(self, start: int) -> _Columns:
        """Views of the five columns from ``start`` on, for a kernel to fill."""
        n = start
        return self.event[n:], self.cell[n:], self.adc[n:], self.time[n:], self.mc[n:]

    def digits(self) -> EclDigits:
        """The first ``n`` digits; the columns are given away (this object is done).

        The callers keep no views of the columns (they pass them to kernels only),
        so each can shrink its allocation in place (``refcheck`` would also count
        the references of this method's own tuple)."""
        cols = (self.event, self.cell, self.adc, self.time, self.mc)
        del self.event, self.cell, self.adc, self.time, self.mc
        for c in cols:
            c.resize(self.n, refcheck=False)
        return EclDigits(cols[0], cols[1], cols[2], cols[3], cols[4])


def background(
    n_events: int,
    level: str,
    rng: np.random.Generator,
    *,
    gains: npt.ArrayLike | None = None,
    scale: float = 1.0,
) -> EclDigits:
    """Beam-background digits for ``n_events`` events.

    Parameters
    ----------
    n_events : int
        Number of events.
    level : str
        A key of :data:`BACKGROUND_LEVELS`: ``"BGx0"`` (none) or ``"BGx1"``
        (nominal: Poisson(150) crystals per event, per crystal 3x denser in the
        endcaps than in the barrel).
    rng : numpy.random.Generator
        Source of randomness.
    gains : array_like, optional
        True crystal gains (default nominal 1).
    scale : float
        The run's background over nominal (``RunConditions.background_scale``):
        multiplies the mean number of crystals per event.

    Returns
    -------
    EclDigits
        Energies 0.5 MeV + Exp(2 MeV) (95 %) or log-uniform 5-50 MeV, times uniform
        in [-500, 500] ns, ``mc_index`` -1.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> quiet, busy = (len(background(2000, "BGx1", rng, scale=s)) for s in (0.5, 1.5))
    >>> round(busy / quiet, 1)
    3.0
    """
    if level not in BACKGROUND_LEVELS:
        known = ", ".join(BACKGROUND_LEVELS)
        raise PhysicsError(f"unknown beam-background level {level!r}; known: {known}")
    if not scale >= 0.0:
        raise PhysicsError(f"beam-background scale {scale!r} must be >= 0")
    rate = BACKGROUND_LEVELS[level] * scale
    if rate == 0.0 or n_events == 0:
        return EclDigits.empty()
    gain = np.ones(_NC) if gains is None else np.asarray(gains, dtype=np.float64)
    counts = rng.poisson(rate, n_events)
    # one uniform picks the crystal: regions weighted by crystals x density 3:1:3
    n_reg = np.array([1152, 6624, 960])
    edge = np.cumsum(n_reg * [3.0, 1.0, 3.0]) / np.dot(n_reg, [3.0, 1.0, 3.0])
    stretch = n_reg / np.diff(edge, prepend=0.0)
    offset = np.array([1, 1153, 7777]) - np.concatenate([[0.0], edge[:2]]) * stretch
    out = _Digits(int(counts.sum()))
    none = EclDigits.empty()
    for first in range(0, n_events, BLOCK_EVENTS):  # the same blocks as simulate's
        block = slice(first, min(first + BLOCK_EVENTS, n_events))
        event = np.repeat(np.arange(block.start, block.stop), counts[block])
        n = len(event)
        x, y = rng.random(n), rng.random(n)
        reg = (x >= edge[0]).astype(np.intp) + (x >= edge[1])
        cell = (x * stretch[reg] + offset[reg]).astype(np.int16)
        energy = np.where(
            y < 0.05,
            5e-3 * np.exp(y * (math.log(10.0) / 0.05)),  # log-uniform 5-50 MeV
            0.5e-3 - 2e-3 * np.log1p((0.05 - y) / 0.95),  # 0.5 MeV + Exp(2 MeV)
        )
        adc = np.rint(energy * ADC_PER_GEV * gain[cell]).astype(np.int32)
        time = (rng.random(n, dtype=np.float32) - 0.5) * np.float32(1000.0)
        mc = np.full(n, -1, dtype=np.int32)
        # a crystal hit twice in an event gives one digit (merged with no digits, so
        # that this and merge() share one compiled kernel)
        out.n += ecl_kernels.merge_digits(
            (event, none.event), (cell, none.cell), (adc, none.adc),
            (time, none.time), (mc, none.mc_index), *out.columns(out.n),
        )  # fmt: skip
    return out.digits()


def merge(*digits: EclDigits) -> EclDigits:
    """Overlay digit sets of the same events (e.g. signal and beam background).

    ADC counts of a crystal are summed; its time and ``mc_index`` are those of the
    largest contribution. The result is sorted by event.

    Examples
    --------
    >>> a = EclDigits.from_arrays([0, 1], [5, 5], [100, 200], [0.0, 1.0], [3, 4])
    >>> b = EclDigits.from_arrays([1], [5], [300], [9.0], [-1])
    >>> m = merge(a, b)
    >>> m.event.tolist(), m.adc.tolist(), m.mc_index.tolist()
    ([0, 1], [100, 500], [3, -1])
    """
    sets = [d for d in digits if len(d)]
    if len(sets) <= 1:
        return sets[0] if sets else EclDigits.empty()
    out = _Digits(sum(len(d) for d in sets))
    out.n = ecl_kernels.merge_digits(
        tuple(_plain(d.event, np.int64) for d in sets),
        tuple(_plain(d.cell, np.int16) for d in sets),
        tuple(_plain(d.adc, np.int32) for d in sets),
        tuple(_plain(d.time, np.float32) for d in sets),
        tuple(_plain(d.mc_index, np.int32) for d in sets),
        *out.columns(0),
    )
    return out.digits()
