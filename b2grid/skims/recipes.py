"""Ready-made analyses over skim uDSTs, as grid job functions.

:func:`b2dpi` is B+ → anti-D0 π+ over the BtoD0h_Kpi skim (14140101): each job reads
its uDSTs (the skim's ``B+:BtoD0pi_Kpi`` list comes back without recomputation),
tightens the selection and writes one basf2-style candidate ntuple
(``ntuple.root``: Mbc, ΔE, the D0 mass, the pion momentum, truth). Copy it to start
your own; ``examples/b2dpi_analysis.py`` is the steering module that submits it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from b2grid.analysis import ntuple
from b2grid.skims.udst import open_udst

#: the candidate list the skim saved, and what goes into the ntuple
LIST = "B+:BtoD0pi_Kpi"
CUT = "abs(deltaE) < 0.2 and 1.84 < daughter(0, M) < 1.89"
VARIABLES = {
    "Mbc": "Mbc",
    "deltaE": "deltaE",
    "D0_M": "daughter(0, M)",
    "pi_p": "daughter(1, p)",
    "isSignal": "isSignal",
}


def b2dpi(ctx: Any) -> str:
    """One grid job: every input uDST's candidates into one ntuple."""
    columns: dict[str, list[np.ndarray]] = {}
    first = None
    for path in ctx.inputs:
        ana = open_udst(path)
        ana.apply_cuts(LIST, CUT)
        cols = ana.candidate_columns(LIST, VARIABLES)
        for name, values in cols.items():
            columns.setdefault(name, []).append(values)
        first = first or ana
    assert first is not None, "a job always has inputs"
    merged = {name: np.concatenate(parts) for name, parts in columns.items()}
    ntuple.write(ctx.output("ntuple.root"), merged, first.data, list_name=LIST)
    n = len(next(iter(merged.values()))) if merged else 0
    print(f"{len(ctx.inputs)} uDST files, {n} candidates")
    return f"{n} candidates"


__all__ = ["CUT", "LIST", "VARIABLES", "b2dpi"]
