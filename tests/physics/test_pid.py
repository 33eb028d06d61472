"""Toy PID: raw signals, per-detector likelihoods and the basf2-like ID variables."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from b2grid.errors import PhysicsError
from b2grid.physics import klm, pid, tracking

Array = np.ndarray[Any, Any]


def _ecl_eop(pdg: Array, p: Array, rng: np.random.Generator) -> Array:
    """E/p as the test's ECL model gives it: e ~ N(1, 0.05); muons minimum ionising;
    hadrons half minimum ionising, half a hadronic shower spread over 0.1-1."""
    mip = 0.2 / p * (1.0 + 0.25 * rng.standard_normal(p.size))
    shower = rng.uniform(0.1, 1.0, p.size)
    hadron = np.where(rng.random(p.size) < 0.5, mip, shower)
    electron = rng.normal(1.0, 0.05, p.size)
    return np.where(
        np.abs(pdg) == 11, electron, np.where(np.abs(pdg) == 13, mip, hadron)
    )


def _klm_layers(
    pdg: Array, px: Array, py: Array, pz: Array, rng: np.random.Generator
) -> Array:
    """Layers of the KLM cluster matched to each particle (one particle per event)."""
    n = pdg.size
    event = np.arange(n)
    charge = tracking.charge_of(pdg)
    digits = klm.simulate(
        event, pdg, px, py, pz, charge, np.zeros(n, np.int32), rng, n_events=n
    )
    clusters = klm.reconstruct(digits, n)
    zero = np.zeros(n)
    theta, phi, _ = tracking.propagate_to_ecl(px, py, pz, charge, zero, zero, zero)
    return klm.match_tracks(event, theta, phi, clusters)[0]


def _sample(
    pdg: int,
    n: int,
    rng: np.random.Generator,
    p_range: tuple[float, float] = (0.5, 3.0),
) -> Array:
    """Log-likelihoods of ``n`` particles of species ``pdg`` in the barrel."""
    p = rng.uniform(*p_range, n)
    cos = rng.uniform(-0.5, 0.8, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    sin = np.sqrt(1.0 - cos**2)
    px, py, pz = p * sin * np.cos(phi), p * sin * np.sin(phi), p * cos
    codes = np.full(n, pdg) * rng.choice([-1, 1], n)
    dedx, angle = pid.simulate_raw(p, codes, rng)
    eop = _ecl_eop(codes, p, rng)
    layers = _klm_layers(codes, px, py, pz, rng)
    return pid.likelihoods(p, dedx, angle, eop, layers)


def test_kaon_identification() -> None:
    rng = np.random.default_rng(1)
    kaons, pions = _sample(321, 20_000, rng), _sample(211, 20_000, rng)
    efficiency = np.mean(pid.global_id(kaons, "K") > 0.5)
    fake = np.mean(pid.global_id(pions, "K") > 0.5)
    assert efficiency > 0.85
    assert fake < 0.10
    # the binary K/pi ratio is at least as efficient as the global one
    assert np.mean(pid.binary_id(kaons, 321, 211) > 0.5) >= efficiency
    assert np.mean(pid.global_id(pions, "pi") > 0.5) > 0.85


def test_electron_identification() -> None:
    rng = np.random.default_rng(2)
    electrons, pions = _sample(11, 20_000, rng), _sample(211, 20_000, rng)
    assert np.mean(pid.global_id(electrons, "e") > 0.5) > 0.90
    assert np.mean(pid.global_id(pions, "e") > 0.5) < 0.05


def test_muon_identification() -> None:
    rng = np.random.default_rng(3)
    muons = _sample(13, 20_000, rng, (1.0, 3.0))
    pions = _sample(211, 20_000, rng, (1.0, 3.0))
    assert np.mean(pid.global_id(muons, "mu") > 0.5) > 0.90
    assert np.mean(pid.global_id(pions, "mu") > 0.5) < 0.05
    # without the KLM, muons and pions look alike
    assert np.mean(pid.binary_id(muons, "mu", "pi", ["CDC", "TOP"]) > 0.5) < 0.7


def test_proton_and_deuteron_hypotheses() -> None:
    rng = np.random.default_rng(4)
    protons = _sample(2212, 5000, rng)
    assert np.mean(pid.global_id(protons, "p") > 0.5) > 0.85
    deuterons = _sample(1000010020, 2000, rng, (1.0, 3.0))
    assert np.mean(pid.global_id(deuterons, "d") > 0.5) > 0.85


# --- raw signals ---------------------------------------------------------------------


def test_dedx_has_its_minimum_at_one_and_seven_percent_resolution() -> None:
    bg = np.logspace(-0.5, 4, 500)
    curve = pid.dedx_expected(bg)
    assert curve.min() == pytest.approx(1.0, abs=1e-3)
    assert 2.5 < bg[np.argmin(curve)] < 4.5
    assert 1.4 < curve[-1] < 1.6
    assert curve[0] > 3.0
    rng = np.random.default_rng(5)
    dedx, _ = pid.simulate_raw(np.full(50_000, 1.0), np.full(50_000, 211), rng)
    mean = pid.dedx_expected(1.0 / 0.13957039)
    assert np.mean(dedx) == pytest.approx(mean, rel=2e-3)
    assert np.std(dedx) / np.mean(dedx) == pytest.approx(0.07, rel=0.05)


def test_cherenkov_angle_threshold_and_resolution() -> None:
    rng = np.random.default_rng(6)
    n = 20_000
    _, kaon_low = pid.simulate_raw(np.full(n, 0.4), np.full(n, 321), rng)  # below 0.477
    _, pion = pid.simulate_raw(np.full(n, 2.0), np.full(n, -211), rng)
    assert np.all(kaon_low == 0.0)
    beta = 2.0 / np.hypot(2.0, 0.13957039)
    assert np.mean(pion) == pytest.approx(np.arccos(1.0 / (1.44 * beta)), abs=2e-4)
    assert np.std(pion) == pytest.approx(0.004, rel=0.05)
    assert pion.dtype == np.float32


def test_missing_measurements_give_zero() -> None:
    ll = pid.likelihoods(
        [1.0, 1.0], [np.nan, 1.0], [np.nan, 0.8], [np.nan, 0.9], [-1, 3]
    )
    assert ll.shape == (2, len(pid.DETECTORS), len(pid.HYPOTHESES))
    assert ll.dtype == np.float32
    assert np.all(ll[0] == 0.0)
    assert np.all(np.isfinite(ll[1]))
    assert np.any(ll[1] != 0.0)


def test_no_photons_is_information() -> None:
    # 0.8 GeV: a kaon is above threshold, a proton below; no photons favours the proton
    ll = pid.likelihoods([0.8], [np.nan], [0.0], [np.nan], [-1])
    assert pid.binary_id(ll, "p", "K") > 0.99


def test_id_variables_are_normalised_and_stable() -> None:
    rng = np.random.default_rng(7)
    ll = rng.normal(0.0, 3000.0, (1000, 4, 6)).astype(np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        ids = np.stack([pid.global_id(ll, h) for h in pid.HYPOTHESES])
        ab = pid.binary_id(ll, "K", "pi")
        ba = pid.binary_id(ll, 211, 321)
    assert np.all(np.isfinite(ids))
    assert np.allclose(ids.sum(axis=0), 1.0)
    np.testing.assert_allclose(ab + ba, 1.0)
    # only chosen detectors count
    ll2 = np.zeros((1, 4, 6))
    ll2[0, 3, 1] = 5.0
    assert pid.binary_id(ll2, "mu", "pi", ["CDC", "TOP", "ECL"])[0] == 0.5
    assert pid.binary_id(ll2, "mu", "pi")[0] == pytest.approx(
        1.0 / (1.0 + np.exp(-5.0))
    )


def test_bad_names_raise() -> None:
    ll = np.zeros((1, 4, 6))
    with pytest.raises(PhysicsError, match="hypothesis"):
        pid.global_id(ll, "kaon")
    with pytest.raises(PhysicsError, match="PDG"):
        pid.global_id(ll, 22)
    with pytest.raises(PhysicsError, match="detector"):
        pid.global_id(ll, "K", ["RICH"])


def test_muon_range_model() -> None:
    depth = pid.muon_range_layers([0.5, 0.6, 1.0, 1.5, 5.0])
    assert depth[0] == 0.0
    assert depth[1] == 0.0
    assert 5.0 < depth[2] < 10.0
    assert depth[3] >= 14.0
    assert depth[4] == 15.0
    assert pid.muon_range_layers([5.0], [np.radians(140.0)])[0] == 12.0
