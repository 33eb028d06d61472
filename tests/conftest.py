"""Shared fixtures: a small embedded grid in a temporary home."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from b2grid.grid import Grid
from b2grid.testing import small_grid


@pytest.fixture(autouse=True, scope="session")
def _hermetic_env() -> Iterator[None]:
    """Tests name their config and home; a user's or CI's settings must not leak in.

    Session-wide, so that module-scoped grids (started before any function-scoped
    fixture runs) do not pick up ``$B2GRID_HOME`` either.
    """
    saved = {v: os.environ.pop(v) for v in _SETTINGS if v in os.environ}
    yield
    os.environ.update(saved)


_SETTINGS = ("B2GRID_HOME", "B2GRID_CONFIG")


@pytest.fixture
def grid(tmp_path: Path) -> Iterator[Grid]:
    """A started small grid (KEK 2 slots, BNL, DESY, SiGNET 1 slot each)."""
    with small_grid(tmp_path / "home") as g:
        yield g
        g.sites.validate_state()
