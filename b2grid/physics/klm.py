"""Toy Belle II KLM: digits of muons, punch-through hadrons and K_L, and clusters.

``simulate`` makes one digit per KLM layer a particle fires; ``reconstruct`` groups
digits by angular proximity alone (never by MC truth); ``match_tracks`` pairs
clusters with tracks, nearest first, to give the PID the muon's depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from b2grid.physics import pid, tracking
from b2grid.physics.flat import counts_of, local_index, pairs

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
I32 = NDArray[np.int32]
I16 = NDArray[np.int16]
I8 = NDArray[np.int8]

#: KLM polar-angle acceptance (rad): endcaps 20°-45° and 125°-155°, barrel between
THETA_MIN, THETA_MAX = np.radians(20.0), np.radians(155.0)
#: interaction probability in ECL + KLM for K_L and neutrons
KLONG_INTERACTION, NEUTRON_INTERACTION = 0.7, 0.3
#: digits closer than this (rad, in theta and in phi·sin theta) join one cluster
CLUSTER_LINK = 0.12
#: largest track-cluster angle for a match (rad)
MATCH_ANGLE = 0.15


@dataclass(frozen=True, slots=True)
class KlmDigits:
    """One fired layer per particle: flat arrays, ``event`` sorted ascending."""

    event: I64
    #: 1 (innermost) … 15
    layer: I8
    theta: F32
    phi: F32
    #: index of the MC particle in its event
    mc_index: I32


@dataclass(frozen=True, slots=True)
class KlmClusters:
    """Digits grouped by angle: flat arrays, ``event`` sorted ascending."""

    event: I64
    theta: F32
    phi: F32
    #: number of distinct layers fired
    layers: I8
    innermost_layer: I8
    n_digits: I16
    #: MC particle of most of the digits
    mc_index: I32


def simulate(
    event: ArrayLike,
    pdg: ArrayLike,
    px: ArrayLike,
    py: ArrayLike,
    pz: ArrayLike,
    charge: ArrayLike,
    mc_index: ArrayLike,
    rng: np.random.Generator,
    *,
    n_events: int,
) -> KlmDigits:
    """KLM digits of particles from the interaction point.

    Parameters
    ----------
    event, pdg, px, py, pz, charge, mc_index : array_like
        One entry per particle: event, PDG code, momentum (GeV), charge, MC index.
    rng : numpy.random.Generator
        The only source of randomness.
    n_events : int
        Number of events (taken for symmetry with the other detectors).

    Returns
    -------
    KlmDigits
        One digit per fired layer, sorted by event.

    Notes
    -----
    Muons range out by momentum (:func:`pid.muon_range_layers`, 10 % straggling:
    from 0.6 GeV, all layers above ~1.4 GeV) with 95 % efficient layers; charged
    hadrons above 0.6 GeV punch through with probability 4 % (electrons 0.5 %) and
    fire a few layers; K_L (neutrons) interact with probability 0.7 (0.3) and fire
    a few layers from a random depth. Digits sit at the particle's ECL impact angles
    (charged tracks bent there by :func:`tracking.propagate_to_ecl`; the return
    field in the iron is ignored) with 15 (muons) or 30 (hadronic showers) mrad
    noise. Particles outside 20°-155° or curling inside the solenoid give none.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> d = simulate([0], [13], [0.0], [3.0], [0.5], [-1], [4], rng, n_events=1)
    >>> int(d.layer.max()) >= 12, set(d.mc_index.tolist())
    (True, {4})
    """
    del n_events  # digits need no per-event bookkeeping
    mag = np.abs(np.asarray(pdg, dtype=np.int64))
    u = rng.random(mag.size)
    # only the few particles that can fire the KLM are followed
    hadron = (mag == 211) | (mag == 321) | (mag == 2212)
    maybe = (
        (mag == 13)
        | (hadron & (u < pid.HADRON_PUNCH_THROUGH))
        | ((mag == 11) & (u < pid.ELECTRON_PUNCH_THROUGH))
        | ((mag == 130) & (u < KLONG_INTERACTION))
        | ((mag == 2112) & (u < NEUTRON_INTERACTION))
    )
    idx = np.flatnonzero(maybe)
    mag = mag[idx]
    px_, py_, pz_ = (np.asarray(a, dtype=np.float64)[idx] for a in (px, py, pz))
    p = np.sqrt(px_ * px_ + py_ * py_ + pz_ * pz_)
    zero = np.zeros_like(p)
    q = np.asarray(charge)[idx]
    theta, phi, reaches = tracking.propagate_to_ecl(px_, py_, pz_, q, zero, zero, zero)
    inside = reaches & (theta > THETA_MIN) & (theta < THETA_MAX)
    muon = inside & (mag == 13)
    neutral = inside & ((mag == 130) | (mag == 2112))
    punch = inside & (mag != 13) & ~neutral & (p > pid.KLM_MUON_THRESHOLD)
    n_max = np.where(
        theta < np.radians(45.0),
        pid.KLM_LAYERS_FORWARD,
        np.where(
            theta > np.radians(125.0), pid.KLM_LAYERS_BACKWARD, pid.KLM_LAYERS_BARREL
        ),
    )

    first = np.ones(p.size, dtype=np.int64)
    first[neutral] = rng.integers(1, 6, int(neutral.sum()))
    depth = np.zeros(p.size, dtype=np.int64)
    range_ = pid.muon_range_layers(p[muon], theta[muon])
    depth[muon] = np.rint(range_ * (1.0 + 0.1 * rng.standard_normal(range_.size)))
    depth[punch] = rng.geometric(0.5, int(punch.sum()))
    depth[neutral] = rng.geometric(0.4, int(neutral.sum()))
    depth = np.clip(np.minimum(depth, n_max - first + 1), 0, None)
    eff = np.where(muon, 0.95, 0.9)
    spread = np.where(muon, 0.015, 0.03)

    # one candidate digit per crossed layer, then the layer efficiency
    owner = np.repeat(np.arange(p.size), depth)
    starts = np.cumsum(depth) - depth
    layer = first[owner] + np.arange(owner.size) - starts[owner]
    fired = rng.random(owner.size) < eff[owner]
    owner, layer = owner[fired], layer[fired]
    sigma = spread[owner] + np.where(muon[owner], 0.003 * layer / p[owner], 0.0)
    noise = rng.standard_normal((2, owner.size)) * sigma
    th = np.clip(theta[owner] + noise[0], 1e-3, np.pi - 1e-3)
    ph = tracking._wrap(phi[owner] + noise[1] / np.sin(th.astype(np.float32)))
    ev = np.asarray(event, dtype=np.int64)[idx[owner]]
    order = np.argsort(ev, kind="stable")
    return KlmDigits(
        event=ev[order],
        layer=layer[order].astype(np.int8),
        theta=th[order].astype(np.float32),
        phi=ph[order].astype(np.float32),
        mc_index=np.asarray(mc_index, dtype=np.int32)[idx[owner]][order],
    )


def reconstruct(digits: KlmDigits, n_events: int) -> KlmClusters:
    """Clusters of digits linked by angular proximity (single linkage).

    Parameters
    ----------
    digits : KlmDigits
        Digits sorted by event (as :func:`simulate` gives them).
    n_events : int
        Number of events (taken for symmetry with the other steps).

    Returns
    -------
    KlmClusters
        Sorted by event.

    Notes
    -----
    Within an event, digits sorted by theta are cut where consecutive thetas differ
    by more than :data:`CLUSTER_LINK`; each such band, sorted by phi, is cut where
    consecutive phi·sin(theta) differ by more (the band's last and first run join
    across phi = ±pi). MC truth is used only to label the result: ``mc_index`` is
    that of most digits. Cluster angles are the mean digit direction.

    Examples
    --------
    >>> d = KlmDigits(np.array([0, 0, 0]), np.array([1, 2, 1], dtype=np.int8),
    ...               np.array([1.0, 1.01, 2.0], dtype=np.float32),
    ...               np.array([3.13, -3.13, 0.0], dtype=np.float32),
    ...               np.array([5, 5, 6], dtype=np.int32))
    >>> c = reconstruct(d, 1)
    >>> c.layers.tolist(), c.mc_index.tolist(), (abs(c.phi) > 3.1).tolist()
    ([2, 1], [5, 6], [True, False])
    """
    ev = digits.event.astype(np.int64)
    th = digits.theta.astype(np.float32)
    ph = digits.phi.astype(np.float32)
    # sort by (event, theta) through one float key: theta < 4
    o1 = np.argsort(ev * 4.0 + th, kind="stable")
    band_start = _run_starts(ev[o1])
    band_start[1:] |= np.diff(th[o1]) > CLUSTER_LINK
    band = np.empty(ev.size, dtype=np.int64)
    band[o1] = np.cumsum(band_start) - 1
    o2 = np.argsort(band * 8.0 + (ph + np.pi), kind="stable")  # phi + pi < 8
    b2, th2, ph2 = band[o2], th[o2], ph[o2]
    sin_t = np.sin(th2)
    start = _run_starts(b2)
    start[1:] |= np.diff(ph2) * sin_t[1:] > CLUSTER_LINK
    cl = np.cumsum(start) - 1
    if ev.size:  # join the last run of a band to its first across phi = ±pi
        first = np.flatnonzero(_run_starts(b2))
        last = np.r_[first[1:], ev.size] - 1
        gap = (ph2[first] + np.float32(2 * np.pi) - ph2[last]) * sin_t[last]
        wrap = (cl[first] != cl[last]) & (gap <= CLUSTER_LINK)
        if wrap.any():
            relabel = np.arange(cl[-1] + 1)
            relabel[cl[last[wrap]]] = cl[first[wrap]]
            used = np.zeros(relabel.size, dtype=bool)
            used[relabel] = True
            cl = (np.cumsum(used) - 1)[relabel][cl]
    n_cl = int(cl.max()) + 1 if cl.size else 0
    layer = digits.layer[o2].astype(np.int64)
    mc = digits.mc_index[o2].astype(np.int64)

    x = np.bincount(cl, sin_t * np.cos(ph2), n_cl)  # mean direction
    y = np.bincount(cl, sin_t * np.sin(ph2), n_cl)
    z = np.bincount(cl, np.cos(th2), n_cl)
    pattern = np.zeros(n_cl, dtype=np.int64)  # bit l set when layer l fired
    np.bitwise_or.at(pattern, cl, np.left_shift(1, layer))
    innermost = np.full(n_cl, 127, dtype=np.int64)
    np.minimum.at(innermost, cl, layer)
    # majority MC particle: runs of equal (cluster, mc), the longest per cluster
    key = np.sort(cl * 2**32 + (mc + 1))
    run = np.flatnonzero(_run_starts(key))
    counts = np.diff(np.r_[run, key.size])
    keys = key[run]
    key_cl = keys >> 32
    best = np.lexsort((-counts, key_cl))
    take = best[_run_starts(key_cl[best])]
    event_of = np.zeros(n_cl, dtype=np.int64)
    event_of[cl] = ev[o2]
    order = np.argsort(event_of, kind="stable")
    return KlmClusters(
        event=event_of[order],
        theta=np.arctan2(np.hypot(x, y), z)[order].astype(np.float32),
        phi=np.arctan2(y, x)[order].astype(np.float32),
        layers=np.bitwise_count(pattern)[order].astype(np.int8),
        innermost_layer=innermost[order].astype(np.int8),
        n_digits=np.bincount(cl, minlength=n_cl)[order].astype(np.int16),
        mc_index=((keys[take] & 0xFFFFFFFF) - 1)[order].astype(np.int32),
    )


def _run_starts(values: NDArray[np.generic]) -> NDArray[np.bool_]:
    """True where a run of equal values starts (works for empty arrays)."""
    out = np.ones(values.size, dtype=bool)
    out[1:] = values[1:] != values[:-1]
    return out


def match_tracks(
    tracks_event: ArrayLike,
    tracks_theta: ArrayLike,
    tracks_phi: ArrayLike,
    clusters: KlmClusters,
    *,
    max_angle: float = MATCH_ANGLE,
) -> tuple[I16, I32]:
    """Pair tracks and clusters of the same event that are each other's nearest.

    Parameters
    ----------
    tracks_event : array_like
        Event of each track, sorted ascending.
    tracks_theta, tracks_phi : array_like
        Track direction at the calorimeter (:func:`tracking.propagate_to_ecl`).
    clusters : KlmClusters
        Output of :func:`reconstruct`.
    max_angle : float
        Largest opening angle (rad) of a matched pair.

    Returns
    -------
    layers : ndarray of int16
        Per track, the matched cluster's number of layers (0 when unmatched).
    track_index : ndarray of int32
        Per cluster, the matched track's index within its event (-1 when unmatched).

    Notes
    -----
    A pair matches when its angle is below ``max_angle``, the cluster is the track's
    nearest and the track the cluster's nearest, so matches are one to one.

    Examples
    --------
    >>> c = KlmClusters(np.array([0]), np.array([1.0], dtype=np.float32),
    ...                 np.array([0.5], dtype=np.float32), np.array([9], dtype=np.int8),
    ...                 np.array([1], dtype=np.int8), np.array([9], dtype=np.int16),
    ...                 np.array([2], dtype=np.int32))
    >>> layers, track = match_tracks([0, 0], [1.0, 1.02], [2.0, 0.52], c)
    >>> layers.tolist(), track.tolist()
    ([0, 9], [1])
    """
    t_event = np.asarray(tracks_event, dtype=np.int64)
    t_theta = np.asarray(tracks_theta, dtype=np.float32)
    t_phi = np.asarray(tracks_phi, dtype=np.float32)
    n_events = int(max(t_event.max(initial=-1), clusters.event.max(initial=-1))) + 1
    it, ic = pairs(counts_of(t_event, n_events), counts_of(clusters.event, n_events))
    tx, ty, tz = _unit(t_theta, t_phi)
    cx, cy, cz = _unit(clusters.theta, clusters.phi)
    cos = tx[it] * cx[ic] + ty[it] * cy[ic] + tz[it] * cz[ic]
    angle = np.arccos(np.clip(cos, -1.0, 1.0))
    close = angle < max_angle
    it, ic, angle = it[close], ic[close], angle[close]
    nearest_c = _nearest(it, ic, angle, t_event.size)
    nearest_t = _nearest(ic, it, angle, clusters.event.size)
    mutual = nearest_t[ic] == it
    mutual &= nearest_c[it] == ic
    layers = np.zeros(t_event.size, dtype=np.int16)
    layers[it[mutual]] = clusters.layers[ic[mutual]]
    track_index = np.full(clusters.event.size, -1, dtype=np.int32)
    track_index[ic[mutual]] = local_index(t_event, n_events)[it[mutual]]
    return layers, track_index


def _nearest(owner: I64, other: I64, angle: F64, size: int) -> I64:
    """Per owner, the ``other`` of its smallest-angle pair (-1 without pairs)."""
    order = np.lexsort((angle, owner))
    owner, other = owner[order], other[order]
    first = np.ones(owner.size, dtype=bool)
    first[1:] = owner[1:] != owner[:-1]
    out = np.full(size, -1, dtype=np.int64)
    out[owner[first]] = other[first]
    return out


def _unit(
    theta: NDArray[np.floating], phi: NDArray[np.floating]
) -> tuple[F32, F32, F32]:
    th, ph = theta.astype(np.float32), phi.astype(np.float32)
    sin = np.sin(th)
    return sin * np.cos(ph), sin * np.sin(ph), np.cos(th)
