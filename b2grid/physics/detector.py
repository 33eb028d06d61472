"""The detector: generated particles in, RAW digits out (tracking, ECL, KLM, PID).

``simulate`` takes the generator's events and the true :class:`RunConditions` of the
run and returns RAW-level event arrays: raw tracks with raw PID signals, ECL crystal
ADC counts (true gains applied, beam background overlaid) and KLM hits. MC truth
(``MCParticle``) rides along; reconstruction links objects to it by ``mcIndex``. The
beam background is synthetic, or recorded: random-trigger events of the run overlaid.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

from b2grid.errors import PhysicsError
from b2grid.physics import ecl, klm, tracking
from b2grid.physics.conditions import RunConditions
from b2grid.physics.flat import flatten, jagged, offsets_of

#: neutrinos never interact
_INVISIBLE = np.array([12, 14, 16, -12, -14, -16])

#: RAW fields of the overlaid collections, in the column order of the flat records
_TRACK_FIELDS = (
    "d0", "phi0", "omega_raw", "z0", "tanLambda", "chi2", "ndf", "nCDCHits",
    "nSVDHits", "nPXDHits", "dedx", "cherenkovAngle",
)  # fmt: skip
_DIGIT_FIELDS = ("cellId", "adc", "time")
_KLM_FIELDS = ("layer", "theta", "phi")


def overlay_indices(
    n_events: int, n_overlay: int, rng: np.random.Generator
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Which overlay event each of ``n_events`` simulated events takes.

    A seeded random order of the ``n_overlay`` events, cycled when there are fewer
    of them than simulated events (each used ``n_events / n_overlay`` times, +-1);
    with enough of them, no overlay event is used twice.

    Examples
    --------
    >>> overlay_indices(7, 3, np.random.default_rng(0)).tolist()
    [2, 0, 1, 2, 0, 1, 2]
    """
    if n_overlay <= 0:
        raise PhysicsError("no random-trigger events to overlay; pass None instead")
    order = rng.permutation(n_overlay).astype(np.int64)
    return order[np.arange(n_events, dtype=np.int64) % n_overlay]


def _gather(
    collection: ak.Array, names: tuple[str, ...], picked: np.ndarray[Any, Any]
) -> tuple[np.ndarray[Any, Any], dict[str, np.ndarray[Any, Any]]]:
    """Flat columns of the lists ``collection[picked]``, and their (sorted) event
    index in ``picked``'s order, without building the awkward selection."""
    counts = ak.to_numpy(ak.num(collection)).astype(np.int64)
    starts = offsets_of(counts)[:-1]
    taken = counts[picked]
    out_starts = offsets_of(taken)
    total = int(out_starts[-1])
    event = np.repeat(np.arange(len(picked), dtype=np.int64), taken)
    where = np.arange(total, dtype=np.int64) + (starts[picked] - out_starts[:-1])[event]
    columns = {f: ak.to_numpy(ak.flatten(collection[f]))[where] for f in names}
    return event, columns


