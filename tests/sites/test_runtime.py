"""Sites on a real embedded Dask cluster: placement, down, up, ban."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from b2grid.config import parse_config
from b2grid.errors import GridAlreadyRunning, SiteBanned, SiteDown, UnknownSite
from b2grid.grid import Grid
from b2grid.sites.topology import SiteStatus
from b2grid.testing import small_config_data, small_grid


def where(i: int) -> tuple[int, str, str | None]:
    """Where a call ran, as its payload process is told (DIRAC's DIRACSITE)."""
    return i, os.environ["B2GRID_WORKER"], os.environ["B2GRID_SITE"] or None


def slow_where(i: int, seconds: float) -> tuple[int, str, str | None]:
    time.sleep(seconds)
    return where(i)


def test_workers_are_the_sites(grid: Grid) -> None:
    workers = grid.sites.workers()
    assert {w.site: (w.name, w.nthreads) for w in workers} == {
        "KEK": ("KEK", 2),
        "BNL": ("BNL", 1),
        "DESY": ("DESY", 1),
        "SiGNET": ("SiGNET", 1),
    }
    views = {v.site.name: v for v in grid.sites.list()}
    assert views["KEK"].live_slots == 2
    assert views["KEK"].se_used == 0


def test_tasks_run_only_at_their_site(grid: Grid) -> None:
    names = grid.sites.names
    futures = {
        i: (names[i % len(names)], grid.run_at(names[i % len(names)], where, i))
        for i in range(240)
    }
    seen: Counter[str] = Counter()
    for i, (site, future) in futures.items():
        index, worker, worker_site = future.result(timeout=60)
        assert index == i
        assert worker == site
        assert worker_site == site
        seen[site] += 1
    assert seen == dict.fromkeys(names, 60)


def test_down_site_runs_nothing_until_up(grid: Grid) -> None:
    grid.sites.down("DESY")
    assert "DESY" not in {w.site for w in grid.sites.workers()}
    assert grid.sites.get("DESY").status is SiteStatus.DOWN
    waiting = [grid.run_at("DESY", where, i) for i in range(5)]
    other = grid.run_at("BNL", where, 99).result(timeout=30)
    assert other[2] == "BNL"
    time.sleep(0.5)
    assert {f.status for f in waiting} == {"pending"}
    with pytest.raises(SiteDown, match="'DESY' is down"):
        grid.run_at("DESY", where, 0, wait_if_down=False)
    grid.sites.up("DESY")
    assert [f.result(timeout=30)[2] for f in waiting] == ["DESY"] * 5
    grid.sites.validate_state()


def test_running_work_at_a_site_taken_down_waits_for_it(grid: Grid) -> None:
    running = grid.run_at("SiGNET", slow_where, 1, 1.0)
    time.sleep(0.3)
    grid.sites.down("SiGNET")
    time.sleep(1.2)
    assert running.status == "pending"  # not lost, not moved elsewhere
    grid.sites.up("SiGNET")
    assert running.result(timeout=30)[2] == "SiGNET"


def test_banned_site_takes_no_new_work_but_finishes_old(grid: Grid) -> None:
    old = grid.run_at("BNL", slow_where, 1, 0.5)
    grid.sites.ban("BNL")
    with pytest.raises(SiteBanned, match="b2grid site unban BNL"):
        grid.run_at("BNL", where, 2)
    assert old.result(timeout=30)[2] == "BNL"
    assert "BNL" in {w.site for w in grid.sites.workers()}
    grid.sites.unban("BNL")
    assert grid.run_at("BNL", where, 3).result(timeout=30)[2] == "BNL"


def test_unknown_site_lists_known(grid: Grid) -> None:
    with pytest.raises(
        UnknownSite, match=r"did you mean 'KEK'.*known sites: BNL, DESY"
    ):
        grid.run_at("KEKK", where, 0)
    with pytest.raises(UnknownSite):
        grid.sites.down("Zeuthen")


def test_agent_restarts_a_worker_that_died(grid: Grid) -> None:
    runtime = grid.runtime
    assert runtime is not None
    assert runtime.cluster is not None
    address = next(w.address for w in runtime.live_workers() if w.site == "SiGNET")
    runtime.client.retire_workers([address], close_workers=True)  # an outage
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        live = [w for w in runtime.live_workers() if w.site == "SiGNET"]
        if live and live[0].address != address:
            break
        time.sleep(0.1)
    assert grid.run_at("SiGNET", where, 1).result(timeout=30)[2] == "SiGNET"


def test_status_changes_from_another_thread_are_safe(grid: Grid) -> None:
    errors: list[BaseException] = []

    def flap(site: str) -> None:
        try:
            for _ in range(3):
                grid.sites.down(site)
                grid.sites.up(site)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=flap, args=(s,)) for s in ("BNL", "DESY")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert grid.run_at("DESY", where, 1).result(timeout=30)[2] == "DESY"


def test_one_controller_per_home(grid: Grid) -> None:
    second = Grid(grid.config)
    with pytest.raises(GridAlreadyRunning, match="a grid is already up for home"):
        second.start()
    assert not second.running
    attached = Grid.connect(grid.config)
    try:
        assert attached.scheduler_address == grid.scheduler_address
        assert not attached.is_controller
    finally:
        attached.close()
    assert grid.run_at("KEK", where, 1).result(timeout=30)[2] == "KEK"


def test_controller_lock_is_released_on_close(tmp_path: Path) -> None:
    for _ in range(2):  # the second start works only if the first released the lock
        with small_grid(tmp_path / "home") as g:
            assert g.is_controller


@pytest.mark.parametrize("dashboard", [":0", None])
def test_the_scheduler_http_server_listens_on_loopback_only(
    tmp_path: Path, dashboard: str | None
) -> None:
    """`dashboard: ":8787"` made distributed listen on every interface; without a
    dashboard the scheduler's HTTP server (health, metrics) did too."""
    data = small_config_data(tmp_path / "home")
    data["runtime"]["dashboard"] = dashboard
    grid = Grid(parse_config(data))
    grid.storage_interval = float("inf")
    with grid:
        assert grid.runtime is not None
        assert grid.runtime.cluster is not None
        server = grid.runtime.cluster.scheduler.http_server
        hosts = {sock.getsockname()[0] for sock in server._sockets.values()}
        assert hosts == {"127.0.0.1"}
        if dashboard is not None:
            assert grid.dashboard_link is not None
            assert grid.dashboard_link.startswith("http://127.0.0.1:")
