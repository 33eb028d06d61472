"""Particle data from the `particle` package (PDG), in GeV, cm and units of e.

Scalar look-ups are cached; :func:`masses`, :func:`charges` and :func:`species` use
dense tables built once for :data:`CODES`, every PDG code the generator makes.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from particle import Particle

#: speed of light in cm/ns
C_CM_PER_NS = 29.9792458
#: hbar c in GeV cm
HBARC_GEV_CM = 1.973269804e-14

#: the particles (not antiparticles) the generator uses; :data:`CODES` adds the
#: charge conjugates
# fmt: off
_BASE_CODES = (
    11, 12, 13, 14, 15, 16, 22,  # leptons, photon
    111, 211, 113, 213, 221, 223, 331, 333, 130, 310, 311, 321, 313, 323,  # light
    411, 421, 413, 423, 431, 433, 4122, 443,  # charm
    2212, 2112, 3122, 3212, 3222,  # baryons
    511, 521, 300553,  # bottom
)
# fmt: on


@dataclass(frozen=True, slots=True)
class ParticleData:
    """PDG data of one species in generator units."""

    pdg: int
    name: str
    #: GeV (0 for neutrinos)
    mass: float
    #: GeV (0 when the PDG gives none)
    width: float
    #: mean decay length c·tau in cm (inf for stable particles, 0 when unknown)
    ctau: float
    #: electric charge in units of e
    charge: int
    self_conjugate: bool


@functools.cache
def data(pdg: int) -> ParticleData:
    """All the data of PDG code ``pdg``; raises ``ParticleNotFound`` if unknown.

    Examples
    --------
    >>> data(310).name, round(data(310).ctau, 2)
    ('K(S)0', 2.68)
    """
    p = Particle.from_pdgid(int(pdg))
    width = (p.width or 0.0) / 1000.0
    if p.lifetime is not None:
        ctau = float(p.lifetime) * C_CM_PER_NS
    else:  # no lifetime given (e.g. D_s*+): from the width, or prompt if none
        ctau = HBARC_GEV_CM / width if width > 0 else 0.0
    return ParticleData(
        pdg=int(pdg),
        name=str(p.name),
        mass=(p.mass or 0.0) / 1000.0,
        width=width,
        ctau=ctau,
        charge=round(float(p.charge or 0.0)),
        self_conjugate=bool(p.is_self_conjugate),
    )


def mass(pdg: int) -> float:
    """Nominal mass in GeV (0 for neutrinos).

    Examples
    --------
    >>> round(mass(421), 5)
    1.86484
    """
    return data(pdg).mass


def width(pdg: int) -> float:
    """Total width in GeV (0 where the PDG gives none)."""
    return data(pdg).width


def ctau_cm(pdg: int) -> float:
    """Mean decay length c·tau in cm; ``inf`` for stable particles.

    Examples
    --------
    >>> round(ctau_cm(15), 4)
    0.0087
    """
    return data(pdg).ctau


def charge(pdg: int) -> int:
    """Electric charge in units of e.

    Examples
    --------
    >>> charge(-211), charge(4122), charge(22)
    (-1, 1, 0)
    """
    return data(pdg).charge


def name(pdg: int) -> str:
    """The PDG name as the `particle` package spells it (``'D~0'`` for anti-D0)."""
    return data(pdg).name


def conjugate(pdg: int) -> int:
    """The charge-conjugate code: ``-pdg``, or ``pdg`` for self-conjugate particles.

    Examples
    --------
    >>> conjugate(421), conjugate(111), conjugate(310)
    (-421, 111, 310)
    """
    return int(pdg) if data(pdg).self_conjugate else -int(pdg)


def _all_codes() -> tuple[int, ...]:
    codes = {c for b in _BASE_CODES for c in (b, conjugate(b))}
    return tuple(sorted(codes))


#: every PDG code the generator uses, sorted; the vectorised look-ups index this
CODES: tuple[int, ...] = _all_codes()
_MAX_ABS = max(abs(c) for c in CODES)
#: dense map (pdg + _MAX_ABS) -> position in CODES, -1 where unknown
_DENSE = np.full(2 * _MAX_ABS + 1, -1, dtype=np.int16)
_DENSE[np.asarray(CODES) + _MAX_ABS] = np.arange(len(CODES))

#: per-species columns, indexed by the result of :func:`species`
CODE_ARRAY = np.asarray(CODES, dtype=np.int32)
MASS = np.array([mass(c) for c in CODES])
WIDTH = np.array([width(c) for c in CODES])
CTAU = np.array([ctau_cm(c) for c in CODES])
CHARGE = np.array([charge(c) for c in CODES], dtype=np.int8)
CONJUGATE = np.array(
    [CODES.index(conjugate(c)) for c in CODES], dtype=np.intp
)  # species index of the antiparticle

for _array in (CODE_ARRAY, MASS, WIDTH, CTAU, CHARGE, CONJUGATE, _DENSE):
    _array.flags.writeable = False


# EvtGen-style names of the generator's particles; antiparticles follow
_ALIAS: dict[str, int] = {
    "e-": 11, "nu_e": 12, "mu-": 13, "nu_mu": 14, "tau-": 15, "nu_tau": 16,
    "gamma": 22, "pi0": 111, "pi+": 211, "rho0": 113, "rho+": 213, "eta": 221,
    "omega": 223, "eta'": 331, "phi": 333, "K_L0": 130, "K_S0": 310, "K0": 311,
    "K+": 321, "K*0": 313, "K*+": 323, "D+": 411, "D0": 421, "D*+": 413, "D*0": 423,
    "D_s+": 431, "D_s*+": 433, "Lambda_c+": 4122, "J/psi": 443, "p+": 2212,
    "n0": 2112, "Lambda0": 3122, "Sigma0": 3212, "Sigma+": 3222, "B0": 511,
    "B+": 521, "Upsilon(4S)": 300553,
}  # fmt: skip
_ANTI = {"e-": "e+", "mu-": "mu+", "tau-": "tau+"}


def _anti_name(name: str, pdg_code: int) -> str:
    """The antiparticle's name: e+, pi-, anti-D0, anti-p-, anti-Lambda_c-, ..."""
    flipped = name[:-1] + {"+": "-", "-": "+"}.get(name[-1], name[-1])
    if name in _ANTI:
        return _ANTI[name]
    if abs(pdg_code) > 1000:  # baryons: anti-p-, anti-Lambda_c-, anti-n0
        return "anti-" + flipped
    return flipped if name[-1] in "+-" else "anti-" + name


