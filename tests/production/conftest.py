"""A small production grid: KEK, BNL, DESY (raw data centres), SiGNET; RAW kept at
KEK plus one other raw data centre; the user has the production role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from b2grid.config import parse_config
from b2grid.grid import Grid
from b2grid.storage.identity import User
from b2grid.testing import small_config_data

PRODUCER = User("prod", roles=frozenset({"production"}))
#: exp 12 runs where the true ECL gains drift by +1.5 % (sin(run/400 + 12) = 1)
EXP, RUNS = 12, "853-856"
#: fb^-1 per run: about 31,000 collisions at the default scale
LUMI = 0.1


def production_grid(home: Path) -> Grid:
    data = small_config_data(home)
    data["policies"]["copies"]["raw"] = 2
    grid = Grid(parse_config(data, "production.yaml"), user=PRODUCER)
    grid.storage_interval = 1.0  # transfers to the calibration centre happen
    grid.agent_interval = 0.2
    grid.jobs.heartbeat_interval = 0.5
    return grid


@pytest.fixture(scope="module")
def bucket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Grid]:
    """A grid whose runs were taken and processed by bucket1 (module-wide)."""
    grid = production_grid(tmp_path_factory.mktemp("prod") / "home")
    with grid:
        taking = grid.production.take_data(EXP, RUNS, LUMI)
        assert taking.wait(300) == "done", taking.stages()
        campaign = grid.production.process("bucket1", EXP, RUNS, min_mumu=60)
        assert campaign.wait(600) == "done", campaign.stages()
        yield grid
        grid.jobs.store.validate_state(cap=grid.jobs.cap)
        grid.storage.validate_state()
