"""ECL simulation and clustering: the physics figures, not just that it runs.

Photon guns (5,000 photons, one per event) are shot into the barrel and the forward
endcap and reconstructed with the default leakage correction; resolutions are the
robust sigma (half the central 68 % interval) of E_reco / E_true.
"""

from __future__ import annotations

import functools
from dataclasses import fields

import numpy as np
import pytest

from b2grid.errors import PhysicsError
from b2grid.physics import ecl, ecl_reco
from b2grid.physics.ecl_geometry import N_CRYSTALS, NEIGHBOURS9, cell_phi, cell_theta

ONES = np.ones(N_CRYSTALS + 1)
REGIONS = {"barrel": (35.0, 125.0), "endcap": (15.0, 29.0)}


def parametrisation(e: float) -> float:
    """sigma_E / E = 0.1 %/E (+) 1.6 %/E^(1/4) (+) 1.2 %."""
    return float(np.sqrt((0.001 / e) ** 2 + (0.016 / e**0.25) ** 2 + 0.012**2))


def robust_sigma(x: np.ndarray) -> float:
    lo, hi = np.percentile(x, [16, 84])
    return float(hi - lo) / 2


def leading(clusters: ecl_reco.EclClusters) -> np.ndarray:
    """Index of the most energetic cluster of each event that has one."""
    order = np.lexsort((-clusters.energy, clusters.event))
    firsts = np.flatnonzero(np.diff(clusters.event[order], prepend=-1) != 0)
    return order[firsts]


def shoot(
    energy: float,
    theta_deg: tuple[float, float] = REGIONS["barrel"],
    *,
    n: int = 5000,
    seed: int = 1,
    pdg: int = 22,
    gains: np.ndarray = ONES,
    calib: np.ndarray = ONES,
    background: str = "BGx0",
) -> tuple[ecl.EclDigits, ecl_reco.EclClusters, np.ndarray, np.ndarray]:
    """Digits and clusters of ``n`` one-particle events, plus the true theta, phi."""
    rng = np.random.default_rng(seed)
    theta = np.radians(rng.uniform(*theta_deg, n))
    phi = rng.uniform(-np.pi, np.pi, n)
    event = np.arange(n)
    digits = ecl.simulate(
        event, np.full(n, pdg), np.full(n, energy), theta, phi, event, gains, rng,
        n_events=n,
    )  # fmt: skip
    digits = ecl.merge(digits, ecl.background(n, background, rng))
    e = ecl_reco.calibrated_energy(digits, calib)
    clusters = ecl_reco.cluster(digits, e, n, leakage=ecl_reco.default_leakage())
    return digits, clusters, theta, phi


@functools.cache
def photon_response(energy: float, region: str) -> np.ndarray:
    """E_reco / E_true of the leading cluster of each event of a photon gun."""
    _, clusters, _, _ = shoot(energy, REGIONS[region])
    lead = leading(clusters)
    assert len(lead) == 5000  # every photon makes a cluster
    return clusters.energy[lead] / energy


@pytest.mark.parametrize("region", ["barrel", "endcap"])
@pytest.mark.parametrize("energy", [0.1, 1.0, 5.0])
def test_photon_energy_resolution_and_scale(energy: float, region: str) -> None:
    ratio = photon_response(energy, region)
    sigma = robust_sigma(ratio)
    expected = parametrisation(energy)  # 3.3 %, 2.0 %, 1.6 %
    assert abs(sigma / expected - 1) < 0.25
    assert abs(ratio.mean() - 1) < 0.01


def test_default_leakage_is_the_measured_photon_correction() -> None:
    assert ecl_reco.default_leakage() == ecl_reco.LEAKAGE
    assert 1.0 < ecl_reco.LEAKAGE < 1.1
    # without the correction photons come out low by the same factor
    _, clusters, _, _ = shoot(1.0, n=2000)
    raw = clusters.energy[leading(clusters)] / ecl_reco.LEAKAGE
    assert abs(np.mean(1.0 / raw) / ecl_reco.LEAKAGE - 1) < 0.01


