"""The skims' selections: one small function per skim, written with the toolkit.

Each function takes the batch's :class:`~b2grid.analysis.Analysis`, builds its
particle lists with cut strings and decay strings, and returns the names of the
lists the skim saves; an event passes when one of them has a candidate (and the
general skim the skim runs on accepted it, see :mod:`b2grid.skims.registry`).

Lists a skim builds carry the skim's own label, so skims never see each other's
cuts. Lists several skims share (the ``SHARED`` table, basf2's standard lists) are
filled once per batch by :func:`shared` and reused: that is what makes a combined
pass cheaper than separate passes, and it cannot change a skim's result, since a
shared list has one definition whoever fills it first.

The selections follow the real Belle II skims (basf2 ``skim`` package) as far as
the toy's objects allow (PHYSICS.md); where they differ the docstring says how.
"""

from __future__ import annotations

from b2grid.analysis import Analysis
from b2grid.analysis.decay import parse_decay, parse_list_name
from b2grid.analysis.particles import ParticleList
from b2grid.skims import eventvars  # noqa: F401 - registers the event variables

#: track quality of the B -> charm skims (PHYSICS.md)
_BTOCHARM_TRACK = "abs(dr) < 2 and abs(dz) < 5"
#: lepton track quality (basf2's ``dr < 0.5 and abs(dz) < 2`` in the CDC)
_LEPTON_TRACK = "abs(dr) < 0.5 and abs(dz) < 2 and thetaInCDCAcceptance"

#: lists shared between skims, by name: one definition each, filled once per batch
SHARED: dict[str, str] = {
    "pi+:btocharm": _BTOCHARM_TRACK,
    "K+:btocharm": _BTOCHARM_TRACK,
    "pi+:slow": "abs(dr) < 2 and abs(dz) < 4",
    "e+:loose": f"{_LEPTON_TRACK} and electronID > 0.1",
    "mu+:loose": f"{_LEPTON_TRACK} and muonID > 0.1",
    "e+:tight": f"{_LEPTON_TRACK} and electronID > 0.5",
    "mu+:tight": f"{_LEPTON_TRACK} and muonID > 0.5",
}
#: composite lists shared between skims: (decay, cut), filled after their daughters
SHARED_DECAYS: dict[str, tuple[str, str]] = {
    "D0:Kpi": ("D0:Kpi -> K-:btocharm pi+:btocharm", "1.7 < M < 2.0"),
    "D+:Kpipi": ("D+:Kpipi -> K-:loose pi+:loose pi+:loose", "1.82 < M < 1.92"),
    "J/psi:ee": ("J/psi:ee -> e+:loose e-:loose", "2.7 < M < 4.1"),
    "J/psi:mumu": ("J/psi:mumu -> mu+:loose mu-:loose", "2.7 < M < 4.1"),
}


def shared(ana: Analysis, name: str) -> ParticleList:
    """The shared list ``name`` of this batch, filled on first use."""
    if name in ana:
        found = ana[name]
        if found.origin == _origin(name):
            return found
    if name in SHARED_DECAYS:
        decay, cut = SHARED_DECAYS[name]
        for d in parse_decay(decay).daughters:
            inner = _SHARED_BY_KEY.get(d.key)
            if inner is not None:
                shared(ana, inner)
        return ana.reconstruct_decay(decay, cut)
    return ana.fill_particle_list(name, SHARED[name])


def _origin(name: str) -> str:
    """What ``ParticleList.origin`` of a freshly filled shared list reads."""
    if name in SHARED_DECAYS:
        return str(parse_decay(SHARED_DECAYS[name][0]))
    return SHARED[name]


_SHARED_BY_KEY = {parse_list_name(n).key: n for n in (*SHARED, *SHARED_DECAYS)}


# --- 10: systematics ---------------------------------------------------------------


def systematics_combined_hadronic(ana: Analysis) -> list[str]:
    """D*+ -> D0 pi+, D0 -> K- pi+ without kaon ID: the PID and tracking control
    sample (as basf2's SystematicsDstar part of the combined hadronic skim).

    Narrow D0 and Δm windows and p*(D*) > 2.5 GeV keep it clean without PID.
    """
    shared(ana, "pi+:slow")
    shared(ana, "pi+:btocharm")
    shared(ana, "K+:btocharm")
    ana.reconstruct_decay("D0:SysHad -> K-:btocharm pi+:btocharm", "1.835 < M < 1.895")
    ana.reconstruct_decay(
        "D*+:SysHad -> D0:SysHad pi+:slow",
        "0.142 < M - daughter(0, M) < 0.149 and useCMSFrame(p) > 2.5",
    )
    return ["D*+:SysHad"]


