"""The high-level trigger: event features from reconstructed objects, then HLT lines.

Each line follows the Belle II selection quoted in PHYSICS.md; a line's result is stored
after its prescale, and ``total_result`` (the event is kept) is the OR of the physics
lines. Everything is computed per event on flat arrays, no Python loop over events.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from b2grid.formats import HLT_LINES
from b2grid.physics.flat import counts_of, flatten, offsets_of
from b2grid.physics.kinematics import Beam, to_cms

PION_MASS = 0.13957039
#: the lines whose OR keeps an event
PHYSICS_LINES: tuple[str, ...] = HLT_LINES

FloatArray = np.ndarray[Any, np.dtype[np.float64]]
IntArray = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True)
class EventFeatures:
    """Per-event quantities the HLT lines (and event-shape cuts) use; CM frame (*)."""

    n_tracks: np.ndarray[Any, np.dtype[np.int64]]  # pt > 0.2, |d0| < 2, |z0| < 4
    n_tracks_p01: np.ndarray[Any, np.dtype[np.int64]]  # p > 0.1 GeV
    p1: FloatArray  # leading good-track CM momentum
    p2: FloatArray  # second
    q1q2: np.ndarray[Any, np.dtype[np.int64]]  # product of their charges (0 if < 2)
    angle12: FloatArray  # CM opening angle of the two leading tracks
    n_electrons: np.ndarray[Any, np.dtype[np.int64]]  # good tracks with E/p > 0.8
    e_ecl: FloatArray  # sum of cluster energies (lab)
    e1: FloatArray  # leading cluster CM energy
    e2: FloatArray  # second
    n_clusters_01: np.ndarray[Any, np.dtype[np.int64]]  # clusters above 0.1 GeV
    e_vis: FloatArray  # CM visible energy: tracks (pion mass) + neutral clusters
    pz_vis: FloatArray  # CM sum of pz of the same
    r2: FloatArray  # Fox-Wolfram R2 of the same, CM


def _sum(event: IntArray, n: int, values: FloatArray) -> FloatArray:
    """Per-event sum of a flat array (events sorted or not)."""
    return np.bincount(event, weights=values, minlength=n).astype(np.float64)


def fox_wolfram_r2(event: IntArray, n: int, p3: FloatArray) -> FloatArray:
    """Fox-Wolfram ratio R2 = H2/H0 per event from flat momenta, O(N) per event.

    Uses Σ_ij |p_i||p_j| P2(cos θ_ij) = 3/2 ||T||² - 1/2 (Σ|p|)² with the tensor
    T_ab = Σ_i p_ia p_ib / |p_i|, instead of the O(N²) pair sum.

    Examples
    --------
    >>> p = np.array([[1.0, 0, 0], [-1.0, 0, 0]])
    >>> float(fox_wolfram_r2(np.array([0, 0]), 1, p)[0])  # back to back: two jets
    1.0
    """
    mag = np.sqrt((p3**2).sum(axis=1))
    w = np.where(mag > 0, 1.0 / np.where(mag > 0, mag, 1.0), 0.0)
    t2 = np.zeros(n)
    for a in range(3):
        for b in range(a, 3):
            term = _sum(event, n, p3[:, a] * p3[:, b] * w) ** 2
            t2 += term if a == b else 2 * term
    s = _sum(event, n, mag)
    h2 = 1.5 * t2 - 0.5 * s**2
    return np.where(s > 0, h2 / np.where(s > 0, s, 1.0) ** 2, 0.0)


def _top2(event: IntArray, n: int, key: FloatArray) -> tuple[IntArray, IntArray]:
    """Flat indices of the largest and second largest ``key`` per event (-1: none)."""
    order = np.lexsort((-key, event))
    ev = event[order]
    starts = np.searchsorted(ev, np.arange(n))
    stops = np.searchsorted(ev, np.arange(n), side="right")
    first = np.where(stops > starts, order[np.minimum(starts, len(order) - 1)], -1)
    has2 = stops - starts >= 2
    second = np.where(has2, order[np.minimum(starts + 1, len(order) - 1)], -1)
    if len(order) == 0:
        first = second = np.full(n, -1, dtype=np.int64)
    return first.astype(np.int64), second.astype(np.int64)


def features(events: ak.Array, beam: Beam) -> EventFeatures:
    """Compute :class:`EventFeatures` from an mDST-level batch (Track, ECLCluster).

    ``events.Track`` needs px, py, pz, charge, d0, z0; ``events.ECLCluster`` needs
    E, theta, phi and trackIndex (-1 for neutral clusters).
    """
    n = len(events)
    t_event, trk = flatten(events.Track)
    c_event, cls = flatten(events.ECLCluster)
    p3 = np.column_stack([trk[c].astype(np.float64) for c in ("px", "py", "pz")])
    p_lab = np.sqrt((p3**2).sum(axis=1))
    pt = np.hypot(p3[:, 0], p3[:, 1])
    good = (pt > 0.2) & (np.abs(trk["d0"]) < 2.0) & (np.abs(trk["z0"]) < 4.0)
    t4 = to_cms(np.column_stack([p3, np.sqrt(p_lab**2 + PION_MASS**2)]), beam)
    p_cms = np.sqrt((t4[:, :3] ** 2).sum(axis=1))

    # E/p from the cluster each track is matched to
    t_offsets = offsets_of(counts_of(t_event, n))
    e_track = np.zeros(len(t_event))
    matched = cls["trackIndex"] >= 0
    np.add.at(
        e_track,
        t_offsets[c_event[matched]] + cls["trackIndex"][matched].astype(np.int64),
        cls["E"][matched],
    )
    electron = good & (e_track > 0.8 * p_lab)

    # the two leading good tracks in the CM frame
    i1, i2 = _top2(t_event, n, np.where(good, p_cms, -1.0))
    n_good = np.bincount(t_event[good], minlength=n)
    has2 = n_good >= 2
    p1 = (
        np.where(n_good >= 1, p_cms[np.maximum(i1, 0)], 0.0)
        if len(p_cms)
        else np.zeros(n)
    )
    p2 = np.where(has2, p_cms[np.maximum(i2, 0)], 0.0) if len(p_cms) else np.zeros(n)
    if len(p_cms):
        v1, v2 = t4[np.maximum(i1, 0), :3], t4[np.maximum(i2, 0), :3]
        norm = np.maximum(p_cms[np.maximum(i1, 0)] * p_cms[np.maximum(i2, 0)], 1e-12)
        cos12 = np.clip((v1 * v2).sum(axis=1) / norm, -1.0, 1.0)
        angle12 = np.where(has2, np.arccos(cos12), 0.0)
        q = trk["charge"].astype(np.int64)
        q1q2 = np.where(has2, q[np.maximum(i1, 0)] * q[np.maximum(i2, 0)], 0)
    else:
        angle12, q1q2 = np.zeros(n), np.zeros(n, dtype=np.int64)

    # clusters in the CM frame (massless); neutral ones join the visible energy
    ce = cls["E"].astype(np.float64)
    th, ph = cls["theta"].astype(np.float64), cls["phi"].astype(np.float64)
    c4 = to_cms(
        np.column_stack(
            [
                ce * np.sin(th) * np.cos(ph),
                ce * np.sin(th) * np.sin(ph),
                ce * np.cos(th),
                ce,
            ]
        ),
        beam,
    )
    ce_cms = c4[:, 3]
    j1, j2 = _top2(c_event, n, ce_cms)
    e1 = np.where(j1 >= 0, ce_cms[np.maximum(j1, 0)], 0.0) if len(ce) else np.zeros(n)
    e2 = np.where(j2 >= 0, ce_cms[np.maximum(j2, 0)], 0.0) if len(ce) else np.zeros(n)
    neutral = ~matched

    vis_event = np.concatenate([t_event[good], c_event[neutral]])
    vis = np.concatenate([t4[good], c4[neutral]])
    return EventFeatures(
        n_tracks=n_good.astype(np.int64),
        n_tracks_p01=np.bincount(t_event[p_lab > 0.1], minlength=n).astype(np.int64),
        p1=p1,
        p2=p2,
        q1q2=q1q2.astype(np.int64),
        angle12=angle12,
        n_electrons=np.bincount(t_event[electron], minlength=n).astype(np.int64),
        e_ecl=_sum(c_event, n, ce),
        e1=e1,
        e2=e2,
        n_clusters_01=np.bincount(c_event[ce > 0.1], minlength=n).astype(np.int64),
        e_vis=_sum(vis_event, n, vis[:, 3]),
        pz_vis=_sum(vis_event, n, vis[:, 2]),
        r2=fox_wolfram_r2(vis_event, n, vis[:, :3]),
    )


def lines(
    f: EventFeatures, beam: Beam
) -> dict[str, np.ndarray[Any, np.dtype[np.bool_]]]:
    """Each HLT line's selection, before prescales (PHYSICS.md definitions)."""
    e_beam, sqrt_s = beam.sqrt_s / 2.0, beam.sqrt_s
    bhabha = (
        (f.n_tracks >= 2)
        & (f.q1q2 < 0)
        & (f.angle12 > 2.88)
        & (f.n_electrons >= 1)
        & (f.p1 / e_beam > 0.35)
        & (f.p2 / e_beam > 0.35)
        & (f.e_ecl > 4.0)
    )
    hadronb = (
        (f.n_tracks_p01 >= 3)
        & (f.e_vis / sqrt_s > 0.2)
        & (np.abs(f.pz_vis) / sqrt_s < 0.5)
        & (f.n_clusters_01 > 1)
        & (f.e_ecl / sqrt_s > 0.1)
        & (f.e_ecl / sqrt_s < 0.8)
    )
    mumu = (
        (f.n_tracks >= 2)
        & (f.n_electrons == 0)
        & (f.p1 / e_beam > 0.35)
        & (f.p2 / e_beam > 0.2)
        & (f.e_ecl < 7.0)
        & (f.angle12 > 0.785)
    )
    return {
        "hadron": (f.n_tracks >= 3) & ~bhabha,
        "hadronb": hadronb,
        "hadronb1": hadronb & (f.r2 < 0.4),
        "hadronb2": hadronb & (f.n_tracks_p01 >= 5),
        "bhabha": bhabha,
        "mumu_2trk": mumu,
        "gamma_gamma": (
            (f.n_tracks <= 1)
            & (f.n_electrons == 0)
            & (f.e1 + f.e2 > 4.0)
            & (f.e1 > 2.0)
        ),
        "tau_tau": (
            (f.n_tracks >= 2)
            & (f.p1 < 5.0)
            & (f.e_ecl < 9.0)
            & (f.e_vis < 9.0)
            & ~bhabha
        ),
    }


def trigger(
    events: ak.Array,
    beam: Beam,
    prescales: Mapping[str, int],
    rng: np.random.Generator,
) -> ak.Array:
    """The SoftwareTriggerResult record of each event: lines after prescale and OR.

    A line with prescale N keeps a passing event with probability 1/N.
    """
    passed = lines(features(events, beam), beam)
    out: dict[str, Any] = {}
    total = np.zeros(len(events), dtype=bool)
    for name in HLT_LINES:
        keep = passed[name]
        n = int(prescales.get(name, 1))
        if n > 1:
            keep = keep & (rng.integers(0, n, len(keep)) == 0)
        out[f"accept_{name}"] = keep
        if name in PHYSICS_LINES:
            total |= keep
    return ak.zip({"total_result": total, **out}, depth_limit=1)