_ALIAS.update({_anti_name(n, c): -c for n, c in list(_ALIAS.items()) if -c in CODES})


def code(name: str) -> int:
    """The PDG code of an EvtGen-style particle name; ``KeyError`` if unknown.

    Examples
    --------
    >>> code("anti-D*0"), code("K_S0"), code("mu+"), code("anti-Sigma-")
    (-423, 310, -13, -3222)
    """
    return _ALIAS[name]


def species(pdg: ArrayLike) -> NDArray[np.intp]:
    """Positions of PDG codes in :data:`CODES` (the index of the per-species columns).

    Raises ``KeyError`` for a code the generator does not use.

    Examples
    --------
    >>> [CODES[i] for i in species([211, -211])]
    [211, -211]
    """
    codes = np.asarray(pdg, dtype=np.int64)
    shifted = codes + _MAX_ABS
    if shifted.size and (shifted.min() < 0 or shifted.max() >= _DENSE.size):
        raise KeyError(f"PDG code(s) outside the generator's tables: {_unknown(codes)}")
    index = _DENSE[shifted]
    if index.size and index.min() < 0:
        raise KeyError(f"PDG code(s) outside the generator's tables: {_unknown(codes)}")
    return index.astype(np.intp)


def _unknown(codes: NDArray[np.int64]) -> list[int]:
    known = set(CODES)
    return sorted({int(c) for c in codes.ravel()} - known)[:10]


def masses(pdg: ArrayLike) -> NDArray[np.float64]:
    """Nominal masses (GeV) of an array of PDG codes; same shape as ``pdg``.

    Examples
    --------
    >>> masses([211, 111]).round(4).tolist()
    [0.1396, 0.135]
    """
    return MASS[species(pdg)]


def charges(pdg: ArrayLike) -> NDArray[np.int8]:
    """Electric charges (units of e) of an array of PDG codes; same shape as ``pdg``.

    Examples
    --------
    >>> charges([11, -11, 22]).tolist()
    [-1, 1, 0]
    """
    return CHARGE[species(pdg)]


__all__ = [
    "C_CM_PER_NS",
    "CODES",
    "ParticleData",
    "data",
    "mass",
    "width",
    "ctau_cm",
    "charge",
    "name",
    "code",
    "conjugate",
    "species",
    "masses",
    "charges",
    "CODE_ARRAY",
    "MASS",
    "WIDTH",
    "CTAU",
    "CHARGE",
    "CONJUGATE",
]
