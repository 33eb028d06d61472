"""Benchmark: event-file I/O: codec choice, b2grid writer/reader vs plain uproot.

What it measures
----------------
One batch of realistic mDST events (MC ``--sample`` through generation, detector and
reconstruction; ``--events`` of them) is written and read back, everything side by
side in one run, each measurement repeated ``--repeat`` times (median reported):

1. **Codecs**: the same branches written with plain uproot under ZSTD-1, ZSTD-5,
   LZ4-4, ZLIB-1 and no compression, in baskets of ``--basket`` events: file bytes
   per event, write and read (all branches) throughput in events/s.
2. **Framework overhead**: :func:`b2grid.formats.write_events` (schema checks, dtype
   casts, basket buffering, metadata, atomic rename) against plain
   ``uproot.recreate`` + ``mktree`` + ``extend`` of the identical branch dictionary;
   :func:`b2grid.formats.read_events` (rebuilding collections as records) against
   plain ``tree.arrays()`` of every branch. Ratios b2grid/plain (> 1 = slower).

The mDST bytes per event are printed beside PHYSICS.md's 8-12 kB for hadronic events.

Run: ``python benchmarks/bench_formats.py [--events 20000] [--sample charged]``.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uproot

from b2grid import formats
from b2grid.conditions import ConditionsDB
from b2grid.physics import chain
from b2grid.physics.conditions import install_default_tags


def timed(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def plain_write(path: Path, branches: dict[str, Any], codec: Any, basket: int) -> None:
    n = len(next(iter(branches.values())))
    with uproot.recreate(path, compression=codec) as f:
        types = {
            k: (v.type if hasattr(v, "layout") else v.dtype)
            for k, v in branches.items()
        }
        f.mktree("events", types, counter_name=lambda c: f"n{c}")
        for start in range(0, n, basket):
            f["events"].extend(
                {k: v[start : start + basket] for k, v in branches.items()}
            )


def plain_read(path: Path) -> None:
    with uproot.open(path) as f:
        f["events"].arrays(library="ak")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--sample", default="charged")
    ap.add_argument("--basket", type=int, default=formats.BASKET_EVENTS)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        db = ConditionsDB(root / "cdb")
        install_default_tags(db)
        t = time.perf_counter()
        events = chain.produce_mc(args.sample, args.events, seed=1, db=db)
        took = time.perf_counter() - t
        print(f"made {args.events} {args.sample} mDST events in {took:.1f} s")
        branches = formats.to_branches(events, "mdst", mc=True)
        n = args.events

        print(f"\n1. codecs (plain uproot, baskets of {args.basket} events)")
        print(f"{'codec':<8} {'B/event':>9} {'write ev/s':>12} {'read ev/s':>12}")
        codecs = {
            "ZSTD-1": uproot.ZSTD(1),
            "ZSTD-5": uproot.ZSTD(5),
            "LZ4-4": uproot.LZ4(4),
            "ZLIB-1": uproot.ZLIB(1),
            "none": None,
        }
        for name, codec in codecs.items():
            path = root / f"{name}.root"
            write = functools.partial(plain_write, path, branches, codec, args.basket)
            tw = timed(write, args.repeat)
            tr = timed(functools.partial(plain_read, path), args.repeat)
            size = os.path.getsize(path) / n
            print(f"{name:<8} {size:>9.0f} {n / tw:>12,.0f} {n / tr:>12,.0f}")

        print("\n2. b2grid vs plain uproot (ZSTD-1, same branches, same baskets)")
        meta = formats.FileMetadata(level="mdst", experiment=1003, run=0, is_mc=True)
        ours, plain = root / "ours.root", root / "plain.root"
        rows = []
        for _ in range(args.repeat):  # alternate so both see the same machine state
            tb = timed(
                lambda: formats.write_events(
                    ours, events, meta, basket_events=args.basket
                ),
                1,
            )
            tp = timed(
                lambda: plain_write(plain, branches, formats.COMPRESSION, args.basket),
                1,
            )
            rb = timed(lambda: formats.read_events(ours), 1)
            rp = timed(lambda: plain_read(plain), 1)
            rows.append((tb, tp, rb, rp))
        tb, tp, rb, rp = (statistics.median(c) for c in zip(*rows, strict=True))
        for what, ours_t, plain_t in (("write", tb, tp), ("read", rb, rp)):
            print(
                f"{what:<6} b2grid {n / ours_t:>10,.0f} ev/s  plain "
                f"{n / plain_t:>10,.0f} ev/s  ratio {ours_t / plain_t:.2f}"
            )
        size = os.path.getsize(ours) / n
        print(
            f"\nmDST: {size:,.0f} B/event ({args.sample}); PHYSICS.md: 8-12 kB hadronic"
        )


if __name__ == "__main__":
    main()
