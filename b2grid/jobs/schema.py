"""The job tables in the catalog database, and how records and transitions become rows.

Projects, jobs (the submitted spec and the current :class:`~b2grid.jobs.model.JobState`
in one row) and attempts (one row per dispatched or given-up attempt, with its log),
on their own ``MetaData``: storage never imports jobs. Times are ISO-8601 UTC text as
in the storage tables (JobState's epoch seconds are converted here); a project row is
never deleted, so its name stays taken. :class:`AttemptChanges` keeps the attempts
table in step with the lifecycle's transitions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    case,
    func,
    insert,
    select,
    update,
)

from b2grid.jobs.lifecycle import (
    LIVE,
    Action,
    AppFailed,
    Crashed,
    Dispatch,
    Event,
    Heartbeat,
    Kill,
    LimitExceeded,
    Lost,
    Reschedule,
    StalledTimeout,
    Started,
)
from b2grid.jobs.model import FINAL, JobSpec, JobState, JobStatus, Requirements
from b2grid.jobs.records import AttemptRecord, AttemptStatus
from b2grid.storage.schema import create_versioned, iso, meta

S = JobStatus
A = AttemptStatus

#: bump when the job tables change; a catalog of another version is refused
JOBS_SCHEMA_VERSION = 3
#: key of the job tables' version in storage's ``meta`` table
_VERSION_KEY = "jobs_schema"

metadata = MetaData()

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("owner", String(64), nullable=False),
    Column("name", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created", String(40), nullable=False),
    Column("output_lpn", String(512)),
    #: set when deleted; the row stays so that the name is never reused
    Column("deleted", String(40)),
    UniqueConstraint("owner", "name", name="uq_projects_owner_name"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id"), nullable=False),
    #: the job's place in its project (0, 1, ... in submission order)
    Column("job_index", Integer, nullable=False),
    Column("owner", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    # the spec, whole
    Column("function", String(512)),  # "package.module:qualname", or NULL
    Column("payload", LargeBinary),  # the pickled callable, or NULL
    Column("args", LargeBinary, nullable=False),
    Column("inputs", Text, nullable=False),  # JSON list of LFNs
    Column("outputs", Text, nullable=False),  # JSON list of file names
    Column("output_lpns", Text),  # '|'-joined LPNs; NULL: the project's dataset
    Column("output_index", Integer),  # NULL: the job's index in its project
    Column("priority", Integer, nullable=False),
    Column("sites", Text, nullable=False),  # JSON list
    Column("banned_sites", Text, nullable=False),  # JSON list
    Column("cpu_seconds", Float, nullable=False),
    Column("submitted", String(40), nullable=False),
    # the state (JobState), replaced by each transition
    Column("status", String(16), nullable=False),
    Column("minor_status", Text, nullable=False),
    Column("application_status", Text, nullable=False),
    Column("site", String(32)),
    Column("attempt", Integer, nullable=False),
    Column("reschedules", Integer, nullable=False),
    Column("heartbeat", String(40)),
    Column("updated", String(40), nullable=False),
    Column("remote_bytes", BigInteger, nullable=False, default=0),
    Column("lost", Integer, nullable=False, default=0),
    Index("ix_jobs_project", "project_id", "job_index", unique=True),
    Index("ix_jobs_status", "status"),
    Index("ix_jobs_site_status", "site", "status"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("job_id", Integer, ForeignKey("jobs.id"), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    #: an AttemptStatus value
    Column("status", String(16), nullable=False),
    Column("site", String(32)),  # NULL: given up before dispatch
    Column("worker", String(256)),
    Column("remote_bytes", BigInteger, nullable=False, default=0),
    Column("dispatched", String(40)),
    Column("started", String(40)),
    Column("ended", String(40)),  # NULL while open (Dispatched, Running)
    Column("registered", String(40)),  # set once its outputs are registered
    Column("reason", Text, nullable=False, default=""),
    Column("application_status", Text, nullable=False, default="Unknown"),
    Column("stdout", Text, nullable=False, default=""),
    Column("stderr", Text, nullable=False, default=""),
    Column("traceback", Text, nullable=False, default=""),
    Column("timings", Text, nullable=False, default="{}"),  # JSON
)


def create_tables(engine: Engine) -> None:
    """Create the job tables in the catalog at ``engine`` if missing (idempotent).

    One write transaction, so that processes opening the catalog at once do not
    race; refuses (:class:`~b2grid.errors.CatalogError`) job tables of another
    :data:`JOBS_SCHEMA_VERSION`, but for version 2, which gains the ``lost``
    column (attempts lost to the infrastructure: none recorded before).
    """
    with engine.begin() as conn:
        row = conn.execute(
            select(meta.c.value).where(meta.c.key == _VERSION_KEY)
        ).first()
        if row is not None and int(row[0]) == 2:
            conn.exec_driver_sql(
                "ALTER TABLE jobs ADD COLUMN lost INTEGER NOT NULL DEFAULT 0"
            )
            conn.execute(
                update(meta)
                .where(meta.c.key == _VERSION_KEY)
                .values(value=str(JOBS_SCHEMA_VERSION))
            )
    create_versioned(engine, metadata, _VERSION_KEY, JOBS_SCHEMA_VERSION, "job tables")


# --------------------------------------------------------------------------- rows

#: the columns of a JobState, in its field order
STATE_COLUMNS = (
    jobs.c.id,
    jobs.c.status,
    jobs.c.minor_status,
    jobs.c.application_status,
    jobs.c.site,
    jobs.c.attempt,
    jobs.c.reschedules,
    jobs.c.heartbeat,
    jobs.c.updated,
    jobs.c.remote_bytes,
    jobs.c.lost,
)
#: the columns of a JobSpec (its project's name comes from the projects table)
SPEC_COLUMNS = (
    jobs.c.owner,
    jobs.c.kind,
    jobs.c.function,
    jobs.c.payload,
    jobs.c.args,
    jobs.c.inputs,
    jobs.c.outputs,
    jobs.c.priority,
    jobs.c.sites,
    jobs.c.banned_sites,
    jobs.c.cpu_seconds,
    jobs.c.output_lpns,
    jobs.c.output_index,
)
#: replace a job's state (executemany with ``b_id`` and :func:`state_row` values)
UPDATE_STATE = update(jobs).where(jobs.c.id == bindparam("b_id"))


@lru_cache(maxsize=4096)
def iso_of(t: float) -> str:
    """Epoch seconds (a JobState time) as the catalog's ISO text.

    Examples
    --------
    >>> iso_of(1767225600.5)
    '2026-01-01T00:00:00.500000+00:00'
    >>> epoch(iso_of(1767225600.5))
    1767225600.5
    """
    return iso(datetime.fromtimestamp(t, tz=timezone.utc))


def epoch(text: str) -> float:
    """The catalog's ISO text as epoch seconds (exact for whole microseconds)."""
    return datetime.fromisoformat(text).timestamp()


