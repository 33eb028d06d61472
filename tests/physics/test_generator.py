"""The event generator: samples, signal chains, decay tables, the MCParticle model."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import awkward as ak
import numpy as np
import pytest

from b2grid.errors import UnknownEventType
from b2grid.physics import decays, generator, pdg
from b2grid.physics.decays import DECAYS, ForcedDecay
from b2grid.physics.generator import (
    GENERIC_SAMPLES,
    MCPARTICLE_FIELDS,
    SAMPLE_CODES,
    SIGNAL_EVENT_TYPES,
    generate,
)
from b2grid.physics.kinematics import Beam, invariant_mass

CHARGED_STABLE = (11, 13, 211, 321, 2212)
#: no beam-energy spread: every event then carries exactly the nominal beams
SHARP = dataclasses.replace(Beam.y4s(), her_spread=0.0, ler_spread=0.0)


@dataclasses.dataclass
class Flat:
    """An event array's MCParticles as flat numpy columns with global indices."""

    cols: dict[str, np.ndarray]
    event: np.ndarray
    base: np.ndarray  # global index of each particle's event's first particle
    counts: np.ndarray

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]

    def daughters(self, i: int) -> list[int]:
        first = self["firstDaughter"][i]
        if first < 0:
            return []
        return list(
            range(self.base[i] + first, self.base[i] + self["lastDaughter"][i] + 1)
        )

    def p4(self, i: np.ndarray | int) -> np.ndarray:
        return np.stack([self[c][i] for c in ("px", "py", "pz", "E")], axis=-1).astype(
            float
        )


def flat(events: ak.Array) -> Flat:
    mc = events.MCParticle
    counts = ak.to_numpy(ak.num(mc))
    cols = {f: ak.to_numpy(ak.flatten(mc[f])) for f in MCPARTICLE_FIELDS}
    event = np.repeat(np.arange(counts.size), counts)
    base = (np.cumsum(counts) - counts)[event]
    return Flat(cols, event, base, counts)


def charged_final(f: Flat) -> np.ndarray:
    """Number of charged final-state particles per event."""
    mask = (f["status"] == 1) & np.isin(np.abs(f["pdg"]), CHARGED_STABLE)
    return np.bincount(f.event[mask], minlength=f.counts.size)


@pytest.fixture(scope="module")
def samples() -> dict[str, Flat]:
    """A few thousand events of every sample and signal type (generated once)."""
    return {s: flat(generate(s, 3000, seed=11)) for s in SAMPLE_CODES}


# ----------------------------------------------------------------- the event model
def test_fields_types_and_sample_index() -> None:
    events = generate("1213030000", 50, seed=1)
    assert events.fields == ["sample", "sqrt_s", "MCParticle"]
    assert ak.fields(events.MCParticle) == list(MCPARTICLE_FIELDS)
    types = {f: events.MCParticle[f].layout.content.dtype for f in MCPARTICLE_FIELDS}
    assert types == {
        "pdg": np.int32, "mother": np.int32, "firstDaughter": np.int32,
        "lastDaughter": np.int32, "px": np.float32, "py": np.float32,
        "pz": np.float32, "E": np.float32, "vx": np.float32, "vy": np.float32,
        "vz": np.float32, "status": np.int16,
    }  # fmt: skip
    assert events.sample.layout.dtype == np.int16
    assert events.sqrt_s.layout.dtype == np.float32
    assert set(ak.to_numpy(events.sample)) == {SAMPLE_CODES.index("1213030000")}
    assert len(generate("mixed", 0, seed=1)) == 0


@pytest.mark.parametrize("sample", [*SAMPLE_CODES, "all"])
def test_indices_are_consistent_and_parents_are_the_sum_of_daughters(
    sample: str,
) -> None:
    f = flat(generate(sample, 400, seed=3))
    first, last, mother = f["firstDaughter"], f["lastDaughter"], f["mother"]
    decayed = first >= 0
    assert np.array_equal(decayed, last >= 0)
    assert np.array_equal(decayed, f["status"] == 2)
    assert np.isin(f["status"], (1, 2)).all()
    assert (last[decayed] >= first[decayed]).all()
    assert (last[decayed] < f.counts[f.event[decayed]]).all()
    # every daughter's mother points back; every particle with a mother is a daughter
    pairs = [(i, d) for i in np.flatnonzero(decayed) for d in f.daughters(int(i))]
    parent, child = np.array(pairs, dtype=np.int64).reshape(-1, 2).T
    assert np.array_equal(mother[child] + f.base[child], parent)
    assert child.size == np.count_nonzero(mother >= 0)
    assert (mother < np.arange(mother.size) - f.base).all()  # mothers come first
    # four-momentum of a decayed parent = sum of its daughters (float32 precision)
    sums = np.zeros((mother.size, 4))
    np.add.at(sums, parent, f.p4(child))
    p4 = f.p4(np.arange(mother.size))
    error = np.abs(sums[decayed] - p4[decayed]).max(axis=1) / p4[decayed, 3]
    assert (error < 1e-4).all()
    # daughters start where their mother decays
    dv = np.stack([f[c] for c in ("vx", "vy", "vz")], axis=1)
    same = np.array([np.array_equal(dv[f.daughters(int(i))[0]], dv[d])
                     for i, d in pairs[:2000]])  # fmt: skip
    assert same.all()


