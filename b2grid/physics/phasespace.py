"""N-body phase-space decays (GENBOD, Raubold-Lynch), vectorised over many parents.

GENBOD configurations are unweighted by accept-reject against an upper bound of the
weight, so daughters are flat in Lorentz-invariant phase space.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import ArrayLike, NDArray

from b2grid.physics.kinematics import boost_t, invariant_mass

FloatArray = NDArray[np.float64]

#: most candidates drawn per parent and round of the accept-reject loop
_MAX_OVERSAMPLE = 64
#: width of the parent-mass bins (in log M) that share a weight bound
_LOG_BIN = 0.02


def pdk(a: ArrayLike, b: ArrayLike, c: ArrayLike) -> FloatArray:
    """Momentum of the daughters of a two-body decay ``a -> b c`` in ``a``'s frame.

    Zero below threshold (``a < b + c``).

    Examples
    --------
    >>> round(float(pdk(5.27972, 1.86484, 0.13957)), 4)
    2.3082
    """
    a2 = np.square(a)
    x = (a2 - np.square(np.add(b, c))) * (a2 - np.square(np.subtract(b, c)))
    q: FloatArray = np.sqrt(np.maximum(x, 0.0)) / (2.0 * np.asarray(a))
    return q


def isotropic(n: int, rng: np.random.Generator) -> FloatArray:
    """``(3, n)`` unit vectors (component-first) uniform over the sphere."""
    u = rng.random((2, n))
    cos_t = 2.0 * u[0] - 1.0
    # float32 cosine is several times faster; the sine is then derived in float64
    # so that every vector has unit length to double precision
    phi = (u[1] - 0.5).astype(np.float32) * np.float32(2.0 * np.pi)
    cos_p = np.cos(phi).astype(np.float64)
    sin_p = np.copysign(np.sqrt(np.maximum(1.0 - cos_p * cos_p, 0.0)), phi)
    sin_t = np.sqrt(1.0 - cos_t * cos_t)
    out = np.empty((3, n))
    np.multiply(sin_t, cos_p, out=out[0])
    np.multiply(sin_t, sin_p, out=out[1])
    out[2] = cos_t
    return out


def back_to_back(
    q: FloatArray, direction: FloatArray, m1: ArrayLike, m2: ArrayLike
) -> FloatArray:
    """``(4, 2, n)`` four-vectors of momenta ``+-q * direction`` and masses m1, m2.

    ``direction`` is ``(3, n)`` component-first unit vectors.
    """
    out = np.empty((4, 2, q.size))
    qd = q * direction
    out[:3, 0] = qd
    out[:3, 1] = -qd
    q2 = q * q
    out[3, 0] = np.sqrt(q2 + np.square(m1))
    out[3, 1] = np.sqrt(q2 + np.square(m2))
    return out


def decay(
    parent_p4: ArrayLike,
    daughter_masses: ArrayLike,
    rng: np.random.Generator,
    *,
    parent_mass: ArrayLike | None = None,
) -> FloatArray:
    """Decay parents into ``k`` daughters flat in phase space; returns ``(N, k, 4)``.

    Parameters
    ----------
    parent_p4
        ``(N, 4)`` lab four-momenta ``[px, py, pz, E]`` of the parents.
    daughter_masses
        ``(k,)`` masses shared by all parents, or ``(N, k)`` per parent, ``k >= 2``.
        Their sum must be below each parent's mass.
    rng
        The random generator; the same state gives bit-identical output.
    parent_mass
        ``(N,)`` parent masses, if known more precisely than ``parent_p4`` gives.

    Returns
    -------
    numpy.ndarray
        ``(N, k, 4)`` lab four-momenta of the daughters, in the order of
        ``daughter_masses``; they add up to ``parent_p4``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> d = decay([[0.0, 0.0, 1.0, 2.0]], [0.1396, 0.1396, 0.135], rng)
    >>> d.shape, np.allclose(d.sum(axis=1), [[0.0, 0.0, 1.0, 2.0]])
    ((1, 3, 4), True)
    """
    p4 = np.asarray(parent_p4, dtype=np.float64).reshape(-1, 4)
    n = p4.shape[0]
    m = np.asarray(daughter_masses, dtype=np.float64)
    m_t = np.broadcast_to(m[:, None], (m.size, n)) if m.ndim == 1 else m.T
    big_m = None if parent_mass is None else np.asarray(parent_mass, dtype=np.float64)
    out = decay_t(np.ascontiguousarray(p4.T), np.ascontiguousarray(m_t), rng, big_m)
    return np.ascontiguousarray(out.transpose(2, 1, 0))


def decay_t(
    parent_p4: FloatArray,
    daughter_masses: FloatArray,
    rng: np.random.Generator,
    parent_mass: FloatArray | None = None,
    weight_bound: FloatArray | None = None,
) -> FloatArray:
    """:func:`decay` for component-first arrays.

    ``parent_p4`` is ``(4, N)``, ``daughter_masses`` ``(k, N)``; returns the
    daughters as ``(4, k, N)``. ``weight_bound`` may give, per parent, an upper
    bound of the GENBOD weight (see :func:`max_weight`; NaN where unknown).
    """
    k, n = daughter_masses.shape
    if k < 2:
        raise ValueError(f"a decay needs at least 2 daughters, got {k}")
    big_m = invariant_mass(parent_p4.T) if parent_mass is None else parent_mass
    if n and np.any(daughter_masses.sum(axis=0) > big_m * (1.0 + 1e-12)):
        raise ValueError("daughter masses exceed the parent mass")
    if k == 2:
        q = pdk(big_m, daughter_masses[0], daughter_masses[1])
        rest = back_to_back(
            q, isotropic(n, rng), daughter_masses[0], daughter_masses[1]
        )
    else:
        rest = _n_body(big_m, daughter_masses, rng, weight_bound)
    beta = parent_p4[:3] / parent_p4[3]
    return boost_t(rest, beta[:, None, :])


def _weights(eff: FloatArray, m: FloatArray) -> FloatArray:
    """GENBOD weights prod_i pdk(M_i, M_{i-1}, m_i) of ``(k, n)`` effective masses."""
    w = pdk(eff[1], eff[0], m[1])
    for i in range(2, m.shape[0]):
        w *= pdk(eff[i], eff[i - 1], m[i])
    return w


@functools.lru_cache(maxsize=8192)
def max_weight(big_m: float, masses: tuple[float, ...]) -> float:
    """The largest GENBOD weight of a decay of mass ``big_m`` into ``masses``, +2 %.

    Found numerically (random search, then a shrinking local search) with a fixed
    seed, so the result depends on the arguments only; cached. The largest weight
    grows with ``big_m`` and falls with each daughter mass.
    """
    m = np.asarray(masses)[:, None]
    k = m.shape[0]
    cum = np.cumsum(m, axis=0)
    kinetic = big_m - cum[-1]
    rng = np.random.default_rng(20240601)

    def weight(shares: FloatArray) -> FloatArray:  # shares: (n, k-1), rows sum to 1
        eff = np.empty((k, shares.shape[0]))
        eff[0] = m[0]
        eff[1:] = cum[1:] + kinetic * np.cumsum(shares, axis=1).T
        return _weights(eff, m)

    shares = rng.dirichlet(np.ones(k - 1), 2048)
    best = shares[np.argmax(weight(shares))]
    step = 0.2
    for _ in range(30):
        trial = np.abs(best + step * rng.standard_normal((128, k - 1)))
        trial = np.vstack([best, trial / trial.sum(axis=1, keepdims=True)])
        best = trial[np.argmax(weight(trial))]
        step *= 0.8
    return float(weight(best[None, :])[0]) * 1.02


def _weight_bounds(big_m: FloatArray, m: FloatArray) -> FloatArray:
    """Per-parent upper bounds of the GENBOD weight.

    When every parent has the same daughter masses, the numerical maximum at the
    parent mass rounded up (2 % bins) bounds a bin: the largest weight grows with
    the parent mass. Otherwise each parent gets the analytic :func:`_dual_bound`.
    """
    uniform = bool((m == m[:, :1]).all())
    bins = np.ceil(np.log(big_m) / _LOG_BIN).astype(np.int64)
    if not uniform or bins.max() - bins.min() > 8:
        return _dual_bound(big_m, m)
    masses = tuple(float(x) for x in m[:, 0])
    if bins.min() == bins.max():  # the usual case: a parent of fixed mass
        return np.full(bins.size, max_weight(float(np.exp(bins[0] * _LOG_BIN)), masses))
    unique, inverse = np.unique(bins, return_inverse=True)
    bounds = np.array([max_weight(float(np.exp(b * _LOG_BIN)), masses) for b in unique])
    return bounds[inverse.reshape(-1)]


def _dual_bound(big_m: FloatArray, m: FloatArray) -> FloatArray:
    """A rigorous per-parent bound of the GENBOD weight, within a factor ~2-4.

    With t_i = M_i - M_{i-1} - m_i (sum T), each factor is at most
    sqrt(t_i (t_i + 2 m_i)); the product's maximum over the simplex is bounded by
    the Lagrange dual max_t sum_i [log t_i(t_i + 2 m_i) - lam t_i] + lam T, which
    holds for any lam > 0 and is tight at the optimum, found here by bisection.
    """
    mi = m[1:]
    kinetic = np.maximum(big_m - m.sum(axis=0), 1e-12)
    k1 = mi.shape[0]

    def t_of(
        lam: FloatArray,
    ) -> FloatArray:  # argmax of each term: 1/t + 1/(t+2m) = lam
        b = lam * mi - 1.0
        return (np.sqrt(b * b + 2.0 * lam * mi) - b) / lam

    # the optimum has k1/T <= lam <= 2 k1/T
    lo, hi = k1 / kinetic, 2.0 * k1 / kinetic
    for _ in range(12):
        mid = 0.5 * (lo + hi)
        above = t_of(mid).sum(axis=0) > kinetic
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    lam = 0.5 * (lo + hi)
    t = t_of(lam)
    dual = (np.log(t * (t + 2.0 * mi)) - lam * t).sum(axis=0) + lam * kinetic
    bound: FloatArray = np.exp(0.5 * dual) * (1.0 + 1e-9)
    return bound


def _cumsum0(a: FloatArray) -> FloatArray:
    """``np.cumsum(a, axis=0)`` for a short first axis, without numpy's slow
    short-inner-loop accumulate."""
    out = np.empty_like(a)
    out[0] = a[0]
    for i in range(1, a.shape[0]):
        np.add(out[i - 1], a[i], out=out[i])
    return out


def _effective_masses(
    big_m: FloatArray,
    m: FloatArray,
    rng: np.random.Generator,
    weight_bound: FloatArray | None = None,
) -> FloatArray:
    """Accepted ``(k, N)`` GENBOD effective masses M_0 = m_0 < ... < M_{k-1} = M."""
    k, n = m.shape
    cum = _cumsum0(m)
    kinetic = big_m - cum[-1]
    if weight_bound is None:
        wt_max = _weight_bounds(big_m, m)
    else:
        wt_max = weight_bound.copy()
        unknown = np.isnan(wt_max)
        if unknown.any():
            wt_max[unknown] = _dual_bound(big_m[unknown], m[:, unknown])
    accepted_r = np.empty((k - 2, n))
    todo = np.arange(n)
    repeat = 1
    while todo.size:
        rows = todo if repeat == 1 else np.repeat(todo, repeat)
        # the first round covers every parent once: no need to gather
        sel = slice(None) if rows.size == n and repeat == 1 else rows
        # k-2 sorted uniforms: normalised partial sums of k-1 exponentials
        if k == 3:
            r = rng.random((1, rows.size))
        else:
            r = _cumsum0(rng.standard_exponential((k - 1, rows.size)))
            r = r[:-1] / r[-1]
        kin = kinetic[sel]
        lower = m[0, sel]
        w = np.ones(rows.size)
        for i in range(1, k):
            upper = cum[i, sel] + r[i - 1] * kin if i < k - 1 else big_m[sel]
            w *= pdk(upper, lower, m[i, sel])
            lower = upper
        accepted = rng.random(rows.size) * wt_max[sel] < w
        if repeat == 1:
            accepted_r[:, todo[accepted]] = r[:, accepted]
            todo = todo[~accepted]
        else:
            by_parent = accepted.reshape(todo.size, repeat)
            done = by_parent.any(axis=1)
            pick = np.arange(todo.size) * repeat + by_parent.argmax(axis=1)
            accepted_r[:, todo[done]] = r[:, pick[done]]
            todo = todo[~done]
        # draw enough candidates that most of the remaining parents finish next round
        rate = max(float(accepted.mean()), 1.0 / _MAX_OVERSAMPLE)
        repeat = min(int(np.ceil(2.0 / rate)), _MAX_OVERSAMPLE) if todo.size else 1
    eff = np.empty((k, n))
    eff[0] = m[0]
    eff[1 : k - 1] = cum[1 : k - 1] + accepted_r * kinetic
    eff[k - 1] = big_m
    return eff


def _n_body(
    big_m: FloatArray,
    m: FloatArray,
    rng: np.random.Generator,
    weight_bound: FloatArray | None = None,
) -> FloatArray:
    k, n = m.shape
    eff = _effective_masses(big_m, m, rng, weight_bound)
    out = np.empty((4, k, n))
    q = pdk(eff[1], m[0], m[1])
    out[:, :2] = back_to_back(q, isotropic(n, rng), m[0], m[1])
    for i in range(2, k):
        # the subsystem of daughters 0..i-1 (mass M_{i-1}) recoils against daughter i
        q = pdk(eff[i], eff[i - 1], m[i])
        u = isotropic(n, rng)
        beta = (q / np.sqrt(q * q + eff[i - 1] ** 2)) * u
        out[:, :i] = boost_t(out[:, :i], beta[:, None, :])
        out[:3, i] = -q * u
        out[3, i] = np.sqrt(q * q + m[i] ** 2)
    return out


__all__ = ["back_to_back", "decay", "decay_t", "isotropic", "max_weight", "pdk"]
