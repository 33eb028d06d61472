"""The one error tree of b2grid.

Every error b2grid raises on purpose derives from :class:`B2GridError`. Leaves also
subclass the matching built-in, so ``except LookupError`` keeps working for callers who
do not know b2grid. Each error carries structured fields and a message that says what
was wrong *and* what to do about it::

    B2GridError
    ├── ConfigError(ValueError)            cluster.yaml missing, unreadable or invalid
    ├── BadArgument(ValueError)            a call's argument refused, naming it
    ├── SiteError
    │   ├── UnknownSite(LookupError)       a site name no config declares
    │   ├── SiteBanned(PermissionError)    new placements refused at a banned site
    │   └── SiteDown(RuntimeError)         a down site, for a caller who will not wait
    ├── GridError
    │   ├── GridNotRunning(RuntimeError)   no `b2grid up` to attach to
    │   ├── WaitTimedOut(TimeoutError)     a project or campaign not done in time
    │   ├── GridAlreadyRunning(RuntimeError)
    │   ├── NotController(PermissionError)  controller-only work asked elsewhere
    │   └── SchedulerUnreachable(ConnectionError)
    ├── StorageError                       files, names and storage elements
    │   ├── BadLFN(ValueError)             a malformed logical file/dataset name
    │   ├── PermissionDenied(PermissionError)  a write outside the user's namespace
    │   ├── NameReused(FileExistsError)    a name that exists or existed before
    │   ├── DuplicateFiles(FileExistsError)  an upload of files a dataset already has
    │   ├── ChecksumMismatch(OSError)      bytes whose adler32 is not the catalog's
    │   ├── StorageFull(OSError)           an SE without room for a file
    │   ├── LocalFileError(OSError)        a local file to upload that is not there
    │   ├── OutputsExpired(LookupError)    outputs whose lifetime ended: replicas gone
    │   ├── IncompleteDownload(RuntimeError)  a download missing files of its set
    │   └── SiteExpressionError(ValueError)  a bad or empty site expression
    ├── CatalogError
    │   ├── NotRegistered(LookupError)     an LFN/LPN the catalog does not know
    │   ├── RuleError(ValueError)          a rule that cannot be satisfied as asked
    │   ├── RuleNotFound(LookupError)
    │   ├── UnknownValue(LookupError)      a metadata value no dataset carries
    │   ├── BadQuery(ValueError)           a malformed search (exit status 2)
    │   ├── BadCollection(ValueError)      a collection refused as asked (exit status 2)
    │   └── CollectionImmutable(PermissionError)  a change to a collection's datasets
    ├── ConditionsError                    the conditions database
    │   ├── TagNotFound(LookupError)       a global tag name nobody created
    │   ├── TagPublished(PermissionError)  a change asked of an immutable tag
    │   ├── NoPayload(LookupError)         no payload valid for (tag(s), name, exp, run)
    │   ├── BadIoV(ValueError)             a malformed or inverted interval of validity
    │   └── CalibrationFailed(RuntimeError)  too little data for a calibration algorithm
    ├── PhysicsError
    │   └── UnknownEventType(LookupError)  an event type name or decay code not known
    ├── FormatError                        event files and their data levels
    │   ├── BadEventFile(OSError)          a truncated, foreign or wrong-level ROOT file
    │   └── SchemaError(ValueError)        arrays that do not fit a data level's schema
    ├── JobError                           jobs and projects
    │   ├── BadJob(ValueError)             a submission refused, naming the field
    │   ├── BadProjectName(ValueError)     a name breaking the gbasf2 rules
    │   ├── ProjectExists(FileExistsError) a project name used before by the owner
    │   ├── ProjectNotFound(LookupError)
    │   ├── JobNotFound(LookupError)
    │   ├── IllegalTransition(RuntimeError)  a status change the lifecycle forbids
    │   ├── NotYourJob(PermissionError)   acting on someone else's job
    │   └── PayloadFailed(RuntimeError)   user code run at a site raised or died
    ├── ProductionError                    data taking, processing, calibration, MC
    │   ├── BadCampaign(ValueError)        a campaign spelled or defined wrong
    │   ├── OverlappingBucket(ValueError)  a bucket sharing runs with another
    │   ├── CampaignNotFound(LookupError)
    │   └── NoRawData(LookupError)         runs to process that have no RAW
    └── AnalysisError                      particle lists, cuts, decays, variables
        ├── BadCut(ValueError)             a cut string that does not parse
        ├── UnknownVariable(LookupError)   a variable name the registry does not know
        ├── BadDecayString(ValueError)     a decay string that does not parse or
        │                                  is not charge-consistent
        ├── UnknownParticleList(LookupError)  a list name never filled
        └── UnknownSkim(LookupError)       a skim name or 8-digit code not registered

The CLI turns any :class:`B2GridError` into one clear line on stderr and an exit status
(2 for configuration errors, 1 otherwise), never a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """Return ``" (did you mean 'X'?)"`` for the closest known name, or ``""``."""
    candidates = list(known)
    lowered = {k.lower(): k for k in candidates}
    if name.lower() in lowered:
        return f" (did you mean {lowered[name.lower()]!r}?)"
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class B2GridError(Exception):
    """Base of every error b2grid raises on purpose."""

    #: process exit status the CLI uses for this error
    exit_code: int = 1
    #: the constructor's arguments, so that errors survive pickling (Dask sends
    #: a task's exception from the worker to the client)
    _init: tuple[object, ...] | None = None

    def __reduce__(self) -> str | tuple[Any, ...]:
        if self._init is None:
            return super().__reduce__()
        return (type(self), self._init)


class ConfigError(B2GridError, ValueError):
    """A grid configuration that cannot be used.

    ``file`` is the configuration file (or ``"<config>"`` for in-memory data),
    ``path`` the field path inside it (``sites[3].storage.capacity``, empty when the
    whole file is at fault) and ``problem`` what is wrong and what to do.
    """

    exit_code = 2

    def __init__(self, file: str, path: str, problem: str) -> None:
        self._init = (file, path, problem)
        self.file = file
        self.path = path
        self.problem = problem
        where = f"{file}: {path}" if path else file
        super().__init__(f"{where}: {problem}")


class BadArgument(B2GridError, ValueError):
    """An argument of a b2grid call (Python API or CLI option) that is refused.

    ``field`` is the parameter at fault (``lifetime``, ``copies``, ``days``), and
    ``problem`` says what was given and what to give instead. Exit status 2.
    """

    exit_code = 2

    def __init__(self, field: str, problem: str) -> None:
        self._init = (field, problem)
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class SiteError(B2GridError):
    """Something about a computing site."""

    def __init__(self, message: str, site: str) -> None:
        if self._init is None:  # a subclass may have recorded its own arguments
            self._init = (message, site)
        self.site = site
        super().__init__(message)


class UnknownSite(SiteError, LookupError):
    """A site name that the grid's configuration does not declare."""

    def __init__(self, site: str, known: Iterable[str]) -> None:
        self.known = sorted(known)
        self._init = (site, self.known)
        super().__init__(
            f"unknown site {site!r}{did_you_mean(site, self.known)}; "
            f"known sites: {', '.join(self.known)}",
            site,
        )

    def __str__(self) -> str:  # LookupError would quote the message otherwise
        return str(self.args[0])


