"""Plain records the job store hands out: projects, jobs, attempts, summaries.

Frozen, slotted, what the catalog knew at the moment of reading; nothing live. Times
of projects and attempts are ISO-8601 UTC text as the catalog stores them; the times
inside a :class:`~b2grid.jobs.model.JobState` are epoch seconds (grid time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from b2grid.jobs.matchmaker import Candidate
from b2grid.jobs.model import JobSpec, JobState, JobStatus

S = JobStatus
#: statuses counted as "waiting" in a summary (not yet placed)
WAITING_STATUSES = frozenset({S.RECEIVED, S.CHECKING, S.WAITING})
#: statuses counted as "running" in a summary (an attempt is live at a site)
RUNNING_STATUSES = frozenset({S.MATCHED, S.RUNNING, S.COMPLETING})


class AttemptStatus(str, Enum):
    """Where one attempt of a job stands, or how it ended.

    ``Dispatched`` and ``Running`` are open (the task may still run); every other
    status is closed. ``Finished`` means the task returned and its outputs await
    registration; ``Done`` that they were registered (exactly one attempt of a Done
    job is Done). ``Rescheduled`` is an attempt given up by a manual reschedule,
    possibly before it was ever dispatched.
    """

    DISPATCHED = "Dispatched"
    RUNNING = "Running"
    FINISHED = "Finished"
    DONE = "Done"
    FAILED = "Failed"
    LOST = "Lost"
    #: the payload process died (it exited, or a signal ended it)
    CRASHED = "Crashed"
    STALLED = "Stalled"
    KILLED = "Killed"
    RESCHEDULED = "Rescheduled"

    @property
    def open(self) -> bool:
        """True while the attempt's task may still run (Dispatched, Running)."""
        return self in (AttemptStatus.DISPATCHED, AttemptStatus.RUNNING)


def project_status(by_status: Mapping[JobStatus, int], deleted: bool = False) -> str:
    """The status of a project, derived from how many of its jobs are in each status.

    ``Done`` when every job is Done; once every job is final, ``Failed`` if any
    failed, else ``Killed``; ``Running`` while any job is placed at a site or some
    are final and others not; ``Waiting`` while none has been placed yet; ``Empty``
    without jobs; ``Deleted`` for a deleted project.

    Examples
    --------
    >>> project_status({JobStatus.DONE: 3})
    'Done'
    >>> project_status({JobStatus.DONE: 2, JobStatus.FAILED: 1})
    'Failed'
    >>> project_status({JobStatus.DONE: 2, JobStatus.WAITING: 1})
    'Running'
    >>> project_status({JobStatus.WAITING: 4})
    'Waiting'
    """
    if deleted:
        return "Deleted"
    counts = {s: n for s, n in by_status.items() if n > 0}
    if not counts:
        return "Empty"
    if set(counts) == {S.DONE}:
        return "Done"
    if all(s in (S.DONE, S.FAILED, S.KILLED) for s in counts):
        return "Failed" if S.FAILED in counts else "Killed"
    if all(s in WAITING_STATUSES for s in counts):
        return "Waiting"
    return "Running"


