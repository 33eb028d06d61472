"""The runnable examples, each on a small grid with signal MC skimmed by
BtoD0h_Kpi (what a production campaign leaves for analysts)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from b2grid import formats
from b2grid.grid import Grid
from b2grid.testing import production_grid

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / name)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def skimmed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Grid]:
    grid = production_grid(tmp_path_factory.mktemp("examples") / "home")
    with grid:
        mc = grid.production.produce_mc(
            "MC15ri_a", ["1213030000"], luminosity=1.0, scale=1.0, events_per_job=600
        )
        assert mc.wait(600) == "done", mc.stages()
        skim = grid.production.skim("MC15ri_a_skim", "MC15ri_a", ["BtoD0h_Kpi"])
        assert skim.wait(600) == "done", skim.stages()
        yield grid


def test_b2dpi_on_the_grid_downloads_and_plots_the_b_peak(skimmed, tmp_path):
    peak = example("b2dpi_on_the_grid.py").main(
        skimmed, "MC15ri_a_skim", tmp_path, project="bdpi_example"
    )
    assert abs(peak - 5.279) < 0.004
    assert (tmp_path / "Mbc_deltaE.png").stat().st_size > 10_000
    ntuples = sorted((tmp_path / "ntuples").rglob("*.root"))
    assert ntuples
    table = formats.read_ntuple(ntuples[0])
    assert "__candidate__" in table
    assert "Mbc" in table


def test_a_user_reskim_writes_under_the_users_namespace(skimmed):
    module = example("user_reskim.py")
    project = module.main(skimmed, "MC15ri_a_skim", "myreskim")
    assert project.status() == "Done"
    outputs = project.outputs()
    assert outputs
    user = skimmed.user.name
    assert all(o.startswith(f"/belle/user/{user}/myreskim/") for o in outputs)
    assert all("14149901" in o for o in outputs)


def test_search_then_submit_mirrors_the_gbasf2_tutorial(skimmed, tmp_path, capsys):
    status = example("search_and_submit.py").main(
        skimmed, "MC15ri_a_skim", "tutorial1", tmp_path
    )
    assert status == "Done"
    listed = (tmp_path / "datasets.txt").read_text().split()
    assert listed
    assert all(lpn.endswith("/14140101/udst") for lpn in listed)
    assert "tutorial1" in capsys.readouterr().out
