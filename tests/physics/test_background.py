"""Run-dependent beam background: random-trigger events of a run and their overlay on
run-dependent MC (``chain.random_trigger``, ``detector.simulate(..., overlay=...)``)."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from b2grid import formats
from b2grid.conditions import ConditionsDB, IoV
from b2grid.errors import PhysicsError
from b2grid.physics import chain, detector, ecl, generator, pdg
from b2grid.physics.conditions import (
    ONLINE_TAG,
    RecoPayloads,
    add_payloads,
    install_default_tags,
    true_conditions,
)

EXP = 12
#: two runs of exp 12 whose beam background differs by more than a factor 2
QUIET, BUSY = 1360, 1000
SIGNAL = "1213030000"  # B+ -> anti-D0 pi+, anti-D0 -> K+ pi-


@pytest.fixture(scope="module")
def scales() -> dict[int, float]:
    out = {r: true_conditions(EXP, r).background_scale for r in (QUIET, BUSY)}
    assert out[BUSY] / out[QUIET] > 2.0, "pick runs whose background differs"
    return out


@pytest.fixture(scope="module")
def triggers() -> dict[int, ak.Array]:
    """1200 random triggers of each run."""
    return {
        r: chain.random_trigger(1200, experiment=EXP, run=r, seed=7)
        for r in (QUIET, BUSY)
    }


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> ConditionsDB:
    db = ConditionsDB(tmp_path_factory.mktemp("cdb"))
    install_default_tags(db)
    return db


def per_event(collection: ak.Array, mask: ak.Array | None = None) -> np.ndarray:
    return np.asarray(ak.num(collection) if mask is None else ak.sum(mask, axis=1))


def calibrated_energy(digits: ak.Array, run: int) -> np.ndarray:
    """Deposited energy per event (GeV), the run's true gains divided out."""
    gains = true_conditions(EXP, run).ecl_gains
    cell = ak.to_numpy(ak.flatten(digits.cellId))
    adc = ak.to_numpy(ak.flatten(digits.adc))
    event = np.repeat(np.arange(len(digits)), per_event(digits))
    e = adc / ecl.ADC_PER_GEV / gains[cell]
    return np.asarray(np.bincount(event, weights=e, minlength=len(digits)))


def test_background_scale_is_a_deterministic_property_of_the_run() -> None:
    runs = range(800, 6400, 37)
    s = np.array([true_conditions(EXP, r).background_scale for r in runs])
    assert np.all((s >= 0.6) & (s <= 1.8))
    assert s.max() - s.min() > 0.8, "data runs vary"
    assert np.std(np.diff(s)) < np.std(s), "smoothly, plus noise"
    again = [true_conditions(EXP, r).background_scale for r in runs]
    assert s.tolist() == again
    for exp in (0, 1003, 1004):
        assert true_conditions(exp, 5).background_scale == 1.0


def test_random_triggers_are_the_runs_beam_background(
    triggers: dict[int, ak.Array],
) -> None:
    rt = triggers[QUIET]
    assert "MCParticle" not in rt.fields, "data: no truth"
    for line in rt.SoftwareTriggerResult.fields:
        assert not ak.any(rt.SoftwareTriggerResult[line]), "not HLT-selected"
    assert ak.all(ak.flatten(rt.ECLDigit.mcIndex) == -1)
    assert ak.all(ak.flatten(rt.RawTrack.mcIndex) == -1)
    assert ak.sum(ak.num(rt.KLMDigit)) == 0, "the toy KLM has no beam background"
    assert ak.all(rt.EventMetaData.run == QUIET)
    assert rt.EventMetaData.event.tolist() == list(range(1, len(rt) + 1))
    # an MC experiment's random triggers carry an empty MCParticle (they write as MC)
    mc = chain.random_trigger(20, experiment=1003, run=0, seed=1)
    assert ak.sum(ak.num(mc.MCParticle)) == 0


