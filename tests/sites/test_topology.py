"""The pure site layer: transitions, placement checks, reconciliation."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b2grid.errors import SiteBanned, SiteDown, SiteError, UnknownSite
from b2grid.sites.topology import (
    SiteAction,
    SiteStatus,
    Topology,
    reconcile,
    resource_name,
    site_of_resources,
    transition,
)
from b2grid.testing import small_config

VERBS = ("ban", "unban", "down", "up")


@pytest.fixture
def topology(tmp_path: Path) -> Topology:
    return Topology.from_config(small_config(tmp_path))


def test_from_config(topology: Topology, tmp_path: Path) -> None:
    assert topology.names == ("KEK", "BNL", "DESY", "SiGNET")
    kek = topology.site("KEK")
    assert (kek.kind, kek.slots, kek.status) == (
        "raw_data_centre",
        2,
        SiteStatus.ACTIVE,
    )
    assert kek.se_url == f"file://{tmp_path}/se/KEK"
    assert kek.resource == "site-KEK"


def test_transitions() -> None:
    A, B, D = SiteStatus.ACTIVE, SiteStatus.BANNED, SiteStatus.DOWN
    assert transition("X", A, "ban") is B
    assert transition("X", B, "ban") is B
    assert transition("X", B, "unban") is A
    assert transition("X", A, "down") is D
    assert transition("X", B, "down") is D
    assert transition("X", D, "up") is A
    assert transition("X", B, "up") is B  # up does not unban
    for verb in ("ban", "unban"):
        with pytest.raises(SiteError, match="is down; bring it up"):
            transition("X", D, verb)  # type: ignore[arg-type]


@given(st.lists(st.sampled_from(VERBS), max_size=30))
def test_any_verb_sequence_keeps_a_valid_status(verbs: list[str]) -> None:
    status = SiteStatus.ACTIVE
    for verb in verbs:
        try:
            new = transition("X", status, verb)  # type: ignore[arg-type]
        except SiteError:
            assert status is SiteStatus.DOWN
            assert verb in ("ban", "unban")
            continue
        if verb == "down":
            assert new is SiteStatus.DOWN
        if verb == "up":
            assert new is not SiteStatus.DOWN
        status = new


def test_placement_rules(topology: Topology) -> None:
    t = topology.apply("BNL", "ban").apply("DESY", "down")
    assert t.check_placement("KEK").name == "KEK"
    with pytest.raises(SiteBanned, match="'BNL' is banned"):
        t.check_placement("BNL")
    assert t.check_placement("DESY").status is SiteStatus.DOWN  # it waits
    with pytest.raises(SiteDown, match="'DESY' is down"):
        t.check_placement("DESY", wait_if_down=False)
    with pytest.raises(UnknownSite, match="known sites: BNL, DESY, KEK, SiGNET"):
        t.check_placement("Zeuthen")
    assert topology.site("BNL").status is SiteStatus.ACTIVE  # immutable


def test_reconcile(topology: Topology) -> None:
    t = topology.apply("BNL", "down").apply("DESY", "ban")
    actions = reconcile(t, live={"KEK", "BNL"})
    assert actions == [
        SiteAction("stop", "BNL"),
        SiteAction("start", "DESY"),  # banned sites keep their workers
        SiteAction("start", "SiGNET"),
    ]
    assert reconcile(t, live={"KEK", "DESY", "SiGNET"}) == []


def test_resources() -> None:
    assert resource_name("GridKa") == "site-GridKa"
    assert site_of_resources({"site-GridKa": 2.0, "GPU": 1}) == "GridKa"
    assert site_of_resources({"GPU": 1}) is None
