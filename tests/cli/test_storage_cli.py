"""`b2grid ds`, `rule`, `replica` and `site audit|lose` over the public API."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from b2grid.cli import cli
from b2grid.testing import small_config_data, write_config

LPN = "/belle/user/alice/cliproj"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "cluster.yaml", small_config_data(tmp_path / "home"))


@pytest.fixture
def local(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "local"
    folder.mkdir()
    paths = []
    for i in range(3):
        path = folder / f"ntuple_{i}.root"
        path.write_bytes(os.urandom(1500 + i))
        paths.append(path)
    return paths


def run(config: Path, *args: str, user: str = "alice") -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "--user", user, *args])


def test_put_list_rules_replicas_rm(config: Path, local: list[Path]) -> None:
    put = run(config, "ds", "put", *map(str, local), LPN, "--site", "KEK")
    assert put.exit_code == 0, put.output
    names = [line for line in put.stdout.splitlines() if line.startswith("/belle")]
    assert names == [f"{LPN}/sub00/ntuple_{i}.root" for i in range(3)]

    listed = run(config, "ds", "list", LPN)
    assert listed.stdout.split() == names
    long = run(config, "ds", "list", LPN, "-l", "-g")
    assert "adler32" in long.stdout
    assert "KEK:available" in long.stdout
    assert "3 file(s)" in long.stdout
    under = run(config, "ds", "list", "/belle/user/alice")
    assert under.stdout.split() == [LPN]

    rules = run(config, "rule", "list", LPN)
    assert "REPLICATING" in rules.stdout  # 2 copies wanted, no grid up to copy
    assert "rule_id      1\n" in run(config, "rule", "show", "1").stdout
    rep = run(config, "ds", "rep", LPN, "--site", "DESY")
    assert rep.exit_code == 0
    assert "transfers start when the grid is up" in rep.stdout
    added = run(config, "rule", "add", LPN, "--copies", "1", "--sites", "KEK")
    assert added.stdout.strip() == "rule 3: OK"

    replicas = run(config, "replica", "list", names[0])
    assert "KEK" in replicas.stdout
    assert "copying" in replicas.stdout  # the replica the rules wait for

    audit = run(config, "site", "audit", "KEK")
    assert audit.exit_code == 0, audit.output
    assert "0 dark, 0 lost" in audit.stdout

    rm = run(config, "ds", "rm", LPN, "--force")
    assert rm.exit_code == 0, rm.output
    assert "removed 3 file(s)" in rm.stdout
    again = run(config, "ds", "put", str(local[0]), LPN)
    assert again.exit_code == 1
    assert "was used before and deleted; names are never reused" in again.output


def test_putting_the_same_files_twice_is_refused_unless_asked(
    config: Path, local: list[Path]
) -> None:
    paths = [str(p) for p in local[:2]]
    assert run(config, "ds", "put", *paths, LPN, "--site", "KEK").exit_code == 0
    again = run(config, "ds", "put", *paths, LPN, "--site", "KEK")
    assert again.exit_code == 1
    assert f"dataset {LPN} already holds 2 of the file(s)" in again.stderr
    assert f"{paths[0]} (same name as {LPN}/sub00/ntuple_0.root)" in again.stderr
    assert "--allow-duplicates" in again.stderr
    assert "Traceback" not in again.output
    assert len(run(config, "ds", "list", LPN).stdout.split()) == 2, "nothing added"
    forced = run(config, "ds", "put", *paths, LPN, "--allow-duplicates")
    assert forced.exit_code == 0, forced.output
    assert forced.stdout.split() == [f"{LPN}/sub01/ntuple_{i}.root" for i in (0, 1)]


def test_errors_name_the_culprit(
    config: Path, local: list[Path], tmp_path: Path
) -> None:
    cases = [
        (["ds", "put", str(local[0]), "/belle/user/alice/a//b"], "bad LFN"),
        (
            ["ds", "put", str(tmp_path / "missing.root"), LPN],
            "missing.root: does not exist",
        ),
        (
            ["ds", "put", str(local[0]), "/belle/user/bob/x"],
            "may not write /belle/user/bob",
        ),
        (
            ["ds", "put", str(local[0]), LPN, "--site", "Zeuthen"],
            "unknown site 'Zeuthen'",
        ),
        (["ds", "put", str(local[0]), LPN, "--sites", "kind=tier9"], "matches no site"),
        (["ds", "list", "/belle/user/alice/nothing"], "no dataset, datablock or file"),
        (["rule", "show", "99"], "no rule 99"),
        (["replica", "list", "/belle/user/alice/none.root"], "no file"),
        (["site", "audit", "KEKK"], "did you mean 'KEK'"),
    ]
    for args, message in cases:
        result = run(config, *args)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    # nothing half-registered by any of them
    assert run(config, "ds", "list", "/belle/user").exit_code == 1


def test_bad_copies_and_lifetimes_are_one_line_and_exit_2(
    config: Path, local: list[Path]
) -> None:
    """`ds put --lifetime-days -5` exited 0 and the upload was reaped 10 s later;
    `--copies 0` silently became the policy's 2."""
    cases = [
        (
            ["ds", "put", str(local[0]), LPN, "--lifetime-days", "-5"],
            "--lifetime-days: -5.0 is not a positive number of days",
        ),
        (
            ["ds", "put", str(local[0]), LPN, "--lifetime-days", "nan"],
            "--lifetime-days: nan is not a positive number of days",
        ),
        (
            ["ds", "put", str(local[0]), LPN, "--copies", "0"],
            "copies: 0 is not a number of copies",
        ),
    ]
    for args, message in cases:
        result = run(config, *args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith(f"b2grid: error: {message}"), result.output
        assert result.output.count("\n") == 1, result.output
    assert run(config, "ds", "list", LPN).exit_code == 1  # nothing was uploaded
    assert run(config, "ds", "put", str(local[0]), LPN, "--copies", "1").exit_code == 0
    for args, message in [
        (["--copies", "0", "--sites", "*"], "copies: 0 is not a number of copies"),
        (["--copies", "-3", "--sites", "*"], "copies: -3 is not a number of copies"),
        (
            ["--copies", "1", "--sites", "*", "--lifetime-days", "0"],
            "--lifetime-days: 0.0 is not a positive number of days",
        ),
    ]:
        result = run(config, "rule", "add", LPN, *args)
        assert result.exit_code == 2, (args, result.output)
        assert result.output.startswith(f"b2grid: error: {message}"), result.output
        assert result.output.count("\n") == 1, result.output
    assert run(config, "rule", "list", LPN).stdout.count("│ alice │") == 1  # put's


def test_site_lose_and_json_status(config: Path, local: list[Path]) -> None:
    assert run(config, "ds", "put", str(local[0]), LPN, "--site", "BNL").exit_code == 0
    lose = run(config, "site", "lose", "BNL", "--force")
    assert lose.exit_code == 0, lose.output
    assert "1 replica(s) lost" in lose.stdout
    status = json.loads(run(config, "site", "list", "--json").stdout)
    assert {r["site"]: r["status"] for r in status}["BNL"] == "down"
