"""Decay strings and list names: parsing, labels, conjugates, charge consistency."""

from __future__ import annotations

import pytest

from b2grid.analysis import parse_decay, parse_list_name
from b2grid.errors import AnalysisError, BadDecayString


def test_list_names_and_their_conjugates_share_a_key() -> None:
    plus, minus = parse_list_name("pi+:loose"), parse_list_name("pi-:loose")
    assert plus.key == minus.key == (211, "loose")
    assert (plus.pdg, minus.pdg) == (211, -211)
    assert parse_list_name("anti-D0:Kpi").canonical == "D0:Kpi"
    assert parse_list_name("gamma:all").self_conjugate
    assert parse_list_name("K-:good").conjugate_name == "K+"


def test_decay_with_default_labels_and_nested_lists() -> None:
    d = parse_decay("D0:Kpi -> K- pi+")
    assert [str(x) for x in d.daughters] == ["K-:all", "pi+:all"]
    b = parse_decay("B+:Dpi ->  anti-D0:Kpi   pi+:loose")
    assert str(b) == "B+:Dpi -> anti-D0:Kpi pi+:loose"
    assert b.daughters[0].key == d.mother.key


@pytest.mark.parametrize(
    ("decay", "conjugate"),
    [
        ("pi0:gg -> gamma gamma", True),
        ("K_S0:pp -> pi+ pi-", True),
        ("D0:KK -> K- K+", True),
        ("D0:Kpi -> K- pi+", False),
        ("B+:Dpi -> anti-D0:Kpi pi+", False),
    ],
)
def test_self_conjugate_decays_are_recognised(decay: str, conjugate: bool) -> None:
    assert parse_decay(decay).self_conjugate is conjugate


@pytest.mark.parametrize(
    ("decay", "match"),
    [
        ("D0:Kpi -> K- pi-", r"charge is not conserved.*= -2.*D0 has \+0"),
        ("B+:x -> D0 pi-", "charge is not conserved"),
        ("D0:Kpi K- pi+", "no '->'"),
        ("D0 -> K- pi+", "'D0' has no label"),
        ("D0:Kpi -> K-", "at least two daughters"),
        ("D0:Kpi -> Kaon- pi+", "unknown particle 'Kaon-'"),
        ("D0:Kpi -> k- pi+", r"unknown particle 'k-' \(did you mean 'K-'\?\)"),
        ("D0:K.pi -> K- pi+", "label 'K.pi'"),
        ("B+:x -> [D0 -> K- pi+] pi+", "nested '->'"),
        ("D0:a D0:b -> K- pi+", "several mothers"),
        ("D0:x -> D0:x pi0", "its own daughter"),
    ],
)
def test_bad_decay_strings_say_what_is_wrong(decay: str, match: str) -> None:
    with pytest.raises(BadDecayString, match=match) as info:
        parse_decay(decay)
    assert isinstance(info.value, AnalysisError)
    assert isinstance(info.value, ValueError)
    assert info.value.decay == decay
