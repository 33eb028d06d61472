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
    chain = report.chain
    assert chain is not None
    assert chain.ok
    assert set(chain.campaigns.values()) == {"done"}
    assert chain.published
    assert chain.analysis_outputs == chain.analysis_jobs == chain.downloaded > 0
    assert abs(chain.mbc_peak - 5.279) < 0.004  # where physics puts the B+
    assert Path(chain.plot).stat().st_size > 10_000
    assert "the chain in numbers" in text


def test_demo_command_exits_with_the_verdict(tmp_path: Path, monkeypatch) -> None:
    """The command passes the config, home and plot folder on, and exits 1 when the
    demo fails (the whole demo runs above, and in CI as the README's run command)."""
    import b2grid.cli.demo as command

    seen = {}

    class Verdict:
        def __init__(self, ok: bool) -> None:
            self.ok = ok

    def fake(config, out, home, *, plot_dir):
        seen.update(home=home, plot_dir=plot_dir, sites=len(config.sites))
        return Verdict(seen.get("ok", True))

    monkeypatch.setattr(command, "run_demo", fake)
    config = write_config(tmp_path / "c.yaml", small_config_data(tmp_path / "home"))
    args = ["--config", str(config), "demo", "--plot-dir", str(tmp_path)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert seen["plot_dir"] == tmp_path
    assert seen["sites"] == 4
    seen["ok"] = False
    assert CliRunner().invoke(cli, args).exit_code == 1
