"""Event-shape variables that skims cut on, added to the analysis variable registry.

basf2 skims cut on event quantities (``visibleEnergyOfEventCMS``, ``thrust``, the
number of clean tracks) and on ``cosThetaBetweenParticleAndNominalB``; the toolkit
has only ``nTracks`` and ``R2``. Importing this module registers the ones below
(group ``event``), computed once per batch from the HLT's event features
(:func:`b2grid.physics.hlt.features`) and cached with the batch.

Examples
--------
>>> from b2grid.analysis import variables
>>> import b2grid.skims.eventvars
>>> "thrust" in variables.names() and "nGoodTracks" in variables.names()
True
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from b2grid.analysis import variables
from b2grid.analysis.event import EventData
from b2grid.analysis.particles import ParticleList
from b2grid.physics import hlt
from b2grid.physics.kinematics import to_cms

F64 = npt.NDArray[np.float64]

#: B0/B+ mass used by ``cosThetaBetweenParticleAndNominalB`` (GeV, average)
NOMINAL_B_MASS = 5.2795


def _features(ev: EventData) -> hlt.EventFeatures:
    key = "skims.features"
    if key not in ev.cache:
        ev.cache[key] = hlt.features(ev.events, ev.beam)
    out: hlt.EventFeatures = ev.cache[key]
    return out


def _good_tracks(ev: EventData) -> npt.NDArray[np.bool_]:
    """The HLT's good tracks: pt > 0.2 GeV, |d0| < 2 cm, |z0| < 4 cm."""
    pt = np.hypot(ev.track["px"].astype(np.float64), ev.track["py"].astype(np.float64))
    good: npt.NDArray[np.bool_] = (
        (pt > 0.2) & (np.abs(ev.track["d0"]) < 2.0) & (np.abs(ev.track["z0"]) < 4.0)
    )
    return good


def _thrust(ev: EventData) -> F64:
    """Thrust of the good tracks and neutral clusters (CMS), one refinement step.

    The axis starts at the hardest particle, then becomes the sum of the momenta
    in its hemisphere; T = sum |p.n| / sum |p|. Exact for two-jet and
    back-to-back topologies, a close lower bound otherwise.
    """
    key = "skims.thrust"
    if key in ev.cache:
        out: F64 = ev.cache[key]
        return out
    good = _good_tracks(ev)
    tp = np.stack([ev.track[c].astype(np.float64)[good] for c in ("px", "py", "pz")])
    neutral = ev.cluster["trackIndex"] < 0
    e = ev.cluster["E"].astype(np.float64)[neutral]
    th = ev.cluster["theta"].astype(np.float64)[neutral]
    ph = ev.cluster["phi"].astype(np.float64)[neutral]
    cp = np.stack(
        [e * np.sin(th) * np.cos(ph), e * np.sin(th) * np.sin(ph), e * np.cos(th)]
    )
    te = np.sqrt((tp**2).sum(axis=0) + hlt.PION_MASS**2)
    lab = np.concatenate([np.vstack([tp, te]), np.vstack([cp, e])], axis=1).T
    p3 = to_cms(lab, ev.beam)[:, :3]
    event = np.concatenate([ev.track.event[good], ev.cluster.event[neutral]])
    n = ev.n_events
    mag = np.sqrt((p3**2).sum(axis=1))
    total = np.bincount(event, weights=mag, minlength=n)
    # hardest particle per event
    order = np.lexsort((-mag, event))
    first = np.full(n, -1, dtype=np.int64)
    ev_sorted = event[order]
    starts = np.searchsorted(ev_sorted, np.arange(n))
    has = starts < len(order)
    has[has] &= ev_sorted[starts[has]] == np.arange(n)[has]
    first[has] = order[starts[has]]
    axis = np.zeros((n, 3))
    axis[has] = p3[first[has]]
    for _ in range(2):  # hemisphere sum, twice
        side = np.sign((p3 * axis[event]).sum(axis=1))
        side[side == 0] = 1.0
        axis = np.stack(
            [
                np.bincount(event, weights=p3[:, a] * side, minlength=n)
                for a in range(3)
            ],
            axis=1,
        )
    norm = np.sqrt((axis**2).sum(axis=1))
    unit = axis / np.where(norm > 0, norm, 1.0)[:, None]
    proj = np.abs((p3 * unit[event]).sum(axis=1))
    along = np.bincount(event, weights=proj, minlength=n)
    result: F64 = np.where(total > 0, along / np.where(total > 0, total, 1.0), 0.0)
    ev.cache[key] = result
    return result


def _per_event(pl: ParticleList, values: npt.NDArray[Any]) -> F64:
    return np.asarray(values, dtype=np.float64)[pl.event]


@variables.register(
    "nGoodTracks",
    "tracks with pt > 0.2 GeV, |d0| < 2 cm, |z0| < 4 cm (the HLT's good tracks)",
    "",
    "event",
)
def _n_good(pl: ParticleList, ev: EventData, fr: str) -> F64:
    return _per_event(pl, _features(ev).n_tracks)


@variables.register(
    "netChargeGoodTracks", "sum of the charges of the good tracks", "e", "event"
)
def _net_charge(pl: ParticleList, ev: EventData, fr: str) -> F64:
    key = "skims.netcharge"
    if key not in ev.cache:
        good = _good_tracks(ev)
        q = ev.track["charge"].astype(np.float64)[good]
        ev.cache[key] = np.bincount(
            ev.track.event[good], weights=q, minlength=ev.n_events
        )
    return _per_event(pl, ev.cache[key])


@variables.register(
    "visibleEnergyOfEventCMS",
    "CMS energy of the good tracks (pion mass) and the neutral clusters",
    "GeV",
    "event",
)
def _e_vis(pl: ParticleList, ev: EventData, fr: str) -> F64:
    return _per_event(pl, _features(ev).e_vis)


@variables.register(
    "totalECLEnergy", "sum of every ECL cluster's energy (lab)", "GeV", "event"
)
def _e_ecl(pl: ParticleList, ev: EventData, fr: str) -> F64:
    return _per_event(pl, _features(ev).e_ecl)


@variables.register(
    "leadingTrackPCMS", "CMS momentum of the hardest good track", "GeV", "event"
)
def _p1(pl: ParticleList, ev: EventData, fr: str) -> F64:
    return _per_event(pl, _features(ev).p1)


@variables.register(
    "thrust", "event thrust of good tracks and neutral clusters, CMS", "", "event"
)
def _thrust_var(pl: ParticleList, ev: EventData, fr: str) -> F64:
    return _per_event(pl, _thrust(ev))


@variables.register(
    "cosThetaBetweenParticleAndNominalB",
    "cos of the angle between a B and its visible part Y, from E*beam, p*Y and M_Y "
    "(|x| <= 1 when only one massless particle is missing)",
    "",
    "kinematics",
)
def _cos_by(pl: ParticleList, ev: EventData, fr: str) -> F64:
    p4 = variables.four_momenta(pl, ev, "cms")
    e_beam = ev.beam.sqrt_s / 2.0
    p_b = np.sqrt(max(e_beam**2 - NOMINAL_B_MASS**2, 0.0))
    p_y = np.sqrt((p4[:3] ** 2).sum(axis=0))
    m2_y = p4[3] ** 2 - p_y**2
    with np.errstate(divide="ignore", invalid="ignore"):
        out: F64 = (2 * e_beam * p4[3] - NOMINAL_B_MASS**2 - m2_y) / (2 * p_b * p_y)
    return out


__all__ = ["NOMINAL_B_MASS"]