#: status name → JobStatus (a dict lookup is many times faster than ``JobStatus(x)``)
_STATUS = {s.value: s for s in JobStatus}


def state_of(row: Sequence[Any]) -> JobState:
    """The JobState of a row of :data:`STATE_COLUMNS`."""
    (job_id, status, minor, app, site, attempt, reschedules, beat, updated, remote,
     lost) = row  # fmt: skip
    return JobState(
        job_id,
        _STATUS[status],
        minor,
        app,
        site,
        attempt,
        reschedules,
        None if beat is None else epoch(beat),
        epoch(updated),
        remote,
        lost,
    )


def state_row(s: JobState) -> dict[str, Any]:
    """The column values of ``s`` (all but the id)."""
    return {
        "status": s.status.value,
        "minor_status": s.minor_status,
        "application_status": s.application_status,
        "site": s.site,
        "attempt": s.attempt,
        "reschedules": s.reschedules,
        "heartbeat": None if s.heartbeat is None else iso_of(s.heartbeat),
        "updated": iso_of(s.updated),
        "remote_bytes": s.remote_bytes,
        "lost": s.lost,
    }


def spec_row(spec: JobSpec) -> dict[str, Any]:
    """The column values of ``spec`` (all but its project's name)."""
    req = spec.requirements
    return {
        "owner": spec.owner,
        "kind": spec.kind,
        "function": spec.function,
        "payload": spec.payload,
        "args": spec.args,
        "inputs": json.dumps(list(spec.inputs)),
        "outputs": json.dumps(list(spec.outputs)),
        "priority": req.priority,
        "sites": json.dumps(list(req.sites)),
        "banned_sites": json.dumps(list(req.banned_sites)),
        "cpu_seconds": float(req.cpu_seconds),
        "output_lpns": "|".join(spec.output_lpns) or None,
        "output_index": spec.output_index,
    }


