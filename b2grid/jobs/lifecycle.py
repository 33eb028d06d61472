"""The job lifecycle as a pure state machine: :func:`decide` takes a job's state and an
event (what happened) and returns the new state and the actions (what the runtime must
do now). No Dask, disk or clock here; :func:`watchdog` finds silent jobs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeAlias

from b2grid.config import format_size
from b2grid.errors import IllegalTransition
from b2grid.jobs.model import FINAL, JobState, JobStatus

S = JobStatus
#: minor status of a job that failed because it was rescheduled too often
MAX_RESCHEDULES = "Maximum of reschedulings reached"
_PENDING = "Pending matching"

# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Checked:
    """The submission checks finished: Received/Checking → Waiting, or → Failed."""

    ok: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Match:
    """The matchmaker placed the job at ``site``: Waiting → Matched."""

    site: str
    #: bytes the attempt will read from other sites (policy ``read_remote``)
    remote_bytes: int = 0


@dataclass(frozen=True, slots=True)
class Wait:
    """The matchmaker left the job waiting, and says why (minor status only)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Started:
    """Attempt ``attempt`` began on ``worker``: Matched → Running."""

    attempt: int
    worker: str


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """Attempt ``attempt`` is alive."""

    attempt: int


@dataclass(frozen=True, slots=True)
class Finished:
    """The task of ``attempt`` returned; its outputs await registration."""

    attempt: int
    application_status: str = "Done"


@dataclass(frozen=True, slots=True)
class Registered:
    """The controller registered the outputs of ``attempt``: Completing → Done."""

    attempt: int


@dataclass(frozen=True, slots=True)
class AppFailed:
    """The user code of ``attempt`` raised: the job fails alone, no reschedule.

    ``error`` is ``"Type: message"`` first, then whatever the log should keep.
    """

    attempt: int
    error: str


@dataclass(frozen=True, slots=True)
class Lost:
    """Infrastructure lost ``attempt`` (worker died, site down, controller restarted,
    task vanished, unreadable inputs, bad outputs): automatic reschedule that does
    not count against the cap (it was not the job's fault), up to ``lost_cap``."""

    attempt: int
    reason: str


@dataclass(frozen=True, slots=True)
class Crashed:
    """The payload process of ``attempt`` died (it exited, or a signal ended it):
    automatic reschedule that counts against the cap, then Failed with the reason
    (DIRAC reschedules a job whose application ended abnormally)."""

    attempt: int
    reason: str


@dataclass(frozen=True, slots=True)
class LimitExceeded:
    """The monitor ended ``attempt`` for its memory or wall-clock time: the job
    fails alone, with the limit as its minor status (running it again would not
    help)."""

    attempt: int
    reason: str


@dataclass(frozen=True, slots=True)
class StalledTimeout:
    """``attempt`` sent no heartbeat for ``silence`` seconds: Running → Stalled →
    rescheduled (see :func:`watchdog`)."""

    attempt: int
    silence: float = 0.0


@dataclass(frozen=True, slots=True)
class Reschedule:
    """A manual reschedule; counts against the cap like a crash does.

    With ``reset_count`` (the owner's ``--reset-count``) the job's counted
    reschedules are forgiven (they join the uncounted ones) and this reschedule is
    not counted: a job at the cap may run again.
    """

    reason: str = "manual"
    reset_count: bool = False


@dataclass(frozen=True, slots=True)
class Kill:
    """Stop the job for good (a manual reschedule may revive it)."""

    reason: str = "killed by user"


#: events that belong to one attempt; those of an earlier attempt are stale
AttemptEvent: TypeAlias = (
    Started
    | Heartbeat
    | Finished
    | Registered
    | AppFailed
    | Lost
    | Crashed
    | LimitExceeded
    | StalledTimeout
)
Event: TypeAlias = Checked | Match | Wait | Reschedule | Kill | AttemptEvent

# --------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Submit ``attempt`` of the job to ``site``'s workers (resource ``site-NAME``)."""

    job_id: int
    site: str
    attempt: int


@dataclass(frozen=True, slots=True)
class Cancel:
    """Stop ``attempt`` if it still runs or waits at ``site`` (idempotent)."""

    job_id: int
    site: str
    attempt: int


@dataclass(frozen=True, slots=True)
class RegisterOutputs:
    """Verify and register the outputs of ``attempt``, then feed back
    :class:`Registered` (or :class:`Lost` if verification fails).

    Do it in one catalog transaction keyed by (job, attempt) that also stores the
    state after ``Registered``, and only if the stored state is still this
    attempt's Completing: a Kill or Lost decided meanwhile then wins cleanly.
    """

    job_id: int
    attempt: int


