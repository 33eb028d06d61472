"""User code never brings down the grid: poison jobs on a real small grid.

Each job's payload runs in a process of its own (b2grid.jobs.sandbox). A job that
exits, segfaults, leaks memory or hangs ends only its own attempt; the controller
(this test process) and every other job carry on, and nobody else's reschedules
are spent.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from b2grid.errors import NotYourJob, PayloadFailed
from b2grid.grid import Grid
from b2grid.jobs.execution import JobContext
from b2grid.jobs.lifecycle import MAX_RESCHEDULES
from b2grid.jobs.model import JobStatus
from b2grid.jobs.records import AttemptStatus
from b2grid.storage.identity import User
from b2grid.testing import small_grid, wait_until

ALICE = User("alice")
BOB = User("bob")


def poison(ctx: JobContext) -> None:
    """A job that ends its own process, as a user's C++ library might."""
    os._exit(7)


def segfault(ctx: JobContext) -> None:
    ctypes.string_at(0)


def leak(ctx: JobContext) -> None:
    import numpy as np

    kept = []
    while True:
        kept.append(np.ones(25_000_000))


def hang(ctx: JobContext) -> None:
    time.sleep(3600)


def honest(ctx: JobContext) -> None:
    ctx.output("out.txt").write_text(json.dumps({"pid": os.getpid()}))


def snoop(ctx: JobContext) -> None:
    """A hostile job: the catalog, another user's files, the scheduler."""
    home = Path(ctx.kwargs["home"])
    seen = {}
    for name, attempt in (
        ("catalog", lambda: (home / "catalog.sqlite").read_bytes()[:16]),
        ("se", lambda: sorted(os.listdir(home / "se"))),
        ("scheduler", lambda: socket.create_connection(ctx.kwargs["scheduler"], 2)),
        ("grid", lambda: __import__("b2grid").connect(home=str(home))),
    ):
        try:
            attempt()
            seen[name] = "reached"
        except Exception as exc:
            seen[name] = type(exc).__name__
    seen["env_home"] = os.environ.get("B2GRID_HOME", "")
    seen["site"] = os.environ.get("B2GRID_SITE", "")
    ctx.output("out.txt").write_text(json.dumps(seen))


@pytest.fixture
def grid(tmp_path: Path) -> Iterator[Grid]:
    """A small grid whose jobs may use 600 MiB for 3 s of wall-clock time."""
    runtime = {"job_memory": "600 MiB", "job_min_wall_seconds": 3.0}
    with small_grid(tmp_path / "home", user=ALICE, runtime=runtime) as g:
        g.jobs.heartbeat_interval = 0.5
        g.agent_interval = 0.2
        yield g
        g.jobs.store.validate_state(cap=g.jobs.cap)
        g.sites.validate_state()


def outputs(grid: Grid, project) -> list[dict]:
    files = []
    for lfn in project.outputs():
        site = grid.storage.catalog.files_named([lfn])[lfn].available_sites[0]
        files.append(
            json.loads(Path(grid.storage.element(site).path_for(lfn)).read_text())
        )
    return files


def test_a_job_that_exits_fails_alone_after_its_cap(grid: Grid) -> None:
    bystander = grid.submit(
        honest, project="bystander", n_jobs=6, outputs=["out.txt"], user=BOB
    )
    bad = grid.submit(poison, project="poison", n_jobs=1, outputs=["out.txt"])
    assert bad.wait(timeout=120) == "Failed"
    assert bystander.wait(timeout=120) == "Done"
    (state,) = bad.jobs()
    assert state.minor_status.startswith(
        f"{MAX_RESCHEDULES} (Payload exited with status 7"
    )
    assert (state.attempt, state.reschedules, state.lost) == (
        grid.jobs.cap + 1,
        grid.jobs.cap,
        0,
    )
    attempts = grid.jobs.store.attempts(state.job_id)
    assert {a.status for a in attempts} == {AttemptStatus.CRASHED}
    for job in bystander.jobs():
        assert (job.status, job.attempt, job.reschedules, job.lost) == (
            JobStatus.DONE,
            1,
            0,
            0,
        )
    pids = {o["pid"] for o in outputs(grid, bystander)}
    assert os.getpid() not in pids  # user code never ran in the controller


