"""Intervals of validity: validation, containment, overlap and their text form."""

from __future__ import annotations

import pickle
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b2grid.conditions.iov import IoV
from b2grid.errors import BadIoV, ConditionsError


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ((12, 50, 12, 10), "ends before it starts"),
        ((13, 0, 12, -1), "ends before it starts"),
        ((-1, 0, 12, 5), "low experiment and run must be >= 0"),
        ((12, -1, 12, 5), "low experiment and run must be >= 0"),
        ((12, 0, -2, -1), "-1 (open)"),
        ((12, 0, 12, -5), "-1 (open)"),
        ((12, 0, -1, 7), "open experiment (-1) needs an open run"),
        ((12, 0, 12.0, 7), "must be integers"),
        ((True, 0, 12, 7), "must be integers"),
    ],
)
def test_bad_iovs_are_refused(fields: tuple[int, int, int, int], reason: str) -> None:
    with pytest.raises(BadIoV, match=re.escape(reason)) as info:
        IoV(*fields)
    assert isinstance(info.value, ConditionsError)
    assert isinstance(info.value, ValueError)
    assert str(fields[0]) in str(info.value)


def test_open_run_end_covers_the_rest_of_the_experiment() -> None:
    iov = IoV(12, 100, 12, -1)
    assert not iov.contains(12, 99)
    assert iov.contains(12, 100)
    assert iov.contains(12, 10**9)
    assert not iov.contains(13, 0)
    assert not iov.contains(11, 500)


def test_open_experiment_end_covers_the_future() -> None:
    iov = IoV(14, 5)
    assert (iov.exp_high, iov.run_high) == (-1, -1)
    assert not iov.contains(14, 4)
    assert iov.contains(14, 5)
    assert iov.contains(15, 0)
    assert iov.contains(10**6, 10**6)


def test_multi_experiment_range() -> None:
    iov = IoV(10, 50, 12, 20)
    assert iov.contains(10, 50)
    assert iov.contains(11, 10**6)  # every run of the experiments in between
    assert iov.contains(12, 20)
    assert not iov.contains(12, 21)
    assert not iov.contains(10, 49)


def test_constructors() -> None:
    assert IoV.always() == IoV(0, 0, -1, -1)
    assert IoV.run(12, 7) == IoV(12, 7, 12, 7)
    assert IoV.runs(12, 5, 9) == IoV(12, 5, 12, 9)
    assert IoV.runs(12, 5, -1) == IoV(12, 5, 12, -1)
    assert IoV.experiment(12) == IoV(12, 0, 12, -1)
    assert IoV.run(12, 7).contains(12, 7)
    assert not IoV.run(12, 7).contains(12, 8)


def test_overlaps() -> None:
    assert IoV.runs(12, 0, 10).overlaps(IoV.runs(12, 10, 20))
    assert not IoV.runs(12, 0, 9).overlaps(IoV.runs(12, 10, 20))
    assert IoV.experiment(12).overlaps(IoV.always())
    assert not IoV.experiment(12).overlaps(IoV(13, 0))
    assert IoV(12, 0).overlaps(IoV.run(99, 1))


def test_text_round_trip_and_parse_errors() -> None:
    assert str(IoV(12, 0, 12, -1)) == "(12,0)-(12,-1)"
    assert IoV.parse("(12,0)-(12,-1)") == IoV.experiment(12)
    assert IoV.parse("( 3 , 4 ) - ( 5 , 6 )") == IoV(3, 4, 5, 6)
    for text in ("", "(12,0)", "12,0-12,5", "(a,0)-(1,1)", "(1,2)-(3,4)x"):
        with pytest.raises(BadIoV, match="expected"):
            IoV.parse(text)
    with pytest.raises(BadIoV, match="ends before"):
        IoV.parse("(12,50)-(12,10)")


def test_frozen_hashable_picklable() -> None:
    iov = IoV(1, 2, 3, 4)
    with pytest.raises(AttributeError):
        iov.exp_low = 5  # type: ignore[misc]
    assert {iov, IoV(1, 2, 3, 4)} == {iov}
    assert pickle.loads(pickle.dumps(iov)) == iov  # noqa: S301 - our own bytes
    with pytest.raises(BadIoV) as info:
        IoV(2, 0, 1, 0)
    err = pickle.loads(pickle.dumps(info.value))  # noqa: S301 - as Dask ships it
    assert isinstance(err, BadIoV)
    assert str(err) == str(info.value)


@st.composite
def iovs(draw: st.DrawFn) -> IoV:
    exp_low, run_low = draw(st.integers(0, 5)), draw(st.integers(0, 5))
    exp_high = draw(st.one_of(st.just(-1), st.integers(exp_low, 6)))
    if exp_high == -1:
        return IoV(exp_low, run_low)
    low_run = run_low if exp_high == exp_low else 0
    run_high = draw(st.one_of(st.just(-1), st.integers(low_run, 6)))
    return IoV(exp_low, run_low, exp_high, run_high)


@given(iovs(), iovs())
def test_overlap_means_a_shared_point(a: IoV, b: IoV) -> None:
    # if two overlap, the later low point is shared, and low points are <= (5, 5)
    shared = any(
        a.contains(e, r) and b.contains(e, r) for e in range(8) for r in range(8)
    )
    assert a.overlaps(b) == shared == b.overlaps(a)


@given(iovs())
def test_text_form_round_trips(iov: IoV) -> None:
    assert IoV.parse(str(iov)) == iov
