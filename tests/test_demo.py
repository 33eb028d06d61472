"""The embedded demo runs end to end and proves where its jobs ran."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from rich.console import Console

from b2grid.cli import cli
from b2grid.demo import run_demo
from b2grid.testing import small_config, small_config_data, write_config


def test_run_demo_proves_placement(tmp_path: Path) -> None:
    out = Console(record=True, width=120)
    report = run_demo(small_config(tmp_path / "unused"), out, home=tmp_path / "home")
    assert report.ok
    assert {j.asked for j in report.jobs} == {"KEK", "BNL", "DESY", "SiGNET"}
    assert len(report.jobs) == 2 * (2 + 1 + 1 + 1)
    assert all(j.worker == j.asked for j in report.jobs)
    text = out.export_text()
    assert "SiGNET is down: a job placed there is pending" in text
    assert "refused: site 'DESY' is banned" in text
    assert "the grid shut down cleanly" in text
    assert report.mc_outputs == report.mc_jobs == 4
    assert abs(report.d0_mass - 1.8648) < 0.005
    assert "project demo_mc: Done" in text


def test_demo_command(tmp_path: Path) -> None:
    config = write_config(tmp_path / "c.yaml", small_config_data(tmp_path / "home"))
    result = CliRunner().invoke(cli, ["--config", str(config), "demo"])
    assert result.exit_code == 0, result.output
    assert "demo OK: 10 jobs ran where they were placed" in result.output
