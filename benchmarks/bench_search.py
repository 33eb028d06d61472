"""Benchmark: the dataset searcher against a full scan in Python, on one catalog.

What it measures
----------------
One fresh SQLite catalog (b2grid's schema and PRAGMAs) in a temporary directory,
filled by bulk inserts with ``--datasets`` datasets of varied official metadata
(data and MC, ~20 campaigns, four data levels, general skims and skim codes,
experiment and run ranges) and ``--files`` files spread evenly over them, each
dataset in one datablock; 2% of the (exp, run) pairs are marked bad.

Then 20 typical searches (campaign with or without wildcards, skims, experiment
ranges, MC event types) run ``--repeat`` times each, taking turns with the
baseline:

* ``searcher`` -- :meth:`Searcher.search` (one SQL select, indexes, aggregation
  of the counted files in SQL, bad runs left out and reported);
* ``full scan`` -- every dataset row loaded into Python for each search and
  filtered there (``fnmatch`` for wildcards), then the same aggregate over the
  matching datasets' files (``IN`` their ids) with the same bad-run exclusion.

Both must give the same LPNs with the same totals. Reported: p50 and p99 latency
in ms of each side over all searches and repeats, and full scan / searcher.

How to run
----------
    python benchmarks/bench_search.py                       # 1M files, 10k datasets
    python benchmarks/bench_search.py --files 100000 --datasets 1000   # quick
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select

from b2grid.storage.catalog import Catalog
from b2grid.storage.records import FILE_AVAILABLE, DatasetMeta
from b2grid.storage.schema import (
    datablocks,
    datasets,
    files,
    iso,
    run_quality,
    sqlite_url,
)
from b2grid.storage.search import Searcher, SearchQuery

NOW = iso(datetime(2026, 1, 1, tzinfo=timezone.utc))
DATA_CAMPAIGNS = ["proc12", "proc13", "prompt"] + [f"bucket{i}" for i in range(20, 34)]
MC_CAMPAIGNS = ["MC15ri", "MC15rd", "MC14ri", "MC13a"]
SKIMS = ["hadron", "lowMulti", "tau", "mumu", "bhabha", "ewp", "charm", "feiSL"]
EVENT_TYPES = ["mixed", "charged", "uubar", "ddbar", "ssbar", "ccbar", "taupair"]
RELEASES = ["release-05-02-00", "release-06-00-08", "release-08-00-00"]


def build(catalog: Catalog, n_datasets: int, n_files: int, rng: random.Random) -> None:
    """Bulk-insert datasets, one datablock each, and their files."""
    per = max(1, n_files // n_datasets)
    skim_codes = [f"{rng.randrange(10**7, 10**8)}" for _ in range(60)]
    with catalog.transaction() as conn:
        ds_rows, block_rows = [], []
        spans: list[tuple[int, int, int, int]] = []
        for i in range(1, n_datasets + 1):
            mc = rng.random() < 0.5
            exp = rng.randrange(3, 31)
            exp_high = exp + (rng.random() < 0.1)
            run_low = rng.randrange(0, 2000)
            run_high = run_low + rng.randrange(0, 500)
            level = rng.choice(["mdst", "mdst", "udst", "udst", "cdst", "raw"])
            skim = rng.choice(SKIMS) if level == "udst" else None
            meta = DatasetMeta(
                data_type="mc" if mc else "data",
                campaign=rng.choice(MC_CAMPAIGNS if mc else DATA_CAMPAIGNS),
                release=rng.choice(RELEASES),
                global_tag=f"gt_{rng.randrange(30)}",
                data_level=level,
                beam_energy=rng.choice(["4S", "4S", "4S_offres", "5S"]),
                mc_event_type=rng.choice(EVENT_TYPES) if mc else None,
                bg_level=rng.choice(["BGx0", "BGx1"]) if mc else None,
                general_skim=skim,
                skim_code=rng.choice(skim_codes) if skim else None,
                exp_low=exp,
                run_low=run_low,
                exp_high=exp_high,
                run_high=run_high,
            )
            lpn = f"/belle/{'MC' if mc else 'Data'}/bench/ds{i:06d}"
            ds_rows.append(
                {"id": i, "lpn": lpn, "owner": "prod", "created": NOW,
                 "state": "open", "extra": "{}", **meta.as_row()}
            )  # fmt: skip
            block_rows.append(
                {"id": i, "dataset_id": i, "name": "sub00", "lpn": f"{lpn}/sub00",
                 "created": NOW}
            )  # fmt: skip
            spans.append((exp, exp_high, run_low, run_high))
        conn.execute(insert(datasets), ds_rows)
        conn.execute(insert(datablocks), block_rows)
        file_id = 0
        batch: list[dict[str, Any]] = []
        for i, (exp, exp_high, run_low, run_high) in enumerate(spans, start=1):
            for j in range(per):
                file_id += 1
                batch.append(
                    {"id": file_id, "lfn": f"{block_rows[i - 1]['lpn']}/f{j:04d}.root",
                     "datablock_id": i, "size": rng.randrange(10**8, 4 * 10**9),
                     "adler32": "00000001", "events": rng.randrange(1000, 10**6),
                     "exp": rng.randint(exp, exp_high),
                     "run": rng.randint(run_low, run_high), "owner": "prod",
                     "created": NOW, "state": FILE_AVAILABLE, "extra": "{}"}
                )  # fmt: skip
            if len(batch) >= 100_000:
                conn.execute(insert(files), batch)
                batch = []
        if batch:
            conn.execute(insert(files), batch)
        bad = {(rng.randrange(3, 32), rng.randrange(0, 2500)) for _ in range(1500)}
        conn.execute(
            insert(run_quality),
            [{"exp": e, "run": r, "quality": "bad"} for e, r in sorted(bad)],
        )
    with catalog.transaction() as conn:
        conn.exec_driver_sql("ANALYZE")


def searches(rng: random.Random) -> list[SearchQuery]:
    """20 typical searches, from a physicist's point of view."""
    return [
        SearchQuery(campaign="proc12", general_skim="hadron", exp_low=12, exp_high=12),
        SearchQuery(campaign="proc13", data_level="mdst", exp_low=10, exp_high=14),
        SearchQuery(campaign="proc1?", data_level="udst", general_skim="tau"),
        SearchQuery(campaign="bucket2*", data_level="mdst", exp_low=20, exp_high=22),
        SearchQuery(campaign="bucket30", general_skim="charm"),
        SearchQuery(campaign="prompt", data_level="cdst", exp_low=26, run_low=1000),
        SearchQuery(campaign="MC15ri", mc_event_type="charged", bg_level="BGx1"),
        SearchQuery(campaign="MC15*", mc_event_type="uubar", data_level="mdst"),
        SearchQuery(campaign="MC15rd", beam_energy="4S_offres", exp_low=18),
        SearchQuery(campaign="MC14ri", mc_event_type="taupair", release="release-06*"),
        SearchQuery(data_type="mc", campaign="MC13a", bg_level="BGx0"),
        SearchQuery(campaign="MC15ri", general_skim="feiSL", beam_energy="4S"),
        SearchQuery(campaign="proc12", global_tag="gt_7"),
        SearchQuery(campaign="bucket33", data_level="raw", run_low=0, run_high=300),
        SearchQuery(general_skim="mumu", data_type="data", exp_low=8, exp_high=8),
        SearchQuery(campaign="MC15rd", mc_event_type="ccbar", exp_low=20, exp_high=24),
        SearchQuery(campaign="proc13", general_skim="ewp", release="release-08-00-00"),
        SearchQuery(campaign="MC15ri", data_level="mdst", beam_energy="5S"),
        SearchQuery(data_level="udst", general_skim="bhabha", exp_low=7, exp_high=7),
        SearchQuery(campaign="bucket2?", beam_energy="4S", exp_low=30),
    ]  # fmt: skip


