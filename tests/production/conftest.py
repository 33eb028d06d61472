"""A small production grid whose runs were taken and processed by one bucket
(module-wide: several tests read the same campaign)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from b2grid.grid import Grid
from b2grid.testing import production_grid

#: exp 12 runs where the true ECL gains drift by +1.5 % (sin(run/400 + 12) = 1)
EXP, RUNS = 12, "853-856"
#: fb^-1 per run: about 31,000 collisions at the default scale
LUMI = 0.1


@pytest.fixture(scope="module")
def bucket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Grid]:
    """A grid whose runs 853-856 were taken and processed by bucket1."""
    grid = production_grid(tmp_path_factory.mktemp("prod") / "home")
    with grid:
        taking = grid.production.take_data(EXP, RUNS, LUMI)
        assert taking.wait(300) == "done", taking.stages()
        campaign = grid.production.process("bucket1", EXP, RUNS, min_mumu=60)
        assert campaign.wait(600) == "done", campaign.stages()
        yield grid
        grid.jobs.store.validate_state(cap=grid.jobs.cap)
        grid.storage.validate_state()
