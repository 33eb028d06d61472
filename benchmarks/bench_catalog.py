"""Benchmark: b2grid's file catalog against plain ``sqlite3`` on the same schema.

What it measures
----------------
Two fresh SQLite catalogs in a temporary directory, both with the tables of
:data:`b2grid.storage.schema.metadata` and the PRAGMAs b2grid sets (WAL,
``synchronous=NORMAL``, ``foreign_keys=ON``, ``busy_timeout``):

1. **Bulk registration** of ``--files`` files in datablocks of ``--block`` files.
   The files belong to datasets of 100 datablocks each (``sub00`` … ``sub99``,
   the two-digit range; 100k files per dataset at the defaults), named like
   official MC (``/belle/MC/release-08-00-00/.../prodNNNNNNNN/.../mdst``). They
   arrive in batches of ``--batch`` files, each batch from one dataset, and each
   batch is one transaction on both sides:

   * ``b2grid``  -- :meth:`Catalog.register_files` (the dataset is created by the
     first batch);
   * ``sqlite3`` -- the same rows with the standard library only: ``BEGIN
     IMMEDIATE``, look up the dataset and its last datablock and fill, then
     ``executemany`` into ``names``, ``datasets``, ``datablocks``, ``files``
     and ``replicas``. File ids are taken as ``max(id) + 1 …`` inside the write
     transaction instead of being read back; a reused name fails on the
     ``names`` primary key (b2grid looks names up first to raise
     :class:`~b2grid.errors.NameReused`).

   The two sides take turns batch by batch (who goes first alternates), so both
   see the same machine conditions. Reported: files/s over the whole run, the
   median batch time, and b2grid/sqlite3 throughput. At the end the two
   databases are checked to hold the same rows (table counts and sums).

2. **Listing one datablock** with its replicas, for ``--lists`` random
   datablocks (the same ones on both sides, taking turns):

   * ``b2grid``  -- :meth:`Catalog.files_of` on the datablock LPN (returns
     :class:`~b2grid.storage.records.FileRecord` objects with replicas);
   * ``sqlite3`` -- one ``SELECT`` joining datablocks, files and replicas,
     ordered by LFN and site, ``fetchall()`` of plain tuples;
   * ``sqlite3+records`` -- the same query, plus building the same
     ``FileRecord``/``ReplicaRecord`` objects, to split SQL cost from object cost.

   Reported: p50 and p99 latency in ms (with 50 lists, p99 is about the
   slowest one) and b2grid's time as a multiple of each baseline's. The first
   listing on each side is checked to give the same files and replicas.

How to run
----------
    python benchmarks/bench_catalog.py                # 1,000,000 files (minutes)
    python benchmarks/bench_catalog.py --quick        # 50,000-file smoke run
    python benchmarks/bench_catalog.py --files 200000 --block 1000 --batch 10000
    python benchmarks/bench_catalog.py --profile 20   # cProfile of b2grid's part

Needs only b2grid. At 1M files each catalog takes about 1 GB under ``--dir``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine

from b2grid.storage import lfn as lfns
from b2grid.storage.catalog import Catalog
from b2grid.storage.records import (
    AVAILABLE,
    FILE_AVAILABLE,
    FileRecord,
    NewFile,
    ReplicaRecord,
)
from b2grid.storage.schema import SCHEMA_VERSION, iso, metadata

SITE = "KEK"
OWNER = "prod"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)
#: datablocks per dataset: sub00 ... sub99
BLOCKS_PER_DATASET = 100
PROD = "/belle/MC/release-08-00-00/DB00002100/MC15ri_b"

T = TypeVar("T")
#: a row as sqlite3 returns it
Row = tuple[Any, ...]


def dataset_lpn(index: int) -> str:
    """The LPN of benchmark dataset ``index`` (an official-looking MC mdst)."""
    return f"{PROD}/prod{24816 + index:08d}/s00/e1003/4S/r00000/mixed/mdst"


@dataclass(frozen=True)
class Batch:
    """Files for one ``register_files`` call: all of one dataset."""

    dataset: str
    files: list[NewFile]


def make_batches(n_files: int, block: int, batch: int) -> Iterator[Batch]:
    """``n_files`` synthetic files, ``block * 100`` to a dataset, ``batch`` a call."""
    per_dataset = block * BLOCKS_PER_DATASET
    serial = 0
    for ds in range((n_files + per_dataset - 1) // per_dataset):
        in_ds = min(per_dataset, n_files - ds * per_dataset)
        lpn = dataset_lpn(ds)
        for start in range(0, in_ds, batch):
            out = []
            for k in range(start, min(start + batch, in_ds)):
                out.append(
                    NewFile(
                        name=f"mdst_{serial:07d}_prod{24816 + ds:08d}_task{k:08d}.root",
                        size=1_500_000_000 + (serial * 7919) % 500_000_000,
                        adler32=f"{(serial * 2654435761) & 0xFFFFFFFF:08x}",
                        events=200_000 + serial % 1000,
                        exp=1003,
                        run=serial // 50,
                    )
                )
                serial += 1
            yield Batch(lpn, out)


# --------------------------------------------------------------------- baseline


def open_plain(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 catalog: b2grid's tables, b2grid's PRAGMAs, autocommit."""
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        metadata.create_all(conn)
    engine.dispose()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA busy_timeout=60000")
    db.execute(
        "INSERT INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),)
    )
    return db