# --- 11: semileptonic --------------------------------------------------------------


def sl_untagged(ana: Analysis) -> list[str]:
    """B -> D(*) l nu, untagged: a D0, D+ or D*+ and a lepton with p* > 1 GeV.

    basf2's SLUntagged: D0 -> K pi, D+ -> K pi pi, D*+ -> D0 pi+ with leptons of
    p* > 1 GeV and -5 < cosThetaBY < 3 (the visible part of a B with one
    massless particle missing). The toy has no D0 -> K pi pi0 or K 3pi modes.
    """
    shared(ana, "pi+:slow")
    shared(ana, "D+:Kpipi")
    ana.reconstruct_decay("D0:SL -> K-:loose pi+:loose", "1.82 < M < 1.91")
    ana.reconstruct_decay(
        "D*+:SL -> D0:SL pi+:slow", "0.139 < M - daughter(0, M) < 0.16"
    )
    ana.fill_particle_list(
        "e+:SL", f"{_LEPTON_TRACK} and electronID > 0.5 and useCMSFrame(p) > 1.0"
    )
    ana.fill_particle_list(
        "mu+:SL", f"{_LEPTON_TRACK} and muonID > 0.5 and useCMSFrame(p) > 1.0"
    )
    cut = "-5 < cosThetaBetweenParticleAndNominalB < 3 and M < 5.3"
    out = []
    for lep, tag in (("e+:SL", "e"), ("mu+:SL", "mu")):
        for mother, d, label in (
            ("B+", "anti-D0:SL", "D0"),
            ("B0", "D-:Kpipi", "D"),
            ("B0", "D*-:SL", "Dst"),
        ):
            name = f"{mother}:SL{label}{tag}"
            ana.reconstruct_decay(f"{name} -> {d} {lep}", cut)
            out.append(name)
    return out


# --- 12: electroweak penguins ------------------------------------------------------


def btoxll(ana: Analysis) -> list[str]:
    """B -> K l+ l- (l = e, mu) and B0 -> K_S0 l+ l-, leptons with p > 0.4 GeV.

    basf2's BtoXll also takes K*, pi and X_s sums; here B+ -> K+ l l and
    B0 -> K_S0 l l with Mbc > 5.2 GeV and |ΔE| < 0.5 GeV.
    """
    ana.fill_particle_list("e+:Xll", "abs(dr) < 0.5 and abs(dz) < 2 and p > 0.4 "
                           "and electronID > 0.1")  # fmt: skip
    ana.fill_particle_list(
        "mu+:Xll", "abs(dr) < 0.5 and abs(dz) < 2 and p > 0.4 and muonID > 0.1"
    )
    ana.fill_particle_list("K+:Xll", "abs(dr) < 0.5 and abs(dz) < 2 and kaonID > 0.1")
    ana.fill_standard_list("K_S0:merged")
    cut = "Mbc > 5.2 and abs(deltaE) < 0.5"
    out = []
    for lep in ("e", "mu"):
        for mother, k in (("B+", "K+:Xll"), ("B0", "K_S0:merged")):
            name = f"{mother}:Xll{'K' if mother == 'B+' else 'Ks'}{lep}"
            ana.reconstruct_decay(f"{name} -> {k} {lep}+:Xll {lep}-:Xll", cut)
            out.append(name)
    return out


# --- 13: time-dependent CP violation -----------------------------------------------


def tdcpv_inclusive_jpsi(ana: Analysis) -> list[str]:
    """Inclusive J/psi -> l+ l- from B decays: tight lepton ID, a J/psi mass window
    and p*(J/psi) < 2 GeV (a J/psi from a B has less)."""
    shared(ana, "e+:tight")
    shared(ana, "mu+:tight")
    ana.reconstruct_decay(
        "J/psi:TDCPVee -> e+:tight e-:tight", "2.8 < M < 3.2 and useCMSFrame(p) < 2.0"
    )
    ana.reconstruct_decay(
        "J/psi:TDCPVmumu -> mu+:tight mu-:tight",
        "2.9 < M < 3.2 and useCMSFrame(p) < 2.0",
    )
    return ["J/psi:TDCPVee", "J/psi:TDCPVmumu"]


