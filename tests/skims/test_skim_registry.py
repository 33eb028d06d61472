"""The skim registry: codes, names, working groups, look-ups and their errors."""

from __future__ import annotations

import pickle

import awkward as ak
import pytest

from b2grid.analysis import Analysis
from b2grid.errors import AnalysisError, UnknownSkim
from b2grid.skims import SKIMS, by_working_group, decode, encode, get, registry

REQUIRED = {
    "14140101": "BtoD0h_Kpi",
    "11160200": "SLUntagged",
    "10601300": "SystematicsCombinedHadronic",
    "17240100": "DstToD0Pi_D0ToHpJm",
    "18570600": "TauGeneric",
    "16460200": "CharmoniumPsi",
}
GENERAL = {"hadron", "HadronB1", "HadronB2", "mumu", "bhabha", "tau"}


def test_registry_holds_the_required_skims_across_working_groups() -> None:
    for code, name in REQUIRED.items():
        assert get(code).name == name
        assert encode(name) == code
        assert decode(code) == name
    physics = [s for s in SKIMS.values() if not s.is_general]
    assert len(physics) >= 12
    assert len({s.working_group for s in physics}) >= 6
    assert {s.name for s in SKIMS.values() if s.is_general} == GENERAL


def test_codes_follow_the_working_group_prefixes() -> None:
    groups = {
        "10": "systematics", "11": "semileptonic", "12": "ewp", "13": "tdcpv",
        "14": "btocharm", "16": "quarkonium", "17": "charm", "18": "dark",
        "19": "charmless", "00": "general",
    }  # fmt: skip
    for s in SKIMS.values():
        assert len(s.code) == 8
        assert s.code.isdigit()
        assert s.working_group == groups[s.code[:2]]
        assert s.udst_name == f"{s.code}.udst.root"
        # a role, never a person's name
        assert "WG" in s.contact or "coordinator" in s.contact
    assert get("TauGeneric").working_group_title.startswith("Dark sector, tau")


def test_every_name_and_code_round_trips() -> None:
    for code, s in SKIMS.items():
        assert decode(encode(s.name)) == s.name
        assert get(code) is get(s.name) is s
        assert get(f"  {code} ") is s


@pytest.mark.parametrize(
    ("asked", "hint"),
    [
        ("BtoD0h_kpi", "did you mean 'BtoD0h_Kpi'"),
        ("1414010", "did you mean '14140101'"),
    ],
)
def test_unknown_skim_names_near_misses(asked: str, hint: str) -> None:
    with pytest.raises(UnknownSkim) as info:
        get(asked)
    assert hint in str(info.value)
    assert "b2grid skim list" in str(info.value)
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, AnalysisError)
    assert info.value.skim == asked
    copy = pickle.loads(pickle.dumps(info.value))  # noqa: S301 - our own bytes
    assert str(copy) == str(info.value)
    with pytest.raises(UnknownSkim):
        encode("14140101")  # a code is not a name
    with pytest.raises(UnknownSkim):
        decode("BtoD0h_Kpi")


def test_working_group_filter() -> None:
    assert {s.name for s in by_working_group("tau")} >= {"TauGeneric"}
    assert {s.working_group for s in by_working_group("charm")} == {"charm"}
    assert {s.code[:2] for s in by_working_group("btocharm")} == {"14"}
    assert len(by_working_group(None)) == len(SKIMS)
    with pytest.raises(UnknownSkim, match="working group"):
        by_working_group("astrophysics")


def test_each_selection_saves_the_lists_the_registry_names(
    sample: dict[str, ak.Array],
) -> None:
    ana = Analysis(sample["1213030000"][:200])
    for s in SKIMS.values():
        if s.build is None:
            assert s.lists == ()
            assert s.hlt_line in registry.GENERAL_LINES.values()
            continue
        assert tuple(s.build(ana)) == s.lists, s.name
