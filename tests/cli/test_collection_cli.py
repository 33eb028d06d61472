"""`b2grid collection ...` (and collections in `ds`) answer as the Python API does."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from b2grid.cli import cli
from b2grid.storage.catalog import Catalog
from b2grid.storage.collection import Collections
from b2grid.storage.lfn import DatasetPath
from b2grid.storage.records import DatasetMeta, NewFile
from b2grid.storage.schema import sqlite_url
from b2grid.storage.search import Searcher
from b2grid.testing import small_config_data, write_config

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def official(mc: bool, prod: int, exp: int, event: str) -> str:
    return DatasetPath(
        data_type="mc" if mc else "data", release="release-08-00-00", db=1234,
        campaign="MC15ri" if mc else "proc13", prod=prod, stream=0 if mc else None,
        exp=exp, beam_energy="4S", run=0, event_type_or_skim=event,
        data_level="mdst",
    ).lpn  # fmt: skip


HADRON12 = official(False, 29531, 12, "hadron")
HADRON14 = official(False, 29531, 14, "hadron")
TAU12 = official(False, 29532, 12, "tau")
MIXED = official(True, 24816, 1003, "mixed")
DATA_LPN = "/belle/collection/Data/proc13_hadron"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    path = write_config(tmp_path / "cluster.yaml", small_config_data(home))
    catalog = Catalog.open(sqlite_url(home))
    for lpn, skim, exp in [
        (HADRON12, "hadron", 12),
        (HADRON14, "hadron", 14),
        (TAU12, "tau", 12),
        (MIXED, None, 1003),
    ]:
        meta = DatasetMeta(
            data_type="mc" if lpn == MIXED else "data",
            campaign="MC15ri" if lpn == MIXED else "proc13",
            data_level="mdst",
            general_skim=skim,
        )
        new = [NewFile(f"f{i}.root", 100 + i, "00000001", 10, exp, i) for i in (1, 2)]
        catalog.register_files(lpn, new, "KEK", "prod", NOW, meta=meta)
    catalog.close()
    return path


def run(config: Path, *args: str, production: bool = True) -> Result:
    roles = ["--role", "production"] if production else []
    user = "prod" if production else "alice"
    return CliRunner().invoke(
        cli, ["--config", str(config), "--user", user, *roles, *args]
    )


def python_collections(config: Path) -> tuple[Catalog, Collections]:
    catalog = Catalog.open(sqlite_url(config.parent / "home"))
    return catalog, Collections(catalog)


def test_create_from_a_search_list_then_list_show_datasets(
    config: Path, tmp_path: Path
) -> None:
    found = tmp_path / "hadron.list"
    search = run(
        config, "ds", "search", "dataset", "--general-skim", "hadron",
        "--output", str(found),
    )  # fmt: skip
    assert search.exit_code == 0, search.output
    created = run(
        config, "collection", "create", "proc13_hadron", TAU12,
        "--datasets-from", str(found), "--description", "proc13 hadron and tau",
        "--lumi", "42.5",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    assert f"collection {DATA_LPN}: 3 dataset(s), 6 file(s)" in created.stdout
    mc = run(
        config, "collection", "create", "/belle/collection/MC/mixed", MIXED,
        "--description", "mixed",
    )  # fmt: skip
    assert mc.exit_code == 0, mc.output

    catalog, colls = python_collections(config)
    try:
        record = colls.get(DATA_LPN)
        listed = [c.lpn for c in colls.list()]
        data_only = [c.lpn for c in colls.list("data")]
    finally:
        catalog.close()
    assert record.datasets == (TAU12, HADRON12, HADRON14)
    assert record.luminosity == 42.5
    assert record.created_by == "prod"

    plain = run(config, "collection", "list", "--plain")
    assert plain.stdout.splitlines() == listed
    only = run(config, "collection", "list", "--data-type", "data", "--plain")
    assert only.stdout.splitlines() == data_only == [DATA_LPN]
    table = run(config, "collection", "list")
    assert "2 collection(s)" in table.stdout
    assert "42.5" in table.stdout

    for name in ("proc13_hadron", DATA_LPN):
        shown = run(config, "collection", "show", name)
        assert shown.exit_code == 0, shown.output
        lines = shown.stdout.splitlines()
        assert f"lpn            {DATA_LPN}" in lines
        assert "datasets       3" in lines
        assert "files          6" in lines
        assert "events         60" in lines
        assert "luminosity     42.5 fb^-1" in lines
        assert "description    proc13 hadron and tau" in lines
        members = run(config, "collection", "datasets", name, "--plain")
        assert members.stdout.splitlines() == list(record.datasets)
    members_table = run(config, "collection", "datasets", "proc13_hadron")
    assert HADRON14 in members_table.stdout
    assert members_table.exit_code == 0


def test_ds_commands_accept_a_collection(config: Path) -> None:
    created = run(
        config, "collection", "create", "pair", HADRON12, TAU12,
        "--description", "two",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    lpn = "/belle/collection/Data/pair"
    meta = run(config, "ds", "meta", lpn)
    assert meta.exit_code == 0, meta.output
    assert "kind           collection" in meta.stdout.splitlines()
    assert "datasets       2" in meta.stdout.splitlines()
    listing = run(config, "ds", "list", lpn)
    assert listing.exit_code == 0, listing.output
    expected = [f"{ds}/sub00/f{i}.root" for ds in (HADRON12, TAU12) for i in (1, 2)]
    assert listing.stdout.splitlines() == expected
    under = run(config, "ds", "list", "/belle/collection/Data")
    assert under.stdout.splitlines() == [lpn]
    rep = run(config, "ds", "rep", lpn, "--site", "DESY")
    assert rep.exit_code == 0, rep.output
    assert [line.split(": ")[1] for line in rep.stdout.splitlines()] == [
        f"a copy of {HADRON12} at DESY (transfers start when the grid is up)",
        f"a copy of {TAU12} at DESY (transfers start when the grid is up)",
    ]


@pytest.mark.parametrize("flag", ["--production", "--prod_id", "--production-id"])
def test_search_by_production_agrees_with_python(config: Path, flag: str) -> None:
    result = run(config, "ds", "search", "dataset", flag, "29531", "--plain")
    assert result.exit_code == 0, result.output
    catalog = Catalog.open(sqlite_url(config.parent / "home"))
    try:
        expected = list(Searcher(catalog).search(production=29531).names)
    finally:
        catalog.close()
    assert result.stdout.splitlines() == expected == [HADRON12, HADRON14]


def test_users_may_not_create_and_names_are_not_reused(config: Path) -> None:
    refused = run(
        config, "collection", "create", "mine", HADRON12, "--description", "x",
        production=False,
    )  # fmt: skip
    assert refused.exit_code == 1
    assert "user 'alice' may not write /belle/collection/Data/mine" in refused.stderr
    assert "role 'production'" in refused.stderr
    first = run(config, "collection", "create", "c", HADRON12, "--description", "x")
    assert first.exit_code == 0, first.output
    again = run(config, "collection", "create", "c", TAU12, "--description", "y")
    assert again.exit_code == 1
    assert "/belle/collection/Data/c already exists; names are never reused" in (
        again.stderr
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["x", "/belle/Data/nope"], 1, "no dataset /belle/Data/nope in the catalog"),
        (["x", HADRON12, MIXED], 2, f"mixes data and mc datasets ({HADRON12} is"),
        (["x"], 2, "bad collection 'x': no datasets given"),
        (["my set", HADRON12], 2, "bad collection 'my set': collection name"),
        (["/belle/collection/Data/a/b", HADRON12], 2, "a collection LPN is"),
        (["x", HADRON12, "--datasets-from", "/nonexistent/list"], 2,
         "cannot read the list file"),
        (["x", HADRON12, "--lumi", "-1"], 2, "-1"),
        (["x", HADRON12, "--data-type", "sim"], 2, "'sim' is not one of"),
    ],
)  # fmt: skip
def test_bad_input_exits_with_a_clear_line(
    config: Path, args: list[str], code: int, message: str
) -> None:
    result = run(config, "collection", "create", *args, "--description", "d")
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_unknown_collection_exits_1(config: Path) -> None:
    for command in ("show", "datasets"):
        result = run(config, "collection", command, "nope")
        assert result.exit_code == 1
        assert "no collection nope in the catalog" in result.stderr
    meta = run(config, "ds", "meta", "/belle/collection/MC/nope")
    assert meta.exit_code == 1
    assert "no collection /belle/collection/MC/nope" in meta.stderr
    empty = run(config, "collection", "list")
    assert empty.stdout.strip() == "no collections"
