"""The job model: project names, requirements and job specs refuse bad input clearly."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b2grid.errors import BadJob, BadProjectName
from b2grid.jobs.model import (
    FINAL,
    KINDS,
    JobSpec,
    JobState,
    JobStatus,
    Requirements,
    validate_project_name,
)

SITES = ("KEK", "BNL", "DESY", "SiGNET")
NAME_CHARS = st.sampled_from(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
)


def spec(**changes: object) -> JobSpec:
    fields: dict[str, object] = {
        "function": "b2grid.analysis.ntuple:run",
        "inputs": ("/belle/MC/x/sub00/f1.root", "/belle/MC/x/sub00/f2.root"),
        "outputs": ("ntuple.root",),
        "owner": "alice",
        "project": "ana1",
    }
    fields.update(changes)
    return JobSpec(**fields)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- status


def test_status_values_are_dirac_names() -> None:
    assert [s.value for s in JobStatus] == [
        "Received",
        "Checking",
        "Waiting",
        "Matched",
        "Running",
        "Completing",
        "Done",
        "Failed",
        "Stalled",
        "Killed",
        "Rescheduled",
    ]
    assert {JobStatus.DONE, JobStatus.FAILED, JobStatus.KILLED} == FINAL
    assert JobStatus("Waiting") is JobStatus.WAITING
    assert isinstance(JobStatus.DONE, str)  # compares equal to its value


def test_state_helpers() -> None:
    s = JobState.received(3, now=12.5)
    assert (s.status, s.minor_status, s.updated, s.attempt) == (
        JobStatus.RECEIVED,
        "Job accepted",
        12.5,
        1,
    )
    assert not s.final
    t = s.with_(status=JobStatus.DONE)
    assert t.final
    assert t.job_id == 3
    assert s.status is JobStatus.RECEIVED
    assert pickle.loads(pickle.dumps(t)) == t  # noqa: S301 - our own bytes


# --------------------------------------------------------------------------- project


@settings(derandomize=True, max_examples=100)
@given(st.text(NAME_CHARS, min_size=1, max_size=32))
def test_good_project_names_pass(name: str) -> None:
    assert validate_project_name(name) == name


def test_project_name_too_long_says_how_long() -> None:
    with pytest.raises(BadProjectName, match="is 33 characters long") as err:
        validate_project_name("a" * 33)
    assert err.value.name == "a" * 33
    assert "over the limit of 32" in str(err.value)


@pytest.mark.parametrize(
    ("name", "listed"),
    [
        ("my ana", "' '"),
        ("ana/v1", "'/'"),
        ("ana.v1", "'.'"),
        ("ana é!", "' ', 'é', '!'"),
    ],
)
def test_project_name_bad_characters_are_named(name: str, listed: str) -> None:
    with pytest.raises(BadProjectName, match=f"contains {listed}, which"):
        validate_project_name(name)


def test_empty_project_name() -> None:
    with pytest.raises(BadProjectName, match="is empty"):
        validate_project_name("")


# ------------------------------------------------------------------------- requirements


def test_requirements_defaults_are_valid() -> None:
    req = Requirements()
    assert req.validate(SITES) is req
    assert (req.priority, req.sites, req.banned_sites) == (5, (), ())


@pytest.mark.parametrize("priority", [-1, 11, 100])
def test_priority_out_of_range(priority: int) -> None:
    with pytest.raises(BadJob, match="out of range; use 0 to 10") as err:
        Requirements(priority=priority).validate(SITES)
    assert err.value.field == "priority"


@pytest.mark.parametrize("priority", [5.0, True, "5"])
def test_priority_must_be_an_integer(priority: object) -> None:
    with pytest.raises(BadJob, match="not an integer") as err:
        Requirements(priority=priority).validate(SITES)  # type: ignore[arg-type]
    assert err.value.field == "priority"


@pytest.mark.parametrize("cpu", [0, -5.0, float("nan"), float("inf"), "60"])
def test_cpu_estimate_must_be_positive(cpu: object) -> None:
    with pytest.raises(BadJob) as err:
        Requirements(cpu_seconds=cpu).validate(SITES)  # type: ignore[arg-type]
    assert err.value.field == "cpu_seconds"


@pytest.mark.parametrize("field", ["sites", "banned_sites"])
def test_unknown_site_is_named_with_a_suggestion(field: str) -> None:
    with pytest.raises(BadJob) as err:
        Requirements(**{field: ("KEK", "DSEY")}).validate(SITES)  # type: ignore[arg-type]
    assert err.value.field == field
    assert "unknown site 'DSEY' (did you mean 'DESY'?)" in str(err.value)
    assert "known sites: KEK, BNL, DESY, SiGNET" in str(err.value)


def test_site_list_given_as_a_string() -> None:
    with pytest.raises(BadJob, match="tuple of site names") as err:
        Requirements(sites="KEK").validate(SITES)  # type: ignore[arg-type]
    assert err.value.field == "sites"


def test_site_both_allowed_and_banned() -> None:
    req = Requirements(sites=("KEK", "BNL"), banned_sites=("BNL",))
    with pytest.raises(BadJob, match="BNL both allowed and banned") as err:
        req.validate(SITES)
    assert err.value.field == "banned_sites"


def test_allow_list_fully_banned() -> None:
    req = Requirements(sites=("KEK", "BNL"), banned_sites=("BNL", "KEK", "DESY"))
    with pytest.raises(BadJob, match="could run nowhere") as err:
        req.validate(SITES)
    assert err.value.field == "sites"


# --------------------------------------------------------------------------- spec


def test_good_specs_pass() -> None:
    s = spec()
    assert s.validate(SITES) is s
    by_value = spec(function=None, payload=pickle.dumps(len), kind="skim")
    assert by_value.validate(SITES) is by_value
    assert spec(inputs=(), outputs=()).validate(SITES)
    assert set(KINDS) >= {"user", "production", "mc", "skim", "calibration"}


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"function": None}, "function", "exactly one"),
        ({"payload": b"x"}, "function", "exactly one"),
        ({"function": ""}, "function", "not an importable reference"),
        ({"function": "run"}, "function", "not an importable reference"),
        ({"function": "pkg.mod.run"}, "function", "not an importable reference"),
        ({"function": "pkg.mod:"}, "function", "not an importable reference"),
        ({"function": "pkg mod:run"}, "function", "not an importable reference"),
        ({"function": None, "payload": b""}, "payload", "empty"),
        ({"args": "x=1"}, "args", "must be bytes"),
        ({"owner": "al ice"}, "owner", "not a user name"),
        ({"kind": "analysis"}, "kind", "unknown kind 'analysis'"),
        ({"kind": "Skim"}, "kind", "did you mean 'skim'"),
        ({"inputs": "/belle/MC/x/f.root"}, "inputs", "tuple of names"),
        ({"inputs": ("/data/f.root",)}, "inputs", "'/data/f.root' is not an LFN"),
        ({"inputs": ("/belle/MC/a", "/belle/MC/a")}, "inputs", "listed twice"),
        ({"outputs": ("out/ntuple.root",)}, "outputs", "not a simple file name"),
        ({"outputs": ("..",)}, "outputs", "not a simple file name"),
        ({"outputs": ("",)}, "outputs", "not a simple file name"),
        ({"outputs": ("a.root", "a.root")}, "outputs", "listed twice"),
        ({"requirements": Requirements(priority=12)}, "priority", "out of range"),
    ],
)
def test_bad_specs_name_the_field(
    changes: dict[str, object], field: str, text: str
) -> None:
    with pytest.raises(BadJob, match=text) as err:
        spec(**changes).validate(SITES)
    assert err.value.field == field
    assert str(err.value).endswith("nothing was submitted")


def test_bad_project_in_spec() -> None:
    with pytest.raises(BadProjectName):
        spec(project="x" * 40).validate(SITES)


def test_errors_survive_pickling() -> None:
    with pytest.raises(BadJob) as err:
        spec(kind="nope").validate(SITES)
    again = pickle.loads(pickle.dumps(err.value))  # noqa: S301 - our own bytes
    assert (again.field, str(again)) == (err.value.field, str(err.value))
