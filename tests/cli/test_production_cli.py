"""`b2grid production ...` attached to a controller in the same home: data taking,
a prompt bucket and MC waited for from the CLI, status/runs/readiness tables that
agree with the Python API, bad runs, bad input and the production role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from b2grid.cli import cli
from b2grid.grid import Grid
from b2grid.testing import small_config_data, write_config

#: two runs of 0.1 fb^-1: enough mu-mu pairs (> 100) for the bucket to validate
RUNS = ("--exp", "12", "--runs", "853-854")


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("prodcli")
    data = small_config_data(tmp / "home")
    data["policies"]["copies"]["raw"] = 2
    return write_config(tmp / "cluster.yaml", data)


@pytest.fixture(scope="module")
def controller(config: Path) -> Iterator[Grid]:
    """The controller (what `b2grid up` runs), fast agents; the CLI attaches."""
    grid = Grid.from_config(config)
    grid.storage_interval = 1.0  # RAW reaches the calibration centre soon
    grid.agent_interval = 0.2
    grid.jobs.heartbeat_interval = 0.5
    with grid:
        yield grid
        grid.jobs.store.validate_state(cap=grid.jobs.cap)
        grid.storage.validate_state()


def run(config: Path, *args: str, role: bool = True) -> Result:
    roles = ("--role", "production") if role else ()
    return CliRunner().invoke(
        cli,
        ["--config", str(config), "--user", "prod", *roles, "production", *args],
        env={"B2GRID_ROLES": None, "B2GRID_USER": None},
    )


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def taken(config: Path, controller: Grid) -> str:
    """Runs 853-854 taken from the CLI, waited for."""
    return ok(run(config, "take-data", *RUNS, "--lumi-per-run", "0.1", "--wait"))


def rows(out: str) -> list[list[str]]:
    """The cells of a rich table's body lines."""
    return [
        [c.strip() for c in line.strip().strip("│").split("│")]
        for line in out.splitlines()
        if line.startswith("│")
    ]


def table_row(out: str, *first: str) -> list[str]:
    """The cells of the table row whose first cells are ``first``."""
    for cells in rows(out):
        if tuple(cells[: len(first)]) == first:
            return cells
    raise AssertionError(f"no row {first!r} in\n{out}")


def jobs(counts: dict[str, int]) -> str:
    return " ".join(f"{status}:{n}" for status, n in sorted(counts.items()))


def test_take_data_then_status_runs_and_readiness_agree_with_python(
    config: Path, controller: Grid, taken: str
) -> None:
    assert "take_data │ done" in taken
    assert "campaign e0012_r00853-00854: done" in taken
    prod = controller.production

    python = {r["campaign"]: r for r in prod.status()}["e0012_r00853-00854"]
    row = table_row(ok(run(config, "status")), "e0012_r00853-00854")
    assert row[1:3] == ["data_taking", "e12 r853-854"]
    assert row[3] == "take_data:done"
    assert row[4] == jobs(python["jobs"]) == "Done:2"
    assert row[5:] == [str(python["events"]), "0.2"]
    assert python["events"] > 0

    out = ok(run(config, "runs", "--exp", "12"))
    for r in prod.runs(12)[:2]:
        assert table_row(out, "12", str(r.run)) == [
            "12", str(r.run), "0.1", "4S", str(r.collisions), r.quality,
        ]  # fmt: skip

    readiness = ok(run(config, "readiness"))
    expected = next(r for r in prod.readiness() if r["exp"] == "12")
    assert table_row(readiness, "12") == list(expected.values())

    # taking the same runs again defines nothing new
    again = ok(run(config, "take-data", *RUNS, "--lumi-per-run", "0.1"))
    assert again.startswith("campaign e0012_r00853-00854: done")


