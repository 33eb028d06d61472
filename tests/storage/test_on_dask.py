"""Transfers as Dask tasks on the destination site's workers, in a started grid."""

from __future__ import annotations

import os
from pathlib import Path

from b2grid.storage.identity import User
from b2grid.testing import small_grid


def test_rule_copies_made_by_dask_tasks(tmp_path: Path) -> None:
    local = []
    for i in range(3):
        path = tmp_path / f"f{i}.root"
        path.write_bytes(os.urandom(20_000 + i))
        local.append(path)
    with small_grid(tmp_path / "home", user=User("alice")) as grid:
        names = grid.storage.put(
            local, "/belle/user/alice/dask", site="KEK", expression="KEK|DESY"
        )
        report = grid.storage.run_agents()
        assert report.conveyor.submitted == 3
        assert sorted(report.conveyor.done) == sorted(f"{n} -> DESY" for n in names)
        for name, path in zip(names, local, strict=True):
            record = grid.storage.catalog.file(name)
            assert set(record.available_sites) == {"KEK", "DESY"}
            with grid.storage.element("DESY").open(name) as f:
                assert f.read() == path.read_bytes()
        grid.storage.validate_state()
        # a down destination holds its transfers until it is up again
        grid.sites.down("BNL")
        rule_id = grid.storage.replicate("/belle/user/alice/dask", "BNL")
        assert grid.storage.run_agents().conveyor.submitted == 0
        grid.sites.up("BNL")
        assert len(grid.storage.run_agents().conveyor.done) == 3
        assert grid.storage.rules.rule(rule_id).state == "OK"
