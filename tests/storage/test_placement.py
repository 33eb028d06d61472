"""The pure placement policy: where a rule's copies go."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from b2grid.storage.placement import FileView, SiteSpace, place, rule_state

SITES = ("KEK", "BNL", "DESY", "SiGNET")


def spaces(**free: int) -> dict[str, SiteSpace]:
    return {s: SiteSpace(s, free.get(s, 10**9)) for s in SITES}


def test_weight_and_free_space_decide() -> None:
    sites = spaces()
    sites["DESY"] = SiteSpace("DESY", 10**9, weight=3.0)
    f = FileView(1, 100, "sub00", {"KEK": "available"})
    plan = place(2, SITES, sites, [f])
    assert {lock.site for lock in plan.locks} == {"KEK", "DESY"}
    small = spaces(DESY=50, BNL=50)
    plan = place(2, SITES, small, [f])
    assert {lock.site for lock in plan.locks} == {"KEK", "SiGNET"}


def test_datablock_files_go_together_and_prefer_held_bytes() -> None:
    files = [
        FileView(1, 100, "sub00", {"BNL": "available"}),
        FileView(2, 100, "sub00", {"BNL": "available", "DESY": "available"}),
        FileView(3, 100, "sub01", {"SiGNET": "available"}),
    ]
    plan = place(2, SITES, spaces(), files)
    assert plan.chosen["sub00"] == ("BNL", "DESY")
    by_file = {}
    for lock in plan.locks:
        by_file.setdefault(lock.file_id, set()).add(
            (lock.site, lock.state, lock.source)
        )
    assert by_file[1] == {("BNL", "OK", None), ("DESY", "REPLICATING", "BNL")}
    assert by_file[2] == {("BNL", "OK", None), ("DESY", "OK", None)}
    assert "SiGNET" in plan.chosen["sub01"]


def test_spoiled_copy_is_replaced_elsewhere_for_that_file_only() -> None:
    files = [
        FileView(
            1,
            100,
            "sub00",
            {"KEK": "available", "BNL": "bad"},
            frozenset({"KEK", "BNL"}),
        ),
        FileView(
            2,
            100,
            "sub00",
            {"KEK": "available", "BNL": "available"},
            frozenset({"KEK", "BNL"}),
        ),
    ]
    plan = place(2, SITES, spaces(), files)
    sites_of = {
        fid: {lk.site for lk in plan.locks if lk.file_id == fid} for fid in (1, 2)
    }
    assert sites_of[2] == {"KEK", "BNL"}
    assert "BNL" not in sites_of[1]
    assert len(sites_of[1]) == 2


def test_shortfalls_say_why() -> None:
    lost = FileView(1, 100, "g", {"KEK": "bad"})
    plan = place(1, SITES, spaces(), [lost])
    assert plan.shortfalls[0].reason == "no available replica to copy from"
    down = {s: SiteSpace(s, 10**9, available=s == "KEK") for s in SITES}
    plan = place(2, SITES, down, [FileView(2, 100, "g", {"KEK": "available"})])
    assert "are up and have room" in plan.shortfalls[0].reason
    assert rule_state(["OK"], shortfall=True) == "STUCK"
    assert rule_state(["OK", "REPLICATING"], shortfall=False) == "REPLICATING"
    assert rule_state(["OK", "OK"], shortfall=False) == "OK"


@given(
    copies=st.integers(1, 4),
    held=st.lists(st.sets(st.sampled_from(SITES)), min_size=1, max_size=6),
    free=st.dictionaries(st.sampled_from(SITES), st.integers(0, 1000)),
)
def test_never_twice_never_over_capacity(
    copies: int, held: list[set[str]], free: dict[str, int]
) -> None:
    sites = {s: SiteSpace(s, free.get(s, 10**6)) for s in SITES}
    files = [
        FileView(i, 100, f"g{i % 2}", dict.fromkeys(h, "available"))
        for i, h in enumerate(held)
    ]
    plan = place(copies, SITES, sites, files)
    seen = set()
    new_bytes: dict[str, int] = {}
    for lock in plan.locks:
        assert (lock.file_id, lock.site) not in seen
        seen.add((lock.file_id, lock.site))
        if lock.source is not None:
            assert lock.source != lock.site
            new_bytes[lock.site] = new_bytes.get(lock.site, 0) + 100
    for site, n in new_bytes.items():
        assert n <= sites[site].free
    for f in files:
        got = sum(1 for lk in plan.locks if lk.file_id == f.file_id)
        short = sum(s.missing for s in plan.shortfalls if s.file_id == f.file_id)
        assert got + short == copies
