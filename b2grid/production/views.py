"""Production at a glance: per campaign its stages, jobs, events and luminosity
(``b2grid production status``), and the data-readiness table of the workshop
slides (``b2grid production readiness``). Reads only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, select

from b2grid.production.store import CampaignInfo
from b2grid.storage.records import FILE_AVAILABLE
from b2grid.storage.schema import datablocks, datasets, files

if TYPE_CHECKING:
    from b2grid.production.service import ProductionService


def status(service: ProductionService) -> list[dict[str, Any]]:
    """Per campaign: kind, runs, stages with status, jobs by state, events,
    luminosity (``b2grid production status``)."""
    rows = []
    for c in service.store.campaigns():
        jobs: dict[str, int] = {}
        for s in c.stages:
            if s.project_id is None:
                continue
            summary = service.jobs.store.summary(s.project_id)
            for status, n in summary.by_status.items():
                jobs[status.value] = jobs.get(status.value, 0) + n
        lumi = 0.0
        if c.exp is not None and c.kind in (
            "data_taking",
            "prompt",
            "proc",
            "mc_rd",
        ):
            lumi = sum(
                r.luminosity
                for r in service.store.runs(c.exp, c.run_low, c.run_high)
                if r.quality != "bad"
            )
        elif c.kind == "mc_ri":
            lumi = float(c.params.get("luminosity", 0.0))
        rows.append(
            {
                "campaign": c.name,
                "kind": c.kind,
                "prod": c.prod,
                "runs": "" if c.exp is None else f"e{c.exp} r{c.run_low}-{c.run_high}",
                "stages": [(s.name, s.status.value, s.note) for s in c.stages],
                "jobs": jobs,
                "events": events_of(service, c),
                "luminosity": lumi,
                "finished": c.finished,
            }
        )
    return rows


def events_of(service: ProductionService, c: CampaignInfo) -> int:
    """Events in the campaign's final outputs: RAW of the runs taken, mDST of
    all events, MC mDST."""
    if c.kind == "data_taking":
        where = [
            datasets.c.campaign == "raw",
            datasets.c.general_skim == "all",
            datasets.c.exp_low == c.exp,
            datasets.c.run_low.between(c.run_low, c.run_high),
        ]
    elif c.kind in ("prompt", "proc"):
        where = [
            datasets.c.campaign == c.name,
            datasets.c.data_level == "mdst",
            datasets.c.general_skim == "all",
        ]
    else:
        where = [datasets.c.campaign == c.name]
    query = (
        select(func.coalesce(func.sum(files.c.events), 0))
        .select_from(files.join(datablocks).join(datasets))
        .where(and_(files.c.state == FILE_AVAILABLE, *where))
    )
    with service.storage.catalog.reading() as conn:
        return int(conn.execute(query).scalar_one())


def readiness(service: ProductionService) -> list[dict[str, str]]:
    """The data-readiness table of the workshop slide: per experiment, the
    calibration, data (hadron), data (all), MC rd and MC ri status."""
    out = []
    camps = service.store.campaigns()
    exps = sorted({r.exp for r in service.store.runs()})
    for exp in exps:
        runs = service.store.runs(exp)
        lumi = sum(r.luminosity for r in runs if r.quality != "bad")
        proc = [c for c in camps if c.kind in ("prompt", "proc") and c.exp == exp]
        rd = [c for c in camps if c.kind == "mc_rd" and c.exp == exp]
        ri = [c for c in camps if c.kind == "mc_ri"]

        def state(cs: list[CampaignInfo], stage: str | None = None) -> str:
            if not cs:
                return "-"
            parts = []
            for c in cs:
                if stage is not None:
                    s = (
                        c.stage(stage)
                        if any(x.name == stage for x in c.stages)
                        else None
                    )
                    parts.append(f"{c.name}: {s.status.value if s else '-'}")
                else:
                    parts.append(f"{c.name}: {'done' if c.finished else 'running'}")
            return ", ".join(parts)

        out.append(
            {
                "exp": str(exp),
                "dataset": f"{len(runs)} runs, {lumi:.3g} fb^-1",
                "calibration": state(proc, "validation"),
                "data (had)": state(proc, "mdst"),
                "data (all)": state(proc, "mdst"),
                "MC rd": state(rd),
                "MC ri": state(ri),
            }
        )
    return out


__all__ = ["events_of", "readiness", "status"]
