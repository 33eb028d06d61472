"""Combinatorics: every daughter combination of a decay, per event, compiled.

One numba kernel walks the events; inside an event it runs an odometer over the
daughter slots (any number of them), for the decay and for its charge conjugate,
pruning as soon as a candidate would reuse an mDST object already taken by an earlier
slot, and keeping only combinations inside the mass window the cut implies. Slots
that draw the same particle from the same list take increasing indices, so
``pi0 -> gamma gamma`` never counts a pair twice; a self-conjugate decay
(``K_S0 -> pi+ pi-``, ``D0 -> K- K+``) runs once, since its conjugate pass would only
repeat it. The summed four-momenta come out of the kernel with the indices.

Measured (benchmarks/bench_analysis.py): this is where analysis time goes; the
compiled odometer is several times faster than ``ak.combinations``/``ak.cartesian``
pair arithmetic (PERF_NOTES: ≈ 7x on pair masses).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numba
import numpy as np
import numpy.typing as npt

from b2grid.analysis.decay import DecayString
from b2grid.analysis.particles import ParticleList, from_columns
from b2grid.physics import pdg

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]

_F = TypeVar("_F", bound=Callable[..., Any])

#: largest output the one-pass kernel allocates for up front; above it, count first
ONE_PASS_LIMIT = 1 << 24


def _kernel(fn: _F) -> _F:
    """Compile on first call (cached on disk), GIL released, numpy float semantics."""
    return cast(_F, numba.njit(cache=True, nogil=True, error_model="numpy")(fn))


@_kernel
def _combine(
    begin: I64,  # (k, n_events) first flat index of slot j's list in event e
    end: I64,  # (k, n_events)
    same_as: I64,  # (k,) earlier slot with the same list and particle, or -1
    want: I32,  # (n_flav, k) PDG code each slot must have in each flavour
    px: F64,
    py: F64,
    pz: F64,
    e: F64,
    code: I32,  # (N,) PDG codes of the concatenated lists
    keys: I64,  # (N, w) mDST keys, padded with -1
    nkeys: I64,  # (N,) keys in use per row
    lo: float,
    hi: float,
    write: bool,
    out_idx: I64,  # (cap, k) flat (concatenated) indices of the daughters
    out_p4: F64,  # (cap, 4)
    out_flav: npt.NDArray[np.int8],
    out_event: I64,
) -> int:
    k = begin.shape[0]
    n_events = begin.shape[1]
    n_flav = want.shape[0]
    cur = np.zeros(k, dtype=np.int64)
    stop = np.zeros(k, dtype=np.int64)
    acc = np.zeros((k + 1, 4))
    lo2 = lo * lo if lo > 0 else -np.inf
    hi2 = hi * hi
    n = 0
    for ev in range(n_events):
        empty = False
        for j in range(k):
            if end[j, ev] <= begin[j, ev]:
                empty = True
        if empty:
            continue
        for f in range(n_flav):
            level = 0
            cur[0] = begin[0, ev]
            stop[0] = end[0, ev]
            while level >= 0:
                if cur[level] >= stop[level]:
                    level -= 1
                    if level >= 0:
                        cur[level] += 1
                    continue
                i = cur[level]
                if code[i] != want[f, level]:
                    cur[level] += 1
                    continue
                clash = False
                for prev in range(level):
                    q = cur[prev]
                    for a in range(nkeys[q]):
                        for b in range(nkeys[i]):
                            if keys[q, a] == keys[i, b]:
                                clash = True
                if clash:
                    cur[level] += 1
                    continue
                acc[level + 1, 0] = acc[level, 0] + px[i]
                acc[level + 1, 1] = acc[level, 1] + py[i]
                acc[level + 1, 2] = acc[level, 2] + pz[i]
                acc[level + 1, 3] = acc[level, 3] + e[i]
                if level == k - 1:
                    sx = acc[k, 0]
                    sy = acc[k, 1]
                    sz = acc[k, 2]
                    se = acc[k, 3]
                    m2 = se * se - sx * sx - sy * sy - sz * sz
                    if lo2 <= m2 <= hi2:
                        if write:
                            for j in range(k):
                                out_idx[n, j] = cur[j]
                            out_p4[n, 0] = sx
                            out_p4[n, 1] = sy
                            out_p4[n, 2] = sz
                            out_p4[n, 3] = se
                            out_flav[n] = f
                            out_event[n] = ev
                        n += 1
                    cur[level] += 1
                else:
                    level += 1
                    s = same_as[level]
                    cur[level] = cur[s] + 1 if s >= 0 else begin[level, ev]
                    stop[level] = end[level, ev]
    return n


@dataclass(frozen=True, slots=True)
class Combinations:
    """The combiner's output: candidates, event-sorted (then by flavour)."""

    #: (n, k) index of each daughter in its own list
    daughters: I64
    #: (4, n) summed lab four-momenta
    p4: F64
    #: (n,) 0 for the decay as written, 1 for its charge conjugate
    flavour: npt.NDArray[np.int8]
    event: I64


