"""An external cluster with real processes on loopback: a `dask scheduler` and two
`b2grid worker --site ...` processes; tasks placed at each site run there."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from b2grid.demo import where_am_i
from b2grid.grid import Grid
from b2grid.testing import small_config_data, write_config


def _wait(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def scheduler(tmp_path: Path) -> Iterator[str]:
    file = tmp_path / "scheduler.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(file.exists, 60, "the scheduler file")
        _wait(
            lambda: json.loads(file.read_text() or "{}").get("address"), 10, "address"
        )
        yield str(json.loads(file.read_text())["address"])
    finally:
        proc.terminate()
        proc.wait(30)


def test_external_workers_serve_their_sites(tmp_path: Path, scheduler: str) -> None:
    config = write_config(
        tmp_path / "cluster.yaml",
        small_config_data(tmp_path / "home", scheduler=scheduler),
    )
    workers = {
        site: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "b2grid",
                "--config",
                str(config),
                "worker",
                "--site",
                site,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for site in ("KEK", "SiGNET")
    }
    try:
        with Grid.from_config(config) as grid:
            assert not grid.config.embedded
            _wait(
                lambda: {"KEK", "SiGNET"} <= {w.site for w in grid.sites.workers()},
                60,
                "both site workers",
            )
            live = {w.site: w for w in grid.sites.workers()}
            assert live["KEK"].nthreads == 2
            assert live["KEK"].name.startswith("KEK@")
            assert live["SiGNET"].nthreads == 1

            # functions run on an external cluster must be importable there (the
            # scheduler unpickles the graph): where_am_i lives in b2grid
            futures = [
                grid.run_at(s, where_am_i, s, i)
                for i in range(40)
                for s in ("KEK", "SiGNET")
            ]
            for future in futures:
                report = future.result(timeout=60)
                assert report.site == report.asked
                assert report.worker.startswith(f"{report.asked}@")

            # down: the worker leaves, its process waits; up: it rejoins
            grid.sites.down("SiGNET")
            assert "SiGNET" not in {w.site for w in grid.sites.workers()}
            held = grid.run_at("SiGNET", where_am_i, "SiGNET", 1000)
            time.sleep(1.0)
            assert held.status == "pending"
            assert workers["SiGNET"].poll() is None
            grid.sites.up("SiGNET")
            assert held.result(timeout=60).site == "SiGNET"
            assert grid.run_at("KEK", where_am_i, "KEK", 1).result(timeout=60).proven
    finally:
        for proc in workers.values():
            proc.terminate()
        for site, proc in workers.items():
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == 0, f"{site} worker:\n{out}"
            assert f"site {site}: worker stopped" in out


def test_worker_with_unknown_site_or_no_scheduler(
    tmp_path: Path, scheduler: str
) -> None:
    config = write_config(
        tmp_path / "cluster.yaml",
        small_config_data(tmp_path / "home", scheduler=scheduler),
    )

    def worker(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "b2grid", "--config", str(config), "worker"]
        return subprocess.run(
            [*argv, *args], capture_output=True, text=True, timeout=60, check=False
        )

    bad = worker("--site", "KEKK")
    assert bad.returncode == 1
    assert "unknown site 'KEKK' (did you mean 'KEK'?); known sites:" in bad.stderr
    dead = worker("--site", "KEK", "--scheduler", "tcp://127.0.0.1:9")
    assert dead.returncode == 1
    assert "scheduler tcp://127.0.0.1:9 is unreachable" in dead.stderr
