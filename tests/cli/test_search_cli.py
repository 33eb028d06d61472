"""`b2grid ds search` and `ds meta` give the answers the Python API gives."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from b2grid.cli import cli
from b2grid.storage.catalog import Catalog
from b2grid.storage.records import DatasetMeta, NewFile
from b2grid.storage.schema import sqlite_url
from b2grid.storage.search import Searcher
from b2grid.testing import small_config_data, write_config

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
HADRON = "/belle/Data/proc12/e12/hadron"
TAU = "/belle/Data/proc12/e12/tau"
BUCKET = "/belle/Data/bucket23/e14/hadron"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    path = write_config(tmp_path / "cluster.yaml", small_config_data(home))
    catalog = Catalog.open(sqlite_url(home))
    for lpn, campaign, skim, code, exp in [
        (HADRON, "proc12", "hadron", "10601300", 12),
        (TAU, "proc12", "tau", "18520100", 12),
        (BUCKET, "bucket23", "hadron", "10601300", 14),
    ]:
        meta = DatasetMeta(
            data_type="data",
            campaign=campaign,
            data_level="mdst",
            general_skim=skim,
            skim_code=code,
            exp_low=exp,
            exp_high=exp,
        )
        new = [NewFile(f"f{i}.root", 100 + i, "00000001", 10, exp, i) for i in (1, 2)]
        catalog.register_files(lpn, new, "KEK", "prod", NOW, meta=meta)
    catalog.set_run_quality(14, 2, "bad")
    catalog.close()
    return path


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), "--user", "alice", *args])


def python_names(config: Path, files: bool = False, **criteria: object) -> list[str]:
    catalog = Catalog.open(sqlite_url(config.parent / "home"))
    try:
        return list(Searcher(catalog).search(files=files, **criteria).names)
    finally:
        catalog.close()


@pytest.mark.parametrize(
    ("args", "criteria"),
    [
        (["--campaign", "proc12"], {"campaign": "proc12"}),
        (
            ["--campaign", "proc12", "--general_skim", "hadron", "--skim_decay",
             "10601300", "--exp_low", "12", "--exp-high", "12"],
            {"campaign": "proc12", "general_skim": "hadron",
             "skim_decay": "10601300", "exp_low": 12, "exp_high": 12},
        ),
        (["--general-skim", "hadron", "--include-bad-runs"],
         {"general_skim": "hadron", "include_bad_runs": True}),
        (["--campaign", "*"], {"campaign": "*"}),
    ],
)  # fmt: skip
def test_cli_and_python_agree(
    config: Path, args: list[str], criteria: dict[str, object]
) -> None:
    for what in ("dataset", "file"):
        plain = run(config, "ds", "search", what, *args, "--plain")
        assert plain.exit_code == 0, plain.output
        expected = python_names(config, files=what == "file", **criteria)
        assert expected
        assert plain.stdout.splitlines() == expected


def test_table_output_and_bad_run_note(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "lpns.txt"
    result = run(
        config, "ds", "search", "dataset", "--data-level", "mdst", "--output", str(out)
    )
    assert result.exit_code == 0, result.output
    assert HADRON in result.stdout
    assert "files" in result.stdout
    assert "left out 1 file(s) of bad runs (exp/run): 14/2" in result.stderr
    assert out.read_text().splitlines() == [BUCKET, HADRON, TAU]
    files = run(config, "ds", "search", "file", "--campaign", "bucket23")
    assert f"{BUCKET}/sub00/f1.root" in files.stdout
    assert "f2.root" not in files.stdout


def test_empty_result_exits_0_and_names_the_criterion(config: Path) -> None:
    result = run(
        config, "ds", "search", "dataset", "--campaign", "proc12", "--exp-low", "13"
    )
    assert result.exit_code == 0
    assert result.stdout.strip() == "no datasets match (emptied by exp_low=13)"


def test_unknown_value_exits_1_with_a_suggestion(config: Path) -> None:
    result = run(config, "ds", "search", "dataset", "--campaign", "prc12")
    assert result.exit_code == 1
    assert "campaign 'prc12' not found; did you mean 'proc12'?" in result.stderr
    assert "known: bucket23, proc12" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--exp-low", "14", "--exp-high", "12"],
        ["--skim-decay", "1060130"],
        ["--data-type", "sim"],
        ["--exp-low", "twelve"],
    ],
)
def test_usage_errors_exit_2(config: Path, args: list[str]) -> None:
    result = run(config, "ds", "search", "dataset", *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_meta_shows_a_dataset(config: Path) -> None:
    result = run(config, "ds", "meta", HADRON)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "campaign       proc12" in lines
    assert "skim_code      10601300" in lines
    assert "files          2" in lines
    missing = run(config, "ds", "meta", HADRON + "x")
    assert missing.exit_code == 1
