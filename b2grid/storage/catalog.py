"""The file catalog: the only truth about names, files, datasets and replicas.

Every method that changes state is one transaction. Names (files, datasets,
datablocks) go into a ``names`` table that is never emptied, so a deleted name is
never reused; only an upload that failed gives back the names it reserved
(:meth:`Catalog.forget_upload`), since nothing ever used them. Rules and locks live
here too (see :mod:`b2grid.storage.rule_book`); the policies that decide what to do
are pure modules fed from here.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, select, update

from b2grid.errors import (
    BadLFN,
    NameReused,
    NotRegistered,
    StorageError,
    UnknownValue,
)
from b2grid.storage import lfn as lfns
from b2grid.storage.records import (
    AVAILABLE,
    COPYING,
    DELETING,
    FILE_AVAILABLE,
    FILE_DELETED,
    UPLOADING,
    DatasetMeta,
    DatasetRecord,
    FileRecord,
    NewFile,
    ReplicaRecord,
)
from b2grid.storage.schema import (
    READ_ONLY,
    collection_members,
    datablocks,
    datasets,
    files,
    inserted_id,
    iso,
    names,
    open_engine,
    replicas,
    rules,
    run_quality,
)


class Catalog:
    """Names, datasets, datablocks, files and replicas in one SQL database."""

    def __init__(self, engine: Engine, datablock_size: int = 1000) -> None:
        self.engine = engine
        #: files per datablock (``subNN``)
        self.datablock_size = datablock_size

    @classmethod
    def open(cls, url: str, datablock_size: int = 1000) -> Catalog:
        """Open (creating if needed) the catalog at SQLAlchemy ``url``."""
        return cls(open_engine(url), datablock_size)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction: everything inside commits together or not at all."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read-only snapshot; on SQLite it does not wait for writers."""
        with self.engine.connect() as conn:
            conn.info[READ_ONLY] = True
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop(READ_ONLY, None)

    # ------------------------------------------------------------------ names

    @staticmethod
    def reserve(conn: Connection, name: str, kind: str, now: datetime) -> None:
        """Claim ``name`` forever; :class:`NameReused` if it was ever claimed."""
        row = conn.execute(select(names.c.deleted).where(names.c.name == name)).first()
        if row is not None:
            raise NameReused(name, deleted=row.deleted is not None)
        conn.execute(insert(names).values(name=name, kind=kind, created=iso(now)))

    def name_used(self, name: str) -> bool:
        with self.reading() as conn:
            return (
                conn.execute(select(names.c.name).where(names.c.name == name)).first()
                is not None
            )

    # ------------------------------------------------------------------ datasets

    def has_dataset(self, conn: Connection, lpn: str) -> bool:
        """Whether dataset ``lpn`` exists (not deleted), in ``conn``'s view."""
        return self._dataset_id(conn, lpn) is not None

    def _dataset_id(self, conn: Connection, lpn: str) -> int | None:
        row = conn.execute(
            select(datasets.c.id).where(
                and_(datasets.c.lpn == lpn, datasets.c.state != "deleted")
            )
        ).first()
        return None if row is None else int(row.id)

    def create_dataset(
        self,
        conn: Connection,
        lpn: str,
        owner: str,
        now: datetime,
        meta: DatasetMeta | None = None,
        extra: dict[str, Any] | None = None,
    ) -> int:
        """Create dataset ``lpn`` (its name reserved forever); returns its id.

        An official LPN (:class:`~b2grid.storage.lfn.DatasetPath`) gives the
        dataset its ``production`` number unless ``meta`` carries it.
        """
        lpns = lfns.validate_lfn(lpn)
        meta = _with_production(lpns, meta or DatasetMeta())
        self.reserve(conn, lpns, "dataset", now)
        row = {
            "lpn": lpns,
            "owner": owner,
            "created": iso(now),
            "state": "open",
            "extra": json.dumps(extra or {}),
            **meta.as_row(),
        }
        return inserted_id(conn.execute(insert(datasets).values(**row)))

    def dataset(self, lpn: str) -> DatasetRecord:
        """Dataset ``lpn`` with its datablocks; :class:`NotRegistered` if none."""
        with self.reading() as conn:
            row = conn.execute(
                select(datasets).where(
                    and_(datasets.c.lpn == lpn, datasets.c.state != "deleted")
                )
            ).first()
            if row is None:
                raise NotRegistered(
                    lpn, "dataset", "`b2grid ds list /belle/...` lists them"
                )
            blocks = conn.execute(
                select(datablocks.c.lpn)
                .where(datablocks.c.dataset_id == row.id)
                .order_by(datablocks.c.id)
            ).all()
            totals = conn.execute(
                select(func.count(files.c.id), func.coalesce(func.sum(files.c.size), 0))
                .select_from(files.join(datablocks))
                .where(
                    and_(
                        datablocks.c.dataset_id == row.id,
                        files.c.state == FILE_AVAILABLE,
                    )
                )
            ).one()
        return DatasetRecord(
            lpn=row.lpn,
            owner=row.owner,
            created=row.created,
            state=row.state,
            meta=DatasetMeta.from_row(row),
            datablocks=tuple(b.lpn for b in blocks),
            nfiles=int(totals[0]),
            size=int(totals[1]),
        )

    def datasets_under(self, prefix: str) -> list[str]:
        """LPNs of the live datasets whose name starts with ``prefix``."""
        with self.reading() as conn:
            rows = conn.execute(
                select(datasets.c.lpn)
                .where(
                    and_(
                        datasets.c.lpn.startswith(prefix, autoescape=True),
                        datasets.c.state != "deleted",
                    )
                )
                .order_by(datasets.c.lpn)
            ).all()
        return [r.lpn for r in rows]

    # ------------------------------------------------------------------ files

    def register_files(
        self,
        dataset_lpn: str,
        new: Sequence[NewFile],
        site: str,
        owner: str,
        now: datetime,
        *,
        meta: DatasetMeta | None = None,
        state: str = AVAILABLE,
        conn: Connection | None = None,
        datablock: int | None = None,
        repeat_names: bool = False,
    ) -> list[str]:
        """Register ``new`` files with one available replica each at ``site``.

        Files go into the dataset's datablocks (``<lpn>/subNN/<name>``), filling the
        last one up to :attr:`datablock_size` before opening the next; the dataset
        is created if it does not exist. With ``repeat_names`` a file whose name
        that block holds (or held) opens the next one instead of being refused
        (:class:`NameReused`): an upload that adds a file again on purpose. One
        transaction: all files or none. Returns their LFNs. With
        ``state="copying"`` the replicas are reserved for an upload that
        :meth:`finish_upload` (or :meth:`forget_upload`) concludes.

        ``datablock=N`` puts every file into ``subNN`` (created if needed) instead:
        for writers that must know a file's LFN before registering it (job outputs
        are written at their final LFN, then registered); they keep each datablock
        within :attr:`datablock_size` themselves.
        """
        if conn is None:
            with self.transaction() as own:
                return self.register_files(
                    dataset_lpn, new, site, owner, now, meta=meta, state=state,
                    conn=own, datablock=datablock, repeat_names=repeat_names,
                )  # fmt: skip
        dataset_id = self._dataset_id(conn, dataset_lpn)
        if dataset_id is None:
            dataset_id = self.create_dataset(conn, dataset_lpn, owner, now, meta)
        if datablock is not None:
            return self._register_in_block(
                conn, dataset_id, dataset_lpn, datablock, new, site, owner, now, state
            )
        block = conn.execute(
            select(datablocks.c.id, datablocks.c.name, datablocks.c.lpn)
            .where(datablocks.c.dataset_id == dataset_id)
            .order_by(datablocks.c.id.desc())
            .limit(1)
        ).first()
        taken: set[str] = set()  # base names the current block ever held
        if block is None:
            index, block_id, filled = -1, None, self.datablock_size
        else:
            index = int(block.name.removeprefix("sub"))
            block_id = int(block.id)
            filled = conn.execute(
                select(func.count(files.c.id)).where(files.c.datablock_id == block_id)
            ).scalar_one()
            if repeat_names:
                under = f"{block.lpn}/"
                taken = {
                    name[len(under) :]
                    for name in conn.execute(
                        select(names.c.name).where(
                            names.c.name.startswith(under, autoescape=True)
                        )
                    ).scalars()
                }
        out: list[str] = []
        stamp = iso(now)
        file_rows: list[dict[str, Any]] = []
        block_lpn: str | None = None
        for f in new:
            if filled >= self.datablock_size or f.name in taken or block_id is None:
                index += 1
                block_id, block_lpn = self._new_datablock(
                    conn, dataset_id, dataset_lpn, index, now
                )
                filled, taken = 0, set()
            elif block_lpn is None:
                block_lpn = lfns.datablock_lpn(dataset_lpn, index)
            # block_lpn is valid, so this is lfns.join(block_lpn, f.name), once
            name = lfns.validate_lfn(f"{block_lpn}/{f.name}")
            out.append(name)
            file_rows.append(_file_row(f, name, block_id, owner, stamp))
            filled += 1
            if repeat_names:
                taken.add(f.name)
        self._insert_files(conn, file_rows, site, now, state)
        return out

    def _register_in_block(
        self,
        conn: Connection,
        dataset_id: int,
        dataset_lpn: str,
        index: int,
        new: Sequence[NewFile],
        site: str,
        owner: str,
        now: datetime,
        state: str,
    ) -> list[str]:
        block_lpn = lfns.datablock_lpn(dataset_lpn, index)
        found = conn.execute(
            select(datablocks.c.id).where(datablocks.c.lpn == block_lpn)
        ).first()
        if found is not None:
            block_id = int(found.id)
        else:
            block_id, _ = self._new_datablock(conn, dataset_id, dataset_lpn, index, now)
        stamp = iso(now)
        names = [lfns.validate_lfn(f"{block_lpn}/{f.name}") for f in new]
        rows = [
            _file_row(f, name, block_id, owner, stamp)
            for f, name in zip(new, names, strict=True)
        ]
        self._insert_files(conn, rows, site, now, state)
        return names

    def _new_datablock(
        self, conn: Connection, dataset_id: int, dataset_lpn: str, index: int,
        now: datetime,
    ) -> tuple[int, str]:  # fmt: skip
        """Create datablock ``subNN`` (its name reserved forever): (id, LPN)."""
        block_lpn = lfns.datablock_lpn(dataset_lpn, index)
        self.reserve(conn, block_lpn, "datablock", now)
        block_id = inserted_id(
            conn.execute(
                insert(datablocks).values(
                    dataset_id=dataset_id,
                    name=lfns.datablock_name(index),
                    lpn=block_lpn,
                    created=iso(now),
                )
            )
        )
        return block_id, block_lpn

    def files_named(self, lfn_list: Sequence[str]) -> dict[str, FileRecord]:
        """The known files among ``lfn_list`` (deleted ones excluded), by LFN."""
        out: dict[str, FileRecord] = {}
        unique = sorted(set(lfn_list))
        with self.reading() as conn:
            for i in range(0, len(unique), 500):
                where = and_(
                    files.c.lfn.in_(unique[i : i + 500]), files.c.state != FILE_DELETED
                )
                out.update((f.lfn, f) for f in self._files(conn, where))
        return out

    def finish_upload(
        self, conn: Connection, lfn_list: Sequence[str], site: str, now: datetime
    ) -> None:
        """The uploaded replicas at ``site`` are verified: make them available.

        They carry a tombstone until a rule locks them (an upload outside a rule's
        sites is reaped once the rule's own copies exist).
        """
        ids = select(files.c.id).where(files.c.lfn.in_(list(lfn_list)))
        conn.execute(
            update(replicas)
            .where(and_(replicas.c.site == site, replicas.c.file_id.in_(ids)))
            .values(state=AVAILABLE, tombstone=iso(now))
        )

    def forget_upload(
        self, lfn_list: Sequence[str], *, dataset: str | None = None
    ) -> None:
        """Undo a registration whose upload failed, giving back every name it took.

        The files, their replicas and their names go; so do the datablocks left
        without any file (the upload opened them: no other writer ever used them)
        and, if ``dataset`` is given (the upload created it), that dataset once it
        has no datablock, no rule and no collection left. A retry then gets the
        very names the failed upload would have had. One transaction.
        """
        with self.transaction() as conn:
            blocks: set[int] = set()
            for i in range(0, len(lfn_list), 500):
                part = list(lfn_list[i : i + 500])
                blocks.update(
                    conn.execute(
                        select(files.c.datablock_id).where(
                            and_(
                                files.c.lfn.in_(part), files.c.datablock_id.is_not(None)
                            )
                        )
                    ).scalars()
                )
                ids = select(files.c.id).where(files.c.lfn.in_(part))
                conn.execute(delete(replicas).where(replicas.c.file_id.in_(ids)))
                conn.execute(delete(files).where(files.c.lfn.in_(part)))
                conn.execute(delete(names).where(names.c.name.in_(part)))
            mine = sorted(blocks)
            used = select(files.c.datablock_id).where(files.c.datablock_id.in_(mine))
            ruled = select(rules.c.target)
            empty = conn.execute(
                select(datablocks.c.id, datablocks.c.lpn).where(
                    and_(
                        datablocks.c.id.in_(mine),
                        datablocks.c.id.not_in(used),
                        datablocks.c.lpn.not_in(ruled),
                    )
                )
            ).all()
            if empty:
                conn.execute(
                    delete(datablocks).where(datablocks.c.id.in_([b.id for b in empty]))
                )
                conn.execute(
                    delete(names).where(names.c.name.in_([b.lpn for b in empty]))
                )
            if dataset is not None:
                self._forget_dataset(conn, dataset)

    def _forget_dataset(self, conn: Connection, lpn: str) -> None:
        """Drop dataset ``lpn`` and give back its name, if nothing holds it."""
        dataset_id = self._dataset_id(conn, lpn)
        if dataset_id is None:
            return
        held = (
            conn.execute(
                select(datablocks.c.id).where(datablocks.c.dataset_id == dataset_id)
            ).first()
            or conn.execute(select(rules.c.id).where(rules.c.target == lpn)).first()
            or conn.execute(
                select(collection_members.c.dataset_id).where(
                    collection_members.c.dataset_id == dataset_id
                )
            ).first()
        )
        if held is not None:
            return
        conn.execute(delete(datasets).where(datasets.c.id == dataset_id))
        conn.execute(delete(names).where(names.c.name == lpn))

    def duplicates(
        self, conn: Connection, dataset_lpn: str, new: Sequence[NewFile]
    ) -> list[tuple[int, str, str]]:
        """The files of ``new`` that dataset ``dataset_lpn`` (or ``new`` itself)
        already holds: ``(index in new, the file it repeats, how)`` for each.

        A file repeats another of the same base name, or one with the same size
        and adler32 (its events would be counted twice); deleted files and lost
        ones (detached from their datablock) do not count: they hold no events any
        more. An unknown dataset holds nothing.
        """
        by_name: dict[str, str] = {}
        by_bytes: dict[tuple[int, str], str] = {}
        dataset_id = self._dataset_id(conn, dataset_lpn)
        if dataset_id is not None:
            rows = conn.execute(
                select(files.c.lfn, files.c.size, files.c.adler32)
                .select_from(files.join(datablocks))
                .where(
                    and_(
                        datablocks.c.dataset_id == dataset_id,
                        files.c.state != FILE_DELETED,
                    )
                )
                .order_by(files.c.lfn)
            ).all()
            for lfn, size, adler in rows:
                by_name.setdefault(lfn.rsplit("/", 1)[1], lfn)
                by_bytes.setdefault((int(size), _adler_key(adler)), lfn)
        out = []
        for i, f in enumerate(new):
            key = (f.size, _adler_key(f.adler32))
            if f.name in by_name:
                out.append((i, by_name[f.name], "same name"))
            elif key in by_bytes:
                out.append((i, by_bytes[key], "same size and adler32"))
            else:  # the first of repeats within ``new`` stands
                by_name[f.name] = by_bytes[key] = f"{f.name}, also given"
        return out

    def _insert_files(
        self,
        conn: Connection,
        rows: list[dict[str, Any]],
        site: str,
        now: datetime,
        state: str = AVAILABLE,
    ) -> None:
        stamp = iso(now)
        taken = set()
        chunk = 500
        lfn_list = [r["lfn"] for r in rows]
        for i in range(0, len(lfn_list), chunk):
            taken |= {
                r.name
                for r in conn.execute(
                    select(names.c.name).where(
                        names.c.name.in_(lfn_list[i : i + chunk])
                    )
                )
            }
        if taken or len(set(lfn_list)) != len(lfn_list):
            dup = sorted(taken)[0] if taken else _first_duplicate(lfn_list)
            deleted = conn.execute(
                select(names.c.deleted).where(names.c.name == dup)
            ).scalar()
            raise NameReused(dup, deleted=deleted is not None)
        if not rows:
            return
        conn.execute(
            insert(names),
            [{"name": n, "kind": "file", "created": stamp} for n in lfn_list],
        )
        conn.execute(insert(files), rows)
        ids = {}
        for i in range(0, len(lfn_list), chunk):
            ids.update(
                {
                    r.lfn: r.id
                    for r in conn.execute(
                        select(files.c.id, files.c.lfn).where(
                            files.c.lfn.in_(lfn_list[i : i + chunk])
                        )
                    )
                }
            )
        conn.execute(
            insert(replicas),
            [
                {
                    "file_id": ids[n],
                    "site": site,
                    "state": state,
                    "created": stamp,
                    "lock_count": 0,
                    "tombstone": stamp if state == AVAILABLE else None,
                }
                for n in lfn_list
            ],
        )

    def file(self, lfn: str) -> FileRecord:
        """File ``lfn`` with its replicas; :class:`NotRegistered` if unknown."""
        with self.reading() as conn:
            found = self._files(conn, files.c.lfn == lfn)
        if not found:
            raise NotRegistered(lfn, "file")
        return found[0]

    def files_of(self, lpn: str, *, include_lost: bool = False) -> list[FileRecord]:
        """Files of a dataset or datablock LPN (or the one file of an LFN), by name."""
        with self.reading() as conn:
            block = conn.execute(
                select(datablocks.c.id).where(datablocks.c.lpn == lpn)
            ).first()
            if block is not None:
                where: Any = files.c.datablock_id == block.id
            else:
                ds = self._dataset_id(conn, lpn)
                if ds is None:
                    found = self._files(
                        conn, and_(files.c.lfn == lpn, files.c.state != FILE_DELETED)
                    )
                    if not found:
                        raise NotRegistered(lpn, "dataset, datablock or file")
                    return found
                where = files.c.datablock_id.in_(
                    select(datablocks.c.id).where(datablocks.c.dataset_id == ds)
                )
            if not include_lost:
                where = and_(where, files.c.state == FILE_AVAILABLE)
            return self._files(conn, where)

    def _files(self, conn: Connection, where: Any) -> list[FileRecord]:
        # rows are unpacked by position: looking Row fields up by name took half
        # the time of listing a 1000-file datablock
        rows = conn.execute(
            select(
                files.c.id,
                files.c.lfn,
                files.c.size,
                files.c.adler32,
                files.c.events,
                files.c.exp,
                files.c.run,
                files.c.owner,
                files.c.state,
                datablocks.c.lpn,
            )
            .select_from(files.outerjoin(datablocks))
            .where(where)
            .order_by(files.c.lfn)
        ).all()
        if not rows:
            return []
        reps: dict[int, list[ReplicaRecord]] = {}
        ids = [r[0] for r in rows]
        for i in range(0, len(ids), 500):
            for rep in conn.execute(
                select(
                    replicas.c.file_id,
                    replicas.c.site,
                    replicas.c.state,
                    replicas.c.created,
                    replicas.c.last_read,
                    replicas.c.lock_count,
                    replicas.c.tombstone,
                )
                .where(replicas.c.file_id.in_(ids[i : i + 500]))
                .order_by(replicas.c.site)
            ):
                reps.setdefault(rep[0], []).append(ReplicaRecord(*rep[1:]))
        return [
            FileRecord(
                file_id=fid,
                lfn=lfn,
                size=size,
                adler32=adler32,
                events=events,
                exp=exp,
                run=run,
                owner=owner,
                state=state,
                datablock=block,
                replicas=tuple(reps.get(fid, ())),
            )
            for fid, lfn, size, adler32, events, exp, run, owner, state, block in rows
        ]

    # ------------------------------------------------------------------ replicas

    def site_usage(self) -> dict[str, int]:
        """Bytes per site held or being written (every replica row but bad ones)."""
        with self.reading() as conn:
            rows = conn.execute(
                select(replicas.c.site, func.sum(files.c.size))
                .select_from(replicas.join(files))
                .where(replicas.c.state.in_([AVAILABLE, COPYING, UPLOADING, DELETING]))
                .group_by(replicas.c.site)
            ).all()
        return {r[0]: int(r[1] or 0) for r in rows}

    def set_replica_state(
        self, lfn: str, site: str, state: str, error: str | None = None
    ) -> None:
        """Mark the replica of ``lfn`` at ``site`` (e.g. ``bad`` after a checksum)."""
        with self.transaction() as conn:
            fid = self._file_id(conn, lfn)
            done = conn.execute(
                update(replicas)
                .where(and_(replicas.c.file_id == fid, replicas.c.site == site))
                .values(state=state, error=error)
            )
            if done.rowcount == 0:
                raise NotRegistered(f"{lfn} at {site}", "replica")

    def touch(self, lfn: str, site: str, now: datetime) -> None:
        """Record that the replica at ``site`` was read now (for the reaper's LRU)."""
        with self.transaction() as conn:
            fid = self._file_id(conn, lfn)
            conn.execute(
                update(replicas)
                .where(and_(replicas.c.file_id == fid, replicas.c.site == site))
                .values(last_read=iso(now))
            )

    def _file_id(self, conn: Connection, lfn: str) -> int:
        row = conn.execute(select(files.c.id).where(files.c.lfn == lfn)).first()
        if row is None:
            raise NotRegistered(lfn, "file")
        return int(row.id)

    def remove_replica(
        self, conn: Connection, file_id: int, site: str, now: datetime
    ) -> bool:
        """Forget one replica; a file left with none is deleted (its name stays used).

        Returns True when the file itself ended. Refuses a locked replica.
        """
        row = conn.execute(
            select(replicas.c.lock_count).where(
                and_(replicas.c.file_id == file_id, replicas.c.site == site)
            )
        ).first()
        if row is None:
            return False
        if row.lock_count:
            raise StorageError(
                f"refusing to remove a locked replica (file id {file_id} at {site})"
            )
        conn.execute(
            delete(replicas).where(
                and_(replicas.c.file_id == file_id, replicas.c.site == site)
            )
        )
        left = conn.execute(
            select(func.count()).where(replicas.c.file_id == file_id)
        ).scalar_one()
        if left:
            return False
        lfn = conn.execute(
            select(files.c.lfn).where(files.c.id == file_id)
        ).scalar_one()
        conn.execute(
            update(files)
            .where(and_(files.c.id == file_id, files.c.state == FILE_AVAILABLE))
            .values(state=FILE_DELETED)
        )
        conn.execute(update(names).where(names.c.name == lfn).values(deleted=iso(now)))
        return True

    def mark_deleted(self, name: str, now: datetime) -> None:
        """A removed dataset: state deleted, its name (and blocks') used forever."""
        with self.transaction() as conn:
            ds = conn.execute(
                select(datasets.c.id).where(
                    and_(datasets.c.lpn == name, datasets.c.state != "deleted")
                )
            ).first()
            if ds is None:
                return
            conn.execute(
                update(datasets).where(datasets.c.id == ds.id).values(state="deleted")
            )
            blocks = select(datablocks.c.lpn).where(datablocks.c.dataset_id == ds.id)
            conn.execute(
                update(names)
                .where(names.c.name.in_(blocks) | (names.c.name == name))
                .values(deleted=iso(now))
            )

    def replicas_at(self, site: str) -> dict[str, str]:
        """LFN -> replica state for every replica row at ``site``."""
        with self.reading() as conn:
            rows = conn.execute(
                select(files.c.lfn, replicas.c.state)
                .select_from(replicas.join(files))
                .where(replicas.c.site == site)
            ).all()
        return {r.lfn: r.state for r in rows}

    # ------------------------------------------------------------------ run quality

    def set_run_quality(
        self, exp: int, run: int, quality: str, conn: Connection | None = None
    ) -> None:
        """Record the data quality of run ``(exp, run)``: good, bad or unknown.

        Files of bad runs are left out of dataset searches unless asked for.
        """
        if quality not in ("good", "bad", "unknown"):
            raise UnknownValue("quality", quality, ("bad", "good", "unknown"))
        if conn is None:
            with self.transaction() as own:
                return self.set_run_quality(exp, run, quality, own)
        where = and_(run_quality.c.exp == exp, run_quality.c.run == run)
        if conn.execute(
            update(run_quality).where(where).values(quality=quality)
        ).rowcount:
            return None
        conn.execute(insert(run_quality).values(exp=exp, run=run, quality=quality))
        return None

    def bad_runs(self) -> list[tuple[int, int]]:
        """The ``(exp, run)`` pairs marked bad, in order."""
        with self.reading() as conn:
            rows = conn.execute(
                select(run_quality.c.exp, run_quality.c.run)
                .where(run_quality.c.quality == "bad")
                .order_by(run_quality.c.exp, run_quality.c.run)
            ).all()
        return [(int(r.exp), int(r.run)) for r in rows]