@pytest.mark.parametrize("sample", [*SAMPLE_CODES, "all"])
def test_final_state_adds_up_to_the_beams(sample: str) -> None:
    events = generate(sample, 300, seed=4, beam=SHARP)
    f = flat(events)
    final = f["status"] == 1
    total = np.zeros((f.counts.size, 4))
    np.add.at(total, f.event[final], f.p4(np.flatnonzero(final)))
    np.testing.assert_allclose(total, np.broadcast_to(SHARP.p4, total.shape),
                               atol=1e-3 * SHARP.p4[3])  # fmt: skip
    np.testing.assert_allclose(ak.to_numpy(events.sqrt_s), SHARP.sqrt_s, rtol=1e-6)


def test_primary_vertices_come_from_the_beam_spot(samples: dict[str, Flat]) -> None:
    f = samples["uubar"]
    primary = f["mother"] == -1
    v = np.stack([f[c][primary] for c in ("vx", "vy", "vz")], axis=1)
    np.testing.assert_allclose(v.std(axis=0), [10e-4, 0.2e-4, 0.035], rtol=0.1)


def test_same_seed_same_events_other_seed_other_events() -> None:
    a, b = generate("all", 500, seed=7), generate("all", 500, seed=7)
    c = generate("all", 500, seed=8)
    assert ak.array_equal(a, b)
    assert not ak.array_equal(a, c)
    assert ak.array_equal(
        generate("mixed", 200, seed=7), generate("mixed", 200, seed=7)
    )


@pytest.mark.parametrize("name", ["12130", "uubarr", "9999999999", "", "mixe"])
def test_unknown_event_types_are_refused(name: str) -> None:
    with pytest.raises(UnknownEventType) as err:
        generate(name, 10, seed=1)
    assert "uubar" in str(err.value)
    assert err.value.event_type == name
    assert not generator.known_event_type(name)


def test_unknown_event_type_suggests_the_close_name() -> None:
    with pytest.raises(UnknownEventType, match="did you mean 'uubar'"):
        generate("uubarr", 10, seed=1)


def test_event_type_names() -> None:
    names = generator.event_types()
    assert set(GENERIC_SAMPLES) | {"all"} | set(SIGNAL_EVENT_TYPES) <= set(names)
    assert generator.known_event_type(" 1213030000 ")
    by_nickname = generate("Bu_Dpi+_DtoK+pi-", 5, seed=1)
    assert set(ak.to_numpy(by_nickname.sample)) == {SAMPLE_CODES.index("1213030000")}


# ----------------------------------------------------------------- generic samples
def test_all_mixes_the_samples_by_cross_section() -> None:
    n = 200_000
    events = generate("all", n, seed=5)
    counts = np.bincount(ak.to_numpy(events.sample), minlength=len(SAMPLE_CODES))
    sigma = np.array(list(GENERIC_SAMPLES.values()))
    p = sigma / sigma.sum()
    expected = n * p
    tolerance = 4 * np.sqrt(n * p * (1 - p))
    assert (np.abs(counts[: p.size] - expected) <= tolerance).all(), counts
    assert counts[p.size :].sum() == 0
    # in random order, not sample after sample
    assert np.count_nonzero(np.diff(ak.to_numpy(events.sample)[:5000])) > 100


def test_off_resonance_has_no_b_mesons() -> None:
    with pytest.raises(ValueError, match="threshold"):
        generate("mixed", 10, seed=1, beam=Beam.off_resonance())
    events = generate("all", 20_000, seed=1, beam=Beam.off_resonance())
    assert not np.isin(ak.to_numpy(events.sample), [0, 1]).any()
    assert ak.to_numpy(events.sqrt_s).mean() == pytest.approx(10.52, abs=0.01)


