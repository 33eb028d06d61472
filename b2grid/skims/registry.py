"""The skim registry: 8-digit codes, names, working groups and selections.

A skim code reads ``WW`` (the working group, PHYSICS.md: 10 systematics, 11
semileptonic/FEI, 12 EWP, 13 TDCPV, 14 B -> charm, 15/16 quarkonium, 17 charm,
18 dark/tau/low multiplicity, 19 charmless) then six digits of the group's own.
Codes and names of the physics skims are the Belle II ones; the general skims
(hadron, HadronB1/B2, mumu, bhabha, tau: HLT skims, which Belle II names rather than
numbers) take b2grid's own codes ``000001xx``-``000005xx``.

:func:`get` finds a skim by name or code (:class:`~b2grid.errors.UnknownSkim` with
near misses otherwise); :func:`encode` and :func:`decode` convert between the two.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from b2grid.analysis import Analysis
from b2grid.errors import UnknownSkim
from b2grid.skims import definitions as d

#: a skim's selection: builds its lists on the batch, returns the names it saves
Selection = Callable[[Analysis], Sequence[str]]

#: working groups by the code's first two digits: (key, title)
WORKING_GROUPS: MappingProxyType[str, tuple[str, str]] = MappingProxyType(
    {
        "00": ("general", "General (HLT) skims"),
        "10": ("systematics", "Systematics"),
        "11": ("semileptonic", "Semileptonic and missing energy (FEI)"),
        "12": ("ewp", "Electroweak penguins"),
        "13": ("tdcpv", "Time-dependent CP violation"),
        "14": ("btocharm", "B -> charm"),
        "15": ("quarkonium", "Quarkonium"),
        "16": ("quarkonium", "Quarkonium"),
        "17": ("charm", "Charm"),
        "18": ("dark", "Dark sector, tau and low multiplicity"),
        "19": ("charmless", "Charmless B decays"),
    }
)

#: the SoftwareTriggerResult line each general skim is, by general-skim name
GENERAL_LINES: MappingProxyType[str, str] = MappingProxyType(
    {
        "hadron": "hadron",
        "HadronB1": "hadronb1",
        "HadronB2": "hadronb2",
        "mumu": "mumu_2trk",
        "bhabha": "bhabha",
        "tau": "tau_tau",
    }
)


@dataclass(frozen=True, slots=True)
class Skim:
    """One registered skim (see the module docstring for the code's layout)."""

    #: the 8-digit skim code, e.g. ``14140101``
    code: str
    #: the skim name, e.g. ``BtoD0h_Kpi``
    name: str
    description: str
    #: who answers for it (a role, not a person)
    contact: str
    #: the general skim whose events it runs on (``hadron``), "" for every event
    general: str = ""
    #: the lists the selection saves (empty for a general skim)
    lists: tuple[str, ...] = ()
    #: the selection; None for a general skim (its HLT line decides alone)
    build: Selection | None = field(default=None, repr=False, compare=False)

    @property
    def working_group(self) -> str:
        """The working group's key (``btocharm``), from the code's prefix."""
        return WORKING_GROUPS[self.code[:2]][0]

    @property
    def working_group_title(self) -> str:
        return WORKING_GROUPS[self.code[:2]][1]

    @property
    def is_general(self) -> bool:
        return self.build is None

    @property
    def hlt_line(self) -> str:
        """The SoftwareTriggerResult line that gates this skim ("" for none)."""
        if self.is_general:
            return GENERAL_LINES[self.name]
        return GENERAL_LINES[self.general] if self.general else ""

    @property
    def udst_name(self) -> str:
        """The file a skim job writes: ``<code>.udst.root``."""
        return f"{self.code}.udst.root"


def _liaison(wg: str) -> str:
    return f"Skim liaison, {wg} WG"


def _general(code: str, name: str, description: str) -> Skim:
    return Skim(code, name, description, "Data production, HLT skim coordinator")


_ALL: tuple[Skim, ...] = (
    _general("00000100", "hadron", "HLT hadron line: >= 3 good tracks, not Bhabha"),
    _general(
        "00000201",
        "HadronB1",
        "HLT HadronB1: HadronB event cuts and Fox-Wolfram R2 < 0.4",
    ),
    _general("00000202", "HadronB2", "HLT HadronB2: HadronB event cuts, >= 5 tracks"),
    _general("00000300", "mumu", "HLT mumu_2trk: two hard tracks, no electron"),
    _general("00000400", "bhabha", "HLT Bhabha2Trk (prescaled as the HLT keeps it)"),
    _general("00000500", "tau", "HLT tau_tau: >= 2 tracks, p*1 < 5, Etot, Evis < 9"),
    Skim(
        "10601300",
        "SystematicsCombinedHadronic",
        "D*+ -> D0 pi+, D0 -> K- pi+ without kaon ID: PID/tracking control sample",
        _liaison("Systematics"),
        "hadron",
        ("D*+:SysHad",),
        d.systematics_combined_hadronic,
    ),
    Skim(
        "11160200",
        "SLUntagged",
        "B -> D(*) l nu untagged: D0/D+/D*+ with a lepton of p* > 1 GeV",
        _liaison("Semileptonic"),
        "hadron",
        tuple(
            f"{m}:SL{lab}{lep}"
            for lep in ("e", "mu")
            for m, lab in (("B+", "D0"), ("B0", "D"), ("B0", "Dst"))
        ),
        d.sl_untagged,
    ),
    Skim(
        "12160200",
        "BtoXll",
        "B -> K l+ l- and B0 -> K_S0 l+ l- (l = e, mu)",
        _liaison("EWP"),
        "hadron",
        ("B+:XllKe", "B0:XllKse", "B+:XllKmu", "B0:XllKsmu"),
        d.btoxll,
    ),
    Skim(
        "13110100",
        "TDCPV_inclusiveJpsi",
        "Inclusive J/psi -> e+e-, mu+mu- with p*(J/psi) < 2 GeV, tight lepton ID",
        _liaison("TDCPV"),
        "hadron",
        ("J/psi:TDCPVee", "J/psi:TDCPVmumu"),
        d.tdcpv_inclusive_jpsi,
    ),
    Skim(
        "14120600",
        "B0toDpi_Kpipi",
        "B0 -> D- pi+, D- -> K+ pi- pi-",
        _liaison("B->charm"),
        "hadron",
        ("B0:B0toDpi_Kpipi",),
        d.b0todpi_kpipi,
    ),
    Skim(
        "14120700",
        "B0toDstarPi_D0pi_Kpi",
        "B0 -> D*- pi+, D*- -> anti-D0 pi-, anti-D0 -> K+ pi-",
        _liaison("B->charm"),
        "hadron",
        ("B0:B0toDstarPi_Kpi",),
        d.b0todstarpi_d0pi_kpi,
    ),
    Skim(
        "14140101",
        "BtoD0h_Kpi",
        "B+ -> anti-D0 h+ (h = pi, K), anti-D0 -> K+ pi-",
        _liaison("B->charm"),
        "hadron",
        ("B+:BtoD0pi_Kpi", "B+:BtoD0K_Kpi"),
        d.btod0h_kpi,
    ),
    Skim(
        "16460200",
        "CharmoniumPsi",
        "J/psi, psi(2S) -> e+e-, mu+mu- inclusive, loose lepton ID",
        _liaison("Quarkonium"),
        "",
        ("J/psi:ee", "J/psi:mumu"),
        d.charmonium_psi,
    ),
    Skim(
        "17240100",
        "DstToD0Pi_D0ToHpJm",
        "D*+ -> D0 pi+, D0 -> K- pi+, pi+ pi-, K+ K-, p*(D*) > 2.5 GeV",
        _liaison("Charm"),
        "hadron",
        ("D*+:HpJm_Kpi", "D*+:HpJm_pipi", "D*+:HpJm_KK"),
        d.dst_to_d0pi_d0_to_hpjm,
    ),
    Skim(
        "18520500",
        "LowMassTwoTrack",
        "e+e- -> gamma_ISR h+ h-: two tracks, a photon of E* > 2 GeV, M(hh) < 3.5",
        _liaison("Low multiplicity"),
        "",
        ("Upsilon(4S):LowMassTwoTrack",),
        d.low_mass_two_track,
    ),
    Skim(
        "18570600",
        "TauGeneric",
        "tau pairs: 2-6 good tracks, two-jet topology, missing energy",
        _liaison("Tau"),
        "",
        ("pi+:TauGeneric",),
        d.tau_generic,
    ),
    Skim(
        "19130100",
        "CharmlessHad2Body",
        "B0 -> h+ h- (K pi, pi pi, K K) with continuum suppression R2 < 0.5",
        _liaison("Charmless"),
        "hadron",
        ("B0:Charmless2Body_Kpi", "B0:Charmless2Body_pipi", "B0:Charmless2Body_KK"),
        d.charmless_had_2body,
    ),
)

#: every registered skim by code, in code order
SKIMS: MappingProxyType[str, Skim] = MappingProxyType(
    {s.code: s for s in sorted(_ALL, key=lambda s: s.code)}
)
_BY_NAME: dict[str, Skim] = {s.name: s for s in _ALL}


def _check_registry() -> None:
    for s in _ALL:
        assert len(s.code) == 8, s.code
        assert s.code.isdigit(), s.code
        assert s.code[:2] in WORKING_GROUPS, s.code
        assert s.general == "" or s.general in GENERAL_LINES, s.general
    assert len(SKIMS) == len(_BY_NAME) == len(_ALL), "codes and names are unique"


_check_registry()


def names() -> tuple[str, ...]:
    """Every registered skim name, in code order."""
    return tuple(s.name for s in SKIMS.values())


def get(code_or_name: str | Skim) -> Skim:
    """The skim with this 8-digit code or name.

    Raises :class:`~b2grid.errors.UnknownSkim` with near misses otherwise.

    Examples
    --------
    >>> get("14140101").name, get("BtoD0h_Kpi").code
    ('BtoD0h_Kpi', '14140101')
    >>> get("BtoD0h_kpi")
    Traceback (most recent call last):
    ...
    b2grid.errors.UnknownSkim: unknown skim 'BtoD0h_kpi' (did you mean ...
    """
    if isinstance(code_or_name, Skim):
        return code_or_name
    key = str(code_or_name).strip()
    found = SKIMS.get(key) or _BY_NAME.get(key)
    if found is None:
        raise UnknownSkim(key, [*_BY_NAME, *SKIMS])
    return found


def resolve(skims: Iterable[str | Skim]) -> list[Skim]:
    """The skims named (codes or names), in the order given, without repeats."""
    out: dict[str, Skim] = {}
    for s in skims:
        skim = get(s)
        out.setdefault(skim.code, skim)
    return list(out.values())


def encode(name: str) -> str:
    """The 8-digit code of skim ``name``.

    Examples
    --------
    >>> encode("TauGeneric")
    '18570600'
    """
    skim = _BY_NAME.get(name.strip())
    if skim is None:
        raise UnknownSkim(name, _BY_NAME)
    return skim.code


def decode(code: str) -> str:
    """The name of the skim with 8-digit ``code``.

    Examples
    --------
    >>> decode("16460200")
    'CharmoniumPsi'
    """
    skim = SKIMS.get(str(code).strip())
    if skim is None:
        raise UnknownSkim(str(code), SKIMS)
    return skim.name


def by_working_group(wg: str | None = None) -> list[Skim]:
    """The skims of working group ``wg`` (its key, e.g. ``charm``, or a word of
    its title, e.g. ``tau``); every skim for None."""
    if wg is None:
        return list(SKIMS.values())
    want = wg.strip().lower()
    out = [s for s in SKIMS.values() if want in (s.working_group, s.code[:2])]
    if not out:  # a word of a group's title: "tau", "semileptonic"
        out = [
            s
            for s in SKIMS.values()
            if want in s.working_group_title.lower().replace(",", " ").split()
        ]
    if not out:
        keys = sorted({k for k, _ in WORKING_GROUPS.values()})
        raise UnknownSkim(f"working group {wg}", keys)
    return out


__all__ = [
    "GENERAL_LINES",
    "SKIMS",
    "WORKING_GROUPS",
    "Selection",
    "Skim",
    "by_working_group",
    "decode",
    "encode",
    "get",
    "names",
    "resolve",
]
