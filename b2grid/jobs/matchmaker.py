"""The matchmaker: which waiting job goes to which site now, and why the rest wait.

Pure: sites, waiting jobs and the replica map in; assignments, reasons and replication
requests out. Sites are bits of an int, so that "holds all inputs" is one ``&``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Literal

from b2grid.config import format_size
from b2grid.jobs.model import JobSpec

Policy = Literal["wait_for_replica", "read_remote"]
#: at most this many site names in one reason
_LISTED = 5
#: candidate lists longer than this are searched with a heap instead of a scan
_SCAN = 8


@dataclass(frozen=True, slots=True)
class SiteView:
    """A site as the matchmaker sees it."""

    name: str
    #: ``"active"``, ``"banned"`` or ``"down"`` (a :class:`SiteStatus` works too)
    status: str = "active"
    #: job slots of the site
    slots: int = 1
    #: jobs already matched to or running at the site
    queued: int = 0


@dataclass(frozen=True, slots=True)
class Candidate:
    """A waiting job as the matchmaker sees it."""

    job_id: int
    #: input LFNs
    inputs: tuple[str, ...] = ()
    priority: int = 5
    #: allow list (empty: anywhere) and ban list of the job
    sites: tuple[str, ...] = ()
    banned_sites: tuple[str, ...] = ()
    #: grid time of submission; older first among equal priorities
    submitted: float = 0.0

    @classmethod
    def of(cls, job_id: int, spec: JobSpec, submitted: float = 0.0) -> Candidate:
        """The candidate for a job submitted as ``spec``."""
        req = spec.requirements
        return cls(
            job_id, spec.inputs, req.priority, req.sites, req.banned_sites, submitted
        )


@dataclass(frozen=True, slots=True)
class Assignment:
    """Match job ``job_id`` to ``site``; it reads ``remote_bytes`` from elsewhere."""

    job_id: int
    site: str
    remote_bytes: int = 0


@dataclass(frozen=True, slots=True)
class ReplicationRequest:
    """Ask the rule engine for replicas of ``lfns`` at ``site`` for job ``job_id``."""

    job_id: int
    lfns: tuple[str, ...]
    site: str


@dataclass(frozen=True, slots=True)
class MatchResult:
    """The outcome of one matchmaking round."""

    assignments: list[Assignment] = field(default_factory=list)
    #: job id → why it still waits (its new minor status)
    waiting: dict[int, str] = field(default_factory=dict)
    replication: list[ReplicationRequest] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SiteVerdict:
    """One line of ``b2grid job diagnose``: could the job go to ``site``, and why."""

    site: str
    eligible: bool
    reason: str
    #: bytes of the job's inputs the site holds
    local_bytes: int


def _bits(mask: int) -> Iterator[int]:
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


class _Round:
    """The sites of one round as bit masks, and the slots used so far."""

    def __init__(
        self,
        sites: Sequence[SiteView],
        replicas: Mapping[str, frozenset[str]],
        sizes: Mapping[str, int],
    ) -> None:
        self.sites = list(sites)
        self.index = {s.name: i for i, s in enumerate(self.sites)}
        self.replicas = replicas
        self.sizes = sizes
        self.used = [max(0, s.queued) for s in self.sites]
        self.free = [max(0, s.slots - s.queued) for s in self.sites]
        self.slots = [s.slots for s in self.sites]
        self.all = (1 << len(self.sites)) - 1
        self.active = sum(
            1 << i for i, s in enumerate(self.sites) if s.status == "active"
        )
        self.down = sum(1 << i for i, s in enumerate(self.sites) if s.status == "down")
        #: LFN -> sites holding it, filled as LFNs are met
        self.lfn_masks: dict[str, int] = {}
        self._set: dict[frozenset[str], int] = {}
        self._allowed: dict[tuple[tuple[str, ...], tuple[str, ...]], int] = {}
        self._bits: dict[int, list[int]] = {}

    def mask(self, lfn: str) -> int:
        """Sites holding an available replica of ``lfn`` (unknown sites ignored)."""
        m = self.lfn_masks.get(lfn)
        if m is None:
            holders = self.replicas.get(lfn, frozenset())
            m = self._set.get(holders)
            if m is None:
                m = self._set[holders] = self.of(holders)
            self.lfn_masks[lfn] = m
        return m

    def of(self, names: Iterable[str]) -> int:
        return sum(1 << self.index[n] for n in set(names) if n in self.index)

    def allowed(self, c: Candidate) -> int:
        """Sites the job's allow and ban lists permit (whatever their status)."""
        key = (c.sites, c.banned_sites)
        m = self._allowed.get(key)
        if m is None:
            m = self.of(c.sites) if c.sites else self.all
            m = self._allowed[key] = m & ~self.of(c.banned_sites)
        return m

    def load(self, i: int) -> float:
        """Jobs per slot at site ``i`` (infinite for a site without slots)."""
        return self.used[i] / self.slots[i] if self.slots[i] > 0 else float("inf")

    def take(self, i: int) -> str:
        self.used[i] += 1
        self.free[i] -= 1
        return self.sites[i].name

    def bits(self, mask: int) -> list[int]:
        """The site indices of ``mask``, in site order (cached: masks repeat)."""
        listed = self._bits.get(mask)
        if listed is None:
            listed = self._bits[mask] = list(_bits(mask))
        return listed

    def names(self, mask: int) -> str:
        listed = [self.sites[i].name for i in self.bits(mask)]
        more = len(listed) - _LISTED
        return ", ".join(listed[:_LISTED]) + (f" and {more} more" if more > 0 else "")

    def local_bytes(self, inputs: Iterable[str], mask: int) -> dict[int, int]:
        """Bytes of ``inputs`` held at the sites of ``mask`` that hold any."""
        held: dict[int, int] = {}
        for lfn in inputs:
            size = self.sizes.get(lfn, 0)
            for i in self.bits(self.mask(lfn) & mask):
                held[i] = held.get(i, 0) + size
        return held

    def most_bytes(self, held: dict[int, int], mask: int) -> int:
        """The site of ``mask`` holding most bytes, then least loaded, then first."""
        sites = [i for i in held if mask >> i & 1] or self.bits(mask)
        return min(sites, key=lambda i: (-held.get(i, 0), self.load(i), i))

    def why_not(self, i: int, c: Candidate) -> str:
        """Why site ``i`` cannot take the job (it is not an eligible active site)."""
        site = self.sites[i]
        if site.status == "down":
            return "down"
        if site.status == "banned":
            return "banned"
        if site.status != "active":
            return "not active"
        if site.name in c.banned_sites:
            return "banned by the job"
        return "not in the job's site list"

    def describe(self, mask: int, c: Candidate, lead: str) -> str:
        """``all candidates banned (A, B)`` or ``<lead> A (down), B (banned)``."""
        whys = [(self.sites[i].name, self.why_not(i, c)) for i in _bits(mask)]
        if whys and all(w.startswith("banned") for _, w in whys):
            return f"all candidates banned ({self.names(mask)})"
        listed = [f"{name} ({why})" for name, why in whys[:_LISTED]]
        more = len(whys) - _LISTED
        return (
            f"{lead} " + ", ".join(listed) + (f" and {more} more" if more > 0 else "")
        )


