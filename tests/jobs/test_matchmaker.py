"""The matchmaker: locality, eligibility, slots, priority, and why a job waits."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence

import pytest

from b2grid.jobs.matchmaker import (
    Assignment,
    Candidate,
    Policy,
    ReplicationRequest,
    SiteView,
    diagnose,
    match,
)
from b2grid.jobs.model import JobSpec, Requirements
from b2grid.sites.topology import SiteStatus

MB = 10**6
A, B, C = "/belle/MC/t/sub00/a.root", "/belle/MC/t/sub00/b.root", "/belle/MC/t/c.root"
SIZES = {A: 600_000, B: 600_000, C: 600_000}


def sites(**specs: tuple[str, int, int]) -> list[SiteView]:
    return [SiteView(name, *spec) for name, spec in specs.items()]


def at(*names: str) -> frozenset[str]:
    return frozenset(names)


POLICIES: tuple[Policy, ...] = ("wait_for_replica", "read_remote")
GRID = sites(
    KEK=("active", 4, 0),
    BNL=("active", 4, 0),
    DESY=("down", 4, 0),
    GridKa=("banned", 4, 0),
    CNAF=("active", 4, 3),
)


# --------------------------------------------------------------------------- choices


def test_job_goes_where_all_its_inputs_are() -> None:
    replicas = {A: at("KEK", "BNL"), B: at("BNL")}
    result = match([Candidate(1, (A, B))], GRID, replicas, SIZES)
    assert result.assignments == [Assignment(1, "BNL")]
    assert result.waiting == {}
    assert result.replication == []


def test_least_loaded_holder_counting_this_round() -> None:
    grid = sites(KEK=("active", 4, 2), BNL=("active", 2, 0), CNAF=("active", 8, 2))
    replicas = {A: at("KEK", "BNL", "CNAF")}
    jobs = [Candidate(i, (A,)) for i in range(1, 7)]
    got = [a.site for a in match(jobs, grid, replicas, SIZES).assignments]
    # loads: KEK 2/4, BNL 0/2, CNAF 2/8; ties go to the first site in order
    assert got == ["BNL", "CNAF", "CNAF", "KEK", "BNL", "CNAF"]


def test_never_more_than_the_free_slots() -> None:
    grid = sites(KEK=("active", 3, 1), BNL=("active", 1, 0), CNAF=("active", 2, 5))
    replicas = {A: at("KEK", "BNL", "CNAF")}
    result = match([Candidate(i, (A,)) for i in range(10)], grid, replicas, SIZES)
    assert Counter(a.site for a in result.assignments) == {"KEK": 2, "BNL": 1}
    assert set(result.waiting.values()) == {
        "No free slot: candidates KEK, BNL, CNAF full"
    }
    assert len(result.waiting) == 7


def test_priority_then_age() -> None:
    grid = sites(KEK=("active", 2, 0))
    jobs = [
        Candidate(1, priority=3),
        Candidate(2, priority=9, submitted=50.0),
        Candidate(3, priority=9, submitted=10.0),
        Candidate(4, priority=3),
    ]
    result = match(jobs, grid, {}, {})
    assert [a.job_id for a in result.assignments] == [3, 2]
    assert sorted(result.waiting) == [1, 4]


def test_allow_and_ban_lists() -> None:
    replicas = {A: at("KEK", "BNL", "CNAF")}
    jobs = [
        Candidate(1, (A,), sites=("CNAF",)),
        Candidate(2, (A,), banned_sites=("KEK",)),
    ]
    got = {a.job_id: a.site for a in match(jobs, GRID, replicas, SIZES).assignments}
    assert got == {1: "CNAF", 2: "BNL"}


def test_site_status_enum_and_candidate_from_spec() -> None:
    grid = [SiteView("KEK", SiteStatus.BANNED, 2), SiteView("BNL", SiteStatus.ACTIVE)]
    spec = JobSpec(
        function="m:f",
        inputs=(A,),
        owner="alice",
        project="p",
        requirements=Requirements(banned_sites=("CNAF",), priority=8),
    )
    candidate = Candidate.of(5, spec, submitted=3.0)
    assert candidate == Candidate(5, (A,), 8, (), ("CNAF",), 3.0)
    result = match([candidate], grid, {A: at("KEK", "BNL")}, SIZES)
    assert result.assignments == [Assignment(5, "BNL")]


def test_unknown_replica_sites_and_missing_sizes() -> None:
    replicas = {A: at("Nowhere", "KEK")}
    result = match([Candidate(1, (A,))], GRID, replicas, {})
    assert result.assignments == [Assignment(1, "KEK")]


# --------------------------------------------------------------------------- policies


def test_read_remote_takes_the_site_with_most_bytes() -> None:
    replicas = {A: at("KEK"), B: at("BNL"), C: at("BNL")}
    sizes = {A: 5 * MB, B: 2 * MB, C: 2 * MB}
    result = match([Candidate(1, (A, B, C))], GRID, replicas, sizes, "read_remote")
    assert result.assignments == [Assignment(1, "KEK", remote_bytes=4 * MB)]
    full = sites(KEK=("active", 1, 1), BNL=("active", 1, 0))
    result = match([Candidate(1, (A, B, C))], full, replicas, sizes, "read_remote")
    assert result.assignments == [Assignment(1, "BNL", remote_bytes=5 * MB)]


def test_read_remote_prefers_a_full_copy_and_waits_for_it() -> None:
    grid = sites(KEK=("active", 1, 1), BNL=("active", 4, 0))
    result = match([Candidate(1, (A,))], grid, {A: at("KEK")}, SIZES, "read_remote")
    assert result.waiting == {1: "No free slot: candidates KEK full"}


def test_wait_for_replica_asks_for_the_missing_inputs() -> None:
    replicas = {A: at("KEK"), B: at("BNL"), C: at("BNL", "DESY")}
    result = match([Candidate(1, (A, B, C))], GRID, replicas, SIZES)
    assert result.assignments == []
    assert result.replication == [ReplicationRequest(1, (A,), "BNL")]
    assert result.waiting == {
        1: "No site holds all 3 inputs; waiting for a copy of 1 input at BNL"
    }


def test_wait_for_replica_target_ties_go_to_the_least_loaded() -> None:
    grid = sites(KEK=("active", 4, 3), BNL=("active", 4, 1))
    replicas = {A: at("KEK"), B: at("BNL")}
    result = match([Candidate(1, (A, B))], grid, replicas, SIZES)
    assert result.replication == [ReplicationRequest(1, (A,), "BNL")]


# --------------------------------------------------------------------------- reasons


def test_reason_inputs_only_at_a_down_site() -> None:
    replicas = {A: at("DESY"), B: at("DESY")}
    for policy in POLICIES:
        result = match([Candidate(1, (A, B))], GRID, replicas, SIZES, policy)
        assert result.waiting == {
            1: "No candidate sites available: inputs only at DESY (down)"
        }
        assert result.replication == []


def test_reason_all_candidates_banned() -> None:
    replicas = {A: at("GridKa", "KEK")}
    job = Candidate(1, (A,), banned_sites=("KEK",))
    result = match([job], GRID, replicas, SIZES)
    reason = result.waiting[1]
    assert reason.startswith(
        "No candidate sites available: all candidates banned (KEK, GridKa)"
    )
    # the banned site's storage can still serve a copy to an eligible site
    assert reason.endswith("; waiting for a copy of 1 input at BNL")
    assert result.replication == [ReplicationRequest(1, (A,), "BNL")]
    nowhere = Candidate(2, (A,), sites=("KEK", "GridKa"), banned_sites=("KEK",))
    result = match([nowhere], GRID, replicas, SIZES)
    assert result.waiting == {
        2: "No candidate sites available: all candidates banned (KEK, GridKa)"
    }


def test_reason_no_replica_anywhere() -> None:
    lost = "/belle/MC/t/sub00/lost.root"
    for policy in POLICIES:
        result = match([Candidate(1, (A, lost))], GRID, {A: at("KEK")}, SIZES, policy)
        assert result.waiting == {1: f"No replica of {lost} anywhere (lost?)"}
    result = match([Candidate(1, (lost, B))], GRID, {B: frozenset()}, SIZES)
    assert result.waiting == {
        1: f"No replica of {lost} and 1 other inputs anywhere (lost?)"
    }


def test_reason_mixed_and_allow_lists() -> None:
    replicas = {A: at("DESY", "GridKa")}
    result = match(
        [Candidate(1, (A,), sites=("DESY", "GridKa"))], GRID, replicas, SIZES
    )
    assert result.waiting == {
        1: "No candidate sites available: inputs only at DESY (down), GridKa (banned)"
    }
    result = match([Candidate(2, (A,), sites=("DESY", "KEK"))], GRID, replicas, SIZES)
    assert result.waiting[2] == (
        "No candidate sites available: inputs only at DESY (down), GridKa (banned); "
        "waiting for a copy of 1 input at KEK"
    )
    result = match([Candidate(4, (A,), sites=("KEK",))], GRID, {A: at("BNL")}, SIZES)
    assert result.waiting[4] == (
        "No candidate sites available: inputs only at BNL (not in the job's site "
        "list); waiting for a copy of 1 input at KEK"
    )
    mc = Candidate(3, (), sites=("DESY", "GridKa"))
    assert match([mc], GRID, {}, {}).waiting == {
        3: "No candidate sites available: no allowed site is active: DESY (down), "
        "GridKa (banned)"
    }


def test_long_site_lists_are_shortened() -> None:
    grid = [SiteView(f"S{i:02d}", "active", 1, 1) for i in range(12)]
    result = match([Candidate(1)], grid, {}, {})
    assert result.waiting == {
        1: "No free slot: candidates S00, S01, S02, S03, S04 and 7 more full"
    }


# --------------------------------------------------------------------------- diagnose


def test_diagnose_lists_every_site_with_a_reason() -> None:
    grid = [*GRID, SiteView("SiGNET", "active", 4, 4), SiteView("UVic", "active", 2)]
    replicas = {A: at("KEK", "BNL", "DESY"), B: at("KEK", "BNL"), C: at("KEK", "UVic")}
    sizes = {A: 600_000, B: 600_000, C: 600_000}
    job = Candidate(1, (A, B, C), sites=(), banned_sites=("BNL",))
    verdicts = diagnose(job, grid, replicas, sizes)
    assert [v.site for v in verdicts] == [s.name for s in grid]
    lines = {v.site: (v.eligible, v.reason, v.local_bytes) for v in verdicts}
    assert lines == {
        "KEK": (True, "holds all inputs, 0 of 4 slots busy", 1_800_000),
        "BNL": (
            False,
            "banned by the job (holds 2 of 3 inputs (1.2 MB of 1.8 MB))",
            1_200_000,
        ),
        "DESY": (False, "down (holds 1 of 3 inputs (600.0 KB of 1.8 MB))", 600_000),
        "GridKa": (False, "banned", 0),
        "CNAF": (False, "holds 0 of 3 inputs (0 B of 1.8 MB)", 0),
        "SiGNET": (False, "holds 0 of 3 inputs (0 B of 1.8 MB)", 0),
        "UVic": (False, "holds 1 of 3 inputs (600.0 KB of 1.8 MB)", 600_000),
    }
    remote = {v.site: v for v in diagnose(job, grid, replicas, sizes, "read_remote")}
    assert remote["UVic"].eligible
    assert remote["UVic"].reason == (
        "holds 1 of 3 inputs (600.0 KB of 1.8 MB), reads 1.2 MB remotely, "
        "0 of 2 slots busy"
    )
    assert remote["SiGNET"].reason.endswith("4 of 4 slots busy (full)")
    allow = diagnose(Candidate(2, (), sites=("KEK",)), grid, {}, {})
    assert [v.reason for v in allow][:2] == [
        "needs no inputs, 0 of 4 slots busy",
        "not in the job's site list",
    ]


# --------------------------------------------------------------------------- property


def reference(
    jobs: Sequence[Candidate],
    grid: Sequence[SiteView],
    replicas: Mapping[str, frozenset[str]],
    sizes: Mapping[str, int],
    policy: Policy,
) -> list[Assignment]:
    """The rules of :func:`match`, one job and one site at a time."""
    used = [s.queued for s in grid]
    free = [s.slots - s.queued for s in grid]
    out = []
    for c in sorted(jobs, key=lambda c: (-c.priority, c.submitted, c.job_id)):
        eligible = [i for i, s in enumerate(grid) if _eligible(c, s)]
        holds = [
            i for i in eligible if all(grid[i].name in replicas[f] for f in c.inputs)
        ]
        pool = holds if holds or policy == "wait_for_replica" else eligible
        open_ = [i for i in pool if free[i] > 0]
        down = {s.name for s in grid if s.status == "down"}
        if not open_ or not all(replicas[f] - down for f in c.inputs):
            continue

        local = {
            i: sum(sizes[f] for f in c.inputs if grid[i].name in replicas[f])
            for i in open_
        }
        best = min(open_, key=lambda i: (-local[i], used[i] / grid[i].slots))
        used[best] += 1
        free[best] -= 1
        remote = sum(sizes[f] for f in c.inputs) - local[best]
        out.append(Assignment(c.job_id, grid[best].name, remote))
    return out


def _eligible(c: Candidate, site: SiteView) -> bool:
    return (
        site.status == "active"
        and (not c.sites or site.name in c.sites)
        and site.name not in c.banned_sites
    )


def random_grid(
    seed: int, n_jobs: int
) -> tuple[list[Candidate], list[SiteView], dict[str, frozenset[str]], dict[str, int]]:
    rng = random.Random(seed)  # noqa: S311 - a reproducible made-up grid
    names = [f"S{i:02d}" for i in range(rng.randint(4, 14))]
    grid = []
    for name in names:
        status = rng.choices(("active", "down", "banned"), (8, 1, 1))[0]
        slots = rng.randint(0, 40)
        grid.append(SiteView(name, status, slots, rng.randint(0, slots)))
    replicas: dict[str, frozenset[str]] = {}
    sizes: dict[str, int] = {}
    blocks = []
    for b in range(40):
        holders = frozenset(rng.sample(names, rng.choice((0, 1, 1, 2, 2, 3))))
        block = [f"/belle/MC/p/sub{b:02d}/f{k}.root" for k in range(8)]
        for lfn in block:
            replicas[lfn] = holders
            sizes[lfn] = rng.randint(1, 9) * MB
        blocks.append(block)
    jobs = []
    for job_id in range(n_jobs):
        inputs: tuple[str, ...] = ()
        if rng.random() < 0.9:
            inputs = tuple(rng.sample(rng.choice(blocks), rng.randint(1, 3)))
        if rng.random() < 0.1:
            inputs += (rng.choice(rng.choice(blocks)),)
        allow = tuple(rng.sample(names, 3)) if rng.random() < 0.15 else ()
        ban = tuple(rng.sample(names, 2)) if rng.random() < 0.15 else ()
        priority = rng.randint(0, 10)
        jobs.append(
            Candidate(job_id, tuple(dict.fromkeys(inputs)), priority, allow, ban)
        )
    return jobs, grid, replicas, sizes


@pytest.mark.parametrize("policy", ["wait_for_replica", "read_remote"])
@pytest.mark.parametrize("seed", range(8))
def test_random_grids(seed: int, policy: Policy) -> None:
    jobs, grid, replicas, sizes = random_grid(seed, 600)
    result = match(jobs, grid, replicas, sizes, policy)
    by_site = {s.name: s for s in grid}
    order = {c.job_id: (-c.priority, c.submitted, c.job_id) for c in jobs}
    jobs_by_id = {c.job_id: c for c in jobs}
    assigned = {a.job_id: a for a in result.assignments}
    # every job is decided exactly once, and a waiting one says why
    assert len(assigned) == len(result.assignments)
    assert assigned.keys().isdisjoint(result.waiting)
    assert assigned.keys() | result.waiting.keys() == jobs_by_id.keys()
    assert all(result.waiting.values())
    # eligibility and slots
    for a in result.assignments:
        assert _eligible(jobs_by_id[a.job_id], by_site[a.site])
    for name, n in Counter(a.site for a in result.assignments).items():
        assert n <= by_site[name].slots - by_site[name].queued
    # locality: a job with an eligible full copy reads nothing remotely
    local_bytes = total_bytes = 0
    for c in jobs:
        holders = [
            s.name
            for s in grid
            if _eligible(c, s) and all(s.name in replicas[f] for f in c.inputs)
        ]
        got = assigned.get(c.job_id)
        if holders and got is not None:
            assert got.site in holders
            assert got.remote_bytes == 0
            total_bytes += sum(sizes[f] for f in c.inputs)
            local_bytes += sum(sizes[f] for f in c.inputs) - got.remote_bytes
        elif holders:
            assert result.waiting[c.job_id].startswith("No free slot: candidates")
            assert all(
                by_site[h].slots - by_site[h].queued
                <= sum(1 for x in result.assignments if x.site == h)
                for h in holders
            )
        if got is None and any(not replicas[f] for f in c.inputs):
            assert result.waiting[c.job_id].startswith("No replica of")
    assert local_bytes >= 0.99 * total_bytes
    # priority: a job waiting for slots was not overtaken at any of its candidate
    # sites (those holding all its inputs, or under read_remote, if there are none,
    # every eligible site)
    for job_id, reason in result.waiting.items():
        if not reason.startswith("No free slot"):
            continue
        c = jobs_by_id[job_id]
        eligible = {s.name for s in grid if _eligible(c, s)}
        full = {s for s in eligible if all(s in replicas[f] for f in c.inputs)}
        candidates = full or (eligible if policy == "read_remote" else set())
        assert candidates
        for a in result.assignments:
            if a.site in candidates:
                assert order[a.job_id] < order[job_id]
    # replication requests: wait_for_replica only, for waiting jobs, missing inputs
    for r in result.replication:
        assert policy == "wait_for_replica"
        assert r.job_id in result.waiting
        c = jobs_by_id[r.job_id]
        assert _eligible(c, by_site[r.site])
        assert r.lfns
        assert r.lfns == tuple(f for f in c.inputs if r.site not in replicas[f])
    # and the same decisions as the one-site-at-a-time reference
    assert result.assignments == reference(jobs, grid, replicas, sizes, policy)
    # diagnose agrees that an assigned job's site is eligible
    for a in result.assignments[:50]:
        verdicts = diagnose(jobs_by_id[a.job_id], grid, replicas, sizes, policy)
        assert len(verdicts) == len(grid)
        assert all(v.reason for v in verdicts)
        assert next(v for v in verdicts if v.site == a.site).eligible
