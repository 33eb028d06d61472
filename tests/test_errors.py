"""The error tree: one base, built-in leaves, messages that say what to do."""

from __future__ import annotations

import pytest

from b2grid import errors
from b2grid.errors import (
    B2GridError,
    ConfigError,
    GridAlreadyRunning,
    GridNotRunning,
    SchedulerUnreachable,
    SiteBanned,
    SiteDown,
    UnknownSite,
)


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (ConfigError("f.yaml", "sites[0].slots", "bad"), ValueError),
        (UnknownSite("KEKK", ["KEK", "BNL"]), LookupError),
        (SiteBanned("KEK"), PermissionError),
        (SiteDown("KEK"), RuntimeError),
        (GridNotRunning("/h"), RuntimeError),
        (GridAlreadyRunning("/h", "tcp://127.0.0.1:1", 42), RuntimeError),
        (SchedulerUnreachable("tcp://x:1", "refused"), ConnectionError),
    ],
)
def test_every_error_is_a_b2grid_error_and_a_builtin(
    error: B2GridError, builtin: type[Exception]
) -> None:
    assert isinstance(error, B2GridError)
    assert isinstance(error, builtin)
    assert str(error)


def test_unknown_site_lists_known_and_suggests() -> None:
    error = UnknownSite("desy", ["KEK", "DESY", "BNL"])
    assert str(error) == (
        "unknown site 'desy' (did you mean 'DESY'?); known sites: BNL, DESY, KEK"
    )
    assert error.site == "desy"
    assert "did you mean" not in str(UnknownSite("Zeuthen", ["KEK"]))


def test_messages_say_what_to_do() -> None:
    assert "b2grid site unban KEK" in str(SiteBanned("KEK"))
    assert "b2grid up" in str(GridNotRunning("/h"))
    assert "b2grid stop" in str(GridAlreadyRunning("/h", "tcp://a:1", 7))
    assert ConfigError.exit_code == 2
    assert B2GridError.exit_code == 1


def test_all_is_complete() -> None:
    public = {n for n in dir(errors) if not n.startswith("_") and n[0].isupper()}
    public -= {"Iterable"}
    assert public <= set(errors.__all__)
