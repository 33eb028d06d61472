"""SuperKEKB beams and Lorentz kinematics against the PHYSICS.md figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from b2grid.physics.kinematics import (
    Beam,
    boost,
    directions,
    invariant_mass,
    sample_collisions,
    sample_cos_theta,
    sample_vertices,
    to_cms,
    to_lab,
)


def random_p4(rng: np.random.Generator, n: int, mass: float = 0.5) -> np.ndarray:
    p = rng.normal(0.0, 2.0, (n, 3))
    e = np.sqrt((p**2).sum(axis=1) + mass**2)
    return np.column_stack([p, e])


def test_y4s_beams_give_the_belle2_cm_energy_and_boost() -> None:
    beam = Beam.y4s()
    assert beam.sqrt_s == pytest.approx(10.5796, abs=5e-4)
    assert beam.beta_gamma == pytest.approx(0.287, abs=2e-3)
    assert beam.tilt == pytest.approx(0.151, abs=3e-3)
    assert beam.e_beam_cms == pytest.approx(beam.sqrt_s / 2)
    beta = beam.boost_vector
    assert beta[0] > 0
    assert beta[1] == 0
    assert beta[2] > 0


def test_off_resonance_is_60_mev_below() -> None:
    assert Beam.y4s().sqrt_s - Beam.off_resonance().sqrt_s == pytest.approx(
        0.06, abs=5e-3
    )


def test_each_beam_makes_the_half_crossing_angle_with_z() -> None:
    beam = Beam.y4s()
    for p4, sign in ((beam.p4_her, 1.0), (beam.p4_ler, -1.0)):
        angle = math.atan2(p4[0], sign * p4[2])
        assert angle == pytest.approx(0.0415, abs=1e-9)
        assert invariant_mass(p4) == pytest.approx(0.000511, abs=1e-6)


def test_the_cm_frame_has_zero_momentum() -> None:
    beam = Beam.y4s()
    cms = to_cms(beam.p4, beam)
    np.testing.assert_allclose(cms[:3], 0.0, atol=1e-12)
    assert cms[3] == pytest.approx(beam.sqrt_s, rel=1e-12)
    # the beams are back to back with sqrt(s)/2 each
    her, ler = to_cms(beam.p4_her, beam), to_cms(beam.p4_ler, beam)
    np.testing.assert_allclose(her[:3] + ler[:3], 0.0, atol=1e-12)
    assert her[3] == pytest.approx(beam.e_beam_cms, rel=1e-6)
    np.testing.assert_allclose(beam.axis_cms, her[:3] / np.linalg.norm(her[:3]))


def test_sampled_collisions_spread_sqrt_s_by_5_mev() -> None:
    beam = Beam.y4s()
    sqrt_s, beta = sample_collisions(beam, 200_000, np.random.default_rng(1))
    assert sqrt_s.mean() == pytest.approx(beam.sqrt_s, abs=1e-4)
    assert sqrt_s.std() == pytest.approx(5.0e-3, abs=0.3e-3)
    assert beta.shape == (200_000, 3)
    np.testing.assert_allclose(beta.mean(axis=0), beam.boost_vector, atol=1e-4)


def test_sampled_vertices_follow_the_luminous_region() -> None:
    v = sample_vertices(Beam.y4s(), 100_000, np.random.default_rng(2))
    np.testing.assert_allclose(v.std(axis=0), [10e-4, 0.2e-4, 0.035], rtol=0.02)


def test_boost_then_unboost_is_the_identity() -> None:
    rng = np.random.default_rng(3)
    p4 = random_p4(rng, 1000)
    beta = rng.uniform(-0.55, 0.55, (1000, 3))
    there = boost(p4, beta)
    np.testing.assert_allclose(boost(there, -beta), p4, rtol=1e-12, atol=1e-12)
    beam = Beam.y4s()
    np.testing.assert_allclose(to_lab(to_cms(p4, beam), beam), p4, atol=1e-12)


def test_boosts_keep_masses() -> None:
    rng = np.random.default_rng(4)
    p4 = random_p4(rng, 1000, mass=1.86484)
    moved = boost(p4, rng.uniform(-0.5, 0.5, (1000, 3)))
    np.testing.assert_allclose(invariant_mass(moved), 1.86484, rtol=1e-10)


def test_boost_moves_a_particle_at_rest_with_beta() -> None:
    p = boost([[0.0, 0.0, 0.0, 2.0]], [[0.3, -0.2, 0.4]])[0]
    gamma = 1 / math.sqrt(1 - 0.29)
    np.testing.assert_allclose(p, [2 * gamma * 0.3, -2 * gamma * 0.2, 2 * gamma * 0.4,
                                   2 * gamma])  # fmt: skip


def test_boost_broadcasts_over_daughters() -> None:
    rng = np.random.default_rng(5)
    p4 = random_p4(rng, 30).reshape(10, 3, 4)
    beta = rng.uniform(-0.3, 0.3, (10, 1, 3))
    out = boost(p4, beta)
    assert out.shape == (10, 3, 4)
    np.testing.assert_allclose(out[4, 2], boost(p4[4, 2], beta[4, 0]))


@pytest.mark.parametrize("a", [0.0, 0.5, 1.0])
def test_cos_theta_follows_one_plus_a_cos2(a: float) -> None:
    c = sample_cos_theta(a, 200_000, np.random.default_rng(6))
    expected = (1 / 3 + a / 5) / (1 + a / 3)  # <cos^2> of 1 + a cos^2
    assert np.mean(c**2) == pytest.approx(expected, abs=3e-3)
    assert abs(c.mean()) < 5e-3
    assert c.min() >= -1
    assert c.max() <= 1


def test_directions_are_unit_vectors_at_the_asked_angle() -> None:
    rng = np.random.default_rng(7)
    axis = np.array([0.6, 0.0, 0.8])
    c = rng.uniform(-1, 1, 100)
    d = directions(c, rng.uniform(0, 2 * np.pi, 100), axis)
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1.0)
    np.testing.assert_allclose(d @ axis, c, atol=1e-12)
