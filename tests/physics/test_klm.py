"""Toy KLM: muon range, punch-through, K_L showers, clustering and track matching."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from b2grid.physics import klm, tracking

Array = np.ndarray[Any, Any]


def _singles(
    rng: np.random.Generator, pdg: int, p: float, n: int = 4000, theta: float = 1.4
) -> tuple[klm.KlmDigits, klm.KlmClusters]:
    """Digits and clusters of one particle per event, phi uniform."""
    phi = rng.uniform(-np.pi, np.pi, n)
    px, py = p * np.sin(theta) * np.cos(phi), p * np.sin(theta) * np.sin(phi)
    pz = np.full(n, p * np.cos(theta))
    codes = np.full(n, pdg)
    digits = klm.simulate(
        np.arange(n), codes, px, py, pz, tracking.charge_of(codes),
        np.full(n, 7, dtype=np.int32), rng, n_events=n,
    )  # fmt: skip
    return digits, klm.reconstruct(digits, n)


@pytest.mark.parametrize(
    ("p", "low", "high"),
    [(0.5, 0.0, 0.0), (1.0, 4.5, 9.0), (1.6, 12.5, 15.0), (3.0, 13.0, 15.0)],
)
def test_muons_range_out_by_momentum(p: float, low: float, high: float) -> None:
    digits, clusters = _singles(np.random.default_rng(1), 13, p)
    if high == 0.0:
        assert digits.event.size == 0
        return
    assert clusters.event.size == pytest.approx(4000, rel=0.01)
    assert low <= clusters.layers.mean() <= high
    assert np.mean(clusters.innermost_layer) < 1.1  # layers fire with 95 % efficiency
    assert digits.layer.min() >= 1
    assert digits.layer.max() <= 15


def test_endcaps_have_fewer_layers() -> None:
    _, backward = _singles(np.random.default_rng(2), 13, 3.0, theta=np.radians(140.0))
    assert backward.layers.max() <= 12


def test_hadrons_punch_through_rarely() -> None:
    rng = np.random.default_rng(3)
    for pdg in (211, -321, 2212):
        digits, clusters = _singles(rng, pdg, 2.0)
        fraction = np.unique(digits.event).size / 4000
        assert 0.02 < fraction < 0.07
        assert clusters.layers.mean() < 3.5
    slow, _ = _singles(rng, 211, 0.4)
    assert slow.event.size == 0


def test_neutral_hadrons_interact() -> None:
    rng = np.random.default_rng(4)
    digits, clusters = _singles(rng, 130, 1.5)
    assert np.unique(digits.event).size / 4000 == pytest.approx(0.7, abs=0.04)
    assert clusters.innermost_layer.mean() > 1.5  # showers start at a random depth
    neutrons, _ = _singles(rng, 2112, 1.5)
    assert np.unique(neutrons.event).size / 4000 == pytest.approx(0.3, abs=0.04)
    photons, _ = _singles(rng, 22, 1.5)
    assert photons.event.size == 0


def test_digits_follow_the_bent_track() -> None:
    rng = np.random.default_rng(6)
    n = 2000
    codes = np.full(n, -13)
    digits = klm.simulate(
        np.arange(n), codes, np.full(n, 1.2), np.zeros(n), np.zeros(n),
        tracking.charge_of(codes), np.zeros(n, np.int32), rng, n_events=n,
    )  # fmt: skip
    _, phi, _ = tracking.propagate_to_ecl([1.2], [0.0], [0.0], [1], [0.0], [0.0], [0.0])
    assert np.mean(digits.phi) == pytest.approx(phi[0], abs=3e-3)
    assert phi[0] < -0.1  # a positive track bends clockwise
    # 15 mrad resolution plus multiple scattering growing with depth
    assert 0.015 < np.std(digits.theta) < 0.05


def test_clusters_separate_particles_without_truth() -> None:
    rng = np.random.default_rng(7)
    n = 2000
    # per event a muon and a K_L, 0.5 rad apart in phi
    event = np.repeat(np.arange(n), 2)
    phi0 = rng.uniform(-np.pi, np.pi, n)
    phi = np.c_[phi0, phi0 + 0.5].ravel()
    codes = np.tile([13, 130], n)
    p = 2.0
    px, py, pz = p * np.cos(phi), p * np.sin(phi), np.zeros(2 * n)
    mc = np.tile(np.array([0, 1], dtype=np.int32), n)
    digits = klm.simulate(
        event, codes, px, py, pz, tracking.charge_of(codes), mc, rng, n_events=n
    )
    clusters = klm.reconstruct(digits, n)
    # every digit's cluster is labelled with the digit's own particle
    assert np.all(np.diff(clusters.event) >= 0)
    assert clusters.mc_index.dtype == np.int32
    assert clusters.layers.dtype == np.int8
    n_particles = np.unique(digits.event * 2 + digits.mc_index).size
    assert clusters.event.size == pytest.approx(n_particles, rel=0.01)
    # the same digits with truth hidden give the same clusters
    blind = klm.KlmDigits(
        digits.event, digits.layer, digits.theta, digits.phi,
        np.full(digits.event.size, -1, dtype=np.int32),
    )  # fmt: skip
    again = klm.reconstruct(blind, n)
    np.testing.assert_array_equal(again.theta, clusters.theta)
    np.testing.assert_array_equal(again.layers, clusters.layers)
    assert np.all(again.mc_index == -1)


def test_clusters_join_across_phi_pi() -> None:
    digits = klm.KlmDigits(
        np.array([0, 0, 0, 1], dtype=np.int64),
        np.array([1, 2, 3, 1], dtype=np.int8),
        np.full(4, 1.5, dtype=np.float32),
        np.array([3.12, -3.12, 3.1, 0.0], dtype=np.float32),
        np.array([4, 4, 4, 2], dtype=np.int32),
    )
    clusters = klm.reconstruct(digits, 3)
    assert clusters.event.tolist() == [0, 1]
    assert clusters.layers.tolist() == [3, 1]
    assert clusters.n_digits.tolist() == [3, 1]
    assert abs(clusters.phi[0]) > 3.1


def test_empty_input() -> None:
    empty = klm.KlmDigits(
        np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0, np.float32),
        np.zeros(0, np.float32), np.zeros(0, np.int32),
    )  # fmt: skip
    clusters = klm.reconstruct(empty, 5)
    assert clusters.event.size == 0
    layers, track = klm.match_tracks(
        np.array([0, 3]), np.ones(2), np.zeros(2), clusters
    )
    assert layers.tolist() == [0, 0]
    assert track.size == 0


def test_match_tracks_mutual_nearest() -> None:
    clusters = klm.KlmClusters(
        event=np.array([0, 0, 2], dtype=np.int64),
        theta=np.array([1.0, 2.0, 1.0], dtype=np.float32),
        phi=np.array([0.0, 1.0, 0.0], dtype=np.float32),
        layers=np.array([12, 3, 9], dtype=np.int8),
        innermost_layer=np.ones(3, dtype=np.int8),
        n_digits=np.array([12, 3, 9], dtype=np.int16),
        mc_index=np.array([0, 1, 0], dtype=np.int32),
    )
    # event 0: tracks 0 and 1 both near cluster 0, track 1 nearer; track 2 far away
    # event 1: no clusters; event 2: a track near its cluster
    layers, track = klm.match_tracks(
        np.array([0, 0, 0, 1, 2]),
        np.array([1.05, 1.01, 0.5, 1.0, 1.0]),
        np.array([0.0, 0.0, -2.0, 0.0, 0.02]),
        clusters,
    )
    assert layers.tolist() == [0, 12, 0, 0, 9]
    assert track.tolist() == [1, -1, 0]


def test_reproducible() -> None:
    a, _ = _singles(np.random.default_rng(8), 13, 1.2, n=200)
    b, _ = _singles(np.random.default_rng(8), 13, 1.2, n=200)
    assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in a.__slots__)
