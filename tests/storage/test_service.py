"""Data management end to end on an offline grid: put, rules, agents, repairs."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from b2grid.clock import VirtualClock
from b2grid.errors import (
    BadArgument,
    BadLFN,
    ChecksumMismatch,
    DuplicateFiles,
    LocalFileError,
    NameReused,
    NotController,
    NotRegistered,
    PermissionDenied,
    RuleError,
    SiteExpressionError,
    StorageFull,
    UnknownSite,
)
from b2grid.grid import Grid
from b2grid.storage.element import StorageElement
from b2grid.storage.identity import User
from b2grid.storage.records import BAD, FILE_LOST
from b2grid.storage.schema import names as name_table

MakeFiles = Callable[..., list[Path]]

LPN = "/belle/user/alice/proj"


def sites_of(grid: Grid, lfn: str) -> set[str]:
    return set(grid.storage.catalog.file(lfn).available_sites)


def test_put_makes_datablocks_and_two_copies(grid: Grid, make_files: MakeFiles) -> None:
    names = grid.storage.put(make_files(5), LPN)
    assert names[:3] == [f"{LPN}/sub00/f00{i}.root" for i in range(3)]
    assert names[3:] == [f"{LPN}/sub01/f00{i}.root" for i in (3, 4)]
    ds = grid.storage.catalog.dataset(LPN)
    assert ds.datablocks == (f"{LPN}/sub00", f"{LPN}/sub01")
    assert (ds.nfiles, ds.owner) == (5, "alice")
    [rule] = grid.storage.rules.rules(LPN)
    assert (rule.copies, rule.state) == (2, "REPLICATING")
    assert rule.expires == "2026-04-01T00:00:00.000000+00:00"  # 90 days
    report = grid.storage.run_agents()
    assert len(report.conveyor.done) == 5
    assert grid.storage.rules.rule(rule.rule_id).state == "OK"
    for name in names:
        assert len(sites_of(grid, name)) == 2
    # a datablock's files are placed together
    for block in ds.datablocks:
        assert (
            len({frozenset(sites_of(grid, f.lfn)) for f in grid.storage.list(block)})
            == 1
        )


def test_bytes_on_the_storage_elements_match(grid: Grid, make_files: MakeFiles) -> None:
    [local] = make_files(1, size=50_000)
    [name] = grid.storage.put([local], LPN)
    grid.storage.run_agents()
    for site in sites_of(grid, name):
        with grid.storage.element(site).open(name) as f:
            assert f.read() == local.read_bytes()


def test_names_are_never_reused(grid: Grid, make_files: MakeFiles) -> None:
    files = make_files(2)
    grid.storage.put(files[:1], LPN)
    with pytest.raises(DuplicateFiles, match="already holds"):
        grid.storage.put(files[:1], LPN)
    assert grid.storage.remove(LPN) == 1
    with pytest.raises(NameReused, match="was used before and deleted"):
        grid.storage.put(files[:1], LPN)
    with pytest.raises(NameReused, match=f"{LPN} was used before"):
        grid.storage.put(files[1:], LPN)  # the dataset name itself is spent


def reserved(grid: Grid, prefix: str) -> list[str]:
    """Every name the catalog holds at or under ``prefix``."""
    with grid.storage.catalog.reading() as conn:
        rows = conn.execute(select(name_table.c.name).order_by(name_table.c.name))
        return [n for n in rows.scalars() if n == prefix or n.startswith(prefix + "/")]


def on_every_se(grid: Grid, prefix: str) -> list[str]:
    """The files (and write temporaries) under ``prefix`` on every site's SE."""
    out = []
    for site in grid.config.site_names:
        se = grid.storage.element(site)
        out += [f"{site}:{e.lfn}" for e in se.list(prefix)]
        out += [f"{site}:{e.path}" for e in se.list_partial(prefix)]
    return sorted(out)


