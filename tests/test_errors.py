"""The error tree: one base, built-in leaves, messages that say what to do."""

from __future__ import annotations

import pickle

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
        (errors.BadCollection("/belle/collection/MC/x", "why"), ValueError),
        (errors.CollectionImmutable("/belle/collection/MC/x", "add"), PermissionError),
        (errors.CalibrationFailed("ecl", "10 electrons < 500"), RuntimeError),
        (errors.BadCut("M >", 3, "expected a number or a variable"), ValueError),
        (errors.UnknownVariable("kaonId", ("kaonID",), "kaonId > 0.5"), LookupError),
        (errors.BadDecayString("D0 -> K- K-", "charge -2 != 0"), ValueError),
        (errors.UnknownParticleList("pi+:al", ("pi+:all",)), LookupError),
        (
            errors.OutputsExpired("project ana1", "/belle/user/a/ana1", "2026-04-01"),
            LookupError,
        ),
        (errors.IncompleteDownload("project ana1", "/tmp/d", 2, 8), RuntimeError),
        (errors.DuplicateFiles("/belle/user/a/x", ()), FileExistsError),
        (errors.UnknownSkim("BtoD0h_kpi", ("BtoD0h_Kpi",)), LookupError),
        (errors.BadArgument("copies", "0 is not a number of copies"), ValueError),
        (errors.NotController("storage agents", "/h"), PermissionError),
        (errors.NotYourJob(3, "bob", "alice", "kill"), PermissionError),
        (errors.PayloadFailed("KEK", "crashed", "Payload crashed"), RuntimeError),
        (errors.WaitTimedOut("project ana1 not finished after 5 s"), TimeoutError),
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
    assert errors.BadArgument.exit_code == 2
    assert "b2grid up" in str(errors.NotController("storage agents", "/h"))
    assert B2GridError.exit_code == 1


def test_all_is_complete() -> None:
    public = {n for n in dir(errors) if not n.startswith("_") and n[0].isupper()}
    public -= {"Iterable", "Any"}
    assert public <= set(errors.__all__)


@pytest.mark.parametrize(
    "error",
    [
        ConfigError("f.yaml", "sites[0].slots", "bad"),
        UnknownSite("KEKK", iter(["KEK", "BNL"])),
        SiteBanned("KEK"),
        SiteDown("KEK"),
        GridNotRunning("/h", "why"),
        GridAlreadyRunning("/h", "tcp://127.0.0.1:1", 42),
        SchedulerUnreachable("tcp://x:1", "refused"),
        errors.BadLFN("/belle/x", "why"),
        errors.PermissionDenied("alice", "/belle/Data/x", "why"),
        errors.NameReused("/belle/user/a/x", deleted=True),
        errors.DuplicateFiles(
            "/belle/user/a/x",
            (("f.root", "/belle/user/a/x/sub00/f.root", "same name"),),
        ),
        errors.ChecksumMismatch("/belle/user/a/x", "SE KEK", "00000001", "00000002"),
        errors.StorageFull("KEK", 10, 1),
        errors.LocalFileError("/tmp/x", "missing"),
        errors.SiteExpressionError("KEK|", "why"),
        errors.NotRegistered("/belle/x", "dataset", "hint"),
        errors.RuleNotFound(7),
        errors.RuleError("plain message"),
        errors.TagNotFound("data_prmpt", ("data_prompt", "mc_default")),
        errors.TagPublished("data_proc12", "add a payload"),
        errors.NoPayload(("a", "b"), "ECLCrystalEnergy", 12, 3, "(14,0)-(-1,-1)"),
        errors.BadIoV("(12,5)-(12,1)", "inverted"),
        errors.CalibrationFailed("ecl", "10 electrons < 500; merge more runs"),
        errors.UnknownEventType("uubarr", ("uubar", "ddbar")),
        errors.BadEventFile("/tmp/f.root", "truncated"),
        errors.SchemaError("mdst", "Track.px", "missing"),
        errors.BadJob("priority", "11 is out of 0-10"),
        errors.BadProjectName("a b", "has a space"),
        errors.ProjectExists("alice", "ana1"),
        errors.ProjectNotFound("alice", "ana2", ("ana1",)),
        errors.JobNotFound(12),
        errors.IllegalTransition(12, "Done", "Kill"),
        errors.UnknownValue("campaign", "prc12", ("bucket23", "proc12")),
        errors.BadQuery("exp_low", 14, "exp_low 14 > exp_high 12"),
        errors.BadCollection("/belle/collection/Data/x", "no datasets given"),
        errors.CollectionImmutable("/belle/collection/Data/x", "add /belle/Data/y"),
        errors.BadCut("1.8 < M <", 9, "expected a number or a variable"),
        errors.UnknownVariable("kaonId", ("kaonID", "pionID"), "kaonId > 0.5"),
        errors.BadDecayString("D0:Kpi -> K- K-", "charge -2 != 0"),
        errors.UnknownParticleList("pi+:al", ("pi+:all", "K+:all")),
        errors.OutputsExpired(
            "project ana1", "/belle/user/a/ana1", "2026-04-01T00:00:00", 90
        ),
        errors.IncompleteDownload("project ana1", "/tmp/d", 2, 8),
        errors.UnknownSkim("1414010", ("14140101", "BtoD0h_Kpi")),
        errors.BadArgument("lifetime", "-5 days is not a lifetime"),
        errors.NotController("storage agents", "/h"),
    ],
)
def test_errors_survive_pickling(error: B2GridError) -> None:
    """Dask sends a task's exception from the worker: it must unpickle whole."""
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)
