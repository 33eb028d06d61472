"""Particle lists from mDST: sources, cuts, standard lists, bad input named."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from b2grid import formats
from b2grid.analysis import STANDARD_LISTS, Analysis, open_events
from b2grid.errors import (
    BadDecayString,
    BadEventFile,
    SchemaError,
    UnknownParticleList,
    UnknownVariable,
)
from b2grid.physics import chain


def test_charged_lists_hold_every_track_with_both_charges(
    generic_mdst: ak.Array,
) -> None:
    ana = Analysis(generic_mdst)
    pi = ana.fill_particle_list("pi-:all")  # either charge names the same list
    assert pi.name == "pi+:all"
    assert len(pi) == int(ak.sum(ak.num(generic_mdst.Track)))
    q = ak.to_numpy(ak.flatten(generic_mdst.Track.charge))
    assert np.array_equal(pi.pdg, np.where(q > 0, 211, -211))
    assert np.array_equal(pi.counts(), ak.to_numpy(ak.num(generic_mdst.Track)))
    k = ana.fill_particle_list("K+:all")
    m = np.sqrt(k.E**2 - k.px**2 - k.py**2 - k.pz**2)
    assert np.allclose(m, 0.493677, atol=1e-5)
    assert ana["pi+:all"] is ana["pi-:all"] is pi


def test_photons_are_neutral_clusters_and_v0s_give_k_shorts(
    generic_mdst: ak.Array,
) -> None:
    ana = Analysis(generic_mdst)
    g = ana.fill_particle_list("gamma:all")
    neutral = ak.to_numpy(ak.flatten(generic_mdst.ECLCluster.trackIndex)) < 0
    assert len(g) == neutral.sum()
    assert np.allclose(g.E**2, g.px**2 + g.py**2 + g.pz**2, rtol=1e-9)
    ks = ana.fill_standard_list("K_S0:merged")
    v0 = generic_mdst.V0
    expected = (abs(v0.pdg) == 310) & (v0.M > 0.45) & (v0.M < 0.55)
    assert len(ks) == int(ak.sum(expected))
    assert ks.keys.shape[1] == 2  # built from two tracks: overlap checks see them


def test_cuts_select_and_apply_cuts_narrows(generic_mdst: ak.Array) -> None:
    ana = Analysis(generic_mdst)
    good = ana.fill_particle_list("K+:good", "kaonID > 0.6 and abs(dr) < 2")
    allk = Analysis(generic_mdst).fill_particle_list("K+:all")
    kid = Analysis(generic_mdst)
    kid.fill_particle_list("K+:all")
    values = kid.values("K+:all", "kaonID")
    dr = kid.values("K+:all", "dr")
    assert len(good) == int(((values > 0.6) & (dr < 2)).sum()) < len(allk)
    tight = ana.apply_cuts("K+:good", "p > 1")
    assert (ana.values("K+:good", "p") > 1).all()
    assert len(tight) <= len(good)
    copy = ana.copy_list("K+:fast", "K+:good", "pt > 1.5")
    assert copy.name == "K+:fast"
    assert (ana.values("K+:fast", "pt") > 1.5).all()
    mask = ana.event_mask("K+:fast")
    assert mask.shape == (len(generic_mdst),)
    assert mask.sum() == (copy.counts() > 0).sum()


def test_standard_lists_fill_themselves_when_a_decay_needs_them(
    generic_mdst: ak.Array,
) -> None:
    ana = Analysis(generic_mdst)
    b = ana.reconstruct_decay("B+:pi0 -> pi+:loose pi0:eff40", "Mbc > 5.0")
    assert "pi0:eff40" in ana
    assert "gamma:pi0eff40" in ana
    assert "pi+:loose" in ana
    m = ana.values("pi0:eff40", "M")
    assert ((m > 0.120) & (m < 0.145)).all()
    assert (ana.values("B+:pi0", "Mbc") > 5.0).all()
    assert len(b) == len(ana["B+:pi0"])
    names = {s.name for s in STANDARD_LISTS}
    assert {"pi+:all", "K+:all", "gamma:all", "pi0:eff40", "K_S0:merged"} <= names


def test_truth_of_final_state_particles(signal_mdst: ak.Array) -> None:
    ana = Analysis(signal_mdst[:500])
    pi = ana.fill_particle_list("pi+:all")
    sig = ana.values("pi+:all", "isSignal") == 1
    mc = ana.values("pi+:all", "mcPDG")
    assert np.array_equal(sig, mc == pi.pdg)
    assert 0.3 < sig.mean() < 0.95


def test_list_errors_name_the_list(generic_mdst: ak.Array) -> None:
    ana = Analysis(generic_mdst[:20])
    ana.fill_particle_list("pi+:all")
    with pytest.raises(
        UnknownParticleList, match=r"'pi\+:al'.*did you mean 'pi\+:all'"
    ):
        ana["pi+:al"]
    with pytest.raises(UnknownParticleList, match="D0:Kpi"):
        ana.reconstruct_decay("B+:Dpi -> anti-D0:Kpi pi+")
    with pytest.raises(BadDecayString, match="pi0 is not a final-state particle"):
        ana.fill_particle_list("pi0:mine")
    with pytest.raises(BadDecayString, match="has no label"):
        ana.fill_particle_list("pi+")
    with pytest.raises(UnknownVariable, match="did you mean 'kaonID'"):
        ana.fill_particle_list("K+:good", "kaonid > 0.6")
    assert "K+:good" not in ana  # a bad cut leaves no half-made list


def test_a_raw_batch_is_refused_naming_what_is_missing() -> None:
    raw = chain.simulate_run("uubar", 5, experiment=1003, run=0, seed=1)
    with pytest.raises(SchemaError, match=r"a RAW batch.*reads mDST or uDST"):
        Analysis(raw)


def test_files_that_are_not_mdst_or_udst_are_refused(
    tmp_path: Path, generic_mdst: ak.Array, analysis_db: object
) -> None:
    meta = formats.FileMetadata(level="mdst", experiment=1003, run=0, is_mc=True)
    mdst = tmp_path / "a.mdst.root"
    formats.write_events(mdst, generic_mdst[:50], meta)
    ana = Analysis.open(mdst)
    assert len(ana) == 50
    assert ana.data.source == str(mdst)
    chunks = list(Analysis.iterate(mdst))
    assert sum(len(c) for c in chunks) == 50

    nt = tmp_path / "n.root"
    formats.write_ntuple(nt, {"x": np.arange(3.0)}, meta)
    with pytest.raises(BadEventFile, match=r"n\.root.*is a ntuple file"):
        open_events(nt)
    raw = tmp_path / "r.root"
    chain.write_mc(raw, "uubar", 5, seed=1, db=analysis_db, level="raw")  # type: ignore[arg-type]
    with pytest.raises(BadEventFile, match=r"r\.root.*is a raw file"):
        Analysis.open(raw)
    junk = tmp_path / "junk.root"
    junk.write_bytes(b"not root")
    with pytest.raises(BadEventFile, match=r"junk\.root"):
        Analysis.open(junk)
    with pytest.raises(BadEventFile, match="no such file"):
        Analysis.open(tmp_path / "missing.root")


def test_a_skim_like_udst_round_trip(tmp_path: Path, signal_mdst: ak.Array) -> None:
    """Keep events with a candidate, store the list as a uDST collection, reread."""
    ana = Analysis(signal_mdst[:300])
    ana.reconstruct_decay("D0:Kpi -> K- pi+", "1.8 < M < 1.9")
    d0 = ana["D0:Kpi"]
    keep = ana.event_mask("D0:Kpi")
    udst = ak.with_field(ana.events[keep], d0.to_awkward()[keep], "DKpi")
    meta = formats.FileMetadata(level="udst", experiment=1003, run=0, is_mc=True)
    formats.write_events(tmp_path / "s.udst.root", udst, meta)
    again = Analysis.open(tmp_path / "s.udst.root")
    assert len(again) == keep.sum()
    rebuilt = again.reconstruct_decay("D0:Kpi -> K- pi+", "1.8 < M < 1.9")
    assert len(rebuilt) == len(d0)
    stored = again.events.DKpi
    assert np.allclose(ak.to_numpy(ak.flatten(stored.E)), rebuilt.E)
    assert np.array_equal(ak.to_numpy(ak.flatten(stored.pdg)), rebuilt.pdg)


def test_empty_lists_and_ntuples(tmp_path: Path, generic_mdst: ak.Array) -> None:
    ana = Analysis(generic_mdst[:30])
    ana.fill_particle_list("K+:none", "p > 100")
    assert len(ana.reconstruct_decay("D0:none -> K-:none pi+")) == 0
    meta = ana.variables_to_ntuple("D0:none", ["M", "isSignal"], tmp_path / "e.root")
    assert meta.nevents == 0
    assert len(formats.read_ntuple(tmp_path / "e.root")["M"]) == 0