def test_a_bucket_and_mc_waited_for_from_the_cli(
    config: Path, controller: Grid, taken: str
) -> None:
    # ~6 s: the five stages of a two-run bucket, with the controller's agents fast
    out = ok(
        run(
            config,
            "process",
            "bucket1",
            *RUNS,
            "--min-mumu",
            "30",
            "--min-electrons",
            "30",
            "--wait",
            "--timeout",
            "120",
        )
    )
    assert "campaign bucket1: done" in out
    python = controller.production.campaign("bucket1").stages()
    shown = ok(run(config, "status", "bucket1"))
    assert shown.startswith("campaign bucket1: done\n")
    for stage, status, _ in python:
        assert table_row(shown, stage)[:2] == [stage, status]
    assert [s for _, s, _ in python] == ["done"] * 5
    assert "published bucket1_prompt" in " ".join(shown.replace("│", " ").split())

    row = table_row(ok(run(config, "status")), "bucket1")
    compact = " ".join(f"{stage}:{status}" for stage, status, _ in python)
    assert " ".join(row[3].split()) in compact  # rich may wrap the stages cell
    retry = ok(run(config, "retry", "bucket1"))
    assert retry.strip() == "campaign bucket1: 0 failed job(s) rescheduled; now done"

    # the same bucket again is a no-op; an overlapping one is refused
    assert ok(run(config, "process", "bucket1", *RUNS)).startswith(
        "campaign bucket1: done"
    )
    overlap = run(config, "process", "bucket2", "--exp", "12", "--runs", "854-860")
    assert overlap.exit_code == 1
    assert "overlaps bucket1" in overlap.stderr
    assert "start after run 854" in overlap.stderr

    ri = ok(
        run(config, "mc", "MC15ri_a", "--sample", "mumu", "--lumi", "0.01", "--wait")
    )
    assert "campaign MC15ri_a: done" in ri
    rd = ok(run(config, "mc", "MC15rd_a", "--sample", "mumu", *RUNS, "--wait"))
    assert "campaign MC15rd_a: done" in rd
    readiness = table_row(ok(run(config, "readiness")), "12")
    assert readiness[2:] == [
        "bucket1: done", "bucket1: done", "bucket1: done",
        "MC15rd_a: done", "MC15ri_a: done",
    ]  # fmt: skip


def test_a_run_marked_bad_shows_in_the_registry(
    config: Path, controller: Grid, taken: str
) -> None:
    # a run of its own (not waited for: its RAW is registered at once)
    started = ok(
        run(
            config,
            "take-data",
            "--exp",
            "12",
            "--runs",
            "900",
            "--lumi-per-run",
            "0.01",
        )
    )
    assert started.startswith("campaign e0012_r00900-00900: ")
    assert ok(run(config, "run-quality", "12", "900", "bad")).strip() == (
        "exp 12 run 900: bad"
    )
    assert table_row(ok(run(config, "runs")), "12", "900")[-1] == "bad"
    assert {r.run: r.quality for r in controller.production.runs(12)}[900] == "bad"
    unknown = run(config, "run-quality", "12", "999", "bad")
    assert unknown.exit_code == 1
    assert "no RAW for exp 12 runs 999" in unknown.stderr
    taking = controller.production.campaign("e0012_r00900-00900")
    assert taking.wait(60, drive=False) == "done"


def test_bad_input_is_one_line_and_exit_1(
    config: Path, controller: Grid, tmp_path: Path
) -> None:
    idle = write_config(tmp_path / "idle.yaml", small_config_data(tmp_path / "idle"))
    nobody = run(idle, "take-data", *RUNS, "--lumi-per-run", "0.01", "--wait")
    assert nobody.exit_code == 1
    assert "no grid is running" in nobody.stderr
    assert "`b2grid up`" in nobody.stderr
    missing = run(config, "status", "bucket99")
    assert missing.exit_code == 1
    assert missing.stderr.startswith("b2grid: error: no campaign 'bucket99'")
    assert len(missing.stderr.strip().splitlines()) == 1
    assert run(config, "retry", "bucket99").exit_code == 1
    badname = run(config, "process", "bucket-x", *RUNS)
    assert badname.exit_code == 1
    assert "campaign 'bucket-x': a prompt campaign is named" in badname.stderr
    inverted = run(config, "take-data", "--exp", "12", "--runs", "9-7",
                    "--lumi-per-run", "0.01")  # fmt: skip
    assert inverted.exit_code == 1
    assert "write 7-9" in inverted.stderr


def test_defining_needs_the_production_role(config: Path, controller: Grid) -> None:
    for args in (
        ("take-data", *RUNS, "--lumi-per-run", "0.01"),
        ("process", "bucket7", *RUNS),
        ("mc", "MC15ri_b", "--sample", "mumu", "--lumi", "0.01"),
        ("run-quality", "12", "853", "bad"),
    ):
        refused = run(config, *args, role=False)
        assert refused.exit_code == 1, refused.output
        line = refused.stderr.strip()
        assert len(line.splitlines()) == 1
        assert "may not write /belle/Data" in line
        assert "need the production role: `b2grid --role production" in line
    # reading needs no role
    assert run(config, "status", role=False).exit_code == 0
