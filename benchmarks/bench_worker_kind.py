"""Benchmark: should the embedded grid run its Dask workers as threads or processes?

What it measures
----------------
An embedded "grid" of 10 sites is built with ``distributed.SpecCluster``; every
site is one Dask worker named after the site, with ``nthreads`` equal to the
site's slots and the Dask resource ``{"site-<NAME>": slots}``.  Two worker kinds
are compared:

* ``threads``   -- ``cls=distributed.Worker``: every worker lives in one process
  (together with the scheduler and the driver);
* ``processes`` -- ``cls=distributed.Nanny``: one Nanny plus one worker process
  per site.

For each kind, and repeated ``--repeats`` times (default 3, kinds interleaved),
the script measures:

1. start-up time (``SpecCluster(...)`` + ``Client`` + ``wait_for_workers(10)``)
   and shut-down time (``client.close()`` + ``cluster.close()``);
2. memory of the whole process tree once up (psutil: RSS summed over the
   driver process and all its children; USS sum is shown too, as RSS counts
   shared pages once per process), plus the process count;
3. throughput of 1000 trivial tasks, placed round-robin across the sites with
   ``client.submit(fn, i, resources={"site-X": 1}, pure=False)`` and gathered;
4. 40 CPU-bound pure-Python tasks (a Python loop summing 2e6 ints, ~0.1 s):
   wall time and speed-up vs. running the same 40 calls serially;
5. 40 numpy-heavy tasks (2e6 random normals -> sqrt(sum of squares), 3 times,
   ~0.1 s): wall time and speed-up vs. serial.

It also reports the CPU used by other processes on the machine during each
run (in cores), so that runs disturbed by a noisy neighbour can be spotted.

Compute tasks (4, 5) are spread over the sites in proportion to their slots and
run as two batches on the same cluster: batch 1 is the first heavy work after
start-up (pays first-touch page faults), batch 2 is the steady state.
Every (kind, repeat) measurement runs in a fresh Python subprocess so that
memory numbers and interpreter state are not polluted by earlier runs; the
serial baselines are timed in the parent between repeats.  The result is a
table with median [min-max] per kind and the ratio processes/threads of the
medians.

How to run
----------
    python benchmarks/bench_worker_kind.py            # full run (~2-3 min on 2 cores)
    python benchmarks/bench_worker_kind.py --repeats 1

Requires only distributed, numpy, psutil (rich, if installed, for the table).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import psutil

# Sites of the embedded grid and their slot counts (= Dask worker nthreads).
SITES: dict[str, int] = {
    "KEK": 4,
    "BNL": 3,
    "DESY": 3,
    "GridKa": 2,
    "CNAF": 2,
    "IN2P3": 2,
    "UVic": 2,
    "SiGNET": 1,
    "Napoli": 1,
    "Melbourne": 1,
}
KINDS: tuple[str, ...] = ("threads", "processes")
MEMORY_LIMIT = "2GiB"

N_TRIVIAL = 1000
N_COMPUTE = 40
CPU_LOOP_N = 2_000_000
NUMPY_N = 2_000_000
NUMPY_REPS = 3
CHILD_TIMEOUT_S = 180


# --------------------------------------------------------------------------- #
# Task functions (module level so both worker kinds can unpickle them).
# --------------------------------------------------------------------------- #
def trivial_task(i: int) -> int:
    """Do (almost) nothing: measures per-task scheduling overhead."""
    return i + 1


def cpu_task(n: int = CPU_LOOP_N) -> int:
    """Pure-Python, GIL-bound loop summing ``n`` ints (~0.1 s for 2e6)."""
    total = 0
    for i in range(n):
        total += i
    return total


def numpy_task(n: int = NUMPY_N, reps: int = NUMPY_REPS) -> float:
    """numpy-heavy work: ``reps`` times draw ``n`` normals, return the L2 norm."""
    rng = np.random.default_rng()
    acc = 0.0
    for _ in range(reps):
        x = rng.standard_normal(n)
        acc += float(np.sqrt(np.sum(x * x)))
    return acc


# --------------------------------------------------------------------------- #
# Helpers
# --------------------------------------------------------------------------- #
def tree_memory() -> tuple[int, int, int]:
    """Return (sum RSS, sum USS, number of processes) of this process + children."""
    me = psutil.Process()
    procs = [me, *me.children(recursive=True)]
    rss = uss = count = 0
    for p in procs:
        try:
            info = p.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss += info.rss
        uss += getattr(info, "uss", 0)
        count += 1
    return rss, uss, count


def busy_cpu_seconds() -> tuple[float, float]:
    """Return (system-wide busy CPU seconds, CPU seconds of this process tree)."""
    t = psutil.cpu_times()
    system = (
        t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0)
    )
    me = psutil.Process()
    own = 0.0
    for p in [me, *me.children(recursive=True)]:
        try:
            c = p.cpu_times()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        own += c.user + c.system
    return system, own


def slot_weighted_sites() -> list[str]:
    """Sites repeated by their slot count (KEK x4, BNL x3, ...), for spreading work."""
    return [site for site, slots in SITES.items() for _ in range(slots)]


def time_serial(fn: Callable[[], Any], n: int) -> float:
    """Wall time of ``n`` sequential calls of ``fn`` in this process."""
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- #
# One measurement (runs in a fresh subprocess)
# --------------------------------------------------------------------------- #
def run_one(kind: str) -> dict[str, float]:
    """Start the 10-site grid with the given worker kind and measure everything."""
    from distributed import Client, Future, Nanny, Scheduler, SpecCluster, Worker

    worker_cls = {"threads": Worker, "processes": Nanny}[kind]
    workers = {
        site: {
            "cls": worker_cls,
            "options": {
                "name": site,
                "nthreads": slots,
                "resources": {f"site-{site}": slots},
                "memory_limit": MEMORY_LIMIT,
            },
        }
        for site, slots in SITES.items()
    }
    scheduler = {"cls": Scheduler, "options": {"dashboard_address": None}}

    res: dict[str, float] = {}
    res["driver_rss_mb"] = psutil.Process().memory_info().rss / 2**20
    wall0, (sys0, own0) = time.perf_counter(), busy_cpu_seconds()

    # 1. start-up
    t0 = time.perf_counter()
    cluster = SpecCluster(
        workers=workers, scheduler=scheduler, silence_logs=logging.ERROR
    )
    client = Client(cluster)
    try:
        client.wait_for_workers(len(SITES))
        res["startup_s"] = time.perf_counter() - t0

        # 2. memory once up (idle)
        rss, uss, nproc = tree_memory()
        res["rss_mb"] = rss / 2**20
        res["uss_mb"] = uss / 2**20
        res["nproc"] = float(nproc)

        # Warm-up: every site runs every function once (imports, unpickling).
        warm: list[Future[Any]] = []
        for site in SITES:
            r = {f"site-{site}": 1}
            warm.append(client.submit(trivial_task, 0, resources=r, pure=False))
            warm.append(client.submit(cpu_task, 10, resources=r, pure=False))
            warm.append(client.submit(numpy_task, 10, 1, resources=r, pure=False))
        client.gather(warm)

        # 3. trivial task throughput, round-robin over sites
        sites_rr = itertools.cycle(SITES)
        t0 = time.perf_counter()
        futs = [
            client.submit(
                trivial_task, i, resources={f"site-{next(sites_rr)}": 1}, pure=False
            )
            for i in range(N_TRIVIAL)
        ]
        out = client.gather(futs)
        dt = time.perf_counter() - t0
        assert out == [i + 1 for i in range(N_TRIVIAL)]
        res["trivial_tasks_per_s"] = N_TRIVIAL / dt
        del futs

        # 4./5. compute tasks spread over the sites in proportion to slots
        weighted = itertools.cycle(slot_weighted_sites())
        compute: tuple[tuple[str, Callable[..., Any]], ...] = (
            ("cpu", cpu_task),
            ("numpy", numpy_task),
        )
        # (batch 1 = first touch after start-up, batch 2 = steady state)
        for batch in (1, 2):
            for name, fn in compute:
                t0 = time.perf_counter()
                batch_futs = [
                    client.submit(
                        fn, resources={f"site-{next(weighted)}": 1}, pure=False
                    )
                    for _ in range(N_COMPUTE)
                ]
                client.gather(batch_futs)
                res[f"{name}{batch}_wall_s"] = time.perf_counter() - t0
                del batch_futs

        rss, uss, _ = tree_memory()
        res["rss_after_mb"] = rss / 2**20
        # CPU used by *other* processes on the machine while we measured
        sys1, own1 = busy_cpu_seconds()
        wall = time.perf_counter() - wall0
        res["other_load_cores"] = max(0.0, (sys1 - sys0) - (own1 - own0)) / wall
        res["own_load_cores"] = (own1 - own0) / wall
    finally:
        # 1b. shut-down
        t0 = time.perf_counter()
        client.close()
        cluster.close()
        res["shutdown_s"] = time.perf_counter() - t0
    return res


# --------------------------------------------------------------------------- #
# Orchestration and reporting
# --------------------------------------------------------------------------- #
def spawn_child(kind: str) -> dict[str, float]:
    """Run :func:`run_one` in a fresh interpreter and return its JSON result."""
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", kind],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
    )
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise RuntimeError(f"child run for {kind!r} failed ({proc.returncode})")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# (result key, row label, number format)
ROWS: list[tuple[str, str, str]] = [
    ("other_load_cores", "noise: other procs' CPU during run [cores]", "{:.2f}"),
    ("own_load_cores", "own tree CPU during run [cores]", "{:.2f}"),
    ("startup_s", "start-up until 10 workers [s]", "{:.2f}"),
    ("shutdown_s", "shut-down [s]", "{:.2f}"),
    ("nproc", "processes in tree", "{:.0f}"),
    ("driver_rss_mb", "driver RSS before cluster [MiB]", "{:.0f}"),
    ("rss_mb", "tree RSS once up [MiB]", "{:.0f}"),
    ("uss_mb", "tree USS once up [MiB]", "{:.0f}"),
    ("rss_after_mb", "tree RSS after workload [MiB]", "{:.0f}"),
    ("trivial_tasks_per_s", f"{N_TRIVIAL} trivial tasks [tasks/s]", "{:.0f}"),
    *(
        row
        for name, label in (("cpu", "pure-Python"), ("numpy", "numpy"))
        for batch in (1, 2)
        for row in (
            (
                f"{name}{batch}_wall_s",
                f"{N_COMPUTE} {label} tasks, batch {batch}: wall [s]",
                "{:.2f}",
            ),
            (f"{name}{batch}_speedup", "  speed-up vs serial [x]", "{:.2f}"),
        )
    ),
]


def summarize(values: Sequence[float], fmt: str) -> str:
    """Format as 'median [min-max]'."""
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


def print_table(
    results: dict[str, list[dict[str, float]]],
    serial: dict[str, list[float]],
    repeats: int,
) -> None:
    """Print the comparison table (rich if available, plain text otherwise)."""
    header = ["metric", "threads (Worker)", "processes (Nanny)", "proc/threads"]
    body: list[list[str]] = []
    for key, label, fmt in ROWS:
        cells = [label]
        meds: list[float] = []
        for kind in KINDS:
            vals = [r[key] for r in results[kind]]
            meds.append(statistics.median(vals))
            cells.append(summarize(vals, fmt))
        cells.append(f"{meds[1] / meds[0]:.2f}" if meds[0] else "-")
        body.append(cells)
    title = (
        f"b2grid worker kind: 10 sites / {sum(SITES.values())} slots, "
        f"{psutil.cpu_count()} CPUs, median [min-max] of {repeats} runs"
    )
    note = (
        f"serial in driver: {N_COMPUTE} pure-Python = "
        f"{summarize(serial['cpu'], '{:.2f}')} s, "
        f"{N_COMPUTE} numpy = {summarize(serial['numpy'], '{:.2f}')} s"
    )
    try:  # imported lazily: spawned worker processes re-import this module
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table
    except ImportError:
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(4)]
        print(title)
        for row in [header, *body]:
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        print(note)
        return
    table = Table(title=escape(title), caption=escape(note))
    for i, h in enumerate(header):
        table.add_column(h, justify="left" if i == 0 else "right")
    for row in body:
        table.add_row(*(escape(c) for c in row))
    Console(width=120).print(table)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run all measurements and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:  # internal: one measurement, JSON on stdout
        print(json.dumps(run_one(args.child)))
        return

    results: dict[str, list[dict[str, float]]] = {k: [] for k in KINDS}
    serial: dict[str, list[float]] = {"cpu": [], "numpy": []}
    cpu_task(10), numpy_task(10, 1)  # warm-up in the driver
    t_start = time.perf_counter()
    for rep in range(args.repeats):
        serial["cpu"].append(time_serial(cpu_task, N_COMPUTE))
        serial["numpy"].append(time_serial(numpy_task, N_COMPUTE))
        # alternate the order so neither kind always runs first
        order = KINDS if rep % 2 == 0 else KINDS[::-1]
        for kind in order:
            r = spawn_child(kind)
            for name in ("cpu", "numpy"):
                for batch in (1, 2):
                    r[f"{name}{batch}_speedup"] = (
                        serial[name][-1] / r[f"{name}{batch}_wall_s"]
                    )
            results[kind].append(r)
            print(
                f"[rep {rep + 1}/{args.repeats}] {kind:9s} "
                f"start {r['startup_s']:.2f}s  rss {r['rss_mb']:.0f}MiB  "
                f"{r['trivial_tasks_per_s']:.0f} tasks/s  "
                f"cpu {r['cpu1_wall_s']:.2f}/{r['cpu2_wall_s']:.2f}s  "
                f"numpy {r['numpy1_wall_s']:.2f}/{r['numpy2_wall_s']:.2f}s",
                flush=True,
            )
    print(f"total benchmark time: {time.perf_counter() - t_start:.0f} s\n")
    print_table(results, serial, args.repeats)


if __name__ == "__main__":
    main()
