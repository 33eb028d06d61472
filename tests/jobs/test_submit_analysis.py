"""An analysis over a multi-datablock dataset, end to end on a small grid."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from b2grid import formats
from b2grid.grid import Grid
from b2grid.jobs.execution import JobContext
from b2grid.jobs.model import JobStatus
from b2grid.testing import small_grid


def ntuple_of_sizes(ctx: JobContext) -> None:
    """One row per input file: its size; the ntuple of a toy analysis."""
    sizes = np.array([Path(p).stat().st_size for p in ctx.inputs], dtype=np.int64)
    meta = formats.FileMetadata(level="mdst", experiment=12, run=1, is_mc=False)
    formats.write_ntuple(ctx.output("ntuple.root"), {"size": sizes}, meta)


@pytest.fixture
def grid(tmp_path: Path) -> Iterator[Grid]:
    """A small grid whose datablocks hold 2 files."""
    with small_grid(tmp_path / "home", datablock_size=2) as g:
        g.jobs.heartbeat_interval = 0.5
        g.agent_interval = 0.2
        yield g
        g.jobs.store.validate_state(cap=g.jobs.cap)
        g.sites.validate_state()


def test_a_project_over_datablocks_writes_one_ntuple_per_job(grid, tmp_path):
    paths = []
    for i in range(5):
        path = tmp_path / f"in{i}.dat"
        path.write_bytes(b"x" * (100 * (i + 1)))
        paths.append(path)
    lpn = f"/belle/user/{grid.user.name}/udst_in"
    grid.storage.put(paths, lpn, site="DESY", copies=1, expression="DESY")
    assert grid.storage.catalog.dataset(lpn).datablocks == tuple(
        f"{lpn}/sub{b:02d}" for b in range(3)
    )

    plan = grid.plan(ntuple_of_sizes, project="sizes1", inputs=lpn, files_per_job=2)
    project = grid.submit(
        ntuple_of_sizes, project="sizes1", inputs=lpn, files_per_job=2
    )
    assert project.wait(timeout=60) == "Done"

    states = project.jobs()
    assert len(states) == plan.n_jobs == 3
    assert {s.status for s in states} == {JobStatus.DONE}
    assert {s.site for s in states} == {"DESY"}  # the jobs went to their data
    specs = [grid.jobs.store.spec(s.job_id).inputs for s in states]
    assert specs == list(plan.jobs)
    for inputs in specs:  # no job mixes datablocks
        assert len({Path(lfn).parent for lfn in inputs}) == 1

    outputs = project.outputs()
    assert len(outputs) == 3
    rows = []
    for i, lfn in enumerate(sorted(outputs)):
        local = tmp_path / f"out{i}.root"
        grid.storage.fetch(lfn, local)
        rows += list(formats.read_ntuple(local)["size"])
    assert sorted(rows) == [100, 200, 300, 400, 500]
