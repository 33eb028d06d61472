"""MC truth matching of candidates: mcIndex, mcPDG and isSignal, vectorised.

A final-state candidate is matched through its mDST object's ``mcIndex``. A composite
(and a V0) is matched to the common mother of its daughters' MCParticles. A candidate
is signal when it is matched, the matched particle has the candidate's PDG code
(sign included), every daughter is signal and no daughter of the true decay is
missing. Unlike basf2 there is no tolerance for a missing intermediate resonance or a
missing radiative photon. Indices here are flat (global) MCParticle indices.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from b2grid.analysis.event import EventData
from b2grid.analysis.particles import ParticleList

I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


def _global(ev: EventData, local: npt.NDArray[np.integer], event: I64) -> I64:
    """Per-event MCParticle indices (-1 = none) to flat ones."""
    assert ev.mc is not None
    loc = local.astype(np.int64)
    return np.where(loc >= 0, loc + ev.mc.offsets[event], -1)


def mother(ev: EventData, index: I64) -> I64:
    """Flat index of the mother of each flat MCParticle index (-1 stays -1)."""
    assert ev.mc is not None
    safe = np.maximum(index, 0)
    local = ev.mc["mother"][safe].astype(np.int64)
    out = np.where(local >= 0, local + ev.mc.offsets[ev.mc.event[safe]], -1)
    return np.where(index >= 0, out, -1)


def _common_mother(ev: EventData, d: I64) -> I64:
    """Common mother of each row of daughters' MC indices (n, k), else -1."""
    if d.shape[1] == 0:
        return np.full(len(d), -1, dtype=np.int64)
    moms = np.stack([mother(ev, d[:, j]) for j in range(d.shape[1])], axis=1)
    ok = (d >= 0).all(axis=1) & (moms == moms[:, :1]).all(axis=1) & (moms[:, 0] >= 0)
    return np.where(ok, moms[:, 0], -1)


def mc_index(plist: ParticleList, ev: EventData) -> I64:
    """Flat MCParticle index each candidate is matched to; -1 if none (or data)."""
    memo = plist.memo.get("mc_index")
    if memo is not None:
        return memo  # type: ignore[no-any-return]
    n = len(plist)
    if ev.mc is None:
        out = np.full(n, -1, dtype=np.int64)
    elif plist.source == "track":
        out = _global(ev, ev.track["mcIndex"][plist.obj], plist.event)
    elif plist.source == "cluster":
        out = _global(ev, ev.cluster["mcIndex"][plist.obj], plist.event)
    elif plist.source == "v0":
        tracks = [
            ev.track.offsets[plist.event] + ev.v0[f][plist.obj].astype(np.int64)
            for f in ("trackIndexPos", "trackIndexNeg")
        ]
        d = np.stack(
            [_global(ev, ev.track["mcIndex"][t], plist.event) for t in tracks], axis=1
        )
        out = _common_mother(ev, d)
    else:
        d = np.stack(
            [
                mc_index(dl, ev)[plist.daughters[:, j]]
                for j, dl in enumerate(plist.daughter_lists)
            ],
            axis=1,
        )
        out = _common_mother(ev, d)
    plist.memo["mc_index"] = out
    return out


def mc_pdg(plist: ParticleList, ev: EventData) -> npt.NDArray[np.float64]:
    """PDG code of the matched MCParticle (NaN when unmatched or data)."""
    idx = mc_index(plist, ev)
    if ev.mc is None:
        return np.full(len(plist), np.nan)
    pdg = ev.mc["pdg"][np.maximum(idx, 0)].astype(np.float64)
    return np.where(idx >= 0, pdg, np.nan)


def is_signal(plist: ParticleList, ev: EventData) -> Bool:
    """Whether each candidate is a correctly reconstructed true decay."""
    memo = plist.memo.get("is_signal")
    if memo is not None:
        return memo  # type: ignore[no-any-return]
    idx = mc_index(plist, ev)
    if ev.mc is None:
        out = np.zeros(len(plist), dtype=bool)
    else:
        safe = np.maximum(idx, 0)
        out = (idx >= 0) & (ev.mc["pdg"][safe] == plist.pdg)
        if plist.source in ("composite", "v0"):
            first = ev.mc["firstDaughter"][safe].astype(np.int64)
            last = ev.mc["lastDaughter"][safe].astype(np.int64)
            n_true = np.where(first >= 0, last - first + 1, 0)
            n_reco = plist.n_daughters if plist.source == "composite" else 2
            out &= n_true == n_reco
        for j, dl in enumerate(plist.daughter_lists):
            out &= is_signal(dl, ev)[plist.daughters[:, j]]
    plist.memo["is_signal"] = out
    return out


__all__ = ["is_signal", "mc_index", "mc_pdg", "mother"]
