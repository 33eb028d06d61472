"""Toy Belle II V0 finder: K_S → π+π- and Λ → pπ- from pairs of tracks.

Every opposite-charge pair of displaced tracks of an event is vertexed where the two
helices' circles cross in xy; displaced vertices whose momentum points back to the IP
and whose mass falls in the K_S or Λ window become :class:`V0s`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from b2grid.physics import pdg as pdgdata
from b2grid.physics import tracking
from b2grid.physics.flat import counts_of, local_index, pairs

F64 = NDArray[np.float64]
F32 = NDArray[np.float32]
I64 = NDArray[np.int64]
I32 = NDArray[np.int32]

PDG_KSHORT, PDG_LAMBDA = 310, 3122
#: invariant-mass windows (GeV)
KSHORT_WINDOW: tuple[float, float] = (0.45, 0.55)
LAMBDA_WINDOW: tuple[float, float] = (1.10, 1.13)
#: smallest transverse decay radius (cm)
MIN_RADIUS = 0.5
#: largest radius (cm): the vertex must be inside the CDC
MAX_RADIUS = 100.0
#: largest z distance of the two helices at the vertex (cm)
MAX_DZ = 2.0
#: smallest cosine of the angle between the V0 momentum and its flight direction
MIN_COS_POINTING = 0.98
#: circles that miss each other by less than this (cm) are taken as touching
MAX_CIRCLE_GAP = 1.0
#: daughters must miss the z axis by more than this (cm): prompt tracks are skipped
MIN_D0 = 0.01

_M_PI = pdgdata.mass(211)
_M_P = pdgdata.mass(2212)


@dataclass(frozen=True, slots=True)
class V0s:
    """V0 candidates: flat arrays, ``event`` sorted ascending.

    Track indices count the tracks of the event in their stored order; the
    momentum is the sum of the daughters' momenta at the vertex.
    """

    event: I64
    track_index_pos: I32
    track_index_neg: I32
    #: 310 (K_S), 3122 (Λ: p from the positive track) or -3122 (anti-Λ)
    pdg: I32
    mass: F32
    px: F32
    py: F32
    pz: F32
    vx: F32
    vy: F32
    vz: F32
    #: common MC mother of the daughters (with ``mother_of_track``), else -1
    mc_index: I32


@dataclass(frozen=True, slots=True)
class _Circles:
    """Tracks' circles in xy with what a vertex needs (float64, one row per track)."""

    cx: F64
    cy: F64
    r: F64
    sgn: F64
    #: momentum direction at the POCA (cos phi0, sin phi0)
    ux: F64
    uy: F64
    omega: F64
    z0: F64
    tan_lambda: F64
    pt: F64

    @classmethod
    def of(cls, tracks: tracking.Tracks) -> _Circles:
        px, py = tracks.px.astype(np.float64), tracks.py.astype(np.float64)
        pt = np.sqrt(px * px + py * py)
        ux, uy = px / pt, py / pt
        omega = tracks.omega.astype(np.float64)
        dist = tracks.d0 + 1.0 / omega
        return cls(
            cx=dist * uy,
            cy=-dist * ux,
            r=1.0 / np.abs(omega),
            sgn=np.sign(omega),
            ux=ux,
            uy=uy,
            omega=omega,
            z0=tracks.z0.astype(np.float64),
            tan_lambda=tracks.tan_lambda.astype(np.float64),
            pt=pt,
        )

    def take(self, index: I64) -> _Circles:
        return _Circles(*(getattr(self, f)[index] for f in self.__slots__))

    def at(self, x: F64, y: F64) -> tuple[F64, tuple[F64, F64]]:
        """z and momentum direction (cos, sin) where the circle passes (x, y)."""
        k = self.sgn / self.r
        dx, dy = (y - self.cy) * k, (self.cx - x) * k
        turn = np.arctan2(self.uy * dx - self.ux * dy, self.ux * dx + self.uy * dy)
        z: F64 = self.z0 + self.tan_lambda * turn / self.omega
        return z, (dx, dy)


