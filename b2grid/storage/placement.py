"""Where a rule's copies go: the pure placement policy.

Given a rule's number of copies, the sites its expression allows and what each file
already has, :func:`place` chooses sites per *group* (a datablock: the unit of
replication, so all its files land together) and says, per file and site, whether a
lock can be taken on an existing replica or a transfer is needed (and from where).
No SQL, no disk, no clock: the catalog feeds it plain records and applies its answer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class SiteSpace:
    """A candidate site as placement sees it."""

    name: str
    #: bytes its SE may still take (capacity minus replicas and transfers in flight)
    free: int
    #: False for a down or lost site: it takes no new copies
    available: bool = True
    #: relative preference among sites with room (Rucio's RSE weight)
    weight: float = 1.0


@dataclass(frozen=True, slots=True)
class FileView:
    """One file of a rule's target, with its replicas and this rule's locks."""

    file_id: int
    size: int
    #: placement group: files of one datablock go to the same sites
    group: str
    #: site -> replica state (available | copying | bad | unavailable)
    replicas: Mapping[str, str]
    #: sites where this rule already holds a lock on the file
    locked: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Lock:
    """Take a lock for the rule on ``file_id`` at ``site``.

    ``source`` is None when the site already has the replica (available or being
    copied); otherwise a transfer from ``source`` must create it.
    """

    file_id: int
    site: str
    state: str  # OK | REPLICATING
    source: str | None = None


@dataclass(frozen=True, slots=True)
class Shortfall:
    """A file that cannot get all its copies now, and why."""

    file_id: int
    missing: int
    reason: str


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do for one rule."""

    locks: tuple[Lock, ...] = ()
    shortfalls: tuple[Shortfall, ...] = ()
    #: sites chosen per group, for reports
    chosen: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def _good(state: str | None) -> bool:
    return state in ("available", "copying")


def place(
    copies: int,
    candidates: Sequence[str],
    sites: Mapping[str, SiteSpace],
    files: Sequence[FileView],
) -> Plan:
    """Choose ``copies`` sites per group among ``candidates`` and plan the locks.

    Existing locks on good replicas are kept; then sites already holding the most
    bytes of the group; then sites with the most weighted free space that can take
    the missing bytes. A site is never chosen twice for one file; a file whose copy
    at a chosen site is bad or unavailable gets its fresh copy elsewhere. Files with no
    available replica anywhere get no transfer (the repairer decides they are LOST).

    Examples
    --------
    >>> sites = {s: SiteSpace(s, free=10**9) for s in ("KEK", "DESY", "BNL")}
    >>> f = FileView(1, 100, "sub00", {"KEK": "available"})
    >>> plan = place(2, ["KEK", "DESY", "BNL"], sites, [f])
    >>> [(lock.site, lock.state, lock.source) for lock in plan.locks]
    [('KEK', 'OK', None), ('BNL', 'REPLICATING', 'KEK')]
    """
    groups: dict[str, list[FileView]] = defaultdict(list)
    for f in files:
        groups[f.group].append(f)
    free = {name: s.free for name, s in sites.items()}
    locks: list[Lock] = []
    shortfalls: list[Shortfall] = []
    chosen: dict[str, tuple[str, ...]] = {}
    allowed = [c for c in dict.fromkeys(candidates) if c in sites]
    for group in sorted(groups):
        members = groups[group]
        held_bytes: dict[str, int] = defaultdict(int)
        for f in members:
            for site, state in f.replicas.items():
                if _good(state):
                    held_bytes[site] += f.size
        kept = {
            site
            for f in members
            for site in f.locked
            if site in allowed and _good(f.replicas.get(site)) and sites[site].available
        }
        picks = sorted(kept, key=lambda s: (-held_bytes[s], s))[:copies]
        need_bytes = sum(f.size for f in members)

        def rank(
            site: str, held: dict[str, int] = held_bytes
        ) -> tuple[int, float, str]:
            space = sites[site]
            return (-held[site], -space.free * space.weight, site)

        for site in sorted(allowed, key=rank):
            if len(picks) >= copies:
                break
            if site in picks or not sites[site].available:
                continue
            missing = need_bytes - held_bytes[site]
            if missing > free[site]:
                continue
            picks.append(site)
            free[site] -= missing
        chosen[group] = tuple(picks)
        spare = [s for s in sorted(allowed, key=rank) if s not in picks]
        for f in members:
            sources = sorted(s for s, st in f.replicas.items() if st == "available")
            got = 0
            mine = list(picks)
            for i, site in enumerate(mine):
                if f.replicas.get(site, "available") in ("available", "copying"):
                    continue
                # a bad or unavailable copy sits there: this file goes elsewhere,
                # to a site holding a good copy of it if there is one
                good_first = sorted(spare, key=lambda s: not _good(f.replicas.get(s)))
                for other in good_first:
                    have = f.replicas.get(other)
                    if (
                        other not in mine
                        and (have is None or _good(have))
                        and sites[other].available
                        and (have is not None or free[other] >= f.size)
                    ):
                        mine[i] = other
                        if have is None:
                            free[other] -= f.size
                        break
            for site in mine:
                have = f.replicas.get(site)
                if have not in (None, "available", "copying"):
                    continue  # no site left to replace a spoiled copy
                if have == "available":
                    locks.append(Lock(f.file_id, site, "OK"))
                elif have == "copying":
                    locks.append(Lock(f.file_id, site, "REPLICATING"))
                elif sources:
                    src = next(
                        (s for s in sources if sites.get(s, _UP).available), sources[0]
                    )
                    locks.append(Lock(f.file_id, site, "REPLICATING", src))
                else:
                    continue
                got += 1
            if got < copies:
                if not sources:
                    reason = "no available replica to copy from"
                elif len(picks) < copies:
                    reason = (
                        f"only {len(picks)} of the allowed sites "
                        f"({', '.join(allowed) or 'none'}) are up and have room"
                    )
                else:
                    reason = "not enough sites"
                shortfalls.append(Shortfall(f.file_id, copies - got, reason))
    return Plan(tuple(locks), tuple(shortfalls), chosen)


_UP = SiteSpace("", 0, True)


def rule_state(lock_states: Sequence[str], shortfall: bool) -> str:
    """A rule's state from its locks: STUCK beats REPLICATING beats OK."""
    if shortfall or "STUCK" in lock_states:
        return "STUCK"
    if "REPLICATING" in lock_states:
        return "REPLICATING"
    return "OK"


__all__ = ["FileView", "Lock", "Plan", "Shortfall", "SiteSpace", "place", "rule_state"]
