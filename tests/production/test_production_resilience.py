"""Production survives a raw data centre going down mid-processing and a
controller restarted mid-campaign: every output exactly once, nothing lost."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from b2grid.jobs.model import JobStatus
from b2grid.production import layout
from b2grid.storage.records import FILE_LOST
from b2grid.storage.schema import files
from b2grid.testing import production_grid

EXP, RUNS, LUMI = 12, "853-856", 0.1
RUN_LIST = range(853, 857)
LIVE = (JobStatus.MATCHED, JobStatus.RUNNING)


def outputs_once(grid, campaign: str) -> None:
    """Each run's cDST and mDST datasets hold exactly one file; none is lost."""
    prod = grid.production.store.campaign(campaign).prod
    for run in RUN_LIST:
        for skim, level in [("bhabha", "cdst"), ("mumu", "cdst"), ("all", "mdst"),
                            ("hadron", "mdst")]:  # fmt: skip
            tag = f"{campaign}_{'staging' if level == 'cdst' else 'prompt'}"
            path = layout.data_path(
                campaign=campaign, prod=prod, exp=EXP, run=run, skim=skim,
                level=level, tag=tag,
            )  # fmt: skip
            assert len(grid.storage.catalog.files_of(path.lpn)) == 1, path.lpn
    with grid.storage.catalog.reading() as conn:
        lost = conn.execute(
            select(func.count()).where(files.c.state == FILE_LOST)
        ).scalar_one()
    assert lost == 0


@pytest.mark.slow
def test_a_raw_data_centre_going_down_mid_processing(tmp_path):
    grid = production_grid(tmp_path / "home")
    with grid:
        assert grid.production.take_data(EXP, RUNS, LUMI).wait(300) == "done"
        campaign = grid.production.process("bucket5", EXP, RUNS, min_mumu=60)
        victim, hit = "DESY", set()
        deadline = time.monotonic() + 300
        while campaign.status() not in ("done", "failed") and not hit:
            assert time.monotonic() < deadline
            info = campaign.info()
            for stage in info.stages:
                if stage.project_id is None or stage.name not in ("cdst", "mdst"):
                    continue
                for record in grid.jobs.store.jobs(stage.project_id):
                    if record.state.site == victim and record.state.status in LIVE:
                        hit.add(record.job_id)
            if hit:
                grid.sites.down(victim)
            time.sleep(0.02)
        assert hit, "no processing job was ever placed at the victim"
        assert campaign.wait(600) == "done", campaign.stages()
        for job_id in hit:
            assert grid.jobs.store.state(job_id).attempt >= 2  # rescheduled
            assert grid.jobs.store.state(job_id).site != victim
        outputs_once(grid, "bucket5")
        grid.sites.up(victim)
        grid.jobs.store.validate_state(cap=grid.jobs.cap)


@pytest.mark.slow
def test_a_controller_restarted_mid_campaign_resumes_from_the_catalog(tmp_path):
    home = tmp_path / "home"
    first = production_grid(home)
    with first:
        assert first.production.take_data(EXP, RUNS, LUMI).wait(300) == "done"
        campaign = first.production.process("bucket6", EXP, RUNS, min_mumu=60)
        deadline = time.monotonic() + 300
        while campaign.info().stage("cdst").status.value != "running":
            assert time.monotonic() < deadline
            first.production.run_once()
            time.sleep(0.05)
        projects = len(first.jobs.store.projects())
    # the controller is gone mid-stage; a new one on the same home takes over
    second = production_grid(home)
    with second:
        resumed = second.production.campaign("bucket6")
        assert resumed.wait(600) == "done", resumed.stages()
        names = [p.name for p in second.jobs.store.projects()]
        assert len(names) == len(set(names)), "no stage was submitted twice"
        assert len(names) == projects + 3  # data_calibration, validation, mdst
        outputs_once(second, "bucket6")
        assert second.conditions.tag("bucket6_prompt").published
        second.jobs.store.validate_state(cap=second.jobs.cap)
