"""cluster.yaml validation: each malformed case gets one clear line naming the field."""

from __future__ import annotations

import copy
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from b2grid.cli import cli
from b2grid.config import (
    RuntimeConfig,
    format_size,
    load_config,
    parse_config,
    parse_size,
    shipped_config_path,
)
from b2grid.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
Mutation = Callable[[dict[str, Any]], None]


def _default() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


CASES: list[tuple[str, Mutation, str, str]] = [
    (
        "bad size",
        lambda d: d["sites"][3]["storage"].__setitem__("capacity", "50 GG"),
        "sites[3].storage.capacity",
        "'50 GG' is not a size like '50 GB'",
    ),
    (
        "negative slots",
        lambda d: d["sites"][2].__setitem__("slots", -4),
        "sites[2].slots",
        "-4 is not a number of job slots",
    ),
    (
        "duplicate site",
        lambda d: d["sites"][5].__setitem__("name", "GridKa"),
        "sites[5].name",
        "duplicate site name 'GridKa' (also sites[3])",
    ),
    (
        "unknown top-level key",
        lambda d: d.__setitem__("schedular", "local"),
        "schedular",
        "unknown key 'schedular' (did you mean 'scheduler'?)",
    ),
    (
        "unknown site key",
        lambda d: d["sites"][1].__setitem__("slotz", 3),
        "sites[1].slotz",
        "unknown key 'slotz' (did you mean 'slots'?)",
    ),
    (
        "storage URL without protocol",
        lambda d: d["sites"][0]["storage"].__setitem__("url", "/data/se/KEK"),
        "sites[0].storage.url",
        "'/data/se/KEK' has no fsspec protocol",
    ),
    (
        "storage URL with an unknown protocol",
        lambda d: d["sites"][0]["storage"].__setitem__("url", "fiel:///data/se"),
        "sites[0].storage.url",
        "unknown fsspec protocol 'fiel' (did you mean 'file'?)",
    ),
    (
        "malformed scheduler address",
        lambda d: d.__setitem__("scheduler", "tcp//host"),
        "scheduler",
        "is neither 'local' nor a scheduler address",
    ),
    (
        "unknown site kind",
        lambda d: d["sites"][1].__setitem__("kind", "tier1"),
        "sites[1].kind",
        "'tier1' is not allowed",
    ),
    (
        "missing field",
        lambda d: d["sites"][4].pop("country"),
        "sites[4].country",
        "missing",
    ),
    (
        "role at a grid site",
        lambda d: d["roles"].__setitem__("data_taking", "Napoli"),
        "roles.data_taking",
        "'Napoli' is a grid site; it must be a raw_data_centre",
    ),
    (
        "role at an unknown site",
        lambda d: d["roles"].__setitem__("prompt_calibration", "BNLL"),
        "roles.prompt_calibration",
        "'BNLL' is not a declared site (did you mean 'BNL'?)",
    ),
    (
        "no sites",
        lambda d: d.__setitem__("sites", []),
        "sites",
        "no sites",
    ),
    (
        "malformed dashboard address",
        lambda d: d["runtime"].__setitem__("dashboard", "localhost:http"),
        "runtime.dashboard",
        "'localhost:http' is not a dashboard address like '127.0.0.1:8787'",
    ),
    (
        "bad site name",
        lambda d: d["sites"][0].__setitem__("name", "KEK/../x"),
        "sites[0].name",
        "is not a site name",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "path", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_api_names_the_field(mutate: Mutation, path: str, problem: str) -> None:
    data = copy.deepcopy(_default())
    mutate(data)
    with pytest.raises(ConfigError) as info:
        parse_config(data, "cluster.yaml")
    assert info.value.file == "cluster.yaml"
    assert info.value.path == path
    assert problem in info.value.problem
    assert str(info.value).startswith(f"cluster.yaml: {path}: ")


@pytest.mark.parametrize(
    ("mutate", "path", "problem"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_cli_one_line_exit_2(
    tmp_path: Path, mutate: Mutation, path: str, problem: str
) -> None:
    data = copy.deepcopy(_default())
    mutate(data)
    file = tmp_path / "cluster.yaml"
    file.write_text(yaml.safe_dump(data, sort_keys=False))
    result = CliRunner().invoke(cli, ["config", "check", str(file)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert f"{file}: {path}: " in lines[0]
    assert problem in lines[0]
    assert "Traceback" not in result.output


def test_missing_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["config", "check", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml: no such file" in result.output
    assert "b2grid config init" in result.output


def test_yaml_syntax_error(tmp_path: Path) -> None:
    file = tmp_path / "cluster.yaml"
    file.write_text("home: /tmp/x\nsites: [\n  - name: KEK\n")
    with pytest.raises(ConfigError, match=r"line \d+, column \d+: not valid YAML"):
        load_config(file)


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    file = tmp_path / "cluster.yaml"
    file.write_text((ROOT / "cluster.yaml").read_text() + "\nscheduler: local\n")
    with pytest.raises(ConfigError, match="duplicate key 'scheduler'"):
        load_config(file)


def test_empty_and_non_mapping(tmp_path: Path) -> None:
    file = tmp_path / "cluster.yaml"
    file.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_config(file)
    file.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(file)


def test_unreachable_scheduler(tmp_path: Path) -> None:
    data = _default()
    data["scheduler"] = f"tcp://127.0.0.1:{_closed_port()}"
    file = tmp_path / "cluster.yaml"
    file.write_text(yaml.safe_dump(data))
    load_config(file)  # well-formed: reachability is checked separately
    result = CliRunner().invoke(cli, ["config", "check", str(file)])
    assert result.exit_code == 2
    assert f"{file}: scheduler: tcp://127.0.0.1:" in result.output
    assert "is unreachable (connection refused)" in result.output
    offline = CliRunner().invoke(cli, ["config", "check", "--offline", str(file)])
    assert offline.exit_code == 0, offline.output


def test_shipped_default_is_valid_and_is_the_root_file() -> None:
    cfg = load_config(ROOT / "cluster.yaml")
    assert shipped_config_path().read_text() == (ROOT / "cluster.yaml").read_text()
    kinds = {s.name: s.kind for s in cfg.sites}
    for rdc in ("KEK", "BNL", "DESY", "GridKa", "CNAF", "IN2P3", "UVic"):
        assert kinds[rdc] == "raw_data_centre"
    assert "grid" in kinds.values()
    assert (cfg.roles.data_taking, cfg.roles.prompt_calibration) == ("KEK", "BNL")
    assert cfg.roles.official_calibration == "DESY"
    assert cfg.policies.user_output.copies == 2
    assert cfg.policies.user_output.lifetime_days == 90
    assert cfg.policies.datablock_size == 1000
    assert cfg.policies.reschedule_cap == 3
    assert cfg.embedded


def test_config_check_ok_and_init(tmp_path: Path) -> None:
    target = tmp_path / "mine.yaml"
    runner = CliRunner()
    assert runner.invoke(cli, ["config", "init", str(target)]).exit_code == 0
    again = runner.invoke(cli, ["config", "init", str(target)])
    assert again.exit_code == 1
    assert "exists" in again.output
    result = runner.invoke(cli, ["config", "check", str(target)])
    assert result.exit_code == 0, result.output
    assert "OK: 10 sites (7 raw data centres, 3 grid), 21 job slots" in result.output


def test_relative_home_is_relative_to_the_file(tmp_path: Path) -> None:
    data = _default()
    data["home"] = "gridhome"
    file = tmp_path / "cluster.yaml"
    file.write_text(yaml.safe_dump(data))
    assert load_config(file).home == tmp_path / "gridhome"


@given(st.integers(min_value=0, max_value=10**18))
def test_sizes_round_trip(n: int) -> None:
    assert parse_size(n) == n
    assert parse_size(f"{n} B") == n
    assert parse_size(f"{n}KiB") == n * 1024
    text = format_size(n)
    assert abs(parse_size(text) - n) <= max(n * 0.06, 1)


@pytest.mark.parametrize(
    "bad", ["", "GB", "5 GG", "-3 GB", "1e3 GB", True, -1, 2.5, None]
)
def test_bad_sizes(bad: object) -> None:
    with pytest.raises(ValueError, match="is not a size like '50 GB'"):
        parse_size(bad)


def test_the_dashboard_listens_on_loopback_unless_a_host_is_named() -> None:
    """`dashboard: ":8787"` made distributed listen on every interface."""
    assert RuntimeConfig().dashboard == "127.0.0.1:8787"
    assert load_config(shipped_config_path()).runtime.dashboard == "127.0.0.1:8787"
    data = _default()
    for address, effective in [
        (":8787", "127.0.0.1:8787"),
        ("8787", "127.0.0.1:8787"),
        (":0", "127.0.0.1:0"),
        ("0.0.0.0:8787", "0.0.0.0:8787"),
        ("[::1]:8787", "[::1]:8787"),
        (None, None),
    ]:
        data["runtime"]["dashboard"] = address
        assert parse_config(data).runtime.dashboard == effective, address
    comment = (ROOT / "cluster.yaml").read_text()
    assert '"0.0.0.0:8787" exposes it on every interface' in comment
