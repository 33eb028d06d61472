"""The job lifecycle state machine: legal paths, refusals, the cap, stale events."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from b2grid.errors import IllegalTransition
from b2grid.jobs.lifecycle import (
    ALLOWED,
    MAX_RESCHEDULES,
    TOO_MANY_LOST,
    Action,
    AppFailed,
    Cancel,
    Checked,
    Crashed,
    DiscardAttempt,
    Dispatch,
    Event,
    Finished,
    Heartbeat,
    Kill,
    LimitExceeded,
    Lost,
    Match,
    Notify,
    Registered,
    RegisterOutputs,
    Reschedule,
    StalledTimeout,
    Started,
    Wait,
    decide,
    open_attempts,
    validate_state,
    watchdog,
)
from b2grid.jobs.model import JobState, JobStatus

S = JobStatus
CAP = 3


@dataclass
class Job:
    """One job driven through decide, with every action it produced."""

    state: JobState
    cap: int = CAP
    now: float = 0.0
    actions: list[Action] = field(default_factory=list)

    def __call__(self, *events: Event) -> tuple[Action, ...]:
        out: tuple[Action, ...] = ()
        for event in events:
            self.now += 10.0
            self.state, acts = decide(self.state, event, now=self.now, cap=self.cap)
            self.actions.extend(acts)
            out += acts
        validate_state([self.state], cap=self.cap, opened=open_attempts(self.actions))
        return out

    def status(self) -> JobStatus:
        """The job's status (a call, so that type checkers do not narrow it)."""
        return self.state.status


def job(status: JobStatus = S.RECEIVED, cap: int = CAP, site: str = "KEK") -> Job:
    """A job brought to ``status`` along the happy path (or a short detour)."""
    j = Job(JobState.received(7, now=0.0), cap)
    path: dict[JobStatus, tuple[Event, ...]] = {
        S.RECEIVED: (),
        S.WAITING: (Checked(True),),
        S.MATCHED: (Checked(True), Match(site)),
        S.RUNNING: (Checked(True), Match(site), Started(1, "tcp://w1")),
        S.COMPLETING: (Checked(True), Match(site), Started(1, "w"), Finished(1)),
        S.DONE: (Checked(True), Match(site), Started(1, "w"), Finished(1)),
        S.FAILED: (Checked(True), Match(site), Started(1, "w"), AppFailed(1, "E: x")),
        S.KILLED: (Checked(True), Kill()),
    }
    j(*path[status])
    if status is S.DONE:
        j(Registered(1))
    assert j.status() is status
    return j


# --------------------------------------------------------------------------- paths


def test_happy_path() -> None:
    j = job()
    assert j(Checked(True)) == ()
    assert (j.status(), j.state.minor_status) == (S.WAITING, "Pending matching")
    assert j(Match("KEK")) == (Dispatch(7, "KEK", 1),)
    assert (j.status(), j.state.site, j.state.minor_status) == (
        S.MATCHED,
        "KEK",
        "Assigned to KEK",
    )
    assert j(Started(1, "tcp://10.0.0.1:4242")) == ()
    assert j.status() is S.RUNNING
    assert j.state.heartbeat == j.now
    assert j.state.minor_status == "Running at KEK (tcp://10.0.0.1:4242)"
    assert j.state.application_status == "Running"
    before = j.state.updated
    assert j(Heartbeat(1)) == ()
    assert j.state.heartbeat == j.now
    assert j.state.updated == before
    assert j(Finished(1, "Done: 1000 events")) == (RegisterOutputs(7, 1),)
    assert j.status() is S.COMPLETING
    assert j.state.application_status == "Done: 1000 events"
    assert j(Registered(1)) == ()
    assert j.status() is S.DONE
    assert j.state.final
    assert j.state.minor_status == "Execution complete: outputs registered"
    assert (j.state.attempt, j.state.reschedules, j.state.site) == (1, 0, "KEK")


def test_check_failed() -> None:
    j = job()
    (note,) = j(Checked(False, "input /belle/MC/x is not registered"))
    assert j.status() is S.FAILED
    assert (
        j.state.minor_status == "Checking failed: input /belle/MC/x is not registered"
    )
    assert isinstance(note, Notify)
    assert "failed" in note.message