def plain_register(
    db: sqlite3.Connection, lpn: str, new: Sequence[NewFile], block_size: int
) -> None:
    """What ``Catalog.register_files`` writes, with sqlite3 ``executemany``."""
    stamp = iso(NOW)
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute(
            "SELECT id FROM datasets WHERE lpn = ? AND state != 'deleted'", (lpn,)
        ).fetchone()
        if row is None:
            db.execute(
                "INSERT INTO names (name, kind, created) VALUES (?, 'dataset', ?)",
                (lpn, stamp),
            )
            dataset_id = db.execute(
                "INSERT INTO datasets (lpn, owner, created, state, extra) "
                "VALUES (?, ?, ?, 'open', '{}')",
                (lpn, OWNER, stamp),
            ).lastrowid
        else:
            dataset_id = row[0]
        last = db.execute(
            "SELECT id, name, lpn FROM datablocks WHERE dataset_id = ? "
            "ORDER BY id DESC LIMIT 1",
            (dataset_id,),
        ).fetchone()
        block_id: int | None
        if last is None:
            index, block_id, block_lpn, filled = -1, None, "", block_size
        else:
            block_id, block_lpn = last[0], last[2]
            index = int(last[1].removeprefix("sub"))
            filled = db.execute(
                "SELECT count(id) FROM files WHERE datablock_id = ?", (block_id,)
            ).fetchone()[0]
        next_id = db.execute("SELECT coalesce(max(id), 0) FROM files").fetchone()[0]
        name_rows: list[tuple[str, str]] = []
        file_rows: list[Row] = []
        replica_rows: list[Row] = []
        for f in new:
            if filled >= block_size or block_id is None:
                index += 1
                block_name = f"sub{index:02d}"
                block_lpn = f"{lpn}/{block_name}"
                db.execute(
                    "INSERT INTO names (name, kind, created) "
                    "VALUES (?, 'datablock', ?)",
                    (block_lpn, stamp),
                )
                block_id = db.execute(
                    "INSERT INTO datablocks (dataset_id, name, lpn, created) "
                    "VALUES (?, ?, ?, ?)",
                    (dataset_id, block_name, block_lpn, stamp),
                ).lastrowid
                filled = 0
            name = f"{block_lpn}/{f.name}"
            next_id += 1
            name_rows.append((name, stamp))
            file_rows.append(
                (
                    next_id,
                    name,
                    block_id,
                    f.size,
                    f.adler32,
                    f.events,
                    f.exp,
                    f.run,
                    OWNER,
                    stamp,
                    FILE_AVAILABLE,
                    "{}",
                )
            )
            replica_rows.append((next_id, SITE, AVAILABLE, stamp, 0, stamp))
            filled += 1
        db.executemany(
            "INSERT INTO names (name, kind, created) VALUES (?, 'file', ?)", name_rows
        )
        db.executemany(
            "INSERT INTO files (id, lfn, datablock_id, size, adler32, events, exp, "
            "run, owner, created, state, extra) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            file_rows,
        )
        db.executemany(
            "INSERT INTO replicas (file_id, site, state, created, lock_count, "
            "tombstone) VALUES (?, ?, ?, ?, ?, ?)",
            replica_rows,
        )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


LIST_SQL = """
SELECT f.id, f.lfn, f.size, f.adler32, f.events, f.exp, f.run, f.owner, f.state,
       d.lpn, r.site, r.state, r.created, r.last_read, r.lock_count, r.tombstone
FROM datablocks AS d
JOIN files AS f ON f.datablock_id = d.id
LEFT JOIN replicas AS r ON r.file_id = f.id
WHERE d.lpn = ? AND f.state = 'available'
ORDER BY f.lfn, r.site
"""


