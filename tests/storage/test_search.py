"""The dataset searcher against an independent filter, bad runs, and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, text

from b2grid.errors import BadLFN, BadQuery, UnknownValue
from b2grid.storage.catalog import Catalog
from b2grid.storage.lfn import DatasetPath
from b2grid.storage.records import DatasetMeta, NewFile
from b2grid.storage.schema import sqlite_url
from b2grid.storage.search import (
    KNOWN_FIELDS,
    ExcludedRun,
    Searcher,
    SearchQuery,
)

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)

VOCABULARY: dict[str, list[Any]] = {
    "data_type": ["data", "mc"],
    "campaign": ["proc12", "proc13", "MC15ri", "MC15rd", "bucket23"],
    "production": [24816, 29531, None],
    "beam_energy": ["4S", "4S_offres", "5S"],
    "mc_event_type": ["mixed", "charged", "uubar", None],
    "bg_level": ["BGx0", "BGx1"],
    "data_level": ["mdst", "udst", "cdst", "raw"],
    "general_skim": ["hadron", "lowMulti", None],
    "skim_code": ["10601300", "11180100", None],
    "release": ["release-06-00-08", "release-08-00-00"],
    "global_tag": ["data_proc12", "mc_default", None],
}
#: values a query may ask for: the vocabulary, wildcards, and near misses
QUERY_VALUES: dict[str, list[Any]] = {
    "data_type": ["data", "mc"],
    "campaign": ["proc12", "MC15ri", "proc1?", "MC15*", "*", "prc12", "PROC*"],
    "production": [24816, 29531, 1],
    "beam_energy": ["4S", "5S", "4S*", "6S"],
    "mc_event_type": ["mixed", "uubar", "*bar", "ccbar"],
    "bg_level": ["BGx0", "BGx1"],
    "data_level": ["mdst", "udst", "raw"],
    "general_skim": ["hadron", "lowMulti", "had*", "tau"],
    "skim_decay": ["10601300", "11180100", "12345678"],
    "release": ["release-08-00-00", "release-0?-00-08", "release-09-00-00"],
    "global_tag": ["data_proc12", "mc_*", "nope"],
}

EXPS = st.integers(0, 3)
RUNS = st.integers(0, 5)


@dataclass(frozen=True)
class Spec:
    """A dataset to create: its metadata and its files' (exp, run, size, events)."""

    lpn: str
    meta: DatasetMeta
    files: tuple[tuple[int, int, int, int | None], ...]


@st.composite
def dataset_specs(draw: st.DrawFn, index: int) -> Spec:
    chosen = {
        name: draw(st.sampled_from(values)) for name, values in VOCABULARY.items()
    }
    if draw(st.booleans()):
        low, high = sorted(draw(st.lists(st.integers(0, 20), min_size=2, max_size=2)))
        chosen.update(exp_low=low, exp_high=high)
    if draw(st.booleans()):
        low, high = sorted(draw(st.lists(st.integers(0, 40), min_size=2, max_size=2)))
        chosen.update(run_low=low, run_high=high)
    files = draw(
        st.lists(
            st.tuples(
                EXPS, RUNS, st.integers(1, 10**6), st.none() | st.integers(0, 99)
            ),
            max_size=4,
        )
    )
    return Spec(f"/belle/MC/gen/ds{index:03d}", DatasetMeta(**chosen), tuple(files))


@st.composite
def catalogs(draw: st.DrawFn) -> tuple[list[Spec], dict[tuple[int, int], str]]:
    n = draw(st.integers(0, 10))
    specs = [draw(dataset_specs(i)) for i in range(n)]
    quality = draw(
        st.dictionaries(
            st.tuples(EXPS, RUNS),
            st.sampled_from(["good", "bad", "bad", "unknown"]),
            max_size=12,
        )
    )
    return specs, quality


@st.composite
def queries(draw: st.DrawFn) -> SearchQuery:
    kwargs: dict[str, Any] = {}
    for name, values in QUERY_VALUES.items():
        if draw(st.integers(0, 5)) == 0:
            kwargs[name] = draw(st.sampled_from(values))
    for low, high, top in (("exp_low", "exp_high", 22), ("run_low", "run_high", 42)):
        a, b = sorted(draw(st.lists(st.integers(0, top), min_size=2, max_size=2)))
        if draw(st.integers(0, 3)) == 0:
            kwargs[low] = a
        if draw(st.integers(0, 3)) == 0:
            kwargs[high] = b
    kwargs["include_bad_runs"] = draw(st.booleans())
    return SearchQuery(**kwargs)


# ---------------------------------------------------------------- the oracle