def test_a_segfault_is_a_crash_with_its_signal(grid: Grid) -> None:
    project = grid.submit(segfault, project="segv", n_jobs=1, outputs=["out.txt"])
    assert project.wait(timeout=120) == "Failed"
    (state,) = project.jobs()
    assert "Segmentation fault" in state.minor_status
    assert state.attempt == grid.jobs.cap + 1


def test_a_memory_leak_and_a_hang_end_at_their_limits(grid: Grid) -> None:
    leaky = grid.submit(leak, project="leak", n_jobs=1, outputs=["out.txt"])
    stuck = grid.submit(
        hang, project="hang", n_jobs=1, outputs=["out.txt"], cpu_seconds=0.1
    )
    fine = grid.submit(honest, project="fine", n_jobs=2, outputs=["out.txt"])
    assert leaky.wait(timeout=120) == "Failed"
    assert stuck.wait(timeout=120) == "Failed"
    assert fine.wait(timeout=120) == "Done"
    (leaked,) = leaky.jobs()
    assert leaked.minor_status.startswith("Job exceeded its memory limit")
    assert "limit 629.1 MB" in leaked.minor_status
    assert leaked.attempt == 1  # running it again would not help
    (hung,) = stuck.jobs()
    assert hung.minor_status == "Job has exceeded maximum wall clock time (3 s)"
    assert hung.attempt == 1


def test_a_job_cannot_reach_the_catalog_or_the_scheduler(grid: Grid) -> None:
    from b2grid.jobs.sandbox import Sandbox

    if not Sandbox.shared().confined:
        pytest.skip(f"namespaces unavailable here: {Sandbox.shared().confinement}")
    host, port = grid.scheduler_address.removeprefix("tcp://").rsplit(":", 1)
    project = grid.submit(
        snoop,
        project="snoop",
        n_jobs=1,
        outputs=["out.txt"],
        kwargs={"home": str(grid.home), "scheduler": (host, int(port))},
    )
    assert project.wait(timeout=120) == "Done"
    (seen,) = outputs(grid, project)
    assert seen["catalog"] == "FileNotFoundError"
    assert seen["se"] == "FileNotFoundError"  # the grid home shows empty
    assert seen["scheduler"] == "OSError"
    assert seen["grid"] != "reached"
    assert seen["env_home"] == ""
    assert seen["site"] in grid.sites.names


def test_reschedule_tells_the_truth(grid: Grid) -> None:
    bad = grid.submit(poison, project="poison2", n_jobs=2, outputs=["out.txt"])
    assert bad.wait(timeout=120) == "Failed"
    ids = [s.job_id for s in bad.jobs()]
    report = bad.reschedule()
    assert report.moved == ()
    assert set(report.refused) == set(ids)
    assert all(
        "at the cap" in why and "--reset-count" in why
        for why in report.refused.values()
    )
    assert [s.status for s in bad.jobs()] == [JobStatus.FAILED] * 2  # nothing moved
    # someone else may neither reschedule nor kill alice's jobs
    other = grid.jobs.reschedule(ids, reset_count=True, user=BOB)
    assert other.moved == ()
    assert all("alice" in why for why in other.refused.values())
    with pytest.raises(NotYourJob, match="may not kill job"):
        grid.jobs.kill(ids, user=BOB)
    # the owner resets the count: the jobs run (and crash) again
    again = bad.reschedule(reset_count=True)
    assert again.moved == tuple(ids)
    assert all(
        s.status is not JobStatus.FAILED or s.attempt > grid.jobs.cap + 1
        for s in bad.jobs()
    )
    assert bad.wait(timeout=120) == "Failed"
    assert all(s.attempt == 2 * (grid.jobs.cap + 1) for s in bad.jobs())


