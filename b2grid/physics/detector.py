"""The detector: generated particles in, RAW digits out (tracking, ECL, KLM, PID).

``simulate`` takes the generator's events and the true :class:`RunConditions` of the
run and returns RAW-level event arrays: raw tracks with raw PID signals, ECL crystal
ADC counts (true gains applied, beam background overlaid) and KLM hits. MC truth
(``MCParticle``) rides along; reconstruction links objects to it by ``mcIndex``.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from b2grid.physics import ecl, klm, tracking
from b2grid.physics.conditions import RunConditions
from b2grid.physics.flat import flatten, jagged

#: neutrinos never interact
_INVISIBLE = np.array([12, 14, 16, -12, -14, -16])


def simulate(
    generated: ak.Array, conditions: RunConditions, rng: np.random.Generator
) -> ak.Array:
    """RAW-level events (RawTrack, ECLDigit, KLMDigit, MCParticle) for ``generated``.

    ``generated`` has the generator's ``MCParticle`` collection; only final-state
    particles (status 1) reach the detector.
    """
    n = len(generated)
    event, mc = flatten(generated.MCParticle)
    mc_index = (np.arange(len(event)) - np.searchsorted(event, event)).astype(np.int32)
    final = (mc["status"] == 1) & ~np.isin(mc["pdg"], _INVISIBLE)
    ev, pdg, idx = event[final], mc["pdg"][final], mc_index[final]
    px, py, pz = (mc[c][final].astype(np.float64) for c in ("px", "py", "pz"))
    vx, vy, vz = (mc[c][final].astype(np.float64) for c in ("vx", "vy", "vz"))
    energy = mc["E"][final].astype(np.float64)

    raw = tracking.simulate(
        ev, pdg, px, py, pz, vx, vy, vz, idx, rng,
        field_scale=conditions.field_scale,
        background=conditions.background,
        n_events=n,
    )  # fmt: skip
    charge = tracking.charge_of(pdg)
    theta, phi, reaches = tracking.propagate_to_ecl(px, py, pz, charge, vx, vy, vz)
    digits = ecl.simulate(
        ev[reaches], pdg[reaches], energy[reaches], theta[reaches], phi[reaches],
        idx[reaches], conditions.ecl_gains, rng, n_events=n,
    )  # fmt: skip
    digits = ecl.merge(digits, ecl.background(n, conditions.background, rng))
    hits = klm.simulate(ev, pdg, px, py, pz, charge, idx, rng, n_events=n)

    return ak.zip(
        {
            "RawTrack": jagged(
                raw.event,
                n,
                {
                    "d0": raw.d0,
                    "phi0": raw.phi0,
                    "omega_raw": raw.omega_raw,
                    "z0": raw.z0,
                    "tanLambda": raw.tan_lambda,
                    "chi2": raw.chi2,
                    "ndf": raw.ndf,
                    "nCDCHits": raw.n_cdc,
                    "nSVDHits": raw.n_svd,
                    "nPXDHits": raw.n_pxd,
                    "dedx": raw.dedx,
                    "cherenkovAngle": raw.cherenkov_angle,
                    "mcIndex": raw.mc_index,
                },
            ),
            "ECLDigit": jagged(
                digits.event,
                n,
                {
                    "cellId": digits.cell,
                    "adc": digits.adc,
                    "time": digits.time,
                    "mcIndex": digits.mc_index,
                },
            ),
            "KLMDigit": jagged(
                hits.event,
                n,
                {
                    "layer": hits.layer,
                    "theta": hits.theta,
                    "phi": hits.phi,
                    "mcIndex": hits.mc_index,
                },
            ),
            "MCParticle": generated.MCParticle,
        },
        depth_limit=1,
    )