def combine(
    decay: DecayString,
    lists: Sequence[ParticleList],
    *,
    mass_window: tuple[float, float] = (0.0, np.inf),
) -> Combinations:
    """Every combination of ``lists`` (one per daughter of ``decay``) and of the
    charge-conjugate decay, without reusing an mDST object, inside ``mass_window``."""
    k = len(lists)
    unique: list[ParticleList] = []
    slot_list = []
    for pl in lists:
        pos = next((u for u, x in enumerate(unique) if x is pl), None)
        if pos is None:
            unique.append(pl)
            pos = len(unique) - 1
        slot_list.append(pos)
    base = np.cumsum([0] + [len(u) for u in unique])
    begin = np.stack([unique[s].offsets[:-1] + base[s] for s in slot_list])
    end = np.stack([unique[s].offsets[1:] + base[s] for s in slot_list])
    width = max(u.keys.shape[1] for u in unique)
    keys = np.full((int(base[-1]), width), -1, dtype=np.int64)
    for u, start in zip(unique, base[:-1], strict=True):
        keys[start : start + len(u), : u.keys.shape[1]] = u.keys
    nkeys = np.concatenate(
        [np.full(len(u), u.keys.shape[1], dtype=np.int64) for u in unique]
    )

    codes = [d.pdg for d in decay.daughters]
    flavours = (
        [codes] if decay.self_conjugate else [codes, [pdg.conjugate(c) for c in codes]]
    )
    want = np.asarray(flavours, dtype=np.int32)
    same_as = np.full(k, -1, dtype=np.int64)
    for j in range(k):
        for s in range(j - 1, -1, -1):
            if slot_list[s] == slot_list[j] and codes[s] == codes[j]:
                same_as[j] = s
                break

    def cat(name: str) -> npt.NDArray[Any]:
        return np.ascontiguousarray(np.concatenate([getattr(u, name) for u in unique]))

    px, py, pz, e = (cat(c) for c in ("px", "py", "pz", "E"))
    code = cat("pdg").astype(np.int32)
    lo, hi = float(mass_window[0]), float(mass_window[1])

    counts = np.stack([np.diff(unique[s].offsets) for s in slot_list]).astype(
        np.float64
    )
    bound = int(np.prod(counts, axis=0).sum()) * len(flavours)
    args = (begin, end, same_as, want, px, py, pz, e, code, keys, nkeys, lo, hi)
    if bound > ONE_PASS_LIMIT:  # count first rather than allocate the worst case
        bound = _combine(*args, False, *_buffers(0, k))
    bufs = _buffers(bound, k)
    n = _combine(*args, True, *bufs)
    idx, p4, flav, event = bufs[0][:n], bufs[1][:n], bufs[2][:n], bufs[3][:n]
    local = idx - base[np.asarray(slot_list)][None, :]
    return Combinations(local, np.ascontiguousarray(p4.T), flav, event)


def _buffers(cap: int, k: int) -> tuple[I64, F64, npt.NDArray[np.int8], I64]:
    return (
        np.empty((cap, k), dtype=np.int64),
        np.empty((cap, 4)),
        np.empty(cap, dtype=np.int8),
        np.empty(cap, dtype=np.int64),
    )


def build(
    decay: DecayString,
    lists: Sequence[ParticleList],
    name: str,
    window: tuple[float, float],
) -> ParticleList:
    """The mother list of ``decay`` (before its cut) from the daughter lists."""
    c = combine(decay, lists, mass_window=window)
    mother = decay.mother.pdg
    codes = np.array([mother, pdg.conjugate(mother)], dtype=np.int32)
    pdgs = codes[c.flavour.astype(np.int64)]
    charge = np.array([pdg.charge(int(x)) for x in codes], dtype=np.int32)[c.flavour]
    keys = np.concatenate(
        [pl.keys[c.daughters[:, j]] for j, pl in enumerate(lists)], axis=1
    )
    return from_columns(
        name,
        "composite",
        str(decay),
        lists[0].n_events,
        c.event,
        (c.p4[0], c.p4[1], c.p4[2], c.p4[3]),
        pdgs,
        charge,
        daughters=c.daughters,
        keys=keys,
        daughter_lists=tuple(lists),
    )


__all__ = ["ONE_PASS_LIMIT", "Combinations", "build", "combine"]