def holds(meta: DatasetMeta, name: str, value: Any) -> bool:
    """One criterion on one dataset, written independently of the SQL."""
    if name in ("exp_low", "run_low"):
        bound = getattr(meta, name.replace("low", "high"))
        return bound is not None and bound >= value
    if name in ("exp_high", "run_high"):
        bound = getattr(meta, name.replace("high", "low"))
        return bound is not None and bound <= value
    if name == "skim_decay":
        return meta.skim_code == value
    if name == "production":
        return meta.production == value
    actual = getattr(meta, name)
    return actual is not None and fnmatchcase(actual, value)


def oracle(
    specs: list[Spec], bad: set[tuple[int, int]], query: SearchQuery
) -> dict[str, Any]:
    """What the search must return, from the generated records alone."""
    for name in KNOWN_FIELDS:
        value = getattr(query, name)
        if value is None or "*" in value or "?" in value:
            continue
        if value not in {getattr(s.meta, name) for s in specs}:
            return {"unknown": name}
    criteria = [
        (f.name, getattr(query, f.name))
        for f in fields(query)
        if f.name != "include_bad_runs" and getattr(query, f.name) is not None
    ]

    def matching(upto: int) -> list[Spec]:
        return [
            s
            for s in specs
            if s.files and all(holds(s.meta, n, v) for n, v in criteria[:upto])
        ]

    found = {}
    files = {}
    excluded: dict[tuple[int, int], int] = {}
    for s in matching(len(criteria)):
        kept = []
        for i, f in enumerate(s.files):
            if (f[0], f[1]) in bad and not query.include_bad_runs:
                excluded[(f[0], f[1])] = excluded.get((f[0], f[1]), 0) + 1
            else:
                kept.append(f)
                files[f"{s.lpn}/sub00/f{i}.root"] = (f[2], f[3], f[0], f[1])
        if kept:
            found[s.lpn] = (
                len(kept),
                sum(f[2] for f in kept),
                sum(f[3] or 0 for f in kept),
            )
    emptied = None
    if not found:
        for upto in range(len(criteria) + 1):
            if not matching(upto):
                emptied = None if upto == 0 else criteria[upto - 1]
                break
        else:
            emptied = ("include_bad_runs", False)
    return {
        "datasets": found,
        "files": files,
        "excluded": sorted(excluded.items()),
        "emptied": emptied,
    }


def build(specs: list[Spec], quality: dict[tuple[int, int], str]) -> Catalog:
    catalog = Catalog.open("sqlite://")
    for s in specs:
        if s.files:
            new = [
                NewFile(f"f{i}.root", size, "00000001", events, exp, run)
                for i, (exp, run, size, events) in enumerate(s.files)
            ]
            catalog.register_files(s.lpn, new, "KEK", "prod", NOW, meta=s.meta)
        else:
            with catalog.transaction() as conn:
                catalog.create_dataset(conn, s.lpn, "prod", NOW, s.meta)
    for (exp, run), q in quality.items():
        catalog.set_run_quality(exp, run, q)
    return catalog


