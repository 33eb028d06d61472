"""Replication rules and their locks, in the catalog.

A rule says "keep N copies of this dataset / datablock / file on sites matching this
expression until T". Applying a rule asks the pure policy
(:func:`b2grid.storage.placement.place`) where copies go, then, in one transaction,
takes a lock per (file, site) and creates ``copying`` replica rows for the transfers
needed. A replica's ``lock_count`` counts its locks; when it drops to zero the replica
gets a tombstone and the reaper may delete it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    true,
    update,
)

from b2grid.errors import BadArgument, NotRegistered, RuleError, RuleNotFound
from b2grid.storage.catalog import Catalog
from b2grid.storage.placement import FileView, SiteSpace, place, rule_state
from b2grid.storage.records import (
    AVAILABLE,
    COPYING,
    FILE_AVAILABLE,
    OK,
    REPLICATING,
    STUCK,
    SUSPENDED,
    RuleRecord,
)
from b2grid.storage.schema import (
    datablocks,
    datasets,
    files,
    inserted_id,
    iso,
    locks,
    replicas,
    rules,
)

#: transfer attempts before a lock is STUCK (then the repairer retries with back-off)
MAX_ATTEMPTS = 3


def check_copies(copies: int, field: str = "copies") -> int:
    """``copies`` if it is a whole number >= 1, else :class:`BadArgument`.

    Examples
    --------
    >>> check_copies(2)
    2
    >>> check_copies(0)
    Traceback (most recent call last):
    ...
    b2grid.errors.BadArgument: copies: 0 is not a number of copies; give a whole ...
    """
    if isinstance(copies, bool) or not isinstance(copies, int) or copies < 1:
        raise BadArgument(
            field, f"{copies!r} is not a number of copies; give a whole number >= 1"
        )
    return copies


def check_lifetime(lifetime: timedelta, field: str = "lifetime") -> timedelta:
    """``lifetime`` if it is a positive :class:`~datetime.timedelta`, else
    :class:`BadArgument` (a rule that ended before it began deletes its data)."""
    if not isinstance(lifetime, timedelta):
        raise BadArgument(
            field, f"{lifetime!r} is not a timedelta; give e.g. timedelta(days=30)"
        )
    if lifetime <= timedelta(0):
        days = lifetime.total_seconds() / 86400
        raise BadArgument(
            field,
            f"{days:g} days is not a lifetime; give a positive one (or none: the "
            "rule keeps its files until it is deleted)",
        )
    return lifetime


def lifetime_of(days: float, field: str = "lifetime_days") -> timedelta:
    """A positive number of grid days as a lifetime, else :class:`BadArgument`.

    Examples
    --------
    >>> lifetime_of(1.5)
    datetime.timedelta(days=1, seconds=43200)
    >>> lifetime_of(-5, "--lifetime-days")
    Traceback (most recent call last):
    ...
    b2grid.errors.BadArgument: --lifetime-days: -5 is not a positive number of days
    """
    try:
        positive = days > 0  # NaN is not
    except TypeError:
        positive = False
    if positive:
        try:
            return timedelta(days=days)
        except OverflowError:
            raise BadArgument(
                field, f"{days!r} days is longer than a date can hold"
            ) from None
    raise BadArgument(field, f"{days!r} is not a positive number of days")


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """A replica to create: copy ``lfn`` to ``site`` from one of ``sources``."""

    file_id: int
    lfn: str
    size: int
    adler32: str
    site: str
    sources: tuple[str, ...]


class RuleBook:
    """Rules, locks and the transfer queue they imply."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    # ------------------------------------------------------------------ targets

    def _target(
        self, conn: Connection, target: str, live_only: bool = False
    ) -> tuple[str, Any]:
        """(kind, where-clause over files) for a dataset, datablock or file name.

        ``live_only`` refuses the datablocks of removed datasets and files that are
        deleted or lost (a new rule on them could never be satisfied).
        """
        live = datasets.c.state != "deleted" if live_only else true()
        block = conn.execute(
            select(datablocks.c.id)
            .select_from(datablocks.join(datasets))
            .where(and_(datablocks.c.lpn == target, live))
        ).first()
        if block is not None:
            return "datablock", files.c.datablock_id == block.id
        ds = conn.execute(
            select(datasets.c.id).where(
                and_(datasets.c.lpn == target, datasets.c.state != "deleted")
            )
        ).first()
        if ds is not None:
            return "dataset", files.c.datablock_id.in_(
                select(datablocks.c.id).where(datablocks.c.dataset_id == ds.id)
            )
        alive = files.c.state == FILE_AVAILABLE if live_only else true()
        f = conn.execute(
            select(files.c.id).where(and_(files.c.lfn == target, alive))
        ).first()
        if f is not None:
            return "file", files.c.id == f.id
        raise NotRegistered(target, "dataset, datablock or file")

    def covered(self, conn: Connection, file_id: int) -> bool:
        """True when a rule targets the file, its datablock or its dataset."""
        row = conn.execute(
            select(
                files.c.lfn, datablocks.c.lpn.label("block"), datasets.c.lpn.label("ds")
            )
            .select_from(files.outerjoin(datablocks).outerjoin(datasets))
            .where(files.c.id == file_id)
        ).first()
        if row is None:
            return False
        targets = [t for t in (row.lfn, row.block, row.ds) if t is not None]
        return (
            conn.execute(
                select(func.count()).where(rules.c.target.in_(targets))
            ).scalar_one()
            > 0
        )

    # ------------------------------------------------------------------ rules

    def add_rule(
        self,
        target: str,
        copies: int,
        expression: str,
        candidates: Sequence[str],
        spaces: Mapping[str, SiteSpace],
        owner: str,
        now: datetime,
        *,
        lifetime: timedelta | None = None,
        comment: str | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Create a rule and apply it at once; returns its id.

        ``candidates`` are the sites the (already resolved) ``expression`` allows.
        Raises :class:`BadArgument` for copies < 1 or a lifetime <= 0, and
        :class:`RuleError` when it asks more copies than sites match.
        """
        check_copies(copies)
        if lifetime is not None:
            check_lifetime(lifetime)
        if copies > len(candidates):
            raise RuleError(
                f"rule on {target} asks {copies} copies but {expression!r} matches "
                f"only {len(candidates)} site(s): {', '.join(candidates)}; lower "
                "the copies or widen the expression"
            )
        if conn is None:
            with self.catalog.transaction() as own:
                return self.add_rule(
                    target,
                    copies,
                    expression,
                    candidates,
                    spaces,
                    owner,
                    now,
                    lifetime=lifetime,
                    comment=comment,
                    conn=own,
                )
        kind, _ = self._target(conn, target, live_only=True)
        rule_id = inserted_id(
            conn.execute(
                insert(rules).values(
                    target=target,
                    target_kind=kind,
                    copies=copies,
                    expression=expression,
                    owner=owner,
                    created=iso(now),
                    expires=None if lifetime is None else iso(now + lifetime),
                    state=REPLICATING,
                    comment=comment,
                    error=None,
                )
            )
        )
        self._apply(conn, rule_id, candidates, spaces, now)
        return rule_id

    def apply(
        self,
        rule_id: int,
        candidates: Sequence[str],
        spaces: Mapping[str, SiteSpace],
        now: datetime,
        conn: Connection | None = None,
    ) -> str:
        """Re-evaluate a rule (after losses, repairs, new files); returns its state."""
        if conn is None:
            with self.catalog.transaction() as own:
                return self.apply(rule_id, candidates, spaces, now, own)
        return self._apply(conn, rule_id, candidates, spaces, now)

    def _apply(
        self,
        conn: Connection,
        rule_id: int,
        candidates: Sequence[str],
        spaces: Mapping[str, SiteSpace],
        now: datetime,
    ) -> str:
        rule = conn.execute(select(rules).where(rules.c.id == rule_id)).first()
        if rule is None:
            raise RuleNotFound(rule_id)
        if rule.state == SUSPENDED:
            return SUSPENDED
        _, where = self._target(conn, rule.target)
        rows = conn.execute(
            select(files.c.id, files.c.size, files.c.datablock_id, files.c.lfn).where(
                and_(where, files.c.state == FILE_AVAILABLE)
            )
        ).all()
        ids = [r.id for r in rows]
        reps: dict[int, dict[str, str]] = {i: {} for i in ids}
        mine: dict[int, set[str]] = {i: set() for i in ids}
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            for rep in conn.execute(
                select(replicas.c.file_id, replicas.c.site, replicas.c.state).where(
                    replicas.c.file_id.in_(part)
                )
            ):
                reps[rep.file_id][rep.site] = rep.state
            for held in conn.execute(
                select(locks.c.file_id, locks.c.site).where(
                    and_(locks.c.rule_id == rule_id, locks.c.file_id.in_(part))
                )
            ):
                mine[held.file_id].add(held.site)
        views = [
            FileView(
                r.id,
                r.size,
                str(r.datablock_id or r.lfn),
                reps[r.id],
                frozenset(mine[r.id]),
            )
            for r in rows
        ]
        plan = place(rule.copies, candidates, spaces, views)
        wanted = {(lk.file_id, lk.site) for lk in plan.locks}
        # drop this rule's locks that the plan no longer keeps (bad or lost replicas)
        for fid, sites in mine.items():
            for site in sites:
                if (fid, site) not in wanted:
                    self._release(conn, rule_id, fid, site, now)
        stamp = iso(now)
        for lk in plan.locks:
            if lk.site in mine[lk.file_id]:
                continue
            if lk.source is not None and lk.site not in reps[lk.file_id]:
                conn.execute(
                    insert(replicas).values(
                        file_id=lk.file_id,
                        site=lk.site,
                        state=COPYING,
                        created=stamp,
                        lock_count=0,
                        tombstone=None,
                    )
                )
            conn.execute(
                insert(locks).values(
                    rule_id=rule_id,
                    file_id=lk.file_id,
                    site=lk.site,
                    state=lk.state,
                    attempts=0,
                )
            )
            conn.execute(
                update(replicas)
                .where(
                    and_(replicas.c.file_id == lk.file_id, replicas.c.site == lk.site)
                )
                .values(lock_count=replicas.c.lock_count + 1, tombstone=None)
            )
        error = "; ".join(sorted({s.reason for s in plan.shortfalls})) or None
        return self._refresh(conn, rule_id, error, bool(plan.shortfalls))

    def _release(
        self, conn: Connection, rule_id: int, file_id: int, site: str, now: datetime
    ) -> None:
        conn.execute(
            delete(locks).where(
                and_(
                    locks.c.rule_id == rule_id,
                    locks.c.file_id == file_id,
                    locks.c.site == site,
                )
            )
        )
        conn.execute(
            update(replicas)
            .where(and_(replicas.c.file_id == file_id, replicas.c.site == site))
            .values(lock_count=replicas.c.lock_count - 1)
        )
        conn.execute(
            update(replicas)
            .where(
                and_(
                    replicas.c.file_id == file_id,
                    replicas.c.site == site,
                    replicas.c.lock_count <= 0,
                )
            )
            .values(lock_count=0, tombstone=iso(now))
        )
        # a copy still to be made that nothing wants any more: forget it (a transfer
        # already under way finds no row and its bytes are deleted by the conveyor)
        conn.execute(
            delete(replicas).where(
                and_(
                    replicas.c.file_id == file_id,
                    replicas.c.site == site,
                    replicas.c.lock_count == 0,
                    replicas.c.state == COPYING,
                )
            )
        )

    def _refresh(
        self,
        conn: Connection,
        rule_id: int,
        error: str | None,
        shortfall: bool | None = None,
    ) -> str:
        """Recompute a rule's state from its locks; ``shortfall=None`` counts them
        against the files of its target (fewer locks than files x copies: STUCK)."""
        states = [
            r.state
            for r in conn.execute(
                select(locks.c.state).where(locks.c.rule_id == rule_id)
            )
        ]
        if shortfall is None:
            rule = conn.execute(
                select(rules.c.target, rules.c.copies, rules.c.error).where(
                    rules.c.id == rule_id
                )
            ).one()
            _, where = self._target(conn, rule.target)
            n_files = conn.execute(
                select(func.count()).where(and_(where, files.c.state == FILE_AVAILABLE))
            ).scalar_one()
            shortfall = len(states) < n_files * rule.copies
            if shortfall and error is None:
                error = rule.error
        state = rule_state(states, shortfall)
        if state == STUCK and error is None:
            error = conn.execute(
                select(locks.c.error)
                .where(and_(locks.c.rule_id == rule_id, locks.c.state == STUCK))
                .limit(1)
            ).scalar()
        conn.execute(
            update(rules)
            .where(rules.c.id == rule_id)
            .values(state=state, error=error if state != OK else None)
        )
        return state

    def delete_rule(
        self, rule_id: int, now: datetime, conn: Connection | None = None
    ) -> None:
        """Remove a rule; its locks go, unlocked replicas get a tombstone."""
        if conn is None:
            with self.catalog.transaction() as own:
                self.delete_rule(rule_id, now, own)
                return
        if (
            conn.execute(select(rules.c.id).where(rules.c.id == rule_id)).first()
            is None
        ):
            raise RuleNotFound(rule_id)
        held = conn.execute(
            select(locks.c.file_id, locks.c.site).where(locks.c.rule_id == rule_id)
        ).all()
        for row in held:
            self._release(conn, rule_id, row.file_id, row.site, now)
        conn.execute(delete(rules).where(rules.c.id == rule_id))

    def expire(self, now: datetime) -> list[int]:
        """Delete every rule whose lifetime ended; returns their ids."""
        with self.catalog.transaction() as conn:
            ids = [
                int(r.id)
                for r in conn.execute(
                    select(rules.c.id).where(
                        and_(rules.c.expires.is_not(None), rules.c.expires <= iso(now))
                    )
                )
            ]
            for rule_id in ids:
                self.delete_rule(rule_id, now, conn)
        return ids

    def extend(self, rule_id: int, until: datetime) -> None:
        with self.catalog.transaction() as conn:
            done = conn.execute(
                update(rules).where(rules.c.id == rule_id).values(expires=iso(until))
            )
            if done.rowcount == 0:
                raise RuleNotFound(rule_id)

    def rule(self, rule_id: int) -> RuleRecord:
        found = self.rules(rule_id=rule_id)
        if not found:
            raise RuleNotFound(rule_id)
        return found[0]

    def rules(
        self, target: str | None = None, rule_id: int | None = None
    ) -> list[RuleRecord]:
        """Rules, all or on ``target`` (and datablocks/files under it)."""
        with self.catalog.reading() as conn:
            q = select(rules).order_by(rules.c.id)
            if rule_id is not None:
                q = q.where(rules.c.id == rule_id)
            if target is not None:
                q = q.where(
                    or_(
                        rules.c.target == target,
                        rules.c.target.startswith(target + "/"),
                    )
                )
            found = conn.execute(q).all()
            counts: dict[int, dict[str, int]] = {}
            for row in conn.execute(
                select(locks.c.rule_id, locks.c.state, func.count())
                .where(locks.c.rule_id.in_([r.id for r in found]))
                .group_by(locks.c.rule_id, locks.c.state)
            ):
                counts.setdefault(row[0], {})[row[1]] = int(row[2])
        return [
            RuleRecord(
                rule_id=r.id,
                target=r.target,
                target_kind=r.target_kind,
                copies=r.copies,
                expression=r.expression,
                owner=r.owner,
                created=r.created,
                expires=r.expires,
                state=r.state,
                error=r.error,
                comment=r.comment,
                locks=counts.get(r.id, {}),
            )
            for r in found
        ]

    def active_rule_ids(self) -> list[int]:
        with self.catalog.reading() as conn:
            return [
                int(r.id) for r in conn.execute(select(rules.c.id).order_by(rules.c.id))
            ]

    def rule_expression(self, rule_id: int) -> tuple[str, int]:
        rule = self.rule(rule_id)
        return rule.expression, rule.copies

    # ------------------------------------------------------------------ transfers

    def pending_transfers(
        self, now: datetime, limit: int = 1000
    ) -> list[TransferRequest]:
        """Replicas being created that some lock waits for, with their sources."""
        with self.catalog.transaction() as conn:
            rows = conn.execute(
                select(
                    files.c.id,
                    files.c.lfn,
                    files.c.size,
                    files.c.adler32,
                    replicas.c.site,
                )
                .select_from(replicas.join(files))
                .where(
                    and_(
                        replicas.c.state == COPYING,
                        replicas.c.lock_count > 0,
                        files.c.state == FILE_AVAILABLE,
                    )
                )
                .order_by(files.c.id)
                .limit(limit)
            ).all()
            out = []
            for r in rows:
                waiting = conn.execute(
                    select(func.count()).where(
                        and_(
                            locks.c.file_id == r.id,
                            locks.c.site == r.site,
                            locks.c.state == REPLICATING,
                        )
                    )
                ).scalar_one()
                retry = conn.execute(
                    select(func.count()).where(
                        and_(
                            locks.c.file_id == r.id,
                            locks.c.site == r.site,
                            locks.c.state == STUCK,
                            or_(
                                locks.c.next_try.is_(None), locks.c.next_try <= iso(now)
                            ),
                        )
                    )
                ).scalar_one()
                if not waiting and not retry:
                    continue
                sources = tuple(
                    s.site
                    for s in conn.execute(
                        select(replicas.c.site)
                        .where(
                            and_(
                                replicas.c.file_id == r.id,
                                replicas.c.state == AVAILABLE,
                            )
                        )
                        .order_by(replicas.c.site)
                    )
                )
                out.append(
                    TransferRequest(r.id, r.lfn, r.size, r.adler32, r.site, sources)
                )
        return out

    def transfer_done(self, file_id: int, site: str, now: datetime) -> bool:
        """Register a verified copy: replica available, its locks OK (one transaction).

        Returns False if the replica is no longer wanted (its row is gone).
        """
        with self.catalog.transaction() as conn:
            done = conn.execute(
                update(replicas)
                .where(
                    and_(
                        replicas.c.file_id == file_id,
                        replicas.c.site == site,
                        replicas.c.state == COPYING,
                    )
                )
                .values(state=AVAILABLE, created=iso(now), error=None)
            )
            if done.rowcount == 0:
                return False
            conn.execute(
                update(locks)
                .where(and_(locks.c.file_id == file_id, locks.c.site == site))
                .values(state=OK, error=None, next_try=None)
            )
            for r in conn.execute(
                select(locks.c.rule_id).where(
                    and_(locks.c.file_id == file_id, locks.c.site == site)
                )
            ).all():
                self._refresh(conn, r.rule_id, None)
            return True

    def transfer_failed(
        self,
        file_id: int,
        site: str,
        error: str,
        now: datetime,
        *,
        backoff: timedelta = timedelta(minutes=10),
    ) -> bool:
        """Count a failed attempt; after :data:`MAX_ATTEMPTS` the locks are STUCK.

        Returns True when the locks became (or stay) STUCK.
        """
        with self.catalog.transaction() as conn:
            held = conn.execute(
                select(locks.c.rule_id, locks.c.attempts).where(
                    and_(locks.c.file_id == file_id, locks.c.site == site)
                )
            ).all()
            stuck = False
            for lk in held:
                attempts = lk.attempts + 1
                values: dict[str, Any] = {"attempts": attempts, "error": error}
                if attempts >= MAX_ATTEMPTS:
                    # back-off doubles with each round of attempts the repairer makes
                    rounds = attempts // MAX_ATTEMPTS
                    values |= {
                        "state": STUCK,
                        "next_try": iso(now + backoff * 2 ** (rounds - 1)),
                    }
                    stuck = True
                conn.execute(
                    update(locks)
                    .where(
                        and_(
                            locks.c.rule_id == lk.rule_id,
                            locks.c.file_id == file_id,
                            locks.c.site == site,
                        )
                    )
                    .values(**values)
                )
                self._refresh(conn, lk.rule_id, None)
            return stuck


__all__ = [
    "MAX_ATTEMPTS",
    "RuleBook",
    "TransferRequest",
    "check_copies",
    "check_lifetime",
    "lifetime_of",
]