@dataclass(frozen=True, slots=True)
class DiscardAttempt:
    """Delete the temporary outputs of an abandoned ``attempt``; never register them
    (idempotent: it may come more than once for one attempt)."""

    job_id: int
    attempt: int


@dataclass(frozen=True, slots=True)
class Notify:
    """Something a person should hear about (log it, show it)."""

    job_id: int
    message: str


Action: TypeAlias = Dispatch | Cancel | RegisterOutputs | DiscardAttempt | Notify
Decision: TypeAlias = tuple[JobState, tuple[Action, ...]]

# --------------------------------------------------------------------------- decide

#: statuses in which an attempt is live (dispatched and not yet over)
LIVE = frozenset({S.MATCHED, S.RUNNING, S.COMPLETING})
#: statuses in which the current attempt was never dispatched
_UNDISPATCHED = frozenset({S.RECEIVED, S.CHECKING, S.WAITING})
#: event class → statuses it is legal in (for attempt events: of the live attempt).
#: Matched accepts a result too, since the start signal may come after it; Stalled
#: is transient in decide, but a runtime may store it and then reschedule or kill.
ALLOWED: dict[type, frozenset[JobStatus]] = {
    Checked: frozenset({S.RECEIVED, S.CHECKING}),
    Match: frozenset({S.WAITING}),
    Wait: frozenset({S.WAITING}),
    Started: LIVE,
    Heartbeat: LIVE,
    Finished: LIVE,
    Registered: frozenset({S.COMPLETING}),
    AppFailed: frozenset({S.MATCHED, S.RUNNING}),
    LimitExceeded: frozenset({S.MATCHED, S.RUNNING}),
    Lost: LIVE,
    Crashed: frozenset({S.MATCHED, S.RUNNING}),
    StalledTimeout: frozenset({S.RUNNING, S.COMPLETING}),
    Reschedule: frozenset(
        {S.WAITING, S.MATCHED, S.RUNNING, S.STALLED, S.FAILED, S.KILLED}
    ),
    Kill: _UNDISPATCHED | LIVE | {S.STALLED},
}


#: attempts a job may lose to the infrastructure before it is Failed anyway (a
#: guard against a fault that would reschedule it for ever)
LOST_CAP = 20
#: minor status of a job that lost too many attempts to the infrastructure
TOO_MANY_LOST = "Too many attempts lost to the infrastructure"


