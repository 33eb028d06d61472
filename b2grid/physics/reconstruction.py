"""Reconstruction: RAW digits to mDST (and cDST) with conditions-DB payloads.

Tracks get calibrated momenta (momentum-scale payload), ECL digits calibrated
energies (per-crystal payload) and are clustered; clusters and KLM hits are matched to
tracks; PID likelihoods combine dE/dx, Cherenkov angle, E/p and KLM depth; V0s are
found among track pairs. MC and data take the same path; only the payloads differ.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

from b2grid.formats import PID_DETECTORS, PID_HYPOTHESES
from b2grid.physics import ecl, ecl_reco, hlt, klm, pid, tracking, v0
from b2grid.physics.conditions import RecoPayloads
from b2grid.physics.ecl_kernels import match_nearest
from b2grid.physics.flat import counts_of, flatten, jagged, offsets_of

#: largest track-cluster angular distance for a match (rad)
MATCH_ANGLE = 0.06


def _raw_tracks(raw: ak.Array) -> tracking.RawTracks:
    event, f = flatten(raw.RawTrack)
    return tracking.RawTracks(
        event=event,
        d0=f["d0"],
        phi0=f["phi0"],
        omega_raw=f["omega_raw"],
        z0=f["z0"],
        tan_lambda=f["tanLambda"],
        chi2=f["chi2"],
        ndf=f["ndf"],
        n_cdc=f["nCDCHits"],
        n_svd=f["nSVDHits"],
        n_pxd=f["nPXDHits"],
        dedx=f["dedx"],
        cherenkov_angle=f["cherenkovAngle"],
        mc_index=f["mcIndex"],
    )


def _digits(raw: ak.Array) -> ecl.EclDigits:
    event, f = flatten(raw.ECLDigit)
    return ecl.EclDigits(
        event=event,
        cell=f["cellId"],
        adc=f["adc"],
        time=f["time"],
        mc_index=f["mcIndex"],
    )


def _unit(theta: Any, phi: Any) -> Any:
    """Unit vectors (n, 3) for directions (theta, phi)."""
    st = np.sin(theta)
    return np.column_stack([st * np.cos(phi), st * np.sin(phi), np.cos(theta)])


def match(
    a_event: Any, a_theta: Any, a_phi: Any, b_event: Any, b_theta: Any, b_phi: Any,
    n_events: int, max_angle: float,
) -> tuple[Any, Any]:  # fmt: skip
    """One-to-one nearest matching of a-objects to b-objects in the same event.

    Returns ``(b_of_a, a_of_b)``: local indices of the partner, -1 when unmatched.
    Greedy by distance: the closest pairs are matched first.
    """
    # pairs closer than max_angle, nearest first; then in rounds every free a
    # takes its nearest free b, each b keeps the nearest a asking for it; the
    # globally nearest pair always lands, so the rounds end (compiled: a loop over
    # the pairs of each event)
    a_offsets, b_offsets = (
        offsets_of(counts_of(e, n_events)) for e in (a_event, b_event)
    )
    ua, ub = (
        np.ascontiguousarray(_unit(t, p), dtype=np.float64)
        for t, p in ((a_theta, a_phi), (b_theta, b_phi))
    )
    return match_nearest(a_offsets, b_offsets, ua, ub, float(np.cos(max_angle)))


def reconstruct(
    raw: ak.Array,
    payloads: RecoPayloads,
    *,
    cdst: bool = False,
    trigger_rng: np.random.Generator | None = None,
) -> ak.Array:
    """mDST-level events (cDST with ``cdst=True``) from RAW-level events.

    The SoftwareTriggerResult is taken from ``raw`` when it has one (the HLT already
    ran); otherwise it is computed here with ``trigger_rng`` for the prescales (MC
    produced straight to mDST). ``MCParticle`` and ``EventMetaData`` pass through.
    """
    n = len(raw)
    trk = tracking.reconstruct(_raw_tracks(raw), payloads.momentum_scale)
    charge = trk.charge.astype(np.float64)
    zero = np.zeros(len(trk.event))
    t_theta, t_phi, _ = tracking.propagate_to_ecl(
        trk.px.astype(np.float64), trk.py.astype(np.float64), trk.pz.astype(np.float64),
        charge, zero, zero, trk.z0.astype(np.float64),
    )  # fmt: skip

    digits = _digits(raw)
    energy = ecl_reco.calibrated_energy(digits, payloads.ecl_calib)
    cls = ecl_reco.cluster(digits, energy, n, leakage=payloads.ecl_leakage)
    cluster_of_track, track_of_cluster = match(
        trk.event, t_theta, t_phi, cls.event, cls.theta, cls.phi, n, MATCH_ANGLE
    )

    kdig = klm.KlmDigits(**_klm_fields(raw))
    kcl = klm.reconstruct(kdig, n)
    layers, track_of_klm = klm.match_tracks(trk.event, t_theta, t_phi, kcl)

    p = np.sqrt(trk.px.astype(np.float64) ** 2 + trk.py**2 + trk.pz**2)
    cl_offsets = np.concatenate([[0], np.cumsum(counts_of(cls.event, n))])
    has_cluster = cluster_of_track >= 0
    # gather only matched tracks: an unmatched track of an event without clusters
    # would point one past the last cluster
    e_match = np.full(len(cluster_of_track), np.nan)
    e_match[has_cluster] = cls.energy[
        cl_offsets[trk.event[has_cluster]] + cluster_of_track[has_cluster]
    ]
    loglik = pid.likelihoods(p, trk.dedx, trk.cherenkov_angle, e_match / p, layers)
    v0s = v0.find(trk, n)

    out: dict[str, Any] = {}
    if "EventMetaData" in raw.fields:
        out["EventMetaData"] = raw.EventMetaData
    out["Track"] = jagged(
        trk.event,
        n,
        {
            "d0": trk.d0,
            "phi0": trk.phi0,
            "omega": trk.omega,
            "z0": trk.z0,
            "tanLambda": trk.tan_lambda,
            "px": trk.px,
            "py": trk.py,
            "pz": trk.pz,
            "charge": trk.charge,
            "pValue": trk.p_value,
            "nCDCHits": trk.n_cdc,
            "nSVDHits": trk.n_svd,
            "nPXDHits": trk.n_pxd,
            "mcIndex": trk.mc_index,
        },
    )
    out["PIDLikelihood"] = jagged(
        trk.event,
        n,
        {
            f"{det}_{hyp}": loglik[:, i, j].astype(np.float32)
            for i, det in enumerate(PID_DETECTORS)
            for j, hyp in enumerate(PID_HYPOTHESES)
        },
    )
    out["ECLCluster"] = jagged(
        cls.event,
        n,
        {
            "E": cls.energy,
            "theta": cls.theta,
            "phi": cls.phi,
            "E9oE21": cls.e9oe21,
            "time": cls.time,
            "nHits": cls.n_hits,
            "seedCellId": cls.seed_cell,
            "connectedRegionId": cls.connected_region,
            "trackIndex": track_of_cluster.astype(np.int16),
            "mcIndex": cls.mc_index,
        },
    )
    out["KLMCluster"] = jagged(
        kcl.event,
        n,
        {
            "theta": kcl.theta,
            "phi": kcl.phi,
            "layers": kcl.layers,
            "innermostLayer": kcl.innermost_layer,
            "trackIndex": track_of_klm.astype(np.int16),
            "mcIndex": kcl.mc_index,
        },
    )
    out["V0"] = jagged(
        v0s.event,
        n,
        {
            "trackIndexPos": v0s.track_index_pos.astype(np.int16),
            "trackIndexNeg": v0s.track_index_neg.astype(np.int16),
            "pdg": v0s.pdg,
            "M": v0s.mass,
            "px": v0s.px,
            "py": v0s.py,
            "pz": v0s.pz,
            "vx": v0s.vx,
            "vy": v0s.vy,
            "vz": v0s.vz,
        },
    )
    if "SoftwareTriggerResult" in raw.fields:
        out["SoftwareTriggerResult"] = raw.SoftwareTriggerResult
    else:
        rng = trigger_rng if trigger_rng is not None else np.random.default_rng(0)
        partial = ak.zip(
            {"Track": out["Track"], "ECLCluster": out["ECLCluster"]}, depth_limit=1
        )
        out["SoftwareTriggerResult"] = hlt.trigger(
            partial, payloads.beam, payloads.prescales, rng
        )
    if "MCParticle" in raw.fields:
        out["MCParticle"] = raw.MCParticle
    if cdst:
        out["ECLDigit"] = raw.ECLDigit
    return ak.zip(out, depth_limit=1)


def _klm_fields(raw: ak.Array) -> dict[str, Any]:
    event, f = flatten(raw.KLMDigit)
    return {
        "event": event,
        "layer": f["layer"],
        "theta": f["theta"],
        "phi": f["phi"],
        "mc_index": f["mcIndex"],
    }