def plain_list(db: sqlite3.Connection, block_lpn: str) -> list[Row]:
    """One datablock's files with their replicas, one row per replica."""
    return db.execute(LIST_SQL, (block_lpn,)).fetchall()


def plain_list_records(db: sqlite3.Connection, block_lpn: str) -> list[FileRecord]:
    """:func:`plain_list`, turned into the records ``files_of`` returns."""
    out: list[FileRecord] = []
    current: Row | None = None
    reps: list[ReplicaRecord] = []
    for row in db.execute(LIST_SQL, (block_lpn,)):
        if current is None or row[0] != current[0]:
            if current is not None:
                out.append(_record(current, reps))
            current, reps = row, []
        if row[10] is not None:
            reps.append(ReplicaRecord(*row[10:]))
    if current is not None:
        out.append(_record(current, reps))
    return out


def _record(row: Row, reps: list[ReplicaRecord]) -> FileRecord:
    fid, lfn, size, adler32, events, exp, run, owner, state, block = row[:10]
    return FileRecord(
        file_id=fid,
        lfn=lfn,
        size=size,
        adler32=adler32,
        events=events,
        exp=exp,
        run=run,
        owner=owner,
        state=state,
        datablock=block,
        replicas=tuple(reps),
    )


# --------------------------------------------------------------------- running


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) by linear interpolation."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def timed(fn: Callable[[T], object], arg: T) -> float:
    """Seconds ``fn(arg)`` takes."""
    t = time.perf_counter()
    fn(arg)
    return time.perf_counter() - t


def table_counts(db: sqlite3.Connection) -> dict[str, tuple[int, ...]]:
    """Row counts and a few sums per table: equal when both sides wrote the same."""
    q = {
        "names": "SELECT count(*), sum(length(name)), count(deleted) FROM names",
        "datasets": "SELECT count(*), sum(length(lpn)) FROM datasets",
        "datablocks": "SELECT count(*), sum(length(lpn)) FROM datablocks",
        "files": "SELECT count(*), sum(size), sum(length(lfn)), sum(run), "
        "sum(datablock_id) FROM files",
        "replicas": "SELECT count(*), sum(file_id), count(tombstone) FROM replicas",
    }
    return {t: tuple(db.execute(sql).fetchone()) for t, sql in q.items()}


