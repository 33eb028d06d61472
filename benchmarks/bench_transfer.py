"""Benchmark: b2grid's SE-to-SE ``copy_file`` against a plain ``shutil.copyfile``.

What it measures
----------------
Two ``file://`` storage elements in a temporary directory; the source holds one
datablock of ``--files`` files totalling ``--size-mb`` MB (random bytes made once,
each file given its own header so every checksum differs). Each repeat copies the
whole datablock three ways, in an order that rotates from repeat to repeat:

* ``b2grid``       -- :func:`b2grid.storage.transfer.copy_file` per file: streamed
  in 4 MiB chunks, adler32 on the way, temporary name, fsync, verified, linked
  into place;
* ``plain``        -- ``shutil.copyfile`` per file (on Linux: ``sendfile`` in the
  kernel, no checksum, no fsync): the target the issue names;
* ``plain+fsync``  -- ``shutil.copyfile`` then ``os.fsync`` of each copy, the same
  durability as b2grid, to show what the fsync alone costs.

Each copy goes to a fresh, empty destination, deleted after its timing. The
source is written just before the runs and sits in the page cache for all of
them, so this compares the copy paths, not the disks' read speed. Reported: MB/s
per repeat, the median, and the ratio of medians b2grid/plain (the issue aims at
>= 0.8) and b2grid/plain+fsync.

How to run
----------
    python benchmarks/bench_transfer.py                       # 1000 MB in 20 files
    python benchmarks/bench_transfer.py --size-mb 200 --files 4 --repeats 1

Needs only b2grid. Uses about twice ``--size-mb`` of disk under ``--dir``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from b2grid.storage.checksum import adler32_of_bytes
from b2grid.storage.element import StorageElement
from b2grid.storage.transfer import copy_file

MB = 1_000_000
BLOCK = "/belle/MC/release-08-00-00/DB00002100/MC15ri_b/prod00024816/s00/e1003/4S"


def make_source(src: StorageElement, size_mb: int, n_files: int) -> dict[str, str]:
    """Write ``n_files`` files of ``size_mb / n_files`` MB; return {lfn: adler32}."""
    per_file = size_mb * MB // n_files
    base = bytearray(os.urandom(per_file))
    files = {}
    for i in range(n_files):
        base[:16] = f"file {i:011d}".encode()
        lfn = f"{BLOCK}/r00000/mixed/mdst/sub00/mdst_{i:06d}.root"
        files[lfn] = src.put_bytes(lfn, bytes(base)).adler32
        assert files[lfn] == adler32_of_bytes(base)
    return files


def run_b2grid(src: StorageElement, dst: Path, files: dict[str, str]) -> None:
    for lfn, adler in files.items():
        copy_file(src.url, f"file://{dst}", lfn, adler, src_site="KEK", dst_site="DESY")


def run_plain(src: StorageElement, dst: Path, files: dict[str, str]) -> None:
    for lfn in files:
        target = dst / lfn.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src.path_for(lfn), target)


def run_plain_fsync(src: StorageElement, dst: Path, files: dict[str, str]) -> None:
    for lfn in files:
        target = dst / lfn.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src.path_for(lfn), target)
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


METHODS: dict[str, Callable[[StorageElement, Path, dict[str, str]], None]] = {
    "b2grid": run_b2grid,
    "plain": run_plain,
    "plain+fsync": run_plain_fsync,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1000, help="datablock size")
    parser.add_argument("--files", type=int, default=20, help="files in the block")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="untimed passes first")
    parser.add_argument("--dir", default=None, help="where to make the SEs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_transfer_", dir=args.dir) as tmp:
        home = Path(tmp)
        src = StorageElement("KEK", f"file://{home}/KEK", capacity=10**13)
        t0 = time.perf_counter()
        files = make_source(src, args.size_mb, args.files)
        total = sum(src.size(lfn) for lfn in files)
        print(
            f"source: {len(files)} files, {total / MB:.0f} MB "
            f"(written in {time.perf_counter() - t0:.1f} s) under {home}"
        )

        # a VM's guest pays for the first touch of fresh RAM (new page-cache and
        # buffer pages) many times over: one untimed pass of every method first
        for w in range(args.warmup):
            for name, method in METHODS.items():
                method(src, home / f"warmup-{name}-{w}", files)
                shutil.rmtree(home / f"warmup-{name}-{w}")

        names = list(METHODS)
        rates: dict[str, list[float]] = {n: [] for n in names}
        for r in range(args.repeats):
            order = names[r % len(names) :] + names[: r % len(names)]
            for name in order:
                dst = home / f"dst-{name}-{r}"
                os.sync()  # no method pays for writing back an earlier one's pages
                t = time.perf_counter()
                METHODS[name](src, dst, files)
                seconds = time.perf_counter() - t
                rate = total / MB / seconds
                rates[name].append(rate)
                print(f"repeat {r}  {name:<12} {seconds:6.2f} s  {rate:7.0f} MB/s")
                shutil.rmtree(dst)

        med = {n: statistics.median(v) for n, v in rates.items()}
        print()
        print(f"{'method':<12} {'median MB/s':>12}   per repeat")
        for n in names:
            each = " ".join(f"{v:.0f}" for v in rates[n])
            print(f"{n:<12} {med[n]:>12.0f}   {each}")
        print(f"ratio b2grid/plain       = {med['b2grid'] / med['plain']:.2f}")
        print(f"ratio b2grid/plain+fsync = {med['b2grid'] / med['plain+fsync']:.2f}")


if __name__ == "__main__":
    main()
