"""N-body phase space: conservation, masses, flatness of the Dalitz plot, seeds."""

from __future__ import annotations

import numpy as np
import pytest

from b2grid.physics import phasespace
from b2grid.physics.kinematics import invariant_mass
from b2grid.physics.phasespace import decay, pdk

M_D0, M_K, M_PI, M_PI0 = 1.86484, 0.493677, 0.13957, 0.134977


def parents(n: int, mass: float, rng: np.random.Generator) -> np.ndarray:
    p = rng.normal(0.0, 1.5, (n, 3))
    return np.column_stack([p, np.sqrt((p**2).sum(axis=1) + mass**2)])


@pytest.mark.parametrize(
    "masses",
    [(M_K, M_PI), (M_K, M_PI, M_PI0), (M_K, M_PI, M_PI, M_PI), (M_PI,) * 6, (0.0, 0.0)],
)
def test_four_momentum_is_conserved_and_masses_are_right(
    masses: tuple[float, ...],
) -> None:
    rng = np.random.default_rng(1)
    p4 = parents(5000, M_D0, rng)
    d = decay(p4, masses, rng)
    assert d.shape == (5000, len(masses), 4)
    np.testing.assert_allclose(
        d.sum(axis=1), p4, rtol=1e-9, atol=1e-9 * p4[:, 3:].max()
    )
    expected = np.broadcast_to(masses, (5000, len(masses)))
    np.testing.assert_allclose(invariant_mass(d), expected, atol=1e-6)


def test_per_parent_daughter_masses() -> None:
    rng = np.random.default_rng(2)
    p4 = parents(1000, 2.5, rng)
    masses = rng.uniform(0.1, 0.6, (1000, 4))
    d = decay(p4, masses, rng)
    np.testing.assert_allclose(d.sum(axis=1), p4, rtol=1e-9)
    np.testing.assert_allclose(invariant_mass(d), masses, atol=1e-6)


def test_two_body_momentum_and_isotropy() -> None:
    rng = np.random.default_rng(3)
    d = decay(np.tile([0.0, 0.0, 0.0, M_D0], (100_000, 1)), (M_K, M_PI), rng)
    q = np.linalg.norm(d[:, 0, :3], axis=1)
    np.testing.assert_allclose(q, pdk(M_D0, M_K, M_PI), rtol=1e-12)
    cos = d[:, 0, 2] / q
    assert abs(cos.mean()) < 0.01
    assert np.mean(cos**2) == pytest.approx(1 / 3, abs=0.005)


def dalitz_bounds(m12sq: np.ndarray, big_m: float, m: tuple[float, ...]) -> tuple:
    """m23^2 range at given m12^2 (PDG kinematics review, eq. 49.23)."""
    m1, m2, m3 = m
    m12 = np.sqrt(m12sq)
    e2 = (m12sq - m1**2 + m2**2) / (2 * m12)
    e3 = (big_m**2 - m12sq - m3**2) / (2 * m12)
    p2 = np.sqrt(np.maximum(e2**2 - m2**2, 0))
    p3 = np.sqrt(np.maximum(e3**2 - m3**2, 0))
    return (e2 + e3) ** 2 - (p2 + p3) ** 2, (e2 + e3) ** 2 - (p2 - p3) ** 2


def test_three_body_dalitz_plot_is_flat() -> None:
    """Cells of a 2D histogram fully inside the boundary have equal contents."""
    masses = (M_K, M_PI, M_PI0)
    rng = np.random.default_rng(4)
    n = 300_000
    d = decay(parents(n, M_D0, rng), masses, rng)
    m12sq = invariant_mass(d[:, 0] + d[:, 1]) ** 2
    m23sq = invariant_mass(d[:, 1] + d[:, 2]) ** 2
    x_edges = np.linspace((M_K + M_PI) ** 2, (M_D0 - M_PI0) ** 2, 21)
    y_edges = np.linspace((M_PI + M_PI0) ** 2, (M_D0 - M_K) ** 2, 21)
    counts, _, _ = np.histogram2d(m12sq, m23sq, [x_edges, y_edges])
    # a cell is inside when its whole x range allows its whole y range
    xs = np.linspace(x_edges[:-1], x_edges[1:], 9).T  # (20, 9) sample points
    lo, hi = dalitz_bounds(xs, M_D0, masses)
    inside = (lo.max(axis=1)[:, None] <= y_edges[None, :-1]) & (
        hi.min(axis=1)[:, None] >= y_edges[None, 1:]
    )
    cells = counts[inside]
    assert cells.size > 150
    chi2 = ((cells - cells.mean()) ** 2 / cells.mean()).sum()
    ndf = cells.size - 1
    assert chi2 / ndf < 1.0 + 5 * np.sqrt(2 / ndf), (chi2, ndf)