@pytest.mark.parametrize("sample", ["mixed", "charged"])
def test_bbbar_events(sample: str, samples: dict[str, Flat]) -> None:
    f = samples[sample]
    starts = np.cumsum(f.counts) - f.counts
    assert (f["pdg"][starts] == 300553).all()
    assert (f["mother"][starts] == -1).all()
    assert (f["firstDaughter"][starts] == 1).all()
    assert (f["lastDaughter"][starts] == 2).all()
    b = 511 if sample == "mixed" else 521
    assert (f["pdg"][starts + 1] == b).all()
    assert (f["pdg"][starts + 2] == -b).all()
    assert np.count_nonzero(f["mother"] == -1) == f.counts.size
    assert 9.5 <= charged_final(f).mean() <= 12.5


def test_bbbar_charged_multiplicity_with_more_events() -> None:
    for sample in ("mixed", "charged"):
        nch = charged_final(flat(generate(sample, 20_000, seed=6)))
        assert 9.5 <= nch.mean() <= 12.5
        assert 2.0 <= nch.std() <= 4.0  # broad, not degenerate
        assert nch.min() >= 0
        assert nch.max() < 40


def test_continuum_events(samples: dict[str, Flat]) -> None:
    for sample in ("uubar", "ddbar", "ssbar", "ccbar"):
        f = samples[sample]
        quarks = np.abs(f["pdg"]) <= 6
        assert not quarks.any()
        primary = f["mother"] == -1
        assert np.bincount(f.event[primary]).min() >= 4
        nch = charged_final(f).mean()
        assert (8.0 <= nch <= 10.0) if sample != "ccbar" else (8.0 <= nch <= 12.0)
        # charge is conserved event by event
        q = np.bincount(f.event[f["status"] == 1],
                        weights=pdg.charges(f["pdg"][f["status"] == 1]))  # fmt: skip
        assert np.all(q == 0)