def test_gain_spread_without_calibration_degrades_resolution() -> None:
    gains = np.random.default_rng(7).normal(1.0, 0.05, N_CRYSTALS + 1)
    _, clusters, _, _ = shoot(1.0, gains=gains)
    spread = robust_sigma(clusters.energy[leading(clusters)])
    assert spread > 1.3 * robust_sigma(photon_response(1.0, "barrel"))
    # calibration constants 1 / gain recover the ideal resolution
    _, clusters, _, _ = shoot(1.0, gains=gains, calib=1.0 / gains)
    recovered = robust_sigma(clusters.energy[leading(clusters)])
    assert recovered < 1.1 * robust_sigma(photon_response(1.0, "barrel"))


def test_global_gain_shift_moves_the_peak() -> None:
    _, clusters, _, _ = shoot(1.0, gains=np.full(N_CRYSTALS + 1, 1.03))
    shifted = np.median(clusters.energy[leading(clusters)])
    nominal = np.median(photon_response(1.0, "barrel"))
    assert shifted / nominal - 1 == pytest.approx(0.03, abs=0.005)


def test_photon_position_and_time() -> None:
    _, clusters, theta, phi = shoot(1.0)
    lead = leading(clusters)
    ev = clusters.event[lead]
    d_theta = np.degrees(clusters.theta[lead] - theta[ev])
    d_phi = np.degrees(np.angle(np.exp(1j * (clusters.phi[lead] - phi[ev]))))
    assert abs(np.median(d_theta)) < 0.1
    assert abs(np.median(d_phi)) < 0.1
    assert np.mean(np.hypot(d_theta, d_phi * np.sin(theta[ev])) < 1.0) > 0.98
    assert robust_sigma(clusters.time[lead]) == pytest.approx(1.0, abs=0.15)
    assert (clusters.mc_index[lead] == ev).all()
    assert clusters.phi.min() >= -np.pi
    assert clusters.phi.max() < np.pi


def test_shower_shapes_photons_narrow_hadrons_wide() -> None:
    photons = shoot(1.0, n=2000)[1]
    assert photons.e9oe21[leading(photons)].mean() > 0.9
    assert np.median(photons.n_hits[leading(photons)]) >= 15
    k_long = shoot(2.0, n=2000, pdg=130)[1]
    kl_shape = k_long.e9oe21[leading(k_long)]
    assert 0.4 < len(kl_shape) / 2000 < 0.8  # ~60 % of K_L interact
    assert kl_shape.mean() < photons.e9oe21.mean() - 0.1
    assert 0.6 < kl_shape.mean() < 0.85


def test_muons_are_minimum_ionising() -> None:
    digits, clusters, _, _ = shoot(1.0, n=2000, pdg=13)
    lead = leading(clusters)
    assert len(lead) == 2000
    deposit = clusters.energy[lead] / ecl_reco.default_leakage()
    assert 0.17 < np.median(deposit) < 0.21
    assert np.median(clusters.n_hits[lead]) <= 2
    assert len(digits) / 2000 < 3


def test_charged_pions_are_mips_or_showers() -> None:
    _, clusters, _, _ = shoot(2.0, n=2000, pdg=211)
    e = clusters.energy[leading(clusters)] / ecl_reco.default_leakage()
    mip = (e > 0.14) & (e < 0.26)
    assert 0.35 < mip.mean() < 0.7
    assert e.max() < 0.8 * 2.0


