"""Collections: immutable named sets of datasets, ``/belle/collection/{Data,MC}/<n>``.

The production role makes a collection once from registered datasets of one data
type, with a description and optionally an integrated luminosity; its datasets never
change and its name is never reused. :meth:`Collections.expand` turns any mix of
dataset and collection LPNs into dataset LPNs: the hook through which a collection is
accepted wherever a dataset is (submission, download, ``b2grid ds``).
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

from sqlalchemy import Connection, and_, func, insert, select, update

from b2grid.errors import (
    BadArgument,
    BadCollection,
    BadLFN,
    CollectionImmutable,
    NotRegistered,
)
from b2grid.storage.identity import User, check_delete, check_write
from b2grid.storage.lfn import validate_lfn, validate_part
from b2grid.storage.records import FILE_AVAILABLE, CollectionRecord
from b2grid.storage.schema import (
    collection_members,
    collections,
    datablocks,
    datasets,
    files,
    inserted_id,
    iso,
    names,
)

if TYPE_CHECKING:
    from b2grid.clock import Clock
    from b2grid.storage.catalog import Catalog

#: where collections live
COLLECTION_ROOT = "/belle/collection"
#: a collection's data type and the folder it lives in under :data:`COLLECTION_ROOT`
FOLDERS = {"data": "Data", "mc": "MC"}
#: at most this many mismatching datasets are named in an error
_NAMED = 3
_LIST_HINT = "`b2grid collection list` lists them"


def is_collection_lpn(name: str) -> bool:
    """Whether ``name`` is under :data:`COLLECTION_ROOT` (well formed or not)."""
    return name.startswith(COLLECTION_ROOT + "/")


def collection_lpn(name: str, data_type: str | None = None) -> str:
    """The LPN of collection ``name``: a full LPN, or a bare name and its data type.

    :class:`BadCollection` says what is malformed.

    Examples
    --------
    >>> collection_lpn("proc12_hadron", "data")
    '/belle/collection/Data/proc12_hadron'
    >>> collection_lpn("/belle/collection/MC/MC15ri_mixed")
    '/belle/collection/MC/MC15ri_mixed'
    >>> collection_lpn("my set", "mc")
    Traceback (most recent call last):
    ...
    b2grid.errors.BadCollection: bad collection 'my set': collection name: character ...
    """
    if data_type is not None and data_type not in FOLDERS:
        raise BadCollection(name, f"data type {data_type!r} is not data or mc")
    if name.startswith("/"):
        try:
            parts = validate_lfn(name).split("/")
        except BadLFN as exc:
            raise BadCollection(name, exc.reason) from None
        if (
            len(parts) != 5
            or parts[2] != "collection"
            or parts[3] not in ("Data", "MC")
        ):
            raise BadCollection(
                name,
                f"a collection LPN is {COLLECTION_ROOT}/Data/<name> or "
                f"{COLLECTION_ROOT}/MC/<name>",
            )
        if data_type is not None and FOLDERS[data_type] != parts[3]:
            raise BadCollection(name, f"is a {parts[3]} collection, not {data_type}")
        return name
    try:
        validate_part(name, "collection name")
    except BadLFN as exc:
        raise BadCollection(name, exc.reason) from None
    if data_type is None:
        raise BadCollection(
            name,
            f"give its data type (data or mc) or its LPN {COLLECTION_ROOT}/"
            f"{{Data,MC}}/{name}",
        )
    return f"{COLLECTION_ROOT}/{FOLDERS[data_type]}/{name}"


def _data_type_of(lpn: str, recorded: str | None) -> str | None:
    """A dataset's data type: its metadata's, else its namespace's (Data/MC)."""
    if recorded is not None:
        return recorded
    top = lpn.split("/")[2]
    return {"Data": "data", "MC": "mc"}.get(top)


