"""`b2grid up` in one process, `b2grid site ...` and `b2grid stop` from others."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from b2grid.errors import SiteBanned
from b2grid.grid import Grid
from b2grid.runfile import read_run_info
from b2grid.testing import small_config_data, write_config


def b2grid(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "b2grid", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def live(config: Path) -> dict[str, tuple[str, list[str] | None]]:
    result = b2grid(config, "site", "list", "--json")
    assert result.returncode == 0, result.stderr
    return {
        r["site"]: (r["status"], r["live_workers"]) for r in json.loads(result.stdout)
    }


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "cluster.yaml", small_config_data(tmp_path / "home"))


@pytest.fixture
def up(config: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "b2grid", "--config", str(config), "up"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    home = config.parent / "home"
    deadline = time.monotonic() + 60
    while read_run_info(home) is None:
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "b2grid up did not write its run file"
        time.sleep(0.1)
    yield proc
    if proc.poll() is None:
        proc.terminate()
        proc.communicate(timeout=60)


def test_up_site_commands_and_stop(config: Path, up: subprocess.Popen[str]) -> None:
    sites = live(config)
    assert sites == {
        "KEK": ("active", ["KEK"]),
        "BNL": ("active", ["BNL"]),
        "DESY": ("active", ["DESY"]),
        "SiGNET": ("active", ["SiGNET"]),
    }
    table = b2grid(config, "site", "list")
    assert table.returncode == 0
    for column in (
        "site",
        "kind",
        "country",
        "slots",
        "live workers",
        "status",
        "SE usage",
    ):
        assert column in table.stdout
    assert "raw_data_centre" in table.stdout
    assert "1 (2 slots)" in table.stdout

    again = b2grid(config, "up")
    assert again.returncode == 1
    assert "a grid is already up for home" in again.stderr
    assert "scheduler tcp://127.0.0.1:" in again.stderr

    down = b2grid(config, "site", "down", "DESY")
    assert (down.returncode, down.stdout.strip()) == (0, "site DESY: down")
    assert live(config)["DESY"] == ("down", [])
    back = b2grid(config, "site", "up", "DESY")
    assert back.returncode == 0, back.stderr
    assert live(config)["DESY"] == ("active", ["DESY"])

    assert b2grid(config, "site", "ban", "BNL").stdout.strip() == "site BNL: banned"
    with Grid.connect(config) as grid:
        assert not grid.is_controller
        with pytest.raises(SiteBanned):
            grid.run_at("BNL", sum, [1, 2])
        assert grid.run_at("KEK", sum, [1, 2]).result(timeout=30) == 3
    assert b2grid(config, "site", "unban", "BNL").returncode == 0

    unknown = b2grid(config, "site", "down", "Zeuthen")
    assert unknown.returncode == 1
    assert (
        "unknown site 'Zeuthen'; known sites: BNL, DESY, KEK, SiGNET" in unknown.stderr
    )
    assert "Traceback" not in unknown.stderr

    stop = b2grid(config, "stop")
    assert stop.returncode == 0, stop.stderr
    out, _ = up.communicate(timeout=60)
    assert up.returncode == 0
    assert "b2grid is up" in out
    assert "b2grid is down" in out
    assert read_run_info(config.parent / "home") is None


def test_commands_without_a_grid_say_how_to_start_one(config: Path) -> None:
    stop = b2grid(config, "stop")
    assert stop.returncode == 1
    assert "no grid is running for home" in stop.stderr
    assert "b2grid up" in stop.stderr
    with pytest.raises(Exception, match="start one with `b2grid up`"):
        Grid.connect(config)
    offline = b2grid(config, "site", "list")
    assert offline.returncode == 0
    assert "no grid is up" in offline.stdout
    ban = b2grid(config, "site", "ban", "KEK")
    assert "recorded, applies when it starts" in ban.stdout
    # the recorded ban holds when the grid starts
    with Grid.from_config(config) as grid, pytest.raises(SiteBanned):
        grid.run_at("KEK", sum, [1])


def test_stale_run_file_is_not_a_running_grid(config: Path) -> None:
    home = config.parent / "home"
    (home / "run").mkdir(parents=True)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    import socket

    (home / "run" / "grid.json").write_text(
        json.dumps(
            {
                "scheduler": "tcp://127.0.0.1:9",
                "dashboard": None,
                "pid": int(dead.stdout),
                "host": socket.gethostname(),
                "started": "2026-01-01T00:00:00+00:00",
                "config": str(config),
            }
        )
    )
    result = b2grid(config, "site", "list")
    assert result.returncode == 0
    with Grid.from_config(
        config
    ) as grid:  # a stale file does not block a new controller
        assert grid.is_controller
