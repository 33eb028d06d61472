"""Grid time: wall or virtual; virtual time only moves forward, when told."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from b2grid.clock import Clock, VirtualClock, WallClock
from b2grid.errors import BadArgument


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
    with pytest.raises(BadArgument, match=r"^days: grid time cannot go back") as info:
        clock.advance(days=-1)
    assert info.value.field == "days"
    with pytest.raises(BadArgument, match=r"^hours: grid time cannot go back"):
        clock.advance(days=1, hours=-25)
    with pytest.raises(BadArgument, match=r"^start: .* is not a timezone-aware"):
        VirtualClock(datetime(2026, 1, 1))
    assert clock.now() == datetime(2026, 1, 1, tzinfo=timezone.utc)


def test_wall_clock_is_aware_utc() -> None:
    now = WallClock().now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert isinstance(WallClock(), Clock)
