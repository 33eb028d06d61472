"""`b2grid gt` (conditions database) and `b2grid file` (event files)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from b2grid import formats
from b2grid.cli import cli
from b2grid.testing import small_config_data, write_config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "cluster.yaml", small_config_data(tmp_path / "home"))


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def test_global_tags_list_show_and_lookup(config: Path) -> None:
    listed = run(config, "gt", "list")
    assert listed.exit_code == 0, listed.output
    assert "mc_default" in listed.stdout
    assert "data_online" in listed.stdout
    shown = run(config, "gt", "show", "data_online")
    assert "ECLCrystalEnergy" in shown.stdout
    assert "(1,0)-(999,-1)" in shown.stdout
    stack = [
        "gt",
        "lookup",
        "data_online",
        "mc_default",
        "--name",
        "ECLLeakageCorrection",
    ]
    found = run(config, *stack, "--exp", "1003", "--run", "0")
    assert found.exit_code == 0, found.output
    assert "valid (1003,0)-(1003,-1)" in found.stdout  # from the second tag
    missing = run(config, "gt", "lookup", "mc_default", "--name", "Nope", "--exp", "1")
    assert missing.exit_code == 2  # click: --run missing
    absent = run(config, "gt", "show", "data_onlin")
    assert absent.exit_code == 1
    assert "did you mean 'data_online'" in absent.output


def test_file_mc_writes_a_self_describing_file(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "sig.root"
    made = run(config, "file", "mc", "1213030000", "-n", "50", "-o", str(out))
    assert made.exit_code == 0, made.output
    meta = formats.read_metadata(out)
    assert meta.event_type == "1213030000"
    assert meta.nevents == 50
    assert meta.is_mc
    assert meta.global_tag == "mc_default"
    shown = run(config, "file", "meta", str(out))
    assert "1213030000" in shown.stdout
    bad = run(config, "file", "mc", "uubarr", "-n", "5", "-o", str(tmp_path / "x.root"))
    assert bad.exit_code == 1
    assert "did you mean 'uubar'" in bad.output
    assert not (tmp_path / "x.root").exists()
    assert "ECLCluster" in run(config, "file", "schema", "mdst").stdout