class Collections:
    """The collections of one catalog: create, read, expand; never change.

    ``user`` and ``clock`` are the defaults of :meth:`create` and :meth:`delete`
    (``grid.collections`` passes the grid's).

    Examples
    --------
    >>> from b2grid.storage.catalog import Catalog
    >>> Collections(Catalog.open("sqlite://")).list()
    []
    """

    def __init__(
        self, catalog: Catalog, *, user: User | None = None, clock: Clock | None = None
    ) -> None:
        self.catalog = catalog
        self.user = user
        self.clock = clock

    # ------------------------------------------------------------------ writing

    def create(
        self,
        name_or_lpn: str,
        datasets: Iterable[str],
        *,
        description: str,
        luminosity: float | None = None,
        data_type: str | None = None,
        user: User | None = None,
        now: datetime | None = None,
    ) -> CollectionRecord:
        """Make collection ``name_or_lpn`` of ``datasets``, once and for good.

        ``datasets`` are dataset or collection LPNs (see :meth:`expand`). A bare
        name takes its data type from ``data_type`` or, if not given, from the
        datasets. ``luminosity`` is the integrated luminosity in fb^-1 as the
        creator knows it. One transaction; the LPN is reserved forever.

        Raises
        ------
        BadCollection
            A malformed name, an empty description, a bad luminosity, no
            datasets, or datasets of another (or of mixed) data type.
        NotRegistered
            A dataset or collection the catalog does not know (named).
        PermissionDenied
            A user without the ``production`` role.
        NameReused
            The name is or was a collection (or any other name) before.
        """
        user, now = self._who(user, now)
        lpn = collection_lpn(name_or_lpn, data_type) if data_type else None
        if lpn is None:
            if name_or_lpn.startswith("/"):
                lpn = collection_lpn(name_or_lpn)
            else:
                collection_lpn(name_or_lpn, "data")  # the name alone is well formed
        if lpn is not None:
            check_write(user, lpn)
        label = lpn or name_or_lpn
        if not isinstance(description, str) or not description.strip():
            raise BadCollection(label, "give a description (what it holds, for whom)")
        if luminosity is not None and (
            isinstance(luminosity, bool)
            or not isinstance(luminosity, int | float)
            or not math.isfinite(luminosity)
            or luminosity < 0
        ):
            raise BadCollection(
                label, f"luminosity {luminosity!r} should be a number of fb^-1 >= 0"
            )
        with self.catalog.transaction() as conn:
            members = self._expand(conn, list(datasets))
            if not members:
                raise BadCollection(label, "no datasets given; it needs at least one")
            kind = self._member_type(conn, label, members, _folder_type(lpn))
            if lpn is None:
                lpn = collection_lpn(name_or_lpn, kind)
                check_write(user, lpn)
            self.catalog.reserve(conn, lpn, "collection", now)
            collection_id = inserted_id(
                conn.execute(
                    insert(collections).values(
                        lpn=lpn,
                        name=lpn.rsplit("/", 1)[1],
                        data_type=kind,
                        description=description.strip(),
                        luminosity=None if luminosity is None else float(luminosity),
                        created_by=user.name,
                        created=iso(now),
                        state="live",
                    )
                )
            )
            conn.execute(
                insert(collection_members),
                [
                    {"collection_id": collection_id, "position": i, "dataset_id": ds}
                    for i, (_, ds) in enumerate(members)
                ],
            )
            return self._records(conn, collections.c.id == collection_id)[0]

    def add(self, collection: str, *datasets: str) -> NoReturn:
        """Refused: a collection's datasets are fixed; create a new collection."""
        raise CollectionImmutable(
            collection, f"add {', '.join(datasets) or 'datasets'}"
        )

    def remove(self, collection: str, *datasets: str) -> NoReturn:
        """Refused: a collection's datasets are fixed; create a new collection."""
        raise CollectionImmutable(
            collection, f"remove {', '.join(datasets) or 'datasets'}"
        )

    def delete(
        self,
        name_or_lpn: str,
        data_type: str | None = None,
        *,
        user: User | None = None,
        now: datetime | None = None,
    ) -> None:
        """Withdraw a collection (its datasets stay); its name stays used forever."""
        user, now = self._who(user, now)
        with self.catalog.transaction() as conn:
            lpn = self._resolve(conn, name_or_lpn, data_type)
            check_delete(user, lpn)
            conn.execute(
                update(collections)
                .where(and_(collections.c.lpn == lpn, collections.c.state == "live"))
                .values(state="deleted")
            )
            conn.execute(
                update(names).where(names.c.name == lpn).values(deleted=iso(now))
            )

    # ------------------------------------------------------------------ reading

    def get(self, name_or_lpn: str, data_type: str | None = None) -> CollectionRecord:
        """Collection ``name_or_lpn`` with its datasets and totals.

        A bare name without ``data_type`` is looked up in both Data and MC.
        """
        with self.catalog.reading() as conn:
            lpn = self._resolve(conn, name_or_lpn, data_type)
            return self._records(conn, collections.c.lpn == lpn)[0]

    def list(self, data_type: str | None = None) -> builtins.list[CollectionRecord]:
        """The live collections (of ``data_type`` if given), by LPN."""
        if data_type is not None and data_type not in FOLDERS:
            raise BadCollection(f"{COLLECTION_ROOT}/?", f"data type {data_type!r} "
                                "is not data or mc")  # fmt: skip
        where: Any = collections.c.state == "live"
        if data_type is not None:
            where = and_(where, collections.c.data_type == data_type)
        with self.catalog.reading() as conn:
            return self._records(conn, where)

    def datasets_of(
        self, name_or_lpn: str, data_type: str | None = None
    ) -> builtins.list[str]:
        """The dataset LPNs of a collection, in the order it was created with."""
        return list(self.get(name_or_lpn, data_type).datasets)

    def expand(self, names: Iterable[str]) -> builtins.list[str]:
        """Dataset LPNs for any mix of dataset and collection LPNs.

        In the order given, a collection replaced by its datasets, each dataset
        once. :class:`NotRegistered` names an unknown dataset or collection (or a
        collection's dataset deleted since); :class:`BadLFN` a malformed name.

        Examples
        --------
        >>> from b2grid.storage.catalog import Catalog
        >>> Collections(Catalog.open("sqlite://")).expand(["/belle/MC/x"])
        Traceback (most recent call last):
        ...
        b2grid.errors.NotRegistered: no dataset /belle/MC/x in the catalog; ...
        """
        with self.catalog.reading() as conn:
            return [lpn for lpn, _ in self._expand(conn, list(names))]

    def is_collection(self, name: str) -> bool:
        """Whether ``name`` is a live collection's LPN."""
        if not is_collection_lpn(name):
            return False
        with self.catalog.reading() as conn:
            return self._collection_id(conn, name) is not None

    # ------------------------------------------------------------------ helpers

    def _who(self, user: User | None, now: datetime | None) -> tuple[User, datetime]:
        user = user or self.user
        if user is None:
            raise BadArgument(
                "user", "say who acts: user=User(...) (or Collections(user=...))"
            )
        if now is None:
            if self.clock is None:
                raise BadArgument(
                    "now", "say when: now=... (or Collections(clock=...))"
                )
            now = self.clock.now()
        return user, now

    @staticmethod
    def _collection_id(conn: Connection, lpn: str) -> int | None:
        row = conn.execute(
            select(collections.c.id).where(
                and_(collections.c.lpn == lpn, collections.c.state == "live")
            )
        ).first()
        return None if row is None else int(row.id)

    @staticmethod
    def _resolve(conn: Connection, name_or_lpn: str, data_type: str | None) -> str:
        """The LPN of a live collection; :class:`NotRegistered` if none."""
        if name_or_lpn.startswith("/") or data_type is not None:
            lpn = collection_lpn(name_or_lpn, data_type)
            if Collections._collection_id(conn, lpn) is None:
                raise NotRegistered(lpn, "collection", _LIST_HINT)
            return lpn
        collection_lpn(name_or_lpn, "data")  # the bare name is well formed
        found = conn.scalars(
            select(collections.c.lpn)
            .where(
                and_(collections.c.name == name_or_lpn, collections.c.state == "live")
            )
            .order_by(collections.c.lpn)
        ).all()
        if not found:
            raise NotRegistered(name_or_lpn, "collection", _LIST_HINT)
        if len(found) > 1:
            raise BadCollection(
                name_or_lpn,
                f"both {' and '.join(found)} exist; give the data type or the LPN",
            )
        return str(found[0])

    def _expand(
        self, conn: Connection, names: Sequence[str]
    ) -> builtins.list[tuple[str, int]]:
        """(LPN, dataset id) for each dataset ``names`` stand for, once each."""
        for name in names:
            validate_lfn(name)
        live = datasets.c.state != "deleted"
        plain = sorted({n for n in names if not is_collection_lpn(n)})
        ids: dict[str, int] = {}
        for i in range(0, len(plain), 500):
            ids.update(
                (str(r.lpn), int(r.id))
                for r in conn.execute(
                    select(datasets.c.lpn, datasets.c.id).where(
                        and_(datasets.c.lpn.in_(plain[i : i + 500]), live)
                    )
                )
            )
        out: dict[str, int] = {}
        for name in names:
            if name in ids:
                out.setdefault(name, ids[name])
                continue
            collection_id = (
                self._collection_id(conn, name) if is_collection_lpn(name) else None
            )
            if collection_id is None:
                if is_collection_lpn(name):  # a dataset filed there is still one
                    row = conn.execute(
                        select(datasets.c.id).where(and_(datasets.c.lpn == name, live))
                    ).first()
                    if row is not None:
                        out.setdefault(name, int(row.id))
                        continue
                    raise NotRegistered(name, "collection", _LIST_HINT)
                raise NotRegistered(
                    name, "dataset", "`b2grid ds search dataset ...` finds datasets"
                )
            for lpn, dataset_id, state in conn.execute(
                select(datasets.c.lpn, datasets.c.id, datasets.c.state)
                .select_from(collection_members.join(datasets))
                .where(collection_members.c.collection_id == collection_id)
                .order_by(collection_members.c.position)
            ):
                if state == "deleted":
                    raise NotRegistered(
                        lpn, "dataset", f"it is in collection {name} but was deleted"
                    )
                out.setdefault(lpn, int(dataset_id))
        return list(out.items())

    @staticmethod
    def _member_type(
        conn: Connection,
        label: str,
        members: Sequence[tuple[str, int]],
        wanted: str | None,
    ) -> str:
        """The one data type of ``members`` (``wanted`` if given), else an error."""
        recorded: dict[int, str | None] = {
            int(r.id): r.data_type
            for r in conn.execute(
                select(datasets.c.id, datasets.c.data_type).where(
                    datasets.c.id.in_([ds for _, ds in members])
                )
            )
        }
        kinds: dict[str, str] = {}
        for lpn, ds in members:
            if lpn.split("/")[2] not in FOLDERS.values():
                raise BadCollection(
                    label,
                    f"{lpn} is not an official dataset; collections hold datasets "
                    f"under /belle/Data or /belle/MC",
                )
            kind = _data_type_of(lpn, recorded.get(ds))
            if kind not in FOLDERS:
                raise BadCollection(
                    label,
                    f"{lpn} has data type {kind or 'unknown'}; collections hold "
                    "official data or mc datasets",
                )
            kinds[lpn] = kind
        if wanted is not None:
            wrong = [f"{lpn} ({k})" for lpn, k in kinds.items() if k != wanted]
            if wrong:
                more = f" and {len(wrong) - _NAMED} more" if len(wrong) > _NAMED else ""
                raise BadCollection(
                    label,
                    f"a {wanted} collection cannot hold {', '.join(wrong[:_NAMED])}"
                    f"{more}; make one collection per data type",
                )
            return wanted
        found = sorted(set(kinds.values()))
        if len(found) > 1:
            example = {k: lpn for lpn, k in reversed(list(kinds.items()))}
            raise BadCollection(
                label,
                "mixes data and mc datasets ("
                + ", ".join(f"{example[k]} is {k}" for k in found)
                + "); make one collection per data type",
            )
        return found[0]

    @staticmethod
    def _records(conn: Connection, where: Any) -> builtins.list[CollectionRecord]:
        rows = conn.execute(
            select(collections).where(where).order_by(collections.c.lpn)
        ).all()
        if not rows:
            return []
        ids = [r.id for r in rows]
        members: dict[int, list[str]] = {i: [] for i in ids}
        for collection_id, lpn in conn.execute(
            select(collection_members.c.collection_id, datasets.c.lpn)
            .select_from(collection_members.join(datasets))
            .where(collection_members.c.collection_id.in_(ids))
            .order_by(collection_members.c.collection_id, collection_members.c.position)
        ):
            members[collection_id].append(lpn)
        totals = {
            r[0]: (int(r[1]), int(r[2]), int(r[3]))
            for r in conn.execute(
                select(
                    collection_members.c.collection_id,
                    func.count(files.c.id),
                    func.coalesce(func.sum(files.c.size), 0),
                    func.coalesce(func.sum(files.c.events), 0),
                )
                .select_from(
                    collection_members.join(datasets)
                    .join(datablocks, datablocks.c.dataset_id == datasets.c.id)
                    .join(files, files.c.datablock_id == datablocks.c.id)
                )
                .where(
                    and_(
                        collection_members.c.collection_id.in_(ids),
                        datasets.c.state != "deleted",
                        files.c.state == FILE_AVAILABLE,
                    )
                )
                .group_by(collection_members.c.collection_id)
            )
        }
        return [
            CollectionRecord(
                lpn=r.lpn,
                name=r.name,
                data_type=r.data_type,
                description=r.description,
                luminosity=r.luminosity,
                created_by=r.created_by,
                created=r.created,
                datasets=tuple(members[r.id]),
                nfiles=totals.get(r.id, (0, 0, 0))[0],
                size=totals.get(r.id, (0, 0, 0))[1],
                events=totals.get(r.id, (0, 0, 0))[2],
            )
            for r in rows
        ]


def _folder_type(lpn: str | None) -> str | None:
    """The data type a collection LPN's folder (Data/MC) says, if an LPN is given."""
    if lpn is None:
        return None
    return "data" if lpn.split("/")[3] == "Data" else "mc"


__all__ = [
    "COLLECTION_ROOT",
    "FOLDERS",
    "Collections",
    "collection_lpn",
    "is_collection_lpn",
]