def test_ccbar_jets_carry_charm_hadrons(samples: dict[str, Flat]) -> None:
    f = samples["ccbar"]
    primary = f["mother"] == -1
    code = np.abs(f["pdg"])
    charm = primary & ((code // 100 % 10 == 4) | (code == 4122))
    per_event = np.bincount(f.event[charm], minlength=f.counts.size)
    assert (per_event == 2).all()
    # the charm hadrons are hard: mean momentum fraction x_p = p* / p*_max ~ 0.6
    p = np.linalg.norm(f.p4(np.flatnonzero(charm))[:, :3], axis=1)
    assert 1.5 < p.mean() < 4.5


def test_ssbar_events_have_more_kaons(samples: dict[str, Flat]) -> None:
    def kaons(f: Flat) -> float:
        k = np.isin(np.abs(f["pdg"]), (321, 310, 130)) & (f["mother"] == -1)
        return np.count_nonzero(k) / f.counts.size

    assert kaons(samples["ssbar"]) > 1.4 * kaons(samples["uubar"])


def test_taupair_decays(samples: dict[str, Flat]) -> None:
    f = samples["taupair"]
    taus = np.flatnonzero(np.abs(f["pdg"]) == 15)
    assert taus.size == 2 * f.counts.size
    to_e = [any(abs(f["pdg"][d]) == 11 for d in f.daughters(int(t))) for t in taus]
    p = np.mean(to_e)
    assert p == pytest.approx(0.178, abs=4 * np.sqrt(0.178 * 0.822 / taus.size))
    assert 2.0 < charged_final(f).mean() < 3.0


def test_mumu_angles_and_photons(samples: dict[str, Flat]) -> None:
    f = samples["mumu"]
    assert np.count_nonzero(f["pdg"] == 13) == f.counts.size
    photons = np.count_nonzero(f["pdg"] == 22) / f.counts.size
    assert 0.1 < photons < 0.2


@pytest.mark.parametrize("sample", ["ee", "gg"])
def test_ee_and_gg_stay_within_10_to_170_degrees(sample: str) -> None:
    f = flat(generate(sample, 20_000, seed=9))
    p = f.p4(np.arange(f["pdg"].size))
    theta = np.degrees(np.arccos(p[:, 2] / np.linalg.norm(p[:, :3], axis=1)))
    assert theta.min() >= 10.0
    assert theta.max() <= 170.0
    code = 11 if sample == "ee" else 22
    assert np.count_nonzero(np.abs(f["pdg"]) == code) == 2 * f.counts.size
    if sample == "ee":  # Bhabha scattering peaks forward: the e- follows the HER
        electron = theta[f["pdg"] == 11]
        assert np.median(electron) < 40


# ----------------------------------------------------------------- signal types
def matches(f: Flat, i: int, chain: ForcedDecay | int) -> bool:
    """Whether particle ``i`` is ``chain``, with exactly its daughters (recursively)."""
    if isinstance(chain, int):
        return bool(f["pdg"][i] == chain)
    if f["pdg"][i] != chain.parent:
        return False
    kids = f.daughters(i)
    if len(kids) != len(chain.daughters):
        return False
    return all(matches(f, k, c) for k, c in zip(kids, chain.daughters, strict=True))


def signal_candidates(f: Flat, chain: ForcedDecay) -> Iterator[int]:
    for code in (chain.parent, pdg.conjugate(chain.parent)):
        yield from (int(i) for i in np.flatnonzero(f["pdg"] == code))


@pytest.mark.parametrize("code", list(SIGNAL_EVENT_TYPES))
def test_signal_events_carry_their_decay_chain(
    code: str, samples: dict[str, Flat]
) -> None:
    f = samples[code]
    chain = SIGNAL_EVENT_TYPES[code].chain
    found = np.zeros(f.counts.size, dtype=bool)
    for i in signal_candidates(f, chain):
        if matches(f, i, chain) or matches(f, i, chain.conjugate()):
            found[f.event[i]] = True
    assert found.all()
    # the signal B and its conjugate are forced about equally often
    on_particle = sum(matches(f, i, chain) for i in signal_candidates(f, chain))
    assert 0.45 < on_particle / f.counts.size < 0.55


def test_signal_d0_reconstructs_the_pdg_mass(samples: dict[str, Flat]) -> None:
    f = samples["1213030000"]
    masses = []
    for d0 in np.flatnonzero(np.abs(f["pdg"]) == 421):
        kids = f.daughters(int(d0))
        if (
            sorted(np.abs(f["pdg"][kids])) == [211, 321]
            and abs(f["pdg"][f.base[d0] + f["mother"][d0]]) == 521
        ):
            masses.append(invariant_mass(f.p4(np.array(kids)).sum(axis=0)))
    assert len(masses) >= f.counts.size
    np.testing.assert_allclose(masses, pdg.mass(421), atol=2e-3)
    assert np.mean(masses) == pytest.approx(pdg.mass(421), abs=1e-4)


def test_signal_charges_follow_the_b(samples: dict[str, Flat]) -> None:
    """B+ -> anti-D0 pi+ with anti-D0 -> K+ pi-; B- -> D0 pi- with D0 -> K- pi+."""
    f = samples["1213030000"]
    for b in np.flatnonzero(np.abs(f["pdg"]) == 521)[:2000]:
        kids = f.daughters(int(b))
        codes = sorted(f["pdg"][kids])
        if codes in ([-421, 211], [-211, 421]):
            sign = np.sign(f["pdg"][b])
            d = kids[int(np.flatnonzero(np.abs(f["pdg"][kids]) == 421)[0])]
            grand = sorted(f["pdg"][f.daughters(d)] * sign)
            if grand == [-211, 321]:
                assert f["pdg"][d] == -421 * sign


# ----------------------------------------------------------------- decay physics
def test_decay_tables_conserve_charge_and_are_kinematically_allowed() -> None:
    _, _, _, lightest = decays._species_columns()
    for parent, channels in DECAYS.items():
        assert parent not in decays.STABLE
        total = sum(c.bf for c in channels)
        assert 0.97 <= total <= 1.05 or len(channels) == 1, (parent, total)
        for c in channels:
            assert sum(pdg.charge(d) for d in c.daughters) == pdg.charge(parent)
            assert all(d in pdg.CODES for d in c.daughters)
            floor = sum(lightest[pdg.CODES.index(d)] for d in c.daughters)
            assert floor < pdg.mass(parent) or parent == 300553, (parent, c)
        conj = pdg.conjugate(parent)
        assert conj in DECAYS


def test_branching_fractions_from_the_brief() -> None:
    def bf(parent: int, *daughters: int) -> float:
        channels = DECAYS[parent]
        total = sum(c.bf for c in channels)
        want = sorted(daughters)
        return sum(c.bf for c in channels if sorted(c.daughters) == want) / total

    assert bf(421, -321, 211) == pytest.approx(0.0395, abs=0.003)
    assert bf(421, -321, 211, 111) == pytest.approx(0.144, abs=0.01)
    assert bf(310, 211, -211) == pytest.approx(0.692, abs=0.002)
    assert bf(300553, 521, -521) == pytest.approx(0.514, abs=0.001)
    assert bf(15, 11, -12, 16) == pytest.approx(0.178, abs=0.005)
    assert bf(443, 13, -13) == pytest.approx(0.06, abs=0.003)
    assert bf(111, 22, 22) == pytest.approx(0.988, abs=0.002)
    assert bf(3122, 2212, -211) == pytest.approx(0.64, abs=0.01)
    # semileptonic B: ~10 % per lepton flavour
    for b in (511, 521):
        leptons = {11: 0.0, 13: 0.0}
        total = sum(c.bf for c in DECAYS[b])
        for c in DECAYS[b]:
            for lep in leptons:
                if -lep in c.daughters:
                    leptons[lep] += c.bf / total
        assert all(0.08 < x < 0.12 for x in leptons.values())
    assert 5.0 < decays.mean_charged(511) < 6.0
    assert 5.0 < decays.mean_charged(521) < 6.0


def test_flight_lengths_follow_the_lifetimes() -> None:
    f = flat(generate("mixed", 20_000, seed=12))
    vtx = np.stack([f[c] for c in ("vx", "vy", "vz")], axis=1).astype(float)
    for code, sign_both in ((310, False), (511, True)):
        codes = (code, -code) if sign_both else (code,)
        parents = np.flatnonzero(np.isin(f["pdg"], codes) & (f["status"] == 2))
        firsts = f.base[parents] + f["firstDaughter"][parents]
        length = np.linalg.norm(vtx[firsts] - vtx[parents], axis=1)
        p4 = f.p4(parents)
        beta_gamma = np.linalg.norm(p4[:, :3], axis=1) / invariant_mass(p4)
        ctau = (length / beta_gamma).mean()
        assert ctau == pytest.approx(pdg.ctau_cm(code), rel=5 / np.sqrt(parents.size))


def test_broad_resonances_get_breit_wigner_masses() -> None:
    f = flat(generate("uubar", 5000, seed=13))
    rho = f.p4(np.flatnonzero(f["pdg"] == 113))
    m = invariant_mass(rho)
    assert 0.05 < m.std() < 0.3
    assert np.median(m) == pytest.approx(0.775, abs=0.03)
    assert m.min() > 2 * pdg.mass(211)
    d0 = invariant_mass(f.p4(np.flatnonzero(np.abs(f["pdg"]) == 421)))
    np.testing.assert_allclose(d0, pdg.mass(421), atol=1e-3)  # narrow: nominal mass


def test_decay_all_on_its_own() -> None:
    """D0 mesons at rest: generations, branching fractions and a forced chain."""
    n = 40_000
    rng = np.random.default_rng(14)
    p4 = np.zeros((4, n))
    p4[3] = pdg.mass(421)
    prim = decays.Particles.primaries(
        np.arange(n), np.full(n, 421, np.int32), p4, np.zeros((3, n))
    )
    forced = (ForcedDecay.parse("D0 -> K- [rho+ -> pi+ pi0]"),)
    prim = dataclasses.replace(
        prim, forced=(np.arange(n) % 4 == 0).astype(np.int32) - 1
    )
    out = decays.decay_all(prim, rng, forced)
    assert out.generations[0] == 0
    assert out.generations[1] == n
    assert out.generations[-1] == len(out)
    first = out.first_daughter[:n]
    kids = [
        tuple(sorted(out.pdg[first[i] : out.last_daughter[i] + 1])) for i in range(n)
    ]
    forced_rows = np.arange(n) % 4 == 0
    assert all(kids[i] == (-321, 213) for i in np.flatnonzero(forced_rows))
    generic = [kids[i] for i in np.flatnonzero(~forced_rows)]
    k_pi = np.mean([k == (-321, 211) for k in generic])
    assert k_pi == pytest.approx(0.0395, abs=4 * np.sqrt(0.04 / len(generic)))
    # D0 flight: production at the origin, decay beta*gamma*ctau away (at rest: 0)
    assert np.allclose(out.vertex[:, first], 0.0)
    # every row's four-momentum is the sum of its daughters'
    decayed = np.flatnonzero(out.first_daughter >= 0)
    sums = np.zeros((4, len(out)))
    np.add.at(sums.T, out.mother[out.mother >= 0], out.p4[:, out.mother >= 0].T)
    np.testing.assert_allclose(sums[:, decayed], out.p4[:, decayed], atol=1e-12)
