"""Shared fixtures: a small embedded grid in a temporary home."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from b2grid.grid import Grid
from b2grid.testing import small_grid


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests name their config and home; a user's or CI's settings must not leak in."""
    for var in ("B2GRID_HOME", "B2GRID_CONFIG"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def grid(tmp_path: Path) -> Iterator[Grid]:
    """A started small grid (KEK 2 slots, BNL, DESY, SiGNET 1 slot each)."""
    with small_grid(tmp_path / "home") as g:
        yield g
        g.sites.validate_state()