def test_checking_status_is_accepted_too() -> None:
    j = Job(JobState(7, S.CHECKING, "Checking inputs"))
    j(Checked(True))
    assert j.status() is S.WAITING


def test_match_with_remote_reads() -> None:
    j = job(S.WAITING)
    j(Match("BNL", remote_bytes=1_500_000_000))
    assert j.state.minor_status == "Assigned to BNL, reading 1.5 GB remotely"
    assert j.state.remote_bytes == 1_500_000_000


def test_wait_changes_minor_status_only() -> None:
    j = job(S.WAITING)
    reason = "No candidate sites available: inputs only at DESY (down)"
    j(Wait(reason))
    assert (j.status(), j.state.minor_status) == (S.WAITING, reason)
    same = j.state
    assert decide(same, Wait(reason), now=99.0, cap=CAP) == (same, ())
    assert decide(same, Wait(reason), now=99.0, cap=CAP)[0] is same


def test_result_before_start_signal() -> None:
    j = job(S.MATCHED)
    assert j(Finished(1)) == (RegisterOutputs(7, 1),)
    assert j.status() is S.COMPLETING
    assert j(Started(1, "w"), Heartbeat(1)) == ()  # late signals change nothing
    assert j.status() is S.COMPLETING
    m = job(S.MATCHED)
    m(Heartbeat(1))
    assert m.status() is S.RUNNING
    assert m.state.minor_status == "Running at KEK"


@pytest.mark.parametrize(
    ("status", "closing"),
    [
        (S.MATCHED, (Cancel(7, "DESY", 1), DiscardAttempt(7, 1))),
        (S.RUNNING, (Cancel(7, "DESY", 1), DiscardAttempt(7, 1))),
        (S.COMPLETING, (DiscardAttempt(7, 1),)),
    ],
)
def test_lost_reschedules(status: JobStatus, closing: tuple[Action, ...]) -> None:
    j = job(status, site="DESY")
    actions = j(Lost(1, "Worker died"))
    assert actions[:-1] == closing
    assert isinstance(actions[-1], Notify)
    s = j.state
    assert (s.status, s.attempt, s.reschedules, s.lost, s.site, s.heartbeat) == (
        S.WAITING,
        2,
        0,  # the infrastructure's fault: the job's cap is not spent
        1,
        None,
        None,
    )
    assert s.minor_status == (
        "Worker died at DESY: rescheduled (not counted: 0 of 3 used)"
    )
    j(Match("KEK"))
    assert j.actions[-1] == Dispatch(7, "KEK", 2)


def test_lost_reason_naming_the_site_is_not_repeated() -> None:
    j = job(S.RUNNING, site="DESY")
    j(Lost(1, "site DESY went down"))
    assert j.state.minor_status == (
        "Site DESY went down: rescheduled (not counted: 0 of 3 used)"
    )


def test_stalled_reschedules() -> None:
    j = job(S.RUNNING)
    actions = j(StalledTimeout(1, silence=700.0))
    assert actions[:2] == (Cancel(7, "KEK", 1), DiscardAttempt(7, 1))
    assert j.status() is S.WAITING
    assert j.state.attempt == 2
    assert (j.state.reschedules, j.state.lost) == (1, 0)
    assert j.state.minor_status == (
        "Stalled at KEK (no heartbeat for 700 s): rescheduled (1 of 3 reschedules used)"
    )


def test_application_error_fails_alone() -> None:
    j = job(S.RUNNING)
    actions = j(AppFailed(1, "ZeroDivisionError: division by zero\n  more lines"))
    assert j.status() is S.FAILED
    assert j.state.attempt == 1
    assert (
        j.state.minor_status == "Application error: ZeroDivisionError: division by zero"
    )
    assert j.state.application_status == "ZeroDivisionError: division by zero"
    assert actions[0] == DiscardAttempt(7, 1)
    assert isinstance(actions[1], Notify)
    traceback = 'Traceback (most recent call last):\n  File "a.py"\nKeyError: "x"\n'
    k = job(S.RUNNING)
    k(AppFailed(1, traceback))
    assert k.state.minor_status == 'Application error: KeyError: "x"'


