"""Completeness of a download judged by the jobs that fill the set, however it is
named (project, output LPN, datablock, collection); offline, jobs stopped by hand."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from b2grid.errors import NotRegistered
from b2grid.grid import Grid
from b2grid.jobs.lifecycle import Kill
from b2grid.jobs.project import unfinished_jobs
from b2grid.storage.identity import User
from b2grid.storage.lfn import DatasetPath
from b2grid.testing import offline_grid

PROD = User("prod", roles=frozenset({"production"}))
#: a function every worker can import (the jobs never run here)
FN = "json:dumps"


def mc_lpn(event: str) -> str:
    return DatasetPath(
        data_type="mc", release="release-08-00-00", db=1234, campaign="MC15ri",
        prod=24816, stream=0, exp=1003, beam_energy="4S", run=0,
        event_type_or_skim=event, data_level="mdst",
    ).lpn  # fmt: skip


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def grid(home: Path) -> Iterator[Grid]:
    g = offline_grid(home, user=User("alice"))
    yield g
    g.jobs.store.validate_state(cap=g.jobs.cap)
    g.close()


def upload(grid: Grid, tmp_path: Path, lpn: str, name: str) -> str:
    local = tmp_path / name
    local.write_bytes(name.encode() * 50)
    [lfn] = grid.storage.put([local], lpn, site="KEK")
    return lfn


def kill(grid: Grid, job_id: int) -> None:
    grid.jobs.store.apply(job_id, Kill(), now=grid.clock.now(), cap=grid.jobs.cap)


def test_every_name_of_a_projects_outputs_is_judged_by_its_jobs(
    grid: Grid, tmp_path: Path
) -> None:
    grid.jobs.submit(FN, project="ana", n_jobs=3, outputs=["nt.root"])
    grid.jobs.submit(FN, project="other", n_jobs=1, outputs=["nt.root"])
    project = grid.project("ana")
    lpn = project.output_lpn
    upload(grid, tmp_path, lpn, "nt_0.root")  # as one job would have
    kill(grid, project.jobs()[0].job_id)
    expected = (
        "3 of 3 jobs of project ana are not Done (1 Killed, 2 Received): wait for "
        "them, or reschedule the failed ones (`b2grid job reschedule -p ana`), then "
        "download again"
    )
    by_name = project.download(tmp_path / "a")
    assert by_name.missing == [expected]
    for i, name in enumerate([lpn, f"{lpn}/sub00", [lpn]]):
        report = grid.download(name, tmp_path / f"b{i}")
        assert report.status == "incomplete", name
        assert report.missing == [expected], name
        assert "INCOMPLETE" in report.summary()
    # a single file is complete by itself; a set nobody's jobs fill is judged
    # by its files alone; another project's jobs are not this set's
    [lfn] = project.outputs()
    assert grid.download(lfn, tmp_path / "c").complete
    upload(grid, tmp_path, "/belle/user/alice/mine", "x.root")
    assert grid.download("/belle/user/alice/mine", tmp_path / "d").complete
    assert unfinished_jobs(grid.jobs, ["/belle/user/alice/mine"]) == []


def test_a_set_with_no_file_yet_is_incomplete_while_its_jobs_run(
    grid: Grid, tmp_path: Path
) -> None:
    grid.jobs.submit(FN, project="empty", n_jobs=2, outputs=["nt.root"])
    lpn = grid.project("empty").output_lpn
    report = grid.download(lpn, tmp_path / "a")
    assert report.status == "incomplete"
    assert report.missing[0].startswith("2 of 2 jobs of project empty are not Done")
    with pytest.raises(NotRegistered):  # no file and nobody to make one
        grid.download("/belle/user/alice/nothing", tmp_path / "b")


def test_a_collection_is_incomplete_while_production_jobs_fill_its_datasets(
    home: Path, tmp_path: Path
) -> None:
    prod = offline_grid(home, user=PROD)
    try:
        mixed, charged = mc_lpn("mixed"), mc_lpn("charged")
        prod.jobs.submit(
            FN, project="mc_gen", n_jobs=2, outputs=["mdst.root"], kind="mc",
            output_datasets=[(mixed, 0), (charged, 0)], user=PROD,
        )  # fmt: skip
        upload(prod, tmp_path, mixed, "mdst_0.root")
        upload(prod, tmp_path, charged, "mdst_1.root")
        collection = "/belle/collection/MC/mixed_only"
        prod.collections.create(collection, [mixed], description="for tests")
        jobs = prod.project("mc_gen").jobs()
        kill(prod, jobs[0].job_id)  # the job filling mixed
        report = prod.download(collection, tmp_path / "a")
        assert report.status == "incomplete"
        assert report.missing == [
            "1 of 1 jobs of project mc_gen are not Done (1 Killed): wait for them, "
            "or reschedule the failed ones (`b2grid job reschedule -p mc_gen`), "
            "then download again"
        ]
        assert unfinished_jobs(prod.jobs, [charged])[0].startswith(
            "1 of 1 jobs of project mc_gen are not Done (1 Received)"
        )
    finally:
        prod.close()
