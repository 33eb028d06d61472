"""`b2grid submit`: gbasf2's project summary, dry run, confirmation, clear refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from b2grid.cli import cli
from b2grid.grid import Grid, resolve_config
from b2grid.storage.identity import User
from b2grid.testing import small_config_data, write_config

LPN = "/belle/user/alice/udst_cli"  # 5 files in datablocks of 2: sub00, sub01, sub02

STEERING = """\
OUTPUTS = ("ntuple.root",)


def analysis(ctx):
    with open(ctx.output("ntuple.root"), "w") as out:
        out.write(" ".join(ctx.input_lfns))
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("submitcli")
    data = small_config_data(tmp / "home", datablock_size=2)
    path = write_config(tmp / "cluster.yaml", data)
    (tmp / "steering.py").write_text(STEERING)
    (tmp / "nothing.py").write_text("x = 1\n")
    return path


@pytest.fixture(scope="module")
def controller(config: Path) -> Iterator[Grid]:
    """The controller (what `b2grid up` runs) with the inputs; the CLI attaches."""
    grid = Grid(resolve_config(config, None), user=User("alice"))
    grid.agent_interval = 0.2
    grid.jobs.heartbeat_interval = 0.5
    with grid:
        local = []
        for i in range(5):
            path = config.parent / f"in{i}.dat"
            path.write_bytes(b"y" * 1000 * (i + 1))
            local.append(path)
        grid.storage.put(local, LPN, site="KEK", copies=1, expression="KEK")
        yield grid
        grid.jobs.store.validate_state(cap=grid.jobs.cap)


def run(config: Path, *args: str, stdin: str | None = None) -> Result:
    steering = str(config.parent / "steering.py")
    argv = ["--config", str(config), "--user", "alice", "submit"]
    argv += [a.replace("STEERING", steering) for a in args]
    return CliRunner().invoke(cli, argv, input=stdin)


def summary(out: str) -> dict[str, str]:
    """The (label, value) rows of the summary table."""
    cells = [
        [c.strip() for c in line.strip().strip("│").split("│")]
        for line in out.splitlines()
        if line.startswith("│")
    ]
    return {row[0]: row[1] for row in cells if len(row) == 2 and row[0]}


def test_the_dry_run_prints_the_plan_and_submits_nothing(config, controller) -> None:
    result = run(config, "STEERING", "-p", "dry1", "-i", LPN, "-n", "2", "--dry-run")
    assert result.exit_code == 0, result.output
    plan = controller.plan(None, project="dry1", inputs=LPN, files_per_job=2)
    rows = summary(result.stdout)
    assert rows["Project name"] == "dry1"
    assert rows["Output LPN"] == "/belle/user/alice/dry1" == plan.output_lpn
    assert rows["Owner"] == "alice"
    assert rows["Number of input files"] == str(plan.n_files) == "5"
    assert rows["Number of jobs"] == str(plan.n_jobs) == "3"
    assert rows["Processed data (MB)"] == f"{plan.megabytes:.1f}" == "0.0"
    assert rows["Processed events"] == str(plan.events)
    assert rows["Estimated CPU time per job"] == f"{plan.cpu_seconds_per_job:.1f} s"
    assert rows["Analysis"].endswith("steering.py")
    assert "dry run: nothing submitted" in result.stdout
    assert [p.name for p in controller.jobs.store.projects()] == []


def test_submit_asks_then_runs_one_output_per_job(config, controller) -> None:
    no = run(config, "STEERING", "-p", "ask1", "-i", LPN, stdin="n\n")
    assert no.exit_code == 1
    assert "Are you sure to submit the project? [y/N]" in no.stdout
    assert "ask1" not in [p.name for p in controller.jobs.store.projects()]

    yes = run(config, "STEERING", "-p", "ask1", "-i", f"{LPN}/sub00", stdin="y\n")
    assert yes.exit_code == 0, yes.output
    assert "project ask1 submitted: 2 job(s)" in yes.stdout

    forced = run(config, "STEERING", "-p", "run1", "-i", LPN, "-n", "2", "--force")
    assert forced.exit_code == 0, forced.output
    assert "Are you sure" not in forced.stdout
    project = controller.project("run1", owner="alice")
    assert project.wait(timeout=60) == "Done"
    outputs = project.outputs()
    assert len(outputs) == len(project.jobs()) == 3
    assert controller.project("ask1", owner="alice").wait(timeout=60) == "Done"


def test_an_input_list_file_as_ds_search_writes_it(config, controller) -> None:
    listing = config.parent / "inputs.list"
    listing.write_text(
        f"# one datablock and one file\n{LPN}/sub01\n{LPN}/sub02/in4.dat\n"
    )
    result = run(
        config, "STEERING", "-p", "list1", "--input-list", str(listing), "--dry-run"
    )
    assert result.exit_code == 0, result.output
    rows = summary(result.stdout)
    assert (rows["Number of input files"], rows["Number of jobs"]) == ("3", "3")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["STEERING", "-p", "bad1", "-i", "/belle/user/alice/nope"],
            1,
            "no dataset, datablock, collection or file /belle/user/alice/nope",
        ),
        (["STEERING", "-p", "bad2", "-i", LPN, "-n", "0"], 1, "files_per_job: 0"),
        (["gone.py", "-p", "bad3", "-i", LPN], 1, "steering file gone.py does not"),
        (["NOTHING", "-p", "bad4", "-i", LPN], 1, "no callable 'analysis' or 'main'"),
        (["STEERING", "-p", "bad5"], 2, "give inputs: -i LPN"),
        (["STEERING", "-p", "bad 6", "-i", LPN], 1, "project name 'bad 6'"),
        (["STEERING", "-p", "bad7", "--input-list", "none.list"], 1, "list file"),
        (["STEERING", "-p", "bad8", "-i", LPN, "--site", "KEKK"], 1, "did you mean"),
    ],
)
def test_bad_submissions_exit_with_the_reason(
    config, controller, args, code, message
) -> None:
    args = [a.replace("NOTHING", str(config.parent / "nothing.py")) for a in args]
    result = run(config, *args, "--force")
    assert result.exit_code == code, result.output
    assert message in result.output
    assert not [p for p in controller.jobs.store.projects() if p.name.startswith("bad")]


def test_a_project_name_is_never_reused(config, controller) -> None:
    first = run(config, "STEERING", "-p", "once1", "-i", f"{LPN}/sub02", "--force")
    assert first.exit_code == 0, first.output
    again = run(config, "STEERING", "-p", "once1", "-i", LPN, "--dry-run")
    assert again.exit_code == 1
    assert "project 'once1' of alice exists or existed" in again.output
    assert controller.project("once1", owner="alice").wait(timeout=60) == "Done"
