"""A user's own skim over official uDSTs, run as the user's grid project: tighter
B+ -> anti-D0 pi+ candidates re-skimmed from BtoD0h_Kpi, written under
``/belle/user/<you>/<project>/``.

    python examples/user_reskim.py MC15ri_a_skim
"""

from __future__ import annotations

import sys

import cloudpickle

import b2grid
from b2grid.analysis import Analysis
from b2grid.skims.registry import Skim


def tight_b2dpi(ana: Analysis) -> list[str]:
    """Kaons with strong ID, a narrow D0 window, B candidates near the signal."""
    ana.fill_particle_list("K+:tight", "kaonID > 0.9 and abs(dr) < 1 and abs(dz) < 2")
    ana.reconstruct_decay("anti-D0:tight -> K+:tight pi-:all", "1.85 < M < 1.88")
    ana.reconstruct_decay(
        "B+:tight -> anti-D0:tight pi+:all", "Mbc > 5.27 and abs(deltaE) < 0.1"
    )
    return ["B+:tight"]


#: the user's skim: a code in the B -> charm range, a name, and the selection
MY_SKIM = Skim(
    code="14149901",
    name="MyTightBtoD0pi",
    description="BtoD0h_Kpi re-skimmed: kaonID > 0.9, |M(D0) - 1.865| < 15 MeV",
    contact="you",
    lists=("B+:tight",),
    build=tight_b2dpi,
)


def main(grid: b2grid.Grid, campaign: str, project: str) -> b2grid.Project:
    """Submit the re-skim over the official BtoD0h_Kpi uDSTs of ``campaign``."""
    if __name__ != "__main__":  # imported: let the selection travel by value
        cloudpickle.register_pickle_by_value(sys.modules[__name__])
    found = grid.datasets.search(campaign=campaign, skim_decay="14140101")
    reskim = grid.submit(
        "b2grid.production.tasks:skim", project=project, inputs=found,
        files_per_job=2, kwargs={"skims": [MY_SKIM]},
        outputs=[MY_SKIM.udst_name],
    )  # fmt: skip
    print(f"{project}: {reskim.wait(progress=True)}; outputs:")
    for lfn in reskim.outputs():
        print(" ", lfn)
    return reskim


if __name__ == "__main__":
    with b2grid.connect() as grid:
        main(grid, sys.argv[1] if len(sys.argv) > 1 else "MC15ri_a_skim", "myreskim")