def test_two_photons_far_apart_make_two_clusters() -> None:
    rng = np.random.default_rng(3)
    n = 500
    event = np.repeat(np.arange(n), 2)
    theta = np.radians(np.tile([60.0, 100.0], n)) + rng.uniform(-0.01, 0.01, 2 * n)
    phi = rng.uniform(-np.pi, np.pi, 2 * n)
    energy = np.tile([1.0, 0.5], n)
    digits = ecl.simulate(
        event, np.full(2 * n, 22), energy, theta, phi, np.tile([0, 1], n), ONES, rng,
        n_events=n,
    )  # fmt: skip
    clusters = ecl_reco.cluster(
        digits, ecl_reco.calibrated_energy(digits, ONES), n, leakage=ecl_reco.LEAKAGE
    )
    assert np.bincount(clusters.event, minlength=n).tolist() == [2] * n
    for mc, e in ((0, 1.0), (1, 0.5)):
        assert np.median(clusters.energy[clusters.mc_index == mc]) == pytest.approx(
            e, rel=0.01
        )
    # different connected regions, numbered 1, 2 in each event
    regions = clusters.connected_region.reshape(n, 2)
    assert (np.sort(regions, axis=1) == [1, 2]).all()


@pytest.mark.parametrize("apart", [1, 2, 3])
def test_two_photons_close_together_merge_or_split(apart: int) -> None:
    """Two 1 GeV photons at the centres of barrel crystals ``apart`` in phi."""
    n = 400
    first = 1153 + 144 * 20 + np.arange(n) % 100
    cells = np.stack([first, first + apart], axis=1).ravel()
    event = np.repeat(np.arange(n), 2)
    rng = np.random.default_rng(apart)
    digits = ecl.simulate(
        event, np.full(2 * n, 22), np.ones(2 * n), cell_theta[cells], cell_phi[cells],
        np.tile([0, 1], n), ONES, rng, n_events=n,
    )  # fmt: skip
    clusters = ecl_reco.cluster(
        digits, ecl_reco.calibrated_energy(digits, ONES), n, leakage=ecl_reco.LEAKAGE
    )
    per_event = np.bincount(clusters.event, minlength=n)
    total = np.bincount(clusters.event, clusters.energy, minlength=n)
    if apart == 1:  # adjacent crystals: one local maximum, one cluster of both
        assert np.mean(per_event == 1) > 0.9
        assert np.median(total) == pytest.approx(2.0, rel=0.03)
    else:  # a crystal or two between them: two clusters sharing the energy
        assert (per_event == 2).all()
        assert np.median(total) == pytest.approx(2.0, rel=0.02)
        assert np.median(clusters.energy) == pytest.approx(1.0, rel=0.05)
        # touching showers form one connected region
        assert (clusters.connected_region == 1).all()


def test_background_alone_makes_few_clusters() -> None:
    n = 2000
    rng = np.random.default_rng(5)
    digits = ecl.background(n, "BGx1", rng)
    per_event = len(digits) / n
    assert 135 < per_event < 165
    endcap = (digits.cell <= 1152) | (digits.cell > 7776)
    assert endcap.mean() > 0.4  # 24 % of the crystals, half the hits
    e = ecl_reco.calibrated_energy(digits, ONES)
    assert 1e-3 < np.median(e) < 5e-3
    assert np.quantile(e, 0.999) < 0.05  # a tail to ~50 MeV
    assert e.max() < 0.1
    assert (digits.mc_index == -1).all()
    assert np.abs(digits.time).max() <= 500
    clusters = ecl_reco.cluster(digits, e, n)
    assert len(clusters) / n < 1.0
    assert len(ecl.background(n, "BGx0", rng)) == 0
    with pytest.raises(PhysicsError, match="known: BGx0, BGx1"):
        ecl.background(n, "BGx9", rng)


