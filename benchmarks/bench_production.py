"""Benchmark: a processing campaign's RAW → mDST throughput on the embedded grid
against the same work in a plain loop.

What it measures
----------------
On one embedded production grid (KEK 2 slots, BNL, DESY, SiGNET 1 each; RAW at KEK
plus another raw data centre), ``--runs`` runs of ``--lumi`` fb^-1 are taken, then a
prompt bucket processes them. Its ``mdst`` stage — one job per run at the raw data
centres holding the RAW: read RAW, reconstruct with the final tag, write the
``all`` and ``hadron`` mDST, register both — is timed from the moment the stage
is submitted until it is booked done (``stage wall``), and over its jobs' first
dispatch to last end (``jobs window``). Then the same RAW files, copied locally,
go through the very same job function (``tasks.mdst``) with no grid:

* ``loop``: one process, a plain loop over the files;
* ``pool``: two processes (both cores busy), the files shared between them.

Printed: RAW events, seconds and events/s per way, and the ratios grid / loop and
grid / pool. The issue's aim is grid / (both cores busy) >= 0.85.

Run: ``python benchmarks/bench_production.py [--runs 6] [--lumi 0.5]``.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from b2grid.jobs.execution import JobContext
from b2grid.production import layout, tasks
from b2grid.testing import production_grid

EXP = 12


def process_file(raw: str, out: str, conditions: str, tags: list[str]) -> int:
    """``tasks.mdst`` on one local RAW file, outside any grid; returns events."""
    scratch = Path(out)
    (scratch / "out").mkdir(parents=True, exist_ok=True)
    ctx = JobContext(
        job_id=0, attempt=1, site="local", inputs=(raw,), input_lfns=(raw,),
        scratch=scratch, output_names=("all.root", "hadron.root"),
        kwargs={"conditions": conditions, "tags": tags, "exp": EXP, "run": 0,
                "campaign": "bench"},
    )  # fmt: skip
    tasks.mdst(ctx)
    return ctx.facts["all.root"]["events"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--lumi", type=float, default=0.5, help="fb^-1 per run")
    args = ap.parse_args()
    last = 853 + args.runs - 1
    with tempfile.TemporaryDirectory() as tmp:
        grid = production_grid(Path(tmp) / "home")
        with grid:
            t = time.perf_counter()
            taking = grid.production.take_data(EXP, f"853-{last}", args.lumi)
            assert taking.wait(3600) == "done", taking.stages()
            print(f"data taking: {time.perf_counter() - t:.1f} s", flush=True)
            campaign = grid.production.process(
                "bucket1", EXP, f"853-{last}", min_mumu=60
            )
            started = done = 0.0
            while True:
                grid.production.run_once()
                stage = campaign.info().stage("mdst")
                if stage.status.value == "running" and not started:
                    started = time.perf_counter()
                if stage.status.value in ("done", "failed"):
                    done = time.perf_counter()
                    break
                time.sleep(0.02)
            assert stage.status.value == "done", campaign.stages()
            wall = done - started
            attempts = [
                a
                for r in grid.jobs.store.jobs(stage.project_id or 0)
                for a in grid.jobs.store.attempts(r.job_id)
            ]
            first = min(datetime.fromisoformat(a.dispatched or "") for a in attempts)
            end = max(datetime.fromisoformat(a.ended or "") for a in attempts)
            window = (end - first).total_seconds()
            local = Path(tmp) / "raw"
            local.mkdir()
            raws = []
            for run in range(853, last + 1):
                f = grid.storage.catalog.files_of(layout.raw_path(EXP, run))[0]
                path = local / f"r{run}.root"
                grid.storage.fetch(f.lfn, path)
                raws.append(str(path))
            conditions = str(grid.conditions.root)
        tags = ["bucket1_prompt", "data_online"]
        events = 0
        t = time.perf_counter()
        for i, raw in enumerate(raws):
            events += process_file(raw, f"{tmp}/loop{i}", conditions, tags)
        loop = time.perf_counter() - t
        t = time.perf_counter()
        with ProcessPoolExecutor(2) as pool:
            futures: list[Any] = [
                pool.submit(process_file, raw, f"{tmp}/pool{i}", conditions, tags)
                for i, raw in enumerate(raws)
            ]
            assert sum(f.result() for f in futures) == events
        pooled = time.perf_counter() - t
        shutil.rmtree(local)
    print(f"RAW events processed: {events} in {len(raws)} files")
    rows = [
        ("grid: stage wall", wall),
        ("grid: jobs window", window),
        ("loop (1 process)", loop),
        ("pool (2 processes)", pooled),
    ]
    for name, seconds in rows:
        print(f"{name:22s} {seconds:7.2f} s  {events / seconds:9.0f} events/s")
    print(f"grid (stage wall) / loop: {loop / wall:.2f}x throughput")
    print(f"grid (stage wall) / pool: {pooled / wall:.2f}x throughput")
    print(f"grid (jobs window) / pool: {pooled / window:.2f}x throughput")


if __name__ == "__main__":
    main()
