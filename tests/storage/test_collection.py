"""Collections: made once by production, never changed, never renamed; expand."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from b2grid.errors import (
    BadArgument,
    BadCollection,
    BadLFN,
    CollectionImmutable,
    NameReused,
    NotRegistered,
    PermissionDenied,
)
from b2grid.storage.catalog import Catalog
from b2grid.storage.collection import Collections, collection_lpn
from b2grid.storage.identity import User
from b2grid.storage.lfn import DatasetPath
from b2grid.storage.records import DatasetMeta, NewFile

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
PROD = User("prod", roles=frozenset({"production"}))
ALICE = User("alice")


def official(data_type: str, prod: int, exp: int, event: str = "hadron") -> str:
    mc = data_type == "mc"
    return DatasetPath(
        data_type="mc" if mc else "data", release="release-08-00-00", db=1234,
        campaign="MC15ri" if mc else "proc13", prod=prod, stream=0 if mc else None,
        exp=exp, beam_energy="4S", run=0, event_type_or_skim=event,
        data_level="mdst",
    ).lpn  # fmt: skip


DATA12 = official("data", 29531, 12)
DATA14 = official("data", 29531, 14)
DATA16 = official("data", 29532, 16)
MIXED = official("mc", 24816, 1003, "mixed")
USER_DS = "/belle/user/alice/ana"


@pytest.fixture
def catalog() -> Iterator[Catalog]:
    cat = Catalog.open("sqlite://")
    for i, lpn in enumerate([DATA12, DATA14, DATA16, MIXED, USER_DS]):
        # the MC dataset carries no data_type: its namespace says mc
        meta = None if lpn == MIXED else DatasetMeta(data_type="data")
        new = [NewFile(f"f{j}.root", 100 * (i + 1), "00000001", 10) for j in range(2)]
        cat.register_files(lpn, new, "KEK", "prod", NOW, meta=meta)
    yield cat
    cat.close()


@pytest.fixture
def colls(catalog: Catalog) -> Collections:
    return Collections(catalog, user=PROD)


def make(colls: Collections, name: str, datasets: list[str], **kw: Any) -> Any:
    kw.setdefault("description", "for tests")
    return colls.create(name, datasets, now=NOW, **kw)


def test_create_get_list_and_datasets(colls: Collections) -> None:
    record = make(
        colls, "/belle/collection/Data/proc13_hadron", [DATA14, DATA12],
        description="proc13 hadron, exp 12 and 14", luminosity=12.5,
    )  # fmt: skip
    assert record.lpn == "/belle/collection/Data/proc13_hadron"
    assert (record.name, record.data_type) == ("proc13_hadron", "data")
    assert record.description == "proc13 hadron, exp 12 and 14"
    assert (record.luminosity, record.created_by) == (12.5, "prod")
    assert record.created.startswith("2026-01-01")
    # in the order given; totals over both datasets' files
    assert record.datasets == (DATA14, DATA12)
    assert (record.nfiles, record.size, record.events) == (4, 600, 40)
    assert colls.get(record.lpn) == record
    assert colls.get("proc13_hadron") == record  # a bare name found in Data
    assert colls.get("proc13_hadron", "data") == record
    assert colls.datasets_of(record.lpn) == [DATA14, DATA12]
    # a bare name takes the data type of its datasets
    mc = make(colls, "MC15ri_mixed", [MIXED])
    assert mc.lpn == "/belle/collection/MC/MC15ri_mixed"
    assert mc.luminosity is None
    assert [c.lpn for c in colls.list()] == [record.lpn, mc.lpn]
    assert colls.list("mc") == [mc]
    assert colls.list("data") == [record]


def test_collections_are_immutable(colls: Collections, catalog: Catalog) -> None:
    lpn = make(colls, "hadron", [DATA12]).lpn
    with pytest.raises(CollectionImmutable, match="create a new collection") as info:
        colls.add(lpn, DATA14)
    assert isinstance(info.value, PermissionError)
    assert info.value.lpn == lpn
    with pytest.raises(CollectionImmutable, match=f"cannot remove {DATA12}"):
        colls.remove(lpn, DATA12)
    # the only public verbs that write are create and delete
    verbs = {n for n in dir(Collections) if not n.startswith("_")}
    assert verbs == {
        "add", "create", "datasets_of", "delete", "expand", "get", "is_collection",
        "list", "remove",
    }  # fmt: skip
    with pytest.raises(NameReused, match="already exists"):
        make(colls, "hadron", [DATA14])
    with pytest.raises(NameReused):
        make(colls, lpn, [DATA12])
    assert colls.datasets_of(lpn) == [DATA12]
    # withdrawn: gone from listings, and the name is never reused
    colls.delete(lpn, now=NOW)
    assert colls.list() == []
    assert not colls.is_collection(lpn)
    with pytest.raises(NotRegistered, match=f"no collection {lpn}"):
        colls.get(lpn)
    with pytest.raises(NameReused, match="was used before and deleted") as reused:
        make(colls, "hadron", [DATA12])
    assert reused.value.deleted
    assert catalog.name_used(lpn)


def test_only_production_creates(colls: Collections, catalog: Catalog) -> None:
    with pytest.raises(PermissionDenied) as info:
        make(colls, "mine", [DATA12], user=ALICE)
    message = str(info.value)
    assert "user 'alice' may not write /belle/collection/Data/mine" in message
    assert "role 'production'" in message
    assert not catalog.name_used("/belle/collection/Data/mine")
    # with the LPN given, refused before the datasets are even looked at
    with pytest.raises(PermissionDenied):
        make(colls, "/belle/collection/MC/mine", ["/belle/MC/nope"], user=ALICE)
    lpn = make(colls, "ok", [DATA12]).lpn
    with pytest.raises(PermissionDenied, match="deleting needs"):
        colls.delete(lpn, user=ALICE, now=NOW)
    admin = User("root", roles=frozenset({"admin"}))
    assert make(colls, "by_admin", [DATA12], user=admin).created_by == "root"


def test_expand_mixes_datasets_and_collections(
    colls: Collections, catalog: Catalog
) -> None:
    both = make(colls, "both", [DATA12, DATA14]).lpn
    mc = make(colls, "mc", [MIXED]).lpn
    got = colls.expand([DATA16, both, DATA12, mc, both, DATA16])
    assert got == [DATA16, DATA12, DATA14, MIXED]
    assert colls.expand([]) == []
    # a collection is accepted where datasets are: also to make a collection
    bigger = make(colls, "bigger", [both, DATA16, DATA12])
    assert bigger.datasets == (DATA12, DATA14, DATA16)
    with pytest.raises(NotRegistered, match="no dataset /belle/Data/nope") as info:
        colls.expand([DATA12, "/belle/Data/nope"])
    assert info.value.name == "/belle/Data/nope"
    with pytest.raises(NotRegistered, match="no collection /belle/collection/MC/x"):
        colls.expand(["/belle/collection/MC/x"])
    with pytest.raises(BadLFN):
        colls.expand(["belle/Data/x"])
    # a dataset deleted after the collection was made is named
    catalog.mark_deleted(DATA14, NOW)
    with pytest.raises(NotRegistered, match=f"{DATA14} .*in collection {both}"):
        colls.expand([both])
    assert colls.get(both).nfiles == 2  # totals count the live datasets


@pytest.mark.parametrize(
    ("name", "datasets", "kwargs", "error", "match"),
    [
        ("x", ["/belle/Data/nope"], {}, NotRegistered, "no dataset /belle/Data/nope"),
        ("x", [DATA12, MIXED], {}, BadCollection,
         f"mixes data and mc datasets \\({DATA12} is data, {MIXED} is mc\\)"),
        ("/belle/collection/MC/x", [DATA12], {}, BadCollection,
         f"a mc collection cannot hold {DATA12} \\(data\\)"),
        ("x", [MIXED], {"data_type": "data"}, BadCollection, "cannot hold"),
        ("x", [], {}, BadCollection, "no datasets given"),
        ("x", [USER_DS], {}, BadCollection, f"{USER_DS} is not an official dataset"),
        ("my set", [DATA12], {}, BadCollection, "'my set'.*character ' '"),
        ("/belle/collection/Other/x", [DATA12], {}, BadCollection,
         "/belle/collection/Data/<name> or"),
        ("/belle/collection/Data/a/b", [DATA12], {}, BadCollection, "LPN is"),
        ("/belle/collection/Data/a b", [DATA12], {}, BadCollection, "character"),
        ("x", [DATA12], {"description": " "}, BadCollection, "give a description"),
        ("x", [DATA12], {"luminosity": -1.0}, BadCollection, "fb\\^-1 >= 0"),
        ("x", [DATA12], {"luminosity": float("nan")}, BadCollection, "fb"),
        ("x", [DATA12], {"data_type": "sim"}, BadCollection, "'sim' is not data"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_naming_the_thing(
    colls: Collections,
    catalog: Catalog,
    name: str,
    datasets: list[str],
    kwargs: dict[str, Any],
    error: type[Exception],
    match: str,
) -> None:
    with pytest.raises(error, match=match) as info:
        make(colls, name, datasets, **kwargs)
    if isinstance(info.value, BadCollection):
        assert info.value.exit_code == 2
        assert isinstance(info.value, ValueError)
    assert colls.list() == []


def test_a_dataset_of_another_data_type_is_refused(catalog: Catalog) -> None:
    lpn = "/belle/MC/tagged"
    catalog.register_files(
        lpn, [NewFile("f.root", 1, "00000001")], "KEK", "prod", NOW,
        meta=DatasetMeta(data_type="user"),
    )  # fmt: skip
    with pytest.raises(BadCollection, match=f"{lpn} has data type user"):
        Collections(catalog, user=PROD).create("u", [lpn], description="d", now=NOW)


def test_names_lookups_and_defaults(colls: Collections, catalog: Catalog) -> None:
    assert collection_lpn("a", "mc") == "/belle/collection/MC/a"
    with pytest.raises(BadCollection, match="give its data type"):
        collection_lpn("a")
    with pytest.raises(BadCollection, match="is a Data collection, not mc"):
        collection_lpn("/belle/collection/Data/a", "mc")
    make(colls, "twin", [DATA12])
    make(colls, "/belle/collection/MC/twin", [MIXED])
    with pytest.raises(BadCollection, match=r"both .* exist; give the data type"):
        colls.get("twin")
    assert colls.get("twin", "mc").datasets == (MIXED,)
    with pytest.raises(NotRegistered, match="no collection nope"):
        colls.get("nope")
    with pytest.raises(BadArgument, match=r"^user: say who acts"):
        Collections(catalog).create("y", [DATA12], description="d", now=NOW)
    with pytest.raises(BadArgument, match=r"^now: say when"):
        Collections(catalog, user=PROD).create("y", [DATA12], description="d")


def test_collections_survive_reopening(tmp_path: Path) -> None:
    from b2grid.storage.schema import sqlite_url

    url = sqlite_url(tmp_path / "home")
    catalog = Catalog.open(url)
    catalog.register_files(DATA12, [NewFile("f.root", 5, "00000001")], "KEK", "p", NOW)
    Collections(catalog, user=PROD).create("c", [DATA12], description="d", now=NOW)
    catalog.close()
    again = Catalog.open(url)
    try:
        assert Collections(again).datasets_of("c") == [DATA12]
    finally:
        again.close()


def test_the_grid_offers_collections(tmp_path: Path) -> None:
    from b2grid.testing import offline_grid

    grid = offline_grid(tmp_path / "home", user=PROD)
    try:
        grid.storage.catalog.register_files(
            MIXED, [NewFile("f.root", 10, "00000001")], "KEK", "prod",
            grid.clock.now(),
        )  # fmt: skip
        record = grid.collections.create("mc", [MIXED], description="d")
        assert record.created_by == "prod"
        assert grid.collections.expand([record.lpn]) == [MIXED]
    finally:
        grid.close()