class _Group:
    """Jobs with the same eligible sites holding all their inputs."""

    __slots__ = ("cands", "heap", "reason")

    def __init__(self, r: _Round, mask: int) -> None:
        self.cands = list(_bits(mask))
        self.heap: list[tuple[float, int]] | None = None
        if len(self.cands) > _SCAN:
            self.heap = [(r.load(i), i) for i in self.cands if r.free[i] > 0]
            heapq.heapify(self.heap)
        self.reason: str | None = None  # set once every candidate is full

    def pick(self, r: _Round) -> int:
        """The least loaded candidate with a free slot (first in site order on a
        tie), or -1."""
        if self.heap is None:
            best, best_load = -1, float("inf")
            used, slots, free = r.used, r.slots, r.free
            for i in self.cands:
                if free[i] > 0 and used[i] / slots[i] < best_load:
                    best, best_load = i, used[i] / slots[i]
            return best
        heap = self.heap
        while heap:
            load, i = heap[0]
            if r.free[i] <= 0:
                heapq.heappop(heap)
            elif load != r.load(i):  # another group took slots here meanwhile
                heapq.heapreplace(heap, (r.load(i), i))
            else:
                return i
        return -1

    def took(self, r: _Round, i: int) -> None:
        if self.heap is not None and r.free[i] > 0:
            heapq.heapreplace(self.heap, (r.load(i), i))


