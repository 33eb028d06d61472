"""Candidate ntuples in the basf2 layout: one row per candidate, flat branches.

Every row carries the counters ``__experiment__``, ``__run__``, ``__event__``,
``__candidate__`` (the candidate's index in its event), ``__ncandidates__`` (the
event's candidates in the list) and ``__weight__`` (1), then one float64 branch per
variable. Branch names are basf2's ``makeROOTCompatible`` of the expression
(``daughter(0, p)`` → ``daughter__bo0__cm__spp__bc``) unless an alias is given.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from b2grid import formats
from b2grid.analysis import variables as registry
from b2grid.analysis.event import EventData
from b2grid.analysis.particles import ParticleList
from b2grid.errors import SchemaError

#: the counter branches of every candidate ntuple, in order
COUNTERS: tuple[str, ...] = (
    "__experiment__",
    "__run__",
    "__event__",
    "__candidate__",
    "__ncandidates__",
    "__weight__",
)

_ESCAPES = {
    " ": "__sp",
    ",": "__cm",
    ":": "__cl",
    "=": "__eq",
    "<": "__st",
    ">": "__gt",
    ".": "__pt",
    "+": "__pl",
    "-": "__mi",
    "(": "__bo",
    ")": "__bc",
    "{": "__co",
    "}": "__cc",
    "[": "__so",
    "]": "__sc",
    "*": "__ti",
    "/": "__sl",
    "!": "__em",
    "|": "__bar",
    "&": "__am",
}


def branch_name(expression: str) -> str:
    """basf2's ROOT-compatible name of a variable expression.

    Examples
    --------
    >>> branch_name("daughter(0, p)")
    'daughter__bo0__cm__spp__bc'
    >>> branch_name("useCMSFrame(E)")
    'useCMSFrame__boE__bc'
    """
    return "".join(_ESCAPES.get(c, c) for c in expression)


def _columns_spec(
    variables: Sequence[str] | Mapping[str, str],
) -> list[tuple[str, str]]:
    """(branch, expression) pairs from a list of expressions or an alias mapping."""
    if isinstance(variables, str):
        variables = [variables]
    if isinstance(variables, Mapping):
        pairs = [(str(alias), str(expr)) for alias, expr in variables.items()]
    else:
        pairs = [
            (branch_name(str(registry.compile_expression(v))), v) for v in variables
        ]
    seen: set[str] = set()
    for branch, _ in pairs:
        if branch in seen or branch in COUNTERS:
            raise SchemaError("ntuple", branch, "branch named twice; give an alias")
        seen.add(branch)
    return pairs


def candidate_columns(
    plist: ParticleList,
    ev: EventData,
    variables: Sequence[str] | Mapping[str, str],
) -> dict[str, npt.NDArray[Any]]:
    """The ntuple columns of a list: the basf2 counters, then one per variable.

    ``variables`` is a list of expressions (branch names derived from them) or a
    mapping ``{branch: expression}``. Every expression is checked before any is
    evaluated, so a typo fails fast with a suggestion.
    """
    pairs = _columns_spec(variables)
    nodes = [(branch, registry.compile_expression(expr)) for branch, expr in pairs]
    counts = plist.counts()
    out: dict[str, npt.NDArray[Any]] = {
        "__experiment__": ev.meta("experiment").astype(np.int32)[plist.event],
        "__run__": ev.meta("run").astype(np.int32)[plist.event],
        "__event__": ev.meta("event").astype(np.int64)[plist.event],
        "__candidate__": plist.local_index().astype(np.int32),
        "__ncandidates__": counts.astype(np.int32)[plist.event],
        "__weight__": np.ones(len(plist), dtype=np.float32),
    }
    for branch, node in nodes:
        values = registry.evaluate(node, plist, ev)
        out[branch] = np.asarray(values, dtype=np.float64)
    return out


def write(
    path: str | os.PathLike[str],
    columns: Mapping[str, npt.NDArray[Any]],
    ev: EventData,
    *,
    list_name: str = "",
    extra: Mapping[str, Any] | None = None,
) -> formats.FileMetadata:
    """Write candidate columns as an ntuple file with self-describing metadata."""
    exp = int(ev.meta("experiment")[0]) if ev.n_events else 0
    run = int(ev.meta("run")[0]) if ev.n_events else 0
    meta = formats.FileMetadata(
        level="ntuple",
        experiment=exp,
        run=run,
        is_mc=ev.is_mc,
        extra={"particle_list": list_name, "source": ev.source, **(extra or {})},
    )
    return formats.write_ntuple(path, dict(columns), meta)


__all__ = ["COUNTERS", "branch_name", "candidate_columns", "write"]