@pytest.mark.parametrize("cap", [0, 1, 3])
def test_cap_is_honoured(cap: int) -> None:
    j = job(S.WAITING, cap=cap)
    why = "Payload exited with status 7 before it finished"
    for attempt in range(1, cap + 2):
        j(Match("KEK"), Started(attempt, "w"), Crashed(attempt, why))
    dispatched = [a.attempt for a in j.actions if isinstance(a, Dispatch)]
    assert dispatched == list(range(1, cap + 2))  # cap + 1 attempts in all
    assert j.status() is S.FAILED
    assert MAX_RESCHEDULES == "Maximum of reschedulings reached"
    assert j.state.minor_status == f"{MAX_RESCHEDULES} ({why} at KEK)"
    assert (j.state.attempt, j.state.reschedules, j.state.lost) == (cap + 1, cap, 0)
    assert why in next(a.message for a in reversed(j.actions) if isinstance(a, Notify))


def test_infrastructure_losses_do_not_spend_the_cap() -> None:
    """A site lost, a worker replaced, a controller restarted: not the job's fault
    (DIRAC tells pilot and site failures from job failures)."""
    j = job(S.WAITING, cap=1)
    for attempt in range(1, 6):
        j(Match("KEK"), Started(attempt, "w"), Lost(attempt, "Worker died"))
    assert (j.status(), j.state.attempt, j.state.reschedules, j.state.lost) == (
        S.WAITING,
        6,
        0,
        5,
    )
    j(Match("KEK"), Started(6, "w"), Crashed(6, "Payload crashed: SIGSEGV"))
    assert (j.status(), j.state.reschedules) == (S.WAITING, 1)
    j(Match("KEK"), Started(7, "w"), Crashed(7, "Payload crashed: SIGSEGV"))
    assert j.status() is S.FAILED
    assert j.state.minor_status.startswith(MAX_RESCHEDULES)
    validate_state([j.state], cap=1)


def test_endless_infrastructure_losses_end_at_the_lost_cap() -> None:
    state = job(S.WAITING).state
    t = 0.0
    for attempt in range(1, 5):
        t += 1
        state, _ = decide(state, Match("KEK"), now=t, cap=0, lost_cap=3)
        state, _ = decide(
            state, Lost(attempt, "SE unreachable"), now=t, cap=0, lost_cap=3
        )
    assert state.status is S.FAILED
    assert state.minor_status.startswith(TOO_MANY_LOST)
    assert (state.lost, state.reschedules) == (3, 0)


def test_a_limit_fails_the_job_alone_without_reschedule() -> None:
    j = job(S.RUNNING)
    reason = "Job exceeded its memory limit: 2.3 GB resident, limit 2.1 GB"
    actions = j(LimitExceeded(1, reason))
    assert (j.status(), j.state.minor_status, j.state.attempt) == (S.FAILED, reason, 1)
    assert j.state.application_status == "Killed"
    assert actions[0] == DiscardAttempt(7, 1)


@pytest.mark.parametrize(
    "status", [S.WAITING, S.MATCHED, S.RUNNING, S.FAILED, S.KILLED]
)
def test_manual_reschedule(status: JobStatus) -> None:
    j = job(status)
    actions = j(Reschedule())
    if status in (S.MATCHED, S.RUNNING):
        assert actions == (Cancel(7, "KEK", 1), DiscardAttempt(7, 1))
    else:
        assert actions == ()
    assert (j.status(), j.state.attempt, j.state.reschedules) == (S.WAITING, 2, 1)
    assert j.state.minor_status == (
        "Manual reschedule: rescheduled (1 of 3 reschedules used)"
    )
    assert j.state.application_status == "Unknown"


def test_manual_reschedule_with_a_reason() -> None:
    j = job(S.FAILED)
    j(Reschedule("new global tag"))
    assert j.state.minor_status.startswith("Manual reschedule (new global tag):")


@pytest.mark.parametrize("status", [S.FAILED, S.KILLED])
def test_manual_reschedule_of_a_final_job_at_the_cap(status: JobStatus) -> None:
    j = job(status, cap=0)
    before = j.state
    (note,) = j(Reschedule())
    assert j.state is before
    assert isinstance(note, Notify)
    assert "at the cap (0 of 0 reschedules used)" in note.message
    assert "--reset-count" in note.message


def test_reset_count_lets_a_job_at_the_cap_run_again() -> None:
    j = job(S.FAILED, cap=0)
    j(Reschedule(reset_count=True))
    assert (j.status(), j.state.attempt, j.state.reschedules) == (S.WAITING, 2, 0)
    assert "count reset" in j.state.minor_status
    validate_state([j.state], cap=0)