def _holds(row: Any, name: str, value: Any) -> bool:
    if name == "exp_low":
        return row.exp_high is not None and row.exp_high >= value
    if name == "exp_high":
        return row.exp_low is not None and row.exp_low <= value
    if name == "run_low":
        return row.run_high is not None and row.run_high >= value
    if name == "run_high":
        return row.run_low is not None and row.run_low <= value
    if name == "skim_decay":
        return bool(row.skim_code == value)
    actual = getattr(row, name)
    return actual is not None and fnmatchcase(actual, value)


def full_scan(catalog: Catalog, query: SearchQuery) -> list[tuple[str, int, int]]:
    """The baseline: every dataset row into Python, filtered there, then totals."""
    criteria = query.criteria()
    with catalog.reading() as conn:
        rows = conn.execute(select(datasets).where(datasets.c.state != "deleted"))
        ids = {r.id: r.lpn for r in rows if all(_holds(r, n, v) for n, v in criteria)}
        return _totals(conn, ids) if ids else []


def _totals(conn: Connection, ids: dict[int, str]) -> list[tuple[str, int, int]]:
    joined = files.join(datablocks).outerjoin(
        run_quality,
        and_(run_quality.c.exp == files.c.exp, run_quality.c.run == files.c.run),
    )
    stmt = (
        select(datablocks.c.dataset_id, func.count(files.c.id), func.sum(files.c.size))
        .select_from(joined)
        .where(
            datablocks.c.dataset_id.in_(list(ids)),
            files.c.state == FILE_AVAILABLE,
            or_(run_quality.c.quality.is_(None), run_quality.c.quality != "bad"),
        )
        .group_by(datablocks.c.dataset_id)
    )
    return sorted((ids[d], int(n), int(s)) for d, n, s in conn.execute(stmt))


