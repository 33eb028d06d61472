"""Data management as users see it: put, list, remove, replicate, rules, agents.

:class:`StorageService` is what ``grid.storage`` is. It checks identity and names at
the edge, moves bytes with the storage elements, records everything in the catalog
(one transaction per change) and runs the agents. It works without a running grid
(uploads, listings, rules are recorded); transfers need one, since they run as Dask
tasks on the destination site's workers.
"""

from __future__ import annotations

import builtins
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, select, update

from b2grid.clock import Clock
from b2grid.config import GridConfig
from b2grid.errors import (
    BadArgument,
    ChecksumMismatch,
    DuplicateFiles,
    LocalFileError,
    NameReused,
    NotController,
    NotRegistered,
    PermissionDenied,
    StorageError,
    StorageFull,
)
from b2grid.sites.service import SiteService
from b2grid.sites.topology import SiteStatus
from b2grid.storage import expression as expressions
from b2grid.storage import lfn as lfns
from b2grid.storage.agents import (
    Auditor,
    AuditReport,
    Conveyor,
    Reaper,
    Repairer,
    RuleExpirer,
)
from b2grid.storage.catalog import Catalog
from b2grid.storage.checksum import adler32_of_file
from b2grid.storage.element import StorageElement
from b2grid.storage.identity import User, check_delete, check_write
from b2grid.storage.placement import SiteSpace
from b2grid.storage.records import (
    AVAILABLE,
    BAD,
    COPYING,
    FILE_AVAILABLE,
    UNAVAILABLE,
    UPLOADING,
    DatasetMeta,
    FileRecord,
    NewFile,
)
from b2grid.storage.rule_book import RuleBook, check_copies, check_lifetime
from b2grid.storage.schema import files, locks, replicas, rules, sqlite_url


@dataclass
class AgentReports:
    """One pass of every storage agent."""

    conveyor: Any
    expiry: Any
    repair: Any
    reaper: Any


