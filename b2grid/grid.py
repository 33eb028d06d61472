"""The Grid: the one façade that wires configuration, clock, sites and Dask together.

A :class:`Grid` is either the **controller** of its home (:meth:`Grid.start`: it starts
the embedded cluster or attaches to the external scheduler, records itself in the run
file and keeps the site agent running) or **attached** to the controller that is up
(:meth:`Grid.connect`, what `b2grid` commands in other terminals use).

Examples
--------
>>> import b2grid
>>> with b2grid.Grid.from_config("cluster.yaml") as grid:   # doctest: +SKIP
...     grid.run_at("DESY", sum, [1, 2, 3]).result()
6
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from distributed import Future

from b2grid.clock import Clock, WallClock
from b2grid.conditions import ConditionsDB
from b2grid.config import GridConfig, check_scheduler, default_config_path, load_config
from b2grid.errors import (
    BadJob,
    GridAlreadyRunning,
    GridError,
    GridNotRunning,
    SchedulerUnreachable,
)
from b2grid.jobs.execution import run_call
from b2grid.jobs.inputs import SubmissionPlan, is_per_job
from b2grid.jobs.project import Project, download_outputs
from b2grid.jobs.sandbox import Limits
from b2grid.jobs.service import (
    JobService,
    dumps_by_value,
    hidden_for,
    readable_for,
)
from b2grid.jobs.steering import is_steering_path
from b2grid.production.service import ProductionService
from b2grid.runfile import (
    ControllerLock,
    RunInfo,
    read_run_info,
    remove_run_info,
    write_run_info,
)
from b2grid.sites.runtime import SiteRuntime
from b2grid.sites.service import SiteService
from b2grid.sites.status_store import SiteStatusStore
from b2grid.storage.collection import Collections
from b2grid.storage.download import DownloadProgress, DownloadReport
from b2grid.storage.identity import User
from b2grid.storage.search import Searcher
from b2grid.storage.service import StorageService

log = logging.getLogger("b2grid.grid")


def resolve_config(
    config: GridConfig | str | os.PathLike[str] | None,
    home: str | os.PathLike[str] | None,
) -> GridConfig:
    """A validated config with its home; what the caller names beats the environment.

    The config is ``config`` (a :class:`GridConfig` or a path), else
    ``$B2GRID_CONFIG``, ``./cluster.yaml``, the shipped default. Its home is
    ``home`` if given. A config read here then takes ``$B2GRID_HOME``, else its
    own ``home``; a :class:`GridConfig` given keeps its home, since it is already
    resolved: re-reading ``$B2GRID_HOME`` for it let the variable beat an
    explicit ``--home`` (the CLI resolves once, then ``Grid.connect`` did again).
    """
    if isinstance(config, GridConfig):
        cfg = config
    else:
        cfg = load_config(default_config_path() if config is None else config)
        if home is None:
            home = os.environ.get("B2GRID_HOME") or None
    if home is not None:
        cfg = cfg.model_copy(update={"home": Path(home).expanduser().resolve()})
    return cfg


#: options only an analysis over datasets takes (see JobService.submit_analysis)
_ANALYSIS_OPTIONS = frozenset(
    {"files_per_job", "include_bad_runs", "seconds_per_event"}
)


class Grid:
    """A Belle II grid: its sites, their storage and the Dask cluster that runs jobs.

    Use :meth:`from_config` then ``with grid:`` (or :meth:`start`/:meth:`close`) to be
    the controller; use :meth:`connect` to attach to a grid that is already up.
    """

    #: seconds between two passes of the site agent in the controller
    agent_interval: float = 1.0

    #: seconds between two passes of the storage agents in the controller
    storage_interval: float = 10.0

    def __init__(
        self,
        config: GridConfig,
        *,
        clock: Clock | None = None,
        user: User | None = None,
    ) -> None:
        #: the validated configuration (home already resolved)
        self.config = config
        #: grid time for every policy
        self.clock: Clock = clock or WallClock()
        self.home: Path = config.home
        self.sites = SiteService(config, SiteStatusStore(self.home))
        #: who this grid acts as (default: the OS user, role `user`)
        self.user = user or User.current()
        self._storage: StorageService | None = None
        self._conditions: ConditionsDB | None = None
        self._jobs: JobService | None = None
        self._production: ProductionService | None = None
        self._jobs_wake = threading.Event()
        self._jobs_thread: threading.Thread | None = None
        self.runtime: SiteRuntime | None = None
        self.run_info: RunInfo | None = None
        self._controller = False
        self._lock = ControllerLock(self.home)
        self._agent_stop = threading.Event()
        self._agent: threading.Thread | None = None

    # ------------------------------------------------------------------ creation

    @classmethod
    def from_config(
        cls,
        config: GridConfig | str | os.PathLike[str] | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
    ) -> Grid:
        """A grid (not yet started) from a ``cluster.yaml`` path or a validated config.

        With no path: ``$B2GRID_CONFIG``, ``./cluster.yaml``, then the shipped default.
        The home is ``home``, else (for a path) ``$B2GRID_HOME``, else the config's;
        see :func:`resolve_config`. Raises :class:`~b2grid.errors.ConfigError` for a
        bad configuration.
        """
        return cls(resolve_config(config, home), clock=clock)

    @classmethod
    def connect(
        cls,
        config: GridConfig | str | os.PathLike[str] | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
        user: User | None = None,
        timeout: float = 10,
    ) -> Grid:
        """Attach to the grid that is up for this config's home (``home`` if given;
        see :func:`resolve_config`).

        Raises :class:`~b2grid.errors.GridNotRunning` (saying how to start one) when
        none is up.
        """
        grid = cls(resolve_config(config, home), clock=clock, user=user)
        info = read_run_info(grid.home)
        if info is None:
            raise GridNotRunning(str(grid.home))
        if not info.controller_alive():
            raise GridNotRunning(str(grid.home), f"stale run file of pid {info.pid}")
        try:
            grid._attach(SiteRuntime.connect(info.scheduler, timeout=timeout), info)
        except SchedulerUnreachable as exc:
            raise GridNotRunning(
                str(grid.home), f"its scheduler {info.scheduler} does not answer"
            ) from exc
        return grid

    def _attach(self, runtime: SiteRuntime, info: RunInfo | None) -> None:
        self.runtime = runtime
        self.run_info = info
        self.sites.runtime = runtime
        self.storage.submitter = runtime.submit

    @property
    def storage(self) -> StorageService:
        """Data management: catalog, storage elements, rules and their agents."""
        if self._storage is None:
            self._storage = StorageService(
                self.config, self.sites, self.clock, self.user
            )
        return self._storage

    @property
    def jobs(self) -> JobService:
        """The workload management system: projects, jobs, their dispatch."""
        if self._jobs is None:
            self._jobs = JobService(
                self.config, self.sites, self.storage, self.clock, self.user
            )
            self._jobs.wake = self._jobs_wake.set
        return self._jobs

    def submit(
        self, fn: Callable[..., Any] | str | os.PathLike[str], **kwargs: Any
    ) -> Project:
        """Submit a project of jobs running ``fn``; see :meth:`JobService.submit`.

        ``fn`` may be a steering file's path; ``inputs`` may be datasets,
        datablocks, collections, LFNs, a search result or a list file, grouped
        into jobs of ``files_per_job`` files of one datablock each (see
        :meth:`JobService.submit_analysis`); one list of LFNs per job is kept as
        given. Returns the live :class:`~b2grid.jobs.project.Project`
        (``.status()``, ``.wait(progress=True)``, ``.outputs()``, ``.kill()``,
        ``.reschedule()``).

        Examples
        --------
        >>> project = grid.submit(analysis, inputs="/belle/Data/proc12/e12/hadron",
        ...                       project="ana1", files_per_job=2)  # doctest: +SKIP
        """
        inputs = kwargs.get("inputs")
        grouped = not (inputs is None or is_per_job(inputs))
        if grouped or is_steering_path(fn) or _ANALYSIS_OPTIONS.intersection(kwargs):
            project_id = self.jobs.submit_analysis(fn, **kwargs)
        else:
            assert not isinstance(fn, os.PathLike)  # a path is a steering file
            project_id = self.jobs.submit(fn, **kwargs)
        self._jobs_wake.set()
        return Project(self.jobs, project_id)

    def plan(
        self, fn: Callable[..., Any] | str | os.PathLike[str] | None, **kwargs: Any
    ) -> SubmissionPlan:
        """What :meth:`submit` would submit, checked but not submitted (a dry run):
        jobs, files, events, MB and CPU per job; see :meth:`JobService.plan`."""
        return self.jobs.plan(fn, **kwargs)

    def project(self, name: str, owner: str | None = None) -> Project:
        """The project ``name`` of ``owner`` (default: this grid's user)."""
        record = self.jobs.store.project(owner or self.user.name, name)
        return Project(self.jobs, record.project_id)

    def download(
        self,
        names: str | Sequence[str],
        dest: str | os.PathLike[str],
        *,
        workers: int = 4,
        only: Iterable[str] | None = None,
        progress: DownloadProgress | None = None,
    ) -> DownloadReport:
        """Download datasets, datablocks, collections or LFNs to ``dest``, verified
        and resumable (``b2grid ds get LPN``).

        The report is incomplete while jobs filling the set are not Done, exactly
        as the project's own :meth:`~b2grid.jobs.project.Project.download` says;
        see :func:`~b2grid.jobs.project.download_outputs`.
        """
        return download_outputs(
            self.jobs, names, dest, workers=workers, only=only, progress=progress
        )

    @property
    def production(self) -> ProductionService:
        """Central data production: ``take_data``, ``process`` (buckets, proc
        campaigns), ``produce_mc``, ``status``; needs the production role."""
        if self._production is None:
            self._production = ProductionService(
                self.config,
                self.storage,
                self.jobs,
                lambda: self.conditions,
                self.clock,
                self.user,
            )
        return self._production

    @property
    def datasets(self) -> Searcher:
        """The dataset searcher: ``grid.datasets.search(campaign="proc12", ...)``."""
        return Searcher(self.storage.catalog)

    @property
    def collections(self) -> Collections:
        """Collections: ``grid.collections.expand([lpn_or_collection, ...])``."""
        return Collections(self.storage.catalog, user=self.user, clock=self.clock)

    @property
    def conditions(self) -> ConditionsDB:
        """The conditions database (global tags, payloads) under ``<home>/conditions``.

        The default tags (``mc_default``, ``data_online``) are created on first use.
        """
        if self._conditions is None:
            from b2grid.physics.conditions import install_default_tags

            db = ConditionsDB(self.home / "conditions")
            install_default_tags(db, now=self.clock.now().timestamp())
            self._conditions = db
        return self._conditions

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        return self.runtime is not None

    @property
    def is_controller(self) -> bool:
        return self._controller

    def start(self) -> Grid:
        """Become the controller: start (or attach to) the Dask cluster and its sites.

        Raises :class:`~b2grid.errors.GridAlreadyRunning` if another controller is up
        for the same home, and :class:`~b2grid.errors.ConfigError` if an external
        scheduler does not answer.
        """
        if self.runtime is not None:
            raise GridError("this Grid is already started or attached")
        self.home.mkdir(parents=True, exist_ok=True)
        if not self._lock.acquire():
            existing = read_run_info(self.home)
            raise GridAlreadyRunning(
                str(self.home),
                existing.scheduler if existing else "(still starting)",
                existing.pid if existing else -1,
            )
        statuses = self.sites.store.load()
        try:
            if self.config.embedded:
                runtime = SiteRuntime.start_embedded(self.config, statuses)
            else:
                check_scheduler(self.config)
                runtime = SiteRuntime.connect(self.config.scheduler)
        except BaseException:
            self._lock.release()
            raise
        self._controller = True
        self.sites.owner = True
        try:
            info = write_run_info(
                self.home,
                runtime.scheduler_address,
                runtime.dashboard_link,
                self.config.source,
            )
            self._attach(runtime, info)
            self.sites.reconcile()
        except BaseException:
            runtime.close()
            remove_run_info(self.home)
            self._lock.release()
            raise
        self.storage.runs_agents = True  # this process now drives the agents
        self._agent_stop.clear()
        self._agent = threading.Thread(
            target=self._agent_loop, name="b2grid-site-agent", daemon=True
        )
        self._agent.start()
        self.jobs.attach(runtime)
        self._jobs_thread = threading.Thread(
            target=self._jobs_loop, name="b2grid-jobs-agent", daemon=True
        )
        self._jobs_thread.start()
        return self

    def _jobs_loop(self) -> None:
        """Drive the jobs: at once when something happened, else every second."""
        while not self._agent_stop.is_set():
            self._jobs_wake.wait(self.agent_interval)
            self._jobs_wake.clear()
            if self._agent_stop.is_set():
                break
            try:
                self.jobs.run_once()
            except Exception:  # keep the agent alive; the next pass retries
                if not self._agent_stop.is_set():
                    log.exception("jobs pass failed")

    def _agent_loop(self) -> None:
        last_storage = 0.0
        while not self._agent_stop.wait(self.agent_interval):
            try:
                self.sites.reconcile()
                self.production.run_once()
                if time.monotonic() - last_storage >= self.storage_interval:
                    last_storage = time.monotonic()
                    self.storage.run_agents()
            except Exception:  # keep the agents alive; the next pass retries
                if not self._agent_stop.is_set():
                    log.exception("agent pass failed")

    def close(self) -> None:
        """Shut down (controller) or detach (attached); safe to call twice."""
        self._agent_stop.set()
        self._jobs_wake.set()
        if self._agent is not None:
            self._agent.join(timeout=10)
            self._agent = None
        if self._jobs_thread is not None:
            self._jobs_thread.join(timeout=10)
            self._jobs_thread = None
        if self._jobs is not None:
            self._jobs.attach(None)
        runtime, self.runtime = self.runtime, None
        self.sites.runtime = None
        if self._storage is not None:
            self._storage.submitter = None
            self._storage.runs_agents = False
            self._storage.close()
        if runtime is not None:
            try:
                runtime.close()
            finally:
                if self._controller:
                    remove_run_info(self.home)
                    self._lock.release()
                self._controller = False

    def __enter__(self) -> Grid:
        if self.runtime is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = (
            "controller"
            if self._controller
            else "attached"
            if self.runtime
            else "stopped"
        )
        return f"<Grid home={str(self.home)!r} sites={len(self.config.sites)} {state}>"

    # ------------------------------------------------------------------ work

    def _require_runtime(self) -> SiteRuntime:
        if self.runtime is None:
            raise GridNotRunning(str(self.home), "this Grid is not started")
        return self.runtime

    @property
    def dashboard_link(self) -> str | None:
        return self._require_runtime().dashboard_link

    @property
    def scheduler_address(self) -> str:
        return self._require_runtime().scheduler_address

    def run_at(
        self,
        site: str,
        fn: Callable[..., Any],
        /,
        *args: Any,
        wait_if_down: bool = True,
        **kwargs: Any,
    ) -> Future[Any]:
        """Run ``fn(*args, **kwargs)`` at ``site``, on its workers only.

        Like a job, the call runs in a payload process of its own (it cannot bring
        the worker down; ``B2GRID_SITE`` and ``B2GRID_WORKER`` say where it runs),
        within ``runtime.job_memory`` and ``runtime.job_min_wall_seconds``; the
        future raises :class:`~b2grid.errors.PayloadFailed` if it raised or died.

        A banned site refuses (:class:`~b2grid.errors.SiteBanned`); at a down site the
        task waits until the site is up, or :class:`~b2grid.errors.SiteDown` is raised
        when ``wait_if_down`` is False. Returns a ``distributed.Future``.
        """
        runtime = self._require_runtime()
        self.sites.topology().check_placement(site, wait_if_down=wait_if_down)
        try:
            payload = dumps_by_value((fn, args, kwargs), fn)
        except Exception as exc:  # cloudpickle raises many kinds
            raise BadJob("fn", f"{fn!r} cannot be pickled ({exc})") from exc
        rt = self.config.runtime
        limits = Limits(memory=rt.job_memory, wall_seconds=rt.job_min_wall_seconds)
        return runtime.submit(
            site,
            run_call,
            payload,
            limits,
            hidden_for(self.config),
            rt.sandbox,
            readable_for(self.config),
        )


def connect(
    config: GridConfig | str | os.PathLike[str] | None = None,
    *,
    home: str | os.PathLike[str] | None = None,
) -> Grid:
    """Attach to the grid that is up (see :meth:`Grid.connect`)."""
    return Grid.connect(config, home=home)


__all__ = ["Grid", "connect", "resolve_config"]
