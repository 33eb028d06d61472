"""Central data production at work: data taking, prompt buckets, official
reprocessing, calibration and MC campaigns, each stage a project of grid jobs.

:class:`ProductionService` is ``grid.production``. Defining a campaign checks
everything first (names, run ranges, overlapping buckets, RAW present, payloads
in the tags) and stores it; :meth:`run_once` — called by the controller's agent
loop, or by :meth:`Campaign.wait` — moves every campaign on: the pure
:func:`~b2grid.production.model.next_step` says which stage runs next, this module
submits its jobs to the one workload system, watches their project, and books the
results (payloads into a staging tag, validation, publication). All state is in
the catalog, so a restarted controller resumes where the last one stopped, and
running a step twice does it once.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, select

from b2grid.clock import Clock
from b2grid.conditions import ConditionsDB
from b2grid.config import GridConfig
from b2grid.errors import (
    BadCampaign,
    NoPayload,
    NoRawData,
)
from b2grid.jobs.model import JobStatus
from b2grid.jobs.service import JobService
from b2grid.physics.conditions import (
    ONLINE_TAG,
    RecoPayloads,
    true_conditions,
)
from b2grid.physics.generator import GENERIC_SAMPLES, SIGNAL_EVENT_TYPES
from b2grid.production import layout, model, tasks, views
from b2grid.production.campaign import Campaign
from b2grid.production.model import (
    Blocked,
    Complete,
    RunRange,
    StageStatus,
    Start,
    Watch,
)
from b2grid.production.stages import StageRunner
from b2grid.production.store import CampaignInfo, ProductionStore, RunInfo
from b2grid.storage.identity import User, check_write
from b2grid.storage.schema import datasets
from b2grid.storage.service import StorageService

log = logging.getLogger(__name__)


@dataclass
class ProductionReport:
    """What one pass of :meth:`ProductionService.run_once` did."""

    started: list[str]
    finished: list[str]
    failed: list[str]


class ProductionService:
    """Runs, campaigns and their stages of one grid (``grid.production``)."""

    #: data taking: collisions simulated per real one (the grid stays small)
    data_scale: float = 1e-3
    #: MC: events produced per real one
    mc_scale: float = 1e-3
    #: MC events per job
    events_per_job: int = 5000

    def __init__(
        self,
        config: GridConfig,
        storage: StorageService,
        jobs: JobService,
        conditions: Callable[[], ConditionsDB],
        clock: Clock,
        user: User,
    ) -> None:
        self.config = config
        self.storage = storage
        self.jobs = jobs
        self._conditions = conditions
        self.clock = clock
        self.user = user
        self.store = ProductionStore(storage.catalog)
        self._lock = threading.RLock()
        #: starts and books the stages
        self.stages = StageRunner(self)

    @property
    def conditions(self) -> ConditionsDB:
        return self._conditions()

    # ------------------------------------------------------------ helpers

    def _require_production(self) -> None:
        check_write(self.user, "/belle/Data")

    def good_runs(self, campaign: CampaignInfo) -> tuple[list[RunInfo], list[int]]:
        """The campaign's runs with RAW, and the bad ones left out."""
        assert campaign.exp is not None
        runs = self.store.runs(campaign.exp, campaign.run_low, campaign.run_high)
        bad = [r.run for r in runs if r.quality == "bad"]
        return [r for r in runs if r.quality != "bad"], bad

    def raw_files(self, exp: int, run: int, *, random: bool = False) -> list[str]:
        try:
            files = self.storage.catalog.files_of(
                layout.raw_path(exp, run, random=random)
            )
        except LookupError:
            return []
        return [f.lfn for f in files]

    # ------------------------------------------------------------ data taking

    def take_data(
        self,
        exp: int,
        runs: str | int | Iterable[int],
        luminosity: float,
        *,
        beam_energy: str = "4S",
        scale: float | None = None,
        seed: int = 1,
        random_triggers: int = tasks.RANDOM_TRIGGERS,
    ) -> Campaign:
        """Take runs of experiment ``exp`` at the data-taking site: RAW and random
        triggers per run, kept at KEK plus other raw data centres.

        ``luminosity`` is per run (fb^-1); the collisions simulated are the real
        number times ``scale`` (default :attr:`data_scale`). Runs already taken
        are skipped; when none is new, the campaign that took them is returned.
        """
        self._require_production()
        wanted = model.parse_runs(runs)
        if luminosity <= 0:
            raise BadCampaign(
                "take-data", f"luminosity {luminosity} fb^-1 per run must be > 0"
            )
        if beam_energy not in ("4S", "4S_offres"):
            raise BadCampaign(
                "take-data", f"beam energy {beam_energy!r}: 4S or 4S_offres"
            )
        if exp in model_mc_experiments():
            raise BadCampaign("take-data", f"experiment {exp} is an MC experiment")
        scale = self.data_scale if scale is None else scale
        now = self.clock.now()
        taken = {(r.exp, r.run) for r in self.store.runs(exp)}
        fresh = [r for r in wanted if (exp, r) not in taken]
        name = f"e{exp:04d}_r{wanted[0]:05d}-{wanted[-1]:05d}"
        if not fresh:  # all taken already: the campaign that took the last one
            for c in reversed(self.store.campaigns()):
                took = c.params.get("runs", ())
                if c.kind == "data_taking" and c.exp == exp and wanted[-1] in took:
                    return Campaign(self, c.name)
            raise BadCampaign(
                "take-data",
                f"runs {runs} are registered but no data taking lists them; the "
                "run registry needs a look",
            )
        infos = []
        for run in fresh:
            cond = true_conditions(exp, run, beam_energy=beam_energy)
            truth = {
                "field_scale": cond.field_scale,
                "mean_gain": float(cond.ecl_gains[1:].mean()),
                "sqrt_s": cond.beam.sqrt_s,
            }
            infos.append(
                RunInfo(
                    exp,
                    run,
                    luminosity,
                    beam_energy,
                    model.collisions(luminosity, scale),
                    seed * 100_000 + run,
                    truth,
                )
            )
        if name in self.store.names():
            name = f"{name}_{len(self.store.names())}"
        campaign = self.store.create_campaign(
            name,
            "data_taking",
            now=now,
            exp=exp,
            run_low=fresh[0],
            run_high=fresh[-1],
            params={
                "owner": self.user.name,
                "runs": fresh,
                "random_triggers": random_triggers,
            },
            new_runs=infos,
        )
        self.run_once()
        return Campaign(self, campaign.name)

    def set_quality(self, exp: int, run: int, quality: str) -> None:
        """Mark a run good, bad or unknown. A bad run is left out of dataset
        searches and of new production jobs (and reported where it was), never
        deleted."""
        self._require_production()
        if not any(r.run == run for r in self.store.runs(exp, run, run)):
            raise NoRawData(exp, str(run), "; only registered runs have a quality")
        self.storage.catalog.set_run_quality(exp, run, quality)

    def runs(self, exp: int | None = None) -> list[RunInfo]:
        """The run registry (of ``exp``)."""
        return self.store.runs(exp)

    # ------------------------------------------------------------ processing

    def process(
        self,
        name: str,
        exp: int,
        runs: str | tuple[int, int],
        *,
        base_tags: Sequence[str] = (ONLINE_TAG,),
        min_electrons: int = 200,
        min_mumu: int = 200,
        hadron_prescale: int = 1,
    ) -> Campaign:
        """Define a prompt bucket (``bucketNN``) or an official campaign
        (``procNN``) over runs ``low-high`` of ``exp``; it runs at once.

        Its stages: raw-data calibration (momentum scale from μμ), cDST calibration
        skims, data calibration (ECL crystal energies from Bhabha), validation of
        the staging tag, publication of the final tag, mDST with it. Calibration
        runs at the prompt (BNL) or official (DESY) calibration centre, the rest at
        the raw data centres holding the RAW. Defining the same bucket again does
        nothing; an overlapping one, runs without RAW, or tags lacking payloads are
        refused with the reason.
        """
        self._require_production()
        kind = "proc" if name.startswith("proc") else "prompt"
        model.check_campaign_name(kind, name)
        if isinstance(runs, str):
            listed = model.parse_runs(runs)
            low, high = listed[0], listed[-1]
        else:
            low, high = runs
        span = RunRange(exp, low, high)
        existing = {
            c.name: RunRange(c.exp, c.run_low, c.run_high)
            for c in self.store.campaigns()
            if c.kind == kind
            and c.exp is not None
            and c.run_low is not None
            and c.run_high is not None
        }
        if not model.check_bucket(name, span, existing):
            return Campaign(self, name)
        taken = self.store.runs(exp, low, high)
        missing = [r.run for r in taken if not self.raw_files(exp, r.run)]
        if not taken:
            raise NoRawData(exp, f"{low}-{high}")
        if missing:
            raise NoRawData(
                exp,
                ", ".join(map(str, missing)),
                "; wait until data taking of them is done",
            )
        db = self.conditions
        base = tuple(base_tags)
        for tag in base:
            db.tag(tag)  # TagNotFound names it
        for r in (taken[0], taken[-1]):
            RecoPayloads.load(db, base, exp, r.run)  # NoPayload names what is missing
        campaign = self.store.create_campaign(
            name,
            kind,
            now=self.clock.now(),
            exp=exp,
            run_low=low,
            run_high=high,
            params={
                "owner": self.user.name,
                "base_tags": list(base),
                "staging": f"{name}_staging",
                "final": f"{name}_{'official' if kind == 'proc' else 'prompt'}",
                "min_electrons": min_electrons,
                "min_mumu": min_mumu,
                "hadron_prescale": hadron_prescale,
            },
        )
        self.run_once()
        return Campaign(self, campaign.name)

    # ------------------------------------------------------------ MC

    def produce_mc(
        self,
        name: str,
        samples: Sequence[str],
        *,
        luminosity: float | None = None,
        exp: int | None = None,
        runs: str | None = None,
        scale: float | None = None,
        events_per_job: int | None = None,
        seed: int = 1,
    ) -> Campaign:
        """Define an MC campaign: run-independent (``MCNNri_x``: ``luminosity``
        fb^-1 of each sample at exp 1003, default conditions) or run-dependent
        (``MCNNrd_x``: per good run of ``exp`` in ``runs``, that run's luminosity,
        conditions, calibrated tags and random-trigger background)."""
        self._require_production()
        rd = "rd_" in name
        model.check_campaign_name("mc_rd" if rd else "mc_ri", name)
        known = (*GENERIC_SAMPLES, *SIGNAL_EVENT_TYPES)
        for sample in samples:
            if sample not in known:
                raise BadCampaign(
                    name, f"sample {sample!r} is not one of {', '.join(known)}"
                )
        if not samples:
            raise BadCampaign(name, "no samples given")
        if name in self.store.names():
            return Campaign(self, name)
        params: dict[str, Any] = {
            "owner": self.user.name,
            "samples": list(samples),
            "scale": self.mc_scale if scale is None else scale,
            "events_per_job": events_per_job or self.events_per_job,
            "seed": seed,
        }
        if rd:
            if exp is None or runs is None:
                raise BadCampaign(name, "run-dependent MC needs exp and runs")
            listed = model.parse_runs(runs)
            low, high = listed[0], listed[-1]
            taken = [r for r in self.store.runs(exp, low, high) if r.run in listed]
            if not taken:
                raise NoRawData(exp, runs)
            for r in taken:
                if r.quality != "bad":
                    self.rd_tags(exp, r.run)  # refuse runs without calibration
        else:
            if luminosity is None or luminosity <= 0:
                raise BadCampaign(
                    name, "run-independent MC needs luminosity > 0 (fb^-1)"
                )
            params["luminosity"] = luminosity
            exp, low, high = 1003, 0, 0
        campaign = self.store.create_campaign(
            name,
            "mc_rd" if rd else "mc_ri",
            now=self.clock.now(),
            exp=exp,
            run_low=low,
            run_high=high,
            params=params,
        )
        self.run_once()
        return Campaign(self, campaign.name)

    # ------------------------------------------------------------ skims

    def skim(
        self,
        name: str,
        source: str,
        skims: Sequence[str],
        *,
        general_skim: str = "hadron",
    ) -> Campaign:
        """Define a skim campaign: combined ``skims`` over the mDST of campaign
        ``source`` (its ``general_skim`` mDST for data; every sample for MC), one
        uDST dataset per skim and run, ``.../<general skim>/<code>/udst``."""
        self._require_production()
        model.check_campaign_name("skim", name)
        from b2grid.skims.registry import get as get_skim

        codes = [get_skim(s).code for s in skims]  # UnknownSkim names a bad one
        if not codes:
            raise BadCampaign(name, "no skims given")
        origin = self.store.campaign(source)
        if (
            origin.kind not in ("prompt", "proc", "mc_ri", "mc_rd")
            or not origin.finished
        ):
            raise BadCampaign(
                name, f"source {source} is a {origin.kind} campaign that is "
                f"{'finished' if origin.finished else 'not finished'}; skim a "
                "finished processing or MC campaign",
            )  # fmt: skip
        if name in self.store.names():
            return Campaign(self, name)
        params = {
            "owner": self.user.name, "source": source, "skims": codes,
            "general_skim": general_skim,
            "namespace": "MC" if origin.kind.startswith("mc") else "Data",
            "tag": origin.params.get("final", ""),
        }  # fmt: skip
        campaign = self.store.create_campaign(
            name, "skim", now=self.clock.now(), exp=origin.exp,
            run_low=origin.run_low, run_high=origin.run_high, params=params,
        )  # fmt: skip
        self.run_once()
        return Campaign(self, campaign.name)

    def skim_sources(self, campaign: CampaignInfo) -> list[str]:
        """The mDST datasets a skim campaign reads."""
        p = campaign.params
        query = select(datasets.c.lpn).where(
            and_(
                datasets.c.campaign == p["source"],
                datasets.c.data_level == "mdst",
                datasets.c.state != "deleted",
            )
        )
        if p["namespace"] == "Data":
            query = query.where(datasets.c.general_skim == p["general_skim"])
        with self.storage.catalog.reading() as conn:
            return [r.lpn for r in conn.execute(query.order_by(datasets.c.lpn))]

    def skim_stats(self, name: str) -> list[dict[str, Any]]:
        """Per skim of a skim campaign: events in and kept, retention, uDST bytes
        per kept event and CPU per input event (``b2grid skim stats``)."""
        campaign = self.store.campaign(name)
        if campaign.kind != "skim":
            raise BadCampaign(name, f"a {campaign.kind} campaign, not a skim campaign")
        lpn = f"/belle/{campaign.params['namespace']}/production/{name}/skimstats"
        totals: dict[str, dict[str, Any]] = {}
        cpu_read = 0.0
        for f in self.storage.catalog.files_of(lpn) if self._exists(lpn) else []:
            data = json.loads(self.storage.read_verified(f.lfn, f.available_sites[0]))
            cpu_read += float(data["cpu_read"])
            for code, st in data["skims"].items():
                t = totals.setdefault(
                    code, {"code": code, "name": st["name"], "events_in": 0,
                           "events_kept": 0, "bytes": 0, "cpu": 0.0},
                )  # fmt: skip
                t["events_in"] += st["events_in"]
                t["events_kept"] += st["events_kept"]
                t["bytes"] += st["bytes"]
                t["cpu"] += st["cpu_select"] + st["cpu_write"]
        rows = []
        for t in totals.values():
            n, kept = t["events_in"], t["events_kept"]
            rows.append(
                t | {
                    "retention": kept / n if n else 0.0,
                    "bytes_per_event": t["bytes"] / kept if kept else 0.0,
                    "cpu_per_event": t["cpu"] / n if n else 0.0,
                    "read_cpu_per_event": cpu_read / n if n else 0.0,
                }
            )  # fmt: skip
        return sorted(rows, key=lambda r: r["code"])

    def _exists(self, lpn: str) -> bool:
        try:
            self.storage.catalog.dataset(lpn)
        except LookupError:
            return False
        return True

    def rd_tags(self, exp: int, run: int) -> list[str]:
        """The tags run-dependent MC of a run uses: the final tag of the campaign
        that calibrated it (official before prompt), then the online tag."""
        best: CampaignInfo | None = None
        for c in self.store.campaigns():
            if (
                (
                    c.kind in ("prompt", "proc")
                    and c.exp == exp
                    and c.run_low is not None
                    and c.run_high is not None
                    and c.run_low <= run <= c.run_high
                )
                and c.finished
                and (best is None or c.kind == "proc")
            ):
                best = c
        if best is None:
            raise NoPayload(
                (ONLINE_TAG,),
                "calibration",
                exp,
                run,
                "no finished prompt bucket or proc campaign covers it; process "
                "it first",
            )
        return [str(best.params["final"]), ONLINE_TAG]

    # ------------------------------------------------------------ the driver

    def campaign(self, name: str) -> Campaign:
        self.store.campaign(name)
        return Campaign(self, name)

    def run_once(self) -> ProductionReport:
        """Move every unfinished campaign on by one step (controller)."""
        report = ProductionReport([], [], [])
        with self._lock:
            for campaign in self.store.campaigns(active=True):
                try:
                    self._advance(campaign, report)
                except Exception as exc:  # one campaign's trouble stops only it
                    log.exception("campaign %s", campaign.name)
                    step = model.next_step(campaign.stages)
                    stage = getattr(step, "stage", None)
                    if stage is not None:
                        self.store.set_stage(
                            campaign.prod,
                            stage,
                            StageStatus.FAILED,
                            now=self.clock.now(),
                            note=f"{type(exc).__name__}: {exc}",
                        )
                        report.failed.append(f"{campaign.name}/{stage}")
        return report

    def _advance(self, campaign: CampaignInfo, report: ProductionReport) -> None:
        now = self.clock.now()
        step = model.next_step(campaign.stages)
        if isinstance(step, Complete):
            self.store.finish(campaign.prod, now)
            report.finished.append(campaign.name)
        elif isinstance(step, Start):
            project_id, note = self.stages.start(campaign, step.stage)
            self.store.set_stage(
                campaign.prod,
                step.stage,
                StageStatus.RUNNING,
                now=now,
                project_id=project_id,
                note=note,
            )
            report.started.append(f"{campaign.name}/{step.stage}")
        elif isinstance(step, Watch):
            stage = campaign.stage(step.stage)
            assert stage.project_id is not None
            summary = self.jobs.store.summary(stage.project_id)
            status = summary.project.status
            if status == "Done":
                note = self.stages.book(campaign, step.stage, stage.note)
                failed = note.startswith("FAILED: ")
                self.store.set_stage(
                    campaign.prod,
                    step.stage,
                    StageStatus.FAILED if failed else StageStatus.DONE,
                    now=now,
                    note=note.removeprefix("FAILED: "),
                )
                if failed:
                    report.failed.append(f"{campaign.name}/{step.stage}")
                else:
                    report.finished.append(f"{campaign.name}/{step.stage}")
                    self._advance(self.store.campaign(campaign.name), report)
            elif status in ("Failed", "Killed"):
                self.store.set_stage(
                    campaign.prod,
                    step.stage,
                    StageStatus.FAILED,
                    now=now,
                    note=self._failure(stage.project_id, status),
                )
                report.failed.append(f"{campaign.name}/{step.stage}")
        elif isinstance(step, Blocked):
            pass

    def _failure(self, project_id: int, status: str) -> str:
        for record in self.jobs.store.jobs(project_id):
            if record.state.status in (JobStatus.FAILED, JobStatus.KILLED):
                return (
                    f"{status}: job {record.job_id}: {record.state.minor_status}; fix "
                    "the cause, then `b2grid production retry`"
                )
        return status

    def status(self) -> list[dict[str, Any]]:
        """Per campaign: stages, jobs by state, events, luminosity."""
        return views.status(self)

    def readiness(self) -> list[dict[str, str]]:
        """The data-readiness table: per experiment, calibration, data, MC."""
        return views.readiness(self)

    def retry(self, name: str) -> int:
        """Reschedule the failed jobs of a campaign's failed stage (or rerun its
        booking, when a check refused the result); returns jobs rescheduled."""
        self._require_production()
        campaign = self.store.campaign(name)
        step = model.next_step(campaign.stages)
        if not isinstance(step, Blocked):
            return 0
        stage = campaign.stage(step.stage)
        failed = []
        if stage.project_id is not None:
            failed = [
                r.job_id
                for r in self.jobs.store.jobs(stage.project_id)
                if r.state.status in (JobStatus.FAILED, JobStatus.KILLED)
            ]
            self.jobs.reschedule(failed)
        status = (
            StageStatus.RUNNING if stage.project_id is not None else StageStatus.WAITING
        )
        self.store.set_stage(
            campaign.prod, step.stage, status, now=self.clock.now(), note="retried"
        )
        return len(failed)


def model_mc_experiments() -> frozenset[int]:
    from b2grid.physics.conditions import MC_EXPERIMENTS

    return MC_EXPERIMENTS


__all__ = ["Campaign", "ProductionReport", "ProductionService"]