def decide(
    state: JobState, event: Event, *, now: float, cap: int, lost_cap: int = LOST_CAP
) -> Decision:
    """The state after ``event`` and the actions the runtime must carry out.

    Parameters
    ----------
    state
        The job's current state (never ``Rescheduled``: that status is transient).
    event
        What happened; see the event classes of this module.
    now
        Grid time, stored in ``updated`` (and ``heartbeat``).
    cap
        Reschedules allowed after the first attempt (``policies.reschedule_cap``)
        for the job's own failures: crashes, stalls and manual reschedules.
    lost_cap
        Attempts the job may lose to the infrastructure (not counted against
        ``cap``) before it is Failed with :data:`TOO_MANY_LOST`.

    Returns
    -------
    (new_state, actions)
        ``new_state is state`` when the event changes nothing (a repeated or stale
        event): the runtime need not write anything, but must still carry out the
        actions (a stale :class:`Finished` yields a :class:`DiscardAttempt`).

    Raises
    ------
    IllegalTransition
        For an event the job's status does not allow (see :data:`ALLOWED`), naming
        the job, its status and the event class.

    Notes
    -----
    Paths: Received/Checking → Waiting (or Failed) on Checked; Waiting → Matched →
    Running → Completing → Done; Matched/Running/Completing → Rescheduled on Lost
    (free: ``lost`` + 1), Matched/Running → Rescheduled on Crashed, Running →
    Stalled → Rescheduled on StalledTimeout (both counted: ``reschedules`` + 1);
    Rescheduled → Waiting with attempt + 1, or Failed with minor status
    ``"Maximum of reschedulings reached (<why>)"`` once ``cap`` counted
    reschedules were made; Matched/Running → Failed on AppFailed and
    LimitExceeded (the job's own: no reschedule); Kill from any non-final status;
    manual Reschedule from Waiting, Matched, Running, Stalled, Failed and Killed
    (a Failed or Killed job already at the cap stays as it is, with a Notify).
    Events of an earlier attempt are stale and ignored, as are late or repeated
    ones of a finished attempt; one of an attempt not yet dispatched is illegal.

    Examples
    --------
    >>> s = JobState.received(1, now=0.0)
    >>> s, _ = decide(s, Checked(ok=True), now=1.0, cap=3)
    >>> s, actions = decide(s, Match("KEK"), now=2.0, cap=3)
    >>> s.status.value, s.minor_status, actions
    ('Matched', 'Assigned to KEK', (Dispatch(job_id=1, site='KEK', attempt=1),))
    >>> s, actions = decide(s, Lost(1, "Worker died"), now=3.0, cap=3)
    >>> s.status.value, s.attempt, s.reschedules, s.minor_status
    ('Waiting', 2, 0, 'Worker died at KEK: rescheduled (not counted: 0 of 3 used)')
    >>> decide(s, Finished(1), now=4.0, cap=3)[1]  # the old attempt's late result
    (DiscardAttempt(job_id=1, attempt=1),)
    """
    status, job = state.status, state.job_id
    if isinstance(event, AttemptEvent):
        if event.attempt > state.attempt or (
            event.attempt == state.attempt and status in _UNDISPATCHED
        ):
            raise _illegal(state, event)
        if event.attempt < state.attempt or status not in LIVE:
            return _stale(state, event)
    if status not in ALLOWED[type(event)]:
        raise _illegal(state, event)
    match event:
        case Checked(ok=True):
            return state.with_(status=S.WAITING, minor_status=_PENDING, updated=now), ()
        case Checked(reason=reason):
            minor = f"Checking failed: {reason or 'no reason given'}"
            failed = state.with_(status=S.FAILED, minor_status=minor, updated=now)
            return failed, (Notify(job, f"job {job} failed: {minor}"),)
        case Match(site=site, remote_bytes=remote):
            minor = f"Assigned to {site}"
            if remote:
                minor += f", reading {format_size(remote)} remotely"
            matched = state.with_(
                status=S.MATCHED,
                minor_status=minor,
                site=site,
                remote_bytes=remote,
                updated=now,
            )
            return matched, (Dispatch(job, site, state.attempt),)
        case Wait(reason=reason):
            if reason == state.minor_status:
                return state, ()
            return state.with_(minor_status=reason, updated=now), ()
        case Started() | Heartbeat() if status is S.MATCHED:
            on = f" ({event.worker})" if isinstance(event, Started) else ""
            running = state.with_(
                status=S.RUNNING,
                minor_status=f"Running at {state.site}{on}",
                application_status="Running",
                heartbeat=now,
                updated=now,
            )
            return running, ()
        case Heartbeat() if status is S.RUNNING:
            return state.with_(heartbeat=now), ()
        case Finished() if status is not S.COMPLETING:
            completing = state.with_(
                status=S.COMPLETING,
                minor_status="Verifying and registering outputs",
                application_status=event.application_status,
                heartbeat=now,
                updated=now,
            )
            return completing, (RegisterOutputs(job, state.attempt),)
        case Registered():
            minor = "Execution complete: outputs registered"
            return state.with_(status=S.DONE, minor_status=minor, updated=now), ()
        case AppFailed(error=error):
            line = _first_line(error)
            return _fails_alone(state, f"Application error: {line}", line, now)
        case LimitExceeded(reason=reason):
            return _fails_alone(state, _first_line(reason), "Killed", now)
        case Lost(reason=reason):
            why = _at_site(state, _upper_first(reason))
            if state.lost >= lost_cap:
                return _fail(state, f"{TOO_MANY_LOST} ({lost_cap}; last: {why})", now)
            return _reschedule(state, why, now, cap, True, counted=False)
        case Crashed(reason=reason):
            why = _at_site(state, _first_line(_upper_first(reason)))
            return _reschedule(state, why, now, cap, True)
        case StalledTimeout(silence=silence) if status is S.RUNNING:
            why = f"Stalled at {state.site} (no heartbeat for {silence:.0f} s)"
            return _reschedule(state.with_(status=S.STALLED), why, now, cap, True)
        case Reschedule(reason=reason, reset_count=True):
            detail = "" if reason == "manual" else f" ({reason})"
            # the counted reschedules are forgiven: they join the uncounted ones
            fresh = state.with_(reschedules=0, lost=state.lost + state.reschedules)
            why = f"Manual reschedule{detail}, count reset"
            return _reschedule(fresh, why, now, cap, False, counted=False)
        case Reschedule(reason=reason):
            if state.final and state.reschedules >= cap:
                # nothing runs, so nothing to fail: the job keeps its final reason
                note = (
                    f"job {job} not rescheduled: at the cap ({state.reschedules} of "
                    f"{cap} reschedules used); its owner may reset the count "
                    "(reset_count=True, `b2grid job reschedule --reset-count`)"
                )
                return state, (Notify(job, note),)
            detail = "" if reason == "manual" else f" ({reason})"
            return _reschedule(state, f"Manual reschedule{detail}", now, cap, False)
        case Kill(reason=reason):
            killed = state.with_(
                status=S.KILLED, minor_status=_upper_first(reason), updated=now
            )
            return killed, _close(state)
    # a repeated start, heartbeat or result of the live attempt, or a watchdog
    # verdict that crossed the result: nothing to do
    return state, ()