def test_manual_reschedule_of_a_live_job_at_the_cap() -> None:
    j = job(S.RUNNING, cap=0)
    actions = j(Reschedule())
    assert actions[:2] == (Cancel(7, "KEK", 1), DiscardAttempt(7, 1))
    assert j.status() is S.FAILED
    assert j.state.minor_status == f"{MAX_RESCHEDULES} (Manual reschedule)"


@pytest.mark.parametrize(
    ("status", "closing"),
    [
        (S.RECEIVED, ()),
        (S.WAITING, ()),
        (S.MATCHED, (Cancel(7, "KEK", 1), DiscardAttempt(7, 1))),
        (S.RUNNING, (Cancel(7, "KEK", 1), DiscardAttempt(7, 1))),
        (S.COMPLETING, (DiscardAttempt(7, 1),)),
    ],
)
def test_kill(status: JobStatus, closing: tuple[Action, ...]) -> None:
    j = job(status)
    assert j(Kill()) == closing
    assert (j.status(), j.state.minor_status) == (S.KILLED, "Killed by user")


def test_killed_job_result_is_discarded() -> None:
    j = job(S.RUNNING)
    j(Kill("killed by production manager"))
    assert j.state.minor_status == "Killed by production manager"
    before = j.state
    assert j(Finished(1)) == (DiscardAttempt(7, 1),)
    assert j.state is before


# --------------------------------------------------------------------------- stale


def test_stale_events_of_an_old_attempt_are_ignored() -> None:
    j = job(S.RUNNING, site="DESY")
    j(Lost(1, "Worker died"))
    waiting = j.state
    assert j(Finished(1)) == (DiscardAttempt(7, 1),)
    for event in (
        Started(1, "w"),
        Heartbeat(1),
        AppFailed(1, "E"),
        Lost(1, "x"),
        Registered(1),
        StalledTimeout(1),
    ):
        assert j(event) == ()
    assert j.state is waiting
    j(Match("KEK"), Started(2, "w2"))
    assert j(Finished(1)) == (DiscardAttempt(7, 1),)  # the old attempt, again
    assert j.status() is S.RUNNING
    assert j(Finished(2)) == (RegisterOutputs(7, 2),)
    assert j(Registered(1)) == ()
    assert j.status() is S.COMPLETING
    j(Registered(2))
    assert j.status() is S.DONE
    done = j.state
    assert j(Finished(2), Registered(2), Heartbeat(2)) == ()  # repeats: no discard
    assert j(Finished(1)) == (DiscardAttempt(7, 1),)
    assert j.state is done
    registered = [a for a in j.actions if isinstance(a, RegisterOutputs)]
    assert registered == [RegisterOutputs(7, 2)]
    assert DiscardAttempt(7, 2) not in j.actions


def test_stalled_verdict_crossing_the_result_is_ignored() -> None:
    j = job(S.RUNNING)
    (stall,) = watchdog([j.state], now=j.now + 1000.0, threshold=600.0)
    j(Finished(1))
    completing = j.state
    assert j(stall[1]) == ()
    assert j.state is completing


def test_events_of_an_attempt_not_dispatched_are_illegal() -> None:
    with pytest.raises(IllegalTransition, match="job 7 is Waiting: cannot Started"):
        job(S.WAITING)(Started(1, "w"))
    with pytest.raises(IllegalTransition, match="is Running: cannot Finished"):
        job(S.RUNNING)(Finished(2))


# --------------------------------------------------------------------------- refusals

#: where the events that carry no attempt are legal, written out (not read from ALLOWED)
LEGAL: dict[type, set[JobStatus]] = {
    Checked: {S.RECEIVED},
    Match: {S.WAITING},
    Wait: {S.WAITING},
    Reschedule: {S.WAITING, S.MATCHED, S.RUNNING, S.FAILED, S.KILLED},
    Kill: {S.RECEIVED, S.WAITING, S.MATCHED, S.RUNNING, S.COMPLETING},
}
OTHER_EVENTS: list[Event] = [
    Checked(True),
    Match("KEK"),
    Wait("why"),
    Reschedule(),
    Reschedule(reset_count=True),
    Kill(),
]