class SiteBanned(SiteError, PermissionError):
    """A placement at a banned site; banned sites take no new work."""

    def __init__(self, site: str) -> None:
        self._init = (site,)
        super().__init__(
            f"site {site!r} is banned and takes no new placements; "
            f"choose another site or run `b2grid site unban {site}`",
            site,
        )


class SiteDown(SiteError, RuntimeError):
    """A placement at a down site by a caller who asked not to wait for it."""

    def __init__(self, site: str) -> None:
        self._init = (site,)
        super().__init__(
            f"site {site!r} is down; its work waits until `b2grid site up {site}`, "
            f"or place it at another site",
            site,
        )


class GridError(B2GridError):
    """The running grid (the controller process and its Dask scheduler)."""


class WaitTimedOut(GridError, TimeoutError):
    """A wait for a project or campaign ran past its timeout (it goes on)."""

    def __init__(self, message: str) -> None:
        self._init = (message,)
        super().__init__(message)


class GridNotRunning(GridError, RuntimeError):
    """A command that needs a running grid found none."""

    def __init__(self, home: str, detail: str = "") -> None:
        self._init = (home, detail)
        self.home = home
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"no grid is running for home {home}{extra}; start one with `b2grid up` "
            f"in another terminal (same cluster.yaml), then retry"
        )


