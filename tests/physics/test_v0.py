"""Toy V0 finder: K_S and Λ from track pairs, efficiency, resolution and fakes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from b2grid.physics import tracking, v0

Array = np.ndarray[Any, Any]
M_KS, M_LAMBDA, M_PI, M_P = 0.497611, 1.115683, 0.13957039, 0.93827209


def _unit(rng: np.random.Generator, n: int, cos_range: tuple[float, float]) -> Array:
    cos = rng.uniform(*cos_range, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    sin = np.sqrt(1.0 - cos**2)
    return np.stack([sin * np.cos(phi), sin * np.sin(phi), cos])


def _two_body(
    rng: np.random.Generator, p: float, mass: float, m1: float, m2: float, n: int
) -> tuple[Array, Array, Array]:
    """Mother direction and the lab momenta (3, n) of its isotropic two-body decay."""
    direction = _unit(rng, n, (-0.6, 0.6))
    q = np.sqrt((mass**2 - (m1 + m2) ** 2) * (mass**2 - (m1 - m2) ** 2)) / (2 * mass)
    star = q * _unit(rng, n, (-1.0, 1.0))
    gamma = np.hypot(p, mass) / mass
    beta = direction * (p / mass / gamma)
    daughters = []
    for m, k in ((m1, star), (m2, -star)):
        e = np.hypot(q, m)
        bk = (beta * k).sum(0)
        daughters.append(k + beta * ((gamma - 1) * bk / (beta**2).sum(0) + gamma * e))
    return direction, daughters[0], daughters[1]


def _decays(
    rng: np.random.Generator, n: int, p: float, mass: float, codes: tuple[int, int],
    masses: tuple[float, float], radius: float = 5.0,
) -> tuple[tracking.Tracks, Array]:  # fmt: skip
    """Reconstructed daughters of ``n`` decays at transverse ``radius`` (one per event).

    MC index 0 is the mother, 1 and 2 the daughters; returns the tracks and the
    mother index of each track."""
    direction, d1, d2 = _two_body(rng, p, mass, *masses, n)
    vertex = direction * (radius / np.hypot(direction[0], direction[1]))
    event = np.repeat(np.arange(n), 2)
    mom = np.stack([d1, d2], axis=2).reshape(3, -1)
    vtx = np.repeat(vertex, 2, axis=1)
    raw = tracking.simulate(
        event, np.tile(codes, n), *mom, *vtx, np.tile(np.array([1, 2], np.int32), n),
        rng, n_events=n,
    )  # fmt: skip
    trk = tracking.reconstruct(raw, 1.0)
    return trk, np.where(trk.mc_index > 0, 0, -1)


def test_kshort_efficiency_and_resolution() -> None:
    rng = np.random.default_rng(1)
    n = 5000
    trk, mother = _decays(rng, n, 1.0, M_KS, (211, -211), (M_PI, M_PI))
    found = v0.find(trk, n, mother_of_track=mother)
    both = np.bincount(trk.event, minlength=n) == 2
    true = (found.pdg == 310) & (found.mc_index == 0)
    efficiency = np.unique(found.event[true]).size / both.sum()
    assert efficiency > 0.8
    mass = found.mass[true]
    assert np.mean(mass) == pytest.approx(M_KS, abs=0.002)
    assert np.std(mass) < 0.005
    # resolution: half-width of the central 68 % (small opening angles in xy make
    # a tail of poorly placed vertices, as in any V0 fit)
    dr = np.hypot(found.vx[true], found.vy[true]) - 5.0
    low, median, high = np.percentile(dr, [16, 50, 84])
    assert (high - low) / 2 < 0.5
    assert abs(median) < 0.05
    assert np.mean(np.abs(dr) > 2.0) < 0.03
    p = np.sqrt(found.px[true] ** 2 + found.py[true] ** 2 + found.pz[true] ** 2)
    assert np.mean(p) == pytest.approx(1.0, abs=0.01)


def test_lambda_is_found_with_the_proton_on_the_right_side() -> None:
    rng = np.random.default_rng(2)
    n = 2000
    trk, mother = _decays(rng, n, 1.5, M_LAMBDA, (2212, -211), (M_P, M_PI))
    found = v0.find(trk, n, mother_of_track=mother)
    lam = found.pdg == 3122
    assert np.unique(found.event[lam]).size > 0.7 * n
    assert np.median(found.mass[lam]) == pytest.approx(M_LAMBDA, abs=0.002)
    assert not np.any(found.pdg == -3122)
    anti_trk, anti_mother = _decays(rng, n, 1.5, M_LAMBDA, (-2212, 211), (M_P, M_PI))
    anti = v0.find(anti_trk, n, mother_of_track=anti_mother)
    assert np.sum(anti.pdg == -3122) > 0.7 * n
    assert not np.any(anti.pdg == 3122)


def test_prompt_pion_pairs_give_few_candidates() -> None:
    rng = np.random.default_rng(3)
    n, per_event = 5000, 10
    m = n * per_event
    mom = _unit(rng, m, (-0.8, 0.9)) * rng.gamma(2.0, 0.3, m)
    vtx = rng.normal(0.0, [[0.001], [0.001], [0.03]], (3, m))
    codes = rng.choice([211, -211], m)
    raw = tracking.simulate(
        np.repeat(np.arange(n), per_event), codes, *mom, *vtx,
        np.tile(np.arange(per_event, dtype=np.int32), n), rng, n_events=n,
    )  # fmt: skip
    found = v0.find(tracking.reconstruct(raw, 1.0), n)
    assert found.event.size / n < 0.02
    assert np.all(found.mc_index == -1)


def test_output_contract() -> None:
    rng = np.random.default_rng(4)
    n = 1000
    trk, mother = _decays(rng, n, 0.8, M_KS, (211, -211), (M_PI, M_PI), radius=3.0)
    found = v0.find(trk, n, mother_of_track=mother)
    assert found.event.size > 0
    assert np.all(np.diff(found.event) >= 0)
    starts = np.searchsorted(trk.event, found.event)
    assert np.all(trk.charge[starts + found.track_index_pos] == 1)
    assert np.all(trk.charge[starts + found.track_index_neg] == -1)
    assert np.all(trk.event[starts + found.track_index_neg] == found.event)
    for name in ("track_index_pos", "track_index_neg", "pdg", "mc_index"):
        assert getattr(found, name).dtype == np.int32
    for name in ("mass", "px", "vz"):
        assert getattr(found, name).dtype == np.float32
    assert np.all(np.hypot(found.vx, found.vy) > v0.MIN_RADIUS)
    kshort = found.pdg == 310
    assert np.all((found.mass[kshort] > 0.45) & (found.mass[kshort] < 0.55))
    assert np.all((found.mass[~kshort] > 1.10) & (found.mass[~kshort] < 1.13))


def test_no_tracks() -> None:
    rng = np.random.default_rng(5)
    raw = tracking.simulate(
        np.zeros(0, np.int64), np.zeros(0, np.int64), *np.zeros((6, 0)),
        np.zeros(0, np.int32), rng, n_events=3,
    )  # fmt: skip
    assert v0.find(tracking.reconstruct(raw, 1.0), 3).event.size == 0