def match(
    candidates: Iterable[Candidate],
    sites: Sequence[SiteView],
    replicas: Mapping[str, frozenset[str]],
    sizes: Mapping[str, int],
    policy: Policy = "wait_for_replica",
) -> MatchResult:
    """Match waiting jobs to sites for one round.

    Jobs are taken by priority (highest first), then submission time, then job id.
    A job goes only to an active site its allow and ban lists permit, preferring
    such sites holding available replicas of all its inputs, and among those the
    least loaded (queued jobs per slot, counting this round's assignments; the first
    in ``sites`` order on a tie). No site gets more jobs than its free slots
    (``slots - queued``). When no eligible site holds all inputs, ``policy``
    decides: ``read_remote`` sends the job to the eligible site with a free slot
    holding most of its input bytes (ties: least loaded) and reports the bytes to
    read remotely; ``wait_for_replica`` keeps it waiting and asks for copies of the
    missing inputs at the eligible site holding most of its bytes. Either needs a
    replica of every input at a site that is not down (banned sites' storage still
    serves reads). Every job not assigned gets a reason. Replicas at sites not in
    ``sites`` are ignored; a missing size counts as 0 bytes.

    Examples
    --------
    >>> sites = [SiteView("KEK", slots=2), SiteView("DESY", "down", slots=2)]
    >>> replicas = {"/belle/a": frozenset({"KEK"}), "/belle/b": frozenset({"DESY"})}
    >>> jobs = [Candidate(1, ("/belle/a",)), Candidate(2, ("/belle/b",))]
    >>> result = match(jobs, sites, replicas, {})
    >>> result.assignments
    [Assignment(job_id=1, site='KEK', remote_bytes=0)]
    >>> result.waiting
    {2: 'No candidate sites available: inputs only at DESY (down)'}
    """
    r = _Round(sites, replicas, sizes)
    result = MatchResult()
    assignments, waiting = result.assignments, result.waiting
    groups: dict[int, _Group] = {}
    active, every, masks = r.active, r.all, r.lfn_masks
    order = sorted(candidates, key=attrgetter("job_id"))
    order.sort(key=attrgetter("submitted"))
    order.sort(key=attrgetter("priority"), reverse=True)  # stable: ties keep order
    for c in order:
        held = every
        for lfn in c.inputs:
            m = masks.get(lfn)
            held &= r.mask(lfn) if m is None else m
        eligible = (r.allowed(c) if c.sites or c.banned_sites else every) & active
        local = held & eligible
        if not local:
            _no_local(r, c, held, eligible, policy, result)
            continue
        group = groups.get(local)
        if group is None:
            group = groups[local] = _Group(r, local)
        if group.reason is None:
            i = group.pick(r)
            if i >= 0:
                assignments.append(Assignment(c.job_id, r.take(i)))
                group.took(r, i)
                continue
            group.reason = f"No free slot: candidates {r.names(local)} full"
        waiting[c.job_id] = group.reason
    return result