class GridAlreadyRunning(GridError, RuntimeError):
    """`b2grid up` when a grid with the same home is already up."""

    def __init__(self, home: str, scheduler: str, pid: int) -> None:
        self._init = (home, scheduler, pid)
        self.home = home
        self.scheduler = scheduler
        self.pid = pid
        super().__init__(
            f"a grid is already up for home {home}: scheduler {scheduler}, "
            f"controller pid {pid}; use it, or stop it (Ctrl-C in its terminal, "
            f"or `b2grid stop`) before starting another"
        )


class NotController(GridError, PermissionError):
    """Work only the controller of a grid does (its agents, its clock), asked of a
    process that is not the controller (attached to the grid, or not started)."""

    def __init__(self, what: str, home: str) -> None:
        self._init = (what, home)
        self.what = what
        self.home = home
        super().__init__(
            f"{what} run in the controller only (`b2grid up`, or a started Grid); "
            f"this process is not the controller of the grid of home {home}: the "
            "controller's agents run every few seconds on grid time, so wait for "
            "them (a test harness standing in for the controller uses "
            "b2grid.testing.offline_grid or small_grid)"
        )


class SchedulerUnreachable(GridError, ConnectionError):
    """The Dask scheduler at an address did not answer."""

    def __init__(self, address: str, detail: str) -> None:
        self._init = (address, detail)
        self.address = address
        super().__init__(
            f"scheduler {address} is unreachable ({detail}); start it "
            f"(`dask scheduler`) or fix the address"
        )


class StorageError(B2GridError):
    """Files, names and storage elements."""


class BadLFN(StorageError, ValueError):
    """A logical file or dataset name that breaks the namespace rules."""

    def __init__(self, lfn: str, reason: str) -> None:
        self._init = (lfn, reason)
        self.lfn = lfn
        self.reason = reason
        super().__init__(f"bad LFN {lfn!r}: {reason}")


class PermissionDenied(StorageError, PermissionError):
    """A write outside the namespaces the user may write."""

    def __init__(self, user: str, lfn: str, reason: str) -> None:
        self._init = (user, lfn, reason)
        self.user = user
        self.lfn = lfn
        super().__init__(f"user {user!r} may not write {lfn}: {reason}")


class NameReused(StorageError, FileExistsError):
    """A name that exists, or existed and was deleted: names are never reused."""

    def __init__(self, lfn: str, deleted: bool = False) -> None:
        self._init = (lfn, deleted)
        self.lfn = lfn
        self.deleted = deleted
        why = "was used before and deleted" if deleted else "already exists"
        super().__init__(
            f"{lfn} {why}; names are never reused, choose a new name "
            "(e.g. a new version or subdirectory)"
        )


