"""Site status persists across processes, one locked atomic change at a time."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from b2grid.errors import SiteError
from b2grid.sites.status_store import SiteStatusStore
from b2grid.sites.topology import SiteStatus


def _flip(home: str, name: str, n: int) -> None:
    store = SiteStatusStore(Path(home))
    for i in range(n):
        status = SiteStatus.BANNED if i % 2 == 0 else SiteStatus.DOWN
        store.update(lambda cur, s=status: {**cur, name: s})


def test_round_trip(tmp_path: Path) -> None:
    store = SiteStatusStore(tmp_path)
    assert store.load() == {}
    store.update(lambda cur: {**cur, "KEK": SiteStatus.DOWN})
    assert SiteStatusStore(tmp_path).load() == {"KEK": SiteStatus.DOWN}


def test_refused_change_writes_nothing(tmp_path: Path) -> None:
    store = SiteStatusStore(tmp_path)
    store.update(lambda cur: {"KEK": SiteStatus.BANNED})

    def refuse(cur: dict[str, SiteStatus]) -> dict[str, SiteStatus]:
        raise SiteError("no", "KEK")

    with pytest.raises(SiteError):
        store.update(refuse)
    assert store.load() == {"KEK": SiteStatus.BANNED}


def test_concurrent_processes_lose_no_update(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    sites = ["KEK", "BNL", "DESY", "SiGNET"]
    procs = [ctx.Process(target=_flip, args=(str(tmp_path), s, 41)) for s in sites]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    # each process ends on an odd count (41 flips, last i=40 -> banned)
    assert SiteStatusStore(tmp_path).load() == dict.fromkeys(sites, SiteStatus.BANNED)