def _illegal(state: JobState, event: Event) -> IllegalTransition:
    return IllegalTransition(state.job_id, state.status.value, type(event).__name__)


def _stale(state: JobState, event: AttemptEvent) -> Decision:
    """An event of an attempt that is over: nothing changes; a result is discarded
    unless it is the registered attempt's own repeated result."""
    if isinstance(event, Finished) and not (
        state.status is S.DONE and event.attempt == state.attempt
    ):
        return state, (DiscardAttempt(state.job_id, event.attempt),)
    return state, ()


def _first_line(error: str) -> str:
    """The line of an error that says what went wrong (a traceback's last line)."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    if not lines:
        return "unknown error"
    line = lines[-1] if lines[0].startswith("Traceback") else lines[0]
    return line if len(line) <= 200 else line[:199] + "…"


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _close(state: JobState) -> tuple[Action, ...]:
    """Actions that end the current attempt: stop it if it may run, drop its files."""
    discard = DiscardAttempt(state.job_id, state.attempt)
    if state.status in (S.MATCHED, S.RUNNING, S.STALLED) and state.site is not None:
        return Cancel(state.job_id, state.site, state.attempt), discard
    if state.status is S.COMPLETING:
        return (discard,)
    return ()


def _at_site(state: JobState, why: str) -> str:
    """``why``, followed by where, unless it names the site already."""
    return f"{why} at {state.site}" if state.site and state.site not in why else why


def _fails_alone(
    state: JobState, minor: str, application_status: str, now: float
) -> Decision:
    """Failed by the job's own doing (its attempt is over): no reschedule."""
    failed = state.with_(
        status=S.FAILED,
        minor_status=minor,
        application_status=application_status,
        updated=now,
    )
    job = state.job_id
    return failed, (
        DiscardAttempt(job, state.attempt),
        Notify(job, f"job {job}: {minor}"),
    )


def _fail(state: JobState, minor: str, now: float) -> Decision:
    """Failed for good with ``minor``; the attempt is closed."""
    closing = _close(state)
    failed = state.with_(status=S.FAILED, minor_status=minor, updated=now)
    note = f"job {state.job_id} failed: {minor}"
    return failed, (*closing, Notify(state.job_id, note))


def _reschedule(
    state: JobState,
    why: str,
    now: float,
    cap: int,
    auto: bool,
    *,
    counted: bool = True,
) -> Decision:
    """Pass through Rescheduled: back to Waiting as a new attempt, or Failed at cap.

    ``counted`` reschedules spend the job's cap; the others (infrastructure
    losses) only add to ``lost``.
    """
    if counted and state.reschedules >= cap:
        return _fail(state, f"{MAX_RESCHEDULES} ({why})", now)
    attempt = state.attempt + 1
    reschedules = state.reschedules + counted
    if counted:
        minor = f"{why}: rescheduled ({reschedules} of {cap} reschedules used)"
    else:
        minor = f"{why}: rescheduled (not counted: {reschedules} of {cap} used)"
    closing = _close(state)
    waiting = state.with_(
        status=S.WAITING,
        minor_status=minor,
        application_status="Unknown",
        site=None,
        attempt=attempt,
        reschedules=reschedules,
        lost=state.lost + (not counted),
        heartbeat=None,
        updated=now,
        remote_bytes=0,
    )
    notes = (Notify(state.job_id, f"job {state.job_id}: {minor}"),) if auto else ()
    return waiting, closing + notes


# --------------------------------------------------------------------------- agents