class StorageService:
    """The grid's data management."""

    def __init__(
        self,
        config: GridConfig,
        sites: SiteService,
        clock: Clock,
        user: User,
        catalog_url: str | None = None,
    ) -> None:
        self.config = config
        self.sites = sites
        self.clock = clock
        #: who this grid acts as
        self.user = user
        self.catalog = Catalog.open(
            catalog_url or sqlite_url(config.home), config.policies.datablock_size
        )
        self.rules = RuleBook(self.catalog)
        #: places a task at a site (``Grid.run_at``); None while no grid is up
        self.submitter: Callable[..., Any] | None = None
        self.conveyor = Conveyor(self)
        self.expirer = RuleExpirer(self)
        self.reaper = Reaper(self)
        self.repairer = Repairer(self)
        self.auditor = Auditor(self)
        self._agents_lock = threading.Lock()
        #: whether this process drives the grid's storage agents (and so may run
        #: them at a time of its choosing): the controller (set by ``Grid.start``)
        #: or a test harness standing in for it (``b2grid.testing.offline_grid``)
        self.runs_agents = False

    def close(self) -> None:
        self.catalog.close()

    # ------------------------------------------------------------------ sites

    def element(self, site: str) -> StorageElement:
        """The storage element of ``site``."""
        cfg = self.config.site(site)
        return StorageElement(
            site, cfg.storage.resolved_url(self.config.home), cfg.storage.capacity
        )

    def site_attributes(self) -> dict[str, dict[str, str]]:
        return {
            s.name: {"kind": s.kind, "country": s.country} for s in self.config.sites
        }

    def resolve(self, expression: str) -> tuple[str, ...]:
        """Sites matching a site expression (error if none, or unknown names)."""
        return expressions.resolve(expression, self.site_attributes())

    def usable_sites(self) -> set[str]:
        """Sites whose storage takes new copies and serves reads (not down)."""
        return {
            s.name for s in self.sites.topology() if s.status is not SiteStatus.DOWN
        }

    def spaces(self) -> dict[str, SiteSpace]:
        usage = self.catalog.site_usage()
        usable = self.usable_sites()
        return {
            s.name: SiteSpace(
                s.name,
                free=max(s.storage.capacity - usage.get(s.name, 0), 0),
                available=s.name in usable,
                weight=s.storage.weight,
            )
            for s in self.config.sites
        }

    # ------------------------------------------------------------------ put

    def _default_copies(self, lpn: str) -> tuple[int, timedelta | None]:
        kind = lfns.namespace_of(lpn).kind
        policy = self.config.policies
        if kind in ("user", "group"):
            return policy.user_output.copies, timedelta(
                days=policy.user_output.lifetime_days
            )
        try:
            level = lfns.DatasetPath.parse(lpn).data_level
        except Exception:
            level = "mdst"
        copies = getattr(policy.copies, level, policy.copies.mdst)
        if kind == "mc":
            copies = policy.copies.mc
        return int(copies), None

    def put(
        self,
        paths: Sequence[str | os.PathLike[str]],
        lpn: str,
        *,
        site: str | None = None,
        copies: int | None = None,
        expression: str = "*",
        lifetime: timedelta | None = None,
        meta: DatasetMeta | None = None,
        events: Sequence[int | None] | None = None,
        allow_duplicates: bool = False,
    ) -> list[str]:
        """Upload local files into dataset ``lpn`` and keep them by rule.

        The files go to ``site`` (default: the allowed site with most free space),
        into the dataset's datablocks ``subNN``; a rule keeps ``copies`` of them on
        sites matching ``expression`` (defaults from cluster.yaml: user data 2
        copies for 90 days). Nothing is registered unless every file uploaded and
        verified; a missing local file, a used name, a permission breach, a full
        SE, copies < 1, a lifetime <= 0 or ``events`` not one per file is refused
        (:class:`~b2grid.errors.BadArgument` for the arguments) before anything
        is written. Returns the new LFNs.

        A file the dataset already holds (same name, or same size and adler32), or
        given twice, is refused with :class:`~b2grid.errors.DuplicateFiles` unless
        ``allow_duplicates``: its events would be counted twice. An upload that
        fails or is interrupted part-way removes the copies it made and gives
        back every name it reserved (files, datablocks, a dataset it created).
        """
        now = self.clock.now()
        if copies is not None:
            check_copies(copies)
        if lifetime is not None:
            check_lifetime(lifetime)
        lpn = lfns.validate_lfn(lpn)
        check_write(self.user, lpn)
        local = [Path(p) for p in paths]
        if not local:
            raise LocalFileError("(none)", "no files given")
        if events is not None and len(events) != len(local):
            raise BadArgument(
                "events",
                f"{len(events)} event counts for {len(local)} files; give one per "
                "file (None where unknown), or none at all",
            )
        facts = []
        for i, path in enumerate(local):
            if not path.is_file():
                why = "is a directory" if path.is_dir() else "does not exist"
                raise LocalFileError(str(path), why)
            try:
                facts.append(
                    NewFile(
                        name=path.name,
                        size=path.stat().st_size,
                        adler32=adler32_of_file(path),
                        events=events[i] if events else None,
                    )
                )
            except OSError as exc:
                raise LocalFileError(str(path), exc.strerror or str(exc)) from None
        default_copies, default_lifetime = self._default_copies(lpn)
        copies = default_copies if copies is None else copies
        lifetime = lifetime if lifetime is not None else default_lifetime
        candidates = self.resolve(expression)
        target = self._upload_site(site, candidates, sum(f.size for f in facts))
        with self.catalog.transaction() as conn:  # checked and reserved at once
            fresh = not self.catalog.has_dataset(conn, lpn)
            repeats = (
                [] if allow_duplicates else self.catalog.duplicates(conn, lpn, facts)
            )
            if repeats:
                raise DuplicateFiles(
                    lpn, tuple((str(local[i]), other, how) for i, other, how in repeats)
                )
            new_lfns = self.catalog.register_files(
                lpn, facts, target, self.user.name, now, meta=meta, state=UPLOADING,
                conn=conn, repeat_names=allow_duplicates,
            )  # fmt: skip
        se = self.element(target)
        try:
            for path, name, fact in zip(local, new_lfns, facts, strict=True):
                se.put(name, path, expected_adler32=fact.adler32)
            spaces = self.spaces()  # read before the write transaction opens
            existing = self.rules.rules(target=lpn)
            resolved = {r.rule_id: self.candidates(r.expression) for r in existing}
            with self.catalog.transaction() as conn:
                self.catalog.finish_upload(conn, new_lfns, target, now)
                # the rules the dataset (and its datablocks) already has take the new
                # files in; the first put into a dataset creates its rule
                for rule in existing:
                    self.rules.apply(
                        rule.rule_id, resolved[rule.rule_id], spaces, now, conn
                    )
                if not any(r.target == lpn for r in existing):
                    self.rules.add_rule(
                        lpn,
                        min(copies, len(candidates)),
                        expression,
                        candidates,
                        spaces,
                        self.user.name,
                        now,
                        lifetime=lifetime,
                        comment="ds put",
                        conn=conn,
                    )
        except BaseException as exc:
            # give back every name reserved above (and the dataset, if this upload
            # made it), so no reservation dangles and a retry gets the same names;
            # the copies made so far go, but not a file the SE already had
            there = exc.lfn if isinstance(exc, NameReused) else None
            try:
                for name in new_lfns:
                    if name != there:
                        se.delete(name)
            finally:
                self.catalog.forget_upload(new_lfns, dataset=lpn if fresh else None)
            raise
        return new_lfns

    def _upload_site(
        self, site: str | None, candidates: Sequence[str], size: int
    ) -> str:
        spaces = self.spaces()
        if site is not None:
            self.sites.get(site)  # UnknownSite lists the known ones
            space = spaces[site]
            if not space.available:
                raise StorageError(f"site {site!r} is down; upload to another site")
            if size > space.free:
                raise StorageFull(site, size, space.free)
            return site
        up = [s for s in candidates if spaces[s].available]
        if not up:
            raise StorageError(
                f"every site the copies may go to is down ({', '.join(candidates)}); "
                "bring one up or widen the site expression"
            )
        fits = [s for s in up if spaces[s].free >= size]
        if not fits:
            best = max(up, key=lambda s: spaces[s].free)
            raise StorageFull(best, size, spaces[best].free)
        return max(fits, key=lambda s: (spaces[s].free, s))

    # ------------------------------------------------------------------ read

    def list(self, name: str) -> builtins.list[FileRecord]:
        """Files of a dataset, datablock or file name, with their replicas."""
        return self.catalog.files_of(lfns.validate_lfn(name))

    def fetch(self, lfn: str, local: str | os.PathLike[str]) -> str:
        """Download ``lfn`` to ``local``, verified; returns the site it came from.

        A replica whose checksum is wrong is marked bad (the repairer heals it) and
        the next replica is tried.
        """
        record = self.catalog.file(_checked(lfn))
        usable = self.usable_sites()
        errors = []
        for site in [s for s in record.available_sites if s in usable]:
            try:
                self.element(site).get(record.lfn, Path(local), record.adler32)
            except ChecksumMismatch as exc:
                self.catalog.set_replica_state(record.lfn, site, BAD, str(exc))
                errors.append(str(exc))
                continue
            self.catalog.touch(record.lfn, site, self.clock.now())
            return site
        if errors:
            why = f" ({'; '.join(errors)})"
        elif record.state != "available":
            why = f"; the file is {record.state}"
        elif record.available_sites:
            why = f"; its sites are down ({', '.join(record.available_sites)})"
        else:
            why = "; it has no available replica (the repairer is restoring it)"
        raise StorageError(f"no good replica of {lfn} could be read{why}")

    def read_verified(self, lfn: str, site: str) -> bytes:
        """The bytes of ``lfn`` at ``site``, checked against the catalog (job reads).

        On a mismatch the replica is marked bad and :class:`ChecksumMismatch` raised.
        """
        record = self.catalog.file(_checked(lfn))
        se = self.element(site)
        with se.open(record.lfn) as f:
            data: bytes = f.read()
        from b2grid.storage.checksum import adler32_of_bytes

        actual = adler32_of_bytes(data)
        if actual != record.adler32:
            exc = ChecksumMismatch(
                record.lfn, f"SE {site} (job read)", record.adler32, actual
            )
            self.catalog.set_replica_state(record.lfn, site, BAD, str(exc))
            raise exc
        self.catalog.touch(record.lfn, site, self.clock.now())
        return data

    # ------------------------------------------------------------------ change

    def remove(self, name: str) -> int:
        """Delete a dataset, datablock or file everywhere; returns files removed.

        The rules on it go first, then every replica; names stay used forever.
        """
        name = lfns.validate_lfn(name)
        check_delete(self.user, name)
        now = self.clock.now()
        targets = self.catalog.files_of(name, include_lost=True)
        for rule in self.rules.rules(target=name):
            self.rules.delete_rule(rule.rule_id, now)
        removed = 0
        for record in targets:
            for rep in record.replicas:
                with self.catalog.transaction() as conn:
                    conn.execute(
                        update(replicas)
                        .where(
                            and_(
                                replicas.c.file_id == record.file_id,
                                replicas.c.site == rep.site,
                            )
                        )
                        .values(state="deleting", lock_count=0)
                    )
                    conn.execute(
                        locks.delete().where(
                            and_(
                                locks.c.file_id == record.file_id,
                                locks.c.site == rep.site,
                            )
                        )
                    )
                self.element(rep.site).delete(record.lfn)
                with self.catalog.transaction() as conn:
                    self.catalog.remove_replica(conn, record.file_id, rep.site, now)
            removed += 1
        self.catalog.mark_deleted(name, now)
        return removed

    def add_rule(
        self,
        target: str,
        copies: int,
        expression: str,
        *,
        lifetime: timedelta | None = None,
        comment: str | None = None,
    ) -> int:
        """Keep ``copies`` of ``target`` on sites matching ``expression``, for
        ``lifetime`` (default: until the rule is deleted); copies < 1 or a
        lifetime <= 0 raise :class:`~b2grid.errors.BadArgument`."""
        check_copies(copies)
        if lifetime is not None:
            check_lifetime(lifetime)
        target = lfns.validate_lfn(target)
        candidates = self.resolve(expression)
        return self.rules.add_rule(
            target,
            copies,
            expression,
            candidates,
            self.spaces(),
            self.user.name,
            self.clock.now(),
            lifetime=lifetime,
            comment=comment,
        )

    def delete_rule(self, rule_id: int) -> None:
        rule = self.rules.rule(rule_id)
        if rule.owner != self.user.name and "admin" not in self.user.roles:
            raise PermissionDenied(
                self.user.name, rule.target, f"rule {rule_id} belongs to {rule.owner}"
            )
        self.rules.delete_rule(rule_id, self.clock.now())

    def replicate(self, name: str, site: str) -> int:
        """Add a replica of ``name`` at ``site`` (a one-copy rule, as `gb2_ds_rep`)."""
        self.sites.get(site)
        return self.add_rule(name, 1, site, comment=f"ds rep to {site}")

    def candidates(self, expression: str) -> tuple[str, ...]:
        """The sites ``expression`` matches now; none if it names removed sites."""
        try:
            return self.resolve(expression)
        except StorageError:  # a site since removed from the config: none match
            return ()

    def reapply(self, rule_id: int, now: datetime) -> str:
        expression, _ = self.rules.rule_expression(rule_id)
        return self.rules.apply(
            rule_id, self.candidates(expression), self.spaces(), now
        )

    def declare_bad(self, lfn: str, site: str, reason: str) -> None:
        """Declare one replica bad (the repairer replaces it from a good copy)."""
        self.catalog.set_replica_state(_checked(lfn), site, BAD, reason)

    def lose_site(self, site: str) -> int:
        """Declare the storage of ``site`` lost: the site goes down, its replicas
        become unavailable, and the repairer restores every rule's copies elsewhere.
        Returns the number of replicas lost."""
        self.sites.get(site)
        if self.sites.get(site).status is not SiteStatus.DOWN:
            self.sites.down(site)
        with self.catalog.transaction() as conn:
            done = conn.execute(
                update(replicas)
                .where(
                    and_(
                        replicas.c.site == site,
                        replicas.c.state.in_([AVAILABLE, COPYING, BAD, UPLOADING]),
                    )
                )
                .values(state=UNAVAILABLE, error=f"storage of {site} declared lost")
            )
            return int(done.rowcount)

    # ------------------------------------------------------------------ agents

    def require_agents(self) -> None:
        """Raise :class:`~b2grid.errors.NotController` unless this process drives
        the storage agents (:attr:`runs_agents`): an attached grid moving rules
        through grid time of its choosing would expire and reap other users' data.
        """
        if not self.runs_agents:
            raise NotController("storage agents", str(self.config.home))

    def run_agents(self, now: datetime | None = None) -> AgentReports:
        """One cycle of every agent: expiry, repair, conveyor (the transfers the
        repairs need), reaper.

        Only where :attr:`runs_agents` (the controller; ``offline_grid`` in tests):
        elsewhere :class:`~b2grid.errors.NotController` is raised.
        """
        self.require_agents()
        now = now or self.clock.now()
        with self._agents_lock:  # passes never overlap (controller loop vs caller)
            expiry = self.expirer.run_once(now)
            repair = self.repairer.run_once(now)
            conveyor = self.conveyor.run_once(now)
            reaper = self.reaper.run_once(now)
        return AgentReports(
            conveyor=conveyor, expiry=expiry, repair=repair, reaper=reaper
        )

    def audit(self, site: str, *, fix_dark: bool = False) -> AuditReport:
        self.sites.get(site)
        return self.auditor.audit(site, fix_dark=fix_dark)

    # ------------------------------------------------------------------ invariants

    def validate_state(self) -> None:
        """Assert the catalog invariants (DESIGN.md §5) — for tests.

        Lock counts match locks; a locked replica has no tombstone; every lock's
        replica exists and is not being deleted; an available file has a good or
        uploading replica; an OK rule holds ``copies`` OK locks per file.
        """
        with self.catalog.transaction() as conn:
            counts = conn.execute(
                select(
                    replicas.c.file_id,
                    replicas.c.site,
                    replicas.c.lock_count,
                    replicas.c.tombstone,
                    replicas.c.state,
                )
            ).all()
            actual = {
                (r.file_id, r.site): int(r.n)
                for r in conn.execute(
                    select(
                        locks.c.file_id, locks.c.site, func.count().label("n")
                    ).group_by(locks.c.file_id, locks.c.site)
                )
            }
            for r in counts:
                n = actual.pop((r.file_id, r.site), 0)
                assert r.lock_count == n, (
                    f"replica {r.file_id}@{r.site}: {r.lock_count} != {n}"
                )
                if n:
                    assert r.tombstone is None, (
                        f"locked replica {r.file_id}@{r.site} has a tombstone"
                    )
                    assert r.state != "deleting", (
                        f"locked replica {r.file_id}@{r.site} deleting"
                    )
            assert not actual, f"locks without replicas: {sorted(actual)[:5]}"
            # a file whose copies all went bad waits for the repairer to call it
            # LOST; a file with no replica row at all was silently dropped
            known = select(replicas.c.file_id).where(
                replicas.c.state.in_([AVAILABLE, UPLOADING, BAD, UNAVAILABLE, COPYING])
            )
            orphans = conn.execute(
                select(files.c.lfn).where(
                    and_(files.c.state == FILE_AVAILABLE, files.c.id.not_in(known))
                )
            ).all()
            assert not orphans, f"available files with no replica at all: {orphans[:5]}"
            for rule in conn.execute(select(rules).where(rules.c.state == "OK")).all():
                _, where = self.rules._target(conn, rule.target)
                n_files = conn.execute(
                    select(func.count()).where(
                        and_(where, files.c.state == FILE_AVAILABLE)
                    )
                ).scalar_one()
                n_ok = conn.execute(
                    select(func.count()).where(
                        and_(locks.c.rule_id == rule.id, locks.c.state == "OK")
                    )
                ).scalar_one()
                assert n_ok == n_files * rule.copies, (
                    f"rule {rule.id} OK with {n_ok} locks for {n_files} files x "
                    f"{rule.copies}"
                )


def _checked(name: str) -> str:
    """Validate a name given by a user (an LFN or LPN)."""
    return lfns.validate_lfn(name)


__all__ = ["AgentReports", "NotRegistered", "StorageService"]