def spec_of(row: Sequence[Any], project: str) -> JobSpec:
    """The JobSpec of a row of :data:`SPEC_COLUMNS` in project ``project``."""
    owner, kind, function, payload, args, inputs, outputs = row[:7]
    priority, sites, banned, cpu, output_lpns, output_index = row[7:13]
    return JobSpec(
        function=function,
        payload=None if payload is None else bytes(payload),
        args=bytes(args),
        inputs=tuple(json.loads(inputs)),
        outputs=tuple(json.loads(outputs)),
        requirements=Requirements(
            tuple(json.loads(sites)), tuple(json.loads(banned)), priority, cpu
        ),
        owner=owner,
        project=project,
        kind=kind,
        output_lpns=tuple(output_lpns.split("|")) if output_lpns else (),
        output_index=output_index,
    )


def attempt_of(row: Any) -> AttemptRecord:
    """The AttemptRecord of a whole row of the attempts table, log included."""
    return AttemptRecord(
        job_id=row.job_id,
        attempt=row.attempt,
        status=A(row.status),
        site=row.site,
        worker=row.worker,
        dispatched=row.dispatched,
        started=row.started,
        ended=row.ended,
        registered=row.registered,
        reason=row.reason,
        application_status=row.application_status,
        remote_bytes=row.remote_bytes,
        stdout=row.stdout,
        stderr=row.stderr,
        traceback=row.traceback,
        timings=json.loads(row.timings),
    )


# --------------------------------------------------------------------------- attempts


def _this_attempt() -> Any:
    return and_(
        attempts.c.job_id == bindparam("b_job"),
        attempts.c.attempt == bindparam("b_attempt"),
    )


_START = (
    update(attempts)
    .where(_this_attempt())
    .values(
        worker=func.coalesce(attempts.c.worker, bindparam("b_worker", type_=String)),
        started=func.coalesce(attempts.c.started, bindparam("b_now", type_=String)),
        status=case(
            (attempts.c.status == A.DISPATCHED.value, A.RUNNING.value),
            else_=attempts.c.status,
        ),
    )
)
_END = (
    update(attempts)
    .where(_this_attempt())
    .values(
        status=bindparam("b_status"),
        ended=func.coalesce(attempts.c.ended, bindparam("b_now", type_=String)),
        reason=bindparam("b_reason"),
        application_status=func.coalesce(
            bindparam("b_app", type_=String), attempts.c.application_status
        ),
    )
)
_REGISTER = (
    update(attempts)
    .where(_this_attempt())
    .values(status=A.DONE.value, registered=bindparam("b_now"))
)


def _new_attempt(
    job_id: int,
    attempt: int,
    status: AttemptStatus,
    *,
    site: str | None = None,
    remote_bytes: int = 0,
    dispatched: str | None = None,
    ended: str | None = None,
    reason: str = "",
) -> dict[str, Any]:
    return {
        "job_id": job_id,
        "attempt": attempt,
        "status": status.value,
        "site": site,
        "worker": None,
        "remote_bytes": remote_bytes,
        "dispatched": dispatched,
        "started": None,
        "ended": ended,
        "registered": None,
        "reason": reason,
        "application_status": "Unknown",
        "stdout": "",
        "stderr": "",
        "traceback": "",
        "timings": "{}",
    }


def _ending(old: JobState, new: JobState, event: Event) -> tuple[AttemptStatus, str]:
    """How the job's current attempt ends with ``event``, and why."""
    if old.status is S.KILLED:
        return A.KILLED, old.minor_status
    if old.status is S.FAILED:
        return A.FAILED, old.minor_status
    match event:
        case AppFailed():
            return A.FAILED, new.application_status
        case LimitExceeded(reason=reason):
            return A.FAILED, reason
        case Crashed(reason=reason):
            return A.CRASHED, reason
        case Lost(reason=reason):
            return A.LOST, reason
        case StalledTimeout(silence=silence):
            return A.STALLED, f"no heartbeat for {silence:.0f} s"
        case Kill(reason=reason):
            return A.KILLED, reason
        case Reschedule(reason=reason):
            return A.RESCHEDULED, "manual reschedule" + (
                "" if reason == "manual" else f" ({reason})"
            )
    return A.LOST, new.minor_status


