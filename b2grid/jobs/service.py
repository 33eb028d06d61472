"""The workload management system at work: submission, dispatch on Dask, bookkeeping.

:class:`JobService` is what ``grid.jobs`` is. Submission validates everything first and
stores the project and its jobs in one transaction. In the controller, :meth:`run_once`
(called by the grid's agent loop) drives every job: it checks new jobs, asks the pure
matchmaker where waiting jobs go, dispatches attempts to their site's workers, turns
task results, heartbeats, silences and site outages into lifecycle events, and registers
outputs exactly once. Every decision is the pure lifecycle's; this module carries the
actions out and feeds results back as events.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import PurePosixPath
from typing import Any, cast

import cloudpickle
from distributed import Future

from b2grid.clock import Clock
from b2grid.config import GridConfig
from b2grid.errors import (
    BadJob,
    IllegalTransition,
    NotController,
    NotRegistered,
    NotYourJob,
    ProjectExists,
    ProjectNotFound,
)
from b2grid.jobs import lifecycle as lc
from b2grid.jobs.execution import (
    TOPIC,
    InputRef,
    JobTask,
    OutputRef,
    TaskResult,
    load_function,
    run_job,
)
from b2grid.jobs.inputs import (
    DEFAULT_SECONDS_PER_EVENT,
    Inputs,
    SubmissionPlan,
    check_files_per_job,
    is_per_job,
    resolve_inputs,
)
from b2grid.jobs.inputs import plan as plan_submission
from b2grid.jobs.matchmaker import Candidate, SiteView, diagnose, match
from b2grid.jobs.model import (
    JobSpec,
    JobState,
    JobStatus,
    Requirements,
    validate_project_name,
)
from b2grid.jobs.records import JobRecord, RescheduleReport
from b2grid.jobs.sandbox import Limits, hidden_paths
from b2grid.jobs.steering import DEFAULT_OUTPUTS, is_steering_path, load_steering
from b2grid.jobs.store import JobStore
from b2grid.sites.runtime import SiteRuntime
from b2grid.sites.service import SiteService
from b2grid.sites.topology import SiteStatus
from b2grid.storage.collection import Collections
from b2grid.storage.identity import User, check_write
from b2grid.storage.records import NewFile
from b2grid.storage.service import StorageService

log = logging.getLogger(__name__)

#: statuses with an attempt that may be running on a worker
LIVE = (JobStatus.MATCHED, JobStatus.RUNNING, JobStatus.COMPLETING)


@dataclass
class RunReport:
    """What one pass of :meth:`JobService.run_once` did."""

    checked: int = 0
    dispatched: int = 0
    finished: int = 0
    failed: int = 0
    #: attempts whose payload process died (counted against the job's cap)
    crashed: int = 0
    #: attempts lost to the infrastructure (not counted)
    lost: int = 0
    waiting: int = 0
    replication_requests: int = 0
    notes: list[str] = field(default_factory=list)


def _site_names(field: str, value: Sequence[str]) -> tuple[str, ...]:
    """Site names as a tuple; a bare string is refused (it is not a list of
    names: ``"KEK"`` would be the sites K, E and K)."""
    if isinstance(value, str):
        raise BadJob(
            field, f"give a list of site names, e.g. {field}=[{value!r}], not the "
            f"string {value!r}",
        )  # fmt: skip
    return tuple(value)


def hidden_for(config: GridConfig) -> tuple[str, ...]:
    """What payloads must not see: the grid home (catalog, run files) and the
    folder of every local storage element."""
    roots: list[str] = [str(config.home)]
    for site in config.sites:
        url = site.storage.resolved_url(config.home)
        if url.startswith("file://"):
            roots.append(url.removeprefix("file://"))
    return hidden_paths(roots)


def dumps_by_value(obj: Any, fn: Any = None) -> bytes:
    """``obj`` cloudpickled so that the user's code travels with it.

    The module of ``fn`` (default: ``obj``) is pickled by value unless it is
    b2grid's, the standard library's or an installed package's: payloads run
    where the user's own modules cannot be imported (another process, another
    machine). Raises what cloudpickle raises.
    """
    import sys

    module = getattr(obj if fn is None else fn, "__module__", None) or ""
    top = module.split(".")[0]
    if top not in ("b2grid", "__main__", "") and top not in sys.stdlib_module_names:
        mod = sys.modules.get(module)
        if mod is not None and "site-packages" not in (
            getattr(mod, "__file__", "") or ""
        ):
            cloudpickle.register_pickle_by_value(mod)
    data: bytes = cloudpickle.dumps(obj)
    return data


def readable_for(config: GridConfig) -> tuple[str, ...]:
    """What payloads read inside the hidden folders: the conditions database
    (``<home>/conditions``), read-only, as grid jobs read CVMFS."""
    return (os.path.realpath(config.home / "conditions"),)


def function_reference(fn: Callable[..., Any] | str) -> tuple[str | None, bytes | None]:
    """How a job's callable travels: ``module:qualname`` or pickled by value.

    Strings are taken as references. Functions of the b2grid package travel by
    reference (importable on every worker); user code is pickled by value (with
    cloudpickle), so it runs on workers that cannot import the user's modules.
    Anything else that is not callable raises :class:`BadJob` on ``function``.
    """
    if isinstance(fn, str):
        if ":" not in fn:
            raise BadJob("function", f"{fn!r} is not a 'module:qualname' reference")
        try:
            load_function(fn, None)
        except Exception as exc:  # import errors of every kind
            raise BadJob(
                "function", f"{fn!r} cannot be imported here ({exc}); workers could "
                "not import it either",
            ) from exc  # fmt: skip
        return fn, None
    if not callable(fn):  # stored, it would fail every job on the workers
        raise BadJob(
            "function", f"{fn!r} is not callable; give a function, a "
            "'module:qualname' reference or a steering file's path",
        )  # fmt: skip
    module = getattr(fn, "__module__", None) or ""
    qualname = getattr(fn, "__qualname__", "")
    if module.split(".")[0] == "b2grid" and "<" not in qualname:
        return f"{module}:{qualname}", None
    try:
        return None, dumps_by_value(fn)
    except Exception as exc:  # cloudpickle raises many kinds
        raise BadJob(
            "function", f"{qualname or fn!r} cannot be pickled ({exc}); use a "
            "module-level function or a 'module:qualname' reference",
        ) from exc  # fmt: skip


def job_function(
    fn: Callable[..., Any] | str | os.PathLike[str],
) -> tuple[Callable[..., Any] | str, tuple[str, ...], str]:
    """The callable to run, its default outputs and a label for summaries.

    A steering file's path is loaded (:func:`~b2grid.jobs.steering.load_steering`);
    anything else is the job function itself, writing ``ntuple.root`` by default.
    """
    if isinstance(fn, str | os.PathLike) and is_steering_path(fn):
        steering = load_steering(fn)
        return steering.function, steering.outputs, str(steering.path)
    if isinstance(fn, os.PathLike):  # not reached: every path is a steering file
        raise BadJob("function", f"{os.fspath(fn)!r} is not a steering file")
    label = fn if isinstance(fn, str) else getattr(fn, "__qualname__", repr(fn))
    return fn, DEFAULT_OUTPUTS, label


class JobService:
    """Jobs and projects of one grid (``grid.jobs``)."""

    #: seconds between two heartbeats of a running job
    heartbeat_interval: float = 10.0
    #: a running job silent this long (grid seconds) is Stalled and rescheduled
    stalled_after: float = 600.0
    #: jobs matched per slot: a second one queued at the site's scheduler keeps the
    #: slot busy while the controller books the first one's result
    prefetch: int = 2

    def __init__(
        self,
        config: GridConfig,
        sites: SiteService,
        storage: StorageService,
        clock: Clock,
        user: User,
    ) -> None:
        self.config = config
        self.sites = sites
        self.storage = storage
        self.clock = clock
        self.user = user
        self.store = JobStore(storage.catalog)
        self.runtime: SiteRuntime | None = None
        self._futures: dict[tuple[int, int], Future[Any]] = {}
        self._results: queue.SimpleQueue[tuple[int, int, Future[Any]]] = (
            queue.SimpleQueue()
        )
        self._signals: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._replication: set[tuple[str, str]] = set()
        #: output datasets already under a rule; job records (specs never change)
        self._protected: set[str] = set()
        self._records: dict[int, JobRecord] = {}
        self._lock = threading.RLock()
        self._subscribed = False
        self._hidden_paths: tuple[str, ...] | None = None
        #: called when something happened that a pass of run_once should see
        self.wake: Callable[[], None] = lambda: None

    @property
    def cap(self) -> int:
        return self.config.policies.reschedule_cap

    # ------------------------------------------------------------ submission

    def submit(
        self,
        fn: Callable[..., Any] | str,
        *,
        project: str,
        inputs: Sequence[Sequence[str]] | None = None,
        n_jobs: int | None = None,
        outputs: Sequence[str] = (),
        kwargs: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        priority: int = 5,
        sites: Sequence[str] = (),
        banned_sites: Sequence[str] = (),
        cpu_seconds: float = 60.0,
        kind: str = "user",
        output_lpn: str | None = None,
        description: str = "",
        output_datasets: Sequence[tuple[str | Sequence[str], int]] | None = None,
        user: User | None = None,
    ) -> int:
        """Submit a project of jobs running ``fn``; returns the project id.

        ``inputs`` gives each job's input LFNs (one list per job); without inputs,
        ``n_jobs`` jobs run (e.g. MC). ``kwargs`` is one mapping for all jobs or one
        per job. Outputs go to ``output_lpn`` (default
        ``/belle/user/<user>/<project>``), or, with ``output_datasets``, each job's
        to its own ``(dataset LPN or one LPN per output, file number)`` —
        production writes each run to its own datasets. Everything is checked
        before anything is stored (unknown input LFNs, a bad or reused project
        name, priority, sites, an unpicklable function, a namespace the user may
        not write): nothing is half-created. ``user`` is who submits (default:
        the grid's user); production submits as its own production identity.
        """
        user = user or self.user
        validate_project_name(project)
        function, payload = function_reference(fn)
        if inputs is None:
            if n_jobs is None or n_jobs < 1:
                raise BadJob("n_jobs", "give inputs, or a positive number of jobs")
            per_job: list[tuple[str, ...]] = [()] * n_jobs
        else:
            per_job = [tuple(i) for i in inputs]
            if not per_job:
                raise BadJob("inputs", "no jobs: the input list is empty")
        if kwargs is None or isinstance(kwargs, Mapping):
            all_kwargs: list[Mapping[str, Any]] = [kwargs or {}] * len(per_job)
        else:
            all_kwargs = list(kwargs)
            if len(all_kwargs) != len(per_job):
                raise BadJob(
                    "kwargs", f"{len(all_kwargs)} mappings for {len(per_job)} jobs"
                )
        targets: list[tuple[tuple[str, ...], int | None]] = [((), None)] * len(per_job)
        if output_datasets is not None:
            targets = [
                ((lpns,) if isinstance(lpns, str) else tuple(lpns), int(i))
                for lpns, i in output_datasets
            ]
            if len(targets) != len(per_job):
                raise BadJob(
                    "output_datasets",
                    f"{len(targets)} (dataset, number) pairs for {len(per_job)} jobs",
                )
            for lpn in sorted({lpn for lpns, _ in targets for lpn in lpns}):
                check_write(user, lpn)
        wanted = sorted({lfn for job in per_job for lfn in job})
        known = self.storage.catalog.files_named(wanted)
        missing = [lfn for lfn in wanted if lfn not in known]
        if missing:
            raise NotRegistered(
                missing[0],
                "file",
                f"{len(missing)} input(s) unknown; nothing submitted",
            )
        requirements = Requirements(
            sites=_site_names("sites", sites),
            banned_sites=_site_names("banned_sites", banned_sites),
            priority=priority,
            cpu_seconds=cpu_seconds,
        )
        specs = []
        for job_inputs, job_kwargs, (job_lpns, job_number) in zip(
            per_job, all_kwargs, targets, strict=True
        ):
            try:
                args = cloudpickle.dumps(dict(job_kwargs)) if job_kwargs else b""
            except (pickle.PicklingError, TypeError) as exc:
                raise BadJob("kwargs", f"cannot be pickled: {exc}") from exc
            specs.append(
                JobSpec(
                    function=function,
                    payload=payload,
                    args=args,
                    inputs=job_inputs,
                    outputs=tuple(outputs),
                    requirements=requirements,
                    owner=user.name,
                    project=project,
                    kind=kind,
                    output_lpns=job_lpns,
                    output_index=job_number,
                )
            )
        lpn = output_lpn or f"/belle/user/{user.name}/{project}"
        check_write(user, lpn)
        record, _ = self.store.submit(
            user.name,
            project,
            specs,
            now=self.clock.now(),
            kind=kind,
            description=description,
            known_sites=self.config.site_names,
            output_lpn=lpn,
        )
        return record.project_id

    def plan(
        self,
        fn: Callable[..., Any] | str | os.PathLike[str] | None,
        *,
        project: str,
        inputs: Inputs,
        files_per_job: int = 1,
        include_bad_runs: bool = False,
        seconds_per_event: float = DEFAULT_SECONDS_PER_EVENT,
        priority: int = 5,
        sites: Sequence[str] = (),
        banned_sites: Sequence[str] = (),
        output_lpn: str | None = None,
        user: User | None = None,
    ) -> SubmissionPlan:
        """What :meth:`submit_analysis` would submit, without submitting (a dry run).

        Checks what submission checks first (project name free, sites, priority,
        the function or steering file, the output namespace), then resolves
        ``inputs`` (see :func:`~b2grid.jobs.inputs.resolve_inputs`) and cuts them
        into jobs of at most ``files_per_job`` files of one datablock each.
        """
        user = user or self.user
        validate_project_name(project)
        check_files_per_job(files_per_job)
        label = ""
        if fn is not None:
            function, _, label = job_function(fn)
            function_reference(function)  # nothing travels that cannot
        Requirements(
            sites=_site_names("sites", sites),
            banned_sites=_site_names("banned_sites", banned_sites),
            priority=priority,
        ).validate(self.config.site_names)
        lpn = output_lpn or f"/belle/user/{user.name}/{project}"
        check_write(user, lpn)
        try:
            self.store.project(user.name, project)
        except ProjectNotFound:
            pass
        else:
            raise ProjectExists(user.name, project)
        catalog = self.storage.catalog
        resolved = resolve_inputs(
            catalog,
            Collections(catalog, user=user, clock=self.clock),
            inputs,
            include_bad_runs=include_bad_runs,
        )
        return plan_submission(
            resolved.files,
            project=project,
            owner=user.name,
            output_lpn=lpn,
            files_per_job=files_per_job,
            seconds_per_event=seconds_per_event,
            excluded_bad_runs=resolved.excluded_bad_runs,
            analysis=label,
        )

    def submit_analysis(
        self,
        fn: Callable[..., Any] | str | os.PathLike[str],
        *,
        project: str,
        inputs: Inputs | Sequence[Sequence[str]] | None = None,
        files_per_job: int | None = None,
        include_bad_runs: bool = False,
        seconds_per_event: float = DEFAULT_SECONDS_PER_EVENT,
        outputs: Sequence[str] | None = None,
        cpu_seconds: float | None = None,
        **options: Any,
    ) -> int:
        """Submit an analysis over datasets; returns the project id.

        ``fn`` is a job function or the path of a steering file (see
        :func:`~b2grid.jobs.steering.load_steering`; its ``OUTPUTS`` are the
        default ``outputs``, else ``ntuple.root``). ``inputs`` are datasets,
        datablocks, collections, LFNs, a search result or a list file, resolved and
        grouped as :meth:`plan` does; one list of LFNs per job (or None) is taken as
        it is, as :meth:`submit` does. ``cpu_seconds`` defaults to the plan's
        estimate. Other options are :meth:`submit`'s. Bad runs left out are logged.
        """
        function, default_outputs, label = job_function(fn)
        chosen = tuple(default_outputs if outputs is None else outputs)
        if inputs is None or is_per_job(inputs):
            per_job = cast("Sequence[Sequence[str]] | None", inputs)
            if files_per_job is not None:
                raise BadJob(
                    "files_per_job",
                    "the inputs are already one list of LFNs per job; give datasets "
                    "or LFNs to have them grouped",
                )
            return self.submit(
                function,
                project=project,
                inputs=per_job,
                outputs=chosen,
                cpu_seconds=60.0 if cpu_seconds is None else cpu_seconds,
                description=options.pop("description", label),
                **options,
            )
        planned = self.plan(
            function,
            project=project,
            inputs=cast(Inputs, inputs),
            files_per_job=1 if files_per_job is None else files_per_job,
            include_bad_runs=include_bad_runs,
            seconds_per_event=seconds_per_event,
            priority=options.get("priority", 5),
            sites=options.get("sites", ()),
            banned_sites=options.get("banned_sites", ()),
            output_lpn=options.get("output_lpn"),
            user=options.get("user"),
        )
        if planned.excluded_bad_runs:
            runs = ", ".join(f"{r.exp}/{r.run}" for r in planned.excluded_bad_runs)
            log.warning(
                "project %s: left out %d file(s) of bad runs (exp/run) %s",
                project, sum(r.files for r in planned.excluded_bad_runs), runs,
            )  # fmt: skip
        estimate = max(planned.cpu_seconds_per_job, 1.0)
        return self.submit(
            function,
            project=project,
            inputs=planned.jobs,
            outputs=chosen,
            cpu_seconds=estimate if cpu_seconds is None else cpu_seconds,
            description=options.pop("description", label),
            **options,
        )

    # ------------------------------------------------------------ user actions

    def kill(
        self,
        job_ids: Sequence[int],
        reason: str = "killed by user",
        *,
        user: User | None = None,
    ) -> int:
        """Kill live jobs (final ones are skipped); returns how many were killed.

        Only a job's owner, an admin, or production (for production's jobs) may
        kill it: :class:`~b2grid.errors.PermissionDenied` names the first job
        that is not the caller's, and nothing is killed.
        """
        user = user or self.user
        for job_id in job_ids:
            self._check_owner(job_id, user, "kill")
        return self._apply_all(job_ids, lambda s: lc.Kill(reason), skip_final=True)

    def _may_act(self, job_id: int, user: User) -> bool:
        record = self._record(job_id)
        if record.spec.owner == user.name or "admin" in user.roles:
            return True
        return "production" in user.roles and record.kind != "user"

    def _check_owner(self, job_id: int, user: User, what: str) -> None:
        if not self._may_act(job_id, user):
            raise NotYourJob(job_id, user.name, self._record(job_id).spec.owner, what)

    def reschedule(
        self,
        job_ids: Sequence[int],
        *,
        reset_count: bool = False,
        user: User | None = None,
    ) -> RescheduleReport:
        """Reschedule jobs (gb2_job_reschedule); says which moved and why not others.

        A job moves when its status allows it (Failed, Killed, Stalled, Waiting,
        Matched, Running) and it is not at the reschedule cap. ``reset_count``
        starts the job's counts again (its owner or an admin only), so that a job
        at the cap may run again. Only a job's owner, production or an admin may
        reschedule it. Unknown job ids raise
        :class:`~b2grid.errors.JobNotFound` before anything moves.
        """
        user = user or self.user
        records = {job_id: self._record(job_id) for job_id in dict.fromkeys(job_ids)}
        moved: list[int] = []
        refused: dict[int, str] = {}
        for job_id, record in records.items():
            owner = record.spec.owner
            mine = owner == user.name or "admin" in user.roles
            if not self._may_act(job_id, user):
                refused[job_id] = f"owned by {owner}; only its owner may reschedule it"
                continue
            if reset_count and not mine:
                refused[job_id] = f"only its owner ({owner}) may reset its count"
                continue
            before = self.store.state(job_id)
            try:
                new, actions = self.store.apply(
                    job_id,
                    lc.Reschedule("manual", reset_count=reset_count),
                    now=self.clock.now(),
                    cap=self.cap,
                )
            except IllegalTransition:
                now_state = self.store.state(job_id).status.value
                refused[job_id] = f"{now_state}: a {now_state} job is not rescheduled"
                continue
            self._carry_out(actions)
            if new.attempt > before.attempt:
                moved.append(job_id)
            else:
                notes = [a.message for a in actions if isinstance(a, lc.Notify)]
                why = notes[0] if notes else f"{new.status.value}: nothing changed"
                refused[job_id] = why.removeprefix(f"job {job_id} not rescheduled: ")
        self.wake()
        return RescheduleReport(tuple(moved), refused)

    def _apply_all(
        self,
        job_ids: Sequence[int],
        event: Callable[[JobState], lc.Event],
        *,
        skip_final: bool = False,
    ) -> int:
        done = 0
        for job_id in job_ids:
            state = self.store.state(job_id)
            if skip_final and state.final:
                continue
            try:
                new, actions = self.store.apply(
                    job_id, event(state), now=self.clock.now(), cap=self.cap
                )
            except IllegalTransition:
                if skip_final and self.store.state(job_id).final:
                    continue  # it ended meanwhile (another process, a result)
                raise
            self._carry_out(actions)
            done += (new.status, new.attempt) != (state.status, state.attempt)
        self.wake()
        return done

    def diagnose(self, job_id: int) -> tuple[JobState, list[Any]]:
        """A job's state and one verdict per site on where it could run."""
        state = self.store.state(job_id)
        spec = self.store.spec(job_id)
        files = self.storage.catalog.files_named(spec.inputs)
        replicas = {lfn: frozenset(f.available_sites) for lfn, f in files.items()}
        sizes = {lfn: f.size for lfn, f in files.items()}
        cand = Candidate.of(job_id, spec, 0.0)
        verdicts = diagnose(
            cand, self._site_views(), replicas, sizes, self.config.policies.remote_input
        )
        return state, verdicts

    # ------------------------------------------------------------ the controller

    def attach(self, runtime: SiteRuntime | None) -> None:
        """Use ``runtime`` to dispatch (the controller) or stop dispatching (None)."""
        if runtime is None and self.runtime is not None and self._subscribed:
            try:
                self.runtime.client.unsubscribe_topic(TOPIC)
            except Exception:  # the client may already be closed
                log.debug("unsubscribe failed", exc_info=True)
            self._subscribed = False
        self.runtime = runtime
        if runtime is not None and not self._subscribed:
            runtime.client.subscribe_topic(TOPIC, self._on_signal)
            self._subscribed = True

    def _on_signal(self, event: Any) -> None:
        _, message = event
        if isinstance(message, dict):
            self._signals.put(message)
            if message.get("kind") == "started":
                self.wake()

    def _site_views(self) -> list[SiteView]:
        active = self.store.active_counts_by_site()
        live = self.runtime.live_sites() if self.runtime is not None else set()
        views = []
        for site in self.sites.topology():
            status = site.status.value
            if (
                status == "active"
                and self.runtime is not None
                and site.name not in live
            ):
                status = "down"  # no workers (yet): nothing can start there
            slots = site.slots * self.prefetch
            views.append(SiteView(site.name, status, slots, active.get(site.name, 0)))
        return views

    def run_once(self, now: datetime | None = None) -> RunReport:
        """One pass of the workload agent (controller only); see the module doc.

        Raises :class:`~b2grid.errors.NotController` in a process that does not
        drive the grid's agents: an attached client moving jobs on a time of its
        choosing (the watchdog, the outages) would decide for the controller.
        """
        if not self.storage.runs_agents:
            raise NotController("job agent passes", str(self.config.home))
        with self._lock:
            now = now or self.clock.now()
            report = RunReport()
            self._collect_signals(now)
            self._collect_results(now, report)
            self._check_new(now, report)
            self._handle_outages(now, report)
            self._watchdog(now, report)
            self._reconcile_futures(now)
            if self.runtime is not None:
                self._match(now, report)
            return report

    def _event(self, job_id: int, event: lc.Event, now: datetime) -> JobState | None:
        try:
            new, actions = self.store.apply(job_id, event, now=now, cap=self.cap)
        except IllegalTransition as exc:
            log.debug("ignored: %s", exc)
            return None
        self._carry_out(actions)
        return new

    def _events(
        self, events: Sequence[tuple[int, lc.Event]], now: datetime
    ) -> list[JobState | None]:
        """Apply many events in one transaction, then carry their actions out."""
        if not events:
            return []
        outcomes = self.store.apply_many(events, now=now, cap=self.cap)
        out: list[JobState | None] = []
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                log.debug("ignored: %s", outcome)
                out.append(None)
                continue
            state, actions = outcome
            self._carry_out(actions)
            out.append(state)
        return out

    def _collect_signals(self, now: datetime) -> None:
        beats: dict[tuple[int, int], lc.Event] = {}
        started: list[tuple[int, lc.Event]] = []
        while True:
            try:
                msg = self._signals.get_nowait()
            except queue.Empty:
                break
            key = (int(msg["job"]), int(msg["attempt"]))
            if msg.get("kind") == "started":
                started.append((key[0], lc.Started(key[1], str(msg.get("worker", "")))))
            else:
                beats[key] = lc.Heartbeat(key[1])
        self._events(
            started + [(job_id, event) for (job_id, _), event in beats.items()], now
        )

    def _collect_results(self, now: datetime, report: RunReport) -> None:
        done: list[tuple[int, int, Future[Any]]] = []
        while True:
            try:
                done.append(self._results.get_nowait())
            except queue.Empty:
                break
        finished: list[tuple[int, int, Future[Any]]] = []
        for job_id, attempt, future in done:
            self._futures.pop((job_id, attempt), None)
            if future.status == "finished":
                finished.append((job_id, attempt, future))
            elif future.status != "cancelled":  # the worker died, the task vanished
                try:
                    why = repr(future.exception(timeout=30))
                except Exception as exc:
                    why = repr(exc)
                report.lost += 1
                self._event(job_id, lc.Lost(attempt, f"task lost: {why}"), now)
        if not finished or self.runtime is None:
            return
        try:  # one round trip for every finished task
            results = self.runtime.client.gather([f for _, _, f in finished])
        except Exception as exc:
            for job_id, attempt, _ in finished:
                report.lost += 1
                self._event(job_id, lc.Lost(attempt, f"result lost: {exc!r}"), now)
            return
        self._handle_all(list(results), now, report)

    def _handle_all(
        self, results: list[TaskResult], now: datetime, report: RunReport
    ) -> None:
        """Book a pass's results: logs in one transaction, status events in another,
        then each successful job's outputs registered in its own (exactly once)."""
        with self.storage.catalog.transaction() as conn:
            for r in results:
                try:
                    self.store.set_log(
                        r.job_id, r.attempt, stdout=r.stdout, stderr=r.stderr,
                        traceback=r.traceback, timings=r.timings,
                        worker=r.worker or None, conn=conn,
                    )  # fmt: skip
                except IllegalTransition:
                    log.debug("no attempt row for the log of job %s", r.job_id)
        events: list[tuple[int, lc.Event]] = []
        for r in results:
            if r.kind == "done":
                events.append((r.job_id, lc.Finished(r.attempt, r.application_status)))
            elif r.kind == "app":
                report.failed += 1
                events.append((r.job_id, lc.AppFailed(r.attempt, r.error)))
            elif r.kind == "limit":
                report.failed += 1
                events.append((r.job_id, lc.LimitExceeded(r.attempt, r.error)))
            elif r.kind == "crashed":
                report.crashed += 1
                events.append((r.job_id, lc.Crashed(r.attempt, r.error)))
            else:
                report.lost += 1
                for lfn, site in r.bad_replicas:
                    self.storage.declare_bad(lfn, site, r.error)
                events.append((r.job_id, lc.Lost(r.attempt, r.error)))
        states = self._events(events, now)
        for r, state in zip(results, states, strict=True):
            if r.kind != "done":
                continue
            if state is None or state.status != JobStatus.COMPLETING:
                self._discard(r)
            else:
                self._register(r, state, now, report)

    def _register(
        self, result: TaskResult, state: JobState, now: datetime, report: RunReport
    ) -> None:
        job_id, attempt = result.job_id, result.attempt
        record = self._record(job_id)
        se = self.storage.element(state.site or "")
        for out in result.outputs:  # verify what the task reports before registering
            if not se.exists(out.lfn) or se.size(out.lfn) != out.size:
                self._event(job_id, lc.Lost(attempt, f"output {out.lfn} missing"), now)
                return
        owner = record.spec.owner
        by_block: dict[tuple[str, int], list[NewFile]] = {}
        for out in result.outputs:  # an output's LFN is <dataset>/subNN/<name>
            path = PurePosixPath(out.lfn)
            block = int(path.parent.name.removeprefix("sub"))
            by_block.setdefault((str(path.parent.parent), block), []).append(
                NewFile(name=path.name, size=out.size, adler32=out.adler32,
                        events=out.events, exp=out.exp, run=out.run)
            )  # fmt: skip
        lpns = sorted({lpn for lpn, _ in by_block})
        # the rules the datasets already have take the new files in, in the same
        # transaction (as an upload does): a registered output is never unlocked
        existing = [r for lpn in lpns for r in self.storage.rules.rules(target=lpn)]
        spaces = self.storage.spaces() if existing else {}
        resolved = {r.rule_id: self.storage.candidates(r.expression) for r in existing}

        def register(conn: Any) -> None:
            for (lpn, block), files in by_block.items():
                self.storage.catalog.register_files(
                    lpn, files, state.site or "", owner, now, conn=conn, datablock=block
                )
            for rule in existing:
                self.storage.rules.apply(
                    rule.rule_id, resolved[rule.rule_id], spaces, now, conn
                )

        if self.store.complete(job_id, attempt, register, now=now, cap=self.cap):
            report.finished += 1
            for lpn in lpns:
                self._protect(lpn, record.kind)
        else:
            self._discard(result)

    def _record(self, job_id: int) -> JobRecord:
        """A job's record (spec, project facts), cached: none of it ever changes."""
        record = self._records.get(job_id)
        if record is None:
            if len(self._records) > 100_000:
                self._records.clear()
            record = self._records[job_id] = self.store.job(job_id)
        return record

    def _protect(self, lpn: str, kind: str) -> None:
        """The output dataset's rule: user outputs keep 2 copies for 90 days."""
        if lpn in self._protected:
            return
        self._protected.add(lpn)
        if any(r.target == lpn for r in self.storage.rules.rules(target=lpn)):
            return
        policy = self.config.policies.user_output
        self.storage.add_rule(
            lpn,
            policy.copies if kind == "user" else 1,
            "*",
            lifetime=timedelta(days=policy.lifetime_days) if kind == "user" else None,
            comment="job outputs",
        )

    def _discard(self, result: TaskResult) -> None:
        """Delete the SE files of an attempt that will never be registered."""
        site = self._site_of(result) if result.outputs else None
        if site is None:
            return
        for out in result.outputs:
            try:
                self.storage.element(site).delete(out.lfn)
            except Exception:
                log.warning("could not delete abandoned output %s", out.lfn)

    def _site_of(self, result: TaskResult) -> str | None:
        for attempt in self.store.attempts(result.job_id):
            if attempt.attempt == result.attempt:
                return attempt.site
        return None

    def _check_new(self, now: datetime, report: RunReport) -> None:
        new = self.store.states(statuses=[JobStatus.RECEIVED])
        self._events(
            [(s.job_id, lc.Checked(True, "inputs registered")) for s in new], now
        )
        report.checked += len(new)

    def _handle_outages(self, now: datetime, report: RunReport) -> None:
        """Attempts at a down site are lost: reschedule them elsewhere."""
        down = {s.name for s in self.sites.topology() if s.status == SiteStatus.DOWN}
        for state in self.store.states(statuses=list(LIVE)):
            gone = state.site in down
            orphan = self.runtime is not None and (
                (state.job_id, state.attempt) not in self._futures
            )
            if gone or orphan:
                why = (
                    f"Site {state.site} went down"
                    if gone
                    else "Attempt lost by a controller restart"
                )
                report.lost += 1
                self._event(state.job_id, lc.Lost(state.attempt, why), now)

    def _watchdog(self, now: datetime, report: RunReport) -> None:
        running = self.store.states(statuses=[JobStatus.RUNNING])
        for job_id, event in lc.watchdog(running, now.timestamp(), self.stalled_after):
            report.lost += 1
            self._event(job_id, event, now)

    def _reconcile_futures(self, now: datetime) -> None:
        """Cancel attempts the catalog no longer wants (killed, rescheduled)."""
        for (job_id, attempt), future in list(self._futures.items()):
            state = self.store.state(job_id)
            if state.attempt != attempt or state.final or state.status not in LIVE:
                future.cancel()
                self._futures.pop((job_id, attempt), None)

    def _match(self, now: datetime, report: RunReport) -> None:
        waiting = self.store.waiting()
        if not waiting:
            return
        candidates = [w.candidate for w in waiting]
        lfns = sorted({lfn for c in candidates for lfn in c.inputs})
        files = self.storage.catalog.files_named(lfns)
        replicas = {lfn: frozenset(f.available_sites) for lfn, f in files.items()}
        sizes = {lfn: f.size for lfn, f in files.items()}
        result = match(
            candidates,
            self._site_views(),
            replicas,
            sizes,
            self.config.policies.remote_input,
        )
        matched = self._events(
            [(a.job_id, lc.Match(a.site, a.remote_bytes)) for a in result.assignments],
            now,
        )
        report.dispatched += sum(s is not None for s in matched)
        current = {w.state.job_id: w.state.minor_status for w in waiting}
        for job_id, reason in result.waiting.items():
            report.waiting += 1
            if current.get(job_id) != reason:  # unchanged reasons cost no write
                self._event(job_id, lc.Wait(reason), now)
        for req in result.replication:
            for lfn in req.lfns:
                if (lfn, req.site) in self._replication:
                    continue
                self._replication.add((lfn, req.site))
                try:
                    self.storage.add_rule(
                        lfn, 1, req.site, lifetime=timedelta(days=14),
                        comment=f"input of job {req.job_id}",
                    )  # fmt: skip
                    report.replication_requests += 1
                except Exception as exc:  # the rule engine says why; the job waits
                    report.notes.append(f"replication of {lfn} to {req.site}: {exc}")

    # ------------------------------------------------------------ actions

    def _carry_out(self, actions: Sequence[lc.Action]) -> None:
        for action in actions:
            if isinstance(action, lc.Dispatch):
                self._dispatch(action.job_id, action.site, action.attempt)
            elif isinstance(action, lc.Cancel):
                future = self._futures.pop((action.job_id, action.attempt), None)
                if future is not None:
                    future.cancel()
            elif isinstance(action, lc.Notify):
                log.info("%s", action.message)

    def _dispatch(self, job_id: int, site: str, attempt: int) -> None:
        if self.runtime is None:
            return
        record = self._record(job_id)
        spec = record.spec
        files = self.storage.catalog.files_named(spec.inputs)
        refs = []
        for lfn in spec.inputs:
            f = files[lfn]
            where = site if site in f.available_sites else f.available_sites[0]
            refs.append(InputRef(lfn, f.adler32, f.size, self.storage.element(where)))
        task = JobTask(
            job_id=job_id,
            attempt=attempt,
            site=site,
            function=spec.function,
            payload=spec.payload,
            args=spec.args,
            inputs=tuple(refs),
            outputs=self._output_refs(record, attempt),
            out_se=self.storage.element(site),
            heartbeat_interval=self.heartbeat_interval,
            limits=Limits(
                memory=self.config.runtime.job_memory,
                wall_seconds=self.config.runtime.job_wall_seconds(
                    spec.requirements.cpu_seconds
                ),
            ),
            hidden=self._hidden(),
            readable=readable_for(self.config),
            sandbox=self.config.runtime.sandbox,
        )
        future = self.runtime.submit(
            site, run_job, task, key=f"b2grid-job-{job_id}-{attempt}"
        )
        self._futures[(job_id, attempt)] = future
        future.add_done_callback(lambda f, j=job_id, a=attempt: self._done(j, a, f))

    def _hidden(self) -> tuple[str, ...]:
        if self._hidden_paths is None:
            self._hidden_paths = hidden_for(self.config)
        return self._hidden_paths

    def _done(self, job_id: int, attempt: int, future: Future[Any]) -> None:
        self._results.put((job_id, attempt, future))
        self.wake()

    def _output_refs(self, record: Any, attempt: int) -> tuple[OutputRef, ...]:
        """Final LFNs: ``<lpn>/subNN/<stem>_<index>_job<id>_<attempt><ext>``."""
        spec = record.spec
        names = spec.outputs
        lpns = spec.output_lpns or (record.output_lpn,)
        index = record.index if spec.output_index is None else spec.output_index
        block_size = self.config.policies.datablock_size
        refs = []
        for j, name in enumerate(names):
            lpn = lpns[j] if len(lpns) > 1 else lpns[0]
            stem, dot, ext = name.rpartition(".")
            stem, ext = (stem, f".{ext}") if dot else (name, "")
            shared = len(lpns) == 1  # every output in one dataset: count them all
            block = ((index * len(names) + j) if shared else index) // block_size
            lfn = (
                f"{lpn}/sub{block:02d}/"
                f"{stem}_{index:05d}_job{record.job_id}_{attempt}{ext}"
            )
            refs.append(OutputRef(name, lfn))
        return tuple(refs)