def _time(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return (time.perf_counter() - start) * 1000, out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1_000_000, help="files in all")
    parser.add_argument("--datasets", type=int, default=10_000, help="datasets")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each search")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=None, help="where the catalog goes")
    args = parser.parse_args()
    rng = random.Random(args.seed)  # noqa: S311 -- a sample, not a secret
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        catalog = Catalog.open(sqlite_url(Path(tmp)))
        took, _ = _time(lambda: build(catalog, args.datasets, args.files, rng))
        print(
            f"catalog: {args.files:,} files in {args.datasets:,} datasets, "
            f"built in {took / 1000:.1f} s"
        )
        searcher = Searcher(catalog)
        ours: list[float] = []
        theirs: list[float] = []
        matched = []
        for query in searches(rng):
            for k in range(args.repeat):
                got: list[tuple[str, int, int]] = []
                want: list[tuple[str, int, int]] = []
                for mine in (True, False) if k % 2 == 0 else (False, True):
                    if mine:
                        ms, result = _time(lambda q=query: searcher.search(q))
                        ours.append(ms)
                        got = [(d.lpn, d.nfiles, d.size) for d in result.datasets]
                    else:
                        ms, want = _time(lambda q=query: full_scan(catalog, q))
                        theirs.append(ms)
                assert got == want, query
            matched.append(len(got))
        catalog.close()
    print(
        f"{len(matched)} searches x {args.repeat}: datasets matched per search "
        f"min {min(matched)}, median {statistics.median(matched):g}, "
        f"max {max(matched)}"
    )
    print(f"{'side':12} {'p50 ms':>9} {'p99 ms':>9}")
    for name, values in (("searcher", ours), ("full scan", theirs)):
        print(f"{name:12} {_pct(values, 0.5):9.2f} {_pct(values, 0.99):9.2f}")
    print(
        f"full scan / searcher: p50 x{_pct(theirs, 0.5) / _pct(ours, 0.5):.1f}, "
        f"p99 x{_pct(theirs, 0.99) / _pct(ours, 0.99):.1f}"
    )


if __name__ == "__main__":
    main()
