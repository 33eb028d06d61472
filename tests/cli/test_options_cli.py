"""The global options: an option given beats its environment variable, and `-v`
says which grid home a command acts on and where that came from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from b2grid.cli import cli
from b2grid.grid import Grid
from b2grid.testing import small_config_data, small_grid, write_config


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A cluster.yaml whose own home is C."""
    return write_config(tmp_path / "cluster.yaml", small_config_data(tmp_path / "C"))


@pytest.fixture
def grid_a(tmp_path: Path) -> Iterator[Grid]:
    """A grid up (controller in this process) for home A."""
    with small_grid(tmp_path / "A") as grid:
        yield grid


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def live(result: Result) -> dict[str, list[str] | None]:
    assert result.exit_code == 0, result.output
    return {r["site"]: r["live_workers"] for r in json.loads(result.stdout)}


def test_home_beats_b2grid_home_pointing_at_a_running_grid(
    config: Path, grid_a: Grid, tmp_path: Path
) -> None:
    """`--home B` with $B2GRID_HOME=A acted on the grid up for A."""
    env = {"B2GRID_HOME": str(tmp_path / "A")}
    on_a = run("--config", str(config), "site", "list", "--json", env=env)
    assert live(on_a)["KEK"] == ["KEK"]  # attached to A: live workers

    on_b = run(
        "--config", str(config), "--home", str(tmp_path / "B"), "-v",
        "site", "list", "--json", env=env,
    )  # fmt: skip
    assert live(on_b)["KEK"] is None  # no grid is up for B: live workers unknown
    assert f"b2grid: grid home {tmp_path / 'B'} (from --home)" in on_b.stderr
    assert str(tmp_path / "A") not in on_b.stderr

    put = tmp_path / "f.root"
    put.write_bytes(b"x" * 100)
    lpn = "/belle/user/alice/homes"
    added = run(
        "--config", str(config), "--home", str(tmp_path / "B"), "--user", "alice",
        "ds", "put", str(put), lpn, "--site", "KEK", env=env,
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert (tmp_path / "B" / "se" / "KEK").is_dir()
    assert not grid_a.storage.catalog.name_used(lpn)


def test_verbose_says_where_the_home_and_config_came_from(
    config: Path, tmp_path: Path
) -> None:
    env = {"B2GRID_HOME": str(tmp_path / "A"), "B2GRID_CONFIG": str(config)}
    from_env = run("-v", "site", "list", env=env)
    assert from_env.exit_code == 0, from_env.output
    assert from_env.stderr.splitlines()[0] == (
        f"b2grid: grid home {tmp_path / 'A'} (from $B2GRID_HOME); "
        f"config {config} (from $B2GRID_CONFIG)"
    )
    from_file = run("--config", str(config), "-v", "site", "list")
    assert (
        f"grid home {tmp_path / 'C'} (from `home` in the config); "
        f"config {config} (from --config)"
    ) in from_file.stderr
    quiet = run("--config", str(config), "site", "list", env=env)
    assert quiet.exit_code == 0
    assert "grid home" not in quiet.stderr  # only when asked


def test_config_beats_b2grid_config(config: Path, tmp_path: Path) -> None:
    env = {"B2GRID_CONFIG": str(tmp_path / "absent.yaml")}
    result = run("--config", str(config), "-v", "config", "check", "--offline", env=env)
    assert result.exit_code == 0, result.output
    assert f"home {tmp_path / 'C'}" in result.stdout
    checked = run(
        "--config", str(config), "--home", str(tmp_path / "B"),
        "config", "check", "--offline",
    )  # fmt: skip
    assert f"home {tmp_path / 'B'}" in checked.stdout  # the home commands would use
    refused = run("site", "list", env=env)
    assert refused.exit_code == 2
    assert "absent.yaml: no such file" in refused.output