def test_digit_contract() -> None:
    gains = np.random.default_rng(2).uniform(0.9, 1.1, N_CRYSTALS + 1)
    digits, _, _, _ = shoot(0.5, n=1000, gains=gains, background="BGx1", seed=4)
    assert digits.event.dtype == np.int64
    assert digits.cell.dtype == np.int16
    assert digits.adc.dtype == np.int32
    assert digits.time.dtype == np.float32
    assert digits.mc_index.dtype == np.int32
    assert (np.diff(digits.event) >= 0).all()
    key = digits.event * (N_CRYSTALS + 1) + digits.cell
    assert len(np.unique(key)) == len(digits)  # one digit per (event, crystal)
    assert digits.cell.min() >= 1
    assert digits.cell.max() <= N_CRYSTALS
    # above threshold in energy, i.e. ADC / gain
    deposit = digits.adc / (ecl.ADC_PER_GEV * gains[digits.cell])
    signal = digits.mc_index >= 0
    assert deposit[signal].min() > ecl.THRESHOLD - 1e-4
    assert set(np.unique(digits.mc_index)) <= set(range(-1, 1000))


def test_mc_index_is_the_largest_contributor() -> None:
    # a 2 GeV and a 0.1 GeV photon into the same crystal
    cell = np.array([1153 + 144 * 20 + 5] * 2)
    digits = ecl.simulate(
        [0, 0], [22, 22], [2.0, 0.1], cell_theta[cell], cell_phi[cell], [7, 8], ONES,
        np.random.default_rng(0), n_events=1,
    )  # fmt: skip
    centre = digits.cell == cell[0]
    assert digits.mc_index[centre].tolist() == [7]


def test_merge_sums_counts_and_keeps_the_biggest() -> None:
    a = ecl.EclDigits.from_arrays(
        [0, 0, 2], [5, 6, 5], [100, 50, 7], [1, 2, 3], [1, 2, 3]
    )
    b = ecl.EclDigits.from_arrays(
        [0, 1, 2], [6, 6, 5], [80, 30, 9], [-9, -8, -7], [-1] * 3
    )
    m = ecl.merge(a, b, ecl.EclDigits.empty())
    got = sorted(
        zip(
            m.event.tolist(),
            m.cell.tolist(),
            m.adc.tolist(),
            m.mc_index.tolist(),
            strict=True,
        )
    )
    assert got == [(0, 5, 100, 1), (0, 6, 130, -1), (1, 6, 30, -1), (2, 5, 16, -1)]
    assert (np.diff(m.event) >= 0).all()
    assert m.time[(m.event == 0) & (m.cell == 6)].tolist() == [-9.0]
    assert ecl.merge(a) is a
    assert len(ecl.merge()) == 0


def test_unsorted_events_neutrinos_and_outside_acceptance() -> None:
    theta = np.radians([90.0, 90.0, 5.0, 60.0])
    digits = ecl.simulate(
        [1, 0, 0, 1], [22, 12, 22, -14], [1.0] * 4, theta, [0.5] * 4, [0, 1, 2, 3],
        ONES, np.random.default_rng(0), n_events=3,
    )  # fmt: skip
    assert set(digits.event.tolist()) == {1}
    assert set(digits.mc_index.tolist()) == {0}
    with pytest.raises(PhysicsError, match="differ in length"):
        ecl.simulate(
            [0],
            [22, 22],
            [1.0],
            [1.0],
            [0.0],
            [0],
            ONES,
            np.random.default_rng(0),
            n_events=1,
        )


def test_reproducible_with_the_same_seed() -> None:
    runs = [shoot(0.3, n=300, seed=s, background="BGx1") for s in (9, 9, 10)]
    (d1, c1, _, _), (d2, c2, _, _), (d3, _, _, _) = runs
    for f in fields(ecl.EclDigits):
        assert np.array_equal(getattr(d1, f.name), getattr(d2, f.name))
    for f in fields(ecl_reco.EclClusters):
        assert np.array_equal(getattr(c1, f.name), getattr(c2, f.name))
    assert len(d1) != len(d3) or not np.array_equal(d1.adc, d3.adc)


