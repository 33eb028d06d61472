"""Benchmark: the matchmaker's decisions per second, against a naive per-job scan.

What it measures
----------------
One matchmaking round (:func:`b2grid.jobs.matchmaker.match`) over ``--jobs`` waiting
jobs and ``--sites`` sites, pure policy, no Dask. The grid is made up but shaped
like Belle II's: sites with 100-2000 slots, partly busy, a few down or banned;
datablocks of 20 files (1-4 GB) replicated at 1-3 sites; most jobs read 1-4 files of
one datablock, some read two datablocks (no site may hold both), some read nothing
(MC); some jobs carry allow or ban lists; priorities 0-10.

Side by side, on the same input, takes turns ``--repeat`` times:

* ``b2grid`` -- :func:`match`: site sets as bit masks, jobs grouped by the eligible
  sites holding all their inputs, a lazy heap for long candidate lists;
* ``naive``  -- for each job in priority order, every site is checked (status, allow
  and ban lists, a replica of each input, a free slot) and the least loaded taken.

Both must make the same assignments (checked). Reported: the best time of each,
decisions/s (jobs decided per second, assigned or not) and the speed-up. Run once
per policy (``wait_for_replica`` and ``read_remote``).

How to run
----------
    python benchmarks/bench_matchmaker.py               # 100,000 jobs, 60 sites
    python benchmarks/bench_matchmaker.py --jobs 20000 --repeat 1
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Mapping, Sequence

from b2grid.jobs.matchmaker import (
    Assignment,
    Candidate,
    MatchResult,
    Policy,
    SiteView,
    match,
)

Matcher = Callable[
    [Sequence[Candidate], Sequence[SiteView], Mapping[str, frozenset[str]],
     Mapping[str, int], Policy],
    MatchResult,
]  # fmt: skip


def make_grid(
    n_jobs: int, n_sites: int, seed: int = 1
) -> tuple[list[Candidate], list[SiteView], dict[str, frozenset[str]], dict[str, int]]:
    """A reproducible made-up grid: jobs, sites, replica map and file sizes."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible made-up grid
    names = [f"SITE{i:02d}" for i in range(n_sites)]
    sites = []
    for i, name in enumerate(names):
        slots = rng.randint(100, 2000)
        status = "down" if i % 20 == 7 else "banned" if i % 30 == 11 else "active"
        sites.append(SiteView(name, status, slots, rng.randint(0, slots // 2)))
    replicas: dict[str, frozenset[str]] = {}
    sizes: dict[str, int] = {}
    blocks: list[list[str]] = []
    for block in range(max(1, n_jobs // 20)):
        holders = frozenset(rng.sample(names, rng.choice((1, 2, 2, 3))))
        files = [
            f"/belle/MC/bench/mdst/sub{block:05d}/f{k:02d}.root" for k in range(20)
        ]
        for lfn in files:
            replicas[lfn] = holders
            sizes[lfn] = rng.randint(1, 4) * 10**9
        blocks.append(files)
    jobs = []
    for job_id in range(1, n_jobs + 1):
        kind = rng.random()
        if kind < 0.05:
            inputs: tuple[str, ...] = ()
        elif kind < 0.10:
            a, b = rng.sample(blocks, 2)
            inputs = (rng.choice(a), rng.choice(b))
        else:
            inputs = tuple(rng.sample(rng.choice(blocks), rng.randint(1, 4)))
        allow: tuple[str, ...] = ()
        ban: tuple[str, ...] = ()
        if rng.random() < 0.1:
            allow = tuple(rng.sample(names, rng.randint(3, 5)))
        if rng.random() < 0.1:
            ban = tuple(rng.sample(names, rng.randint(1, 2)))
        jobs.append(
            Candidate(job_id, inputs, rng.randint(0, 10), allow, ban, float(job_id))
        )
    rng.shuffle(jobs)
    return jobs, sites, replicas, sizes


def naive_match(
    candidates: Sequence[Candidate],
    sites: Sequence[SiteView],
    replicas: Mapping[str, frozenset[str]],
    sizes: Mapping[str, int],
    policy: Policy,
) -> MatchResult:
    """The same rules as :func:`match`, one job and one site at a time."""
    down = {s.name for s in sites if s.status == "down"}
    used = [s.queued for s in sites]
    free = [s.slots - s.queued for s in sites]
    result = MatchResult()
    order = sorted(candidates, key=lambda c: (-c.priority, c.submitted, c.job_id))
    for c in order:
        eligible = [
            i
            for i, s in enumerate(sites)
            if s.status == "active"
            and (not c.sites or s.name in c.sites)
            and s.name not in c.banned_sites
        ]
        local = [
            i
            for i in eligible
            if all(sites[i].name in replicas.get(lfn, ()) for lfn in c.inputs)
        ]
        best, remote = -1, 0
        if local:
            open_ = [i for i in local if free[i] > 0]
            if open_:
                best = min(open_, key=lambda i: used[i] / sites[i].slots)
        elif policy == "read_remote" and all(
            replicas.get(f, frozenset()) - down for f in c.inputs
        ):
            held = {
                i: sum(
                    sizes[f] for f in c.inputs if sites[i].name in replicas.get(f, ())
                )
                for i in eligible
            }
            open_ = [i for i in eligible if free[i] > 0]
            if open_:
                best = min(open_, key=lambda i: (-held[i], used[i] / sites[i].slots))
                remote = sum(sizes[f] for f in c.inputs) - held[best]
        if best >= 0:
            used[best] += 1
            free[best] -= 1
            result.assignments.append(Assignment(c.job_id, sites[best].name, remote))
        else:
            result.waiting[c.job_id] = "waiting"
    return result


def _time(fn: Matcher, *args: object) -> tuple[float, MatchResult]:
    start = time.perf_counter()
    out = fn(*args)  # type: ignore[arg-type]
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    jobs, sites, replicas, sizes = make_grid(args.jobs, args.sites)
    free = sum(max(0, s.slots - s.queued) for s in sites if s.status == "active")
    print(
        f"{len(jobs):,} waiting jobs, {len(sites)} sites "
        f"({free:,} free slots at active sites), {len(replicas):,} files"
    )
    policies: tuple[Policy, ...] = ("wait_for_replica", "read_remote")
    for policy in policies:
        best = {"b2grid": float("inf"), "naive": float("inf")}
        results: dict[str, MatchResult] = {}
        for turn in range(args.repeat):
            sides: list[tuple[str, Matcher]] = [
                ("b2grid", match),
                ("naive", naive_match),
            ]
            for name, fn in sides if turn % 2 == 0 else sides[::-1]:
                took, results[name] = _time(fn, jobs, sites, replicas, sizes, policy)
                best[name] = min(best[name], took)
        ours, theirs = results["b2grid"], results["naive"]
        assert ours.assignments == theirs.assignments, "the two sides disagree"
        assert ours.waiting.keys() == theirs.waiting.keys()
        remote = sum(a.remote_bytes for a in ours.assignments)
        print(
            f"\npolicy {policy}: {len(ours.assignments):,} assigned, "
            f"{len(ours.waiting):,} waiting, {len(ours.replication):,} replication "
            f"requests, {remote / 1e12:.1f} TB read remotely"
        )
        for name in ("b2grid", "naive"):
            rate = len(jobs) / best[name]
            print(f"  {name:7s} {best[name]:7.3f} s  {rate:12,.0f} decisions/s")
        print(f"  b2grid is {best['naive'] / best['b2grid']:.1f}x faster than naive")


if __name__ == "__main__":
    main()
