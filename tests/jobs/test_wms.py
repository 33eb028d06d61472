"""The WMS on a real small grid: locality, exactly-once outputs, failures, outages."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from b2grid.errors import (
    BadJob,
    BadProjectName,
    NotRegistered,
    PermissionDenied,
    ProjectExists,
)
from b2grid.jobs.execution import JobContext
from b2grid.jobs.model import JobStatus
from b2grid.testing import wait_until


def concat(ctx: JobContext) -> str:
    """Write the inputs' bytes, in order, to out.txt (a typical skim-like job)."""
    with open(ctx.output("out.txt"), "wb") as out:
        for path in ctx.inputs:
            out.write(Path(path).read_bytes())
    print(f"job {ctx.job_id} read {len(ctx.inputs)} files at {ctx.site}")
    if ctx.kwargs.get("explode"):
        raise ZeroDivisionError("the analysis divided by zero")
    return "Done"


def sleepy(ctx: JobContext) -> None:
    time.sleep(ctx.kwargs.get("seconds", 1.0))
    ctx.output("out.txt").write_text(f"{ctx.job_id}:{ctx.attempt}")


_LOCK = threading.Lock()


def holds_a_lock(ctx: JobContext, lock: Any = _LOCK) -> None:
    """Cannot travel: a lock does not pickle."""


def put_files(grid, tmp_path: Path, site: str, lpn: str, n: int) -> list[str]:
    paths = []
    for i in range(n):
        p = tmp_path / f"{site}_{i}.dat"
        p.write_bytes(f"{site}-{i}|".encode() * 50)
        paths.append(p)
    return grid.storage.put(paths, lpn, site=site, copies=1, expression=site)


@pytest.fixture
def fast(grid):
    grid.jobs.heartbeat_interval = 0.5
    grid.agent_interval = 0.2
    yield grid
    grid.jobs.store.validate_state(cap=grid.jobs.cap)


def test_jobs_run_at_their_data_and_register_each_output_once(fast, tmp_path):
    grid = fast
    desy = put_files(grid, tmp_path, "DESY", f"/belle/user/{grid.user.name}/in_desy", 3)
    kek = put_files(grid, tmp_path, "KEK", f"/belle/user/{grid.user.name}/in_kek", 2)
    inputs = [[lfn] for lfn in desy] + [kek]
    project = grid.submit(
        concat, project="locality1", inputs=inputs, outputs=["out.txt"]
    )
    assert project.wait(timeout=60) == "Done"

    for state in project.jobs():
        assert state.status == JobStatus.DONE
    sites = {s.job_id: s.site for s in project.jobs()}
    ids = sorted(sites)
    assert [sites[i] for i in ids] == ["DESY", "DESY", "DESY", "KEK"]

    outputs = project.outputs()
    assert len(outputs) == 4
    for lfn in outputs:
        assert "/locality1/sub00/out_0000" in lfn
        assert lfn.endswith("_1.txt")
    fetched = tmp_path / "fetched.txt"
    grid.storage.fetch(sorted(outputs)[3], fetched)
    assert fetched.read_bytes() == b"KEK-0|" * 50 + b"KEK-1|" * 50
    log = grid.jobs.store.log(ids[0])
    assert "read 1 files at DESY" in log.stdout
    rules = grid.storage.rules.rules(target=project.output_lpn)
    assert [(r.copies, r.expression) for r in rules] == [(2, "*")]


def test_a_job_that_raises_fails_alone_with_its_traceback(fast, tmp_path):
    grid = fast
    lfns = put_files(grid, tmp_path, "KEK", f"/belle/user/{grid.user.name}/in2", 3)
    project = grid.submit(
        concat,
        project="onefails",
        inputs=[[lfn] for lfn in lfns],
        outputs=["out.txt"],
        kwargs=[{}, {"explode": True}, {}],
    )
    assert project.wait(timeout=60) == "Failed"
    states = project.jobs()
    assert [s.status for s in states] == [
        JobStatus.DONE,
        JobStatus.FAILED,
        JobStatus.DONE,
    ]
    assert "ZeroDivisionError" in states[1].minor_status
    log = grid.jobs.store.log(states[1].job_id)
    assert "the analysis divided by zero" in log.traceback
    assert states[1].reschedules == 0, "application errors are not auto-rescheduled"
    assert len(project.outputs()) == 2


def test_waiting_says_why_and_runs_once_the_site_is_back(fast, tmp_path):
    grid = fast
    lfns = put_files(grid, tmp_path, "DESY", f"/belle/user/{grid.user.name}/in3", 1)
    grid.sites.down("DESY")
    project = grid.submit(concat, project="waits1", inputs=[lfns], outputs=["out.txt"])
    wait_until(lambda: "DESY (down)" in project.jobs()[0].minor_status, 30)
    state, verdicts = grid.jobs.diagnose(project.jobs()[0].job_id)
    assert state.status == JobStatus.WAITING
    by_site = {v.site: v for v in verdicts}
    assert set(by_site) == {"KEK", "BNL", "DESY", "SiGNET"}
    assert "down" in by_site["DESY"].reason
    grid.sites.up("DESY")
    assert project.wait(timeout=60) == "Done"


