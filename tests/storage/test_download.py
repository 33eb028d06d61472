"""Downloads: verified, resumable, failing over from corrupt replicas, honest about
incomplete sets and expired outputs; a project's outputs end to end."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from b2grid.clock import VirtualClock
from b2grid.errors import (
    BadArgument,
    IncompleteDownload,
    OutputsExpired,
    PermissionDenied,
    StorageError,
)
from b2grid.formats import FileMetadata, write_ntuple
from b2grid.grid import Grid
from b2grid.jobs.execution import JobContext
from b2grid.storage.download import (
    FAILED_LIST,
    download,
    local_paths,
    read_failed_list,
)
from b2grid.storage.identity import User
from b2grid.testing import small_grid

LPN = "/belle/user/alice/dlset"


def put_kept(grid: Grid, make_files: Callable[..., list[Path]], n: int) -> list[str]:
    """``n`` files in LPN with their rule's 2 copies made (datablocks of 3)."""
    names = grid.storage.put(make_files(n), LPN, site="KEK")
    grid.storage.run_agents()
    for record in grid.storage.list(LPN):
        assert len(record.available_sites) == 2
    return names


def failing_after(grid: Grid, k: int, exc: BaseException) -> Callable[..., str]:
    """A ``fetch`` that works ``k`` times, then raises ``exc``."""
    real = grid.storage.fetch
    calls = iter(range(10**6))
    lock = threading.Lock()

    def fetch(lfn: str, local: Any) -> str:
        with lock:
            n = next(calls)
        if n >= k:
            raise exc
        return real(lfn, local)

    return fetch


def test_download_lands_verified_in_layout_and_a_rerun_fetches_nothing(
    grid: Grid, make_files: Callable[..., list[Path]], tmp_path: Path
) -> None:
    names = put_kept(grid, make_files, 5)
    dest = tmp_path / "dl1"
    seen: list[tuple[str, int, str]] = []

    class Recorder:
        def start(self, files: int, size: int) -> None:
            seen.append(("start", files, str(size)))

        def advance(self, lfn: str, size: int, outcome: str) -> None:
            seen.append((lfn, size, outcome))

    report = download(grid.storage, LPN, dest, progress=Recorder())
    assert report.status == "complete"
    assert sorted(report.fetched) == sorted(names)
    assert report.skipped == []
    assert report.failed == {}
    assert report.warnings == []
    assert {p.relative_to(dest).as_posix() for p in report.files.values()} == {
        f"sub0{i // 3}/f{i:03d}.root" for i in range(5)
    }
    for record in grid.storage.list(LPN):
        local = report.files[record.lfn]
        site = report.sources[record.lfn]
        with grid.storage.element(site).open(record.lfn) as f:
            assert local.read_bytes() == f.read()
    assert seen[0][:2] == ("start", 5)
    assert sorted(outcome for *_, outcome in seen[1:]) == ["fetched"] * 5
    assert report.bytes_fetched == sum(r.size for r in grid.storage.list(LPN))
    assert not (dest / FAILED_LIST).exists()
    assert "complete, all 5 file(s)" in report.summary()

    again = download(grid.storage, LPN, dest)
    assert again.fetched == []
    assert sorted(again.skipped) == sorted(names)
    assert again.complete

    # a local copy that went bad is fetched again, not trusted
    broken = report.files[names[1]]
    broken.write_bytes(b"\0" * broken.stat().st_size)
    third = download(grid.storage, LPN, dest)
    assert third.fetched == [names[1]]
    assert len(third.skipped) == 4


