"""Decay tables (PDG-inspired branching fractions) and the vectorised decayer.

:data:`DECAYS` maps PDG codes to channels; :func:`decay_all` decays a flat particle
list generation by generation. B0-B0bar mixing and spin correlations are ignored.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from b2grid.physics import pdg
from b2grid.physics.pdg import code
from b2grid.physics.phasespace import decay_t, max_weight

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: never decayed by the generator (the detector simulation sees them)
STABLE: frozenset[int] = frozenset(
    c
    for b in (11, 12, 13, 14, 16, 22, 211, 321, 2212, 2112, 130)
    for c in (b, pdg.conjugate(b))
)
#: widths above this (GeV) get Breit-Wigner masses; narrower ones the nominal mass
BROAD_WIDTH = 0.003
#: Breit-Wigner masses are kept within this many widths of the nominal mass
BW_CUT = 5.0
#: particles with a longer c*tau (cm) fly before they decay; shorter ones do not
LONG_LIVED = 1e-4


@dataclass(frozen=True, slots=True)
class DecayChannel:
    """One decay mode: branching fraction (not necessarily normalised) and daughters."""

    bf: float
    daughters: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ForcedDecay:
    """A decay forced on a particle: ``parent -> daughters``, recursively.

    Integer daughters decay generically; :class:`ForcedDecay` daughters are forced
    in turn.

    Examples
    --------
    >>> chain = ForcedDecay(521, (ForcedDecay(-421, (321, -211)), 211))
    >>> chain.codes, chain.conjugate().codes
    ((-421, 211), (421, -211))
    """

    parent: int
    daughters: tuple[int | ForcedDecay, ...]

    @property
    def codes(self) -> tuple[int, ...]:
        """The PDG codes of the daughters."""
        return tuple(d if isinstance(d, int) else d.parent for d in self.daughters)

    def conjugate(self) -> ForcedDecay:
        """The charge-conjugate chain."""
        return ForcedDecay(
            pdg.conjugate(self.parent),
            tuple(
                pdg.conjugate(d) if isinstance(d, int) else d.conjugate()
                for d in self.daughters
            ),
        )

    @classmethod
    def parse(cls, text: str) -> ForcedDecay:
        """A chain from ``"B+ -> [anti-D0 -> K+ pi-] pi+"`` (EvtGen-style names).

        Examples
        --------
        >>> chain = ForcedDecay.parse("B0 -> [J/psi -> mu+ mu-] K_S0")
        >>> chain.codes, chain.daughters[0].codes
        ((443, 310), (-13, 13))
        """
        tokens = text.replace("[", " [ ").replace("]", " ] ").split()
        chain, used = _parse_chain(tokens)
        if used != len(tokens):
            raise ValueError(f"unexpected {' '.join(tokens[used:])!r} in {text!r}")
        return chain


def _parse_chain(tokens: list[str]) -> tuple[ForcedDecay, int]:
    """The chain at the start of ``tokens`` and how many tokens it used."""
    if len(tokens) < 3 or tokens[1] != "->":
        raise ValueError(f"expected 'parent -> daughters', got {' '.join(tokens)!r}")
    daughters: list[int | ForcedDecay] = []
    i = 2
    while i < len(tokens) and tokens[i] != "]":
        if tokens[i] == "[":
            sub, used = _parse_chain(tokens[i + 1 :])
            daughters.append(sub)
            i += used + 2  # the sub-chain and its brackets
        else:
            daughters.append(code(tokens[i]))
            i += 1
    return ForcedDecay(code(tokens[0]), tuple(daughters)), i


# ---------------------------------------------------------------- the tables
# "bf% daughters; ...". "l+ nu_l" stands for both e+ nu_e and mu+ nu_mu (each with
# the bf given); K0/anti-K0 become K_S0 and K_L0 with half the bf each. Only
# particles are listed: antiparticles get the charge-conjugate table. The last
# entries of B, D and J/psi tables ("lumped") stand for the many unmeasured
# high-multiplicity modes that fill the inclusive rates.
_TABLES: dict[str, str] = {
    "Upsilon(4S)": "51.4 B+ B-; 48.6 B0 anti-B0",
    "B0": """
        2.31 D- l+ nu_l; 5.05 D*- l+ nu_l; 0.43 anti-D0 pi- l+ nu_l;
        0.48 anti-D*0 pi- l+ nu_l; 0.22 D- pi0 l+ nu_l; 0.25 D*- pi0 l+ nu_l;
        0.3 D- pi+ pi- l+ nu_l; 0.3 D*- pi+ pi- l+ nu_l; 0.015 pi- l+ nu_l;
        0.03 rho- l+ nu_l; 0.1 pi- pi0 l+ nu_l; 1.08 D- tau+ nu_tau;
        1.57 D*- tau+ nu_tau; 0.252 D- pi+; 0.76 D- rho+; 0.6 D- pi+ pi+ pi-;
        0.28 D- omega pi+; 0.274 D*- pi+; 0.68 D*- rho+; 0.72 D*- pi+ pi+ pi-;
        1.76 D*- pi+ pi+ pi- pi0; 0.246 D*- omega pi+; 0.026 anti-D0 pi0;
        0.022 anti-D*0 pi0; 0.088 anti-D0 pi+ pi-; 0.062 anti-D*0 pi+ pi-;
        0.72 D- D_s+; 0.8 D*- D_s+; 0.74 D- D_s*+; 1.77 D*- D_s*+; 0.107 D- D0 K+;
        0.35 D- D*0 K+; 0.247 D*- D0 K+; 1.06 D*- D*0 K+; 0.075 D- D+ K0;
        0.65 D*- D+ K0; 0.81 D*- D*+ K0; 0.087 J/psi K0; 0.127 J/psi K*0;
        0.115 J/psi K+ pi-; 1.0 anti-Lambda_c- p+ pi+ pi-; 0.5 anti-Lambda_c- p+ pi0;
        0.5 K+ pi- pi+ pi-; 0.4 K+ pi- pi0; 0.4 pi+ pi- pi+ pi- pi0;
        0.5 K0 pi+ pi- pi0; 0.6 pi+ pi- pi0 pi0; 0.6 K+ pi- pi0 pi0;
        1.0 D- D_s+ pi0; 1.0 D*- D*0 K0 pi+;
        8.0 D- pi+ pi+ pi- pi0; 5.0 D*- pi+ pi+ pi- pi0 pi0; 4.0 anti-D0 pi+ pi- pi0;
        4.0 anti-D*0 pi+ pi- pi0; 6.0 anti-D0 pi+ pi+ pi- pi- pi0;
        6.0 anti-D*0 pi+ pi+ pi- pi- pi0; 4.0 D- pi+ pi+ pi+ pi- pi-;
        4.0 D*- pi+ pi+ pi+ pi- pi-; 4.0 D- pi+ pi+ pi+ pi- pi- pi0;
        4.0 D- pi+ pi+ pi- pi0 pi0; 2.0 anti-D0 pi+ pi+ pi+ pi- pi- pi-;
        1.5 D- pi+ eta; 1.5 D*- pi+ eta; 1.0 D- pi+ pi0; 1.0 D*- pi+ pi0;
        1.0 anti-D0 pi0 pi0; 1.0 anti-D*0 pi0 pi0; 3.0 D*- pi+ pi+ pi+ pi- pi- pi0""",
    "B+": """
        2.35 anti-D0 l+ nu_l; 5.58 anti-D*0 l+ nu_l; 0.42 D- pi+ l+ nu_l;
        0.6 D*- pi+ l+ nu_l; 0.21 anti-D0 pi0 l+ nu_l; 0.3 anti-D*0 pi0 l+ nu_l;
        0.3 anti-D0 pi+ pi- l+ nu_l; 0.3 anti-D*0 pi+ pi- l+ nu_l; 0.008 pi0 l+ nu_l;
        0.016 rho0 l+ nu_l; 0.012 omega l+ nu_l; 0.1 pi+ pi- l+ nu_l;
        0.77 anti-D0 tau+ nu_tau; 1.88 anti-D*0 tau+ nu_tau; 0.468 anti-D0 pi+;
        1.34 anti-D0 rho+; 0.56 anti-D0 pi+ pi+ pi-; 0.49 anti-D*0 pi+;
        0.98 anti-D*0 rho+; 1.03 anti-D*0 pi+ pi+ pi-; 1.8 anti-D*0 pi+ pi+ pi- pi0;
        0.107 D- pi+ pi+; 0.135 D*- pi+ pi+; 0.41 anti-D0 omega pi+;
        0.45 anti-D*0 omega pi+; 0.036 anti-D0 K+; 0.9 anti-D0 D_s+;
        0.82 anti-D*0 D_s+; 0.76 anti-D0 D_s*+; 1.71 anti-D*0 D_s*+;
        0.145 anti-D0 D0 K+; 0.63 anti-D0 D*0 K+; 0.226 anti-D*0 D0 K+;
        1.12 anti-D*0 D*0 K+; 0.155 anti-D0 D+ K0; 0.38 anti-D*0 D+ K0;
        0.21 anti-D0 D*+ K0; 0.92 anti-D*0 D*+ K0; 0.102 J/psi K+; 0.143 J/psi K*+;
        0.081 J/psi K+ pi+ pi-; 0.8 anti-Lambda_c- p+ pi+;
        0.6 anti-Lambda_c- p+ pi+ pi0;
        0.5 K+ pi+ pi-; 0.4 K0 pi+ pi0; 0.4 pi+ pi+ pi- pi0; 0.5 K+ pi+ pi- pi0;
        0.6 pi+ pi0 pi0 pi0; 0.6 K0 pi+ pi+ pi-;
        1.0 anti-D0 D_s+ pi0; 1.0 anti-D*0 D*+ K0 pi0;
        8.0 anti-D0 pi+ pi+ pi- pi0; 5.0 anti-D*0 pi+ pi+ pi- pi0 pi0;
        2.0 D- pi+ pi+ pi0; 2.0 D*- pi+ pi+ pi0; 6.0 D- pi+ pi+ pi+ pi- pi0;
        6.0 D*- pi+ pi+ pi+ pi- pi0; 4.0 anti-D0 pi+ pi+ pi+ pi- pi-;
        4.0 anti-D*0 pi+ pi+ pi+ pi- pi-; 4.0 anti-D0 pi+ pi+ pi+ pi- pi- pi0;
        4.0 anti-D0 pi+ pi+ pi- pi0 pi0; 3.0 D- pi+ pi+ pi+ pi+ pi- pi-;
        1.5 anti-D0 pi+ eta; 1.5 anti-D*0 pi+ eta; 2.0 anti-D0 pi+ pi0;
        2.0 anti-D*0 pi+ pi0; 1.0 D- pi+ pi+ pi0 pi0; 1.0 D*- pi+ pi+ pi0 pi0""",
    "D*+": "67.7 D0 pi+; 30.7 D+ pi0; 1.6 D+ gamma",
    "D*0": "64.7 D0 pi0; 35.3 D0 gamma",
    "D_s*+": "93.5 D_s+ gamma; 5.8 D_s+ pi0",
    "D0": """
        3.55 K- e+ nu_e; 3.41 K- mu+ nu_mu; 2.15 K*- e+ nu_e; 1.89 K*- mu+ nu_mu;
        0.29 pi- e+ nu_e; 0.27 pi- mu+ nu_mu; 3.95 K- pi+; 14.4 K- pi+ pi0;
        8.2 K- pi+ pi+ pi-; 8.86 K- pi+ pi0 pi0; 4.3 K- pi+ pi+ pi- pi0;
        5.6 anti-K0 pi+ pi-; 2.4 anti-K0 pi0; 10.4 anti-K0 pi+ pi- pi0;
        1.8 anti-K0 pi0 pi0; 1.0 anti-K0 eta; 2.2 anti-K0 omega; 1.88 K- pi+ eta;
        0.41 K- K+; 0.145 pi+ pi-; 1.5 pi+ pi- pi0; 0.75 pi+ pi- pi+ pi-;
        0.08 pi0 pi0; 0.5 K- K+ pi0; 0.6 anti-K0 K+ K-; 5.0 K- pi+ pi0 pi0 pi0;
        6.0 anti-K0 pi+ pi- pi0 pi0; 2.0 anti-K0 pi+ pi+ pi- pi-;
        4.5 K- pi+ pi+ pi- pi0 pi0;
        2.0 anti-K0 pi0 pi0 pi0""",
    "D+": """
        8.72 anti-K0 e+ nu_e; 8.76 anti-K0 mu+ nu_mu; 5.4 anti-K*0 e+ nu_e;
        5.27 anti-K*0 mu+ nu_mu; 0.37 pi0 e+ nu_e; 0.35 pi0 mu+ nu_mu;
        0.11 eta e+ nu_e; 9.38 K- pi+ pi+; 6.25 K- pi+ pi+ pi0; 3.0 anti-K0 pi+;
        14.7 anti-K0 pi+ pi0; 6.2 anti-K0 pi+ pi+ pi-; 0.57 K- pi+ pi+ pi+ pi-;
        0.6 anti-K0 K+; 0.97 K+ K- pi+; 0.33 pi+ pi+ pi-; 0.12 pi+ pi0;
        0.47 pi+ pi0 pi0; 9.0 anti-K0 pi+ pi0 pi0; 7.0 K- pi+ pi+ pi0 pi0;
        6.0 anti-K0 pi+ pi+ pi- pi0; 2.0 anti-K0 pi+ pi+ pi- pi0 pi0;
        2.0 K- pi+ pi+ pi+ pi- pi0; 1.0 anti-K0 pi+ eta; 1.0 anti-K0 pi+ omega""",
    "D_s+": """
        4.5 phi pi+; 2.58 K+ anti-K*0; 2.95 K+ anti-K0; 1.68 eta pi+;
        3.94 eta' pi+; 0.19 omega pi+; 8.9 eta rho+; 5.8 eta' rho+; 5.6 phi rho+;
        2.39 phi e+ nu_e; 2.32 eta e+ nu_e; 0.8 eta' e+ nu_e; 0.34 K0 e+ nu_e;
        1.9 phi mu+ nu_mu; 2.4 eta mu+ nu_mu; 0.8 eta' mu+ nu_mu; 5.48 tau+ nu_tau;
        0.54 mu+ nu_mu; 1.08 pi+ pi+ pi-; 0.65 K+ pi+ pi-; 6.3 K+ K- pi+ pi0;
        1.9 K+ anti-K0 pi+ pi-; 2.8 omega pi+ pi0; 1.6 omega pi+ pi+ pi-;
        0.86 K+ K- pi+ pi+ pi-; 8.0 pi+ pi+ pi- pi0 pi0; 6.0 K+ anti-K0 pi0 pi0;
        6.0 eta pi+ pi+ pi-; 5.0 pi+ pi+ pi- pi0; 4.0 K0 pi+ pi0""",
    "Lambda_c+": """
        6.28 p+ K- pi+; 3.18 p+ anti-K0; 1.3 Lambda0 pi+; 7.1 Lambda0 pi+ pi0;
        3.6 Lambda0 pi+ pi+ pi-; 4.4 p+ K- pi+ pi0; 1.6 p+ anti-K0 pi+ pi-;
        1.97 p+ anti-K0 pi0; 1.29 Sigma0 pi+; 1.24 Sigma+ pi0; 4.5 Sigma+ pi+ pi-;
        3.6 n0 anti-K0 pi+; 3.56 Lambda0 e+ nu_e; 3.5 Lambda0 mu+ nu_mu;
        0.46 p+ pi+ pi-; 8.0 Lambda0 pi+ pi0 pi0; 10.0 p+ K- pi+ pi0 pi0;
        2.0 Lambda0 pi+ pi+ pi- pi0; 2.0 p+ pi+ pi- pi0;
        8.0 Sigma0 pi+ pi0; 8.0 Sigma+ pi+ pi- pi0; 8.0 n0 anti-K0 pi+ pi0;
        6.0 p+ anti-K0 pi+ pi- pi0""",
    "J/psi": """
        5.97 e+ e-; 5.96 mu+ mu-; 0.565 rho+ pi-; 0.565 rho- pi+; 0.56 rho0 pi0;
        4.1 pi+ pi- pi+ pi- pi0; 2.9 pi+ pi- pi+ pi- pi+ pi- pi0; 0.86 omega pi+ pi-;
        0.85 omega pi+ pi+ pi- pi-; 2.0 K+ K- pi+ pi- pi0; 0.6 p+ anti-p- pi+ pi-;
        0.21 p+ anti-p-; 0.5 gamma eta'; 0.11 gamma eta; 15.0 pi+ pi- pi0 pi0;
        20.0 pi+ pi- pi+ pi- pi0 pi0; 12.0 pi+ pi- pi0 pi0 pi0; 8.0 K+ K- pi+ pi-;
        5.0 K+ K- pi0 pi0; 6.0 K+ anti-K0 pi- pi0; 6.0 K- K0 pi+ pi0;
        3.5 pi+ pi- pi+ pi- pi0 pi0 pi0""",
    "tau-": """
        17.82 e- anti-nu_e nu_tau; 17.39 mu- anti-nu_mu nu_tau; 10.82 pi- nu_tau;
        25.49 rho- nu_tau; 9.26 pi- pi0 pi0 nu_tau; 8.99 pi- pi+ pi- nu_tau;
        4.5 pi- pi+ pi- pi0 nu_tau; 0.7 K- nu_tau; 1.04 pi- pi0 pi0 pi0 nu_tau;
        0.43 K- pi0 nu_tau; 0.84 anti-K0 pi- nu_tau; 0.29 K- pi+ pi- nu_tau;
        0.15 K- K0 nu_tau; 0.14 K- K+ pi- nu_tau; 1.95 pi- omega nu_tau;
        0.5 pi- pi+ pi- pi0 pi0 nu_tau""",
    "pi0": "98.823 gamma gamma; 1.174 e+ e- gamma",
    "eta": "39.41 gamma gamma; 32.68 pi0 pi0 pi0; 22.92 pi+ pi- pi0; 4.22 pi+ pi- gamma; 0.69 e+ e- gamma",  # noqa: E501
    "eta'": "42.5 pi+ pi- eta; 29.5 rho0 gamma; 22.4 pi0 pi0 eta; 2.52 omega gamma; 2.22 gamma gamma",  # noqa: E501
    "omega": "89.2 pi+ pi- pi0; 8.4 pi0 gamma; 1.53 pi+ pi-",
    "phi": "49.1 K+ K-; 33.9 K_L0 K_S0; 15.2 pi+ pi- pi0; 1.3 eta gamma",
    "rho0": "100 pi+ pi-",
    "rho+": "100 pi+ pi0",
    "K*0": "66.7 K+ pi-; 33.3 K0 pi0",
    "K*+": "66.7 K0 pi+; 33.3 K+ pi0",
    "K_S0": "69.2 pi+ pi-; 30.69 pi0 pi0",
    "Lambda0": "64.1 p+ pi-; 35.9 n0 pi0",
    "Sigma0": "100 Lambda0 gamma",
    "Sigma+": "51.57 p+ pi0; 48.31 n0 pi+",
}


def _parse(spec: str) -> list[DecayChannel]:
    """Channels of ``"bf% daughters; ..."`` with the lepton and K0 shorthands."""
    out = []
    for item in spec.split(";"):
        bf_text, *names = item.split()
        variants = [names]
        if "l+" in names:
            variants = [
                [{"l+": lep, "nu_l": nu}.get(n, n) for n in names]
                for lep, nu in (("e+", "nu_e"), ("mu+", "nu_mu"))
            ]
        for variant in variants:
            out.extend(_split_k0(float(bf_text) / 100.0, [code(n) for n in variant]))
    return out


def _split_k0(bf: float, codes: list[int]) -> list[DecayChannel]:
    """K0/anti-K0 daughters as K_S0 or K_L0, half of ``bf`` each (recursively)."""
    for i, c in enumerate(codes):
        if abs(c) == 311:
            return [
                ch
                for k in (310, 130)
                for ch in _split_k0(bf / 2.0, [*codes[:i], k, *codes[i + 1 :]])
            ]
    return [DecayChannel(bf, tuple(codes))]


def _conjugate(channels: Sequence[DecayChannel]) -> tuple[DecayChannel, ...]:
    return tuple(
        DecayChannel(c.bf, tuple(pdg.conjugate(d) for d in c.daughters))
        for c in channels
    )


def _build() -> dict[int, tuple[DecayChannel, ...]]:
    table: dict[int, tuple[DecayChannel, ...]] = {}
    for name, spec in _TABLES.items():
        parent = code(name)
        channels = _parse(spec)
        if pdg.data(parent).self_conjugate:
            # a self-conjugate parent decays to each final state and its conjugate
            # equally: split any channel whose conjugate is not listed
            listed = {c.daughters for c in channels}
            symmetric = []
            for c in channels:
                conj = _conjugate([c])[0]
                if (
                    sorted(conj.daughters) == sorted(c.daughters)
                    or conj.daughters in listed
                ):
                    symmetric.append(c)
                else:
                    symmetric += [
                        DecayChannel(c.bf / 2, c.daughters),
                        DecayChannel(c.bf / 2, conj.daughters),
                    ]
            table[parent] = tuple(symmetric)
        else:
            table[parent] = tuple(channels)
            table[-parent] = _conjugate(channels)
    return table


#: channels of every particle the generator decays, antiparticles included
DECAYS: dict[int, tuple[DecayChannel, ...]] = _build()


@functools.cache
def mean_charged(code: int) -> float:
    """Mean number of charged stable particles a particle ends up as (by the tables).

    Examples
    --------
    >>> mean_charged(211), round(mean_charged(310), 3)
    (1.0, 1.4)
    """
    if code in STABLE:
        return float(pdg.charge(code) != 0)
    channels = DECAYS[code]
    total = sum(c.bf for c in channels)
    return (
        sum(c.bf * sum(mean_charged(d) for d in c.daughters) for c in channels) / total
    )


# ---------------------------------------------------------------- particle lists
@dataclass(frozen=True, slots=True)
class Particles:
    """A flat, component-first list of the particles of many events.

    Rows are grouped by generation (``generations`` holds each one's first row and
    the total), and within a generation sorted by ``event``. ``mother`` and the
    inclusive, contiguous ``first_daughter``/``last_daughter`` are row numbers in
    this list, -1 when none; ``forced`` indexes the :class:`ForcedDecay` list given
    to :func:`decay_all`, -1 for a generic decay.
    """

    event: IntArray
    pdg: NDArray[np.int32]
    #: (4, n) lab four-momenta px, py, pz, E (GeV)
    p4: FloatArray
    #: (3, n) production vertices (cm)
    vertex: FloatArray
    #: (n,) masses (GeV): nominal, or Breit-Wigner for broad resonances
    mass: FloatArray
    mother: IntArray
    first_daughter: IntArray
    last_daughter: IntArray
    forced: NDArray[np.int32]
    generations: tuple[int, ...] = field(default=())

    @classmethod
    def primaries(
        cls,
        event: IntArray,
        pdg_codes: NDArray[np.int32],
        p4: FloatArray,
        vertex: FloatArray,
        mass: FloatArray | None = None,
        forced: NDArray[np.int32] | None = None,
    ) -> Particles:
        """Primary particles (no mother, not decayed yet), ``event`` non-decreasing.

        ``mass`` defaults to the nominal masses.
        """
        n = event.size
        none = np.full(n, -1, dtype=np.int64)
        return cls(
            event=event.astype(np.int64),
            pdg=pdg_codes.astype(np.int32),
            p4=p4,
            vertex=vertex,
            mass=pdg.masses(pdg_codes) if mass is None else mass,
            mother=none,
            first_daughter=none,
            last_daughter=none,
            forced=np.full(n, -1, np.int32) if forced is None else forced,
            generations=(0, n),
        )

    def __len__(self) -> int:
        return int(self.event.size)


@dataclass(frozen=True, slots=True)
class _Table:
    """The channels as arrays: generic ones sorted by species, then forced ones."""

    daughters: NDArray[np.int32]  # (C, K) PDG codes, 0-padded
    species: NDArray[np.intp]  # (C, K) species indices of the daughters
    n_daughters: NDArray[np.intp]  # (C,)
    child: NDArray[np.int32]  # (C, K) forced channel of each daughter, -1 generic
    key: FloatArray  # (generic C,) species + cumulative probability
    last: NDArray[np.intp]  # (S,) last generic channel of each species
    unstable: NDArray[np.bool_]  # (S,) decayed generically
    roots: NDArray[np.int32]  # channel of each forced chain
    parent: NDArray[np.intp]  # (C,) species of the parent
    fixed: NDArray[np.bool_]  # (C,) parent and daughters all of fixed mass
    #: (C,) phase-space weight bound of fixed-mass channels, filled on first use
    bound: FloatArray


@functools.cache
def _species_columns() -> tuple[NDArray[np.bool_], FloatArray, FloatArray, FloatArray]:
    """Per species: broad?, Breit-Wigner range (low, high), and the lightest mass."""
    broad = (pdg.WIDTH > BROAD_WIDTH) & np.array([c in DECAYS for c in pdg.CODES])
    low = np.where(broad, pdg.MASS - BW_CUT * pdg.WIDTH, pdg.MASS)
    high = np.where(broad, pdg.MASS + BW_CUT * pdg.WIDTH, pdg.MASS)
    for _ in range(4):  # thresholds of resonances decaying to resonances settle fast
        for i in np.flatnonzero(broad):
            thresholds = [
                sum(low[pdg.CODES.index(d)] for d in c.daughters)
                for c in DECAYS[pdg.CODES[i]]
            ]
            low[i] = max(pdg.MASS[i] - BW_CUT * pdg.WIDTH[i], max(thresholds) + 1e-4)
    return broad, low, high, np.where(broad, low, pdg.MASS)


@functools.lru_cache(maxsize=64)
def _table(forced: tuple[ForcedDecay, ...]) -> _Table:
    rows: list[tuple[int, float, tuple[int, ...]]] = [
        (int(pdg.species(p)), c.bf, c.daughters)
        for p, channels in DECAYS.items()
        for c in channels
    ]
    rows.sort(key=lambda r: r[0])
    n_generic = len(rows)
    children: list[list[int]] = [[-1] * len(r[2]) for r in rows]
    roots = []

    def add(chain: ForcedDecay) -> int:
        index = len(rows)
        rows.append((int(pdg.species(chain.parent)), 0.0, chain.codes))
        children.append([-1] * len(chain.daughters))
        for j, d in enumerate(chain.daughters):
            if isinstance(d, ForcedDecay):
                children[index][j] = add(d)
        return index

    for chain in forced:
        roots.append(add(chain))
    k = max(len(r[2]) for r in rows)
    daughters = np.zeros((len(rows), k), dtype=np.int32)
    child = np.full((len(rows), k), -1, dtype=np.int32)
    for i, (_, _, codes) in enumerate(rows):
        daughters[i, : len(codes)] = codes
        child[i, : len(codes)] = children[i]
    parent = np.array([r[0] for r in rows], dtype=np.intp)
    bf = np.array([r[1] for r in rows[:n_generic]])
    # cumulative probability within each species, offset by the species index
    totals = np.bincount(parent[:n_generic], weights=bf, minlength=len(pdg.CODES))
    species = parent[:n_generic]
    cum = np.cumsum(bf) - (np.cumsum(totals) - totals)[species]
    key = species + cum / totals[species]
    last = np.full(len(pdg.CODES), -1, dtype=np.intp)
    last[species] = np.arange(n_generic)
    key[last[last >= 0]] = species[last[last >= 0]] + 1.0
    species = pdg.species(np.where(daughters != 0, daughters, 22))
    n_daughters = (daughters != 0).sum(axis=1)
    broad = _species_columns()[0]
    return _Table(
        daughters=daughters,
        species=species,
        n_daughters=n_daughters,
        child=child,
        key=key,
        last=last,
        unstable=last >= 0,
        roots=np.array(roots, dtype=np.int32),
        parent=parent,
        fixed=~broad[parent] & ~broad[species].any(axis=1) & (n_daughters >= 3),
        bound=np.full(len(rows), np.nan),
    )


def decay_all(
    particles: Particles,
    rng: np.random.Generator,
    forced: Sequence[ForcedDecay] = (),
) -> Particles:
    """Decay every unstable particle, and their daughters, down to stable ones.

    Parameters
    ----------
    particles
        Undecayed particles, e.g. from :meth:`Particles.primaries`; their ``forced``
        column selects a chain of ``forced`` (or -1).
    rng
        The random generator; the same state gives bit-identical output.
    forced
        Decay chains forced on the particles whose ``forced`` column points at them.

    Returns
    -------
    Particles
        The input rows first, then each generation of daughters. A decayed parent's
        four-momentum is the sum of its daughters'; a daughter is produced where its
        parent decays, ``beta*gamma*ctau*Exp(1)`` from the parent's production.
    """
    gens = decay_generations(particles, rng, forced)
    return _concatenate(gens)


def decay_generations(
    particles: Particles,
    rng: np.random.Generator,
    forced: Sequence[ForcedDecay] = (),
    *,
    max_generations: int = 20,
) -> list[Particles]:
    """:func:`decay_all`, one :class:`Particles` per generation (not concatenated).

    Row numbers in ``mother``/``first_daughter``/``last_daughter`` count through
    the generations as if they were concatenated.
    """
    table = _table(tuple(forced))
    broad, bw_low, bw_high, min_mass = _species_columns()
    gens = [particles]
    channel = np.full(len(particles), -1, dtype=np.int32)
    if len(forced):
        chosen = particles.forced >= 0
        channel[chosen] = table.roots[particles.forced[chosen]]
    offset = 0
    for _ in range(max_generations):
        cur = gens[-1]
        species = pdg.species(cur.pdg)
        decays = table.unstable[species] | (channel >= 0)
        parents = np.flatnonzero(decays)
        if parents.size == 0:
            break
        sp = species[parents]
        ch = channel[parents].astype(np.intp)
        generic = ch < 0
        if generic.any():
            u = rng.random(int(generic.sum()))
            g_sp = sp[generic]
            pick = np.searchsorted(table.key, g_sp + u, side="right")
            ch[generic] = np.minimum(pick, table.last[g_sp])
        n_dau = table.n_daughters[ch]
        starts = np.cumsum(n_dau) - n_dau
        total = int(n_dau.sum())
        next_start = offset + len(cur)
        first = np.full(len(cur), -1, dtype=np.int64)
        first[parents] = next_start + starts
        last = np.full(len(cur), -1, dtype=np.int64)
        last[parents] = next_start + starts + n_dau - 1
        gens[-1] = dataclasses.replace(cur, first_daughter=first, last_daughter=last)
        # daughter rows: parent (position in `parents`) and slot in the channel
        owner = np.repeat(np.arange(parents.size), n_dau)
        flat = ch[owner] * table.daughters.shape[1] + np.arange(total) - starts[owner]
        d_pdg = table.daughters.ravel()[flat]
        d_channel = table.child.ravel()[flat]
        # long-lived parents decay at production + p/m * ctau * Exp(1); for the
        # others the distance is far below float32 resolution
        decay_vertex = cur.vertex[:, parents]
        long = np.flatnonzero(pdg.CTAU[sp] > LONG_LIVED)
        if long.size:
            flight = pdg.CTAU[sp[long]] / cur.mass[parents[long]]
            flight *= rng.standard_exponential(long.size)
            decay_vertex[:, long] += cur.p4[:3, parents[long]] * flight
        d_p4 = np.empty((4, total))
        d_mass = np.empty(total)
        for k in np.unique(n_dau):
            sel = np.flatnonzero(n_dau == k)
            chk = ch[sel]
            d_sp = table.species[chk, :k].T  # (k, n)
            masses = _daughter_masses(
                d_sp, cur.mass[parents[sel]], rng, broad, bw_low, bw_high, min_mass
            )
            where = (starts[sel] + np.arange(k)[:, None]).ravel()  # (k * n)
            out = decay_t(
                cur.p4[:, parents[sel]], masses, rng, cur.mass[parents[sel]],
                _channel_bounds(table, chk) if k > 2 else None,
            )  # fmt: skip
            for c in range(4):
                d_p4[c, where] = out[c].ravel()
            d_mass[where] = masses.ravel()
        none = np.full(total, -1, dtype=np.int64)
        gens.append(
            Particles(
                event=cur.event[parents[owner]],
                pdg=d_pdg,
                p4=d_p4,
                vertex=decay_vertex[:, owner],
                mass=d_mass,
                mother=offset + parents[owner],
                first_daughter=none,
                last_daughter=none,
                forced=none.astype(np.int32),
            )
        )
        offset = next_start
        channel = d_channel
    else:
        raise RuntimeError(f"decay chains longer than {max_generations} generations")
    return gens


def _channel_bounds(table: _Table, channels: NDArray[np.intp]) -> FloatArray:
    """Phase-space weight bounds of fixed-mass channels (NaN for the others)."""
    bound = table.bound[channels]
    missing = table.fixed[channels] & np.isnan(bound)
    if missing.any():
        for c in np.unique(channels[missing]):
            d = table.species[c, : table.n_daughters[c]]
            masses = tuple(float(x) for x in pdg.MASS[d])
            table.bound[c] = max_weight(float(pdg.MASS[table.parent[c]]), masses)
        bound = table.bound[channels]
    return bound


def _concatenate(gens: list[Particles]) -> Particles:
    sizes = [len(g) for g in gens]
    return Particles(
        event=np.concatenate([g.event for g in gens]),
        pdg=np.concatenate([g.pdg for g in gens]),
        p4=np.concatenate([g.p4 for g in gens], axis=1),
        vertex=np.concatenate([g.vertex for g in gens], axis=1),
        mass=np.concatenate([g.mass for g in gens]),
        mother=np.concatenate([g.mother for g in gens]),
        first_daughter=np.concatenate([g.first_daughter for g in gens]),
        last_daughter=np.concatenate([g.last_daughter for g in gens]),
        forced=np.concatenate([g.forced for g in gens]),
        generations=tuple(int(x) for x in np.cumsum([0, *sizes])),
    )


def breit_wigner(
    species: NDArray[np.intp],
    low: FloatArray,
    high: FloatArray,
    rng: np.random.Generator,
) -> FloatArray:
    """Relativistic Breit-Wigner masses of ``species`` truncated to [low, high].

    Sampled exactly by inverting the cumulative distribution in m²; fixed widths.
    """
    m0 = pdg.MASS[species]
    mg = m0 * pdg.WIDTH[species]
    lo = np.arctan((low * low - m0 * m0) / mg)
    hi = np.arctan((np.maximum(high, low) ** 2 - m0 * m0) / mg)
    m2 = m0 * m0 + mg * np.tan(lo + (hi - lo) * rng.random(species.size))
    masses: FloatArray = np.sqrt(np.clip(m2, low * low, high * high))
    return masses


def _daughter_masses(
    d_sp: NDArray[np.intp],
    parent_mass: FloatArray,
    rng: np.random.Generator,
    broad: NDArray[np.bool_],
    bw_low: FloatArray,
    bw_high: FloatArray,
    min_mass: FloatArray,
) -> FloatArray:
    """``(k, n)`` daughter masses: nominal, or Breit-Wigner for broad resonances.

    Broad daughters are sampled one after the other, each truncated so that the
    ones still to come fit in at their lightest.
    """
    masses = pdg.MASS[d_sp]
    is_broad = broad[d_sp]
    if not is_broad.any():
        return masses
    lightest = min_mass[d_sp]
    room = parent_mass - lightest.sum(axis=0)  # what is left above the lightest
    for j in np.flatnonzero(is_broad.any(axis=1)):
        rows = np.flatnonzero(is_broad[j])
        sp = d_sp[j, rows]
        upper = np.minimum(bw_high[sp], lightest[j, rows] + room[rows])
        masses[j, rows] = breit_wigner(sp, bw_low[sp], upper, rng)
        room[rows] -= masses[j, rows] - lightest[j, rows]
    return masses


def resonance_masses(codes: NDArray[np.int32], rng: np.random.Generator) -> FloatArray:
    """Masses of newly made particles: nominal, or Breit-Wigner for broad resonances.

    The Breit-Wigner is truncated to ±5 widths and above the heaviest threshold.
    """
    sp = pdg.species(codes)
    broad, low, high, _ = _species_columns()
    masses = pdg.MASS[sp]
    is_broad = broad[sp]
    if is_broad.any():
        b = sp[is_broad]
        masses[is_broad] = breit_wigner(b, low[b], high[b], rng)
    return masses


def neutral_kaons(
    codes: NDArray[np.int32], rng: np.random.Generator
) -> NDArray[np.int32]:
    """``codes`` with each K0/anti-K0 replaced by K_S0 or K_L0 (equal odds)."""
    k0 = np.abs(codes) == 311
    out = codes.copy()
    out[k0] = np.where(rng.random(int(k0.sum())) < 0.5, 310, 130)
    return out