def _no_local(
    r: _Round,
    c: Candidate,
    held: int,
    eligible: int,
    policy: Policy,
    result: MatchResult,
) -> None:
    """Decide for a job that no eligible active site can run on local inputs."""
    wait = result.waiting
    masks = [r.mask(lfn) for lfn in c.inputs]
    lost = [lfn for lfn, m in zip(c.inputs, masks, strict=True) if not m]
    if lost:
        more = f" and {len(lost) - 1} other inputs" if len(lost) > 1 else ""
        wait[c.job_id] = f"No replica of {lost[0]}{more} anywhere (lost?)"
        return
    head = "No candidate sites available: "
    if not eligible:
        if held and c.inputs:
            why = r.describe(held, c, "inputs only at")
        else:
            scope = r.of(c.sites) if c.sites else r.all
            why = r.describe(scope, c, "no allowed site is active:")
        wait[c.job_id] = head + why
        return
    # an input only at down sites can be neither read nor copied: say where it is
    stuck = 0
    for m in masks:
        if not m & ~r.down:
            stuck |= m
    if stuck:
        wait[c.job_id] = head + r.describe(stuck, c, "inputs only at")
        return
    if policy == "read_remote":
        free = r.free
        open_ = sum(1 << i for i in r.bits(eligible) if free[i] > 0)
        if not open_:
            wait[c.job_id] = f"No free slot: candidates {r.names(eligible)} full"
            return
        held_bytes = r.local_bytes(c.inputs, eligible)
        best = r.most_bytes(held_bytes, open_)
        remote = sum(r.sizes.get(lfn, 0) for lfn in c.inputs) - held_bytes.get(best, 0)
        result.assignments.append(Assignment(c.job_id, r.take(best), remote))
        return
    target = r.most_bytes(r.local_bytes(c.inputs, eligible), eligible)
    missing = tuple(
        lfn for lfn, m in zip(c.inputs, masks, strict=True) if not m >> target & 1
    )
    if held:
        why = head + r.describe(held, c, "inputs only at")
    else:
        why = f"No site holds all {len(c.inputs)} inputs"
    site, n = r.sites[target].name, len(missing)
    wait[c.job_id] = f"{why}; waiting for a copy of {n} input{'s' * (n != 1)} at {site}"
    result.replication.append(ReplicationRequest(c.job_id, missing, site))


def diagnose(
    candidate: Candidate,
    sites: Sequence[SiteView],
    replicas: Mapping[str, frozenset[str]],
    sizes: Mapping[str, int],
    policy: Policy = "wait_for_replica",
) -> list[SiteVerdict]:
    """One verdict per site, in ``sites`` order: could the job run there, and why.

    ``eligible`` means the matchmaker would send the job there given a free slot
    (whether one is free is in the reason). Ineligible sites say why: ``down``,
    ``banned``, ``banned by the job``, ``not in the job's site list``, or — under
    ``wait_for_replica`` — which inputs they lack.

    Examples
    --------
    >>> sites = [SiteView("KEK", slots=4, queued=3), SiteView("DESY", "down")]
    >>> replicas = {"/belle/a": frozenset({"KEK", "DESY"})}
    >>> for v in diagnose(Candidate(1, ("/belle/a",)), sites, replicas, {}):
    ...     print(v.site, v.eligible, v.reason)
    KEK True holds all inputs, 3 of 4 slots busy
    DESY False down (holds all inputs)
    """
    r = _Round(sites, replicas, sizes)
    n = len(candidate.inputs)
    total = sum(sizes.get(lfn, 0) for lfn in candidate.inputs)
    held_bytes = r.local_bytes(candidate.inputs, r.all)
    eligible_mask = r.allowed(candidate) & r.active
    lost = any(not r.mask(lfn) for lfn in candidate.inputs)
    verdicts = []
    for i, site in enumerate(r.sites):
        count = sum(1 for lfn in candidate.inputs if r.mask(lfn) >> i & 1)
        if n == 0:
            holding = "needs no inputs"
        elif count == n:
            holding = "holds all inputs"
        else:
            holding = (
                f"holds {count} of {n} inputs "
                f"({format_size(held_bytes.get(i, 0))} of {format_size(total)})"
            )
        busy = f"{site.queued} of {site.slots} slots busy"
        if r.free[i] <= 0:
            busy += " (full)"
        if not eligible_mask >> i & 1:
            extra = f" ({holding})" if count else ""
            verdicts.append(
                SiteVerdict(
                    site.name,
                    False,
                    r.why_not(i, candidate) + extra,
                    held_bytes.get(i, 0),
                )
            )
        elif count == n or (policy == "read_remote" and not lost):
            remote = total - held_bytes.get(i, 0)
            reads = f", reads {format_size(remote)} remotely" if count < n else ""
            verdicts.append(
                SiteVerdict(
                    site.name, True, f"{holding}{reads}, {busy}", held_bytes.get(i, 0)
                )
            )
        else:
            verdicts.append(
                SiteVerdict(site.name, False, holding, held_bytes.get(i, 0))
            )
    return verdicts


__all__ = [
    "Assignment",
    "Candidate",
    "MatchResult",
    "Policy",
    "ReplicationRequest",
    "SiteVerdict",
    "SiteView",
    "diagnose",
    "match",
]
