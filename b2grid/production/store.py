"""Production's tables in the catalog database: the run registry, campaigns and
their stages.

The run registry holds what data taking knows of each run: luminosity, beam
energy, the collisions simulated, the seed, and the true detector conditions
(for validation only — reconstruction never reads them). A run's quality lives
in storage's ``run_quality`` table, which the dataset searcher reads; this store
sets it through the catalog. Every change is one transaction; the tables are on
their own ``MetaData`` (storage never imports production).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    insert,
    select,
    update,
)

from b2grid.errors import CampaignNotFound
from b2grid.production.model import StageState, StageStatus, stages_of
from b2grid.storage.catalog import Catalog
from b2grid.storage.schema import create_versioned, inserted_id, iso, run_quality

#: bump when the production tables change; a catalog of another version is refused
PRODUCTION_SCHEMA_VERSION = 1
_VERSION_KEY = "production_schema"

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("exp", Integer, primary_key=True),
    Column("run", Integer, primary_key=True),
    Column("luminosity", Float, nullable=False),  # fb^-1
    Column("beam_energy", String(16), nullable=False),
    Column("collisions", Integer, nullable=False),
    Column("seed", Integer, nullable=False),
    #: JSON: the true conditions, for validation only
    Column("truth", Text, nullable=False, default="{}"),
    Column("registered", String(40), nullable=False),
)

campaigns = Table(
    "campaigns",
    metadata,
    #: the production id (``prod%08d`` in LPNs)
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("exp", Integer),
    Column("run_low", Integer),
    Column("run_high", Integer),
    #: JSON: samples, luminosity scale, tags, ...
    Column("params", Text, nullable=False, default="{}"),
    Column("created", String(40), nullable=False),
    Column("finished", String(40)),
    UniqueConstraint("name", name="uq_campaigns_name"),
)

stages = Table(
    "stages",
    metadata,
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("name", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("project_id", Integer),
    Column("note", Text, nullable=False, default=""),
    Column("updated", String(40), nullable=False),
)


@dataclass(frozen=True, slots=True)
class RunInfo:
    """One run of the registry."""

    exp: int
    run: int
    luminosity: float
    beam_energy: str
    collisions: int
    seed: int
    truth: dict[str, Any] = field(default_factory=dict)
    #: good | bad | unknown (storage's run_quality; unknown when never set)
    quality: str = "unknown"


@dataclass(frozen=True, slots=True)
class CampaignInfo:
    """One campaign and its stages."""

    prod: int
    name: str
    kind: str
    exp: int | None
    run_low: int | None
    run_high: int | None
    params: dict[str, Any]
    created: str
    finished: str | None
    stages: tuple[StageState, ...] = ()

    def stage(self, name: str) -> StageState:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"campaign {self.name} has no stage {name!r}")


class ProductionStore:
    """The run registry, campaigns and stages (see the module doc)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        create_versioned(
            catalog.engine, metadata, _VERSION_KEY, PRODUCTION_SCHEMA_VERSION,
            "production tables",
        )  # fmt: skip

    # ------------------------------------------------------------------ runs

    def add_runs(self, new: Sequence[RunInfo], now: datetime) -> list[RunInfo]:
        """Register runs not yet in the registry; returns the ones added."""
        have = {(r.exp, r.run) for r in self.runs()}
        fresh = [r for r in new if (r.exp, r.run) not in have]
        if fresh:
            with self.catalog.transaction() as conn:
                self._insert_runs(conn, fresh, now)
        return fresh

    def _insert_runs(self, conn: Any, fresh: Sequence[RunInfo], now: datetime) -> None:
        conn.execute(
            insert(runs),
            [
                {
                    "exp": r.exp,
                    "run": r.run,
                    "luminosity": r.luminosity,
                    "beam_energy": r.beam_energy,
                    "collisions": r.collisions,
                    "seed": r.seed,
                    "truth": json.dumps(r.truth),
                    "registered": iso(now),
                }
                for r in fresh
            ],
        )
        for r in fresh:
            self.catalog.set_run_quality(r.exp, r.run, "unknown", conn=conn)

    def runs(
        self, exp: int | None = None, low: int | None = None, high: int | None = None
    ) -> list[RunInfo]:
        """Registered runs (of ``exp``, in ``low``..``high``), by (exp, run)."""
        query = select(runs).order_by(runs.c.exp, runs.c.run)
        if exp is not None:
            query = query.where(runs.c.exp == exp)
        if low is not None:
            query = query.where(runs.c.run >= low)
        if high is not None:
            query = query.where(runs.c.run <= high)
        with self.catalog.reading() as conn:
            rows = conn.execute(query).all()
            quality = {
                (q.exp, q.run): q.quality for q in conn.execute(select(run_quality))
            }
        return [
            RunInfo(
                r.exp,
                r.run,
                r.luminosity,
                r.beam_energy,
                r.collisions,
                r.seed,
                json.loads(r.truth),
                quality.get((r.exp, r.run), "unknown"),
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ campaigns

    def create_campaign(
        self,
        name: str,
        kind: str,
        *,
        now: datetime,
        exp: int | None = None,
        run_low: int | None = None,
        run_high: int | None = None,
        params: dict[str, Any] | None = None,
        new_runs: Sequence[RunInfo] = (),
    ) -> CampaignInfo:
        """Create a campaign with its stages waiting, in one transaction.

        ``new_runs`` (a data taking's runs, not yet registered) are registered in
        the same transaction: an agent pass never sees the campaign without them.
        """
        stamp = iso(now)
        with self.catalog.transaction() as conn:
            if new_runs:
                self._insert_runs(conn, new_runs, now)
            prod = inserted_id(
                conn.execute(
                    insert(campaigns).values(
                        name=name,
                        kind=kind,
                        exp=exp,
                        run_low=run_low,
                        run_high=run_high,
                        params=json.dumps(params or {}),
                        created=stamp,
                    )
                )
            )
            conn.execute(
                insert(stages),
                [
                    {
                        "campaign_id": prod,
                        "position": i,
                        "name": stage,
                        "status": StageStatus.WAITING.value,
                        "note": "",
                        "updated": stamp,
                    }
                    for i, stage in enumerate(stages_of(kind))
                ],
            )
        return self.campaign(name)

    def campaign(self, name: str) -> CampaignInfo:
        """The campaign ``name``; :class:`CampaignNotFound` listing the known ones."""
        found = self._campaigns(campaigns.c.name == name)
        if not found:
            raise CampaignNotFound(name, self.names())
        return found[0]

    def names(self) -> list[str]:
        with self.catalog.reading() as conn:
            return [
                r.name
                for r in conn.execute(select(campaigns.c.name).order_by(campaigns.c.id))
            ]

    def campaigns(self, *, active: bool | None = None) -> list[CampaignInfo]:
        """Every campaign (only unfinished ones with ``active=True``), oldest first."""
        where = None
        if active is True:
            where = campaigns.c.finished.is_(None)
        elif active is False:
            where = campaigns.c.finished.is_not(None)
        return self._campaigns(where)

    def _campaigns(self, where: Any) -> list[CampaignInfo]:
        query = select(campaigns).order_by(campaigns.c.id)
        if where is not None:
            query = query.where(where)
        with self.catalog.reading() as conn:
            rows = conn.execute(query).all()
            ids = [r.id for r in rows]
            stage_rows = (
                conn.execute(
                    select(stages)
                    .where(stages.c.campaign_id.in_(ids))
                    .order_by(stages.c.campaign_id, stages.c.position)
                ).all()
                if ids
                else []
            )
        by_campaign: dict[int, list[StageState]] = {}
        for s in stage_rows:
            by_campaign.setdefault(s.campaign_id, []).append(
                StageState(s.name, StageStatus(s.status), s.project_id, s.note)
            )
        return [
            CampaignInfo(
                r.id,
                r.name,
                r.kind,
                r.exp,
                r.run_low,
                r.run_high,
                json.loads(r.params),
                r.created,
                r.finished,
                tuple(by_campaign.get(r.id, ())),
            )
            for r in rows
        ]

    def set_stage(
        self,
        prod: int,
        stage: str,
        status: StageStatus,
        *,
        now: datetime,
        project_id: int | None = None,
        note: str | None = None,
    ) -> None:
        """Move a stage to ``status`` (with its project and a note)."""
        values: dict[str, Any] = {"status": status.value, "updated": iso(now)}
        if project_id is not None:
            values["project_id"] = project_id
        if note is not None:
            values["note"] = note
        with self.catalog.transaction() as conn:
            conn.execute(
                update(stages)
                .where(and_(stages.c.campaign_id == prod, stages.c.name == stage))
                .values(**values)
            )

    def finish(self, prod: int, now: datetime) -> None:
        with self.catalog.transaction() as conn:
            conn.execute(
                update(campaigns)
                .where(campaigns.c.id == prod)
                .values(finished=iso(now))
            )

    def update_params(self, prod: int, params: dict[str, Any]) -> None:
        with self.catalog.transaction() as conn:
            conn.execute(
                update(campaigns)
                .where(campaigns.c.id == prod)
                .values(params=json.dumps(params))
            )


__all__ = [
    "PRODUCTION_SCHEMA_VERSION",
    "CampaignInfo",
    "ProductionStore",
    "RunInfo",
    "campaigns",
    "runs",
    "stages",
]