def test_three_body_mean_m12_squared_matches_phase_space_integral() -> None:
    masses = (M_K, M_PI, M_PI0)
    rng = np.random.default_rng(5)
    d = decay(np.tile([0, 0, 0, M_D0], (200_000, 1)), masses, rng)
    m12sq = invariant_mass(d[:, 0] + d[:, 1]) ** 2
    x = np.linspace((M_K + M_PI) ** 2, (M_D0 - M_PI0) ** 2, 20001)
    lo, hi = dalitz_bounds(x, M_D0, masses)
    width = hi - lo  # flat phase space: density in m12^2 is the allowed m23^2 range
    expected = np.trapezoid(x * width, x) / np.trapezoid(width, x)
    assert m12sq.mean() == pytest.approx(expected, abs=4 * m12sq.std() / np.sqrt(2e5))


def test_four_body_pair_mass_follows_phase_space() -> None:
    """For 4 massless daughters of M, x = m12^2/M^2 has the phase-space density
    (1-x)^2/2 + x ln x + x(1-x); unweighted GENBOD configurations would not."""

    def cdf(x: np.ndarray) -> np.ndarray:
        return (1 - (1 - x) ** 3) / 6 + x**2 / 2 * np.log(np.maximum(x, 1e-300)) \
            - x**2 / 4 + x**2 / 2 - x**3 / 3  # fmt: skip

    rng = np.random.default_rng(6)
    d = decay(np.tile([0, 0, 0, 3.0], (200_000, 1)), (0.0,) * 4, rng)
    x = invariant_mass(d[:, 0] + d[:, 1]) ** 2 / 9.0
    edges = np.linspace(0, 1, 21)
    expected = np.diff(cdf(edges)) / cdf(np.array(1.0)) * x.size
    counts, _ = np.histogram(x, edges)
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 45, chi2  # 19 degrees of freedom; p ~ 1e-3


def test_weight_bounds_hold() -> None:
    rng = np.random.default_rng(7)
    for k in (3, 4, 6):
        m = rng.uniform(0.0, 0.5, (k, 200))
        big_m = m.sum(axis=0) + rng.uniform(0.05, 2.0, 200)
        bound = phasespace._dual_bound(big_m, m)
        for _ in range(20):
            r = np.sort(rng.random((k - 2, 200)), axis=0)
            eff = np.empty((k, 200))
            cum = np.cumsum(m, axis=0)
            eff[0], eff[-1] = m[0], big_m
            eff[1:-1] = cum[1:-1] + r * (big_m - cum[-1])
            assert (phasespace._weights(eff, m) <= bound).all()
        numeric = phasespace.max_weight(2.0, tuple(float(x) for x in m[:, 0]))
        assert numeric <= phasespace._dual_bound(np.array([2.0]), m[:, :1])[0] * 1.03


def test_same_seed_same_decays() -> None:
    p4 = parents(100, M_D0, np.random.default_rng(8))
    a = decay(p4, (M_K, M_PI, M_PI0, M_PI0), np.random.default_rng(9))
    b = decay(p4, (M_K, M_PI, M_PI0, M_PI0), np.random.default_rng(9))
    c = decay(p4, (M_K, M_PI, M_PI0, M_PI0), np.random.default_rng(10))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_below_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="exceed"):
        decay([[0, 0, 0, 0.2]], (M_PI, M_PI), np.random.default_rng(1))
    with pytest.raises(ValueError, match="at least 2"):
        decay([[0, 0, 0, 2.0]], (M_PI,), np.random.default_rng(1))