class DuplicateFiles(StorageError, FileExistsError):
    """An upload of files the dataset already holds (same name, or same size and
    adler32): their events would be counted twice.

    ``repeats`` holds ``(local file, the file it repeats, how)`` for each.
    """

    def __init__(self, dataset: str, repeats: tuple[tuple[str, str, str], ...]) -> None:
        self._init = (dataset, repeats)
        self.dataset = dataset
        self.repeats = repeats
        shown = "; ".join(
            f"{path} ({how} as {other})" for path, other, how in repeats[:5]
        )
        more = f"; and {len(repeats) - 5} more" if len(repeats) > 5 else ""
        super().__init__(
            f"dataset {dataset} already holds {len(repeats)} of the file(s) to "
            f"upload: {shown}{more}; nothing was uploaded. Upload only new files, or "
            "add them again anyway with --allow-duplicates (allow_duplicates=True)"
        )


class ChecksumMismatch(StorageError, OSError):
    """Bytes whose adler32 differs from the one the catalog records."""

    def __init__(self, lfn: str, where: str, expected: str, actual: str) -> None:
        self._init = (lfn, where, expected, actual)
        self.lfn = lfn
        self.where = where
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"checksum mismatch for {lfn} at {where}: adler32 {actual}, catalog says "
            f"{expected}; the copy is corrupt (it is marked bad and healed from a good "
            "replica)"
        )


class StorageFull(StorageError, OSError):
    """A storage element without room for a file."""

    def __init__(self, site: str, needed: int, free: int) -> None:
        self._init = (site, needed, free)
        self.site = site
        self.needed = needed
        self.free = free
        super().__init__(
            f"storage element of {site} is full: {needed} bytes needed, {free} free; "
            "choose another site, or free space (expired rules, `b2grid ds rm`)"
        )


class LocalFileError(StorageError, OSError):
    """A local file given for upload that cannot be read."""

    def __init__(self, path: str, reason: str) -> None:
        self._init = (path, reason)
        self.path = path
        super().__init__(f"local file {path}: {reason}; nothing was registered")


class OutputsExpired(StorageError, LookupError):
    """Files to download whose rule's lifetime ended and whose replicas are gone.

    ``what`` names the outputs (``project ana1`` or an LPN), ``expired`` the grid
    date their last rule ended (ISO), ``lifetime_days`` the lifetime they had.
    """

    def __init__(
        self, what: str, lpn: str, expired: str, lifetime_days: float | None = None
    ) -> None:
        self._init = (what, lpn, expired, lifetime_days)
        self.what = what
        self.lpn = lpn
        self.expired = expired
        self.lifetime_days = lifetime_days
        life = "" if lifetime_days is None else f" ({lifetime_days:g}-day lifetime)"
        named = what if lpn in what else f"{what} ({lpn})"
        super().__init__(
            f"the outputs of {named} expired on {expired[:10]}{life} and "
            "their replicas were deleted; rerun the project to make them again, and "
            "next time download them in time or keep them longer with "
            "`b2grid project extend NAME --days N`"
        )


class IncompleteDownload(StorageError, RuntimeError):
    """Downloaded files asked for as a whole set that lacks some of its files."""

    def __init__(self, what: str, dest: str, missing: int, total: int) -> None:
        self._init = (what, dest, missing, total)
        self.what = what
        self.dest = dest
        self.missing = missing
        self.total = total
        super().__init__(
            f"{missing} of the {total} file(s) of {what} are not in {dest}; download "
            f"them first (`b2grid ds get ... -o {dest}` fetches only what is missing) "
            "or read the files you have one by one"
        )


class SiteExpressionError(StorageError, ValueError):
    """A site expression that does not parse, names unknown sites or matches none."""

    def __init__(self, expression: str, reason: str) -> None:
        self._init = (expression, reason)
        self.expression = expression
        self.reason = reason
        super().__init__(f"site expression {expression!r}: {reason}")


class CatalogError(B2GridError):
    """The file catalog and its rules."""


class NotRegistered(CatalogError, LookupError):
    """An LFN or LPN that the catalog does not know."""

    def __init__(self, name: str, kind: str = "file", hint: str = "") -> None:
        self._init = (name, kind, hint)
        self.name = name
        self.kind = kind
        extra = f"; {hint}" if hint else ""
        super().__init__(f"no {kind} {name} in the catalog{extra}")

    def __str__(self) -> str:
        return str(self.args[0])


