"""Each stage of a campaign: what it submits to the workload system, and what it
books once its jobs are done (payloads into the staging tag, the validation's
verdict, the final tag's publication).

:class:`StageRunner` is the production service's hands: it creates the official
datasets a stage writes (metadata and replication rules first, so every output is
locked the moment it is registered), submits one project per stage (named
``<campaign>_<stage>``; a project found already submitted — a crash between
submitting and recording — is adopted, never submitted twice), and reads back the
small files calibration jobs write.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from b2grid.conditions import IoV
from b2grid.errors import BadCampaign, NoRawData, ProjectExists
from b2grid.physics.conditions import MC_TAG, ONLINE_TAG
from b2grid.production import layout, model, tasks
from b2grid.production.store import CampaignInfo, RunInfo
from b2grid.storage.identity import User
from b2grid.storage.lfn import DatasetPath
from b2grid.storage.records import DatasetMeta
from b2grid.storage.schema import datasets

if TYPE_CHECKING:
    from b2grid.production.service import ProductionService

#: what each stage runs, its job kind and where (a role, "raw", or "any")
STAGE_JOBS: dict[str, tuple[Callable[..., Any], str, str]] = {
    "take_data": (tasks.take_data, "production", "data_taking"),
    "raw_calibration": (tasks.momentum_calibration, "calibration", "calibration"),
    "cdst": (tasks.cdst, "processing", "raw"),
    "data_calibration": (tasks.ecl_calibration, "calibration", "calibration"),
    "validation": (tasks.validation, "calibration", "calibration"),
    "mdst": (tasks.mdst, "processing", "raw"),
    "mc": (tasks.mc, "mc", "any"),
    "skim": (tasks.skim, "skim", "any"),
}


class StageRunner:
    """Starts and books the stages of the campaigns of one production service."""

    def __init__(self, service: ProductionService) -> None:
        self.service = service

    def _site_for(self, where: str, campaign: CampaignInfo) -> tuple[str, ...]:
        roles = self.service.config.roles
        if where == "data_taking":
            return (roles.data_taking,)
        if where == "calibration":
            official = campaign.kind == "proc"
            return (
                roles.official_calibration if official else roles.prompt_calibration,
            )
        sites = self.service.config.sites
        if where == "raw":
            return tuple(s.name for s in sites if s.kind == "raw_data_centre")
        if campaign.kind == "mc_ri":  # no inputs: MC is the grid sites' work
            return tuple(s.name for s in sites if s.kind == "grid")
        return ()  # anywhere: the matchmaker follows the data

    def _create_dataset(
        self, lpn: str, meta: DatasetMeta, copies: int, expression: str, owner: str
    ) -> None:
        """Create an official dataset with its metadata and rules (idempotent)."""
        now = self.service.clock.now()
        with self.service.storage.catalog.transaction() as conn:
            exists = conn.execute(
                select(datasets.c.id).where(datasets.c.lpn == lpn)
            ).first()
            if exists is None:
                self.service.storage.catalog.create_dataset(conn, lpn, owner, now, meta)
        if not self.service.storage.rules.rules(target=lpn):
            for n, expr in self._placements(copies, expression):
                self.service.storage.add_rule(lpn, n, expr, comment="production")

    def _placements(self, copies: int, expression: str) -> list[tuple[int, str]]:
        """RAW: one copy at the data-taking site plus the rest at other raw data
        centres; anything else: ``copies`` on ``expression``."""
        if expression != "raw":
            return [(copies, expression)]
        kek = self.service.config.roles.data_taking
        rules = [(1, kek)]
        if copies > 1:
            rules.append((copies - 1, f"kind=raw_data_centre\\{kek}"))
        return rules

    def _owner(self, campaign: CampaignInfo) -> User:
        return User(
            str(campaign.params.get("owner", self.service.user.name)),
            roles=frozenset({"production"}),
        )

    def _submit(
        self,
        campaign: CampaignInfo,
        stage: str,
        *,
        inputs: list[list[str]] | None = None,
        n_jobs: int | None = None,
        kwargs: list[dict[str, Any]],
        outputs: Sequence[str],
        output_datasets: Sequence[tuple[Sequence[str], int]] | None = None,
        output_lpn: str | None = None,
    ) -> int:
        fn, kind, where = STAGE_JOBS[stage]
        owner = self._owner(campaign)
        project = f"{campaign.name}_{stage}"[:32]
        common = {
            "conditions": str(self.service.conditions.root),
            "campaign": campaign.name,
        }
        try:
            return self.service.jobs.submit(
                fn,
                project=project,
                inputs=inputs,
                n_jobs=n_jobs,
                outputs=outputs,
                kwargs=[common | k for k in kwargs],
                sites=self._site_for(where, campaign),
                kind=kind,
                output_lpn=output_lpn
                or f"/belle/Data/production/{campaign.name}/{stage}",
                output_datasets=output_datasets,
                user=owner,
                description=f"{campaign.kind} {campaign.name}: {stage}",
            )
        except ProjectExists:  # submitted before a crash: adopt it
            return self.service.jobs.store.project(owner.name, project).project_id

    def start(self, campaign: CampaignInfo, stage: str) -> tuple[int, str]:
        """Submit a stage's jobs; returns its project id and a note."""
        p = campaign.params
        if stage == "take_data":
            return self._start_take_data(campaign), ""
        if stage == "mc":
            return self._start_mc(campaign)
        if stage == "skim":
            return self._start_skim(campaign)
        assert campaign.exp is not None
        exp = campaign.exp
        runs, bad = self.service.good_runs(campaign)
        if not runs:
            raise NoRawData(
                exp, f"{campaign.run_low}-{campaign.run_high}", " (all runs bad)"
            )
        note = f"bad runs excluded: {', '.join(map(str, bad))}" if bad else ""
        db = self.service.conditions
        staging, final, base = str(p["staging"]), str(p["final"]), list(p["base_tags"])
        common = {"exp": exp}
        raw = [self.service.raw_files(exp, r.run) for r in runs]
        if stage == "raw_calibration":
            if not db.has_tag(staging):
                db.create_tag(
                    staging,
                    description=f"{campaign.name} calibration",
                    now=self.service.clock.now().timestamp(),
                )
            pid = self._submit(
                campaign,
                stage,
                inputs=[[lfn for files in raw for lfn in files]],
                kwargs=[common | {"tags": base, "min_mumu": p["min_mumu"]}],
                outputs=["payloads.json"],
                output_lpn=layout.calibration_lpn(campaign.name, stage),
            )
            return pid, note
        if stage == "cdst":
            copies = self.service.config.policies.copies.cdst
            datasets_ = self._run_datasets(
                campaign, runs, layout.CALIBRATION_SKIMS, "cdst", staging,
                copies, "kind=raw_data_centre",
            )  # fmt: skip
            pid = self._submit(
                campaign,
                stage,
                inputs=raw,
                kwargs=[
                    common
                    | {
                        "run": r.run,
                        "tags": [staging, *base],
                        "hadron_prescale": p["hadron_prescale"],
                    }
                    for r in runs
                ],
                outputs=[f"{s}.root" for s in layout.CALIBRATION_SKIMS],
                output_datasets=datasets_,
            )
            return pid, note
        if stage == "data_calibration":
            bhabha = []
            for r in runs:
                path = layout.data_path(
                    campaign=campaign.name,
                    prod=campaign.prod,
                    exp=exp,
                    run=r.run,
                    skim="bhabha",
                    level="cdst",
                    beam_energy=r.beam_energy,
                    tag=staging,
                )
                bhabha += [
                    f.lfn for f in self.service.storage.catalog.files_of(path.lpn)
                ]
            pid = self._submit(
                campaign,
                stage,
                inputs=[bhabha],
                kwargs=[
                    common
                    | {"tags": [staging, *base], "min_electrons": p["min_electrons"]}
                ],
                outputs=["payloads.json"],
                output_lpn=layout.calibration_lpn(campaign.name, stage),
            )
            return pid, note
        if stage == "validation":
            pid = self._submit(
                campaign,
                stage,
                inputs=[[lfn for files in raw for lfn in files]],
                kwargs=[common | {"tags": [staging, *base], "previous_tags": base}],
                outputs=["validation.json"],
                output_lpn=layout.calibration_lpn(campaign.name, stage),
            )
            return pid, note
        if stage == "mdst":
            copies = self.service.config.policies.copies.mdst
            datasets_ = self._run_datasets(
                campaign, runs, layout.MDST_SKIMS, "mdst", final, copies, "*"
            )
            pid = self._submit(
                campaign,
                stage,
                inputs=raw,
                kwargs=[common | {"run": r.run, "tags": [final, *base]} for r in runs],
                outputs=[f"{s}.root" for s in layout.MDST_SKIMS],
                output_datasets=datasets_,
            )
            return pid, note
        raise BadCampaign(campaign.name, f"unknown stage {stage!r}")

    def _run_datasets(
        self,
        campaign: CampaignInfo,
        runs: Sequence[RunInfo],
        skims: Iterable[str],
        level: str,
        tag: str,
        copies: int,
        expression: str,
    ) -> list[tuple[Sequence[str], int]]:
        """Create each run's dataset per skim of ``level`` (with metadata and
        rules); returns every job's (one per run) output datasets."""
        assert campaign.exp is not None
        out: list[tuple[Sequence[str], int]] = []
        for r in runs:
            lpns = []
            for skim in skims:
                path = layout.data_path(
                    campaign=campaign.name, prod=campaign.prod, exp=campaign.exp,
                    run=r.run, skim=skim, level=level, beam_energy=r.beam_energy,
                    tag=tag,
                )  # fmt: skip
                self._create_dataset(
                    path.lpn, layout.meta_of(path, tag=tag), copies, expression,
                    str(campaign.params["owner"]),
                )  # fmt: skip
                lpns.append(path.lpn)
            out.append((lpns, 0))
        return out

    def _start_take_data(self, campaign: CampaignInfo) -> int:
        assert campaign.exp is not None
        runs = [
            r
            for r in self.service.store.runs(campaign.exp)
            if r.run in campaign.params["runs"]
        ]
        owner = str(campaign.params["owner"])
        targets: list[tuple[Sequence[str], int]] = []
        for r in runs:
            lpns = []
            for random in (False, True):
                lpn = layout.raw_path(r.exp, r.run, r.beam_energy, random=random)
                path = DatasetPath.parse(lpn)
                self._create_dataset(
                    lpn,
                    layout.meta_of(path),
                    self.service.config.policies.copies.raw,
                    "raw",
                    owner,
                )
                lpns.append(lpn)
            targets.append((lpns, 0))
        return self._submit(
            campaign,
            "take_data",
            n_jobs=len(runs),
            kwargs=[
                {
                    "exp": r.exp,
                    "run": r.run,
                    "seed": r.seed,
                    "collisions": r.collisions,
                    "luminosity": r.luminosity,
                    "beam_energy": r.beam_energy,
                    "tags": [ONLINE_TAG],
                    "random_triggers": campaign.params["random_triggers"],
                }
                for r in runs
            ],
            outputs=["raw.root", "randomtrigger.root"],
            output_datasets=targets,
        )

    def _start_skim(self, campaign: CampaignInfo) -> tuple[int, str]:
        """One job per mDST file of the source campaign (files of bad runs left
        out), writing one uDST per skim into the skim's dataset of that run."""
        p = campaign.params
        owner, codes = str(p["owner"]), [str(c) for c in p["skims"]]
        inputs: list[list[str]] = []
        targets: list[tuple[Sequence[str], int]] = []
        bad = set(self.service.storage.catalog.bad_runs())
        excluded: set[str] = set()
        stats_lpn = f"/belle/{p['namespace']}/production/{campaign.name}/skimstats"
        for lpn in self.service.skim_sources(campaign):
            source = DatasetPath.parse(lpn)
            outs = []
            for code in codes:
                path = layout.udst_path(
                    source, campaign=campaign.name, prod=campaign.prod, code=code
                )
                meta = layout.meta_of(path, tag=str(p.get("tag", "")), parent=lpn)
                copies = self.service.config.policies.copies.udst
                self._create_dataset(path.lpn, meta, copies, "*", owner)
                outs.append(path.lpn)
            for i, f in enumerate(self.service.storage.catalog.files_of(lpn)):
                if (f.exp, f.run) in bad:
                    excluded.add(f"{f.exp}/{f.run}")
                    continue
                if not f.events:
                    continue
                inputs.append([f.lfn])
                targets.append(([*outs, stats_lpn], i))
        if not inputs:
            raise NoRawData(
                int(campaign.exp or 0), "any", f"; {p['source']} has no mDST to skim"
            )
        note = f"bad runs excluded: {', '.join(sorted(excluded))}" if excluded else ""
        pid = self._submit(
            campaign, "skim", inputs=inputs, kwargs=[{"skims": codes}] * len(inputs),
            outputs=[*(f"{c}.udst.root" for c in codes), "stats.json"],
            output_datasets=targets,
        )  # fmt: skip
        return pid, note

    def _start_mc(self, campaign: CampaignInfo) -> tuple[int, str]:
        p = campaign.params
        owner = str(p["owner"])
        per_job = int(p["events_per_job"])
        jobs_kwargs: list[dict[str, Any]] = []
        inputs: list[list[str]] = []
        targets: list[tuple[Sequence[str], int]] = []
        note = ""
        plan: list[tuple[int, int, float, str, list[str], list[str]]]
        if campaign.kind == "mc_ri":
            plan = [(1003, 0, float(p["luminosity"]), "4S", [MC_TAG], [])]
        else:
            runs, bad = self.service.good_runs(campaign)
            note = f"bad runs excluded: {', '.join(map(str, bad))}" if bad else ""
            plan = [
                (
                    r.exp,
                    r.run,
                    r.luminosity,
                    r.beam_energy,
                    self.service.rd_tags(r.exp, r.run),
                    self.service.raw_files(r.exp, r.run, random=True),
                )
                for r in runs
            ]
        for exp, run, lumi, beam, tags, overlay in plan:
            for sample in p["samples"]:
                path = layout.mc_path(
                    campaign=campaign.name,
                    prod=campaign.prod,
                    exp=exp,
                    run=run,
                    sample=sample,
                    tag=tags[0],
                    beam_energy=beam,
                )
                self._create_dataset(
                    path.lpn,
                    layout.meta_of(path, tag=tags[0]),
                    self.service.config.policies.copies.mc,
                    "*",
                    owner,
                )
                total = model.mc_events(sample, lumi, float(p["scale"]))
                for i, n in enumerate(model.split(total, per_job)):
                    jobs_kwargs.append(
                        {
                            "exp": exp,
                            "run": run,
                            "events": n,
                            "event_type": sample,
                            "tags": tags,
                            "seed": int(p["seed"]) * 1_000_003 + len(jobs_kwargs),
                        }
                    )
                    inputs.append(list(overlay[:1]))
                    targets.append(([path.lpn], i))
        pid = self._submit(
            campaign,
            "mc",
            inputs=inputs,
            kwargs=jobs_kwargs,
            outputs=["mdst.root"],
            output_datasets=targets,
        )
        return pid, note

    # ------------------------------------------------------------ booking

    def _payload_file(
        self, campaign: CampaignInfo, stage: str, name: str
    ) -> dict[str, Any]:
        files = self.service.storage.catalog.files_of(
            layout.calibration_lpn(campaign.name, stage)
        )
        if not files:
            raise BadCampaign(campaign.name, f"stage {stage} registered no {name}")
        f = files[-1]
        data: dict[str, Any] = json.loads(
            self.service.storage.read_verified(f.lfn, f.available_sites[0])
        )
        return data

    def book(self, campaign: CampaignInfo, stage: str, note: str) -> str:
        """After a stage's jobs are done: store payloads, judge the validation,
        publish the final tag. Returns the stage's note ("FAILED: ..." refuses)."""
        db = self.service.conditions
        p = campaign.params
        if stage in ("raw_calibration", "data_calibration"):
            staging = str(p["staging"])
            payloads = self._payload_file(campaign, stage, "payloads.json")["payloads"]
            have = {(ref.name, str(ref.iov)) for ref in db.tag(staging).payloads}
            stored = []
            for item in payloads:
                iov = IoV(*item["iov"])
                if (item["name"], str(iov)) not in have:  # booked twice: once
                    db.add_payload(
                        staging,
                        item["name"],
                        iov,
                        item["arrays"],
                        item["attrs"],
                        now=self.service.clock.now().timestamp(),
                    )
                stored.append((str(item["name"]), iov))
            return "; ".join(filter(None, [note, "staged " + _staged(stored)]))
        if stage == "validation":
            report = self._payload_file(campaign, stage, "validation.json")
            after = tasks.validation_of(report["after"])
            before = tasks.validation_of(report["before"])
            failures = after.check() if after is not None else ["no events to validate"]
            summary = validation_summary(before, after)
            if failures:
                return (
                    f"FAILED: validation refused {p['staging']}: "
                    + "; ".join(failures)
                    + f" ({summary})"
                )
            final = str(p["final"])
            if not db.has_tag(final):
                db.create_tag(
                    final,
                    description=f"{campaign.name} final calibration",
                    now=self.service.clock.now().timestamp(),
                    copy_from=str(p["staging"]),
                )
            if not db.tag(final).published:
                db.publish(final, now=self.service.clock.now().timestamp())
            return f"{summary}; published {final}"
        return note