def test_random_triggers_of_two_runs_differ_as_their_background_scale(
    triggers: dict[int, ak.Array], scales: dict[int, float]
) -> None:
    ratio = scales[BUSY] / scales[QUIET]
    digits = {r: per_event(triggers[r].ECLDigit).mean() for r in triggers}
    energy = {r: calibrated_energy(triggers[r].ECLDigit, r).mean() for r in triggers}
    fakes = {r: per_event(triggers[r].RawTrack).mean() for r in triggers}
    # the nominal 150 crystals per event, times the scale (a crystal hit twice in an
    # event is one digit: a few per cent fewer in the busy run)
    assert digits[QUIET] == pytest.approx(150 * scales[QUIET], rel=0.03)
    assert digits[BUSY] / digits[QUIET] == pytest.approx(ratio, rel=0.05)
    assert energy[BUSY] / energy[QUIET] == pytest.approx(ratio, rel=0.06)
    assert fakes[BUSY] / fakes[QUIET] == pytest.approx(ratio, rel=0.15)


def test_random_trigger_file_round_trip(
    triggers: dict[int, ak.Array], tmp_path: Path
) -> None:
    rt = triggers[BUSY]
    meta = formats.FileMetadata(
        level="raw",
        experiment=EXP,
        run=BUSY,
        is_mc=False,
        event_type=chain.RANDOM_TRIGGER,
    )
    stored = formats.write_events(tmp_path / "rt.root", rt, meta)
    assert stored.nevents == len(rt)
    back = formats.read_events(tmp_path / "rt.root")
    assert formats.read_metadata(tmp_path / "rt.root").event_type == "randomtrigger"
    for part in formats.parts("raw", mc=False):
        for field in part.field_names():
            a, b = rt[part.name][field], back[part.name][field]
            assert ak.all(ak.flatten(a == b, axis=None)), f"{part.name}.{field}"
    mc = chain.random_trigger(30, experiment=1003, run=0, seed=2)
    mc_meta = meta.model_copy(update={"experiment": 1003, "run": 0, "is_mc": True})
    formats.write_events(tmp_path / "rt_mc.root", mc, mc_meta)
    assert len(formats.read_events(tmp_path / "rt_mc.root")) == 30


def test_overlaid_events_take_the_background_of_their_random_trigger(
    triggers: dict[int, ak.Array],
) -> None:
    cond = true_conditions(EXP, BUSY)
    overlay = triggers[BUSY][:150]  # fewer than the MC events: cycled
    gen = generator.generate(SIGNAL, 400, seed=3, beam=cond.beam)
    raw = detector.simulate(gen, cond, np.random.default_rng(4), overlay=overlay)
    picked = detector.overlay_indices(400, 150, np.random.default_rng(4))
    assert np.bincount(picked, minlength=150).min() >= 2

    def keys(digits: ak.Array, events: np.ndarray) -> np.ndarray:
        n = per_event(digits)
        ev = np.repeat(events, n)
        cells = ak.to_numpy(ak.flatten(digits.cellId)).astype(np.int64)
        return np.asarray(ev * 10_000 + cells)

    used = overlay.ECLDigit[picked]
    ov = keys(used, np.arange(400))
    ov_adc = ak.to_numpy(ak.flatten(used.adc))
    out = keys(raw.ECLDigit, np.arange(400))
    out_adc = ak.to_numpy(ak.flatten(raw.ECLDigit.adc))
    is_bg = ak.to_numpy(ak.flatten(raw.ECLDigit.mcIndex)) == -1
    # every overlaid crystal is read out, with at least its recorded counts; every
    # background digit of the MC is one of them
    at = np.searchsorted(np.sort(out), ov)
    assert np.all(np.sort(out)[at] == ov)
    assert np.all(out_adc[np.argsort(out)][at] >= ov_adc)
    assert np.all(np.isin(out[is_bg], ov))
    # no synthetic background on top: only overlap with signal showers loses some
    assert 0.9 * len(ov) < is_bg.sum() <= len(ov)
    # the fake tracks are exactly those of the random trigger
    fakes = per_event(raw.RawTrack, raw.RawTrack.mcIndex == -1)
    assert fakes.tolist() == per_event(overlay.RawTrack)[picked].tolist()
    bg_d0 = ak.flatten(raw.RawTrack.d0[raw.RawTrack.mcIndex == -1])
    assert ak.all(bg_d0 == ak.flatten(overlay.RawTrack.d0[picked]))


