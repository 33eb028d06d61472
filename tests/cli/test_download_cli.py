"""`b2grid ds get` and `b2grid project extend` over the public API."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from b2grid.cli import cli
from b2grid.clock import VirtualClock, utcnow
from b2grid.formats import FileMetadata, read_ntuple, write_ntuple
from b2grid.jobs.execution import JobContext
from b2grid.storage.download import FAILED_LIST
from b2grid.storage.identity import User
from b2grid.testing import offline_grid, small_config_data, small_grid, write_config

LPN = "/belle/user/alice/getcli"


def run(config: Path, *args: str, user: str = "alice") -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "--user", user, *args])


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "cluster.yaml", small_config_data(tmp_path / "home"))


def ntuples(folder: Path, n: int) -> list[Path]:
    folder.mkdir()
    meta = FileMetadata(level="ntuple", experiment=0, run=0, is_mc=True)
    paths = []
    for i in range(n):
        path = folder / f"nt_{i}.root"
        write_ntuple(path, {"x": np.arange(5.0 + i), "i": np.full(5 + i, i)}, meta)
        paths.append(path)
    return paths


def put_at(tmp_path: Path, n: int, days_ago: float) -> list[str]:
    """Upload ``n`` ntuples to LPN as alice ``days_ago`` grid days ago, 2 copies."""
    clock = VirtualClock(utcnow() - timedelta(days=days_ago))
    grid = offline_grid(tmp_path / "home", clock=clock, user=User("alice"))
    try:
        names = grid.storage.put(ntuples(tmp_path / "local", n), LPN, site="KEK")
        grid.storage.run_agents()
    finally:
        grid.close()
    return names


def test_get_merge_rerun_and_a_failed_list(config: Path, tmp_path: Path) -> None:
    names = put_at(tmp_path, 3, days_ago=0)
    dest = tmp_path / "out"
    merged = tmp_path / "all.root"
    got = run(config, "ds", "get", LPN, "-o", str(dest), "--merge", str(merged))
    assert got.exit_code == 0, got.output
    assert "3 fetched" in got.stdout
    assert "complete, all 3 file(s)" in got.stdout
    assert "merged 3 ntuple(s), 18 rows" in got.stdout
    assert sorted(read_ntuple(merged)["i"].tolist()) == [0] * 5 + [1] * 6 + [2] * 7
    assert (dest / "sub00" / "nt_1.root").is_file()

    again = run(config, "ds", "get", LPN, "-o", str(dest))
    assert again.exit_code == 0
    assert "0 fetched" in again.stdout
    assert "3 already verified" in again.stdout

    # one file without a good replica: incomplete, exit 1, no merge, a failed list
    grid = offline_grid(tmp_path / "home", user=User("alice"))
    sites = grid.storage.catalog.file(names[1]).available_sites
    for site in sites:
        grid.storage.declare_bad(names[1], site, "test")
    (dest / "sub00" / "nt_1.root").unlink()
    bad = run(config, "ds", "get", LPN, "-o", str(dest), "--merge", str(merged))
    assert bad.exit_code == 1
    assert "INCOMPLETE" in bad.stdout
    assert "complete, all" not in bad.stdout
    assert f"failed: {names[1]}" in bad.stderr
    assert "not merging" in bad.stderr
    listed = dest / FAILED_LIST
    assert listed.read_text() == f"{names[1]}\n"
    assert f"--input-list {listed}" in bad.stderr

    for site in sites:  # the disk was fine after all
        grid.storage.catalog.set_replica_state(names[1], site, "available")
    grid.close()
    retry = run(config, "ds", "get", LPN, "-o", str(dest), "--input-list", str(listed))
    assert retry.exit_code == 0, retry.output
    assert "1 fetched" in retry.stdout
    assert "complete" in retry.stdout
    assert not listed.exists()


def test_get_warns_before_expiry_and_fails_clearly_after(
    config: Path, tmp_path: Path
) -> None:
    put_at(tmp_path, 2, days_ago=80)  # the 90-day rule ends in about 10 days
    soon = run(config, "ds", "get", LPN, "-o", str(tmp_path / "a"))
    assert soon.exit_code == 0, soon.output
    assert "warning: the outputs of" in soon.stderr
    assert "expire on" in soon.stderr

    clock = VirtualClock(utcnow())
    grid = offline_grid(tmp_path / "home", clock=clock, user=User("alice"))
    grid.storage.run_agents(clock.advance(days=11))  # rule ends, reaper deletes
    grid.close()
    gone = run(config, "ds", "get", LPN, "-o", str(tmp_path / "b"))
    assert gone.exit_code == 1
    assert "b2grid: error: the outputs of" in gone.stderr
    assert "expired on" in gone.stderr
    assert "90-day lifetime" in gone.stderr


def cli_ntuple_job(ctx: JobContext) -> None:
    meta = FileMetadata(level="ntuple", experiment=0, run=0, is_mc=True)
    n = 4 + ctx.kwargs["index"]
    write_ntuple(ctx.output("nt.root"), {"v": np.ones(n)}, meta)


def test_get_a_project_by_name_and_extend_it(config: Path, tmp_path: Path) -> None:
    with small_grid(tmp_path / "home", user=User("alice")) as grid:
        grid.agent_interval = 0.2
        project = grid.submit(
            cli_ntuple_job,
            project="getproj",
            n_jobs=2,
            outputs=["nt.root"],
            kwargs=[{"index": 0}, {"index": 1}],
        )
        assert project.wait(timeout=60) == "Done"
        before = project.expires()
    assert before is not None

    merged = tmp_path / "m.root"
    got = run(config, "ds", "get", "getproj", "-o", str(tmp_path / "p"), "--merge",
              str(merged))  # fmt: skip
    assert got.exit_code == 0, got.output
    assert "merged 2 ntuple(s), 9 rows" in got.stdout

    denied = run(config, "project", "extend", "getproj", "--owner", "alice",
                 "--days", "5", user="bob")  # fmt: skip
    assert denied.exit_code == 1
    assert "belongs to alice" in denied.stderr

    extended = run(config, "project", "extend", "getproj", "--days", "30")
    assert extended.exit_code == 0, extended.output
    until = before + timedelta(days=30)
    assert f"kept until {until:%Y-%m-%d}" in extended.stdout
    zero = run(config, "project", "extend", "getproj", "--days", "0")
    assert zero.exit_code == 2


def half_failing_job(ctx: JobContext) -> None:
    """Write an ntuple, or fail for good (the job of index 1)."""
    if ctx.kwargs["index"] == 1:
        raise RuntimeError("this job fails on purpose")
    cli_ntuple_job(ctx)


def test_a_failed_projects_lpn_and_datablock_are_incomplete_as_its_name(
    config: Path, tmp_path: Path
) -> None:
    with small_grid(tmp_path / "home", user=User("alice")) as grid:
        grid.agent_interval = 0.2
        project = grid.submit(
            half_failing_job,
            project="halfproj",
            n_jobs=3,
            outputs=["nt.root"],
            kwargs=[{"index": i} for i in range(3)],
        )
        assert project.wait(timeout=60) == "Failed"
        lpn = project.output_lpn
        assert len(project.outputs()) == 2
        by_name = project.download(tmp_path / "api-name")
        by_lpn = grid.download(lpn, tmp_path / "api-lpn")
        by_block = grid.download(f"{lpn}/sub00", tmp_path / "api-block")
    [reason] = by_name.missing
    assert reason.startswith("1 of 3 jobs of project halfproj are not Done (1 Failed)")
    for report in (by_lpn, by_block):
        assert report.status == "incomplete"
        assert report.missing == by_name.missing
        assert len(report.fetched) == 2, "what there is is still fetched"

    for i, target in enumerate(["halfproj", lpn, f"{lpn}/sub00"]):
        got = run(config, "ds", "get", target, "-o", str(tmp_path / f"cli{i}"))
        assert got.exit_code == 1, (target, got.output)
        assert "INCOMPLETE" in got.stdout, target
        assert f"missing: {reason}" in got.stderr, target
        assert "complete, all" not in got.stdout, target
