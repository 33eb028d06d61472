"""Benchmark: what running user code in a sandboxed payload process costs.

Side by side, in one run, on the same functions:

* ``in-thread``   -- the function called in a thread of this process (what jobs
  did before: no isolation at all);
* ``process``     -- a payload process of its own (``runtime.sandbox: process``);
* ``namespaces``  -- a payload process in its own mount and network namespaces,
  the grid home hidden (``runtime.sandbox: auto`` where the kernel allows it).

For each: the per-call latency of a trivial call (median of ``--calls``), the
throughput of ``--calls`` trivial calls from 4 threads at once (as 4 job slots
would), and the wall time of a numpy-heavy call (2e6 normals, sqrt of the mean
square, 5 times). The payload server's start-up is timed once per mode. Ratios
are to ``in-thread``.

    python benchmarks/bench_sandbox.py [--calls 200]
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cloudpickle

from b2grid.jobs.sandbox import Limits, Request, Sandbox

LIMITS = Limits(memory=2 * 2**30, wall_seconds=600.0)


def trivial(x: int) -> int:
    return x + 1


def numpy_heavy(seed: int) -> float:
    import numpy as np

    rng = np.random.default_rng(seed)
    out = 0.0
    for _ in range(5):
        out += float(np.sqrt(np.square(rng.normal(size=2_000_000)).mean()))
    return out


def sandboxed(box: Sandbox, home: Path, fn: Any, arg: Any) -> Any:
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        payload = cloudpickle.dumps((fn, (arg,), {}))
        out = box.run(
            Request(
                "b2grid.jobs.sandbox:call_pickled",
                pickle.dumps(payload),
                scratch,
                LIMITS,
                hidden=(str(home),),
            )
        )
    assert out.kind == "ok", out.error
    return out.value


def measure(call: Any, calls: int) -> dict[str, float]:
    lat = []
    for i in range(calls):
        t = time.perf_counter()
        call(trivial, i)
        lat.append(time.perf_counter() - t)
    t = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: call(trivial, i), range(calls)))
    rate = calls / (time.perf_counter() - t)
    heavy = []
    for i in range(3):
        t = time.perf_counter()
        call(numpy_heavy, i)
        heavy.append(time.perf_counter() - t)
    return {
        "latency_ms": 1000 * statistics.median(lat),
        "rate_per_s": rate,
        "numpy_s": statistics.median(heavy),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-home-"))
    results: dict[str, dict[str, float]] = {}
    starts: dict[str, float] = {}

    def in_thread(fn: Any, arg: Any) -> Any:
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(fn, arg).result()

    results["in-thread"] = measure(in_thread, args.calls)
    for mode in ("process", "auto"):
        t = time.perf_counter()
        box = Sandbox(mode)  # type: ignore[arg-type]
        starts[mode] = time.perf_counter() - t
        name = "namespaces" if box.confined else "process"
        if mode == "auto" and not box.confined:
            print(f"namespaces unavailable: {box.confinement}")
            box.close()
            continue
        try:
            results[name] = measure(
                lambda fn, arg, b=box: sandboxed(b, home, fn, arg), args.calls
            )
        finally:
            box.close()
    base = results["in-thread"]
    print(f"{'mode':<12} {'trivial call':>16} {'4-thread rate':>20} {'numpy call':>18}")
    for name, r in results.items():
        lat = r["latency_ms"] / base["latency_ms"]
        rate = r["rate_per_s"] / base["rate_per_s"]
        heavy = r["numpy_s"] / base["numpy_s"]
        print(
            f"{name:<12} {r['latency_ms']:8.2f} ms x{lat:5.0f}"
            f" {r['rate_per_s']:9.0f} /s x{rate:5.2f}"
            f" {r['numpy_s']:8.3f} s x{heavy:5.2f}"
        )
    for mode, s in starts.items():
        print(f"payload server start ({mode}): {s:.2f} s")


if __name__ == "__main__":
    main()