def _mass(p1: F64, m1: float, p2: F64, m2: float, total: F64) -> F64:
    energy = np.sqrt(p1 * p1 + m1 * m1) + np.sqrt(p2 * p2 + m2 * m2)
    out: F64 = np.sqrt(np.maximum(energy * energy - total, 0.0))
    return out


def find(
    tracks: tracking.Tracks,
    n_events: int,
    *,
    mother_of_track: ArrayLike | None = None,
) -> V0s:
    """K_S and Λ candidates among the opposite-charge track pairs of each event.

    Parameters
    ----------
    tracks : tracking.Tracks
        Reconstructed tracks, ``event`` sorted ascending.
    n_events : int
        Number of events.
    mother_of_track : array_like, optional
        Per track, the MC index of the mother of its MC particle (-1 if none);
        fills ``mc_index`` when both daughters share a mother.

    Returns
    -------
    V0s
        Candidates sorted by event; a pair may give a K_S and a Λ candidate.

    Notes
    -----
    Daughters must have |d0| > 100 µm (prompt tracks are skipped, which also keeps
    the combinatorics small). The vertex is the crossing of the two circles in xy
    (of the two, the one where the helices' z agree best, |Δz| < 2 cm; circles
    missing each other by < 1 cm are taken at their closest points), z the mean of
    the two. Kept: transverse radius 0.5-100 cm, cos(momentum, vertex direction) >
    0.98, no PXD hit on a daughter of a vertex beyond 2.7 cm nor hits in all SVD
    layers beyond 4.5 cm, and M(π+π-) in 0.45-0.55 GeV (310) or M(pπ) in
    1.10-1.13 GeV with the proton the faster daughter (±3122).

    Examples
    --------
    A K_S of 1 GeV along x decaying at x = 5 cm:

    >>> raw = tracking.simulate(
    ...     [0, 0], [211, -211], [0.5, 0.5], [0.2061, -0.2061], [0.0, 0.0],
    ...     [5.0, 5.0], [0.0, 0.0], [0.0, 0.0], [1, 2], np.random.default_rng(5),
    ...     n_events=1)
    >>> v = find(tracking.reconstruct(raw, 1.0), 1, mother_of_track=[0, 0])
    >>> v.pdg.tolist(), v.mc_index.tolist()
    ([310], [0])
    >>> round(float(v.vx[0])), round(float(v.mass[0]), 2)
    (5, 0.5)
    """
    event = tracks.event.astype(np.int64)
    circle = _Circles.of(tracks)
    displaced = np.abs(tracks.d0) > MIN_D0
    pos = np.flatnonzero((tracks.charge > 0) & displaced)
    neg = np.flatnonzero((tracks.charge < 0) & displaced)
    i_pos, i_neg = pairs(
        counts_of(event[pos], n_events), counts_of(event[neg], n_events)
    )
    a, b = pos[i_pos], neg[i_neg]
    ca, cb = circle.take(a), circle.take(b)

    dx, dy = cb.cx - ca.cx, cb.cy - ca.cy
    d = np.maximum(np.sqrt(dx * dx + dy * dy), 1e-9)
    gap = np.maximum(d - ca.r - cb.r, np.abs(ca.r - cb.r) - d)
    along = (ca.r * ca.r - cb.r * cb.r + d * d) / (2.0 * d)
    h = np.sqrt(np.maximum(ca.r * ca.r - along * along, 0.0))
    ex, ey = dx / d, dy / d
    best_dz = np.full(a.size, np.inf)
    vx, vy, vz = np.zeros(a.size), np.zeros(a.size), np.zeros(a.size)
    dir_a, dir_b = (
        (np.zeros(a.size), np.zeros(a.size)),
        (np.zeros(a.size), np.zeros(a.size)),
    )
    for side in (1.0, -1.0):
        x = ca.cx + along * ex - side * h * ey
        y = ca.cy + along * ey + side * h * ex
        za, ua = ca.at(x, y)
        zb, ub = cb.at(x, y)
        dz = np.abs(za - zb)
        better = dz < best_dz
        best_dz = np.where(better, dz, best_dz)
        vx, vy = np.where(better, x, vx), np.where(better, y, vy)
        vz = np.where(better, 0.5 * (za + zb), vz)
        dir_a = (np.where(better, ua[0], dir_a[0]), np.where(better, ua[1], dir_a[1]))
        dir_b = (np.where(better, ub[0], dir_b[0]), np.where(better, ub[1], dir_b[1]))

    px = ca.pt * dir_a[0] + cb.pt * dir_b[0]
    py = ca.pt * dir_a[1] + cb.pt * dir_b[1]
    pz = ca.pt * ca.tan_lambda + cb.pt * cb.tan_lambda
    p2 = px * px + py * py + pz * pz
    radius = np.sqrt(vx * vx + vy * vy)
    flight = np.sqrt(radius * radius + vz * vz)
    cos_pointing = (px * vx + py * vy + pz * vz) / np.maximum(
        np.sqrt(p2) * flight, 1e-12
    )
    n_pxd = np.maximum(tracks.n_pxd[a], tracks.n_pxd[b])
    n_svd = np.maximum(tracks.n_svd[a], tracks.n_svd[b])
    good = (
        (gap < MAX_CIRCLE_GAP)
        & (best_dz < MAX_DZ)
        & (radius > MIN_RADIUS)
        & (radius < MAX_RADIUS)
        & (cos_pointing > MIN_COS_POINTING)
        & ~((radius > 2.7) & (n_pxd > 0))
        & ~((radius > 4.5) & (n_svd >= 7))
    )
    p_a = ca.pt * np.sqrt(1.0 + ca.tan_lambda**2)
    p_b = cb.pt * np.sqrt(1.0 + cb.tan_lambda**2)
    m_kshort = _mass(p_a, _M_PI, p_b, _M_PI, p2)
    m_lambda = _mass(p_a, _M_P, p_b, _M_PI, p2)
    m_antilambda = _mass(p_a, _M_PI, p_b, _M_P, p2)
    hypotheses = (
        (PDG_KSHORT, m_kshort, good & _inside(m_kshort, KSHORT_WINDOW)),
        (PDG_LAMBDA, m_lambda, good & (p_a > p_b) & _inside(m_lambda, LAMBDA_WINDOW)),
        (
            -PDG_LAMBDA,
            m_antilambda,
            good & (p_b > p_a) & _inside(m_antilambda, LAMBDA_WINDOW),
        ),
    )
    pick = np.concatenate([np.flatnonzero(sel) for _, _, sel in hypotheses])
    code = np.concatenate([np.full(int(sel.sum()), c) for c, _, sel in hypotheses])
    mass = np.concatenate([m[sel] for _, m, sel in hypotheses])
    order = np.argsort(event[a[pick]], kind="stable")
    pick, code, mass = pick[order], code[order], mass[order]

    if mother_of_track is None:
        mc = np.full(pick.size, -1)
    else:
        mother = np.asarray(mother_of_track, dtype=np.int64)
        ma, mb = mother[a[pick]], mother[b[pick]]
        mc = np.where((ma == mb) & (ma >= 0), ma, -1)
    local = local_index(event, n_events)
    f32 = np.float32
    return V0s(
        event=event[a[pick]],
        track_index_pos=local[a[pick]].astype(np.int32),
        track_index_neg=local[b[pick]].astype(np.int32),
        pdg=code.astype(np.int32),
        mass=mass.astype(f32),
        px=px[pick].astype(f32),
        py=py[pick].astype(f32),
        pz=pz[pick].astype(f32),
        vx=vx[pick].astype(f32),
        vy=vy[pick].astype(f32),
        vz=vz[pick].astype(f32),
        mc_index=mc.astype(np.int32),
    )


def _inside(mass: F64, window: tuple[float, float]) -> NDArray[np.bool_]:
    return (mass > window[0]) & (mass < window[1])