@pytest.mark.parametrize(
    "status",
    [
        S.RECEIVED,
        S.WAITING,
        S.MATCHED,
        S.RUNNING,
        S.COMPLETING,
        S.DONE,
        S.FAILED,
        S.KILLED,
    ],
)
@pytest.mark.parametrize("event", OTHER_EVENTS, ids=lambda e: type(e).__name__)
def test_illegal_transitions_raise(status: JobStatus, event: Event) -> None:
    j = job(status)
    if status in LEGAL[type(event)]:
        assert status in ALLOWED[type(event)]
        j(event)
        return
    before = j.state
    with pytest.raises(IllegalTransition) as err:
        j(event)
    assert (err.value.job_id, err.value.current, err.value.event) == (
        7,
        status.value,
        type(event).__name__,
    )
    assert str(err.value) == f"job 7 is {status.value}: cannot {type(event).__name__}"
    assert j.state is before


@pytest.mark.parametrize(
    ("status", "event"),
    [
        (S.RUNNING, Registered(1)),
        (S.MATCHED, Registered(1)),
        (S.COMPLETING, AppFailed(1, "E")),
        (S.MATCHED, StalledTimeout(1)),
    ],
)
def test_illegal_attempt_events(status: JobStatus, event: Event) -> None:
    with pytest.raises(IllegalTransition):
        job(status)(event)


def test_transient_statuses_are_refused() -> None:
    with pytest.raises(IllegalTransition):
        decide(JobState(1, S.RESCHEDULED, "x"), Kill(), now=0.0, cap=CAP)


def test_stored_stalled_job_can_be_rescheduled_or_killed() -> None:
    stalled = JobState(1, S.STALLED, "Stalled", site="KEK", heartbeat=1.0)
    state, actions = decide(stalled, Reschedule(), now=5.0, cap=CAP)
    assert state.status is S.WAITING
    assert actions[0] == Cancel(1, "KEK", 1)
    state, actions = decide(stalled, Kill(), now=5.0, cap=CAP)
    assert state.status is S.KILLED
    assert actions[0] == Cancel(1, "KEK", 1)


# --------------------------------------------------------------------------- agents


def test_watchdog() -> None:
    def running(job_id: int, heartbeat: float | None) -> JobState:
        return JobState(
            job_id, S.RUNNING, "r", site="KEK", heartbeat=heartbeat, updated=50.0
        )

    states = [
        running(1, 100.0),
        running(2, 950.0),
        running(3, None),
        JobState(4, S.MATCHED, "m", site="KEK", updated=0.0),
        JobState(5, S.WAITING, "w", updated=0.0),
    ]
    found = watchdog(states, now=1000.0, threshold=600.0)
    assert found == [(1, StalledTimeout(1, 900.0)), (3, StalledTimeout(1, 950.0))]
    assert watchdog(states, now=1000.0, threshold=5000.0) == []


def test_open_attempts() -> None:
    actions: list[Action] = [
        Dispatch(1, "KEK", 1),
        Dispatch(2, "BNL", 1),
        DiscardAttempt(1, 1),
        Dispatch(1, "DESY", 2),
        RegisterOutputs(2, 1),
        DiscardAttempt(1, 1),  # a repeat for an attempt already closed
    ]
    assert open_attempts(actions) == {1: 2}
    assert open_attempts([], {5: 1}) == {5: 1}


@pytest.mark.parametrize(
    ("states", "kw", "text"),
    [
        ([JobState(1, S.WAITING, "w"), JobState(1, S.DONE, "d")], {}, "twice"),
        ([JobState(1, S.WAITING, "w", site="KEK")], {}, "has site"),
        ([JobState(1, S.RUNNING, "r", heartbeat=1.0)], {}, "no site"),
        ([JobState(1, S.RUNNING, "r", site="KEK")], {}, "heartbeat"),
        ([JobState(1, S.WAITING, "w", attempt=2)], {}, "reschedules"),
        ([JobState(1, S.WAITING, "w", attempt=3, reschedules=2)], {"cap": 1}, "cap"),
        ([JobState(1, S.WAITING, "")], {}, "why"),
        ([JobState(1, S.RESCHEDULED, "x")], {}, "transient"),
        ([JobState(1, S.DONE, "d", site="KEK")], {"opened": {1: 1}}, "dispatched"),
        (
            [JobState(1, S.RUNNING, "r", "A", "KEK", 2, 1, 1.0)],
            {"opened": {1: 1}},
            "old attempt",
        ),
    ],
)
def test_validate_state_catches(
    states: list[JobState], kw: dict[str, object], text: str
) -> None:
    with pytest.raises(AssertionError, match=text):
        validate_state(states, **kw)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- property

