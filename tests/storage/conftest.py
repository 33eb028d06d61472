"""Storage fixtures: an offline small grid (transfers inline) on a virtual clock."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from b2grid.clock import VirtualClock
from b2grid.grid import Grid
from b2grid.storage.identity import User
from b2grid.testing import offline_grid

MakeFiles = Callable[..., list[Path]]


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))


@pytest.fixture
def grid(tmp_path: Path, clock: VirtualClock) -> Iterator[Grid]:
    """Offline small grid acting as user alice; its storage invariants hold after."""
    g = offline_grid(
        tmp_path / "home", clock=clock, user=User("alice"), datablock_size=3
    )
    yield g
    g.storage.validate_state()
    g.close()


@pytest.fixture
def make_files(tmp_path: Path) -> MakeFiles:
    """Write ``n`` local files of random bytes; returns their paths."""
    counter = iter(range(10**6))

    def make(n: int, size: int = 2000, prefix: str = "f") -> list[Path]:
        folder = tmp_path / f"local{next(counter)}"
        folder.mkdir()
        out = []
        for i in range(n):
            path = folder / f"{prefix}{i:03d}.root"
            path.write_bytes(os.urandom(size + i))
            out.append(path)
        return out

    return make
