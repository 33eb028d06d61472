"""Pure tag logic: which revision a tag gives for a run, where names are valid."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from b2grid.conditions import GlobalTag, IoV, Payload, PayloadRef, TagStatus, resolve
from b2grid.conditions.globaltag import check_tag_name, coverage
from b2grid.conditions.payload import checksum
from b2grid.errors import ConditionsError


def ref(name: str, revision: int, iov: IoV) -> PayloadRef:
    return PayloadRef(name, revision, iov)


def test_highest_revision_covering_the_run_wins() -> None:
    refs = [
        ref("Gains", 1, IoV.always()),
        ref("Gains", 3, IoV.experiment(12)),
        ref("Gains", 2, IoV.runs(12, 0, 100)),
        ref("BeamSpot", 9, IoV.always()),
    ]
    assert resolve(refs, "Gains", 12, 50) == refs[1]
    assert resolve(refs, "Gains", 11, 50) == refs[0]
    assert resolve(refs, "BeamSpot", 12, 50) == refs[3]
    assert resolve(refs, "Missing", 12, 50) is None
    assert resolve([], "Gains", 12, 50) is None


def test_tag_record() -> None:
    refs = (ref("Gains", 1, IoV.always()), ref("BeamSpot", 2, IoV(12, 0)))
    tag = GlobalTag("main", TagStatus.STAGING, payloads=refs)
    assert not tag.published
    assert tag.payload_names() == ["BeamSpot", "Gains"]
    assert tag.resolve("BeamSpot", 12, 1) == refs[1]
    assert tag.resolve("BeamSpot", 11, 1) is None
    assert GlobalTag("x", TagStatus.PUBLISHED, published_at=3.0).published
    assert TagStatus("published") is TagStatus.PUBLISHED


def test_coverage_lists_distinct_iovs_in_order() -> None:
    refs = [
        ref("Gains", 3, IoV(14, 0)),
        ref("Gains", 1, IoV.runs(12, 0, 100)),
        ref("Gains", 2, IoV.runs(12, 0, 100)),
        ref("Other", 1, IoV.always()),
    ]
    assert coverage(refs, "Gains") == "(12,0)-(12,100), (14,0)-(-1,-1)"
    assert coverage(refs, "Missing") == ""


@pytest.mark.parametrize("name", ["main", "release-08-01.v2", "A_b.c-9", "x" * 64])
def test_good_tag_names(name: str) -> None:
    assert check_tag_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 65, "my tag", "a/b", "..", ".hidden", "é"])
def test_bad_tag_names(name: str) -> None:
    with pytest.raises(ConditionsError, match="bad global tag name"):
        check_tag_name(name)


def test_payload_refs_and_payloads_validate() -> None:
    with pytest.raises(ConditionsError, match="bad payload name"):
        PayloadRef("9lives", 1, IoV.always())
    with pytest.raises(ConditionsError, match="revision"):
        PayloadRef("Gains", 0, IoV.always())
    with pytest.raises(ConditionsError, match="no arrays"):
        Payload("Gains", 1, IoV.always(), {})
    with pytest.raises(ConditionsError, match="numeric"):
        Payload("Gains", 1, IoV.always(), {"names": np.array(["a", "b"])})
    with pytest.raises(ConditionsError, match="JSON"):
        Payload("Gains", 1, IoV.always(), {"x": np.ones(1)}, {"bad": object()})
    with pytest.raises(ConditionsError, match="bad array name"):
        Payload("Gains", 1, IoV.always(), {"a b": np.ones(1)})


def test_payload_is_read_only() -> None:
    p = Payload("Gains", 1, IoV.always(), {"g": np.arange(3.0)}, {"k": (1, 2)})
    assert not p["g"].flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        p["g"][0] = 5.0
    with pytest.raises(TypeError):
        p.arrays["h"] = np.zeros(1)  # type: ignore[index]
    assert p.attrs["k"] == [1, 2]  # attributes are JSON: tuples come back as lists
    with pytest.raises(KeyError, match="it has: g"):
        p["gains"]
    assert p.checksum == checksum({"g": np.arange(3.0)}, {"k": [1, 2]})


names = st.sampled_from(["Gains", "BeamSpot", "Align"])


@st.composite
def iovs(draw: st.DrawFn) -> IoV:
    exp_low, run_low = draw(st.integers(0, 3)), draw(st.integers(0, 5))
    exp_high = draw(st.one_of(st.just(-1), st.integers(exp_low, 4)))
    if exp_high == -1:
        return IoV(exp_low, run_low)
    low_run = run_low if exp_high == exp_low else 0
    run_high = draw(st.one_of(st.just(-1), st.integers(low_run, 6)))
    return IoV(exp_low, run_low, exp_high, run_high)


@st.composite
def ref_lists(draw: st.DrawFn) -> list[PayloadRef]:
    n = draw(st.integers(0, 12))
    revisions = draw(st.permutations(range(1, n + 1)))  # unique, in any order
    return [PayloadRef(draw(names), r, draw(iovs())) for r in revisions]


@given(ref_lists(), names, st.integers(0, 5), st.integers(0, 7))
def test_resolve_agrees_with_brute_force(
    refs: list[PayloadRef], name: str, exp: int, run: int
) -> None:
    matching = [r for r in refs if r.name == name and r.iov.contains(exp, run)]
    expected = max(matching, key=lambda r: r.revision) if matching else None
    assert resolve(refs, name, exp, run) == expected
    assert resolve(reversed(refs), name, exp, run) == expected  # order is irrelevant
    if expected is not None:
        assert str(expected.iov) in coverage(refs, name)
