"""The job store: projects, jobs and attempts in the catalog, one transaction a change.

The catalog is the source of truth for jobs too (DESIGN.md §3 rule 3). Every status
change runs the pure :func:`~b2grid.jobs.lifecycle.decide` on the state read inside
one write transaction, so that several processes may change jobs at once, a restarted
controller resumes from here, and readers in other processes see live state.
:meth:`JobStore.complete` registers a job's outputs exactly once per (job, attempt).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeAlias

from sqlalchemy import Connection, and_, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from b2grid.errors import (
    BadJob,
    BadLFN,
    IllegalTransition,
    JobNotFound,
    ProjectExists,
    ProjectNotFound,
    did_you_mean,
)
from b2grid.jobs import lifecycle
from b2grid.jobs.lifecycle import LIVE, Decision, Event, Registered, decide
from b2grid.jobs.matchmaker import Candidate
from b2grid.jobs.model import KINDS, JobSpec, JobState, JobStatus, validate_project_name
from b2grid.jobs.records import (
    AttemptRecord,
    AttemptStatus,
    JobRecord,
    ProjectRecord,
    ProjectSummary,
    WaitingJob,
    project_status,
)
from b2grid.jobs.schema import (
    SPEC_COLUMNS,
    STATE_COLUMNS,
    UPDATE_STATE,
    AttemptChanges,
    attempt_of,
    attempts,
    create_tables,
    epoch,
    jobs,
    projects,
    spec_of,
    spec_row,
    state_of,
    state_row,
)
from b2grid.storage.catalog import Catalog
from b2grid.storage.lfn import validate_lfn, validate_part
from b2grid.storage.schema import inserted_id, iso

S = JobStatus
A = AttemptStatus
#: longest stdout, stderr or traceback kept per attempt (characters)
MAX_LOG = 1_000_000
#: ids per ``IN (...)`` list (SQLite allows 32766 parameters; stay well below)
_CHUNK = 500

#: what :meth:`JobStore.apply_many` returns per event
Outcome: TypeAlias = Decision | IllegalTransition | JobNotFound


def _truncate(text: str, limit: int = MAX_LOG) -> str:
    """``text`` cut to about ``limit`` characters: its start and its (longer) end,
    with a marker saying how much is missing."""
    if len(text) <= limit:
        return text
    marker = f"\n[... {len(text) - limit} characters cut by b2grid ...]\n"
    head = limit // 4
    return text[:head] + marker + text[len(text) - (limit - head) :]


# --------------------------------------------------------------------------- store


class JobStore:
    """Projects, jobs and attempts in the catalog database.

    Writes are one transaction each (``BEGIN IMMEDIATE`` on SQLite, so concurrent
    writers in several processes serialise); reads use read-only snapshots that
    never wait for writers. Never call a method that writes while holding a reading
    snapshot of the same thread, or the reverse: SQLite does not nest them.

    Examples
    --------
    >>> import tempfile
    >>> from datetime import datetime, timezone
    >>> from b2grid.jobs.lifecycle import Checked
    >>> home = tempfile.TemporaryDirectory()
    >>> store = JobStore(Catalog.open(f"sqlite:///{home.name}/catalog.db"))
    >>> now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    >>> spec = JobSpec(function="b2grid.demo:run", owner="alice", project="ana1")
    >>> project, ids = store.submit("alice", "ana1", [spec], now=now,
    ...                             known_sites=["KEK"])
    >>> store.apply(ids[0], Checked(ok=True), now=now, cap=3)[0].status.value
    'Waiting'
    >>> store.summary(project.project_id).waiting
    1
    >>> store.catalog.close(); home.cleanup()
    """

    def __init__(self, catalog: Catalog) -> None:
        #: the catalog whose database holds the job tables
        self.catalog = catalog
        create_tables(catalog.engine)

    # ------------------------------------------------------------------ submit

    def submit(
        self,
        owner: str,
        project: str,
        specs: Sequence[JobSpec],
        *,
        now: datetime,
        kind: str = "user",
        description: str = "",
        known_sites: Collection[str],
        output_lpn: str | None = None,
    ) -> tuple[ProjectRecord, list[int]]:
        """Create project ``project`` of ``owner`` with one job per spec, all at once.

        Parameters
        ----------
        owner, project
            The owner's user name and the project name (gbasf2 rules: at most 32
            characters of ``A-Z a-z 0-9 _ -``; unique per owner forever).
        specs
            The jobs, each with this ``owner`` and ``project``; stored whole.
        now
            Grid time of the submission.
        kind, description, output_lpn
            The project's kind (one of :data:`~b2grid.jobs.model.KINDS`), free text,
            and the dataset its outputs go to (an LPN), if any.
        known_sites
            Site names allow and ban lists may use.

        Returns
        -------
        (project, job_ids)
            The new project and its job ids in spec order; every job is Received,
            attempt 1.

        Raises
        ------
        BadProjectName
            For a name breaking the rules.
        BadJob
            For a bad spec (naming the field), an owner or project a spec does not
            share, an unknown kind, a bad output LPN, or no specs at all.
        ProjectExists
            If the owner ever used the name. On any error nothing is created.
        """
        validate_project_name(project)
        try:
            validate_part(owner, "owner")
        except BadLFN as err:
            raise BadJob("owner", f"{owner!r} is not a user name") from err
        if kind not in KINDS:
            raise BadJob(
                "kind",
                f"unknown kind {kind!r}{did_you_mean(kind, KINDS)}; kinds: "
                f"{', '.join(KINDS)}",
            )
        if output_lpn is not None:
            try:
                validate_lfn(output_lpn)
            except BadLFN as err:
                raise BadJob("output_lpn", f"{output_lpn!r}: {err.reason}") from err
        specs = list(specs)
        if not specs:
            raise BadJob("specs", "a project needs at least one job")
        known = list(known_sites)
        stamp, t = iso(now), now.timestamp()
        first = state_row(JobState.received(0, now=t))
        rows = []
        for i, spec in enumerate(specs):
            if not isinstance(spec, JobSpec):
                raise BadJob(
                    "specs", f"item {i} is a {type(spec).__name__}, not a JobSpec"
                )
            spec.validate(known)
            if spec.owner != owner:
                raise BadJob(
                    "owner", f"job {i} belongs to {spec.owner!r}, not {owner!r}"
                )
            if spec.project != project:
                raise BadJob(
                    "project",
                    f"job {i} is of project {spec.project!r}, not {project!r}",
                )
            rows.append(spec_row(spec) | first | {"submitted": stamp, "job_index": i})
        with self.catalog.transaction() as conn:
            taken = conn.execute(
                select(projects.c.id).where(
                    and_(projects.c.owner == owner, projects.c.name == project)
                )
            ).first()
            if taken is not None:
                raise ProjectExists(owner, project)
            try:
                project_id = inserted_id(
                    conn.execute(
                        insert(projects).values(
                            owner=owner,
                            name=project,
                            kind=kind,
                            description=description,
                            created=stamp,
                            output_lpn=output_lpn,
                        )
                    )
                )
            except IntegrityError as err:  # a concurrent submit on a server database
                raise ProjectExists(owner, project) from err
            for row in rows:
                row["project_id"] = project_id
            ids = [
                int(r[0])
                for r in conn.execute(
                    insert(jobs).returning(jobs.c.id, sort_by_parameter_order=True),
                    rows,
                )
            ]
        record = ProjectRecord(
            project_id,
            owner,
            project,
            kind,
            description,
            stamp,
            output_lpn,
            None,
            len(ids),
            project_status({S.RECEIVED: len(ids)}),
        )
        return record, ids

    # ------------------------------------------------------------------ transitions

    def apply(
        self,
        job_id: int,
        event: Event,
        *,
        now: datetime,
        cap: int,
        conn: Connection | None = None,
    ) -> Decision:
        """Feed ``event`` to job ``job_id`` and store the outcome; one transaction.

        Reads the job's state, runs :func:`~b2grid.jobs.lifecycle.decide` with grid
        time ``now`` and reschedule cap ``cap``, writes the new state if it changed
        and keeps the job's attempt rows in step (a dispatch opens one; a start
        records the worker; a result, failure, loss, stall, kill or reschedule closes
        it with its reason; a registration marks it registered). Inside ``conn``
        (a write transaction from :meth:`Catalog.transaction`) if given.

        Returns
        -------
        (new_state, actions)
            What ``decide`` returned; carry the actions out after the transaction
            committed.

        Raises
        ------
        IllegalTransition
            For an event the job's status forbids; nothing is written.
        JobNotFound
            For an unknown job id.
        """
        if conn is None:
            with self.catalog.transaction() as own:
                return self.apply(job_id, event, now=now, cap=cap, conn=own)
        out = self._apply(conn, [(job_id, event)], now, cap)[0]
        if isinstance(out, IllegalTransition | JobNotFound):
            raise out
        return out

    def apply_many(
        self,
        events: Sequence[tuple[int, Event]],
        *,
        now: datetime,
        cap: int,
        conn: Connection | None = None,
    ) -> list[Outcome]:
        """Feed many ``(job_id, event)`` pairs in order, in one transaction.

        Like :meth:`apply` for each, but one refused event (an
        :class:`~b2grid.errors.IllegalTransition`, or a
        :class:`~b2grid.errors.JobNotFound` for an unknown id) does not stop the
        others: the error takes that event's slot of the result, and later events of
        the same job see the state before it. Several events of one job are applied
        one after the other.
        """
        if conn is None:
            with self.catalog.transaction() as own:
                return self._apply(own, events, now, cap)
        return self._apply(conn, events, now, cap)

    def _apply(
        self,
        conn: Connection,
        events: Sequence[tuple[int, Event]],
        now: datetime,
        cap: int,
    ) -> list[Outcome]:
        stamp, t = iso(now), now.timestamp()
        current = self._read_states(conn, {job_id for job_id, _ in events}, lock=True)
        changed: dict[int, JobState] = {}
        changes = AttemptChanges()
        out: list[Outcome] = []
        for job_id, event in events:
            old = current.get(job_id)
            if old is None:
                out.append(JobNotFound(job_id))
                continue
            try:
                new, actions = decide(old, event, now=t, cap=cap)
            except IllegalTransition as err:
                out.append(err)
                continue
            changes.add(old, new, event, actions, stamp)
            if new is not old:
                current[job_id] = changed[job_id] = new
            out.append((new, actions))
        if changed:
            conn.execute(
                UPDATE_STATE,
                [{"b_id": s.job_id} | state_row(s) for s in changed.values()],
            )
        changes.write(conn)
        return out

    def complete(
        self,
        job_id: int,
        attempt: int,
        register: Callable[[Connection], None],
        *,
        now: datetime,
        cap: int,
    ) -> bool:
        """Register the outputs of ``attempt`` of job ``job_id`` exactly once.

        In one write transaction: if the job is Completing with exactly this
        attempt, call ``register(conn)`` (which registers the output files in the
        file catalog with that same connection) and apply
        :class:`~b2grid.jobs.lifecycle.Registered`, making the job Done; return
        True. Otherwise (a stale, duplicate or killed attempt) register nothing and
        return False. If ``register`` raises, nothing is written and the error
        propagates (feed :class:`~b2grid.jobs.lifecycle.Lost` next).
        """
        with self.catalog.transaction() as conn:
            state = self._read_states(conn, {job_id}, lock=True).get(job_id)
            if state is None:
                raise JobNotFound(job_id)
            if state.status is not S.COMPLETING or state.attempt != attempt:
                return False
            register(conn)
            self.apply(job_id, Registered(attempt), now=now, cap=cap, conn=conn)
            return True

    # ------------------------------------------------------------------ logs

    def set_log(
        self,
        job_id: int,
        attempt: int,
        *,
        stdout: str = "",
        stderr: str = "",
        traceback: str = "",
        timings: Mapping[str, float] | None = None,
        worker: str | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Keep the log of ``attempt`` of job ``job_id`` (replacing an earlier one).

        Each text is cut to about :data:`MAX_LOG` characters (start and end kept,
        with a marker); ``worker``, if given, records where it ran.

        Raises
        ------
        JobNotFound
            For an unknown job.
        IllegalTransition
            For an attempt that was never dispatched.
        """
        if conn is None:
            with self.catalog.transaction() as own:
                self.set_log(
                    job_id,
                    attempt,
                    stdout=stdout,
                    stderr=stderr,
                    traceback=traceback,
                    timings=timings,
                    worker=worker,
                    conn=own,
                )
            return
        values: dict[str, Any] = {
            "stdout": _truncate(stdout),
            "stderr": _truncate(stderr),
            "traceback": _truncate(traceback),
            "timings": json.dumps(
                {str(k): float(v) for k, v in (timings or {}).items()}
            ),
        }
        if worker is not None:
            values["worker"] = worker
        done = conn.execute(
            update(attempts)
            .where(and_(attempts.c.job_id == job_id, attempts.c.attempt == attempt))
            .values(**values)
        )
        if done.rowcount == 0:
            state = self._read_states(conn, {job_id}).get(job_id)
            if state is None:
                raise JobNotFound(job_id)
            raise IllegalTransition(
                job_id,
                state.status.value,
                f"keep a log of attempt {attempt}, which was never dispatched",
            )

    def log(self, job_id: int, attempt: int | None = None) -> AttemptRecord | None:
        """Attempt ``attempt`` of the job (the latest by default) with its log, or
        None if the job has no such attempt yet (never dispatched).

        Raises :class:`~b2grid.errors.JobNotFound` for an unknown job.
        """
        with self.catalog.reading() as conn:
            self._require_job(conn, job_id)
            query = select(attempts).where(attempts.c.job_id == job_id)
            if attempt is not None:
                query = query.where(attempts.c.attempt == attempt)
            row = conn.execute(
                query.order_by(attempts.c.attempt.desc()).limit(1)
            ).first()
        return None if row is None else attempt_of(row)

    # ------------------------------------------------------------------ reads

    def _read_states(
        self, conn: Connection, ids: Iterable[int], *, lock: bool = False
    ) -> dict[int, JobState]:
        listed = sorted(set(ids))
        out: dict[int, JobState] = {}
        for i in range(0, len(listed), _CHUNK):
            query = select(*STATE_COLUMNS).where(jobs.c.id.in_(listed[i : i + _CHUNK]))
            if lock:  # row locks on a server database; SQLite's writer lock suffices
                query = query.with_for_update()
            for row in conn.execute(query):
                out[row[0]] = state_of(row)
        return out

    @staticmethod
    def _require_job(conn: Connection, job_id: int) -> None:
        found = conn.execute(select(jobs.c.id).where(jobs.c.id == job_id)).first()
        if found is None:
            raise JobNotFound(job_id)

    def state(self, job_id: int) -> JobState:
        """The job's current state; :class:`~b2grid.errors.JobNotFound` if unknown."""
        with self.catalog.reading() as conn:
            state = self._read_states(conn, {job_id}).get(job_id)
        if state is None:
            raise JobNotFound(job_id)
        return state

    def states(
        self,
        *,
        project_id: int | None = None,
        statuses: Collection[JobStatus] | None = None,
    ) -> list[JobState]:
        """The states of all jobs (of one project, in some statuses), by job id."""
        query = select(*STATE_COLUMNS).order_by(jobs.c.id)
        if project_id is not None:
            query = query.where(jobs.c.project_id == project_id)
        if statuses is not None:
            query = query.where(jobs.c.status.in_([S(s).value for s in statuses]))
        with self.catalog.reading() as conn:
            return [state_of(row) for row in conn.execute(query)]

    def _records(self, conn: Connection, where: Any) -> list[JobRecord]:
        query = (
            select(
                *STATE_COLUMNS,
                *SPEC_COLUMNS,
                projects.c.name,
                jobs.c.project_id,
                jobs.c.job_index,
                jobs.c.submitted,
                projects.c.output_lpn,
            )
            .select_from(jobs.join(projects))
            .where(where)
            .order_by(jobs.c.id)
        )
        n = len(STATE_COLUMNS)
        m = n + len(SPEC_COLUMNS)
        out = []
        for row in conn.execute(query):
            name, project_id, index, submitted, output_lpn = row[m:]
            out.append(
                JobRecord(
                    spec=spec_of(row[n:m], name),
                    state=state_of(row[:n]),
                    project_id=project_id,
                    index=index,
                    submitted=submitted,
                    output_lpn=output_lpn,
                )
            )
        return out

    def job(self, job_id: int) -> JobRecord:
        """The job's spec, state and project; :class:`~b2grid.errors.JobNotFound`."""
        with self.catalog.reading() as conn:
            found = self._records(conn, jobs.c.id == job_id)
        if not found:
            raise JobNotFound(job_id)
        return found[0]

    def spec(self, job_id: int) -> JobSpec:
        """The job as submitted; :class:`~b2grid.errors.JobNotFound` if unknown."""
        return self.job(job_id).spec

    def jobs(self, project_id: int) -> list[JobRecord]:
        """Every job of the project, by job id.

        Raises :class:`~b2grid.errors.ProjectNotFound` for an unknown project id.
        """
        with self.catalog.reading() as conn:
            self._project_row(conn, project_id)
            return self._records(conn, jobs.c.project_id == project_id)

    def attempts(self, job_id: int) -> list[AttemptRecord]:
        """Every attempt of the job with a row (dispatched or given up), in order,
        with their logs; :class:`~b2grid.errors.JobNotFound` if unknown."""
        with self.catalog.reading() as conn:
            self._require_job(conn, job_id)
            rows = conn.execute(
                select(attempts)
                .where(attempts.c.job_id == job_id)
                .order_by(attempts.c.attempt)
            ).all()
        return [attempt_of(row) for row in rows]

    def waiting(self, limit: int | None = None) -> list[WaitingJob]:
        """Waiting jobs, highest priority first, then oldest, then by id: each with
        its state and its matchmaker :class:`~b2grid.jobs.matchmaker.Candidate`."""
        query = (
            select(
                *STATE_COLUMNS,
                jobs.c.inputs,
                jobs.c.priority,
                jobs.c.sites,
                jobs.c.banned_sites,
                jobs.c.submitted,
            )
            .where(jobs.c.status == S.WAITING.value)
            .order_by(jobs.c.priority.desc(), jobs.c.submitted, jobs.c.id)
        )
        if limit is not None:
            query = query.limit(limit)
        n = len(STATE_COLUMNS)
        with self.catalog.reading() as conn:
            rows = conn.execute(query).all()
        # site lists and submission times repeat from job to job: decode each once
        lists: dict[str, tuple[str, ...]] = {}
        times: dict[str, float] = {}
        out = []
        for row in rows:
            state = state_of(row[:n])
            inputs, priority, sites, banned, submitted = row[n:]
            for text in (sites, banned):
                if text not in lists:
                    lists[text] = tuple(json.loads(text))
            if submitted not in times:
                times[submitted] = epoch(submitted)
            candidate = Candidate(
                state.job_id,
                tuple(json.loads(inputs)),
                priority,
                lists[sites],
                lists[banned],
                times[submitted],
            )
            out.append(WaitingJob(state, candidate))
        return out

    def active_counts_by_site(self) -> dict[str, int]:
        """Site → jobs Matched, Running or Completing there (the matchmaker's
        ``queued``); sites without such jobs are absent."""
        query = (
            select(jobs.c.site, func.count())
            .where(jobs.c.status.in_([s.value for s in LIVE]))
            .group_by(jobs.c.site)
        )
        with self.catalog.reading() as conn:
            return {site: int(n) for site, n in conn.execute(query) if site is not None}

    # ------------------------------------------------------------------ projects

    def _project_row(self, conn: Connection, project_id: int) -> Any:
        row = conn.execute(select(projects).where(projects.c.id == project_id)).first()
        if row is None:
            raise ProjectNotFound("anyone", f"#{project_id}")
        return row

    def _projects(self, conn: Connection, rows: Sequence[Any]) -> list[ProjectRecord]:
        counts: dict[int, dict[JobStatus, int]] = defaultdict(dict)
        ids = [row.id for row in rows]
        for i in range(0, len(ids), _CHUNK):
            query = (
                select(jobs.c.project_id, jobs.c.status, func.count())
                .where(jobs.c.project_id.in_(ids[i : i + _CHUNK]))
                .group_by(jobs.c.project_id, jobs.c.status)
            )
            for project_id, status, n in conn.execute(query):
                counts[project_id][S(status)] = int(n)
        return [
            ProjectRecord(
                row.id,
                row.owner,
                row.name,
                row.kind,
                row.description,
                row.created,
                row.output_lpn,
                row.deleted,
                sum(counts[row.id].values()),
                project_status(counts[row.id], deleted=row.deleted is not None),
            )
            for row in rows
        ]

    def project(self, owner: str, name: str) -> ProjectRecord:
        """Project ``name`` of ``owner``.

        Raises :class:`~b2grid.errors.ProjectNotFound`, suggesting the closest of
        the owner's project names.
        """
        with self.catalog.reading() as conn:
            row = conn.execute(
                select(projects).where(
                    and_(projects.c.owner == owner, projects.c.name == name)
                )
            ).first()
            if row is None:
                known = conn.execute(
                    select(projects.c.name).where(projects.c.owner == owner)
                ).scalars()
                raise ProjectNotFound(owner, name, tuple(known))
            return self._projects(conn, [row])[0]

    def project_by_id(self, project_id: int) -> ProjectRecord:
        """The project of id ``project_id``; :class:`~b2grid.errors.ProjectNotFound`
        if there is none."""
        with self.catalog.reading() as conn:
            return self._projects(conn, [self._project_row(conn, project_id)])[0]

    def projects(self, owner: str | None = None) -> list[ProjectRecord]:
        """Every project (of ``owner``), oldest first."""
        query = select(projects).order_by(projects.c.id)
        if owner is not None:
            query = query.where(projects.c.owner == owner)
        with self.catalog.reading() as conn:
            return self._projects(conn, conn.execute(query).all())

    def summary(self, project_id: int) -> ProjectSummary:
        """Job counts of the project by status and by site (gb2_project_summary).

        Raises :class:`~b2grid.errors.ProjectNotFound` for an unknown project id.
        """
        with self.catalog.reading() as conn:
            record = self._projects(conn, [self._project_row(conn, project_id)])[0]
            mine = jobs.c.project_id == project_id
            by_status: dict[JobStatus, int] = {}
            by_site: dict[str, dict[JobStatus, int]] = defaultdict(dict)
            query = (
                select(jobs.c.site, jobs.c.status, func.count())
                .where(mine)
                .group_by(jobs.c.site, jobs.c.status)
            )
            for site, status, n in conn.execute(query):
                s = S(status)
                by_status[s] = by_status.get(s, 0) + int(n)
                if site is not None:
                    by_site[site][s] = int(n)
            reschedules, remote, last = conn.execute(
                select(
                    func.coalesce(func.sum(jobs.c.reschedules), 0),
                    func.coalesce(func.sum(jobs.c.remote_bytes), 0),
                    func.max(jobs.c.updated),
                ).where(mine)
            ).one()
        return ProjectSummary(
            record,
            by_status,
            dict(sorted(by_site.items())),
            int(reschedules),
            int(remote),
            last,
        )

    # ------------------------------------------------------------------ checks

    def validate_state(self, *, cap: int | None = None) -> None:
        """Assert the invariants of the stored jobs (for test teardowns).

        Those of :func:`~b2grid.jobs.lifecycle.validate_state` over every state,
        with the open attempt rows as the opened attempts, and those of the
        tables: every earlier attempt of a job has a row and none a later one; the
        current attempt has a row exactly when the job has a site; an attempt row
        is open (Dispatched, Running) exactly when it has no end time, at most one
        per job, and only for a Matched or Running job; a Completing job's attempt
        is Finished; a Done job has exactly one registered attempt, its current
        one, and no other job has any; a job's owner is its project's.
        """
        with self.catalog.reading() as conn:
            states = [state_of(r) for r in conn.execute(select(*STATE_COLUMNS))]
            rows = conn.execute(
                select(
                    attempts.c.job_id,
                    attempts.c.attempt,
                    attempts.c.status,
                    attempts.c.site,
                    attempts.c.dispatched,
                    attempts.c.ended,
                    attempts.c.registered,
                )
            ).all()
            strangers = conn.execute(
                select(jobs.c.id)
                .select_from(jobs.join(projects))
                .where(jobs.c.owner != projects.c.owner)
            ).all()
        assert not strangers, f"jobs {strangers} are not owned by their project's owner"
        by_job: dict[int, dict[int, Any]] = defaultdict(dict)
        opened: dict[int, int] = {}
        for row in rows:
            tag = f"attempt {row.attempt} of job {row.job_id} ({row.status})"
            status = A(row.status)
            assert status.open == (row.ended is None), f"{tag}: ended {row.ended}"
            assert (row.site is None) == (row.dispatched is None), f"{tag}: site"
            assert (status is A.DONE) == (row.registered is not None), f"{tag}: reg."
            if status.open:
                assert row.job_id not in opened, f"job {row.job_id}: two open attempts"
                opened[row.job_id] = row.attempt
            by_job[row.job_id][row.attempt] = row
        lifecycle.validate_state(states, cap=cap, opened=opened)
        for s in states:
            tag = f"job {s.job_id} ({s.status.value}, attempt {s.attempt})"
            mine = by_job.pop(s.job_id, {})
            earlier = set(range(1, s.attempt))
            assert earlier <= set(mine), f"{tag}: rows of attempts {sorted(mine)}"
            assert set(mine) <= earlier | {s.attempt}, f"{tag}: rows {sorted(mine)}"
            current = mine.get(s.attempt)
            assert (current is None) == (s.site is None), f"{tag}: site {s.site}"
            if s.status in (S.MATCHED, S.RUNNING):
                assert opened.get(s.job_id) == s.attempt, f"{tag}: attempt not open"
            if s.status is S.COMPLETING:
                finished = current is not None and current.status == A.FINISHED.value
                assert finished, f"{tag}: its attempt is not Finished"
            registered = [a for a, r in mine.items() if r.registered is not None]
            if s.status is S.DONE:
                assert registered == [s.attempt], f"{tag}: registered {registered}"
            else:
                assert not registered, f"{tag}: registered attempts {registered}"
        assert not by_job, f"attempt rows of unknown jobs {sorted(by_job)}"


__all__ = ["MAX_LOG", "JobStore", "Outcome"]