# --- 14: B -> charm ----------------------------------------------------------------


def btod0h_kpi(ana: Analysis) -> list[str]:
    """B+ -> anti-D0 pi+ and anti-D0 K+, anti-D0 -> K+ pi- (PHYSICS.md, basf2's).

    pi+/K+ with |dr| < 2, |dz| < 5; D0:Kpi with 1.7 < M < 2.0; B+ with
    Mbc > 5.2 and |ΔE| < 0.5 (the hadron flag is the registry's ``general``).
    """
    shared(ana, "D0:Kpi")
    cut = "Mbc > 5.2 and abs(deltaE) < 0.5"
    ana.reconstruct_decay("B+:BtoD0pi_Kpi -> anti-D0:Kpi pi+:btocharm", cut)
    ana.reconstruct_decay("B+:BtoD0K_Kpi -> anti-D0:Kpi K+:btocharm", cut)
    return ["B+:BtoD0pi_Kpi", "B+:BtoD0K_Kpi"]


def b0todpi_kpipi(ana: Analysis) -> list[str]:
    """B0 -> D- pi+, D- -> K+ pi- pi- with Mbc > 5.2 and |ΔE| < 0.3."""
    shared(ana, "D+:Kpipi")
    shared(ana, "pi+:btocharm")
    ana.reconstruct_decay(
        "B0:B0toDpi_Kpipi -> D-:Kpipi pi+:btocharm", "Mbc > 5.2 and abs(deltaE) < 0.3"
    )
    return ["B0:B0toDpi_Kpipi"]


def b0todstarpi_d0pi_kpi(ana: Analysis) -> list[str]:
    """B0 -> D*- pi+, D*- -> anti-D0 pi-, anti-D0 -> K+ pi-.

    D0:Kpi as BtoD0h_Kpi; D*+ with 0 < Δm < 0.16 GeV (basf2's stdDstar window);
    B0 with Mbc > 5.2 and |ΔE| < 0.3.
    """
    shared(ana, "D0:Kpi")
    shared(ana, "pi+:slow")
    ana.reconstruct_decay(
        "D*+:B0toDstarPi -> D0:Kpi pi+:slow", "0 < M - daughter(0, M) < 0.16"
    )
    ana.reconstruct_decay(
        "B0:B0toDstarPi_Kpi -> D*-:B0toDstarPi pi+:btocharm",
        "Mbc > 5.2 and abs(deltaE) < 0.3",
    )
    return ["B0:B0toDstarPi_Kpi"]


# --- 16: quarkonium ----------------------------------------------------------------


def charmonium_psi(ana: Analysis) -> list[str]:
    """J/psi and psi(2S) -> e+e- / mu+mu-: loose lepton ID, 2.7 < M(ll) < 4.1 GeV
    (basf2's CharmoniumPsi, inclusive: B decays, ISR and two-photon)."""
    shared(ana, "J/psi:ee")
    shared(ana, "J/psi:mumu")
    return ["J/psi:ee", "J/psi:mumu"]


# --- 17: charm ---------------------------------------------------------------------


def dst_to_d0pi_d0_to_hpjm(ana: Analysis) -> list[str]:
    """D*+ -> D0 pi+ with D0 -> K- pi+, pi+ pi-, K+ K- (right and wrong sign).

    basf2's DstToD0Pi_D0ToHpJm: 1.66 < M(D0) < 2.06, Δm < 0.16 GeV and
    p*(D*) > 2.5 GeV (D* from continuum charm: B -> D* pi gives 2.26 GeV). K- pi+ is
    the right-sign mode. The toolkit gives a self-conjugate decay's list only
    the particle's code (a D0 -> pi+ pi- list has no anti-D0 to pair with a
    pi-), so the pi+ pi- and K+ K- modes are built as D*+ -> h+ h- pi+ with
    the D0 mass on the first two daughters.
    """
    shared(ana, "pi+:slow")
    d0 = "1.66 < M < 2.06"
    dst = "M - daughter(0, M) < 0.16 and useCMSFrame(p) > 2.5"
    ana.reconstruct_decay("D0:HpJm_Kpi -> K-:loose pi+:loose", d0)
    ana.reconstruct_decay("D*+:HpJm_Kpi -> D0:HpJm_Kpi pi+:slow", dst)
    out = ["D*+:HpJm_Kpi"]
    flat = (
        "M < 2.22 and 1.66 < daughterInvM(0, 1) < 2.06 "
        "and M - daughterInvM(0, 1) < 0.16 and useCMSFrame(p) > 2.5"
    )
    for mode, hh in (("pipi", "pi+:loose pi-:loose"), ("KK", "K+:loose K-:loose")):
        name = f"D*+:HpJm_{mode}"
        ana.reconstruct_decay(f"{name} -> {hh} pi+:slow", flat)
        out.append(name)
    return out


