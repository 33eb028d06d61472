"""Benchmark: ``download`` from an embedded grid's SEs vs a plain file copy.

What it measures
----------------
``--files`` files of ``--size`` MB of random bytes are uploaded to one dataset of an
offline embedded grid (storage elements are folders on this disk). Then, side by
side in one run, into fresh folders each time:

* ``download``: :func:`b2grid.storage.download.download` with ``--workers``
  transfers at a time: a catalog lookup per file, the SE replica streamed to a
  temporary, adler32 on the way, fsync, compared with the catalog, renamed;
* ``copy``: ``shutil.copy`` of the same SE files, one after the other (no
  checksum, no fsync): the floor a user would get by copying by hand;
* ``copy+fsync``: the plain copy, then ``os.fsync`` of each file, which is what the
  download's durability costs on its own;
* ``lean``: what the download must do at least, hand-written with the same
  ``--workers`` threads: read the SE file whole, adler32, write a temporary, fsync,
  rename. The gap between ``lean`` and ``download`` is overhead of the download
  path itself (catalog lookups, the SE's streaming buffers), not of its guarantees.

``ratio`` is download throughput / copy throughput (the issue aims at >= 0.8).
The page cache is warm for every variant (the SE files were just written and are
read once before timing); best of ``--repeat`` runs each. A re-run of the download
into a folder that already holds every file (all skipped after verification) is
timed too.

Run: ``python benchmarks/bench_download.py [--files 50] [--size 2] [--workers 4]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from b2grid.storage.download import download
from b2grid.storage.identity import User
from b2grid.testing import offline_grid


def best(fn: Callable[[Path], object], base: Path, label: str, repeat: int) -> float:
    """Best wall time of ``fn(fresh folder)`` over ``repeat`` runs."""
    times = []
    for i in range(repeat):
        dest = base / f"{label}{i}"
        start = time.perf_counter()
        fn(dest)
        times.append(time.perf_counter() - start)
        shutil.rmtree(dest)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--size", type=float, default=2.0, help="MB per file")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="b2grid-bench-dl-") as tmp:
        base = Path(tmp)
        grid = offline_grid(base / "home", user=User("bench"), capacity="10 GB")
        local = base / "local"
        local.mkdir()
        nbytes = int(args.size * 1e6)
        paths = []
        for i in range(args.files):
            path = local / f"nt_{i:03d}.root"
            path.write_bytes(os.urandom(nbytes))
            paths.append(path)
        lpn = "/belle/user/bench/dlbench"
        names = grid.storage.put(paths, lpn, site="KEK", copies=1, expression="KEK")
        se = grid.storage.element("KEK")
        sources = [Path(se.path_for(n)) for n in names]
        for s in sources:  # warm the page cache for every variant alike
            s.read_bytes()
        total = sum(s.stat().st_size for s in sources)

        def copy(dest: Path, sync: bool = False) -> None:
            dest.mkdir()
            for s in sources:
                target = dest / s.name
                shutil.copy(s, target)
                if sync:
                    with open(target, "rb+") as f:
                        os.fsync(f.fileno())

        def lean_one(source: Path, dest: Path) -> None:
            data = source.read_bytes()
            zlib.adler32(data)
            tmp = dest / f".{source.name}.part"
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, dest / source.name)

        def lean(dest: Path) -> None:
            dest.mkdir()
            with ThreadPoolExecutor(args.workers) as pool:
                list(pool.map(lambda s: lean_one(s, dest), sources))

        def fetch(dest: Path) -> None:
            report = download(grid.storage, lpn, dest, workers=args.workers)
            assert report.complete, report.summary()

        t_copy = best(copy, base, "copy", args.repeat)
        t_sync = best(lambda d: copy(d, sync=True), base, "sync", args.repeat)
        t_lean = best(lean, base, "lean", args.repeat)
        t_dl = best(fetch, base, "dl", args.repeat)
        t_dl1 = best(
            lambda d: download(grid.storage, lpn, d, workers=1), base, "one", 1
        )
        kept = base / "kept"
        download(grid.storage, lpn, kept, workers=args.workers)
        start = time.perf_counter()
        again = download(grid.storage, lpn, kept, workers=args.workers)
        t_again = time.perf_counter() - start
        assert len(again.skipped) == args.files
        grid.close()

    mb = total / 1e6
    print(f"{args.files} files x {args.size:g} MB = {mb:.0f} MB, best of {args.repeat}")
    rows = [
        ("copy (shutil.copy)", t_copy),
        ("copy + fsync", t_sync),
        (f"lean, {args.workers} workers", t_lean),
        (f"download, {args.workers} workers", t_dl),
        ("download, 1 worker", t_dl1),
        ("re-run, all verified", t_again),
    ]
    for label, t in rows:
        print(f"  {label:<24} {t:7.3f} s  {mb / t:8.0f} MB/s")
    print(f"ratio download/copy (throughput): {t_copy / t_dl:.2f}x (aim >= 0.8x)")
    print(f"ratio download/copy+fsync:        {t_sync / t_dl:.2f}x")
    print(f"ratio download/lean:              {t_lean / t_dl:.2f}x")


if __name__ == "__main__":
    main()