def test_files_a_dataset_holds_are_refused_unless_duplicates_are_allowed(
    grid: Grid, make_files: MakeFiles, tmp_path: Path
) -> None:
    files = make_files(2)
    names = grid.storage.put(files, LPN)
    before = reserved(grid, LPN), on_every_se(grid, LPN)
    with pytest.raises(DuplicateFiles) as again:
        grid.storage.put(files, LPN)
    assert isinstance(again.value, FileExistsError)
    message = str(again.value)
    assert f"dataset {LPN} already holds 2 of the file(s)" in message
    assert f"{files[0]} (same name as {names[0]})" in message
    assert f"{files[1]} (same name as {names[1]})" in message
    assert "nothing was uploaded" in message
    assert "--allow-duplicates (allow_duplicates=True)" in message
    # the same bytes under another name count too
    renamed = tmp_path / "renamed.root"
    shutil.copy(files[1], renamed)
    with pytest.raises(
        DuplicateFiles, match=rf"renamed\.root \(same size and adler32 as {names[1]}\)"
    ):
        grid.storage.put([renamed], LPN)
    assert (reserved(grid, LPN), on_every_se(grid, LPN)) == before, "nothing written"
    assert grid.storage.catalog.dataset(LPN).nfiles == 2
    # so does one file given twice, even to a new dataset
    fresh = f"{LPN}-2"
    with pytest.raises(DuplicateFiles, match="also given"):
        grid.storage.put([renamed, renamed], fresh)
    assert reserved(grid, fresh) == []
    # asked for: the names go to a datablock of their own, the events count twice
    added = grid.storage.put(files, LPN, allow_duplicates=True)
    assert added == [f"{LPN}/sub01/f000.root", f"{LPN}/sub01/f001.root"]
    assert grid.storage.catalog.dataset(LPN).nfiles == 4


@pytest.mark.parametrize(
    "failure",
    [
        KeyboardInterrupt(),
        ChecksumMismatch("(the 5th file)", "SE KEK", "00000001", "00000002"),
        LocalFileError("(the 5th file)", "Permission denied"),
    ],
    ids=["interrupted", "checksum", "unreadable"],
)
def test_an_upload_failing_part_way_gives_back_its_names_and_copies(
    grid: Grid,
    make_files: MakeFiles,
    monkeypatch: pytest.MonkeyPatch,
    failure: BaseException,
) -> None:
    first = grid.storage.put(make_files(2, prefix="old"), LPN)  # sub00: 2 of 3
    before = reserved(grid, LPN), on_every_se(grid, LPN)
    files = make_files(8)  # the rest of sub00, then sub01 .. sub03
    real = StorageElement.put
    calls: list[str] = []

    def put_failing_at_the_fifth(
        self: StorageElement, lfn: str, *a: Any, **kw: Any
    ) -> Any:
        calls.append(lfn)
        if len(calls) == 5:
            raise failure
        return real(self, lfn, *a, **kw)

    monkeypatch.setattr(StorageElement, "put", put_failing_at_the_fifth)
    with pytest.raises(type(failure)):
        grid.storage.put(files, LPN)
    monkeypatch.setattr(StorageElement, "put", real)
    assert len(calls) == 5, "four copied, the fifth failed"
    assert reserved(grid, LPN) == before[0], "no reserved name left dangling"
    assert on_every_se(grid, LPN) == before[1], "no copy left on any SE"
    assert [f.lfn for f in grid.storage.list(LPN)] == first

    retried = grid.storage.put(files, LPN)
    assert retried == [f"{LPN}/sub00/f000.root"] + [
        f"{LPN}/sub{1 + i // 3:02d}/f{i + 1:03d}.root" for i in range(7)
    ]
    assert grid.storage.catalog.dataset(LPN).datablocks == tuple(
        f"{LPN}/sub{i:02d}" for i in range(4)
    )


