"""Skims: the registry of 8-digit skim codes, their selections and uDST output.

A skim selects events of mDST (or uDST) with the analysis toolkit and writes the
ones it keeps to a uDST ``<code>.udst.root`` with its particle lists. Skims run
combined: each input read once, shared lists built once, one uDST per skim.
docs/skims.md is the guide.

Examples
--------
>>> from b2grid import skims
>>> skims.get("BtoD0h_Kpi").code, skims.decode("18570600")
('14140101', 'TauGeneric')
"""

from b2grid.skims.registry import (
    SKIMS,
    Skim,
    by_working_group,
    decode,
    encode,
    get,
    names,
    resolve,
)
from b2grid.skims.runner import (
    SkimOutcome,
    SkimReport,
    SkimStats,
    apply_skims,
    run_skims,
)
from b2grid.skims.udst import UdstWriter, open_udst, read_lists, write_udst

__all__ = [
    "SKIMS",
    "Skim",
    "SkimOutcome",
    "SkimReport",
    "SkimStats",
    "UdstWriter",
    "apply_skims",
    "by_working_group",
    "decode",
    "encode",
    "get",
    "names",
    "open_udst",
    "read_lists",
    "resolve",
    "run_skims",
    "write_udst",
]