def test_a_site_going_down_mid_run_reschedules_its_jobs(fast):
    grid = fast
    project = grid.submit(
        sleepy,
        project="outage1",
        n_jobs=2,
        outputs=["out.txt"],
        kwargs={"seconds": 3.0},
        sites=["KEK", "BNL"],
    )
    wait_until(lambda: any(s.status == JobStatus.RUNNING for s in project.jobs()), 30)
    victims = {s.job_id for s in project.jobs() if s.site == "KEK"}
    grid.sites.down("KEK")
    assert project.wait(timeout=90) == "Done"
    states = {s.job_id: s for s in project.jobs()}
    for job_id in victims:
        assert states[job_id].attempt == 2
        assert states[job_id].site == "BNL"
        # a site lost is not the job's fault: its cap is untouched
        assert (states[job_id].reschedules, states[job_id].lost) == (0, 1)
    outputs = project.outputs()
    assert len(outputs) == 2, "one output per job whatever was rescheduled"
    grid.sites.up("KEK")


def test_kill_and_manual_reschedule(fast):
    grid = fast
    project = grid.submit(
        sleepy, project="killme", n_jobs=2, outputs=["out.txt"], kwargs={"seconds": 3}
    )
    wait_until(lambda: any(s.status == JobStatus.RUNNING for s in project.jobs()), 30)
    assert project.kill() == 2
    assert project.wait(timeout=30) == "Failed"
    assert {s.status for s in project.jobs()} == {JobStatus.KILLED}
    assert project.outputs() == []
    # the killed attempts' threads run on to their end (a thread cannot be
    # interrupted); what they then write is discarded, never registered
    time.sleep(3.5)
    grid.jobs.run_once()
    assert project.outputs() == []
    assert project.reschedule().count == 2
    assert project.wait(timeout=60) == "Done"
    assert len(project.outputs()) == 2


def test_bad_submissions_are_refused_whole(fast):
    grid = fast
    with pytest.raises(BadProjectName):
        grid.submit(sleepy, project="bad name!", n_jobs=1)
    with pytest.raises(NotRegistered, match=r"/belle/user/nobody/missing\.root"):
        grid.submit(sleepy, project="p1", inputs=[["/belle/user/nobody/missing.root"]])
    with pytest.raises(BadJob, match="priority"):
        grid.submit(sleepy, project="p2", n_jobs=1, priority=11)
    with pytest.raises(BadJob, match="did you mean 'DESY'"):
        grid.submit(sleepy, project="p3", n_jobs=1, sites=["DESYY"])
    with pytest.raises(BadJob, match=r"sites: give a list of site names.*\['KEK'\]"):
        grid.submit(sleepy, project="p3", n_jobs=1, sites="KEK")
    with pytest.raises(BadJob, match="function"):
        grid.submit(holds_a_lock, project="p4", n_jobs=1)
    with pytest.raises(BadJob, match="cannot be imported"):
        grid.submit("no_such_module:run", project="p4", n_jobs=1)
    grid.submit(sleepy, project="p5", n_jobs=1, kwargs={"seconds": 0})
    with pytest.raises(ProjectExists):
        grid.submit(sleepy, project="p5", n_jobs=1)
    assert [p.name for p in grid.jobs.store.projects()] == ["p5"]


def count_inputs(ctx: JobContext) -> None:
    ctx.output("n.txt").write_text(str(len(ctx.inputs)))


def run_many(grid, tmp_path: Path, n_jobs: int) -> None:
    """Jobs over files spread on KEK, BNL, DESY with BNL banned: locality holds."""
    import random

    rnd = random.Random(7)  # noqa: S311 - test data, not secrets
    by_site = {
        site: put_files(
            grid, tmp_path, site, f"/belle/user/{grid.user.name}/m{site}", 8
        )
        for site in ("KEK", "BNL", "DESY")
    }
    grid.sites.ban("BNL")
    inputs = []
    for _ in range(n_jobs):
        site = rnd.choice(("KEK", "DESY", "KEK", "DESY", "BNL"))
        inputs.append(rnd.sample(by_site[site], rnd.randint(1, 3)))
    project = grid.submit(
        count_inputs, project="many", inputs=inputs, outputs=["n.txt"]
    )
    # BNL-only inputs wait for a copy elsewhere: the rule engine makes it
    wait_until(lambda: grid.jobs.store.summary(project.project_id).waiting == 0
               or grid.storage.run_agents() is None, 120)  # fmt: skip
    assert project.wait(timeout=300) == "Done"
    files = grid.storage.catalog.files_named([lfn for job in inputs for lfn in job])
    local = total = 0
    for state, job_inputs in zip(project.jobs(), inputs, strict=True):
        assert state.site in ("KEK", "DESY", "SiGNET"), "never at banned BNL"
        for lfn in job_inputs:
            total += files[lfn].size
            local += files[lfn].size if state.site in files[lfn].available_sites else 0
    assert local / total >= 0.99
    assert len(project.outputs()) == n_jobs
    grid.sites.unban("BNL")