def test_a_first_upload_failing_gives_back_the_dataset_name(
    grid: Grid, make_files: MakeFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = make_files(7)
    real = StorageElement.put
    calls = iter(range(100))

    def put(self: StorageElement, lfn: str, *a: Any, **kw: Any) -> Any:
        if next(calls) == 6:
            raise KeyboardInterrupt
        return real(self, lfn, *a, **kw)

    monkeypatch.setattr(StorageElement, "put", put)
    with pytest.raises(KeyboardInterrupt):
        grid.storage.put(files, LPN)
    monkeypatch.setattr(StorageElement, "put", real)
    assert reserved(grid, LPN) == []
    assert on_every_se(grid, LPN) == []
    assert not grid.storage.catalog.name_used(LPN)
    assert grid.storage.rules.rules(target=LPN) == []
    names = grid.storage.put(files, LPN)
    assert names[0] == f"{LPN}/sub00/f000.root"
    assert names[-1] == f"{LPN}/sub02/f006.root"


def test_permissions(grid: Grid, make_files: MakeFiles, clock: VirtualClock) -> None:
    files = make_files(1)
    with pytest.raises(PermissionDenied, match="may not write /belle/user/bob"):
        grid.storage.put(files, "/belle/user/bob/proj")
    official = (
        "/belle/MC/release-06-00-08/DB00002058/MC15ri_b/prod00024816/s00/e1003/4S/"
        "r00000/mixed/mdst"
    )
    with pytest.raises(PermissionDenied, match="/belle/user/alice/"):
        grid.storage.put(files, official)
    assert not grid.storage.catalog.name_used(official)
    production = Grid(
        grid.config, clock=clock, user=User("prod", frozenset({"production"}))
    )
    production.storage.put(files, official)
    assert grid.storage.catalog.dataset(official).nfiles == 1
    with pytest.raises(PermissionDenied):
        grid.storage.remove(official)
    production.close()


def test_bad_input_registers_nothing(
    grid: Grid, make_files: MakeFiles, tmp_path: Path
) -> None:
    good = make_files(1)
    with pytest.raises(LocalFileError, match=r"nope\.root: does not exist"):
        grid.storage.put([*good, tmp_path / "nope.root"], LPN)
    with pytest.raises(BadLFN, match=r"'\.\.'"):
        grid.storage.put(good, "/belle/user/alice/../bob")
    with pytest.raises(SiteExpressionError, match="unknown site 'KEKK'"):
        grid.storage.put(good, LPN, expression="KEKK|DESY")
    with pytest.raises(SiteExpressionError, match="matches no site"):
        grid.storage.put(good, LPN, expression="country=FR")
    with pytest.raises(UnknownSite, match="known sites"):
        grid.storage.put(good, LPN, site="Zeuthen")
    assert not grid.storage.catalog.name_used(LPN)
    grid.storage.put(good, LPN)
    with pytest.raises(
        RuleError, match=r"asks 3 copies but .* matches only 2 site\(s\): BNL, DESY"
    ):
        grid.storage.add_rule(LPN, 3, "kind=raw_data_centre\\KEK")
    with pytest.raises(
        NotRegistered, match="no dataset, datablock or file /belle/user/alice/x"
    ):
        grid.storage.add_rule("/belle/user/alice/x", 1, "*")


def test_copies_lifetimes_and_event_counts_are_refused_at_the_edge(
    grid: Grid, make_files: MakeFiles
) -> None:
    """`--lifetime-days -5` was kept (the rule expired at once and the reaper
    deleted the upload); `--copies 0` became the policy's 2."""
    good = make_files(2)
    refused = [
        ({"lifetime": timedelta(days=-5)}, "lifetime", "-5 days is not a lifetime"),
        ({"lifetime": timedelta(0)}, "lifetime", "0 days is not a lifetime"),
        ({"copies": 0}, "copies", "0 is not a number of copies"),
        ({"copies": -1}, "copies", "-1 is not a number of copies"),
        ({"events": [10]}, "events", "1 event counts for 2 files"),
    ]
    for kwargs, field, message in refused:
        with pytest.raises(BadArgument, match=f"^{field}: {message}") as info:
            grid.storage.put(good, LPN, **kwargs)  # type: ignore[arg-type]
        assert info.value.field == field
        assert info.value.exit_code == 2
    assert not grid.storage.catalog.name_used(LPN)  # nothing was uploaded
    grid.storage.put(good, LPN, copies=1)
    [rule] = grid.storage.rules.rules(LPN)
    assert rule.copies == 1
    for args, lifetime, field in [
        ((0, "*"), None, "copies"),
        ((-2, "*"), None, "copies"),
        ((1, "*"), timedelta(days=-1), "lifetime"),
        ((1, "*"), timedelta(seconds=-1), "lifetime"),
    ]:
        with pytest.raises(BadArgument, match=f"^{field}: ") as info:
            grid.storage.add_rule(LPN, *args, lifetime=lifetime)  # type: ignore[arg-type]
        assert info.value.field == field
    assert len(grid.storage.rules.rules(LPN)) == 1
    assert isinstance(BadArgument("copies", "x"), ValueError)


def test_a_grid_that_is_not_the_controller_runs_no_agents(
    grid: Grid, clock: VirtualClock
) -> None:
    """The offline harness stands in for the controller; another grid on the same
    home is a plain user's, whose agent passes could expire everybody's rules."""
    other = Grid(grid.config, clock=clock, user=User("bob"))
    try:
        with pytest.raises(NotController, match="storage agents run in the controller"):
            other.storage.run_agents(clock.now() + timedelta(days=365))
    finally:
        other.close()
    grid.storage.run_agents()


def test_full_storage_element(
    tmp_path: Path, make_files: MakeFiles, clock: VirtualClock
) -> None:
    from b2grid.testing import offline_grid

    g = offline_grid(tmp_path / "h2", clock=clock, user=User("alice"), capacity="5 KB")
    big = make_files(1, size=8000)
    with pytest.raises(StorageFull, match="8000 bytes needed"):
        g.storage.put(big, LPN, site="KEK")
    with pytest.raises(StorageFull):
        g.storage.put(big, LPN)
    assert not any(
        g.storage.element(s).exists(f"{LPN}/sub00/f000.root")
        for s in g.config.site_names
    )
    g.close()


def test_expiry_and_reaper(
    grid: Grid, make_files: MakeFiles, clock: VirtualClock
) -> None:
    user_files = grid.storage.put(make_files(2), LPN)
    kept = grid.storage.put(make_files(1, prefix="keep"), "/belle/user/alice/keep")
    grid.storage.add_rule("/belle/user/alice/keep", 1, "KEK")  # no lifetime
    grid.storage.run_agents()
    clock.advance(days=89)
    report = grid.storage.run_agents()
    assert report.reaper.freed == 0
    clock.advance(days=2)
    report = grid.storage.run_agents()
    assert report.expiry.expired_rules
    deleted = [lfn for lfns in report.reaper.deleted.values() for lfn in lfns]
    assert sorted(set(deleted)) == sorted(user_files + kept) or set(user_files) <= set(
        deleted
    )
    for name in user_files:
        with pytest.raises(NotRegistered):
            grid.storage.list(name)
        assert grid.storage.catalog.file(name).state == "deleted"
        assert not any(
            grid.storage.element(s).exists(name) for s in grid.config.site_names
        )
    # the locked copy at KEK stays; only the expired rule's extra copy went
    assert sites_of(grid, kept[0]) == {"KEK"}
    assert grid.storage.element("KEK").exists(kept[0])


def test_reaper_never_deletes_locked_or_last(grid: Grid, make_files: MakeFiles) -> None:
    [name] = grid.storage.put(make_files(1), LPN)
    grid.storage.run_agents()
    report = grid.storage.reaper.run_once(grid.clock.now() + timedelta(days=1000))
    assert report.deleted == {}
    assert len(sites_of(grid, name)) == 2


def test_corruption_caught_at_transfer_and_healed(
    grid: Grid, make_files: MakeFiles
) -> None:
    [name] = grid.storage.put(make_files(1), LPN, site="KEK")
    path = Path(grid.storage.element("KEK").path_for(name))
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    report = grid.storage.run_agents()
    assert report.conveyor.corrupt_sources == [(name, "KEK")]
    record = grid.storage.catalog.file(name)
    assert {r.site: r.state for r in record.replicas}["KEK"] == BAD
    # no good copy anywhere: the file is LOST, reported, never silently dropped
    report = grid.storage.run_agents()
    assert report.repair.lost == [name]
    assert grid.storage.catalog.file(name).state == FILE_LOST


def test_corruption_caught_at_read_and_download_and_healed(
    grid: Grid, make_files: MakeFiles, tmp_path: Path
) -> None:
    [name] = grid.storage.put(make_files(1), LPN)
    grid.storage.run_agents()
    first, second = sorted(sites_of(grid, name))
    for site in (first,):
        path = Path(grid.storage.element(site).path_for(name))
        path.write_bytes(b"garbage" + path.read_bytes()[7:])
    from b2grid.errors import ChecksumMismatch

    with pytest.raises(ChecksumMismatch, match="job read"):
        grid.storage.read_verified(name, first)
    assert {r.site: r.state for r in grid.storage.catalog.file(name).replicas}[
        first
    ] == BAD
    report = grid.storage.run_agents()  # heals: a new copy elsewhere, bad one removed
    assert sites_of(grid, name) == {second} | set(
        report.conveyor.done and [d.split(" -> ")[1] for d in report.conveyor.done]
    )
    assert len(sites_of(grid, name)) == 2
    # download: a corrupt replica is skipped and marked bad, a good one is used
    third = next(s for s in sites_of(grid, name) if s != second)
    path = Path(grid.storage.element(third).path_for(name))
    path.write_bytes(b"X" + path.read_bytes()[1:])
    out = tmp_path / "download.root"
    came_from = grid.storage.fetch(name, out)
    assert (
        out.read_bytes()
        == Path(grid.storage.element(came_from).path_for(name)).read_bytes()
    )
    grid.storage.run_agents()
    assert len(sites_of(grid, name)) == 2


def test_losing_a_site_restores_copies_in_one_cycle(
    grid: Grid, make_files: MakeFiles
) -> None:
    names = grid.storage.put(make_files(4), LPN)
    only_here = grid.storage.put(
        make_files(1, prefix="solo"),
        "/belle/user/alice/solo",
        copies=1,
        expression="SiGNET",
    )
    grid.storage.run_agents()
    lost_site = next(iter(sites_of(grid, names[0])))
    before = {n: sites_of(grid, n) for n in names}
    assert grid.storage.lose_site(lost_site) > 0
    report = grid.storage.run_agents()
    for n in names:
        after = sites_of(grid, n)
        assert len(after) == 2, n
        assert lost_site not in after
        assert before[n] - {lost_site} <= after
    if lost_site == "SiGNET":
        assert report.repair.lost == only_here
    for rule in grid.storage.rules.rules(LPN):
        assert rule.state == "OK"


def test_file_whose_only_replica_was_lost_is_reported(
    grid: Grid, make_files: MakeFiles
) -> None:
    solo = grid.storage.put(
        make_files(2), "/belle/user/alice/solo", copies=1, expression="SiGNET"
    )
    grid.storage.run_agents()
    grid.storage.lose_site("SiGNET")
    report = grid.storage.run_agents()
    assert sorted(report.repair.lost) == solo
    for name in solo:
        record = grid.storage.catalog.file(name)
        assert record.state == FILE_LOST
        assert record.datablock is None  # detached from its dataset
    assert grid.storage.catalog.dataset("/belle/user/alice/solo").nfiles == 0


def test_stuck_transfer_retried_with_back_off(
    grid: Grid, make_files: MakeFiles, clock: VirtualClock
) -> None:
    [name] = grid.storage.put(make_files(1), LPN, site="KEK")
    path = Path(grid.storage.element("KEK").path_for(name))
    saved = path.read_bytes()
    path.unlink()  # the source vanished (a broken disk)
    for _ in range(3):
        grid.storage.conveyor.run_once(clock.now())
    [rule] = grid.storage.rules.rules(LPN)
    assert rule.state == "STUCK"
    assert rule.error is not None
    assert "FileNotFoundError" in rule.error or "No such file" in rule.error
    path.write_bytes(saved)  # the disk is back
    assert grid.storage.conveyor.run_once(clock.now()).submitted == 0  # backing off
    clock.advance(minutes=11)
    assert grid.storage.conveyor.run_once(clock.now()).done
    assert grid.storage.rules.rule(rule.rule_id).state == "OK"


def test_replicate_and_rule_listing(grid: Grid, make_files: MakeFiles) -> None:
    grid.storage.put(make_files(2), LPN, copies=1, expression="KEK")
    grid.storage.run_agents()
    rule_id = grid.storage.replicate(LPN, "DESY")
    grid.storage.run_agents()
    assert grid.storage.rules.rule(rule_id).state == "OK"
    for f in grid.storage.list(LPN):
        assert set(f.available_sites) == {"KEK", "DESY"}
    assert [r.rule_id for r in grid.storage.rules.rules(LPN)][-1] == rule_id
    grid.storage.delete_rule(rule_id)
    clock_now = grid.clock.now()
    report = grid.storage.reaper.run_once(clock_now)
    assert sorted(report.deleted) == ["DESY"]


def test_auditor_dark_and_lost(grid: Grid, make_files: MakeFiles) -> None:
    names = grid.storage.put(make_files(2), LPN)
    grid.storage.run_agents()
    site = next(iter(sites_of(grid, names[0])))
    se = grid.storage.element(site)
    se.put_bytes("/belle/user/alice/dark/file.root", b"nobody knows me")
    Path(se.path_for(names[0])).unlink()
    report = grid.storage.audit(site)
    assert report.dark == ["/belle/user/alice/dark/file.root"]
    assert report.lost == [names[0]]
    grid.storage.run_agents()  # the lost replica is healed from the other copy
    assert len(sites_of(grid, names[0])) == 2
    assert grid.storage.audit(site, fix_dark=True).dark == [
        "/belle/user/alice/dark/file.root"
    ]
    assert grid.storage.audit(site).dark == []
