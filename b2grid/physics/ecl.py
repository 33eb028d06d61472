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
from b2grid.physics.ecl_geometry import (
    BLOCK_EVENTS,
    N_CRYSTALS,
    event_blocks,
    geometry,
    group_by_key,
    locate,
)

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
#: shower kinds and their lateral profile: weight of the core, Laplace scales of core
#: and halo in crystal widths (EM: central crystal 70-85 %, E9/E21 ~ 0.95)
_EM, _MIP, _HAD = 0, 1, 2
_PROFILE = np.array([[0.80, 0.15, 0.90], [1.0, 0.04, 0.04], [0.40, 0.45, 1.6]])
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


def _showers(
    pdg: I64, energy: F64, theta: F64, phi: F64, rng: np.random.Generator
) -> tuple[I64, F64, F64, F64, F64, I64]:
    """Impact crystal, shower centre (u, v) relative to its centre in crystal widths,
    total deposit (0 = none), core weight and kind of each particle."""
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
    # rear leakage out of the 16 X0 crystals grows with the depth of the shower
    # maximum, ~ln E: 0.3 % at 0.1 GeV, 1.3 % at 1 GeV, 2 % at 5 GeV
    rear = 0.0045 * np.log(np.maximum(e, 0.05) / 0.05)
    em_dep = energy * (1.0 - rear) * (1.0 + res * z[0])
    landau = 0.18 - 0.008 * np.log(np.square(z[1]))  # Moyal, most probable 0.18
    mip_dep = np.minimum(landau, kinetic)
    had_dep = (0.2 + 0.6 * rng.random(n)) * kinetic
    deposit = np.choose(kind, [em_dep, mip_dep, had_dep])
    lost = (cls == 4) | ((cls == 3) & (choice >= 0.6))
    cell, u, v = locate(theta, phi)
    deposit = np.where(lost | (cell == 0), 0.0, np.maximum(deposit, 0.0))
    # the shower axis wanders: EM by ~0.07/sqrt(E) crystal widths, hadronic by 0.3
    wander = np.choose(kind, [np.sqrt(0.0049 / e + 0.0016), 0.0, 0.3])
    u += wander * z[2]
    v += wander * z[3]
    core = np.clip(_PROFILE[kind, 0] + np.where(kind == _MIP, 0.0, 0.03 * z[4]), 0, 1)
    return cell, u, v, deposit, core, kind


def _deposits(
    cell: I64, u: F64, v: F64, deposit: F64, core: F64, kind: I64
) -> tuple[I64, npt.NDArray[np.float32]]:
    """(showers, 25) crystals and deposits of the 5x5 block around each impact
    crystal: a core + halo profile, each a product of Laplace densities in theta and
    phi, integrated over the crystal faces (tabulated; exact in theta where the
    block reaches into another region, so that energy falls into the gaps)."""
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
    if len(edge):  # exact theta integrals over the real ring edges
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
    p_pdg, mc = (c.astype(np.int64) for c in (columns[0], columns[4]))
    p_e, p_theta, p_phi = (c.astype(np.float64) for c in columns[1:4])
    gain = np.asarray(gains, dtype=np.float64)
    parts = []
    for first, p0, p1 in event_blocks(ev, n_events):
        sl = slice(p0, p1)
        cell, u, v, dep, core, kind = _showers(
            p_pdg[sl], p_e[sl], p_theta[sl], p_phi[sl], rng
        )
        live = np.flatnonzero(dep > 0.0)
        cells, deps = _deposits(
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
    return _concat(parts)


_Columns = tuple[
    I64, npt.NDArray[np.int16], npt.NDArray[np.int32], F32, npt.NDArray[np.int32]
]


def _concat(parts: list[_Columns]) -> EclDigits:
    """One :class:`EclDigits` from per-block columns (already in the final dtypes)."""
    if not parts:
        return EclDigits.empty()
    cols = [np.concatenate([p[i] for p in parts]) for i in range(5)]
    return EclDigits(cols[0], cols[1], cols[2], cols[3], cols[4])


def background(
    n_events: int,
    level: str,
    rng: np.random.Generator,
    *,
    gains: npt.ArrayLike | None = None,
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

    Returns
    -------
    EclDigits
        Energies 0.5 MeV + Exp(2 MeV) (95 %) or log-uniform 5-50 MeV, times uniform
        in [-500, 500] ns, ``mc_index`` -1.
    """
    if level not in BACKGROUND_LEVELS:
        known = ", ".join(BACKGROUND_LEVELS)
        raise PhysicsError(f"unknown beam-background level {level!r}; known: {known}")
    rate = BACKGROUND_LEVELS[level]
    if rate == 0.0 or n_events == 0:
        return EclDigits.empty()
    gain = np.ones(_NC) if gains is None else np.asarray(gains, dtype=np.float64)
    event = np.repeat(np.arange(n_events), rng.poisson(rate, n_events))
    # one uniform picks the crystal: regions weighted by crystals x density 3:1:3
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
            5e-3 * np.exp(y * (math.log(10.0) / 0.05)),  # log-uniform 5-50 MeV
            0.5e-3 - 2e-3 * np.log1p((0.05 - y) / 0.95),  # 0.5 MeV + Exp(2 MeV)
        )
        adc = np.rint(energy * ADC_PER_GEV * gain[cell]).astype(np.int32)
        time = (rng.random(p1 - p0, dtype=np.float32) - 0.5) * np.float32(1000.0)
        mc = np.full(p1 - p0, -1, dtype=np.int32)
        parts.append(_combine_columns(first, event[p0:p1], cell, adc, time, mc))
    return _concat(parts)


def _combine_columns(first: int, *cols: npt.NDArray[Any]) -> _Columns:
    """One digit per (event, crystal) of the event-sorted digit columns of the block
    starting at event ``first``: counts summed, time and mc_index of the largest."""
    event, cell, adc, time, mc = cols
    a = adc.astype(np.float64)
    rep, total, owner = group_by_key((event - first) * _NC + cell, a, 1.0)
    return (event[rep], cell[rep], total.astype(np.int32), time[owner], mc[owner])


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
    n_events = max(int(d.event[-1]) for d in sets) + 1
    starts = np.append(np.arange(0, n_events, BLOCK_EVENTS), n_events)
    cuts = [np.searchsorted(d.event, starts) for d in sets]
    parts = []
    for b in range(len(starts) - 1):  # blocks of events
        cols = [
            np.concatenate(
                [
                    getattr(d, f)[c[b] : c[b + 1]]
                    for d, c in zip(sets, cuts, strict=True)
                ]
            )
            for f in _FIELDS
        ]
        order = np.argsort(cols[0], kind="stable")  # merges the sorted runs
        parts.append(_combine_columns(int(starts[b]), *(c[order] for c in cols)))
    return _concat(parts)
