"""Toy tracking: helix conventions, resolutions, efficiencies, calibration, ECL."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from b2grid.errors import PhysicsError
from b2grid.physics import tracking

Array = np.ndarray[Any, Any]


def _tracks(
    rng: np.random.Generator,
    n: int,
    *,
    pt: float | Array = 1.0,
    theta: float = np.pi / 2,
    pdg: int = 211,
    radius: float = 0.0,
    **kwargs: Any,
) -> tuple[tracking.RawTracks, dict[str, Array]]:
    """One particle per event, phi uniform, produced at ``radius`` along its path."""
    phi = rng.uniform(-np.pi, np.pi, n)
    pt_ = np.broadcast_to(np.asarray(pt, dtype=np.float64), (n,))
    truth = {
        "px": pt_ * np.cos(phi),
        "py": pt_ * np.sin(phi),
        "pz": pt_ / np.tan(theta),
        "vx": radius * np.cos(phi),
        "vy": radius * np.sin(phi),
        "vz": np.zeros(n),
    }
    raw = tracking.simulate(
        np.arange(n), np.full(n, pdg), truth["px"], truth["py"], truth["pz"],
        truth["vx"], truth["vy"], truth["vz"], np.zeros(n, dtype=np.int32), rng,
        n_events=n, **kwargs,
    )  # fmt: skip
    return raw, truth


def _sigma_pt(pt: float, mass: float = 0.13957) -> float:
    beta = pt / np.hypot(pt, mass)
    return float(np.hypot(1e-3 * pt, 3e-3 / beta))


def _sigma_d0(p: float, mass: float = 0.13957) -> float:
    beta = p / np.hypot(p, mass)
    return float(np.hypot(10e-4, 20e-4 / (p * beta)))


# --- helix conventions ---------------------------------------------------------------


def test_helix_round_trip_for_prompt_particles() -> None:
    rng = np.random.default_rng(1)
    px, py, pz = rng.normal(0.0, 1.0, (3, 1000))
    charge = rng.choice([-1, 1], 1000)
    zero = np.zeros(1000)
    vz = rng.normal(0.0, 0.5, 1000)
    helix = tracking.helix_from_truth(px, py, pz, charge, zero, zero, vz)
    back = tracking.momentum_from_helix(helix)
    for got, want in zip(back, (px, py, pz), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(helix.d0, 0.0, atol=1e-9)
    np.testing.assert_allclose(helix.z0, vz, atol=1e-9)
    assert np.array_equal(np.sign(helix.omega), charge)


def test_helix_of_displaced_particles_passes_through_the_vertex() -> None:
    rng = np.random.default_rng(2)
    n = 1000
    px, py, pz = rng.normal(0.0, 0.5, (3, n))
    charge = rng.choice([-1, 1], n)
    vx, vy, vz = rng.normal(0.0, 10.0, (3, n))
    h = tracking.helix_from_truth(px, py, pz, charge, vx, vy, vz)
    cx, cy, radius = tracking.helix_circle(h)
    np.testing.assert_allclose(np.hypot(vx - cx, vy - cy), radius, rtol=1e-9)
    # the POCA is on the circle, perpendicular to the momentum there
    poca = h.d0 * np.sin(h.phi0), -h.d0 * np.cos(h.phi0)
    np.testing.assert_allclose(np.hypot(poca[0] - cx, poca[1] - cy), radius, rtol=1e-9)
    assert np.all(np.abs(h.d0) <= np.hypot(vx, vy) + 1e-9)
    # walking the helix from the POCA to the vertex reproduces (vx, vy, vz)
    turn = tracking._wrap(h.phi0 - np.arctan2(py, px))
    s = turn / h.omega
    phi = h.phi0 - h.omega * s
    x = cx - np.sin(phi) / h.omega
    y = cy + np.cos(phi) / h.omega
    np.testing.assert_allclose(
        np.c_[x, y, h.z0 + h.tan_lambda * s], np.c_[vx, vy, vz], atol=1e-8
    )
    pt = np.hypot(*tracking.momentum_from_helix(h)[:2])
    np.testing.assert_allclose(pt, np.hypot(px, py), rtol=1e-12)


def test_d0_sign_follows_basf2() -> None:
    # positive track along +x passing above the origin: POCA = d0 (sin phi0, -cos phi0)
    h = tracking.helix_from_truth([2.0], [0.0], [0.0], [1], [0.0], [0.05], [0.0])
    assert h.d0[0] == pytest.approx(-0.05, abs=1e-6)
    assert h.omega[0] > 0
    assert h.omega[0] == pytest.approx(0.299792458e-2 * 1.5 / 2.0)


def test_charge_of() -> None:
    codes = [11, -11, 13, -13, 211, -211, 321, 2212, -2212, 22, 111, 130, 12]
    assert tracking.charge_of(codes).tolist() == [
        -1,
        1,
        -1,
        1,
        1,
        -1,
        1,
        1,
        -1,
        0,
        0,
        0,
        0,
    ]


# --- resolutions ---------------------------------------------------------------------


@pytest.mark.parametrize("pt", [1.0, 4.0])
def test_pt_resolution_follows_the_formula(pt: float) -> None:
    raw, _ = _tracks(np.random.default_rng(3), 40_000, pt=pt)
    trk = tracking.reconstruct(raw, 1.0)
    rel = np.hypot(trk.px, trk.py) / pt - 1.0
    assert np.std(rel) == pytest.approx(_sigma_pt(pt), rel=0.25)
    assert abs(np.mean(rel)) < 3 * np.std(rel) / np.sqrt(rel.size) + 1e-5


@pytest.mark.parametrize("p", [0.5, 1.0, 3.0])
def test_impact_parameter_resolution(p: float) -> None:
    raw, _ = _tracks(np.random.default_rng(4), 40_000, pt=p)
    assert np.std(raw.d0) == pytest.approx(_sigma_d0(p), rel=0.25)
    assert np.std(raw.z0) == pytest.approx(1.5 * _sigma_d0(p), rel=0.25)


def test_angles_resolution() -> None:
    raw, truth = _tracks(np.random.default_rng(5), 40_000, pt=1.0)
    phi = np.arctan2(truth["py"], truth["px"])[raw.event]
    dphi = tracking._wrap(raw.phi0 - phi)
    expected = np.hypot(1e-3, 2e-3 / 0.99)
    assert np.std(dphi) == pytest.approx(expected, rel=0.25)
    assert np.std(raw.tan_lambda) == pytest.approx(expected, rel=0.25)  # theta = 90°


def test_displaced_tracks_lose_inner_hits_and_resolution() -> None:
    rng = np.random.default_rng(6)
    prompt, _ = _tracks(rng, 5000)
    at_3cm, _ = _tracks(rng, 5000, radius=3.0)
    at_10cm, _ = _tracks(rng, 5000, radius=10.0)
    assert prompt.n_pxd.mean() > 1.7
    assert at_3cm.n_pxd.max() == 0
    assert at_3cm.n_svd.mean() > 7
    assert 2 < at_10cm.n_svd.mean() < 4.5  # only the 10.4 and 13.5 cm layers
    assert np.std(at_10cm.d0) > 5 * np.std(prompt.d0)


# --- efficiency and hits -------------------------------------------------------------


def test_efficiency_versus_pt() -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    eff = {pt: _tracks(rng, n, pt=pt)[0].event.size / n for pt in (0.05, 0.1, 0.3, 2.0)}
    assert eff[0.05] < 0.6
    assert eff[0.05] < eff[0.1] < eff[0.3]
    assert eff[0.3] == pytest.approx(0.98, abs=0.01)
    assert eff[2.0] == pytest.approx(0.98, abs=0.01)


def test_efficiency_versus_production_radius() -> None:
    rng = np.random.default_rng(8)
    n = 20_000
    eff = {
        r: _tracks(rng, n, radius=r)[0].event.size / n for r in (5.0, 30.0, 55.0, 70.0)
    }
    assert eff[5.0] > 0.96
    assert eff[30.0] > 0.9
    assert 0.3 < eff[55.0] < 0.7
    assert eff[70.0] < 0.2


def test_acceptance_and_species() -> None:
    rng = np.random.default_rng(9)
    n = 2000
    assert _tracks(rng, n, theta=np.radians(12.0))[0].event.size == 0
    assert _tracks(rng, n, theta=np.radians(160.0))[0].event.size == 0
    assert _tracks(rng, n, pdg=22)[0].event.size == 0
    assert _tracks(rng, n, pdg=2112)[0].event.size == 0
    for pdg in (11, -13, 211, -321, 2212):
        assert _tracks(rng, 200, pdg=pdg)[0].event.size > 180


def test_hit_counts() -> None:
    rng = np.random.default_rng(10)
    barrel, _ = _tracks(rng, 5000)
    forward, _ = _tracks(rng, 5000, theta=np.radians(20.0))
    curler, _ = _tracks(rng, 5000, pt=0.12)
    assert 40 <= barrel.n_cdc.mean() <= 56
    assert barrel.n_cdc.max() <= 56
    assert forward.n_cdc.mean() < 0.7 * barrel.n_cdc.mean()
    assert curler.n_cdc.mean() < 0.6 * barrel.n_cdc.mean()
    assert barrel.n_svd.max() <= 8
    assert barrel.n_svd.mean() > 7
    assert barrel.n_pxd.max() <= 2
    assert np.array_equal(
        barrel.ndf, barrel.n_cdc + barrel.n_svd + 2 * barrel.n_pxd - 5
    )


def test_p_values_are_uniform_for_real_tracks() -> None:
    raw, _ = _tracks(np.random.default_rng(11), 40_000)
    p = tracking.reconstruct(raw, 1.0).p_value
    counts = np.histogram(p, bins=10, range=(0.0, 1.0))[0] / p.size
    np.testing.assert_allclose(counts[1:], 0.097, atol=0.01)  # 3 % outliers at p ≈ 0
    assert 0.1 < counts[0] < 0.15


def test_chi2_survival_function() -> None:
    got = tracking.chi2_sf([40.0, 60.0, 20.0, 100.0], [40, 40, 30, 50])
    np.testing.assert_allclose(got, [0.470257, 0.021873, 0.916542, 3.455e-5], atol=2e-3)


# --- calibration ---------------------------------------------------------------------


def test_momenta_are_unbiased() -> None:
    raw, truth = _tracks(np.random.default_rng(12), 40_000, pt=1.5, theta=1.2)
    trk = tracking.reconstruct(raw, 1.0)
    p_true = np.sqrt(truth["px"] ** 2 + truth["py"] ** 2 + truth["pz"] ** 2)[0]
    p = np.sqrt(trk.px.astype(np.float64) ** 2 + trk.py**2 + trk.pz**2)
    assert np.mean(p) / p_true == pytest.approx(1.0, abs=3e-4)
    assert np.mean(trk.pz) == pytest.approx(truth["pz"][0], rel=1e-3)


@pytest.mark.parametrize(("momentum_scale", "bias"), [(1.0, -0.005), (1.005, 0.0)])
def test_field_miscalibration_needs_the_momentum_scale(
    momentum_scale: float, bias: float
) -> None:
    raw, _ = _tracks(np.random.default_rng(13), 40_000, pt=1.0, field_scale=1.005)
    trk = tracking.reconstruct(raw, momentum_scale)
    ratio = np.mean(np.hypot(trk.px.astype(np.float64), trk.py))
    assert ratio - 1.0 == pytest.approx(bias, abs=3e-4)
    assert np.allclose(trk.omega, raw.omega_raw / np.float32(momentum_scale))


def test_charge_and_pass_through_fields() -> None:
    raw, _ = _tracks(np.random.default_rng(14), 2000, pdg=-13)
    trk = tracking.reconstruct(raw, 1.0)
    assert np.all(trk.charge == 1)
    assert trk.charge.dtype == np.int8
    for name in ("event", "d0", "z0", "n_cdc", "dedx", "cherenkov_angle", "mc_index"):
        assert np.array_equal(getattr(trk, name), getattr(raw, name))


# --- output contract -----------------------------------------------------------------


def test_beam_background_fakes() -> None:
    rng = np.random.default_rng(15)
    n = 20_000
    clean, _ = _tracks(rng, n, background="BGx0")
    noisy, _ = _tracks(rng, n, background="BGx1")
    fakes = noisy.mc_index == -1
    assert not np.any(clean.mc_index == -1)
    assert fakes.sum() / n == pytest.approx(0.5, abs=0.03)
    assert np.std(noisy.d0[fakes]) > 4.0
    assert np.std(noisy.z0[fakes]) > 10.0
    pt = tracking._K / np.abs(noisy.omega_raw[fakes])
    assert np.median(pt) < 0.2
    assert np.all(np.diff(noisy.event) >= 0)
    with pytest.raises(PhysicsError, match="BGx0"):
        _tracks(rng, 10, background="high")
    with pytest.raises(PhysicsError, match="length"):
        tracking.simulate([0], [211], [1.0], [0.0], [0.0], [0.0], [0.0], [0.0], [0, 1],
                          rng, n_events=1)  # fmt: skip


def test_dtypes_sorting_and_mc_index() -> None:
    rng = np.random.default_rng(16)
    n = 300
    event = np.repeat(np.arange(n), 4)
    pdg = np.tile([211, -211, 22, 321], n)
    px, py, pz = rng.normal(0.0, 1.0, (3, 4 * n))
    zero = np.zeros(4 * n)
    mc = np.tile(np.arange(4, dtype=np.int32), n)
    raw = tracking.simulate(
        event, pdg, px, py, pz, zero, zero, zero, mc, rng, n_events=n
    )
    assert np.all(np.diff(raw.event) >= 0)
    assert set(np.unique(raw.mc_index)) <= {0, 1, 3}
    dtypes = {
        "event": np.int64, "d0": np.float32, "omega_raw": np.float32,
        "chi2": np.float32, "ndf": np.int16, "n_pxd": np.int16, "dedx": np.float32,
        "mc_index": np.int32,
    }  # fmt: skip
    for name, dtype in dtypes.items():
        assert getattr(raw, name).dtype == dtype, name


def test_reproducible_from_the_generator() -> None:
    a, _ = _tracks(np.random.default_rng(17), 500, background="BGx1")
    b, _ = _tracks(np.random.default_rng(17), 500, background="BGx1")
    c, _ = _tracks(np.random.default_rng(18), 500, background="BGx1")
    assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in a.__slots__)
    assert not np.array_equal(a.d0, c.d0)


# --- ECL extrapolation ---------------------------------------------------------------


def test_ecl_phi_shift_follows_the_charge() -> None:
    p, phi = 1.0, 0.3
    px, py = p * np.cos(phi), p * np.sin(phi)
    theta, phi_hit, reaches = tracking.propagate_to_ecl(
        [px, px, px],
        [py, py, py],
        [0.0] * 3,
        [1, -1, 0],
        [0.0] * 3,
        [0.0] * 3,
        [0.0] * 3,
    )
    assert reaches.all()
    shift = np.arcsin(125.0 / (2.0 * p / tracking._K))
    np.testing.assert_allclose(phi_hit - phi, [-shift, shift, 0.0], atol=1e-6)
    np.testing.assert_allclose(theta, np.pi / 2, atol=1e-9)


def test_ecl_curlers_and_endcaps() -> None:
    # barrel curler (2R < 125 cm), a forward and a backward track, a photon up the pipe
    theta, _, reaches = tracking.propagate_to_ecl(
        [0.25, 1.0, 1.0, 0.0], [0.0] * 4, [0.0, 3.0, -1.5, 2.0], [1, -1, 1, 0],
        [0.0] * 4, [0.0] * 4, [0.0] * 4,
    )  # fmt: skip
    assert reaches.tolist() == [False, True, True, False]
    assert np.degrees(theta[1]) < 32.5
    assert np.degrees(theta[2]) > 129.0
    # a straight line hits the forward endcap at its own polar angle
    t, _, ok = tracking.propagate_to_ecl([0.5], [0.0], [2.0], [0], [0.0], [0.0], [0.0])
    assert ok[0]
    assert t[0] == pytest.approx(np.arctan2(0.5, 2.0))


def test_ecl_impact_matches_a_stepped_helix() -> None:
    rng = np.random.default_rng(19)
    n = 200
    px, py, pz = rng.normal(0.0, 0.6, (3, n))
    q = rng.choice([-1, 1], n)
    vx, vy, vz = rng.normal(0.0, 1.0, (3, n))
    theta, phi, reaches = tracking.propagate_to_ecl(px, py, pz, q, vx, vy, vz)
    # numerical stepping in xy path length
    pt = np.hypot(px, py)
    omega, tan_l, direction = q * tracking._K / pt, pz / pt, np.arctan2(py, px)
    x, y, z = vx.copy(), vy.copy(), vz.copy()
    hit = np.full((n, 3), np.nan)
    for _ in range(3000):
        x, y, z = (
            x + 0.1 * np.cos(direction),
            y + 0.1 * np.sin(direction),
            z + 0.1 * tan_l,
        )
        direction = direction - omega * 0.1
        r = np.hypot(x, y)
        out = ((r >= 125.0) & (z > -102.0) & (z < 196.0)) | (z >= 196.0) | (z <= -102.0)
        new = out & np.isnan(hit[:, 0])
        hit[new] = np.c_[x, y, z][new]
    r = np.hypot(hit[:, 0], hit[:, 1])
    stepped = np.isfinite(r) & (
        (r >= 124.8) | ((hit[:, 2] > 0) & (r > 43.1)) | (r > 47.3)
    )
    assert np.mean(stepped == reaches) > 0.97
    both = stepped & reaches
    np.testing.assert_allclose(theta[both], np.arctan2(r, hit[:, 2])[both], atol=3e-3)
    dphi = tracking._wrap(phi[both] - np.arctan2(hit[:, 1], hit[:, 0])[both])
    np.testing.assert_allclose(dphi, 0.0, atol=3e-3)
