"""The gbasf2 tutorial, b2grid style: search datasets, keep the list, dry-run the
submission, submit, follow the project.

    gb2_ds_search dataset --data_type mc --campaign MC15ri_a_skim --skim_decay 14140101
    gbasf2 steering.py -p myproject --input_ds_list datasets.txt --dryrun
    gbasf2 steering.py -p myproject --input_ds_list datasets.txt
    gb2_project_summary -p myproject

    python examples/search_and_submit.py MC15ri_a_skim
"""

from __future__ import annotations

import sys
from pathlib import Path

import b2grid

STEERING = Path(__file__).with_name("b2dpi_analysis.py")


def main(grid: b2grid.Grid, campaign: str, project: str, workdir: Path) -> str:
    # 1. find the datasets (gb2_ds_search), keep the list
    found = grid.datasets.search(
        data_type="mc", campaign=campaign, skim_decay="14140101"
    )
    listing = workdir / "datasets.txt"
    listing.write_text("".join(f"{lpn}\n" for lpn in found.names), encoding="utf-8")
    print(f"{len(found.names)} datasets -> {listing}")
    # 2. the dry run: what would be submitted
    options = {"project": project, "inputs": listing, "files_per_job": 1}
    plan = grid.plan(STEERING, **options)
    print(plan)
    # 3. submit, 4. follow (gb2_project_summary, gb2_job_status)
    submitted = grid.submit(STEERING, **options)
    status = submitted.wait(progress=True)
    print(f"project {project}: {status} {submitted.counts()}")
    return status


if __name__ == "__main__":
    with b2grid.connect() as grid:
        main(grid, sys.argv[1] if len(sys.argv) > 1 else "MC15ri_a_skim", "tutorial1",
             Path("."))  # fmt: skip