def watchdog(
    states: Iterable[JobState], now: float, threshold: float
) -> list[tuple[int, StalledTimeout]]:
    """Running jobs silent for more than ``threshold`` seconds, with their event.

    Silence is counted from the last heartbeat (or from the last update if the job
    never sent one). Feed each event to :func:`decide`; one that races with the
    job's result is ignored there.

    Examples
    --------
    >>> s = JobState(4, JobStatus.RUNNING, "Running at KEK", site="KEK",
    ...              heartbeat=100.0, updated=90.0)
    >>> watchdog([s], now=800.0, threshold=600.0)
    [(4, StalledTimeout(attempt=1, silence=700.0))]
    """
    stalled = []
    for state in states:
        if state.status is not S.RUNNING:
            continue
        last = state.heartbeat if state.heartbeat is not None else state.updated
        if now - last > threshold:
            stalled.append((state.job_id, StalledTimeout(state.attempt, now - last)))
    return stalled


def open_attempts(
    actions: Iterable[Action], start: Mapping[int, int] | None = None
) -> dict[int, int]:
    """Job id → attempt dispatched and not yet handed to registration or discarded.

    A :class:`Dispatch` opens an attempt; :class:`RegisterOutputs` or
    :class:`DiscardAttempt` of it closes it. Fold the actions of successive
    decisions through this to check them with :func:`validate_state`.
    """
    opened = dict(start or {})
    for action in actions:
        if isinstance(action, Dispatch):
            opened[action.job_id] = action.attempt
        elif (
            isinstance(action, RegisterOutputs | DiscardAttempt)
            and opened.get(action.job_id) == action.attempt
        ):
            del opened[action.job_id]
    return opened


def validate_state(
    states: Iterable[JobState],
    *,
    cap: int | None = None,
    opened: Mapping[int, int] | None = None,
) -> None:
    """Assert the lifecycle invariants (for tests; raises AssertionError).

    Job ids are unique; no state is Rescheduled (transient); ``attempt ==
    reschedules + lost + 1`` (every attempt after the first was counted, or not:
    lost to the infrastructure or forgiven by a count reset) and, given ``cap``,
    ``reschedules <= cap``; every job says why it is in its status;
    Matched/Running/Completing have a site and Waiting (and earlier) none; Running
    has a heartbeat. Given ``opened`` (from
    :func:`open_attempts`), an open attempt is the job's current one and the job is
    Matched or Running: a final job has no pending dispatch.
    """
    seen: set[int] = set()
    by_id: dict[int, JobState] = {}
    for s in states:
        tag = f"job {s.job_id} ({s.status.value}, attempt {s.attempt})"
        assert s.job_id not in seen, f"{tag}: job id twice"
        seen.add(s.job_id)
        by_id[s.job_id] = s
        assert s.status is not S.RESCHEDULED, f"{tag}: Rescheduled is transient"
        assert s.attempt >= 1, f"{tag}: attempts count from 1"
        assert s.attempt == s.reschedules + s.lost + 1, (
            f"{tag}: {s.reschedules} reschedules and {s.lost} lost attempts"
        )
        assert s.lost >= 0, f"{tag}: negative lost attempts"
        assert cap is None or s.reschedules <= cap, f"{tag}: over the cap {cap}"
        assert s.minor_status, f"{tag}: no minor status says why"
        assert s.remote_bytes >= 0, f"{tag}: negative remote bytes"
        if s.status in LIVE:
            assert s.site is not None, f"{tag}: no site"
        if s.status in _UNDISPATCHED:
            assert s.site is None, f"{tag}: has site {s.site}"
            assert s.remote_bytes == 0, f"{tag}: remote bytes before a match"
        if s.status is S.RUNNING:
            assert s.heartbeat is not None, f"{tag}: running without a heartbeat"
    for job_id, attempt in (opened or {}).items():
        job = by_id.get(job_id)
        if job is None:
            continue
        tag = f"job {job_id} ({job.status.value}, attempt {job.attempt})"
        assert job.status not in FINAL, f"{tag}: attempt {attempt} still dispatched"
        assert job.status in (S.MATCHED, S.RUNNING), f"{tag}: attempt {attempt} open"
        assert attempt == job.attempt, f"{tag}: old attempt {attempt} still open"


__all__ = ["ALLOWED", "LIVE", "MAX_RESCHEDULES", "Event", "AttemptEvent", "Action"]
__all__ += ["Decision", "Checked", "Match", "Wait", "Started", "Heartbeat"]
__all__ += ["Finished", "Registered", "AppFailed", "Lost", "StalledTimeout"]
__all__ += ["Crashed", "LimitExceeded", "LOST_CAP", "TOO_MANY_LOST"]
__all__ += ["Reschedule", "Kill", "Dispatch", "Cancel", "RegisterOutputs"]
__all__ += ["DiscardAttempt", "Notify", "decide", "watchdog", "open_attempts"]
__all__ += ["validate_state"]