def test_jobs_go_to_their_data_and_never_to_a_banned_site(fast, tmp_path):
    run_many(fast, tmp_path, 120)


@pytest.mark.slow
def test_five_hundred_jobs_keep_locality(fast, tmp_path):
    run_many(fast, tmp_path, 500)


def test_a_silent_job_stalls_is_rescheduled_and_the_cap_holds(fast):
    grid = fast
    grid.jobs.heartbeat_interval = 30.0  # it will not beat in time
    grid.jobs.stalled_after = 0.5
    project = grid.submit(
        sleepy, project="stalls", n_jobs=1, outputs=["out.txt"], kwargs={"seconds": 1.5}
    )
    assert project.wait(timeout=60) == "Failed"
    (state,) = project.jobs()
    assert state.minor_status.startswith("Maximum of reschedulings reached (Stalled")
    assert state.attempt == grid.jobs.cap + 1
    reasons = [a.reason for a in grid.jobs.store.attempts(state.job_id)]
    assert all("no heartbeat" in r.lower() or "stalled" in r.lower() for r in reasons)
    time.sleep(2.0)  # the stalled attempts' threads end; their results are stale
    grid.jobs.run_once()
    assert project.outputs() == []


def two_outputs(ctx: JobContext) -> None:
    """Write two outputs and declare their facts for the catalog."""
    for name in ("a.txt", "b.txt"):
        ctx.output(name).write_text(f"{name} of job {ctx.job_id}")
        ctx.describe(name, events=10 + ctx.kwargs["run"], exp=12, run=ctx.kwargs["run"])


def test_outputs_go_to_per_job_datasets_with_their_facts_and_locks(fast):
    """Production's way: each job's outputs to its own datasets, file facts kept,
    every output locked by its dataset's rule (none left to the reaper alone)."""
    grid = fast
    base = f"/belle/user/{grid.user.name}/perrun"
    targets = [((f"{base}/r{r}/a", f"{base}/r{r}/b"), 0) for r in (1, 2)]
    targets.append(((f"{base}/r1/a", f"{base}/r1/b"), 1))  # a second file of run 1
    project = grid.submit(
        two_outputs,
        project="perrun1",
        n_jobs=3,
        outputs=["a.txt", "b.txt"],
        kwargs=[{"run": 1}, {"run": 2}, {"run": 1}],
        output_datasets=targets,
    )
    assert project.wait(timeout=60) == "Done"
    catalog = grid.storage.catalog
    files = catalog.files_of(f"{base}/r1/a")
    assert len(files) == 2
    assert {(f.exp, f.run, f.events) for f in files} == {(12, 1, 11)}
    assert [f.lfn.rsplit("/", 2)[1] for f in files] == ["sub00", "sub00"]
    assert len(catalog.files_of(f"{base}/r2/b")) == 1
    for lpn in (f"{base}/r1/a", f"{base}/r1/b", f"{base}/r2/a"):
        for f in catalog.files_of(lpn):
            # the datablock's rule holds 2 locked copies (maybe still copying)
            assert sum(r.lock_count > 0 for r in f.replicas) == 2, f.lfn


def test_per_job_datasets_are_checked_before_anything_is_stored(fast):
    grid = fast
    with pytest.raises(BadJob, match="output_datasets"):
        grid.submit(
            two_outputs, project="perrun2", n_jobs=2, outputs=["a.txt", "b.txt"],
            output_datasets=[("/belle/user/x/y", 0)],
        )  # fmt: skip
    with pytest.raises(PermissionDenied):
        grid.submit(
            two_outputs, project="perrun3", n_jobs=1, outputs=["a.txt", "b.txt"],
            output_datasets=[("/belle/Data/official", 0)],
        )  # fmt: skip
    assert grid.jobs.store.projects(grid.user.name) == [] or all(
        p.name not in ("perrun2", "perrun3")
        for p in grid.jobs.store.projects(grid.user.name)
    )


def returns_a_table(ctx: JobContext) -> object:
    """An analysis that returns its table: columns, or something that is not one."""
    if ctx.kwargs.get("bad"):
        return [1.0, 2.0, 3.0]
    n = 3 + ctx.job_id % 2
    return {"Mbc": [5.279] * n, "deltaE": [0.0] * n}


def test_an_analysis_returning_a_table_gets_its_ntuple_written(fast):
    from b2grid import formats

    grid = fast
    project = grid.submit(
        returns_a_table, project="table1", n_jobs=2, outputs=["ntuple.root"]
    )
    assert project.wait(timeout=60) == "Done"
    outputs = project.outputs()
    assert len(outputs) == 2
    local = grid.home / "t.root"
    grid.storage.fetch(outputs[0], local)
    table = formats.read_ntuple(local)
    assert set(table) >= {"Mbc", "deltaE"}
    assert grid.storage.catalog.file(outputs[0]).events in (3, 4)

    bad = grid.submit(
        returns_a_table, project="table2", n_jobs=1, outputs=["ntuple.root"],
        kwargs={"bad": True},
    )  # fmt: skip
    assert bad.wait(timeout=60) == "Failed"
    (state,) = bad.jobs()
    assert "returned a list, not a table" in state.minor_status