def test_run_at_is_sandboxed_too(grid: Grid) -> None:
    assert grid.run_at("KEK", sum, [1, 2]).result(timeout=60) == 3
    pid = grid.run_at("KEK", os.getpid).result(timeout=60)
    assert pid != os.getpid()
    with pytest.raises(PayloadFailed, match="crashed"):
        grid.run_at("BNL", os._exit, 3).result(timeout=60)
    assert grid.run_at("BNL", sum, [2, 3]).result(timeout=60) == 5  # BNL is fine


def test_a_controller_restart_spends_no_reschedules(tmp_path: Path) -> None:
    """Attempts lost with the controller are the infrastructure's, not the jobs'."""
    home = tmp_path / "home"
    with small_grid(home, user=ALICE) as first:
        project = first.submit(
            slow, project="survivor", n_jobs=3, outputs=["out.txt"], kwargs={"s": 2.0}
        )
        wait_until(
            lambda: any(s.status is JobStatus.RUNNING for s in project.jobs()),
            what="a job running",
        )
    with small_grid(home, user=ALICE) as second:
        again = second.project("survivor")
        assert again.wait(timeout=120) == "Done"
        states = again.jobs()
        assert any(s.lost for s in states), "the restart lost running attempts"
        assert all(s.reschedules == 0 for s in states)
        second.jobs.store.validate_state(cap=second.jobs.cap)


def slow(ctx: JobContext) -> None:
    time.sleep(ctx.kwargs["s"])
    ctx.output("out.txt").write_text("done")


@pytest.mark.slow
def test_poison_job_beside_a_25_job_project(tmp_path: Path) -> None:
    """The hard test's scenario: the grid stays up, the poison job ends Failed
    after its cap, the bystander's 25 jobs end Done with no reschedule spent."""
    with small_grid(tmp_path / "home", user=ALICE) as grid:
        grid.agent_interval = 0.2
        bystander = grid.submit(
            honest, project="bystander1", n_jobs=25, outputs=["out.txt"], user=BOB
        )
        bad = grid.submit(poison, project="poison", n_jobs=1, outputs=["out.txt"])
        assert bad.wait(timeout=300) == "Failed"
        assert bystander.wait(timeout=300) == "Done"
        (state,) = bad.jobs()
        assert state.minor_status.startswith(MAX_RESCHEDULES)
        assert "Payload exited with status 7" in state.minor_status
        assert state.attempt == grid.jobs.cap + 1
        jobs = bystander.jobs()
        assert len(jobs) == 25
        assert {(s.status, s.attempt, s.reschedules, s.lost) for s in jobs} == {
            (JobStatus.DONE, 1, 0, 0)
        }
        assert len(bystander.outputs()) == 25
        grid.jobs.store.validate_state(cap=grid.jobs.cap)
        grid.sites.validate_state()


def pid_then_hang(ctx: JobContext) -> None:
    Path(ctx.kwargs["pidfile"]).write_text(str(os.getpid()))
    time.sleep(3600)


def test_killing_a_running_job_kills_its_payload(grid: Grid, tmp_path: Path) -> None:
    pidfile = tmp_path / "payload.pid"
    project = grid.submit(
        pid_then_hang,
        project="killme",
        n_jobs=1,
        outputs=["out.txt"],
        kwargs={"pidfile": str(pidfile)},
        cpu_seconds=100.0,  # a wall-time limit far beyond this test
    )
    wait_until(lambda: pidfile.exists() and pidfile.read_text(), what="a payload")
    pid = int(pidfile.read_text())
    exited = os.pidfd_open(pid)  # readable once the process has ended
    try:
        assert project.kill() == 1
        ready, _, _ = select.select([exited], [], [], 30)
        assert ready, "the killed job's payload still runs"
    finally:
        os.close(exited)
    assert project.wait(timeout=30) == "Failed"
    assert {s.status for s in project.jobs()} == {JobStatus.KILLED}