def test_cluster_contract_and_time_window() -> None:
    digits, clusters, _, _ = shoot(0.3, n=500, background="BGx1", seed=6)
    assert clusters.event.dtype == np.int64
    for name in ("energy", "theta", "phi", "e9oe21", "time"):
        assert getattr(clusters, name).dtype == np.float32
    for name in ("n_hits", "seed_cell", "connected_region"):
        assert getattr(clusters, name).dtype == np.int16
    assert clusters.mc_index.dtype == np.int32
    assert (np.diff(clusters.event) >= 0).all()
    assert (np.abs(clusters.time) <= 50).all()
    assert (clusters.connected_region >= 1).all()
    assert ((clusters.e9oe21 > 0) & (clusters.e9oe21 <= 1 + 1e-6)).all()
    assert ((clusters.n_hits >= 1) & (clusters.n_hits <= 21)).all()
    # seeds are local maxima: no in-time 3x3 neighbour has more energy
    e = ecl_reco.calibrated_energy(digits, ONES)
    key = digits.event * (N_CRYSTALS + 1) + digits.cell
    intime = np.abs(digits.time) <= 50
    lookup = dict(zip(key[intime].tolist(), e[intime].tolist(), strict=True))
    for ev, seed in zip(clusters.event[:50], clusters.seed_cell[:50], strict=True):
        mine = lookup[ev * (N_CRYSTALS + 1) + seed]
        around = [
            lookup.get(ev * (N_CRYSTALS + 1) + c, 0.0) for c in NEIGHBOURS9[seed][1:]
        ]
        assert mine >= max(around)
    # everything out of time: nothing at all
    none = ecl_reco.cluster(digits, e, 500, time_window=(1000.0, 2000.0))
    assert len(none) == 0


def test_calibrated_energy_uses_the_constants() -> None:
    d = ecl.EclDigits.from_arrays([0, 0], [1, 2], [20_000, 10_000], [0, 0], [0, 0])
    calib = np.ones(N_CRYSTALS + 1)
    calib[2] = 1.5
    assert ecl_reco.calibrated_energy(d, calib) == pytest.approx([1.0, 0.75])


def test_connected_regions_match_a_graph_search() -> None:
    """Regions equal the components of the in-time digits above CR_THRESHOLD
    linked by 3x3 neighbourhood (either direction), found by a plain search."""
    rng = np.random.default_rng(8)
    n = 60
    count = rng.poisson(40, n)
    event = np.repeat(np.arange(n), count)
    m = len(event)
    pdg = rng.choice([22, 211, -211, 130], m)
    theta = np.arccos(rng.uniform(-0.9, 0.95, m))
    digits = ecl.simulate(
        event, pdg, 0.05 + rng.exponential(0.5, m), theta, rng.uniform(-3.14, 3.14, m),
        np.arange(m), ONES, rng, n_events=n,
    )  # fmt: skip
    digits = ecl.merge(digits, ecl.background(n, "BGx1", rng))
    e = ecl_reco.calibrated_energy(digits, ONES)
    clusters = ecl_reco.cluster(digits, e, n)
    node = (np.abs(digits.time) <= 50) & (e >= ecl_reco.CR_THRESHOLD)
    shared = 0
    for ev in range(n):  # reference: depth-first search, event by event
        cells = set(digits.cell[node & (digits.event == ev)].tolist())
        links = {c: set() for c in cells}
        for c in cells:
            for other in NEIGHBOURS9[c][1:].tolist():
                if other in cells:
                    links[c].add(other)
                    links[other].add(c)
        component: dict[int, int] = {}
        for start in sorted(cells):
            if start not in component:
                stack = [start]
                while stack:
                    c = stack.pop()
                    if c not in component:
                        component[c] = start
                        stack.extend(links[c])
        mine = clusters.connected_region[clusters.event == ev]
        ref = np.array([component[c] for c in clusters.seed_cell[clusters.event == ev]])
        assert np.array_equal(mine[:, None] == mine, ref[:, None] == ref)
        assert sorted(set(mine.tolist())) == list(range(1, len(set(mine.tolist())) + 1))
        shared += len(set(mine.tolist())) < len(mine)
    assert shared > 10  # the test sees regions holding several clusters
