"""What a job is: its status names, what it asks for, and what the catalog keeps of it.

Plain frozen records and pure checks only: :class:`JobSpec` is what a user submits,
:class:`JobState` what the catalog persists per job; nothing here touches Dask or disk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from b2grid.errors import BadJob, BadLFN, BadProjectName, did_you_mean
from b2grid.storage.lfn import validate_lfn, validate_part

#: longest project name gbasf2 accepts
MAX_PROJECT_NAME = 32
#: the kinds of job the grid runs
KINDS = ("user", "production", "processing", "mc", "skim", "calibration")
#: lowest and highest job priority
PRIORITY_RANGE = (0, 10)

_PROJECT_CHARS = re.compile(r"[A-Za-z0-9_-]")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_REFERENCE = re.compile(rf"{_IDENT}(\.{_IDENT})*:{_IDENT}(\.{_IDENT})*")


class JobStatus(str, Enum):
    """DIRAC's job statuses; the value is the name users see.

    ``Rescheduled`` is transient: :func:`~b2grid.jobs.lifecycle.decide` passes a job
    through it back to ``Waiting`` (or to ``Failed`` at the cap), so it is never stored.
    """

    RECEIVED = "Received"
    CHECKING = "Checking"
    WAITING = "Waiting"
    MATCHED = "Matched"
    RUNNING = "Running"
    COMPLETING = "Completing"
    DONE = "Done"
    FAILED = "Failed"
    STALLED = "Stalled"
    KILLED = "Killed"
    RESCHEDULED = "Rescheduled"


#: statuses a job leaves only by a manual reschedule (Failed, Killed) or never (Done)
FINAL = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.KILLED})


def validate_project_name(name: str) -> str:
    """Return ``name`` if it follows the gbasf2 rules, else raise BadProjectName.

    A project name is 1 to 32 characters of ``A-Z a-z 0-9 _ -``. Uniqueness per
    owner is the catalog's business, not this function's.

    Examples
    --------
    >>> validate_project_name("ana_2026-v1")
    'ana_2026-v1'
    >>> validate_project_name("my ana/v1")
    Traceback (most recent call last):
    ...
    b2grid.errors.BadProjectName: project name 'my ana/v1' contains ' ', '/'...
    """
    if not isinstance(name, str) or not name:
        raise BadProjectName(str(name), "is empty")
    bad = [c for c in dict.fromkeys(name) if not _PROJECT_CHARS.fullmatch(c)]
    if bad:
        listing = ", ".join(repr(c) for c in bad)
        raise BadProjectName(name, f"contains {listing}, which are not allowed")
    if len(name) > MAX_PROJECT_NAME:
        raise BadProjectName(
            name,
            f"is {len(name)} characters long, over the limit of {MAX_PROJECT_NAME}",
        )
    return name


def _site_tuple(field: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, tuple):
        raise BadJob(field, f"give a tuple of site names, not {value!r}")
    return value


@dataclass(frozen=True, slots=True)
class Requirements:
    """Where and how urgently a job may run (gbasf2's ``--site``, ``--banned_site``,
    ``--priority``).

    An empty ``sites`` means anywhere; ``banned_sites`` always wins.
    """

    #: sites the job may run at (allow list); empty: any site
    sites: tuple[str, ...] = ()
    #: sites the job must not run at
    banned_sites: tuple[str, ...] = ()
    #: 0 (lowest) to 10 (highest); higher-priority jobs are matched first
    priority: int = 5
    #: estimated CPU time in seconds (informative, for load estimates)
    cpu_seconds: float = 60.0

    def validate(self, known_sites: Iterable[str]) -> Requirements:
        """Return self if the requirements can be met, else raise BadJob.

        Refused, with the field named: a priority that is not an integer in 0-10, a
        CPU estimate that is not a positive number, a site name not in
        ``known_sites`` (with a did-you-mean), an allow list whose every site is
        banned, a site both allowed and banned.

        Examples
        --------
        >>> Requirements(sites=("KEK",), priority=7).validate(["KEK", "DESY"])
        Requirements(sites=('KEK',), banned_sites=(), priority=7, cpu_seconds=60.0)
        >>> Requirements(banned_sites=("DSEY",)).validate(["KEK", "DESY"])
        Traceback (most recent call last):
        ...
        b2grid.errors.BadJob: banned_sites: unknown site 'DSEY' (did you mean ...
        """
        known = list(known_sites)
        lo, hi = PRIORITY_RANGE
        priority: object = self.priority
        if isinstance(priority, bool) or not isinstance(priority, int):
            raise BadJob(
                "priority", f"{priority!r} is not an integer from {lo} to {hi}"
            )
        if not lo <= priority <= hi:
            raise BadJob("priority", f"{priority} is out of range; use {lo} to {hi}")
        cpu: object = self.cpu_seconds
        if (
            isinstance(cpu, bool)
            or not isinstance(cpu, int | float)
            or not 0 < cpu < float("inf")
        ):
            raise BadJob("cpu_seconds", f"{cpu!r} is not a positive number of seconds")
        for field in ("sites", "banned_sites"):
            for site in _site_tuple(field, getattr(self, field)):
                if site not in known:
                    raise BadJob(
                        field,
                        f"unknown site {site!r}{did_you_mean(site, known)}; known "
                        f"sites: {', '.join(known)}",
                    )
        banned = set(self.banned_sites)
        if self.sites and banned.issuperset(self.sites):
            raise BadJob(
                "sites",
                f"every allowed site ({', '.join(self.sites)}) is also banned, so the "
                "job could run nowhere",
            )
        both = [s for s in self.sites if s in banned]
        if both:
            raise BadJob(
                "banned_sites",
                f"{', '.join(both)} both allowed and banned; drop it from one list",
            )
        return self


@dataclass(frozen=True, slots=True, kw_only=True)
class JobSpec:
    """One job as submitted: what to run, on what, writing what, for whom.

    Exactly one of ``function`` (an importable ``"package.module:qualname"``, for
    b2grid's own and installed code) and ``payload`` (the callable pickled by value,
    for a user's code) is given. ``args`` are the pickled keyword arguments, opaque
    here. All keyword-only.
    """

    #: importable reference ``"package.module:qualname"``, or None with a payload
    function: str | None = None
    #: the callable pickled by value (cloudpickle), or None with a function reference
    payload: bytes | None = None
    #: pickled keyword arguments for the callable (opaque to the job system)
    args: bytes = b""
    #: input LFNs the job reads
    inputs: tuple[str, ...] = ()
    #: simple file names the job writes (registered under the project's LPN)
    outputs: tuple[str, ...] = ()
    requirements: Requirements = Requirements()
    owner: str
    project: str
    #: one of :data:`KINDS`
    kind: str = "user"
    #: the datasets this job's outputs go to: none (the project's), one (all
    #: outputs) or one per output, in order
    output_lpns: tuple[str, ...] = ()
    #: the job's file number in that dataset (default: its index in the project)
    output_index: int | None = None

    def validate(self, known_sites: Iterable[str]) -> JobSpec:
        """Return self if the spec is well formed, else raise (nothing is created).

        Pure checks only: whether the function imports or unpickles, whether the
        inputs exist in the catalog and whether the project name is free are for
        the submitting runtime. Raises :class:`~b2grid.errors.BadProjectName` for
        the project, :class:`~b2grid.errors.BadJob` naming the field otherwise.

        Examples
        --------
        >>> spec = JobSpec(function="b2grid.demo:run", owner="alice", project="p1",
        ...                inputs=("/belle/user/alice/in/f1.root",),
        ...                outputs=("ntuple.root",))
        >>> spec.validate(["KEK"]) is spec
        True
        >>> JobSpec(function="run", owner="alice", project="p1").validate(["KEK"])
        Traceback (most recent call last):
        ...
        b2grid.errors.BadJob: function: 'run' is not an importable reference ...
        """
        if (self.function is None) == (self.payload is None):
            raise BadJob(
                "function",
                "give exactly one of an importable reference ('package.module:name') "
                "and a pickled payload",
            )
        if self.function is not None and not _REFERENCE.fullmatch(self.function):
            raise BadJob(
                "function",
                f"{self.function!r} is not an importable reference of the form "
                "'package.module:qualname'",
            )
        if self.payload is not None and (
            not isinstance(self.payload, bytes) or not self.payload
        ):
            raise BadJob("payload", "the pickled callable is empty or not bytes")
        if not isinstance(self.args, bytes):
            raise BadJob("args", "pickled keyword arguments must be bytes")
        try:
            validate_part(self.owner, "owner")
        except BadLFN as err:
            raise BadJob("owner", f"{self.owner!r} is not a user name") from err
        validate_project_name(self.project)
        if self.kind not in KINDS:
            raise BadJob(
                "kind",
                f"unknown kind {self.kind!r}{did_you_mean(self.kind, KINDS)}; kinds: "
                f"{', '.join(KINDS)}",
            )
        self._validate_files()
        if len(self.output_lpns) not in (0, 1, len(self.outputs)):
            raise BadJob(
                "output_lpns",
                f"{len(self.output_lpns)} datasets for {len(self.outputs)} outputs; "
                "give none, one, or one per output",
            )
        for lpn in self.output_lpns:
            try:
                validate_lfn(lpn)
            except BadLFN as err:
                raise BadJob("output_lpns", f"{lpn!r}: {err.reason}") from err
        if self.output_index is not None and (
            type(self.output_index) is not int or self.output_index < 0
        ):
            raise BadJob("output_index", f"{self.output_index!r}: give an int >= 0")
        self.requirements.validate(known_sites)
        return self

    def _validate_files(self) -> None:
        for field in ("inputs", "outputs"):
            value = getattr(self, field)
            if isinstance(value, str) or not isinstance(value, tuple):
                raise BadJob(field, f"give a tuple of names, not {value!r}")
            seen: set[str] = set()
            for name in value:
                if name in seen:
                    raise BadJob(field, f"{name!r} is listed twice")
                seen.add(name)
        for lfn in self.inputs:
            try:
                validate_lfn(lfn)
            except BadLFN as err:
                raise BadJob("inputs", f"{lfn!r} is not an LFN: {err.reason}") from err
        for name in self.outputs:
            try:
                validate_part(name, "output")
            except BadLFN as err:
                raise BadJob(
                    "outputs",
                    f"{name!r} is not a simple file name (letters, digits, '._+-'; no "
                    "'/'); the job system chooses the directory",
                ) from err


@dataclass(frozen=True, slots=True)
class JobState:
    """What the catalog persists per job: one row, replaced by each transition."""

    job_id: int
    status: JobStatus
    #: why the job is in its status ("Pending matching", "Assigned to KEK", ...)
    minor_status: str = ""
    #: what the application itself last reported ("Unknown" until it runs)
    application_status: str = "Unknown"
    #: the site of the current (or last) attempt; None while unplaced
    site: str | None = None
    #: 1 for the first attempt, +1 at every reschedule
    attempt: int = 1
    #: reschedules that count against the cap: the job's own crashes, stalls and
    #: manual reschedules
    reschedules: int = 0
    #: grid time of the last sign of life of the running attempt
    heartbeat: float | None = None
    #: grid time of the last change of status, minor or application status
    updated: float = 0.0
    #: bytes the current attempt reads from other sites' storage elements
    remote_bytes: int = 0
    #: attempts not counted against the cap: lost to the infrastructure (a site
    #: down, a worker or controller gone, unreadable inputs) or forgiven by an
    #: owner's count reset; always ``attempt - 1 - reschedules``
    lost: int = 0

    @classmethod
    def received(cls, job_id: int, now: float) -> JobState:
        """The state of a job just accepted, before any check.

        Examples
        --------
        >>> JobState.received(7, now=10.0).status.value
        'Received'
        """
        return cls(job_id, JobStatus.RECEIVED, "Job accepted", updated=now)

    @property
    def final(self) -> bool:
        """True for Done, Failed and Killed."""
        return self.status in FINAL

    def with_(self, **changes: Any) -> JobState:
        """A copy with ``changes`` applied (``dataclasses.replace``)."""
        return replace(self, **changes)


__all__ = [
    "FINAL",
    "KINDS",
    "MAX_PROJECT_NAME",
    "PRIORITY_RANGE",
    "JobSpec",
    "JobState",
    "JobStatus",
    "Requirements",
    "validate_project_name",
]