@settings(
    max_examples=50,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(catalogs(), st.lists(queries(), min_size=1, max_size=6))
def test_search_agrees_with_an_independent_filter(
    catalog_spec: tuple[list[Spec], dict[tuple[int, int], str]],
    asked: list[SearchQuery],
) -> None:
    specs, quality = catalog_spec
    bad = {run for run, q in quality.items() if q == "bad"}
    catalog = build(specs, quality)
    searcher = Searcher(catalog)
    try:
        for query in asked:
            want = oracle(specs, bad, query)
            if "unknown" in want:
                with pytest.raises(UnknownValue) as info:
                    searcher.search(query)
                assert info.value.field == want["unknown"]
                continue
            got = searcher.search(query)
            assert {d.lpn: (d.nfiles, d.size, d.events) for d in got.datasets} == want[
                "datasets"
            ]
            assert got.names == tuple(sorted(want["datasets"]))
            excluded = [((r.exp, r.run), r.files) for r in got.excluded_bad_runs]
            assert excluded == want["excluded"]
            assert got.emptied_by == want["emptied"]
            for d in got.datasets:
                assert d.meta == next(s.meta for s in specs if s.lpn == d.lpn)
            got_files = searcher.search(query, files=True)
            assert {
                f.lfn: (f.size, f.events, f.exp, f.run) for f in got_files.files
            } == want["files"]
            assert got_files.excluded_bad_runs == got.excluded_bad_runs
    finally:
        catalog.close()


# ---------------------------------------------------------------- examples


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    cat = Catalog.open(sqlite_url(tmp_path / "home"))
    proc12 = DatasetMeta(
        data_type="data",
        campaign="proc12",
        data_level="mdst",
        general_skim="hadron",
        skim_code="10601300",
        exp_low=12,
        exp_high=12,
        run_low=0,
        run_high=100,
        release="release-08-00-00",
    )
    bucket = DatasetMeta(
        data_type="data", campaign="bucket23", data_level="udst", exp_low=14
    )
    cat.register_files(
        "/belle/Data/proc12/e12/hadron",
        [
            NewFile("a.root", 10, "00000001", 5, 12, 1),
            NewFile("b.root", 20, "00000001", 7, 12, 2),
        ],
        "KEK",
        "prod",
        NOW,
        meta=proc12,
    )
    cat.register_files(
        "/belle/Data/proc12/e12/hadron_run2",
        [NewFile("c.root", 30, "00000001", 11, 12, 2)],
        "KEK",
        "prod",
        NOW,
        meta=proc12,
    )
    cat.register_files(
        "/belle/Data/bucket23/e14",
        [NewFile("d.root", 40, "00000001", None, 14, 1)],
        "KEK",
        "prod",
        NOW,
        meta=bucket,
    )
    yield cat
    cat.close()


def test_bad_runs_are_left_out_and_reported(catalog: Catalog) -> None:
    catalog.set_run_quality(12, 2, "bad")
    catalog.set_run_quality(12, 1, "good")
    assert catalog.bad_runs() == [(12, 2)]
    searcher = Searcher(catalog)
    got = searcher.search(campaign="proc12")
    # the dataset all of whose files are bad disappears
    assert got.names == ("/belle/Data/proc12/e12/hadron",)
    assert (got.datasets[0].nfiles, got.datasets[0].size) == (1, 10)
    assert got.excluded_bad_runs == (ExcludedRun(12, 2, 2),)
    assert got.excluded_files == 2
    files = searcher.search(SearchQuery(campaign="proc12"), files=True)
    assert files.names == ("/belle/Data/proc12/e12/hadron/sub00/a.root",)
    everything = searcher.search(campaign="proc12", include_bad_runs=True)
    assert len(everything) == 2
    assert everything.excluded_bad_runs == ()
    # quality can change back
    catalog.set_run_quality(12, 2, "good")
    assert catalog.bad_runs() == []
    assert len(searcher.search(campaign="proc12")) == 2


def test_only_bad_runs_emptied_it(catalog: Catalog) -> None:
    catalog.set_run_quality(14, 1, "bad")
    got = Searcher(catalog).search(campaign="bucket23")
    assert not got.names
    assert got.emptied_by == ("include_bad_runs", False)


def test_run_quality_vocabulary(catalog: Catalog) -> None:
    with pytest.raises(UnknownValue, match="quality 'awful' not found"):
        catalog.set_run_quality(1, 1, "awful")


def test_unknown_value_suggests_and_lists(catalog: Catalog) -> None:
    with pytest.raises(UnknownValue) as info:
        Searcher(catalog).search(campaign="prc12")
    assert str(info.value) == (
        "campaign 'prc12' not found; did you mean 'proc12'? known: bucket23, proc12"
    )
    assert isinstance(info.value, LookupError)
    assert (info.value.field, info.value.known) == ("campaign", ("bucket23", "proc12"))
    # a wildcard matching nothing is an empty result, not an error
    assert not Searcher(catalog).search(campaign="prc*").names


def test_emptied_by_names_the_first_criterion_that_emptied_it(
    catalog: Catalog,
) -> None:
    got = Searcher(catalog).search(
        campaign="proc12", data_level="mdst", exp_low=13, general_skim="hadron"
    )
    assert got.names == ()
    assert got.emptied_by == ("exp_low", 13)
    assert got.empty_message() == "no datasets match (emptied by exp_low=13)"


def test_ranges_overlap_and_wildcards_are_case_sensitive(catalog: Catalog) -> None:
    searcher = Searcher(catalog)
    assert len(searcher.search(exp_low=10, exp_high=12)) == 2
    assert len(searcher.search(exp_low=12, exp_high=20, run_low=50)) == 2
    assert searcher.search(campaign="bucket*").names == ("/belle/Data/bucket23/e14",)
    # bucket23 has no exp_high: an exp range never matches it
    assert searcher.search(campaign="bucket*", exp_low=0).names == ()
    assert searcher.search(campaign="PROC*").names == ()
    assert len(searcher.search(campaign="proc1?", skim_decay="10601300")) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"exp_low": 14, "exp_high": 12}, "inverted range: exp_low 14 > exp_high 12"),
        ({"run_low": 9, "run_high": 1}, "inverted range"),
        ({"skim_decay": "1060130"}, "8 digits"),
        ({"skim_decay": "hadronSkim"}, "8 digits"),
        ({"data_level": "mdts"}, "did you mean 'mdst'"),
        ({"bg_level": "BGx2"}, "not one of BGx0, BGx1"),
        ({"exp_low": -1}, "whole number"),
        ({"production": -3}, "whole number"),
        ({"production": "24816"}, "whole number"),
        ({"production": 10**8}, "8 digits"),
        ({"campaign": ""}, "non-empty"),
        ({"general_skm": "hadron"}, "unknown field .*general_skim"),
    ],
)
def test_bad_queries_are_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(BadQuery, match=match) as info:
        SearchQuery.from_kwargs(**kwargs)
    assert info.value.exit_code == 2
    assert isinstance(info.value, ValueError)


