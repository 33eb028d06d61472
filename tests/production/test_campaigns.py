"""Production on a real small grid: data taking, a prompt bucket with calibration,
run-dependent and run-independent MC, bad runs, idempotence, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from b2grid import formats
from b2grid.errors import (
    BadCampaign,
    NoPayload,
    NoRawData,
    OverlappingBucket,
    PermissionDenied,
    TagNotFound,
)
from b2grid.grid import Grid
from b2grid.physics import calibration, chain, reconstruction
from b2grid.physics.conditions import ONLINE_TAG, RecoPayloads, true_conditions
from b2grid.production import layout
from b2grid.storage.identity import User

EXP, RUNS, LUMI = 12, "853-856", 0.1
RUN_LIST = range(853, 857)


def test_data_taking_registers_raw_per_run_kept_at_kek_and_one_more_rdc(bucket):
    grid = bucket
    runs = grid.production.runs(EXP)
    assert [r.run for r in runs] == list(RUN_LIST)
    assert all(r.collisions > 30_000 and r.luminosity == 0.1 for r in runs)
    assert runs[0].truth["field_scale"] == true_conditions(EXP, 853).field_scale
    for r in RUN_LIST:
        for random in (False, True):
            files = grid.storage.catalog.files_of(
                layout.raw_path(EXP, r, random=random)
            )
            assert len(files) == 1
            f = files[0]
            assert (f.exp, f.run) == (EXP, r)
            assert f.events > 0
            assert "KEK" in f.available_sites
    grid.storage.run_agents()
    raw = grid.storage.catalog.files_of(layout.raw_path(EXP, 853))[0]
    kinds = {s.name: s.kind for s in grid.config.sites}
    rules = grid.storage.rules.rules(target=layout.raw_path(EXP, 853))
    official = [r for r in rules if r.comment == "production"]
    assert sorted((r.copies, r.expression) for r in official) == [
        (1, "KEK"), (1, "kind=raw_data_centre\\KEK"),
    ]  # fmt: skip
    locked = [r.site for r in raw.replicas if r.lock_count > 0]
    # KEK, another raw data centre, and the calibration centre's input replica
    assert "KEK" in locked
    assert len(locked) >= 2
    assert all(kinds[s] == "raw_data_centre" for s in locked)


def test_a_bucket_calibrates_and_the_final_mdst_energy_scale_is_within_a_percent(
    bucket,
):
    grid = bucket
    campaign = grid.production.campaign("bucket1")
    stages = {name: (status, note) for name, status, note in campaign.stages()}
    assert list(stages) == [
        "raw_calibration", "cdst", "data_calibration", "validation", "mdst",
    ]  # fmt: skip
    assert all(status == "done" for status, _ in stages.values())
    db = grid.conditions
    # staging -> validation -> final: the final tag is published, staging is not
    assert db.tag("bucket1_prompt").published
    assert not db.tag("bucket1_staging").published
    assert "published bucket1_prompt" in stages["validation"][1]
    final = ("bucket1_prompt", ONLINE_TAG)
    for run in (853, 856):
        cond = true_conditions(EXP, run)
        truth = chain.simulate_run(
            "gg", 1500, experiment=EXP, run=run, seed=run, conditions=cond
        )

        def scale(payloads: RecoPayloads, truth=truth) -> float:
            return calibration.energy_scale(reconstruction.reconstruct(truth, payloads))

        ideal = scale(RecoPayloads.ideal(cond))
        online = scale(RecoPayloads.load(db, ONLINE_TAG, EXP, run))
        calibrated = scale(RecoPayloads.load(db, final, EXP, run))
        assert abs(online / ideal - 1) > 0.01, "the online constants were off"
        assert abs(calibrated / ideal - 1) < 0.01
        payloads = RecoPayloads.load(db, final, EXP, run)
        assert abs(payloads.momentum_scale - cond.field_scale) < 1.5e-3
    # the mDST of every run, made with the final tag, found by the searcher
    found = grid.datasets.search(campaign="bucket1", data_level="mdst")
    assert len(found.names) == 2 * len(RUN_LIST)  # all + hadron per run
    for r in RUN_LIST:
        path = layout.data_path(
            campaign="bucket1", prod=campaign.info().prod, exp=EXP, run=r, skim="all",
            level="mdst", tag="bucket1_prompt",
        )  # fmt: skip
        files = grid.storage.catalog.files_of(path.lpn)
        assert len(files) == 1, "one output per run, whatever was rescheduled"
        local = grid.home / f"check_{r}.root"
        grid.storage.fetch(files[0].lfn, local)
        meta = formats.read_metadata(local)
        assert meta.global_tag == "bucket1_prompt,data_online"
        assert meta.level == "mdst"
        assert meta.nevents == files[0].events > 0
    # validation says what it measured: the E/p and mu-mu peaks were corrected
    report = _validation_report(grid)
    assert abs(report["after"]["ep_peak"] - 1) < 0.01
    assert abs(report["after"]["mumu_ratio"] - 1) < 0.002
    assert abs(report["before"]["mumu_ratio"] - 1) > abs(
        report["after"]["mumu_ratio"] - 1
    )


def _validation_report(grid: Grid) -> dict:
    files = grid.storage.catalog.files_of(
        layout.calibration_lpn("bucket1", "validation")
    )
    f = files[-1]
    return json.loads(grid.storage.read_verified(f.lfn, f.available_sites[0]))


def test_status_and_readiness_views(bucket):
    grid = bucket
    rows = {r["campaign"]: r for r in grid.production.status()}
    b = rows["bucket1"]
    assert b["kind"] == "prompt"
    assert b["finished"]
    assert b["jobs"].get("Done", 0) >= 2 + 2 * len(RUN_LIST)
    assert b["events"] > 0
    assert b["luminosity"] == pytest.approx(0.4)
    taking = rows[f"e{EXP:04d}_r00853-00856"]
    assert taking["events"] > 0
    ready = grid.production.readiness()
    assert ready[0]["exp"] == str(EXP)
    assert "bucket1: done" in ready[0]["calibration"]
    assert "bucket1: done" in ready[0]["data (all)"]


def test_rerunning_a_completed_step_does_nothing_twice(bucket):
    grid = bucket
    projects = len(grid.jobs.store.projects())
    again = grid.production.take_data(EXP, RUNS, 0.1)
    assert again.status() == "done"
    assert grid.production.process("bucket1", EXP, RUNS).status() == "done"
    grid.production.run_once()
    assert len(grid.jobs.store.projects()) == projects
    assert len(grid.conditions.tag("bucket1_staging").payloads) == len(
        {(p.name, str(p.iov)) for p in grid.conditions.tag("bucket1_staging").payloads}
    )


def test_run_dependent_mc_uses_its_runs_payloads_and_background(bucket):
    grid = bucket
    mc = grid.production.produce_mc(
        "MC15rd_a", ["1213030000"], exp=EXP, runs="853,856", scale=0.5,
        events_per_job=200,
    )  # fmt: skip
    assert mc.wait(300) == "done", mc.stages()
    digits = {}
    for run in (853, 856):
        path = layout.mc_path(
            campaign="MC15rd_a", prod=mc.info().prod, exp=EXP, run=run,
            sample="1213030000", tag="bucket1_prompt",
        )  # fmt: skip
        files = grid.storage.catalog.files_of(path.lpn)
        assert files
        assert all(f.run == run for f in files)
        local = grid.home / f"rd_{run}.root"
        grid.storage.fetch(files[0].lfn, local)
        meta = formats.read_metadata(local)
        assert meta.global_tag == "bucket1_prompt,data_online"  # that run's payloads
        assert meta.extra["overlay_runs"] == [[EXP, run]]  # that run's background
        events = formats.read_events(local)
        assert (np.asarray(events.EventMetaData.run) == run).all()
        digits[run] = meta.extra["overlay_events"]
    ri = grid.production.produce_mc("MC15ri_a", ["charged"], luminosity=0.5,
                                    events_per_job=200)  # fmt: skip
    assert ri.wait(300) == "done", ri.stages()
    found = grid.datasets.search(campaign="MC15ri_a")
    assert len(found.names) == 1
    assert "/e1003/" in found.names[0]


def test_a_bad_run_is_excluded_and_reported_never_deleted(bucket):
    grid = bucket
    grid.production.set_quality(EXP, 854, "bad")
    try:
        mc = grid.production.produce_mc(
            "MC15rd_b", ["uubar"], exp=EXP, runs=RUNS, scale=0.05, events_per_job=500
        )
        assert mc.wait(300) == "done"
        ((_, _, note),) = mc.stages()
        assert "bad runs excluded: 854" in note
        runs = {f.run for lpn in grid.datasets.search(campaign="MC15rd_b").names
                for f in grid.storage.catalog.files_of(lpn)}  # fmt: skip
        assert runs == {853, 855, 856}
        result = grid.datasets.search(campaign="bucket1", data_level="mdst")
        assert result.excluded_bad_runs  # reported where it was excluded
        assert grid.storage.catalog.files_of(layout.raw_path(EXP, 854))  # kept
    finally:
        grid.production.set_quality(EXP, 854, "good")


def test_bad_input_gets_clear_errors_and_creates_nothing(bucket):
    grid = bucket
    before = grid.production.store.names()
    with pytest.raises(OverlappingBucket, match="bucket1"):
        grid.production.process("bucket2", EXP, "855-860")
    with pytest.raises(NoRawData, match="take the data first"):
        grid.production.process("bucket3", EXP, "2000-2010")
    with pytest.raises(BadCampaign, match="bucketNN"):
        grid.production.process("buckett", EXP, "2000-2010")
    grid.conditions.create_tag("empty_tag")
    grid.conditions.publish("empty_tag")
    with pytest.raises(NoPayload):
        grid.production.process("proc1", EXP, RUNS, base_tags=["empty_tag"])
    with pytest.raises(TagNotFound):
        grid.production.process("proc1", EXP, RUNS, base_tags=["no_such_tag"])
    with pytest.raises(BadCampaign, match="sample"):
        grid.production.produce_mc("MC15ri_c", ["bbbar"], luminosity=1.0)
    user = Grid(grid.config, user=User("alice"))
    with pytest.raises(PermissionDenied, match="production"):
        user.production.take_data(EXP, "900", 0.1)
    assert grid.production.store.names() == before


def test_a_calibration_with_too_little_data_fails_and_publishes_nothing(bucket):
    grid = bucket
    campaign = grid.production.process("proc1", EXP, RUNS, min_electrons=10**6)
    assert campaign.wait(600) == "failed"
    stages = {name: (status, note) for name, status, note in campaign.stages()}
    assert stages["data_calibration"][0] == "failed"
    assert "CalibrationFailed" in stages["data_calibration"][1]
    assert stages["validation"][0] == "waiting"
    assert stages["mdst"][0] == "waiting"
    assert not grid.conditions.has_tag("proc1_official")
    assert (
        "ECLCrystalEnergy" not in grid.conditions.tag("proc1_staging").payload_names()
    )


def test_a_stage_submitted_before_a_crash_is_adopted_not_submitted_again(bucket):
    """The crash window between submitting a stage's project and recording it:
    starting the stage again finds the project and adopts it."""
    grid = bucket
    info = grid.production.store.campaign("bucket1")
    projects = len(grid.jobs.store.projects())
    project_id, _ = grid.production.stages.start(info, "mdst")
    assert project_id == info.stage("mdst").project_id
    assert len(grid.jobs.store.projects()) == projects


def test_a_skim_campaign_writes_one_udst_dataset_per_skim_and_run(bucket):
    grid = bucket
    skims = ["BtoD0h_Kpi", "18570600", "SystematicsCombinedHadronic"]
    campaign = grid.production.skim("bucket1_skim", "bucket1", skims)
    assert campaign.wait(300) == "done", campaign.stages()
    codes = ("14140101", "18570600", "10601300")
    for code in codes:
        found = grid.datasets.search(campaign="bucket1_skim", skim_decay=code)
        assert len(found.names) == len(RUN_LIST)
        for lpn in found.names:
            assert lpn.endswith(f"/hadron/{code}/udst")
            meta = grid.storage.catalog.dataset(lpn).meta
            assert meta.general_skim == "hadron"
            assert meta.parent_lpn.endswith("/hadron/mdst")
            (f,) = grid.storage.catalog.files_of(lpn)
            assert f.run in RUN_LIST
    stats = {row["code"]: row for row in grid.production.skim_stats("bucket1_skim")}
    assert set(stats) == set(codes)
    for row in stats.values():
        assert row["events_in"] > 0
        assert 0 <= row["retention"] < 0.5
        assert row["cpu_per_event"] > 0
    # the same events in, whatever the skim
    assert len({row["events_in"] for row in stats.values()}) == 1
    with pytest.raises(BadCampaign, match="skim campaign"):
        grid.production.skim_stats("bucket1")