def same_listing(records: list[FileRecord], rows: list[FileRecord]) -> bool:
    """Same files (ignoring ids, which both sides number alike anyway)."""
    return [(r.lfn, r.size, r.adler32, r.replicas, r.datablock) for r in records] == [
        (r.lfn, r.size, r.adler32, r.replicas, r.datablock) for r in rows
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1_000_000, help="files in all")
    parser.add_argument("--block", type=int, default=1000, help="files a datablock")
    parser.add_argument(
        "--batch", type=int, default=10_000, help="files a register_files call"
    )
    parser.add_argument("--lists", type=int, default=50, help="datablocks to list")
    parser.add_argument("--quick", action="store_true", help="50k-file smoke run")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="print the top N functions of b2grid's register and list (cProfile)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", default=None, help="where to make the catalogs")
    args = parser.parse_args()
    if args.quick:
        args.files = 50_000
    n_blocks = (args.files + args.block - 1) // args.block
    n_datasets = (n_blocks + BLOCKS_PER_DATASET - 1) // BLOCKS_PER_DATASET
    print(
        f"{args.files:,} files in {n_blocks:,} datablocks of {args.block:,} "
        f"({n_datasets} datasets of <= {BLOCKS_PER_DATASET} datablocks), "
        f"batches of {args.batch:,} files"
    )
    profiler = cProfile.Profile() if args.profile else None

    with tempfile.TemporaryDirectory(prefix="bench_catalog_", dir=args.dir) as tmp:
        home = Path(tmp)
        cat = Catalog.open(f"sqlite:///{home / 'b2grid.sqlite'}", args.block)
        db = open_plain(home / "plain.sqlite")

        def b2grid_register(b: Batch) -> None:
            cat.register_files(b.dataset, b.files, SITE, OWNER, NOW)

        def sqlite_register(b: Batch) -> None:
            plain_register(db, b.dataset, b.files, args.block)

        # ---------------------------------------------------------- registration
        spent = {"b2grid": 0.0, "sqlite3": 0.0}
        per_batch: dict[str, list[float]] = {"b2grid": [], "sqlite3": []}
        registered = 0
        for i, batch in enumerate(make_batches(args.files, args.block, args.batch)):
            sides: list[tuple[str, Callable[[Batch], None]]] = [
                ("b2grid", b2grid_register),
                ("sqlite3", sqlite_register),
            ]
            for side, register in sides if i % 2 == 0 else sides[::-1]:
                if profiler is not None and side == "b2grid":
                    profiler.enable()
                seconds = timed(register, batch)
                if profiler is not None and side == "b2grid":
                    profiler.disable()
                spent[side] += seconds
                per_batch[side].append(seconds)
            registered += len(batch.files)
            if i % 10 == 9:
                print(
                    f"  {registered:>10,} files  b2grid {spent['b2grid']:7.1f} s  "
                    f"sqlite3 {spent['sqlite3']:7.1f} s",
                    flush=True,
                )
        assert registered == args.files

        with closing(sqlite3.connect(home / "b2grid.sqlite")) as check:
            b2_counts = table_counts(check)
        plain_counts = table_counts(db)
        if b2_counts != plain_counts:
            raise SystemExit(f"different rows!\n{b2_counts}\n{plain_counts}")

        # ---------------------------------------------------------- listing
        rng = random.Random(args.seed)  # noqa: S311 -- a sample, not a secret
        blocks = [
            lfns.datablock_lpn(
                dataset_lpn(b // BLOCKS_PER_DATASET),
                b % BLOCKS_PER_DATASET,
            )
            for b in rng.sample(range(n_blocks), min(args.lists, n_blocks))
        ]
        if not same_listing(cat.files_of(blocks[0]), plain_list_records(db, blocks[0])):
            raise SystemExit(f"listings of {blocks[0]} differ")
        lists: dict[str, list[float]] = {"b2grid": [], "sqlite3": [], "records": []}
        listers: list[tuple[str, Callable[[str], object]]] = [
            ("b2grid", cat.files_of),
            ("sqlite3", lambda lpn: plain_list(db, lpn)),
            ("records", lambda lpn: plain_list_records(db, lpn)),
        ]
        for i, lpn in enumerate(blocks):
            order = listers[i % 3 :] + listers[: i % 3]
            for side, lister in order:
                if profiler is not None and side == "b2grid":
                    profiler.enable()
                lists[side].append(timed(lister, lpn))
                if profiler is not None and side == "b2grid":
                    profiler.disable()
        cat.close()
        db.close()  # both checkpoint and drop their WAL on the last close
        sizes = {p.name: p.stat().st_size / 1e6 for p in home.glob("*.sqlite")}

    # -------------------------------------------------------------- report
    rate = {s: args.files / spent[s] for s in spent}
    p50 = {s: percentile(v, 0.5) * 1e3 for s, v in lists.items()}
    p99 = {s: percentile(v, 0.99) * 1e3 for s, v in lists.items()}
    bp50 = {s: statistics.median(v) * 1e3 for s, v in per_batch.items()}
    print()
    print(f"{'':34}{'b2grid':>12}{'sqlite3':>12}{'ratio':>10}")
    print(
        f"{'register: files/s':34}{rate['b2grid']:>12,.0f}{rate['sqlite3']:>12,.0f}"
        f"{rate['b2grid'] / rate['sqlite3']:>10.2f}   b2grid/sqlite3 throughput"
    )
    print(f"{'register: total s':34}{spent['b2grid']:>12.1f}{spent['sqlite3']:>12.1f}")
    print(
        f"{f'register: median batch ms ({args.batch:,})':34}"
        f"{bp50['b2grid']:>12.1f}{bp50['sqlite3']:>12.1f}"
        f"{bp50['b2grid'] / bp50['sqlite3']:>10.2f}   b2grid/sqlite3 time"
    )
    print(
        f"{'catalog file MB':34}{sizes['b2grid.sqlite']:>12.0f}"
        f"{sizes['plain.sqlite']:>12.0f}"
    )
    n = len(blocks)
    for label, q in (("p50", p50), ("p99", p99)):
        print(
            f"{f'list {args.block}-file block {label} ms':34}"
            f"{q['b2grid']:>12.2f}{q['sqlite3']:>12.2f}"
            f"{q['b2grid'] / q['sqlite3']:>10.2f}   b2grid/sqlite3 time"
        )
        print(
            f"{f'  vs sqlite3 + FileRecords {label}':34}{'':>12}{q['records']:>12.2f}"
            f"{q['b2grid'] / q['records']:>10.2f}   b2grid/(sqlite3+records) time"
        )
    print(f"(listing: {n} random datablocks each side; rows identical on both sides)")

    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(args.profile)
        stats.sort_stats("tottime").print_stats(args.profile)
        print(out.getvalue())


if __name__ == "__main__":
    main()