def test_an_older_catalog_gets_the_new_table_and_indexes(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "old")
    Catalog.open(url).close()
    old = Catalog.open(url)
    with old.transaction() as conn:
        conn.execute(text("DROP INDEX ix_datasets_campaign"))
        conn.execute(text("DROP TABLE run_quality"))
    old.close()
    reopened = Catalog.open(url)
    try:
        inspector = inspect(reopened.engine)
        assert "run_quality" in inspector.get_table_names()
        indexes = {i["name"] for i in inspector.get_indexes("datasets")}
        assert {"ix_datasets_campaign", "ix_datasets_skim"} <= indexes
    finally:
        reopened.close()


def test_the_grid_offers_the_searcher(tmp_path) -> None:
    from b2grid.storage.records import DatasetMeta, NewFile
    from b2grid.testing import offline_grid

    grid = offline_grid(tmp_path / "home")
    try:
        grid.storage.catalog.register_files(
            "/belle/MC/release-08/mixed/mdst",
            [NewFile(name="f.root", size=10, adler32="00000001")],
            "KEK",
            "prod",
            grid.clock.now(),
            meta=DatasetMeta(data_type="mc", campaign="MC15ri_a", data_level="mdst"),
        )
        found = grid.datasets.search(campaign="MC15*", data_level="mdst")
        assert found.names == ("/belle/MC/release-08/mixed/mdst",)
    finally:
        grid.close()


def _official(prod: int, exp: int) -> str:
    return DatasetPath(
        data_type="data", release="release-08-00-00", db=1234, campaign="proc13",
        prod=prod, exp=exp, beam_energy="4S", run=0, event_type_or_skim="hadron",
        data_level="mdst",
    ).lpn  # fmt: skip


def test_production_comes_from_an_official_lpn_and_is_searchable() -> None:
    catalog = Catalog.open("sqlite://")
    try:
        meta = DatasetMeta(data_type="data", campaign="proc13", data_level="mdst")
        for prod, exp in ((29531, 12), (29532, 14)):
            catalog.register_files(
                _official(prod, exp),
                [NewFile("f.root", 10, "00000001", 1, exp, 1)],
                "KEK", "prod", NOW, meta=meta,
            )  # fmt: skip
        # not an official layout: no production number to derive
        catalog.register_files(
            "/belle/Data/proc13/other", [NewFile("g.root", 10, "00000001")],
            "KEK", "prod", NOW, meta=meta,
        )  # fmt: skip
        assert catalog.dataset(_official(29531, 12)).meta.production == 29531
        assert catalog.dataset("/belle/Data/proc13/other").meta.production is None
        searcher = Searcher(catalog)
        assert searcher.search(production=29532).names == (_official(29532, 14),)
        got = searcher.search(campaign="proc13", production=1)
        assert got.emptied_by == ("production", 1)
        refused = pytest.raises(BadLFN, match="production 7 in its metadata, 29533")
        with refused, catalog.transaction() as conn:
            catalog.create_dataset(
                conn, _official(29533, 12), "prod", NOW, DatasetMeta(production=7)
            )
        assert not catalog.name_used(_official(29533, 12))
    finally:
        catalog.close()


def test_an_older_catalog_gets_the_production_column(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "old")
    Catalog.open(url).close()
    old = Catalog.open(url)
    with old.transaction() as conn:
        conn.execute(text("DROP INDEX ix_datasets_production"))
        conn.execute(text("ALTER TABLE datasets DROP COLUMN production"))
        conn.execute(text("DROP TABLE collection_members"))
    old.close()
    reopened = Catalog.open(url)
    try:
        inspector = inspect(reopened.engine)
        columns = {c["name"] for c in inspector.get_columns("datasets")}
        assert "production" in columns
        indexes = {i["name"] for i in inspector.get_indexes("datasets")}
        assert "ix_datasets_production" in indexes
        assert "collection_members" in inspector.get_table_names()
        lpn = _official(1, 12)
        reopened.register_files(
            lpn, [NewFile("f.root", 1, "00000001")], "KEK", "p", NOW
        )
        assert Searcher(reopened).search(production=1).names == (lpn,)
    finally:
        reopened.close()
