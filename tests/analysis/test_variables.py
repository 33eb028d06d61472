"""The variable registry: values against direct computations, frames, NaN rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import awkward as ak
import numpy as np
import pytest

from b2grid.analysis import Analysis, describe, variables
from b2grid.formats import PID_DETECTORS, PID_HYPOTHESES
from b2grid.physics import pid
from b2grid.physics.kinematics import Beam, to_cms


def test_kinematics_of_a_known_track(toy_events: Callable[..., Any]) -> None:
    ana = Analysis(toy_events([[(0.6, 0.8, 1.0, 1)]]))
    ana.fill_particle_list("pi+:all")
    v = {
        n: ana.values("pi+:all", n)[0] for n in ("p", "pt", "E", "M", "cosTheta", "phi")
    }
    p = np.sqrt(2.0)
    assert v["pt"] == pytest.approx(1.0, rel=1e-6)
    assert v["p"] == pytest.approx(p, rel=1e-6)
    assert v["E"] == pytest.approx(np.hypot(p, 0.13957039), rel=1e-6)
    assert v["M"] == pytest.approx(0.13957039, rel=1e-4)
    assert v["cosTheta"] == pytest.approx(1.0 / p, rel=1e-6)
    assert v["phi"] == pytest.approx(np.arctan2(0.8, 0.6), rel=1e-6)
    assert ana.values("pi+:all", "2 * p - p / 2")[0] == pytest.approx(1.5 * p, rel=1e-6)
    assert ana.values("pi+:all", "p / 0")[0] == np.inf  # no warning either


def test_cms_frame_and_frame_invariance(generic_mdst: ak.Array) -> None:
    ana = Analysis(generic_mdst[:100])
    pl = ana.fill_particle_list("pi+:all")
    lab = np.column_stack([pl.px, pl.py, pl.pz, pl.E])
    cms = to_cms(lab, Beam.y4s())
    assert np.allclose(ana.values("pi+:all", "useCMSFrame(E)"), cms[:, 3])
    assert np.allclose(ana.values("pi+:all", "useCMSFrame(pz)"), cms[:, 2])
    assert np.allclose(
        ana.values("pi+:all", "useCMSFrame(M)"), ana.values("pi+:all", "M")
    )
    inner = ana.values("pi+:all", "useCMSFrame(useLabFrame(p))")
    assert np.allclose(inner, ana.values("pi+:all", "p"))


def test_pid_variables_are_the_physics_layers_likelihood_ratios(
    generic_mdst: ak.Array,
) -> None:
    ana = Analysis(generic_mdst)
    ana.fill_particle_list("K+:all")
    pidl = generic_mdst.PIDLikelihood
    ll = np.stack(
        [
            np.stack(
                [ak.to_numpy(ak.flatten(pidl[f"{d}_{h}"])) for h in PID_HYPOTHESES], 1
            )
            for d in PID_DETECTORS
        ],
        axis=1,
    )
    for name, hyp in (("kaonID", "K"), ("pionID", "pi"), ("electronID", "e")):
        assert np.allclose(
            ana.values("K+:all", name), pid.global_id(ll, hyp), atol=1e-12
        )
    assert np.allclose(
        ana.values("K+:all", "binaryPID(321, 211)"), pid.binary_id(ll, 321, 211)
    )
    assert np.isnan(ana.values("K+:all", "binaryPID(22, 211)")).all()


def test_daughter_and_event_variables(generic_mdst: ak.Array) -> None:
    ana = Analysis(generic_mdst)
    d = ana.reconstruct_decay("D0:Kpi -> K- pi+", "1.7 < M < 2.0")
    assert len(d) > 0
    k_p = ana.values("K+:all", "p")[d.daughters[:, 0]]
    assert np.array_equal(ana.values("D0:Kpi", "daughter(0, p)"), k_p)
    assert np.allclose(
        ana.values("D0:Kpi", "daughterInvM(0, 1)"), ana.values("D0:Kpi", "M")
    )
    assert np.isnan(ana.values("D0:Kpi", "daughter(2, p)")).all()
    assert np.isnan(ana.values("D0:Kpi", "kaonID")).all()  # not a track
    assert (ana.values("D0:Kpi", "nDaughters") == 2).all()
    n_tracks = ak.to_numpy(ak.num(generic_mdst.Track))[d.event]
    assert np.array_equal(ana.values("D0:Kpi", "nTracks"), n_tracks)
    r2 = ana.values("D0:Kpi", "R2")
    assert ((r2 >= 0) & (r2 <= 1)).all()
    assert (
        abs(ana.values("D0:Kpi", "dM") + 1.86484 - ana.values("D0:Kpi", "M")).max()
        < 1e-4
    )


def test_not_applicable_is_nan_and_data_has_no_truth(
    toy_events: Callable[..., Any],
) -> None:
    ana = Analysis(toy_events([[(1.0, 0.0, 0.0, 1)]], [[(0.5, 1.0, 0.0)]]))
    ana.fill_particle_list("gamma:all")
    ana.fill_particle_list("pi+:all")
    assert np.isnan(ana.values("gamma:all", "kaonID")).all()
    assert np.isnan(ana.values("gamma:all", "dr")).all()
    assert ana.values("gamma:all", "clusterE")[0] == pytest.approx(0.5)
    assert ana.values("gamma:all", "clusterReg")[0] == 2  # 1.0 rad is the barrel
    assert np.isnan(ana.values("pi+:all", "clusterE")).all()  # no matched cluster
    for name in ("isSignal", "mcPDG", "genMotherPDG", "mcP"):
        assert np.isnan(ana.values("pi+:all", name)).all()
    # a NaN fails every comparison: a cut on truth keeps nothing in data
    assert len(ana.apply_cuts("pi+:all", "isSignal == 1")) == 0


def test_describe_lists_every_variable_with_units() -> None:
    text = describe()
    for name in variables.VARIABLES:
        assert f"  {name} " in text or f"  {name}\n" in text
    for meta in variables.META.values():
        assert meta.signature in text
    assert "Mbc" in text
    assert "[GeV]" in text
    for name in (
        "M",
        "InvM",
        "p",
        "pt",
        "E",
        "cosTheta",
        "Mbc",
        "deltaE",
        "R2",
        "kaonID",
        "pionID",
        "isSignal",
        "nTracks",
        "daughter",
        "useCMSFrame",
    ):
        assert name in variables.names()


def test_registering_a_name_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="already registered"):
        variables.register("M", "again")(lambda pl, ev, fr: pl.E)
