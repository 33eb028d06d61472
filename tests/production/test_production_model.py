"""Production's pure policy: stage order, run ranges, buckets, IoV merging, sizes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b2grid.errors import BadCampaign, OverlappingBucket
from b2grid.production import layout, model
from b2grid.production.model import (
    Blocked,
    Complete,
    RunRange,
    StageState,
    StageStatus,
    Start,
    Watch,
)
from b2grid.storage.lfn import DatasetPath


def stages(*statuses: StageStatus) -> list[StageState]:
    return [StageState(f"s{i}", s) for i, s in enumerate(statuses)]


D, W, R, F = (StageStatus.DONE, StageStatus.WAITING, StageStatus.RUNNING,
              StageStatus.FAILED)  # fmt: skip


def test_a_stage_starts_only_when_every_stage_before_it_is_done() -> None:
    assert model.next_step(stages(W, W)) == Start("s0")
    assert model.next_step(stages(R, W)) == Watch("s0")
    assert model.next_step(stages(D, W, W)) == Start("s1")
    assert model.next_step(stages(D, F, W)) == Blocked("s1", "")
    assert model.next_step(stages(D, D)) == Complete()


@given(st.lists(st.sampled_from([D, W, R, F]), min_size=1, max_size=6))
def test_next_step_never_skips_an_unfinished_stage(statuses) -> None:
    step = model.next_step(stages(*statuses))
    first = next((i for i, s in enumerate(statuses) if s is not D), None)
    if first is None:
        assert step == Complete()
    else:
        assert getattr(step, "stage", None) == f"s{first}"


def test_processing_stages_are_the_real_ones_in_order() -> None:
    assert model.stages_of("prompt") == (
        "raw_calibration", "cdst", "data_calibration", "validation", "mdst",
    )  # fmt: skip
    assert model.stages_of("mc_rd") == ("mc",)


@pytest.mark.parametrize(
    ("kind", "name"),
    [("prompt", "bucket23"), ("proc", "proc13"), ("mc_ri", "MC15ri_b"),
     ("mc_rd", "MC15rd_a")],
)  # fmt: skip
def test_campaign_names_follow_belle2(kind: str, name: str) -> None:
    assert model.check_campaign_name(kind, name) == name


@pytest.mark.parametrize(
    ("kind", "name"), [("prompt", "bucketX"), ("proc", "prc13"), ("mc_ri", "MC15rd_a")]
)
def test_misspelled_campaign_names_are_refused(kind: str, name: str) -> None:
    with pytest.raises(BadCampaign, match=name):
        model.check_campaign_name(kind, name)


def test_run_lists_parse_and_inverted_ranges_are_refused() -> None:
    assert model.parse_runs("1-3,7") == (1, 2, 3, 7)
    assert model.parse_runs(5) == (5,)
    for bad in ("3-1", "a-b", "", "1-"):
        with pytest.raises(BadCampaign):
            model.parse_runs(bad)


def test_overlapping_buckets_are_refused_and_redefinition_is_a_no_op() -> None:
    b23 = RunRange(18, 1476, 1990)
    assert str(b23) == "(exp=18, run=1476) → (exp=18, run=1990)"
    existing = {"bucket23": b23}
    assert model.check_bucket("bucket23", b23, existing) is False
    assert model.check_bucket("bucket24", RunRange(18, 1991, 2100), existing)
    assert model.check_bucket("bucket24", RunRange(12, 1476, 1990), existing)
    with pytest.raises(OverlappingBucket, match="start after run 1990"):
        model.check_bucket("bucket24", RunRange(18, 1990, 2100), existing)
    with pytest.raises(OverlappingBucket, match="already defined"):
        model.check_bucket("bucket23", RunRange(18, 1476, 1999), existing)


@given(st.lists(st.integers(0, 300), min_size=1, max_size=20), st.integers(1, 500))
def test_merged_runs_cover_every_run_once_and_each_group_is_big_enough(
    counts, minimum
) -> None:
    pairs = list(enumerate(counts, start=1))
    groups = model.merge_runs(pairs, minimum)
    if sum(counts) < minimum:
        assert groups == []
        return
    assert [r for g in groups for r in g] == [r for r, _ in pairs]
    for g in groups:
        assert sum(counts[r - 1] for r in g) >= minimum
        assert list(g) == list(range(g[0], g[-1] + 1))


def test_sizes_follow_cross_sections() -> None:
    assert model.collisions(1.0, 1.0) == round(1e6 * model.TOTAL_CROSS_SECTION)
    assert model.mc_events("uubar", 2.0, 1e-3) == round(2e6 * 1.605e-3)
    assert model.split(12, 5) == [5, 5, 2]
    with pytest.raises(BadCampaign, match="not an MC sample"):
        model.mc_events("bbbar", 1.0, 1.0)


def test_official_layouts_parse_back() -> None:
    raw = layout.raw_path(12, 7)
    assert DatasetPath.parse(raw).data_level == "raw"
    assert layout.raw_path(12, 7, random=True).endswith("/r00007/randomtrigger/raw")
    mdst = layout.data_path(
        campaign="bucket23", prod=3, exp=12, run=7, skim="hadron", level="mdst",
        tag="bucket23_prompt",
    )  # fmt: skip
    assert DatasetPath.parse(mdst.lpn) == mdst
    meta = layout.meta_of(mdst, tag="bucket23_prompt")
    assert (meta.campaign, meta.general_skim, meta.run_low, meta.production) == (
        "bucket23", "hadron", 7, 3,
    )  # fmt: skip
    mc = layout.mc_path(
        campaign="MC15ri_b", prod=4, exp=1003, run=0, sample="charged", tag="mc_default"
    )
    assert layout.meta_of(mc).mc_event_type == "charged"