def _with_production(lpn: str, meta: DatasetMeta) -> DatasetMeta:
    """``meta`` with the production number of an official ``lpn`` filled in.

    A ``meta.production`` that contradicts the LPN's raises :class:`BadLFN`.
    """
    try:
        prod = lfns.DatasetPath.parse(lpn).prod
    except BadLFN:  # not an official dataset path: nothing to derive
        return meta
    if meta.production is None:
        return dataclasses.replace(meta, production=prod)
    if meta.production != prod:
        raise BadLFN(
            lpn, f"production {meta.production} in its metadata, {prod} in its name"
        )
    return meta


def _file_row(
    f: NewFile, lfn: str, block_id: int, owner: str, stamp: str
) -> dict[str, Any]:
    """The ``files`` row of a new file."""
    return {
        "lfn": lfn,
        "datablock_id": block_id,
        "size": f.size,
        "adler32": f.adler32,
        "events": f.events,
        "exp": f.exp,
        "run": f.run,
        "owner": owner,
        "created": stamp,
        "state": FILE_AVAILABLE,
        "extra": "{}",
    }


def _adler_key(adler32: str) -> str:
    """An adler32 as :func:`~b2grid.storage.checksum.adler32_equal` compares it."""
    return adler32.strip().lower().zfill(8)


def _first_duplicate(items: Sequence[str]) -> str:
    seen: set[str] = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    raise AssertionError("no duplicate")


__all__ = ["Catalog"]