def test_mc_overlaid_with_each_runs_random_triggers_has_that_runs_background(
    triggers: dict[int, ak.Array], scales: dict[int, float]
) -> None:
    bg = {}
    for run in (QUIET, BUSY):
        raw = chain.simulate_run(
            SIGNAL, 300, experiment=EXP, run=run, seed=5, overlay=triggers[run]
        )
        bg[run] = per_event(raw.ECLDigit, raw.ECLDigit.mcIndex == -1).mean()
        recorded = per_event(triggers[run].ECLDigit).mean()
        # what the MC took is what the random triggers had, less signal overlaps
        assert bg[run] == pytest.approx(recorded, rel=0.06)
    assert bg[BUSY] / bg[QUIET] == pytest.approx(scales[BUSY] / scales[QUIET], rel=0.08)


def test_overlay_is_deterministic_for_a_seed(triggers: dict[int, ak.Array]) -> None:
    rt = triggers[QUIET][:100]
    a, b, c = (
        chain.simulate_run(SIGNAL, 200, experiment=EXP, run=QUIET, seed=s, overlay=rt)
        for s in (8, 8, 9)
    )
    for part in ("RawTrack", "ECLDigit", "KLMDigit"):
        for field in a[part].fields:
            assert ak.all(ak.flatten(a[part][field] == b[part][field], axis=None))
    assert not ak.all(ak.num(a.ECLDigit) == ak.num(c.ECLDigit))


def test_bgx0_has_no_background(triggers: dict[int, ak.Array]) -> None:
    cond = true_conditions(EXP, BUSY, background="BGx0")
    raw = chain.simulate_run(
        SIGNAL, 200, experiment=EXP, run=BUSY, seed=10, conditions=cond
    )
    assert not ak.any(raw.ECLDigit.mcIndex == -1)
    # real tracks always have their MC particle: -1 tracks would be fakes
    assert ak.sum(raw.RawTrack.mcIndex == -1) == 0
    rt = chain.random_trigger(50, experiment=EXP, run=BUSY, seed=1, conditions=cond)
    assert ak.sum(ak.num(rt.ECLDigit)) == ak.sum(ak.num(rt.RawTrack)) == 0
    with pytest.raises(PhysicsError, match="BGx0"):
        chain.simulate_run(
            SIGNAL, 20, experiment=EXP, run=BUSY, seed=10, conditions=cond,
            overlay=triggers[BUSY],
        )  # fmt: skip


def test_overlay_of_another_run_or_of_nothing_is_refused(
    triggers: dict[int, ak.Array],
) -> None:
    with pytest.raises(PhysicsError, match=f"exp 12 run {QUIET}.*run {BUSY}"):
        chain.simulate_run(
            SIGNAL, 20, experiment=EXP, run=BUSY, seed=1, overlay=triggers[QUIET]
        )
    with pytest.raises(PhysicsError, match="no random-trigger events"):
        chain.simulate_run(
            SIGNAL, 20, experiment=EXP, run=BUSY, seed=1, overlay=triggers[BUSY][:0]
        )
    with pytest.raises(PhysicsError, match="lack ECLDigit"):
        chain.simulate_run(
            SIGNAL, 20, experiment=EXP, run=BUSY, seed=1,
            overlay=triggers[BUSY][["EventMetaData", "RawTrack"]],
        )  # fmt: skip