EVENT_KINDS = (
    "checked_ok",
    "checked_bad",
    "match",
    "wait",
    "started",
    "heartbeat",
    "finished",
    "registered",
    "app_failed",
    "lost",
    "crashed",
    "limit",
    "stalled",
    "reschedule",
    "reset",
    "kill",
)
SITES = ("KEK", "BNL", "DESY")
JOBS = 3


def _event(kind: str, attempt: int, site: str) -> Event:
    events: dict[str, Event] = {
        "checked_ok": Checked(True),
        "checked_bad": Checked(False, "bad input"),
        "match": Match(site, remote_bytes=attempt % 2 * 1000),
        "wait": Wait(f"No free slot: candidates {site} full"),
        "started": Started(attempt, f"tcp://{site}"),
        "heartbeat": Heartbeat(attempt),
        "finished": Finished(attempt),
        "registered": Registered(attempt),
        "app_failed": AppFailed(attempt, "RuntimeError: boom"),
        "lost": Lost(attempt, "Worker died"),
        "crashed": Crashed(attempt, "Payload crashed: Segmentation fault"),
        "limit": LimitExceeded(attempt, "Job has exceeded maximum wall clock time"),
        "stalled": StalledTimeout(attempt, 900.0),
        "reschedule": Reschedule(),
        "reset": Reschedule(reset_count=True),
        "kill": Kill(),
    }
    return events[kind]


#: the happy path's events come more often, so that jobs get to Done too
WEIGHTED = (
    EVENT_KINDS
    + ("checked_ok", "match", "started", "finished") * 2
    + (
        "registered",
        "registered",
        "registered",
    )
)
OFFSETS = (-1, 0, 0, 0, 1)  # attempt offset: stale, current (mostly), future
CHOICES = (JOBS, len(WEIGHTED), len(OFFSETS), len(SITES))
#: one step is one integer (cheap to generate, shrinks well), decoded by _step
STEPS = st.lists(st.integers(0, math.prod(CHOICES) - 1), min_size=60, max_size=200)


def _step(code: int) -> tuple[int, str, int, str]:
    picks = []
    for n in CHOICES:
        code, pick = divmod(code, n)
        picks.append(pick)
    i, kind, offset, site = picks
    return i, WEIGHTED[kind], OFFSETS[offset], SITES[site]


@settings(derandomize=True, max_examples=150, deadline=None, database=None)
@given(STEPS, st.integers(0, 3))
def test_random_event_sequences_keep_the_invariants(codes: list[int], cap: int) -> None:
    states = {i: JobState.received(i, now=0.0) for i in range(JOBS)}
    actions: list[Action] = []
    opened: dict[int, int] = {}
    done_attempt: dict[int, int] = {}
    for now, code in enumerate(codes, start=1):
        i, kind, offset, site = _step(code)
        before = states[i]
        event = _event(kind, max(1, before.attempt + offset), site)
        try:
            after, acts = decide(before, event, now=float(now), cap=cap)
        except IllegalTransition as err:
            # a refusal is one step of the walk, not the end of the test
            assert err.job_id == i  # noqa: PT017
            assert err.current == before.status.value  # noqa: PT017
            continue
        states[i] = after
        actions.extend(acts)
        opened = open_attempts(acts, opened)
        validate_state(states.values(), cap=cap, opened=opened)
        if before.status is S.DONE:
            assert after is before, "a Done job changed"
        if after.status is S.DONE and before.status is not S.DONE:
            assert i not in done_attempt, "job Done twice"
            done_attempt[i] = after.attempt
            assert RegisterOutputs(i, after.attempt) in actions
    for i, attempt in done_attempt.items():
        assert DiscardAttempt(i, attempt) not in actions, "registered, then discarded"
        registered = [a for a in actions if a == RegisterOutputs(i, attempt)]
        assert len(registered) == 1, "outputs of one attempt registered twice"