def _staged(stored: Sequence[tuple[str, IoV]]) -> str:
    """``TrackMomentumScale: 4 IoVs, (12,853)-(12,856)`` per payload name."""
    parts = []
    for name in dict.fromkeys(n for n, _ in stored):
        iovs = [iov for n, iov in stored if n == name]
        first, last = iovs[0], iovs[-1]
        span = f"({first.exp_low},{first.run_low})-({last.exp_high},{last.run_high})"
        count = f"{len(iovs)} IoV{'s' if len(iovs) > 1 else ''}"
        parts.append(f"{name}: {count}, {span}")
    return "; ".join(parts)


def validation_summary(before: Any, after: Any) -> str:
    """``E/p 1.0041 -> 0.9967, width 0.0317 -> 0.0314, mumu/ideal ...``: each
    measured quantity with the previous tags, then with the staging tag."""

    def pair(name: str, fmt: str) -> str:
        values = [getattr(v, name, None) for v in (before, after)]
        shown = ["n/a" if x is None else format(x, fmt) for x in values]
        return f"{shown[0]} -> {shown[1]}"

    return (
        f"E/p {pair('ep_peak', '.4f')}, width {pair('ep_width', '.4f')}, "
        f"mumu/ideal {pair('mumu_ratio', '.4f')}"
    )


__all__ = ["STAGE_JOBS", "StageRunner", "validation_summary"]