def test_write_mc_records_the_overlay(
    db: ConditionsDB, triggers: dict[int, ak.Array], tmp_path: Path
) -> None:
    rt = triggers[QUIET][:60]
    meta = chain.write_mc(
        tmp_path / "rd.root", SIGNAL, 40, seed=12, db=db, tags=ONLINE_TAG,
        experiment=EXP, run=QUIET, overlay=rt,
    )  # fmt: skip
    stored = formats.read_metadata(tmp_path / "rd.root")
    assert stored == meta
    assert stored.background == "BGx1"
    assert stored.extra == {
        "background_source": "overlay",
        "overlay_runs": [[EXP, QUIET]],
        "overlay_events": 60,
    }
    plain = chain.write_mc(tmp_path / "ri.root", SIGNAL, 10, seed=12, db=db)
    assert plain.extra == {}


def d0_masses(ev: ak.Array) -> np.ndarray:
    """K pi masses of truth-matched D0 -> K pi pairs (GeV)."""
    trk, mc = ev.Track, ev.MCParticle
    pairs = ak.argcombinations(trk, 2)
    a, b = pairs["0"], pairs["1"]
    ia, ib = trk.mcIndex[a], trk.mcIndex[b]
    safe_a, safe_b = ak.where(ia >= 0, ia, 0), ak.where(ib >= 0, ib, 0)
    mother = mc.mother[safe_a]
    same = (ia >= 0) & (ib >= 0) & (mother == mc.mother[safe_b]) & (mother >= 0)
    mom = ak.where(mother >= 0, mother, 0)
    d0 = same & (abs(mc.pdg[mom]) == 421)
    d0 = d0 & (mc.lastDaughter[mom] - mc.firstDaughter[mom] == 1)
    kaon_first = abs(mc.pdg[safe_a]) == 321
    m_a = ak.where(kaon_first, 0.493677, 0.13957039)
    m_b = ak.where(kaon_first, 0.13957039, 0.493677)
    p = {c: (trk[c][a], trk[c][b]) for c in ("px", "py", "pz")}
    e = np.sqrt(sum(v[0] ** 2 for v in p.values()) + m_a**2) + np.sqrt(
        sum(v[1] ** 2 for v in p.values()) + m_b**2
    )
    m2 = e**2 - sum((v[0] + v[1]) ** 2 for v in p.values())
    return np.asarray(np.sqrt(np.maximum(ak.to_numpy(ak.flatten(m2[d0])), 0.0)))


def ideal_tag(db: ConditionsDB, run: int) -> str:
    """A tag with the perfect calibration of one run (the MC-rd reconstruction)."""
    tag = f"ideal_{EXP}_{run}"
    if not db.has_tag(tag):
        db.create_tag(tag)
        add_payloads(
            db,
            tag,
            RecoPayloads.ideal(true_conditions(EXP, run)),
            IoV(EXP, run, EXP, run),
        )
    return tag


def test_overlaid_mc_reconstructs_the_d0_peak(
    db: ConditionsDB, triggers: dict[int, ak.Array]
) -> None:
    ev = chain.produce_mc(
        SIGNAL, 600, seed=13, db=db, tags=ideal_tag(db, BUSY), experiment=EXP,
        run=BUSY, overlay=triggers[BUSY],
    )  # fmt: skip
    m = d0_masses(ev)
    assert len(m) > 250
    assert abs(np.median(m) - pdg.mass(421)) < 0.003


@pytest.mark.slow
def test_overlaid_mc_d0_peak_precisely_in_both_runs(
    db: ConditionsDB, triggers: dict[int, ak.Array]
) -> None:
    for run in (QUIET, BUSY):
        rt = chain.random_trigger(3000, experiment=EXP, run=run, seed=21)
        ev = chain.produce_mc(
            SIGNAL, 3000, seed=22, db=db, tags=ideal_tag(db, run), experiment=EXP,
            run=run, overlay=rt,
        )  # fmt: skip
        m = d0_masses(ev)
        assert len(m) > 1500
        assert abs(np.median(m) - 1.8648) < 0.002
        lo, hi = np.percentile(m, [16, 84])
        assert (hi - lo) / 2 < 0.012
