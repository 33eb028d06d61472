"""Flat arrays with an event index ↔ awkward per-event collections.

The detector and reconstruction work on flat numpy arrays plus a sorted ``event`` index
(one entry per object); these helpers convert at the edges and build the per-event
pair indices that combinatorics needs, without a Python loop over events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import awkward as ak
import numpy as np

IntArray = np.ndarray[Any, np.dtype[np.int64]]


def counts_of(event: IntArray, n_events: int) -> IntArray:
    """Objects per event from a sorted event index."""
    return np.bincount(event, minlength=n_events).astype(np.int64)


def offsets_of(counts: IntArray) -> IntArray:
    """Start offset of each event's objects (length n_events + 1)."""
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def local_index(event: IntArray, n_events: int) -> IntArray:
    """Index of each object inside its event (event must be sorted).

    Examples
    --------
    >>> local_index(np.array([0, 0, 2, 2, 2]), 3).tolist()
    [0, 1, 0, 1, 2]
    """
    offsets = offsets_of(counts_of(event, n_events))
    return np.arange(len(event), dtype=np.int64) - offsets[event]


def jagged(
    event: IntArray, n_events: int, fields: Mapping[str, np.ndarray[Any, Any]]
) -> ak.Array:
    """A per-event list of records from flat fields and a sorted event index."""
    counts = counts_of(event, n_events)
    offsets = offsets_of(counts)
    contents = [
        ak.contents.NumpyArray(np.ascontiguousarray(v)) for v in fields.values()
    ]
    record = ak.contents.RecordArray(contents, list(fields), length=len(event))
    return ak.Array(ak.contents.ListOffsetArray(ak.index.Index64(offsets), record))


def flatten(collection: ak.Array) -> tuple[IntArray, dict[str, np.ndarray[Any, Any]]]:
    """The event index and flat numpy fields of a per-event collection."""
    counts = ak.to_numpy(ak.num(collection)).astype(np.int64)
    event = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    fields = {f: ak.to_numpy(ak.flatten(collection[f])) for f in collection.fields}
    return event, fields


def pairs(counts_a: IntArray, counts_b: IntArray) -> tuple[IntArray, IntArray]:
    """Flat indices (ia, ib) of every (a, b) pair within the same event.

    Examples
    --------
    >>> ia, ib = pairs(np.array([2, 1]), np.array([1, 2]))
    >>> ia.tolist(), ib.tolist()
    ([0, 1, 2, 2], [0, 0, 1, 2])
    """
    a_event = np.repeat(np.arange(len(counts_a), dtype=np.int64), counts_a)
    nb = counts_b[a_event]  # partners of each a
    ia = np.repeat(np.arange(len(a_event), dtype=np.int64), nb)
    first = offsets_of(nb)  # where each a's pairs start
    start_b = offsets_of(counts_b)[a_event] - first[:-1]
    ib = np.arange(len(ia), dtype=np.int64) + start_b[ia]
    return ia, ib
