"""`b2grid skim list|show|run`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from b2grid import formats
from b2grid.cli import cli
from b2grid.testing import synthetic_events


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), terminal_width=200)


def test_list_and_filter_by_working_group() -> None:
    listed = run("skim", "list")
    assert listed.exit_code == 0, listed.output
    for text in ("14140101", "BtoD0h_Kpi", "18570600", "hadron", "btocharm"):
        assert text in listed.stdout
    tau = run("skim", "list", "--wg", "tau")
    assert "TauGeneric" in tau.stdout
    assert "BtoD0h_Kpi" not in tau.stdout
    bad = run("skim", "list", "--wg", "astro")
    assert bad.exit_code == 1
    assert "unknown skim" in bad.output


def test_show_by_code_or_name_and_near_misses() -> None:
    by_code = run("skim", "show", "14140101")
    by_name = run("skim", "show", "BtoD0h_Kpi")
    assert by_code.exit_code == 0, by_code.output
    assert by_code.stdout == by_name.stdout
    assert "B+:BtoD0pi_Kpi" in by_code.stdout
    assert "accept_hadron" in by_code.stdout
    assert "14140101.udst.root" in by_code.stdout
    assert "Skim liaison, B->charm WG" in by_code.stdout
    missing = run("skim", "show", "BtoD0h_kpi")
    assert missing.exit_code == 1
    assert "did you mean 'BtoD0h_Kpi'" in missing.output


def test_run_writes_one_udst_per_skim(tmp_path: Path) -> None:
    src = tmp_path / "in.mdst.root"
    meta = formats.FileMetadata(level="mdst", experiment=1003, run=0, is_mc=True)
    formats.write_events(src, synthetic_events("mdst", 200), meta)
    out = tmp_path / "out"
    done = run("skim", "run", "hadron", "14140101", "-i", str(src), "-o", str(out))
    assert done.exit_code == 0, done.output
    assert "200 events" in done.stdout
    assert {p.name for p in out.iterdir()} == {
        "00000100.udst.root",
        "14140101.udst.root",
    }
    bad = run(
        "skim", "run", "hadron", "-i", str(tmp_path / "nope.root"), "-o", str(out)
    )
    assert bad.exit_code == 1
    assert "nope.root" in bad.output
