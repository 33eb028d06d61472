"""Job inputs: resolving what a physicist names, grouping by datablock, the plan."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from b2grid.errors import BadJob, NotRegistered, ProjectExists
from b2grid.grid import Grid
from b2grid.jobs.inputs import (
    check_files_per_job,
    group,
    is_per_job,
    plan,
    read_list_file,
    resolve_inputs,
)
from b2grid.jobs.model import JobStatus
from b2grid.jobs.steering import load_steering
from b2grid.storage.identity import User
from b2grid.storage.records import DatasetMeta, NewFile
from b2grid.storage.search import ExcludedRun
from b2grid.testing import offline_grid

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
HADRON = "/belle/Data/proc12/e12/hadron"  # 5 files: sub00 (2), sub01 (2), sub02 (1)
TAU = "/belle/Data/proc12/e12/tau"  # 2 files: sub00
MIXED = "/belle/MC/MC15ri/mixed"  # 3 files, one of them of bad run 14/2
PROD = User("prod", roles=frozenset({"production"}))


def register(grid: Grid, lpn: str, runs: list[tuple[int, int]], skim: str) -> None:
    meta = DatasetMeta(
        data_type="mc" if "/MC/" in lpn else "data",
        campaign="MC15ri" if "/MC/" in lpn else "proc12",
        data_level="mdst",
        general_skim=skim,
        exp_low=min(e for e, _ in runs),
        exp_high=max(e for e, _ in runs),
    )
    new = [
        NewFile(f"f{i}.root", 1_000_000 * (i + 1), "00000001", 100 * (i + 1), e, r)
        for i, (e, r) in enumerate(runs)
    ]
    grid.storage.catalog.register_files(lpn, new, "KEK", "prod", NOW, meta=meta)


@pytest.fixture
def grid(tmp_path: Path) -> Iterator[Grid]:
    """An offline grid (no Dask) of datablocks of 2 files, with three datasets."""
    g = offline_grid(tmp_path / "home", datablock_size=2, user=User("alice"))
    register(g, HADRON, [(12, r) for r in range(1, 6)], "hadron")
    register(g, TAU, [(12, 7), (12, 8)], "tau")
    register(g, MIXED, [(14, 1), (14, 2), (14, 3)], "hadron")
    g.storage.catalog.set_run_quality(14, 2, "bad")
    try:
        yield g
    finally:
        g.close()


def resolve(grid: Grid, inputs: object, **kwargs: bool) -> list[str]:
    found = resolve_inputs(
        grid.storage.catalog,
        grid.collections,
        inputs,
        **kwargs,  # type: ignore[arg-type]
    )
    return [f.lfn for f in found.files]


def names(lpn: str, blocks: list[tuple[int, list[int]]]) -> list[str]:
    return [f"{lpn}/sub{b:02d}/f{i}.root" for b, files in blocks for i in files]


# ---------------------------------------------------------------- pure


def test_group_never_mixes_datablocks_and_keeps_the_order() -> None:
    files = [
        SimpleNamespace(lfn=f"/belle/d/sub0{b}/f{i}", datablock=f"/belle/d/sub0{b}")
        for b, i in [(0, 1), (1, 2), (0, 3), (0, 4), (2, 5), (1, 6)]
    ]
    assert group(files, 2) == [
        ["/belle/d/sub00/f1", "/belle/d/sub00/f3"],
        ["/belle/d/sub00/f4"],
        ["/belle/d/sub01/f2", "/belle/d/sub01/f6"],
        ["/belle/d/sub02/f5"],
    ]
    assert group(files, 100) == [
        ["/belle/d/sub00/f1", "/belle/d/sub00/f3", "/belle/d/sub00/f4"],
        ["/belle/d/sub01/f2", "/belle/d/sub01/f6"],
        ["/belle/d/sub02/f5"],
    ]
    assert len(group(files, 1)) == 6
    assert group([], 3) == []


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "2", None])
def test_files_per_job_must_be_a_whole_number_of_at_least_one(bad: object) -> None:
    with pytest.raises(BadJob, match="files_per_job") as err:
        check_files_per_job(bad)
    assert err.value.field == "files_per_job"
    with pytest.raises(BadJob, match="files_per_job"):
        group([], bad)  # type: ignore[arg-type]


def test_plan_counts_files_jobs_events_megabytes_and_cpu_of_the_largest_job() -> None:
    files = [
        SimpleNamespace(
            lfn=f"/belle/d/sub0{b}/f{i}",
            datablock=f"/belle/d/sub0{b}",
            size=500_000,
            events=ev,
        )
        for b, i, ev in [(0, 1, 1000), (0, 2, 3000), (1, 3, 500), (1, 4, None)]
    ]
    p = plan(
        files,
        project="ana",
        owner="alice",
        output_lpn="/belle/user/alice/ana",
        files_per_job=2,
        seconds_per_event=0.01,
        excluded_bad_runs=[ExcludedRun(14, 2, 1)],
    )
    assert (p.n_files, p.n_jobs, p.events, p.size) == (4, 2, 4500, 2_000_000)
    assert p.megabytes == 2.0
    assert p.cpu_seconds_per_job == 40.0  # the sub00 job: 4000 events x 10 ms
    assert p.datasets == ("/belle/d",)
    rows = dict(p.rows())
    assert rows["Number of jobs"] == "2"
    assert rows["Left out (bad runs exp/run)"] == "1 file(s): 14/2"
    with pytest.raises(BadJob, match="seconds_per_event"):
        plan(files, project="a", owner="a", output_lpn="/x", seconds_per_event=0)


def test_per_job_lists_are_told_from_names() -> None:
    assert is_per_job([["/belle/a/f1"], ("/belle/a/f2",)])
    assert not is_per_job(["/belle/a/f1", "/belle/a/f2"])
    assert not is_per_job("/belle/a")
    assert not is_per_job([])


def test_a_list_file_has_one_name_a_line_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "in.list"
    path.write_text(f"# my inputs\n{HADRON}\n\n  {TAU}   # tau too\n")
    assert read_list_file(path) == [HADRON, TAU]
    with pytest.raises(BadJob, match="does not exist"):
        read_list_file(tmp_path / "nope.list")


# ---------------------------------------------------------------- resolution


def test_datasets_datablocks_lfns_and_mixes_resolve_to_each_file_once(grid) -> None:
    every = names(HADRON, [(0, [0, 1]), (1, [2, 3]), (2, [4])])
    assert resolve(grid, HADRON) == every
    assert resolve(grid, f"{HADRON}/sub01") == every[2:4]
    lfn = f"{TAU}/sub00/f1.root"
    assert resolve(grid, [lfn, HADRON, f"{HADRON}/sub00", lfn]) == [lfn, *every]


def test_a_collection_and_a_search_result_resolve_like_their_datasets(grid) -> None:
    grid.collections.create(
        "proc12_all", [HADRON, TAU], description="all of proc12", user=PROD, now=NOW
    )
    lpn = "/belle/collection/Data/proc12_all"
    assert resolve(grid, lpn) == resolve(grid, [HADRON, TAU])
    datasets = grid.datasets.search(campaign="proc12")
    assert resolve(grid, datasets) == resolve(grid, [HADRON, TAU])
    files = grid.datasets.search(general_skim="tau", files=True)
    assert resolve(grid, files) == names(TAU, [(0, [0, 1])])


def test_a_list_file_as_ds_search_output_writes_it(grid, tmp_path: Path) -> None:
    path = tmp_path / "tau.list"
    path.write_text(
        "".join(f"{n}\n" for n in grid.datasets.search(campaign="proc12").names)
    )
    assert resolve(grid, str(path)) == resolve(grid, [HADRON, TAU])
    assert resolve(grid, path) == resolve(grid, [HADRON, TAU])


def test_files_of_bad_runs_are_left_out_and_reported(grid) -> None:
    found = resolve_inputs(grid.storage.catalog, grid.collections, MIXED)
    assert [f.run for f in found.files] == [1, 3]
    assert found.excluded_bad_runs == (ExcludedRun(14, 2, 1),)
    assert found.excluded_files == 1
    kept = resolve(grid, MIXED, include_bad_runs=True)
    assert len(kept) == 3
    searched = grid.datasets.search(campaign="MC15ri", include_bad_runs=True)
    assert len(resolve(grid, searched)) == 3  # the search asked for them


@pytest.mark.parametrize(
    ("inputs", "error", "text"),
    [
        ("/belle/Data/proc99/nope", NotRegistered, "/belle/Data/proc99/nope"),
        ([HADRON, "/belle/Data/x/y"], NotRegistered, "/belle/Data/x/y"),
        ("/belle/collection/Data/none", NotRegistered, "/belle/collection/Data/none"),
        ([], BadJob, "input list is empty"),
        ("no-such.list", BadJob, "list file 'no-such.list' does not exist"),
        (42, BadJob, "cannot use a int as inputs"),
        ([HADRON, 3], BadJob, "3 is not an LFN or LPN"),
    ],
)
def test_bad_inputs_say_what_is_wrong(grid, inputs, error, text) -> None:
    with pytest.raises(error) as err:
        resolve(grid, inputs)
    assert text in str(err.value)


def test_an_empty_input_set_is_refused(grid) -> None:
    grid.storage.catalog.set_run_quality(12, 7, "bad")
    grid.storage.catalog.set_run_quality(12, 8, "bad")
    with pytest.raises(BadJob, match="every file is of a bad run"):
        resolve(grid, TAU)
    empty = grid.datasets.search(campaign="proc1?", general_skim="tau", exp_low=13)
    with pytest.raises(BadJob, match="search result is empty"):
        resolve(grid, empty)


# ---------------------------------------------------------------- plan and submit


STEERING = """\
from pathlib import Path

