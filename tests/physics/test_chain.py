"""The whole toy experiment: physics figures of PHYSICS.md, end to end through reco."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from b2grid import formats
from b2grid.conditions import ConditionsDB, IoV
from b2grid.errors import NoPayload, SchemaError
from b2grid.physics import chain, hlt, pdg, reconstruction
from b2grid.physics.conditions import (
    MC_TAG,
    ONLINE_TAG,
    RecoPayloads,
    install_default_tags,
    true_conditions,
)
from b2grid.physics.kinematics import Beam, to_cms

M_PI, M_K = 0.13957039, 0.493677


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    db = ConditionsDB(tmp_path_factory.mktemp("cdb"))
    install_default_tags(db)
    return db


def robust_sigma(x):
    lo, hi = np.percentile(x, [16, 84])
    return (hi - lo) / 2


def four_vectors(trk, mass):
    e = np.sqrt(trk.px**2 + trk.py**2 + trk.pz**2 + mass**2)
    return trk.px, trk.py, trk.pz, e


def kaon_id(pidl):
    """L(K) / (L(K) + L(pi)) over every detector."""
    lk = sum(pidl[f"{d}_K"] for d in formats.PID_DETECTORS)
    lpi = sum(pidl[f"{d}_pi"] for d in formats.PID_DETECTORS)
    return 1.0 / (1.0 + np.exp(np.minimum(np.maximum(lpi - lk, -50), 50)))


def test_hlt_hadron_keeps_bbbar_and_rejects_bhabha(db):
    bb = chain.produce_mc("mixed", 1500, seed=11, db=db)
    ee = chain.produce_mc("ee", 1500, seed=12, db=db)
    assert np.mean(ak.to_numpy(bb.SoftwareTriggerResult.accept_hadron)) > 0.95
    assert np.mean(ak.to_numpy(ee.SoftwareTriggerResult.accept_hadron)) < 0.05
    # the bhabha line (looked at before its 1-in-50 prescale) takes the Bhabhas
    # whose two tracks are inside the tracking acceptance (most go forward, out of it)
    f = hlt.features(ee, Beam.y4s())
    passed = hlt.lines(f, Beam.y4s())["bhabha"]
    assert np.mean(passed[f.n_tracks == 2]) > 0.8
    assert np.mean(hlt.lines(hlt.features(bb, Beam.y4s()), Beam.y4s())["bhabha"]) < 0.01


def test_b_to_d0_pi_signal_peaks_where_belle2_sees_it(db):
    ev = chain.produce_mc("1213030000", 3000, seed=21, db=db)
    trk, mc = ev.Track, ev.MCParticle
    kid = kaon_id(ev.PIDLikelihood)
    idx = ak.local_index(trk)
    # anti-D0 -> K+ pi- (and D0 -> K- pi+): a kaon and an opposite-charge pion
    kp = ak.cartesian({"k": idx, "p": idx}, nested=False)
    k, p = kp.k, kp.p
    ok = (trk.charge[k] == -trk.charge[p]) & (kid[k] > 0.5) & (kid[p] < 0.5)
    kp = kp[ok]
    kx, ky, kz, ke = (c[kp.k] for c in four_vectors(trk, M_K))
    px, py, pz, pe = (c[kp.p] for c in four_vectors(trk, M_PI))
    dx, dy, dz, de = kx + px, ky + py, kz + pz, ke + pe
    mass = np.sqrt(np.maximum(de**2 - dx**2 - dy**2 - dz**2, 0))

    # truth: both daughters of the same D0 (mcIndex -> mother)
    mother = mc.mother
    mk = mother[ak.where(trk.mcIndex[kp.k] >= 0, trk.mcIndex[kp.k], 0)]
    mp = mother[ak.where(trk.mcIndex[kp.p] >= 0, trk.mcIndex[kp.p], 0)]
    true_d = (trk.mcIndex[kp.k] >= 0) & (mk == mp) & (mk >= 0)
    safe_mk = ak.where(mk >= 0, mk, 0)
    two_body = (mc.lastDaughter - mc.firstDaughter)[safe_mk] == 1  # D0 -> K pi only
    true_d = true_d & (abs(mc.pdg[safe_mk]) == 421) & two_body
    m_true = ak.to_numpy(ak.flatten(mass[true_d]))
    assert len(m_true) > 1500
    assert abs(np.median(m_true) - pdg.mass(421)) < 0.002
    assert robust_sigma(m_true) < 0.012

    # B+ -> anti-D0 pi+: add the bachelor pion (the D0 daughters' grandmother)
    d_sel = true_d & (abs(mass - pdg.mass(421)) < 0.03)
    dcand = ak.zip({"x": dx, "y": dy, "z": dz, "e": de, "mom": mk})[d_sel]
    pair = ak.cartesian({"d": dcand, "b": idx}, nested=False)
    bpi = pair.b
    bm = mother[ak.where(trk.mcIndex[bpi] >= 0, trk.mcIndex[bpi], 0)]
    gm = mother[pair.d.mom]
    true_b = (
        (trk.mcIndex[bpi] >= 0)
        & (bm == gm)
        & (abs(mc.pdg[ak.where(gm >= 0, gm, 0)]) == 521)
    )
    bx, by, bz, be = (c[bpi] for c in four_vectors(trk, M_PI))
    p4 = np.column_stack(
        [
            ak.to_numpy(ak.flatten((pair.d.x + bx)[true_b])),
            ak.to_numpy(ak.flatten((pair.d.y + by)[true_b])),
            ak.to_numpy(ak.flatten((pair.d.z + bz)[true_b])),
            ak.to_numpy(ak.flatten((pair.d.e + be)[true_b])),
        ]
    ).astype(np.float64)
    assert len(p4) > 1000
    beam = Beam.y4s()
    cms = to_cms(p4, beam)
    e_beam = beam.sqrt_s / 2
    mbc = np.sqrt(np.maximum(e_beam**2 - (cms[:, :3] ** 2).sum(axis=1), 0))
    delta_e = cms[:, 3] - e_beam
    assert abs(np.median(mbc) - 5.2793) < 0.002
    assert 0.002 <= robust_sigma(mbc) <= 0.004
    assert abs(np.median(delta_e)) < 0.005
    assert 0.008 <= robust_sigma(delta_e) <= 0.025


def test_ecl_calibration_in_the_payload_moves_the_peak(db):
    """Data with true gains spread: online constants (1.0) vs the ideal calibration."""
    cond = true_conditions(12, 50)
    raw = chain.simulate_run(
        "ee", 1500, experiment=12, run=50, seed=31, conditions=cond
    )
    online = RecoPayloads.load(db, ONLINE_TAG, 12, 50)
    ideal = RecoPayloads.ideal(cond)

    def response(payloads):
        ev = reconstruction.reconstruct(raw, payloads)
        cl, mc = ev.ECLCluster, ev.MCParticle
        good = (cl.mcIndex >= 0) & (cl.E > 1.0)
        e_true = mc.E[ak.where(cl.mcIndex >= 0, cl.mcIndex, 0)]
        return ak.to_numpy(ak.flatten((cl.E / e_true)[good]))

    r_online, r_ideal = response(online), response(ideal)
    assert abs(np.median(r_ideal) - 1.0) < 0.02  # electrons up to 7 GeV leak a little
    assert robust_sigma(r_online) > 1.3 * robust_sigma(r_ideal)
    assert abs(np.median(r_online) - np.median(r_ideal)) > 0.003


def test_momentum_scale_payload_calibrates_mumu_mass(db):
    cond = true_conditions(12, 80)
    assert abs(cond.field_scale - 1.0) > 0.001, "pick a run whose field is off"
    raw = chain.simulate_run(
        "mumu", 800, experiment=12, run=80, seed=41, conditions=cond
    )

    def mass(payloads):
        ev = reconstruction.reconstruct(raw, payloads)
        trk = ev.Track[ev.Track.pValue >= 0]
        two = trk[ak.num(trk) == 2]
        p4 = [ak.sum(c, axis=1) for c in four_vectors(two, 0.1056584)]
        m = np.sqrt(np.maximum(p4[3] ** 2 - p4[0] ** 2 - p4[1] ** 2 - p4[2] ** 2, 0))
        return ak.to_numpy(m[m > 10.0])

    online = RecoPayloads.load(db, ONLINE_TAG, 12, 80)
    bias_online = np.median(mass(online)) / cond.beam.sqrt_s - 1
    bias_ideal = np.median(mass(RecoPayloads.ideal(cond))) / cond.beam.sqrt_s - 1
    assert abs(bias_ideal) < 0.0015
    assert abs(bias_online - (1 / cond.field_scale - 1)) < 0.0015


def test_take_data_is_hlt_filtered_data_without_truth(db):
    raw = chain.take_data(4000, experiment=12, run=3, seed=51, db=db)
    assert 0 < len(raw) < 4000 * 0.2, "Bhabhas (96 %) are prescaled away"
    assert "MCParticle" not in raw.fields
    assert ak.all(raw.SoftwareTriggerResult.total_result)
    assert ak.all(ak.flatten(raw.RawTrack.mcIndex) == -1)
    assert ak.all(raw.EventMetaData.experiment == 12)
    mdst = chain.process(raw, db=db, tags=[ONLINE_TAG])
    assert ak.all(
        mdst.SoftwareTriggerResult.accept_hadron
        == raw.SoftwareTriggerResult.accept_hadron
    )
    # the hadron line keeps the hadronic events: BB and continuum, 4.77 of 307.7 nb
    expected = 4000 * 4.768 / 307.7
    kept = int(np.sum(ak.to_numpy(mdst.SoftwareTriggerResult.accept_hadron)))
    assert abs(kept - expected) < 4 * np.sqrt(expected)


def test_raw_to_mdst_round_trip_through_root_files(db, tmp_path):
    raw = chain.simulate_run("charged", 400, experiment=1003, run=0, seed=61)
    meta = formats.FileMetadata(level="raw", experiment=1003, run=0, is_mc=True)
    with pytest.raises(SchemaError, match="SoftwareTriggerResult"):
        formats.write_events(tmp_path / "raw.root", raw, meta)
    payloads = RecoPayloads.load(db, MC_TAG, 1003, 0)
    direct = reconstruction.reconstruct(
        raw, payloads, trigger_rng=np.random.default_rng(1)
    )
    raw = ak.with_field(raw, direct.SoftwareTriggerResult, "SoftwareTriggerResult")
    formats.write_events(tmp_path / "raw.root", raw, meta)
    from_file = reconstruction.reconstruct(
        formats.read_events(tmp_path / "raw.root"), payloads
    )
    formats.write_events(
        tmp_path / "mdst.root", from_file, meta.model_copy(update={"level": "mdst"})
    )
    back = formats.read_events(tmp_path / "mdst.root")
    for part in formats.parts("mdst", mc=True):
        for field in part.field_names():
            a, b = direct[part.name][field], back[part.name][field]
            assert ak.all(ak.flatten(a == b, axis=None)), f"{part.name}.{field}"


def test_same_seed_same_events_other_seed_others(db, tmp_path):
    a = chain.produce_mc("uubar", 300, seed=71, db=db)
    b = chain.produce_mc("uubar", 300, seed=71, db=db)
    c = chain.produce_mc("uubar", 300, seed=72, db=db)
    meta = formats.FileMetadata(level="mdst", experiment=1003, run=0, is_mc=True)
    formats.write_events(tmp_path / "a.root", a, meta)
    formats.write_events(tmp_path / "b.root", b, meta)
    fa, fb = (
        formats.read_events(tmp_path / "a.root"),
        formats.read_events(tmp_path / "b.root"),
    )
    for part in formats.parts("mdst", mc=True):
        for field in part.field_names():
            assert ak.all(
                ak.flatten(fa[part.name][field] == fb[part.name][field], axis=None)
            )
    assert not ak.all(ak.num(a.Track) == ak.num(c.Track))


def test_a_tag_without_the_payload_is_named(db):
    db.create_tag("empty_staging")
    db.add_payload(
        "empty_staging", "TrackMomentumScale", IoV.experiment(12), {"scale": np.ones(1)}
    )
    with pytest.raises(
        NoPayload, match=r"ECLCrystalEnergy.*exp 14 run 3.*empty_staging"
    ):
        RecoPayloads.load(db, "empty_staging", 14, 3)
