"""Several processes register files into one catalog at once (DESIGN.md §3, §6).

Each child process opens its own :class:`Catalog` on the same SQLite file and calls
``register_files`` many times, into one shared dataset and into a dataset of its own.
Whatever the interleaving, every file must be registered exactly once, datablocks
must fill up to ``datablock_size`` and be numbered ``sub00``, ``sub01``, … without
gaps or duplicates, and every name must be reserved forever in the ``names`` table.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
import traceback
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from b2grid.storage.catalog import Catalog
from b2grid.storage.records import NewFile
from b2grid.storage.schema import datablocks, datasets, files, names, sqlite_url

BLOCK = 10
SITES = ("KEK", "BNL", "DESY")
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
#: seconds a child may take before the test gives up on it
TIMEOUT = 120


def _new_files(worker: int, call: int, n: int, tag: str) -> list[NewFile]:
    return [
        NewFile(
            name=f"{tag}_w{worker}_c{call:03d}_{i}.root",
            size=100 + i,
            adler32=f"{worker * 1000 + i:08x}",
        )
        for i in range(n)
    ]


def _register_many(
    home: str,
    worker: int,
    shared: str,
    own: str,
    calls: int,
    per_call: int,
    barrier: Any,
    results: Any,
) -> None:
    """Child: ``calls`` rounds of registering into ``shared`` and into ``own``."""
    try:
        catalog = Catalog.open(sqlite_url(Path(home)), datablock_size=BLOCK)
        barrier.wait(TIMEOUT)
        done: list[str] = []
        for call in range(calls):
            now = T0 + timedelta(seconds=call)
            for lpn, tag in ((shared, "shared"), (own, "own")):
                time.sleep((worker + call) % 3 / 1000)  # let the children interleave
                done += catalog.register_files(
                    lpn,
                    _new_files(worker, call, per_call, tag),
                    SITES[worker % len(SITES)],
                    f"user{worker}",
                    now,
                )
        catalog.close()
        results.put((worker, "ok", done))
    except BaseException:
        results.put((worker, "error", traceback.format_exc()))
        barrier.abort()  # the others stop waiting for this one
        raise


def _race_new_datasets(
    home: str, worker: int, lpns: list[str], barrier: Any, results: Any
) -> None:
    """Child: for each LPN, wait for the others, then register into it at once."""
    try:
        catalog = Catalog.open(sqlite_url(Path(home)), datablock_size=BLOCK)
        done: list[str] = []
        for round_, lpn in enumerate(lpns):
            barrier.wait(TIMEOUT)
            done += catalog.register_files(
                lpn,
                _new_files(worker, round_, 3, "race"),
                SITES[worker % len(SITES)],
                f"user{worker}",
                T0,
            )
        catalog.close()
        results.put((worker, "ok", done))
    except BaseException:
        results.put((worker, "error", traceback.format_exc()))
        barrier.abort()  # the others stop waiting for this one
        raise


def _run_children(target: Any, arg_sets: list[tuple[Any, ...]]) -> dict[int, list[str]]:
    """Start one spawned child per argument tuple (a barrier and a queue are
    appended), collect what each registered; fail with the child's traceback."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(arg_sets))
    results = ctx.Queue()
    procs = [
        ctx.Process(target=target, args=(*args, barrier, results)) for args in arg_sets
    ]
    for p in procs:
        p.start()
    out: dict[int, list[str]] = {}
    errors: list[str] = []
    try:
        for _ in procs:
            try:
                worker, status, payload = results.get(timeout=TIMEOUT)
            except queue.Empty:
                errors.append(f"a child sent nothing within {TIMEOUT} s")
                break
            if status == "ok":
                out[worker] = payload
            else:
                errors.append(f"child {worker} failed:\n{payload}")
    finally:
        for p in procs:
            p.join(TIMEOUT)
            if p.is_alive():
                p.kill()
                p.join()
        results.close()
        results.join_thread()
    assert not errors, "\n".join(errors)
    assert [p.exitcode for p in procs] == [0] * len(procs)
    assert sorted(out) == list(range(len(arg_sets)))
    return out