OUTPUTS = ("ntuple.root",)


def analysis(ctx):
    total = sum(Path(p).stat().st_size for p in ctx.inputs)
    ctx.output("ntuple.root").write_text(str(total))
"""


def test_grid_plan_is_the_dry_run_of_grid_submit(grid, tmp_path: Path) -> None:
    steering = tmp_path / "steering.py"
    steering.write_text(STEERING)
    p = grid.plan(
        steering,
        project="ana1",
        inputs=[HADRON, TAU],
        files_per_job=2,
        seconds_per_event=0.001,
    )
    assert (p.n_files, p.n_jobs, p.events) == (7, 4, 1500 + 300)
    assert p.size == (1 + 2 + 3 + 4 + 5 + 1 + 2) * 1_000_000
    assert p.cpu_seconds_per_job == 0.7  # sub01 of hadron: 300 + 400 events
    assert p.output_lpn == "/belle/user/alice/ana1"
    assert p.datasets == (HADRON, TAU)
    assert p.analysis == str(steering)

    project = grid.submit(
        steering, project="ana1", inputs=[HADRON, TAU], files_per_job=2
    )
    jobs = [grid.jobs.store.spec(s.job_id) for s in project.jobs()]
    assert [j.inputs for j in jobs] == list(p.jobs)
    assert {j.outputs for j in jobs} == {("ntuple.root",)}
    assert all(s.status == JobStatus.RECEIVED for s in project.jobs())
    with pytest.raises(ProjectExists, match="ana1"):
        grid.plan(steering, project="ana1", inputs=HADRON)
    with pytest.raises(ProjectExists, match="ana1"):
        grid.submit(steering, project="ana1", inputs=HADRON)


def test_old_per_job_lists_still_submit_as_given(grid) -> None:
    lfns = names(HADRON, [(0, [0, 1]), (1, [2])])
    project = grid.submit(
        "b2grid.demo:run_demo", project="old1", inputs=[lfns[:1], lfns[1:]]
    )
    jobs = [grid.jobs.store.spec(s.job_id).inputs for s in project.jobs()]
    assert jobs == [tuple(lfns[:1]), tuple(lfns[1:])]
    with pytest.raises(BadJob, match="files_per_job"):
        grid.submit(
            "b2grid.demo:run_demo", project="old2", inputs=[lfns], files_per_job=2
        )


def test_bad_submissions_name_the_fault(grid, tmp_path: Path) -> None:
    with pytest.raises(BadJob, match=r"files_per_job: 0 is not"):
        grid.plan(None, project="x1", inputs=HADRON, files_per_job=0)
    with pytest.raises(NotRegistered, match="/belle/Data/proc12/e12/nope"):
        grid.submit(
            "b2grid.demo:run_demo", project="x2", inputs="/belle/Data/proc12/e12/nope"
        )
    with pytest.raises(BadJob, match=r"steering file .*gone\.py does not exist"):
        grid.submit(tmp_path / "gone.py", project="x3", inputs=HADRON)
    assert grid.jobs.store.projects() == []  # nothing half-created


def test_an_analysis_that_is_not_callable_is_refused_at_submission(grid) -> None:
    """`grid.submit(42, ...)` was stored, and every job failed on the workers."""
    calls = [
        lambda: grid.submit(42, project="nc1", n_jobs=1),
        lambda: grid.jobs.submit(42, project="nc2", n_jobs=1),
        lambda: grid.submit(42, project="nc3", inputs=HADRON),
        lambda: grid.jobs.submit_analysis(42, project="nc4", inputs=HADRON),
        lambda: grid.plan(42, project="nc5", inputs=HADRON),
    ]
    for call in calls:
        with pytest.raises(BadJob, match=r"^function: 42 is not callable") as info:
            call()
        assert info.value.field == "function"
    with pytest.raises(BadJob, match=r"^function: 'math:pi' .*is not callable"):
        grid.submit("math:pi", project="nc6", n_jobs=1)  # an importable non-callable
    assert grid.jobs.store.projects() == []  # nothing stored


def test_a_steering_file_without_the_function_says_which_name(tmp_path: Path) -> None:
    path = tmp_path / "empty_steering.py"
    path.write_text("x = 1\n")
    with pytest.raises(BadJob, match="no callable 'analysis' or 'main'"):
        load_steering(path)
    path.write_text("analysis = 3\n")
    with pytest.raises(BadJob, match=r"analysis in .* is a int, not a function"):
        load_steering(path)
    path.write_text("import nonexistent_module_b2\n")
    with pytest.raises(BadJob, match="failed to import: ModuleNotFoundError"):
        load_steering(path)
    path.write_text("def main(ctx):\n    pass\n")
    loaded = load_steering(path)
    assert (loaded.name, loaded.outputs) == ("main", ("ntuple.root",))
    path.write_text("def run(ctx):\n    pass\nOUTPUTS = ['a.root', 'b.root']\n")
    loaded = load_steering(path, name="run")
    assert (loaded.name, loaded.outputs) == ("run", ("a.root", "b.root"))
    assert loaded.function.__module__.startswith("b2steering_")
