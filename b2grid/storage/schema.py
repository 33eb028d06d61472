"""The catalog's SQL schema (SQLAlchemy Core), versioned, and how to open it.

SQLite (WAL mode, one file under the grid home) by default; the same tables run on
PostgreSQL. Every write transaction on SQLite starts with ``BEGIN IMMEDIATE`` so that
several processes serialise their changes instead of failing on lock upgrades.

Times are stored as ISO-8601 UTC text (``2026-11-29T12:00:00.000000+00:00``) so that
they compare as strings on every backend.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    CursorResult,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    insert,
    inspect,
    select,
)

from b2grid.errors import CatalogError

#: bump when the tables change; a catalog of another version is refused
SCHEMA_VERSION = 1

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

#: every name ever used (files, datasets, datablocks): names are never reused
names = Table(
    "names",
    metadata,
    Column("name", String(512), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("created", String(40), nullable=False),
    Column("deleted", String(40)),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("lpn", String(512), nullable=False, unique=True),
    Column("owner", String(64), nullable=False),
    Column("created", String(40), nullable=False),
    Column("state", String(16), nullable=False, default="open"),  # open|closed|deleted
    Column("data_type", String(8)),  # data | mc | user
    Column("campaign", String(64)),
    Column("release", String(64)),
    Column("global_tag", String(128)),
    Column("data_level", String(16)),
    Column("beam_energy", String(16)),
    Column("mc_event_type", String(32)),
    Column("bg_level", String(8)),
    Column("general_skim", String(32)),
    Column("skim_code", String(8)),
    Column("exp_low", Integer),
    Column("run_low", Integer),
    Column("exp_high", Integer),
    Column("run_high", Integer),
    Column("parent_lpn", String(512)),
    Column("extra", Text),  # JSON
    #: the ``prod<8 digits>`` number of an official LPN (added after version 1's
    #: first tables: older catalogs get it on opening)
    Column("production", Integer),
    # the dataset searcher filters on these (b2grid.storage.search)
    Index("ix_datasets_campaign", "campaign"),
    Index("ix_datasets_data_level", "data_level"),
    Index("ix_datasets_skim", "general_skim", "skim_code"),
    Index("ix_datasets_production", "production"),
)

datablocks = Table(
    "datablocks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("name", String(16), nullable=False),  # sub00, sub01, ...
    Column("lpn", String(512), nullable=False, unique=True),
    Column("created", String(40), nullable=False),
    Index("ix_datablocks_dataset", "dataset_id"),
)

files = Table(
    "files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("lfn", String(512), nullable=False, unique=True),
    Column("datablock_id", Integer, ForeignKey("datablocks.id")),  # NULL once detached
    Column("size", BigInteger, nullable=False),
    Column("adler32", String(8), nullable=False),
    Column("events", BigInteger),
    Column("exp", Integer),
    Column("run", Integer),
    Column("owner", String(64), nullable=False),
    Column("created", String(40), nullable=False),
    Column("state", String(16), nullable=False),  # available | lost | deleted
    Column("extra", Text),  # JSON
    Index("ix_files_datablock", "datablock_id"),
    Index("ix_files_state", "state"),
    Index("ix_files_exp_run", "exp", "run"),
)

#: immutable named sets of datasets, ``/belle/collection/{Data,MC}/<name>``; the LPN
#: is reserved in ``names`` forever (b2grid.storage.collection)
collections = Table(
    "collections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("lpn", String(512), nullable=False, unique=True),
    Column("name", String(128), nullable=False),
    Column("data_type", String(8), nullable=False),  # data | mc
    Column("description", Text, nullable=False),
    Column("luminosity", Float),  # fb^-1, as given by the creator; NULL: not given
    Column("created_by", String(64), nullable=False),
    Column("created", String(40), nullable=False),
    Column("state", String(16), nullable=False),  # live | deleted
)

#: the datasets of a collection, in the order given; written once, at creation
collection_members = Table(
    "collection_members",
    metadata,
    Column("collection_id", Integer, ForeignKey("collections.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Index("ix_collection_members_dataset", "dataset_id"),
)

#: data quality of a run; files of a ``bad`` run are left out of searches
run_quality = Table(
    "run_quality",
    metadata,
    Column("exp", Integer, primary_key=True),
    Column("run", Integer, primary_key=True),
    Column("quality", String(8), nullable=False),  # good | bad | unknown
)

replicas = Table(
    "replicas",
    metadata,
    Column("file_id", Integer, ForeignKey("files.id"), primary_key=True),
    Column("site", String(32), primary_key=True),
    # available | copying | bad | unavailable
    Column("state", String(16), nullable=False),
    Column("created", String(40), nullable=False),
    Column("last_read", String(40)),
    #: how many rule locks hold this replica
    Column("lock_count", Integer, nullable=False, default=0),
    #: may be deleted by the reaper after this time (NULL while locked)
    Column("tombstone", String(40)),
    Column("error", Text),
    Index("ix_replicas_site_state", "site", "state"),
    Index("ix_replicas_tombstone", "site", "tombstone"),
)

rules = Table(
    "rules",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target", String(512), nullable=False),  # an LPN, datablock LPN or LFN
    Column("target_kind", String(16), nullable=False),  # dataset | datablock | file
    Column("copies", Integer, nullable=False),
    Column("expression", Text, nullable=False),
    Column("owner", String(64), nullable=False),
    Column("created", String(40), nullable=False),
    Column("expires", String(40)),  # NULL: forever
    Column("state", String(16), nullable=False),  # OK|REPLICATING|STUCK|SUSPENDED
    Column("error", Text),
    Column("comment", Text),
    Index("ix_rules_target", "target"),
    Index("ix_rules_expires", "expires"),
)

locks = Table(
    "locks",
    metadata,
    Column("rule_id", Integer, ForeignKey("rules.id"), primary_key=True),
    Column("file_id", Integer, ForeignKey("files.id"), primary_key=True),
    Column("site", String(32), primary_key=True),
    Column("state", String(16), nullable=False),  # OK | REPLICATING | STUCK
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("next_try", String(40)),
    Index("ix_locks_file_site", "file_id", "site"),
    Index("ix_locks_state", "state"),
)


def iso(t: datetime) -> str:
    """A grid time as stored in the catalog."""
    return t.astimezone(timezone.utc).isoformat(timespec="microseconds")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


def inserted_id(result: CursorResult[Any]) -> int:
    """The primary key of the row an INSERT created."""
    key = result.inserted_primary_key
    assert key is not None, "not an INSERT result"
    return int(key[0])


def create_versioned(
    engine: Engine, tables: MetaData, key: str, version: int, what: str
) -> None:
    """Create a layer's ``tables`` if missing and record their ``version`` under
    ``key`` in ``meta`` (idempotent, one write transaction, so processes opening
    the catalog at once do not race). Tables of another version are refused with
    a :class:`~b2grid.errors.CatalogError` naming ``what`` (``"job tables"``).

    The upper layers (jobs, production) keep their tables on their own
    ``MetaData``: storage never imports them.
    """
    with engine.begin() as conn:
        tables.create_all(conn)
        row = conn.execute(select(meta.c.value).where(meta.c.key == key)).first()
        if row is None:
            conn.execute(insert(meta).values(key=key, value=str(version)))
        elif int(row[0]) != version:
            raise CatalogError(
                f"the {what} of {engine.url} have schema version {row[0]}, this "
                f"b2grid reads version {version}; use a matching b2grid or a new "
                "grid home"
            )


def _add_missing_columns(conn: Connection) -> None:
    """Add the columns a table gained since the catalog was made (all nullable).

    ``create_all`` adds missing tables, not columns added to existing tables.
    """
    inspector = inspect(conn)
    for table in metadata.sorted_tables:
        have = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in have:
                continue
            assert column.nullable, f"{table.name}.{column.name}: only nullable"
            kind = column.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(
                f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}"
            )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


#: key in a connection's ``info`` marking a read-only transaction
READ_ONLY = "b2grid_read_only"


def _sqlite_begin(conn: Any) -> None:
    # writers take the write lock up front (no failed lock upgrades); readers do not,
    # so that in WAL mode they never wait for a writer
    read_only = conn.info.get(READ_ONLY, False)
    conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def open_engine(url: str) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql://...``), schema ready.

    Creates missing tables and records :data:`SCHEMA_VERSION`; refuses a catalog
    written by another schema version.
    """
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    with engine.begin() as conn:
        metadata.create_all(conn)
        _add_missing_columns(conn)
        # create_all adds missing tables, not indexes added to existing tables
        for table in metadata.sorted_tables:
            for index in table.indexes:
                index.create(conn, checkfirst=True)
        row = conn.execute(select(meta.c.value).where(meta.c.key == "schema")).first()
        if row is None:
            conn.execute(meta.insert().values(key="schema", value=str(SCHEMA_VERSION)))
        elif int(row[0]) != SCHEMA_VERSION:
            raise CatalogError(
                f"catalog {url} has schema version {row[0]}, this b2grid reads "
                f"version {SCHEMA_VERSION}; use a matching b2grid or a new grid home"
            )
    return engine


def sqlite_url(home: Path) -> str:
    """The default catalog of a grid home."""
    home.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{home / 'catalog.sqlite'}"


__all__ = [
    "READ_ONLY",
    "SCHEMA_VERSION",
    "create_versioned",
    "collection_members",
    "collections",
    "datablocks",
    "datasets",
    "files",
    "from_iso",
    "inserted_id",
    "iso",
    "locks",
    "meta",
    "metadata",
    "names",
    "open_engine",
    "replicas",
    "rules",
    "run_quality",
    "sqlite_url",
]