def test_an_interrupted_download_resumes_with_only_the_rest(
    grid: Grid,
    make_files: Callable[..., list[Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = put_kept(grid, make_files, 6)
    dest = tmp_path / "dl2"
    monkeypatch.setattr(
        grid.storage, "fetch", failing_after(grid, 2, KeyboardInterrupt())
    )
    with pytest.raises(KeyboardInterrupt):
        download(grid.storage, LPN, dest, workers=1)
    rest = read_failed_list(dest / FAILED_LIST)
    assert rest == sorted(names)[2:], "what did not finish is in the failed list"
    monkeypatch.undo()

    resumed = download(grid.storage, LPN, dest, only=rest)
    assert sorted(resumed.fetched) == rest
    assert resumed.skipped == []
    assert resumed.complete
    assert not (dest / FAILED_LIST).exists()
    final = download(grid.storage, LPN, dest)
    assert final.fetched == []
    assert len(final.skipped) == 6


def test_failed_files_are_listed_and_a_rerun_takes_the_list(
    grid: Grid,
    make_files: Callable[..., list[Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    names = put_kept(grid, make_files, 5)
    dest = tmp_path / "dl3"
    monkeypatch.setattr(
        grid.storage, "fetch", failing_after(grid, 3, StorageError("SE timed out"))
    )
    first = download(grid.storage, LPN, dest, workers=1)
    assert first.status == "incomplete"
    assert len(first.fetched) == 3
    assert sorted(first.failed) == sorted(names)[3:]
    assert set(first.failed.values()) == {"SE timed out"}
    assert "INCOMPLETE" in first.summary()
    assert "complete, all" not in first.summary()
    monkeypatch.undo()

    listed = read_failed_list(dest / FAILED_LIST)
    retry = download(grid.storage, LPN, dest, only=listed)
    assert sorted(retry.fetched) == listed
    assert retry.complete

    # a list naming files of another set, and a set with files never fetched
    other = tmp_path / "dl3b"
    partial = download(grid.storage, LPN, other, only=[names[0], "/belle/user/x/y"])
    assert partial.fetched == [names[0]]
    assert list(partial.failed) == ["/belle/user/x/y"]
    assert any("not asked for this time" in m for m in partial.missing)
    assert not partial.complete


def test_a_corrupt_replica_is_caught_marked_bad_and_another_taken(
    grid: Grid, make_files: Callable[..., list[Path]], tmp_path: Path
) -> None:
    names = put_kept(grid, make_files, 3)
    victim = grid.storage.catalog.file(names[0])
    first_site = victim.available_sites[0]  # the replica fetch tries first
    se_path = Path(grid.storage.element(first_site).path_for(names[0]))
    good = se_path.read_bytes()
    se_path.write_bytes(bytes(b ^ 0xFF for b in good))

    report = download(grid.storage, LPN, tmp_path / "dl4")
    assert report.complete
    assert report.sources[names[0]] != first_site
    assert report.files[names[0]].read_bytes() == good
    states = {r.site: r.state for r in grid.storage.catalog.file(names[0]).replicas}
    assert states[first_site] == "bad"
    grid.storage.run_agents()  # the repairer replaces the bad copy


def test_a_set_with_a_file_without_any_good_replica_is_refused_as_complete(
    grid: Grid, make_files: Callable[..., list[Path]], tmp_path: Path
) -> None:
    names = put_kept(grid, make_files, 4)
    for site in grid.storage.catalog.file(names[2]).available_sites:
        grid.storage.declare_bad(names[2], site, "test: bad disk")
    dest = tmp_path / "dl5"
    report = download(grid.storage, LPN, dest)
    assert report.status == "incomplete"
    assert sorted(report.fetched) == sorted(n for n in names if n != names[2])
    assert list(report.failed) == [names[2]]
    assert "no good replica" in report.failed[names[2]]
    assert read_failed_list(dest / FAILED_LIST) == [names[2]]
    assert "INCOMPLETE" in repr(report)


def test_outputs_warn_before_they_expire_and_say_so_clearly_after(
    grid: Grid,
    make_files: Callable[..., list[Path]],
    tmp_path: Path,
    clock: VirtualClock,
) -> None:
    names = put_kept(grid, make_files, 2)  # user data: 2 copies for 90 days
    dest = tmp_path / "dl6"
    assert download(grid.storage, LPN, dest).warnings == []

    clock.advance(days=80)
    soon = download(grid.storage, LPN, dest)
    assert soon.complete
    assert len(soon.warnings) == 1
    assert "expire on 2026-04-01 (in 10.0 days)" in soon.warnings[0]

    now = clock.advance(days=11)
    grid.storage.run_agents(now)
    for name in names:
        assert grid.storage.catalog.file(name).state == "deleted"
    with pytest.raises(OutputsExpired) as info:
        download(grid.storage, LPN, tmp_path / "dl6b")
    message = str(info.value)
    assert f"outputs of {LPN} expired on 2026-04-02 (90-day lifetime)" in message
    assert "rerun the project" in message
    assert isinstance(info.value, LookupError)


# ----------------------------------------------------------------- a project


def ntuple_job(ctx: JobContext) -> None:
    """Write a small ntuple; the job with ``fail_first`` fails its first attempt."""
    if ctx.kwargs.get("fail_first") and ctx.attempt == 1:
        raise RuntimeError("first attempt fails on purpose")
    rows = 10 + ctx.kwargs["index"]
    meta = FileMetadata(level="ntuple", experiment=0, run=0, is_mc=True)
    columns = {
        "x": np.linspace(0.0, 1.0, rows),
        "job": np.full(rows, ctx.kwargs["index"], dtype=np.int32),
    }
    write_ntuple(ctx.output("ntuple.root"), columns, meta)


def test_a_project_downloads_reads_extends_and_expires(tmp_path: Path) -> None:
    clock = VirtualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    with small_grid(tmp_path / "home", clock=clock, user=User("alice")) as grid:
        grid.jobs.heartbeat_interval = 0.5
        grid.agent_interval = 0.2
        kwargs = [{"index": i, "fail_first": i == 1} for i in range(3)]
        project = grid.submit(
            ntuple_job,
            project="dlproj",
            n_jobs=3,
            outputs=["ntuple.root"],
            kwargs=kwargs,
        )
        assert project.wait(timeout=60) == "Failed"
        dest = tmp_path / "pdl"
        partial = project.download(dest)
        assert partial.status == "incomplete"
        assert (
            "1 of 3 jobs of project dlproj are not Done (1 Failed)"
            in (partial.missing[0])
        )
        assert "b2grid job reschedule -p dlproj" in partial.missing[0]
        with pytest.raises(IncompleteDownload):
            project.to_awkward(tmp_path / "elsewhere")

        assert project.reschedule().count == 1
        assert project.wait(timeout=60) == "Done"
        assert len(project.outputs()) == 3, "one output per job, rescheduled or not"
        report = project.download(dest)
        assert report.complete
        assert len(report.skipped) == 2
        assert len(report.fetched) == 1
        rows = project.to_awkward(dest)
        assert len(rows) == 10 + 11 + 12
        assert sorted(set(rows.job.tolist())) == [0, 1, 2]
        try:
            import pandas  # noqa: F401
        except ImportError:
            with pytest.raises(ImportError, match="pip install pandas"):
                project.to_pandas(dest)
        else:
            assert len(project.to_pandas(dest)) == 33

        grid.storage.run_agents()  # the rule's second copies
        start = project.expires()
        assert start is not None
        assert start.date().isoformat() == "2026-04-01"  # 90 grid days
        clock.advance(days=85)
        assert "project extend dlproj --days N" in project.download(dest).warnings[0]
        until = project.extend(30)
        assert until == start + timedelta(days=30)
        assert project.download(dest).warnings == []
        now = clock.advance(days=20)  # past the original 90 days
        grid.storage.run_agents(now)
        kept = project.download(tmp_path / "pdl2")
        assert kept.complete
        assert len(kept.fetched) == 3

        intruder = Grid(grid.config, clock=clock, user=User("bob"))
        try:
            with pytest.raises(PermissionDenied, match="belongs to alice"):
                intruder.project("dlproj", "alice").extend(10)
        finally:
            intruder.close()

        now = clock.advance(days=30)  # past the extended end
        grid.storage.run_agents(now)
        with pytest.raises(OutputsExpired, match="the outputs of project dlproj"):
            project.download(tmp_path / "pdl3")
        with pytest.raises(StorageError, match="no rule with a lifetime"):
            project.extend(10)


def test_a_destination_that_cannot_take_files_is_refused_before_fetching(tmp_path):
    from b2grid.errors import StorageError
    from b2grid.storage.download import download
    from b2grid.testing import offline_grid

    grid = offline_grid(tmp_path / "home")
    local = tmp_path / "f.root"
    local.write_bytes(b"x" * 100)
    lpn = f"/belle/user/{grid.user.name}/unwritable"
    grid.storage.put([local], lpn, site="KEK", copies=1, expression="KEK")
    with pytest.raises(StorageError, match="not writable"):
        download(grid.storage, lpn, local / "inside-a-file")


def test_bad_arguments_raise_b2grid_errors_naming_them(
    grid: Grid, make_files: Callable[..., list[Path]], tmp_path: Path
) -> None:
    """These raised a plain ValueError, which the CLI shows as a traceback."""
    put_kept(grid, make_files, 1)
    for workers in (0, -1, 1.5):
        with pytest.raises(BadArgument, match=r"^workers: .* whole number >= 1"):
            download(grid.storage, LPN, tmp_path / "out", workers=workers)  # type: ignore[arg-type]
    with pytest.raises(BadArgument, match=r"^lfn_list: /belle/x/f is not under"):
        local_paths(["/belle/x/f"], LPN, tmp_path / "out")
    grid.jobs.submit(sum, project="argsproj", n_jobs=1)
    project = grid.project("argsproj")
    for days in (0, -3, float("nan")):
        with pytest.raises(BadArgument, match=r"^days: .* is not a positive number"):
            project.extend(days)
    with pytest.raises(BadArgument, match=r"^days: .* longer than a date can hold"):
        project.extend(1e12)
    with pytest.raises(BadArgument, match=r"^workers: "):
        project.download(tmp_path / "out", workers=0)
