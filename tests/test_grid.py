"""The Grid façade: which home it acts on, and what only its controller may do."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from b2grid.errors import NotController
from b2grid.grid import Grid, resolve_config
from b2grid.storage.identity import User
from b2grid.testing import (
    offline_grid,
    small_config,
    small_config_data,
    small_grid,
    write_config,
)


def test_an_explicit_home_beats_b2grid_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The config the CLI resolves with --home went through resolve_config a second
    time in Grid.connect / Grid.from_config, which read $B2GRID_HOME again."""
    config = write_config(tmp_path / "cluster.yaml", small_config_data(tmp_path / "C"))
    monkeypatch.setenv("B2GRID_HOME", str(tmp_path / "A"))
    assert resolve_config(config, None).home == tmp_path / "A"
    resolved = resolve_config(config, tmp_path / "B")
    assert resolved.home == tmp_path / "B"
    # a resolved config keeps its home, however often it is resolved again
    assert resolve_config(resolved, None).home == tmp_path / "B"
    assert Grid.from_config(resolved).home == tmp_path / "B"
    assert Grid.from_config(config, home=tmp_path / "B").home == tmp_path / "B"
    assert Grid.from_config(small_config(tmp_path / "D")).home == tmp_path / "D"


def test_an_explicit_config_beats_b2grid_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path / "cluster.yaml", small_config_data(tmp_path / "C"))
    monkeypatch.setenv("B2GRID_CONFIG", str(tmp_path / "absent.yaml"))
    assert resolve_config(config, None).source == str(config)
    other = write_config(tmp_path / "env.yaml", small_config_data(tmp_path / "E"))
    monkeypatch.setenv("B2GRID_CONFIG", str(other))
    assert resolve_config(None, None).home == tmp_path / "E"
    assert resolve_config(config, None).home == tmp_path / "C"


def test_only_the_controller_runs_the_storage_agents(tmp_path: Path) -> None:
    """An attached user moved every rule through a year of grid time of their own:
    storage.run_agents(now=+365 days) expired other users' rules."""
    with small_grid(tmp_path / "home", user=User("alice")) as controller:
        controller.storage.run_agents()  # the controller may
        attached = Grid.connect(controller.config, user=User("bob"))
        try:
            assert not attached.is_controller
            later = attached.clock.now() + timedelta(days=365)
            with pytest.raises(
                NotController, match="storage agents run in the controller only"
            ) as info:
                attached.storage.run_agents(now=later)
            assert "b2grid up" in str(info.value)
            for agent in (
                attached.storage.expirer,
                attached.storage.reaper,
                attached.storage.repairer,
                attached.storage.conveyor,
            ):
                with pytest.raises(NotController):
                    agent.run_once(later)
            with pytest.raises(NotController, match="job agent passes"):
                attached.jobs.run_once(later)  # the watchdog, on bob's time
        finally:
            attached.close()
        assert controller.storage.run_agents().expiry.expired_rules == []
    # a grid that is not started is not the controller either
    stopped = Grid(small_config(tmp_path / "home"))
    try:
        with pytest.raises(NotController):
            stopped.storage.run_agents()
    finally:
        stopped.close()


def test_a_closed_controller_no_longer_runs_agents(tmp_path: Path) -> None:
    with small_grid(tmp_path / "home") as grid:
        assert grid.storage.runs_agents
    assert not grid.storage.runs_agents


def test_the_offline_harness_stands_in_for_the_controller(tmp_path: Path) -> None:
    grid = offline_grid(tmp_path / "home")
    try:
        assert grid.storage.run_agents().reaper.freed == 0
    finally:
        grid.close()
