"""Jobs across processes: a controller crash and restart; `job`, `project` views."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from b2grid.cli import cli
from b2grid.grid import Grid
from b2grid.jobs.execution import JobContext
from b2grid.jobs.model import JobStatus
from b2grid.runfile import read_run_info
from b2grid.testing import small_config_data, wait_until, write_config


def slow_job(ctx: JobContext) -> None:
    time.sleep(ctx.kwargs["seconds"])
    print(f"job {ctx.job_id} attempt {ctx.attempt} at {ctx.site}")
    ctx.output("out.txt").write_text(f"{ctx.job_id}")


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "cluster.yaml", small_config_data(tmp_path / "home"))


def start_up(config: Path) -> subprocess.Popen[str]:
    home = config.parent / "home"
    before = read_run_info(home)
    proc = subprocess.Popen(
        [sys.executable, "-m", "b2grid", "--config", str(config), "up"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 60
    while True:
        info = read_run_info(home)
        if info is not None and info.pid == proc.pid:
            return proc
        assert proc.poll() is None, "b2grid up exited"
        assert time.monotonic() < deadline, f"no run file (stale: {before})"
        time.sleep(0.1)


def run(config: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def test_controller_crash_and_restart_lose_and_duplicate_nothing(config: Path) -> None:
    proc = start_up(config)
    try:
        grid = Grid.connect(config)
        project = grid.submit(
            slow_job,
            project="crash1",
            n_jobs=6,
            outputs=["out.txt"],
            kwargs={"seconds": 1.0},
        )
        wait_until(
            lambda: any(s.status == JobStatus.RUNNING for s in project.jobs()), 90
        )
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown at all
        proc.wait(timeout=30)
        grid.close()
        proc = start_up(config)
        grid = Grid.connect(config)
        project = grid.project("crash1")
        assert project.wait(timeout=120) == "Done"
        outputs = project.outputs()
        assert len(outputs) == 6, outputs
        assert len({o.split("_job")[1].split("_")[0] for o in outputs}) == 6
        assert any(s.attempt > 1 for s in project.jobs()), "the crash hit live jobs"
        # the controller's crash was not the jobs' fault: no reschedule was spent
        assert all(s.reschedules == 0 for s in project.jobs())
        grid.jobs.store.validate_state(cap=grid.jobs.cap)

        listed = run(config, "project", "list")
        assert "crash1" in listed.stdout
        assert "Done" in listed.stdout
        summary = run(config, "project", "summary", "crash1")
        assert summary.exit_code == 0, summary.output
        assert "Done" in summary.stdout
        first = project.jobs()[0].job_id
        status = run(config, "job", "status", "-p", "crash1")
        assert status.stdout.count("Done") >= 6
        log = run(config, "job", "log", str(first))
        assert f"job {first} attempt" in log.stdout
        diag = run(config, "job", "diagnose", str(first))
        assert "KEK" in diag.stdout
        assert run(config, "job", "kill", str(first)).stdout.startswith("killed 0")
        grid.close()
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)


def exits(ctx: JobContext) -> None:
    os._exit(7)


def test_job_reschedule_says_what_it_moved_and_why_not(config: Path) -> None:
    with Grid.from_config(config) as grid:
        grid.agent_interval = 0.2
        project = grid.submit(exits, project="capped", n_jobs=2, outputs=["out.txt"])
        assert project.wait(timeout=120) == "Failed"
        ids = [s.job_id for s in project.jobs()]
        refused = run(config, "job", "reschedule", "-p", "capped")
        assert refused.exit_code == 1, refused.output
        assert refused.stdout.startswith("rescheduled 0 job(s)")
        for job_id in ids:
            assert f"job {job_id} not rescheduled: at the cap (3 of 3" in refused.stdout
        assert {s.status for s in project.jobs()} == {JobStatus.FAILED}
        other = run(config, "--user", "mallory", "job", "reschedule", str(ids[0]))
        assert "only its owner may reschedule it" in other.stdout
        assert other.exit_code == 1
        moved = run(config, "job", "reschedule", "-p", "capped", "--reset-count")
        assert moved.exit_code == 0, moved.output
        assert moved.stdout.startswith(f"rescheduled 2 job(s): {ids[0]}, {ids[1]}")
        assert {s.attempt for s in project.jobs()} >= {5}
        assert project.wait(timeout=120) == "Failed"
        assert {s.attempt for s in project.jobs()} == {8}
