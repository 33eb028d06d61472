"""B+ -> anti-D0 pi+ on the grid: find the BtoD0h_Kpi uDSTs, submit the analysis,
download its ntuples, plot Mbc and ΔE.

Run it against the grid that is up (``b2grid up``) after a skim campaign wrote the
uDSTs (see README, Production)::

    python examples/b2dpi_on_the_grid.py MC15ri_a_skim plots/
"""

from __future__ import annotations

import sys
from pathlib import Path

import b2grid
from b2grid.analysis.plots import mbc_deltae
from b2grid.skims.recipes import b2dpi


def main(grid: b2grid.Grid, campaign: str, out_dir: Path, project: str) -> float:
    """Search, submit, wait, download, plot; returns where Mbc peaks (GeV)."""
    found = grid.datasets.search(campaign=campaign, skim_decay="14140101")
    if not found.names:
        raise SystemExit(found.empty_message())
    print(f"{len(found.names)} uDST datasets of BtoD0h_Kpi in {campaign}")
    analysis = grid.submit(
        b2dpi, project=project, inputs=found, files_per_job=1, outputs=["ntuple.root"]
    )
    status = analysis.wait(progress=True)
    if status != "Done":
        raise SystemExit(f"project {project}: {status}; see `b2grid job status`")
    analysis.download(out_dir / "ntuples")  # resumable, adler32-verified
    table = analysis.to_awkward(out_dir / "ntuples")
    peak = mbc_deltae(
        table["Mbc"], table["deltaE"], out_dir / "Mbc_deltaE.png",
        title="B+ -> anti-D0 pi+ (BtoD0h_Kpi)",
    )  # fmt: skip
    print(f"{len(table)} candidates; Mbc peaks at {peak:.4f} GeV; plot in {out_dir}")
    return peak


if __name__ == "__main__":
    campaign = sys.argv[1] if len(sys.argv) > 1 else "MC15ri_a_skim"
    out = Path(sys.argv[2] if len(sys.argv) > 2 else ".")
    with b2grid.connect() as grid:
        main(grid, campaign, out, project="bdpi_example")