@dataclass(frozen=True, slots=True)
class ProjectRecord:
    """A project (a user's submission, gbasf2's ``-p NAME``) as stored."""

    project_id: int
    owner: str
    #: unique per owner forever (also after deletion)
    name: str
    #: one of :data:`~b2grid.jobs.model.KINDS`
    kind: str
    description: str
    #: grid time of submission (ISO text)
    created: str
    #: the dataset the project's outputs go to, if it has one
    output_lpn: str | None
    #: grid time of deletion (ISO text), or None
    deleted: str | None
    #: number of jobs
    njobs: int
    #: derived from the jobs' statuses by :func:`project_status`
    status: str


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job: what was submitted, where it stands, and to which project it
    belongs."""

    spec: JobSpec
    state: JobState
    project_id: int
    #: the job's place in its project, 0 for the first spec submitted
    index: int
    #: grid time of submission (ISO text)
    submitted: str
    #: the dataset the project's outputs go to, if it has one
    output_lpn: str | None

    @property
    def job_id(self) -> int:
        return self.state.job_id

    @property
    def project(self) -> str:
        """The project's name."""
        return self.spec.project

    @property
    def kind(self) -> str:
        return self.spec.kind


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One attempt of a job: where and when it ran, how it ended, and its log."""

    job_id: int
    attempt: int
    status: AttemptStatus
    #: the site it was dispatched to (None: never dispatched)
    site: str | None
    #: the Dask worker that ran it, once known
    worker: str | None
    #: grid times (ISO text): dispatched, started, ended (task over), registered
    dispatched: str | None
    started: str | None
    ended: str | None
    registered: str | None
    #: why it ended (``Worker died``, ``ZeroDivisionError: ...``, ...); "" if open
    reason: str
    #: what the application last reported for this attempt
    application_status: str
    #: bytes the attempt read from other sites' storage elements
    remote_bytes: int
    #: captured output and error streams, the traceback of a failure (truncated)
    stdout: str = ""
    stderr: str = ""
    traceback: str = ""
    #: phase name → seconds (``stage_in``, ``run``, ``stage_out``, ...)
    timings: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProjectSummary:
    """The counts of one project (``b2grid project summary``, gb2_project_summary)."""

    project: ProjectRecord
    #: jobs per status (statuses without jobs are absent)
    by_status: Mapping[JobStatus, int]
    #: site → jobs per status, for jobs placed at a site (current or last attempt)
    by_site: Mapping[str, Mapping[JobStatus, int]]
    #: reschedules over all jobs
    reschedules: int = 0
    #: bytes the live or last attempts read remotely
    remote_bytes: int = 0
    #: latest change of any job (ISO text), or None without jobs
    last_update: str | None = None

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def count(self, *statuses: JobStatus) -> int:
        """Jobs in any of ``statuses``."""
        return sum(self.by_status.get(s, 0) for s in statuses)

    @property
    def done(self) -> int:
        return self.count(S.DONE)

    @property
    def failed(self) -> int:
        return self.count(S.FAILED)

    @property
    def killed(self) -> int:
        return self.count(S.KILLED)

    @property
    def running(self) -> int:
        """Matched, Running and Completing."""
        return self.count(*RUNNING_STATUSES)

    @property
    def waiting(self) -> int:
        """Received, Checking and Waiting."""
        return self.count(*WAITING_STATUSES)


@dataclass(frozen=True, slots=True)
class WaitingJob:
    """A Waiting job, ready for the matchmaker: its state and its candidate."""

    state: JobState
    candidate: Candidate

    @property
    def job_id(self) -> int:
        return self.state.job_id


@dataclass(frozen=True, slots=True)
class RescheduleReport:
    """What a manual reschedule did: the jobs it moved, and why it left the others.

    Examples
    --------
    >>> r = RescheduleReport(moved=(3, 4), refused={5: "Done: nothing to redo"})
    >>> r.count
    2
    >>> print(r.summary())
    rescheduled 2 job(s): 3, 4
    job 5 not rescheduled: Done: nothing to redo
    """

    #: jobs now Waiting as a new attempt
    moved: tuple[int, ...] = ()
    #: job id → why it was not rescheduled
    refused: Mapping[int, str] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """How many jobs were rescheduled."""
        return len(self.moved)

    def summary(self) -> str:
        """One line for the moved jobs, one per job left as it was."""
        ids = ", ".join(map(str, self.moved))
        lines = [f"rescheduled {self.count} job(s)" + (f": {ids}" if ids else "")]
        lines += [f"job {j} not rescheduled: {why}" for j, why in self.refused.items()]
        return "\n".join(lines)


__all__ = [
    "RescheduleReport",
    "RUNNING_STATUSES",
    "WAITING_STATUSES",
    "AttemptRecord",
    "AttemptStatus",
    "JobRecord",
    "ProjectRecord",
    "ProjectSummary",
    "WaitingJob",
    "project_status",
]