# --- 18: tau and low multiplicity --------------------------------------------------


def tau_generic(ana: Analysis) -> list[str]:
    """Tau pairs: 2 to 6 good tracks, a two-jet (thrust > 0.9) event with missing
    energy (E*vis < 9.5 GeV), no track at the beam momentum, little ECL energy.

    basf2's TauGeneric splits the event by the thrust axis and limits each side's
    multiplicity; here the thrust, E*vis and leading-track cuts reject Bhabha,
    mu-pair and continuum events in the same spirit. The saved list is the
    event's good tracks.
    """
    ana.fill_particle_list(
        "pi+:TauGeneric",
        "pt > 0.2 and abs(dr) < 2 and abs(dz) < 4 and 2 <= nGoodTracks <= 6 "
        "and abs(netChargeGoodTracks) <= 1 and thrust > 0.9 "
        "and visibleEnergyOfEventCMS < 9.5 and leadingTrackPCMS < 4.5 "
        "and totalECLEnergy < 7",
    )
    return ["pi+:TauGeneric"]


def low_mass_two_track(ana: Analysis) -> list[str]:
    """e+e- -> gamma_ISR h+ h-: two tracks with p > 0.5 GeV, a photon with
    E* > 2 GeV and M(h+h-) < 3.5 GeV (basf2's LowMassTwoTrack, pi+pi- mode).

    The e+e- system is the list ``Upsilon(4S):LowMassTwoTrack`` (basf2 uses a
    virtual photon, ``vpho``, which the toy's particle table lacks).
    """
    ana.fill_particle_list(
        "pi+:LowMassTwoTrack", "p > 0.5 and abs(dr) < 0.5 and abs(dz) < 2 "
        "and nGoodTracks == 2",
    )  # fmt: skip
    ana.fill_particle_list("gamma:ISR", "useCMSFrame(E) > 2")
    ana.reconstruct_decay(
        "Upsilon(4S):LowMassTwoTrack -> gamma:ISR pi+:LowMassTwoTrack "
        "pi-:LowMassTwoTrack",
        "daughterInvM(1, 2) < 3.5",
    )
    return ["Upsilon(4S):LowMassTwoTrack"]


# --- 19: charmless ------------------------------------------------------------------


def charmless_had_2body(ana: Analysis) -> list[str]:
    """B0 -> h+ h- (K+ pi-, pi+ pi-, K+ K-) with kaon/pion ID, Mbc > 5.25,
    |ΔE| < 0.2 and R2 < 0.5 against continuum (basf2's CharmlessHad2Body)."""
    cut = "Mbc > 5.25 and abs(deltaE) < 0.2 and R2 < 0.5"
    out = []
    for label, decay in (
        ("Kpi", "K+:loose pi-:loose"),
        ("pipi", "pi+:loose pi-:loose"),
        ("KK", "K+:loose K-:loose"),
    ):
        name = f"B0:Charmless2Body_{label}"
        ana.reconstruct_decay(f"{name} -> {decay}", cut)
        out.append(name)
    return out


__all__ = [
    "SHARED",
    "SHARED_DECAYS",
    "b0todpi_kpipi",
    "b0todstarpi_d0pi_kpi",
    "btod0h_kpi",
    "btoxll",
    "charmless_had_2body",
    "charmonium_psi",
    "dst_to_d0pi_d0_to_hpjm",
    "low_mass_two_track",
    "shared",
    "sl_untagged",
    "systematics_combined_hadronic",
    "tau_generic",
    "tdcpv_inclusive_jpsi",
]