def _check_dataset(catalog: Catalog, lpn: str, expected: set[str]) -> None:
    """``lpn`` holds exactly the files ``expected`` (base names), each once, in
    datablocks sub00..subNN filled to BLOCK files, all names reserved."""
    listed = catalog.files_of(lpn)
    base = Counter(f.lfn.rsplit("/", 1)[1] for f in listed)
    assert set(base) == expected
    duplicated = sorted(n for n, k in base.items() if k > 1)
    assert not duplicated, f"registered more than once in {lpn}: {duplicated[:5]}"
    record = catalog.dataset(lpn)
    assert record.nfiles == len(expected)
    n_blocks = -(-len(expected) // BLOCK)
    assert record.datablocks == tuple(f"{lpn}/sub{i:02d}" for i in range(n_blocks))
    per_block = Counter(f.datablock for f in listed)
    assert set(per_block) == set(record.datablocks)
    for block, n in per_block.items():
        assert n <= BLOCK, f"{block} holds {n} files > {BLOCK}"
    for block in record.datablocks[:-1]:
        assert per_block[block] == BLOCK, f"{block} holds {per_block[block]} files"
    for f in listed:
        assert f.datablock is not None
        assert f.lfn == f"{f.datablock}/{f.lfn.rsplit('/', 1)[1]}"
        assert len(f.replicas) == 1, f"{f.lfn}: {f.replicas}"
        assert f.replicas[0].state == "available"
    with catalog.reading() as conn:
        reserved = {
            r.name: r.kind
            for r in conn.execute(
                select(names.c.name, names.c.kind).where(
                    names.c.name.startswith(lpn, autoescape=True)
                )
            )
        }
        assert (
            conn.execute(select(func.count()).where(datasets.c.lpn == lpn)).scalar_one()
            == 1
        )
    want = {f.lfn: "file" for f in listed}
    want |= dict.fromkeys(record.datablocks, "datablock")
    want[lpn] = "dataset"
    assert reserved == want


def test_concurrent_registration_into_one_dataset(tmp_path: Path) -> None:
    home = tmp_path / "home"
    n_workers, calls, per_call = 3, 30, 7  # 7: calls straddle datablocks
    shared = "/belle/user/shared/together"
    own = [f"/belle/user/user{w}/alone" for w in range(n_workers)]
    registered = _run_children(
        _register_many,
        [(str(home), w, shared, own[w], calls, per_call) for w in range(n_workers)],
    )
    catalog = Catalog.open(sqlite_url(home), datablock_size=BLOCK)
    try:
        every = [lfn for lfns in registered.values() for lfn in lfns]
        assert len(every) == len(set(every)) == 2 * n_workers * calls * per_call
        for w in range(n_workers):
            _check_dataset(
                catalog,
                own[w],
                {
                    f.name
                    for c in range(calls)
                    for f in _new_files(w, c, per_call, "own")
                },
            )
        _check_dataset(
            catalog,
            shared,
            {
                f.name
                for w in range(n_workers)
                for c in range(calls)
                for f in _new_files(w, c, per_call, "shared")
            },
        )
        with catalog.reading() as conn:
            lfns_in_db = {r.lfn for r in conn.execute(select(files.c.lfn))}
            n_blocks = conn.execute(
                select(func.count()).select_from(datablocks)
            ).scalar_one()
        # what the children were told is exactly what the catalog holds
        assert lfns_in_db == set(every)
        own_blocks = -(-calls * per_call // BLOCK)
        shared_blocks = -(-n_workers * calls * per_call // BLOCK)
        assert n_blocks == n_workers * own_blocks + shared_blocks
    finally:
        catalog.close()


def test_racing_to_create_the_same_dataset(tmp_path: Path) -> None:
    home = tmp_path / "home"
    Catalog.open(sqlite_url(home)).close()  # the schema exists; the datasets do not
    n_workers, rounds = 3, 15
    lpns = [f"/belle/user/shared/race{r:02d}" for r in range(rounds)]
    registered = _run_children(
        _race_new_datasets, [(str(home), w, lpns) for w in range(n_workers)]
    )
    catalog = Catalog.open(sqlite_url(home), datablock_size=BLOCK)
    try:
        for w in range(n_workers):
            assert len(registered[w]) == 3 * rounds
        for r, lpn in enumerate(lpns):
            _check_dataset(
                catalog,
                lpn,
                {f.name for w in range(n_workers) for f in _new_files(w, r, 3, "race")},
            )
            # created once, by whichever child came first
            assert catalog.dataset(lpn).owner in {f"user{w}" for w in range(n_workers)}
    finally:
        catalog.close()
