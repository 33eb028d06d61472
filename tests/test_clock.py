"""Grid time: wall or virtual; virtual time only moves forward, when told."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from b2grid.clock import Clock, VirtualClock, WallClock


def test_virtual_clock_stands_still_until_advanced() -> None:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    clock = VirtualClock(start)
    assert clock.now() == start
    assert clock.now() == start
    assert clock.advance(days=90) == start + timedelta(days=90)
    assert clock.advance(hours=1, minutes=30) == start + timedelta(days=90, hours=1.5)
    assert isinstance(clock, Clock)


def test_virtual_clock_refuses_to_go_back_or_naive_start() -> None:
    clock = VirtualClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    with pytest.raises(ValueError, match="cannot go back"):
        clock.advance(days=-1)
    with pytest.raises(ValueError, match="has no timezone"):
        VirtualClock(datetime(2026, 1, 1))


def test_wall_clock_is_aware_utc() -> None:
    now = WallClock().now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert isinstance(WallClock(), Clock)