def _overlaid(
    overlay: ak.Array, picked: np.ndarray[Any, Any], conditions: RunConditions
) -> tuple[tracking.RawTracks, ecl.EclDigits, klm.KlmDigits | None]:
    """The background of the overlay events ``picked``: tracks, digits and (if the
    overlay has any) KLM hits, every ``mc_index`` -1."""
    if conditions.background == "BGx0":
        raise PhysicsError(
            "background 'BGx0' means no beam background; pass no overlay, or use "
            "'BGx1' conditions for a random-trigger overlay"
        )
    missing = {"RawTrack", "ECLDigit"} - set(overlay.fields)
    if missing:
        raise PhysicsError(
            f"overlay events lack {', '.join(sorted(missing))}: pass RAW-level "
            "random-trigger events (chain.random_trigger or a randomtrigger file)"
        )
    ev, c = _gather(overlay.RawTrack, _TRACK_FIELDS, picked)
    none = np.full(len(ev), -1, np.int32)
    f32, i16 = np.float32, np.int16
    tracks = tracking.RawTracks(
        event=ev, d0=c["d0"].astype(f32), phi0=c["phi0"].astype(f32),
        omega_raw=c["omega_raw"].astype(f32), z0=c["z0"].astype(f32),
        tan_lambda=c["tanLambda"].astype(f32), chi2=c["chi2"].astype(f32),
        ndf=c["ndf"].astype(i16), n_cdc=c["nCDCHits"].astype(i16),
        n_svd=c["nSVDHits"].astype(i16), n_pxd=c["nPXDHits"].astype(i16),
        dedx=c["dedx"].astype(f32), cherenkov_angle=c["cherenkovAngle"].astype(f32),
        mc_index=none,
    )  # fmt: skip
    ev, c = _gather(overlay.ECLDigit, _DIGIT_FIELDS, picked)
    digits = ecl.EclDigits(ev, c["cellId"], c["adc"], c["time"], np.full(len(ev), -1))
    hits = None
    if "KLMDigit" in overlay.fields:
        ev, c = _gather(overlay.KLMDigit, _KLM_FIELDS, picked)
        if len(ev):
            none = np.full(len(ev), -1, np.int32)
            hits = klm.KlmDigits(
                ev,
                c["layer"].astype(np.int8),
                c["theta"].astype(np.float32),
                c["phi"].astype(np.float32),
                none,
            )
    return tracks, digits, hits


def simulate(
    generated: ak.Array,
    conditions: RunConditions,
    rng: np.random.Generator,
    overlay: ak.Array | None = None,
) -> ak.Array:
    """RAW-level events (RawTrack, ECLDigit, KLMDigit, MCParticle) for ``generated``.

    ``generated`` has the generator's ``MCParticle`` collection; only final-state
    particles (status 1) reach the detector.

    Without ``overlay`` the beam background is synthetic (:func:`ecl.background` and
    :func:`tracking.background` at the conditions' level and scale). With it --
    RAW-level random-trigger events of the run, e.g. from
    :func:`~b2grid.physics.chain.random_trigger` or a ``randomtrigger`` file -- each
    event takes the tracks, ECL digits and KLM hits of one overlay event instead
    (the first draw of ``rng`` is :func:`overlay_indices`); overlaid digits are merged
    with :func:`ecl.merge` (they already carry the run's true gains) and every
    overlaid object gets ``mcIndex`` -1.
    """
    n = len(generated)
    picked = None if overlay is None else overlay_indices(n, len(overlay), rng)
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
        background=conditions.background if picked is None else "BGx0",
        background_scale=conditions.background_scale,
        n_events=n,
    )  # fmt: skip
    charge = tracking.charge_of(pdg)
    theta, phi, reaches = tracking.propagate_to_ecl(px, py, pz, charge, vx, vy, vz)
    digits = ecl.simulate(
        ev[reaches], pdg[reaches], energy[reaches], theta[reaches], phi[reaches],
        idx[reaches], conditions.ecl_gains, rng, n_events=n,
    )  # fmt: skip
    bg_hits = None
    if overlay is None or picked is None:
        background = ecl.background(
            n, conditions.background, rng,
            gains=conditions.ecl_gains, scale=conditions.background_scale,
        )  # fmt: skip
    else:
        bg_tracks, background, bg_hits = _overlaid(overlay, picked, conditions)
        raw = tracking.merge(raw, bg_tracks)
    digits = ecl.merge(digits, background)
    hits = klm.simulate(ev, pdg, px, py, pz, charge, idx, rng, n_events=n)
    if bg_hits is not None:
        hits = _merge_hits(hits, bg_hits)

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


def _merge_hits(first: klm.KlmDigits, then: klm.KlmDigits) -> klm.KlmDigits:
    """KLM hits of both sets, sorted by event (``first``'s first in each event)."""
    names = ("event", "layer", "theta", "phi", "mc_index")
    order = np.argsort(np.concatenate([first.event, then.event]), kind="stable")
    merged = [
        np.concatenate([getattr(first, f), getattr(then, f)])[order] for f in names
    ]
    return klm.KlmDigits(*merged)