class RuleError(CatalogError, ValueError):
    """A replication rule that cannot be satisfied as asked."""


class RuleNotFound(CatalogError, LookupError):
    """A rule id the catalog does not know."""

    def __init__(self, rule_id: int) -> None:
        self._init = (rule_id,)
        self.rule_id = rule_id
        super().__init__(f"no rule {rule_id}; `b2grid rule list` shows the rules")

    def __str__(self) -> str:
        return str(self.args[0])


class ConditionsError(B2GridError):
    """The conditions database: global tags, payloads, intervals of validity."""


class TagNotFound(ConditionsError, LookupError):
    """A global tag name the conditions database does not know."""

    def __init__(self, tag: str, known: tuple[str, ...] = ()) -> None:
        self._init = (tag, known)
        self.tag = tag
        self.known = known
        listing = ", ".join(known) if known else "none"
        super().__init__(
            f"no global tag {tag!r}{did_you_mean(tag, known)}; known tags: {listing}"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class TagPublished(ConditionsError, PermissionError):
    """A change asked of a published (hence immutable) global tag."""

    def __init__(self, tag: str, action: str) -> None:
        self._init = (tag, action)
        self.tag = tag
        self.action = action
        super().__init__(
            f"global tag {tag!r} is published and immutable; cannot {action}. "
            "Create a new staging tag (copy it with its payloads) and publish that"
        )


class NoPayload(ConditionsError, LookupError):
    """No payload of a name is valid for a run in the tag (or tag stack) asked."""

    def __init__(
        self, tags: tuple[str, ...], name: str, exp: int, run: int, available: str = ""
    ) -> None:
        self._init = (tags, name, exp, run, available)
        self.tags = tags
        self.name = name
        self.exp = exp
        self.run = run
        where = " > ".join(tags)
        extra = f"; {name} is valid for {available}" if available else ""
        super().__init__(
            f"no payload {name!r} for exp {exp} run {run} in global tag(s) "
            f"{where}{extra}. Add one to a staging tag, or put a tag that has it "
            "in the stack"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class BadIoV(ConditionsError, ValueError):
    """An interval of validity that is malformed or inverted."""

    def __init__(self, iov: str, reason: str) -> None:
        self._init = (iov, reason)
        self.iov = iov
        self.reason = reason
        super().__init__(f"bad interval of validity {iov}: {reason}")


class CalibrationFailed(ConditionsError, RuntimeError):
    """A calibration algorithm that could not produce constants (too little data).

    No constants are returned: the caller keeps the current payloads.
    """

    def __init__(self, algorithm: str, reason: str) -> None:
        self._init = (algorithm, reason)
        self.algorithm = algorithm
        self.reason = reason
        super().__init__(f"calibration {algorithm!r} failed: {reason}")


class PhysicsError(B2GridError):
    """Event generation, detector simulation and reconstruction."""


class UnknownEventType(PhysicsError, LookupError):
    """An event type (generic sample name or 10-digit decay code) that is not known."""

    def __init__(self, event_type: str, known: tuple[str, ...] = ()) -> None:
        self._init = (event_type, known)
        self.event_type = event_type
        self.known = known
        super().__init__(
            f"unknown event type {event_type!r}{did_you_mean(event_type, known)}; "
            f"known event types: {', '.join(known)}"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class FormatError(B2GridError):
    """Event files: the data model of each data level and its ROOT I/O."""


class BadEventFile(FormatError, OSError):
    """A ROOT file that is not a readable b2grid event file (truncated, foreign)."""

    def __init__(self, path: str, reason: str) -> None:
        self._init = (path, reason)
        self.path = path
        self.reason = reason
        super().__init__(f"event file {path}: {reason}")


class SchemaError(FormatError, ValueError):
    """Event arrays that do not match the schema of their data level."""

    def __init__(self, level: str, field: str, reason: str) -> None:
        self._init = (level, field, reason)
        self.level = level
        self.field = field
        self.reason = reason
        super().__init__(f"{level} field {field!r}: {reason}")


class JobError(B2GridError):
    """Jobs and projects: submission, lifecycle, matchmaking."""


class BadJob(JobError, ValueError):
    """A job or submission that cannot be accepted as given (field named)."""

    def __init__(self, field: str, problem: str) -> None:
        self._init = (field, problem)
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}; nothing was submitted")


class BadProjectName(JobError, ValueError):
    """A project name that breaks the gbasf2 rules (≤ 32 chars of [A-Za-z0-9_-])."""

    def __init__(self, name: str, reason: str) -> None:
        self._init = (name, reason)
        self.name = name
        self.reason = reason
        super().__init__(
            f"project name {name!r} {reason}; use at most 32 characters of "
            "letters, digits, '_' and '-'"
        )


class ProjectExists(JobError, FileExistsError):
    """A project name the owner has used before (names are unique per owner forever)."""

    def __init__(self, owner: str, name: str) -> None:
        self._init = (owner, name)
        self.owner = owner
        self.name = name
        super().__init__(
            f"project {name!r} of {owner} exists or existed; project names are never "
            "reused, choose another (e.g. add a version suffix)"
        )


class ProjectNotFound(JobError, LookupError):
    """A project name the owner never used."""

    def __init__(self, owner: str, name: str, known: tuple[str, ...] = ()) -> None:
        self._init = (owner, name, known)
        self.owner = owner
        self.name = name
        super().__init__(
            f"no project {name!r} of {owner}{did_you_mean(name, known)}; "
            "`b2grid project list` shows yours"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class JobNotFound(JobError, LookupError):
    """A job id the catalog does not know."""

    def __init__(self, job_id: int) -> None:
        self._init = (job_id,)
        self.job_id = job_id
        super().__init__(f"no job {job_id}; `b2grid job status -p PROJECT` lists jobs")

    def __str__(self) -> str:
        return str(self.args[0])


class IllegalTransition(JobError, RuntimeError):
    """A job status change the lifecycle does not allow."""

    def __init__(self, job_id: int, current: str, event: str) -> None:
        self._init = (job_id, current, event)
        self.job_id = job_id
        self.current = current
        self.event = event
        super().__init__(f"job {job_id} is {current}: cannot {event}")


class NotYourJob(JobError, PermissionError):
    """An action on a job that belongs to someone else."""

    def __init__(self, job_id: int, user: str, owner: str, action: str) -> None:
        self._init = (job_id, user, owner, action)
        self.job_id = job_id
        self.user = user
        self.owner = owner
        super().__init__(
            f"user {user!r} may not {action} job {job_id}: it is {owner!r}'s; only "
            "its owner (or an admin) may"
        )


class PayloadFailed(JobError, RuntimeError):
    """User code run at a site (``Grid.run_at``) raised, crashed or hit a limit.

    ``kind`` is ``raised``, ``crashed``, ``memory``, ``walltime`` or ``lost``;
    ``remote_traceback`` is the payload's own traceback, when it raised.
    """

    def __init__(
        self, site: str, kind: str, error: str, remote_traceback: str = ""
    ) -> None:
        self._init = (site, kind, error, remote_traceback)
        self.site = site
        self.kind = kind
        self.error = error
        self.remote_traceback = remote_traceback
        where = f"at {site}" if site else "on its worker"
        super().__init__(f"the call {where} failed ({kind}): {error}")


class ProductionError(B2GridError):
    """Central data production: runs, campaigns, their stages."""


class BadCampaign(ProductionError, ValueError):
    """A campaign (or its runs, samples, tags) spelled or defined wrong."""

    def __init__(self, campaign: str, reason: str) -> None:
        self._init = (campaign, reason)
        self.campaign = campaign
        self.reason = reason
        super().__init__(f"campaign {campaign!r}: {reason}")


class OverlappingBucket(ProductionError, ValueError):
    """A prompt bucket whose runs overlap another bucket's (or reuse its name)."""

    def __init__(
        self, name: str, runs: str, other: str, theirs: str, last: int | None = None
    ) -> None:
        self._init = (name, runs, other, theirs, last)
        self.name = name
        self.other = other
        if name == other:
            why = f"{name} is already defined as {theirs}; choose a new bucket name"
        else:
            start = f": start after run {last}" if last is not None else ""
            why = (
                f"{name} {runs} overlaps {other} {theirs}; buckets never share a "
                f"run{start}"
            )
        super().__init__(why)


class CampaignNotFound(ProductionError, LookupError):
    """A campaign name production does not know."""

    def __init__(self, name: str, known: Iterable[str] = ()) -> None:
        self._init = (name, tuple(known))
        self.name = name
        known = tuple(known)
        listing = ", ".join(known) or "none yet"
        super().__init__(
            f"no campaign {name!r}{did_you_mean(name, known)}; known: {listing}"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class NoRawData(ProductionError, LookupError):
    """Runs asked for processing (or MC rd) that were never taken."""

    def __init__(self, exp: int, runs: str, hint: str = "") -> None:
        self._init = (exp, runs, hint)
        self.exp = exp
        self.runs = runs
        super().__init__(
            f"no RAW for exp {exp} runs {runs}; take the data first "
            f"(`b2grid production take-data --exp {exp} --runs ...`){hint}"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownValue(CatalogError, LookupError):
    """A value of a known metadata field that no dataset in the catalog carries."""

    def __init__(self, field: str, value: str, known: Iterable[str] = ()) -> None:
        self.field = field
        self.value = value
        self.known = tuple(known)
        self._init = (field, value, self.known)
        close = difflib.get_close_matches(value, self.known, n=1, cutoff=0.6)
        hint = f" did you mean {close[0]!r}?" if close else ""
        listing = ", ".join(self.known) if self.known else "none"
        super().__init__(f"{field} {value!r} not found;{hint} known: {listing}")

    def __str__(self) -> str:
        return str(self.args[0])


class BadQuery(CatalogError, ValueError):
    """A malformed search: an inverted range, a malformed code, a bad choice."""

    exit_code = 2

    def __init__(self, field: str, value: object, reason: str) -> None:
        self._init = (field, value, reason)
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"bad search: {field}={value!r}: {reason}")


class BadCollection(CatalogError, ValueError):
    """A collection that cannot be made as asked: a malformed name, no datasets,
    datasets of another data type than the collection's."""

    exit_code = 2

    def __init__(self, collection: str, reason: str) -> None:
        self._init = (collection, reason)
        self.collection = collection
        self.reason = reason
        super().__init__(f"bad collection {collection!r}: {reason}")


class CollectionImmutable(CatalogError, PermissionError):
    """A change asked of a collection: its datasets are fixed when it is created."""

    def __init__(self, lpn: str, change: str) -> None:
        self._init = (lpn, change)
        self.lpn = lpn
        self.change = change
        super().__init__(
            f"collection {lpn} is immutable: cannot {change}; create a new "
            "collection (under a new name) with the datasets you want"
        )


class AnalysisError(B2GridError):
    """The analysis toolkit: particle lists, cut and decay strings, variables."""


class BadCut(AnalysisError, ValueError):
    """A cut string that does not parse: the cut, the position and what was expected."""

    def __init__(self, cut: str, position: int, expected: str) -> None:
        self._init = (cut, position, expected)
        self.cut = cut
        self.position = position
        self.expected = expected
        caret = " " * (position + 5) + "^"
        super().__init__(
            f"bad cut {cut!r} at position {position}: {expected}\n    {cut!r}\n{caret}"
        )


class UnknownVariable(AnalysisError, LookupError):
    """A variable (in a cut or an ntuple list) that the registry does not know."""

    def __init__(self, name: str, known: Iterable[str] = (), where: str = "") -> None:
        self.name = name
        self.known = tuple(known)
        self.where = where
        self._init = (name, self.known, where)
        context = f" in {where!r}" if where else ""
        close = difflib.get_close_matches(name, self.known, n=3, cutoff=0.6)
        lowered = [k for k in self.known if k.lower() == name.lower() and k != name]
        near = list(dict.fromkeys(lowered + close))
        hint = f" (did you mean {', '.join(repr(c) for c in near)}?)" if near else ""
        super().__init__(
            f"unknown variable {name!r}{context}{hint}; "
            "b2grid.analysis.variables.describe() lists them all"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class BadDecayString(AnalysisError, ValueError):
    """A decay or list string that does not parse, names an unknown particle, or
    does not conserve charge."""

    def __init__(self, decay: str, reason: str) -> None:
        self._init = (decay, reason)
        self.decay = decay
        self.reason = reason
        super().__init__(f"bad decay string {decay!r}: {reason}")


class UnknownParticleList(AnalysisError, LookupError):
    """A particle list name that was never filled or reconstructed."""

    def __init__(self, name: str, known: Iterable[str] = ()) -> None:
        self.name = name
        self.known = tuple(sorted(known))
        self._init = (name, self.known)
        listing = ", ".join(self.known) if self.known else "none yet"
        super().__init__(
            f"no particle list {name!r}{did_you_mean(name, self.known)}; fill it "
            f"first (fill_particle_list / reconstruct_decay); lists: {listing}"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownSkim(AnalysisError, LookupError):
    """A skim name or 8-digit skim code that the skim registry does not hold."""

    def __init__(self, skim: str, known: Iterable[str] = ()) -> None:
        self.skim = skim
        self.known = tuple(known)
        self._init = (skim, self.known)
        close = difflib.get_close_matches(skim, self.known, n=3, cutoff=0.6)
        lowered = [k for k in self.known if k.lower() == skim.lower() and k != skim]
        near = list(dict.fromkeys(lowered + close))
        hint = f" (did you mean {', '.join(repr(c) for c in near)}?)" if near else ""
        super().__init__(
            f"unknown skim {skim!r}{hint}; `b2grid skim list` shows the registered "
            "skims (names and 8-digit codes)"
        )

    def __str__(self) -> str:
        return str(self.args[0])


__all__ = [
    "AnalysisError",
    "B2GridError",
    "BadArgument",
    "BadCampaign",
    "BadCollection",
    "BadCut",
    "BadDecayString",
    "BadEventFile",
    "BadIoV",
    "BadJob",
    "BadLFN",
    "BadProjectName",
    "BadQuery",
    "CalibrationFailed",
    "CampaignNotFound",
    "CatalogError",
    "ChecksumMismatch",
    "CollectionImmutable",
    "ConditionsError",
    "ConfigError",
    "DuplicateFiles",
    "FormatError",
    "GridAlreadyRunning",
    "GridError",
    "GridNotRunning",
    "IllegalTransition",
    "IncompleteDownload",
    "JobError",
    "JobNotFound",
    "LocalFileError",
    "NameReused",
    "NoPayload",
    "NoRawData",
    "NotController",
    "NotRegistered",
    "NotYourJob",
    "OutputsExpired",
    "OverlappingBucket",
    "PayloadFailed",
    "PermissionDenied",
    "PhysicsError",
    "ProductionError",
    "ProjectExists",
    "ProjectNotFound",
    "RuleError",
    "RuleNotFound",
    "SchedulerUnreachable",
    "SchemaError",
    "SiteBanned",
    "SiteDown",
    "SiteError",
    "SiteExpressionError",
    "StorageError",
    "StorageFull",
    "TagNotFound",
    "TagPublished",
    "UnknownEventType",
    "UnknownParticleList",
    "UnknownSite",
    "UnknownSkim",
    "UnknownValue",
    "UnknownVariable",
    "WaitTimedOut",
    "did_you_mean",
]
