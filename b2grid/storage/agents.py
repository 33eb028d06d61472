"""The storage agents: conveyor, rule expiry, reaper, repairer, auditor.

Each is an object with ``run_once(now) -> report`` (STYLE.md §5): tests call it with
a chosen grid time, the controller's agent loop calls every agent in turn. Only the
process that drives the agents (``StorageService.runs_agents``: the controller, or
``b2grid.testing.offline_grid``) may run the conveyor, expiry, reaper and repairer;
elsewhere they raise ``NotController``. The auditor runs anywhere. Decisions
come from the catalog and the pure policies; the only I/O is the storage elements and
(for the conveyor) Dask tasks at the destination site.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select, update

from b2grid.errors import ChecksumMismatch
from b2grid.storage.checksum import adler32_equal
from b2grid.storage.records import (
    AVAILABLE,
    BAD,
    COPYING,
    DELETING,
    FILE_AVAILABLE,
    FILE_LOST,
    REPLICATING,
    STUCK,
    UNAVAILABLE,
    UPLOADING,
)
from b2grid.storage.schema import datablocks, files, iso, locks, replicas, rules
from b2grid.storage.transfer import TransferResult, copy_file

if TYPE_CHECKING:
    from b2grid.storage.service import StorageService

log = logging.getLogger("b2grid.storage")


# --------------------------------------------------------------------------- conveyor


@dataclass
class ConveyorReport:
    """Transfers submitted, done and failed in one pass."""

    submitted: int = 0
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    corrupt_sources: list[tuple[str, str]] = field(default_factory=list)


class Conveyor:
    """Creates the replicas rules wait for: one Dask task per file, at the destination.

    The task copies SE -> SE and verifies the adler32; only small metadata comes
    back. The controller then registers the replica (one transaction) or counts the
    failure (three, and the lock is STUCK until the repairer's back-off ends).
    """

    def __init__(self, storage: StorageService, timeout: float = 600.0) -> None:
        self.storage = storage
        self.timeout = timeout

    def run_once(self, now: datetime) -> ConveyorReport:
        self.storage.require_agents()
        report = ConveyorReport()
        submit = self.storage.submitter
        if submit is None:
            return report  # no grid up: transfers wait for one
        up = self.storage.usable_sites()
        batch = []
        for req in self.storage.rules.pending_transfers(now):
            sources = [s for s in req.sources if s in up and s != req.site]
            if req.site not in up or not sources:
                continue
            src = sources[0]
            future = submit(
                req.site,
                copy_file,
                self.storage.element(src).url,
                self.storage.element(req.site).url,
                req.lfn,
                req.adler32,
                src_site=src,
                dst_site=req.site,
            )
            batch.append((req, src, future))
        report.submitted = len(batch)
        for req, src, future in batch:
            try:
                result: TransferResult = future.result(timeout=self.timeout)
                if not adler32_equal(result.adler32, req.adler32) or (
                    result.size != req.size
                ):
                    raise ChecksumMismatch(
                        req.lfn, f"SE {req.site}", req.adler32, result.adler32
                    )
            except ChecksumMismatch as exc:
                if exc.where.startswith(f"SE {src} "):
                    self.storage.catalog.set_replica_state(req.lfn, src, BAD, str(exc))
                    report.corrupt_sources.append((req.lfn, src))
                elif exc.where.startswith(f"SE {req.site}"):
                    # a corrupt leftover at the destination: clear it for the retry
                    self.storage.element(req.site).delete(req.lfn)
                self.storage.rules.transfer_failed(req.file_id, req.site, str(exc), now)
                report.failed[f"{req.lfn} -> {req.site}"] = str(exc)
            except Exception as exc:  # a transfer failing is data, not a crash
                self.storage.rules.transfer_failed(
                    req.file_id, req.site, f"{type(exc).__name__}: {exc}", now
                )
                report.failed[f"{req.lfn} -> {req.site}"] = str(exc)
            else:
                if self.storage.rules.transfer_done(req.file_id, req.site, now):
                    report.done.append(f"{req.lfn} -> {req.site}")
                else:  # nobody wants it any more: do not leave a dark file
                    self.storage.element(req.site).delete(req.lfn)
        return report


# --------------------------------------------------------------------------- expiry


@dataclass
class ExpiryReport:
    expired_rules: list[int] = field(default_factory=list)


class RuleExpirer:
    """Deletes rules whose lifetime ended; their replicas get tombstones."""

    def __init__(self, storage: StorageService) -> None:
        self.storage = storage

    def run_once(self, now: datetime) -> ExpiryReport:
        self.storage.require_agents()
        return ExpiryReport(self.storage.rules.expire(now))


# --------------------------------------------------------------------------- reaper


@dataclass
class ReaperReport:
    deleted: dict[str, list[str]] = field(default_factory=dict)
    freed: int = 0
    #: replicas kept because they are the last good copy of a file under a rule
    kept_last: list[str] = field(default_factory=list)


class Reaper:
    """Deletes unlocked replicas with a tombstone.

    All of them once the tombstone time has passed; when an SE is above its
    high-water mark, also unlocked replicas with a future tombstone, least recently
    read first, down to the low-water mark. Never a locked replica, never the last
    available replica of a file that an active rule covers.
    """

    def __init__(
        self, storage: StorageService, high_water: float = 0.9, low_water: float = 0.8
    ) -> None:
        self.storage = storage
        self.high_water = high_water
        self.low_water = low_water

    def run_once(self, now: datetime) -> ReaperReport:
        self.storage.require_agents()
        report = ReaperReport()
        usage = self.storage.catalog.site_usage()
        for site in self.storage.config.sites:
            used = usage.get(site.name, 0)
            target = None
            if used > self.high_water * site.storage.capacity:
                target = used - int(self.low_water * site.storage.capacity)
            for file_id, lfn, size in self._candidates(site.name, now, target):
                if self._delete(file_id, lfn, site.name, now, report):
                    report.deleted.setdefault(site.name, []).append(lfn)
                    report.freed += size
        return report

    def _candidates(
        self, site: str, now: datetime, target: int | None
    ) -> list[tuple[int, str, int]]:
        with self.storage.catalog.transaction() as conn:
            base = (
                select(files.c.id, files.c.lfn, files.c.size, replicas.c.tombstone)
                .select_from(replicas.join(files))
                .where(
                    and_(
                        replicas.c.site == site,
                        replicas.c.lock_count == 0,
                        replicas.c.tombstone.is_not(None),
                        replicas.c.state != COPYING,
                    )
                )
            )
            expired = conn.execute(
                base.where(replicas.c.tombstone <= iso(now)).order_by(files.c.id)
            ).all()
            out = [(r.id, r.lfn, r.size) for r in expired]
            if target is not None:
                freed = sum(r.size for r in expired)
                lru = conn.execute(
                    base.where(replicas.c.tombstone > iso(now)).order_by(
                        func.coalesce(replicas.c.last_read, replicas.c.created)
                    )
                ).all()
                for r in lru:
                    if freed >= target:
                        break
                    out.append((r.id, r.lfn, r.size))
                    freed += r.size
        return out

    def _delete(
        self, file_id: int, lfn: str, site: str, now: datetime, report: ReaperReport
    ) -> bool:
        catalog = self.storage.catalog
        with catalog.transaction() as conn:
            rep = conn.execute(
                select(replicas.c.lock_count, replicas.c.state).where(
                    and_(replicas.c.file_id == file_id, replicas.c.site == site)
                )
            ).first()
            if rep is None or rep.lock_count:
                return False
            covered = self.storage.rules.covered(conn, file_id)
            others = conn.execute(
                select(func.count()).where(
                    and_(
                        replicas.c.file_id == file_id,
                        replicas.c.site != site,
                        replicas.c.state == AVAILABLE,
                    )
                )
            ).scalar_one()
            if covered and not others and rep.state == AVAILABLE:
                report.kept_last.append(lfn)
                return False
            conn.execute(
                update(replicas)
                .where(and_(replicas.c.file_id == file_id, replicas.c.site == site))
                .values(state=DELETING)
            )
        self.storage.element(site).delete(lfn)
        with catalog.transaction() as conn:
            catalog.remove_replica(conn, file_id, site, now)
        return True


# --------------------------------------------------------------------------- repairer


@dataclass
class RepairReport:
    """What one repair pass did."""

    reapplied_rules: list[int] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    cleaned: list[tuple[str, str]] = field(default_factory=list)


class Repairer:
    """Restores rules' copies after losses and bad replicas; reports LOST files.

    A file with no available replica left (and none being copied from one) is LOST:
    marked so, its locks released, detached from its datablock — reported, never
    silently dropped. Rules touching bad/unavailable replicas, and rules not OK, are
    re-applied: placement moves their copies to good sites.
    """

    def __init__(self, storage: StorageService) -> None:
        self.storage = storage

    def run_once(self, now: datetime) -> RepairReport:
        self.storage.require_agents()
        report = RepairReport()
        catalog = self.storage.catalog
        with catalog.transaction() as conn:
            good = select(replicas.c.file_id).where(
                replicas.c.state.in_([AVAILABLE, UPLOADING])
            )
            lost = conn.execute(
                select(files.c.id, files.c.lfn, datablocks.c.lpn.label("block"))
                .select_from(files.outerjoin(datablocks))
                .where(and_(files.c.state == FILE_AVAILABLE, files.c.id.not_in(good)))
            ).all()
            for f in lost:
                held = conn.execute(
                    select(locks.c.rule_id, locks.c.site).where(locks.c.file_id == f.id)
                ).all()
                for lk in held:
                    self.storage.rules._release(conn, lk.rule_id, f.id, lk.site, now)
                conn.execute(
                    update(files)
                    .where(files.c.id == f.id)
                    .values(
                        state=FILE_LOST,
                        datablock_id=None,
                        extra=f'{{"lost_from": "{f.block}", "lost_at": "{iso(now)}"}}',
                    )
                )
                # replicas being copied from nowhere will never arrive
                conn.execute(
                    update(replicas)
                    .where(
                        and_(replicas.c.file_id == f.id, replicas.c.state == COPYING)
                    )
                    .values(state=UNAVAILABLE)
                )
                report.lost.append(f.lfn)
                log.error("file LOST (no good replica left): %s", f.lfn)
            broken = (
                select(locks.c.rule_id)
                .select_from(
                    locks.join(
                        replicas,
                        and_(
                            locks.c.file_id == replicas.c.file_id,
                            locks.c.site == replicas.c.site,
                        ),
                    )
                )
                .where(replicas.c.state.in_([BAD, UNAVAILABLE]))
            )
            due = [
                int(r.id)
                for r in conn.execute(
                    select(rules.c.id).where(
                        or_(
                            rules.c.id.in_(broken),
                            rules.c.state.in_([STUCK, REPLICATING]),
                        )
                    )
                )
            ]
        for rule_id in due:
            self.storage.reapply(rule_id, now)
            report.reapplied_rules.append(rule_id)
        # bad or unavailable replicas that nothing locks any more: remove them
        with catalog.transaction() as conn:
            dead = conn.execute(
                select(files.c.id, files.c.lfn, replicas.c.site)
                .select_from(replicas.join(files))
                .where(
                    and_(
                        replicas.c.state.in_([BAD, UNAVAILABLE]),
                        replicas.c.lock_count == 0,
                    )
                )
            ).all()
        for d in dead:
            try:
                self.storage.element(d.site).delete(d.lfn)
            except OSError as exc:  # the storage may really be gone
                log.warning("could not delete %s at %s: %s", d.lfn, d.site, exc)
            with catalog.transaction() as conn:
                catalog.remove_replica(conn, d.id, d.site, now)
            report.cleaned.append((d.lfn, d.site))
        return report


# --------------------------------------------------------------------------- auditor


@dataclass
class AuditReport:
    """Catalog vs storage element, for one site."""

    site: str
    checked: int = 0
    #: on the SE, in no catalog snapshot: nobody knows them
    dark: list[str] = field(default_factory=list)
    #: in both catalog snapshots as available, missing on the SE
    lost: list[str] = field(default_factory=list)


class Auditor:
    """Compares an SE listing with catalog snapshots taken before and after it.

    A file written during the listing shows in the "after" snapshot only, and a file
    deleted during it in the "before" one: neither is misreported. Lost replicas are
    marked unavailable so that the repairer heals them.
    """

    def __init__(self, storage: StorageService) -> None:
        self.storage = storage

    def run_once(self, now: datetime, site: str | None = None) -> list[AuditReport]:
        names = [site] if site else [s.name for s in self.storage.config.sites]
        return [self.audit(name) for name in names]

    def audit(self, site: str, *, fix_dark: bool = False) -> AuditReport:
        catalog = self.storage.catalog
        before = catalog.replicas_at(site)
        listed = {e.lfn for e in self.storage.element(site).list()}
        after = catalog.replicas_at(site)
        report = AuditReport(site, checked=len(listed))
        report.dark = sorted(listed - set(before) - set(after))
        report.lost = sorted(
            lfn
            for lfn in set(before) & set(after)
            if before[lfn] == AVAILABLE
            and after[lfn] == AVAILABLE
            and lfn not in listed
        )
        for lfn in report.lost:
            catalog.set_replica_state(
                lfn, site, UNAVAILABLE, "missing on the SE (audit)"
            )
        if fix_dark:
            for lfn in report.dark:
                self.storage.element(site).delete(lfn)
        return report


Submitter = Callable[..., Any]

__all__ = [
    "AuditReport",
    "Auditor",
    "Conveyor",
    "ConveyorReport",
    "ExpiryReport",
    "Reaper",
    "ReaperReport",
    "RepairReport",
    "Repairer",
    "RuleExpirer",
]