class AttemptChanges:
    """Changes to the attempts table gathered over transitions, written together.

    :meth:`add` derives them from one transition; :meth:`write` runs one
    executemany per kind, in an order that is right for any sequence of
    transitions (a row is inserted before it starts, starts before it ends, ends
    before it is registered; a new attempt is always a new row).

    The rows follow the lifecycle: a job's current attempt has a row exactly when
    the job has a site (a Match sets the site and dispatches; a reschedule clears
    it and starts a new attempt); every earlier attempt has a row, closed. An
    attempt given up before dispatch gets its (closed) row when the next begins.
    """

    __slots__ = ("ends", "inserts", "registrations", "starts")

    def __init__(self) -> None:
        self.inserts: list[dict[str, Any]] = []
        self.starts: list[dict[str, Any]] = []
        self.ends: list[dict[str, Any]] = []
        self.registrations: list[dict[str, Any]] = []

    def add(
        self,
        old: JobState,
        new: JobState,
        event: Event,
        actions: Iterable[Action],
        stamp: str,
    ) -> None:
        """Gather the changes of the transition ``old`` → ``new`` by ``event`` with
        ``actions``, at grid time ``stamp`` (ISO text)."""
        job = old.job_id
        for action in actions:
            if isinstance(action, Dispatch):
                self.inserts.append(
                    _new_attempt(
                        job,
                        action.attempt,
                        A.DISPATCHED,
                        site=action.site,
                        remote_bytes=new.remote_bytes,
                        dispatched=stamp,
                    )
                )
        key = {"b_job": job, "b_attempt": old.attempt, "b_now": stamp}
        if isinstance(event, Started | Heartbeat):
            # the first sign of life starts the attempt; a late Started names the
            # worker of an attempt a heartbeat already started
            if event.attempt == old.attempt and (
                old.status is S.MATCHED
                or (old.status is S.RUNNING and isinstance(event, Started))
            ):
                worker = event.worker if isinstance(event, Started) else None
                self.starts.append(key | {"b_worker": worker})
            return
        if new is old:
            return
        if new.status is S.COMPLETING and old.status is not S.COMPLETING:
            app = new.application_status
            self.ends.append(
                key | {"b_status": A.FINISHED.value, "b_reason": "", "b_app": app}
            )
        elif new.status is S.DONE:
            self.registrations.append(key)
        elif new.attempt > old.attempt or (
            new.status in FINAL and old.status not in FINAL
        ):
            status, reason = _ending(old, new, event)
            if old.site is None:  # never dispatched: a row only once given up
                if new.attempt > old.attempt:
                    self.inserts.append(
                        _new_attempt(
                            job, old.attempt, status, ended=stamp, reason=reason
                        )
                    )
            elif old.status in LIVE or old.status is S.STALLED:
                failed = isinstance(event, AppFailed | LimitExceeded)
                self.ends.append(
                    key
                    | {"b_status": status.value, "b_reason": reason}
                    | {"b_app": new.application_status if failed else None}
                )

    def write(self, conn: Connection) -> None:
        """Write the gathered changes in ``conn``'s transaction and forget them."""
        for params, statement in (
            (self.inserts, insert(attempts)),
            (self.starts, _START),
            (self.ends, _END),
            (self.registrations, _REGISTER),
        ):
            if params:
                conn.execute(statement, params)
                params.clear()


__all__ = [
    "JOBS_SCHEMA_VERSION",
    "SPEC_COLUMNS",
    "STATE_COLUMNS",
    "UPDATE_STATE",
    "AttemptChanges",
    "attempt_of",
    "attempts",
    "create_tables",
    "epoch",
    "iso_of",
    "jobs",
    "metadata",
    "projects",
    "spec_of",
    "spec_row",
    "state_of",
    "state_row",
]
