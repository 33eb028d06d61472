"""A submitted project as a Python object: status, waiting, jobs, outputs, actions.

``Project`` is a thin, live view over the catalog (every call reads the current state),
so it works in the controller and in any attached process alike. Its outputs are
downloaded with :meth:`Project.download` (verified, resumable), kept longer with
:meth:`Project.extend`, and read back with :meth:`Project.to_awkward`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from b2grid.errors import (
    IncompleteDownload,
    NotRegistered,
    PermissionDenied,
    StorageError,
    WaitTimedOut,
)
from b2grid.jobs.model import FINAL, JobState, JobStatus
from b2grid.jobs.records import RescheduleReport
from b2grid.storage.collection import Collections
from b2grid.storage.download import DownloadProgress, DownloadReport, local_paths
from b2grid.storage.download import download as download_files
from b2grid.storage.lfn import datablock_index, namespace_of, validate_lfn
from b2grid.storage.rule_book import lifetime_of
from b2grid.storage.schema import from_iso

if TYPE_CHECKING:
    import awkward as ak
    import pandas as pd

    from b2grid.jobs.service import JobService


class Project:
    """A user's project: a named set of jobs (gbasf2's project)."""

    def __init__(self, service: JobService, project_id: int) -> None:
        self._service = service
        self.project_id = project_id
        record = service.store.project_by_id(project_id)
        #: the project's name (unique per owner, forever)
        self.name: str = record.name
        self.owner: str = record.owner
        #: where the outputs are registered
        self.output_lpn: str = record.output_lpn or ""

    def __repr__(self) -> str:
        return f"Project({self.owner}/{self.name}: {self.counts()})"

    def jobs(self) -> list[JobState]:
        """Every job's current state, by job id."""
        return sorted(
            self._service.store.states(project_id=self.project_id),
            key=lambda s: s.job_id,
        )

    def counts(self) -> dict[str, int]:
        """Jobs per status, e.g. ``{"Done": 8, "Running": 2}``."""
        out: dict[str, int] = {}
        for s in self.jobs():
            out[s.status.value] = out.get(s.status.value, 0) + 1
        return out

    def status(self) -> str:
        """``Done`` when every job is Done, ``Failed`` when all ended and some
        failed or were killed, else ``Running``."""
        states = self.jobs()
        if all(s.status == JobStatus.DONE for s in states):
            return "Done"
        if all(s.status in FINAL for s in states):
            return "Failed"
        return "Running"

    @property
    def finished(self) -> bool:
        return all(s.status in FINAL for s in self.jobs())

    def wait(
        self, timeout: float | None = None, *, progress: bool = False, poll: float = 0.2
    ) -> str:
        """Block until every job is final (Done, Failed, Killed); returns status().

        With ``progress=True`` a rich progress bar counts final jobs, with the
        counts per status beside it. Raises :class:`~b2grid.errors.WaitTimedOut`
        (a ``TimeoutError``) after ``timeout`` s.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        bar: Any = None
        if progress:
            from rich.progress import Progress

            bar = Progress()
            bar.start()
            task = bar.add_task(self.name, total=len(self.jobs()))
        try:
            while True:
                states = self.jobs()
                final = sum(s.status in FINAL for s in states)
                if bar is not None:
                    bar.update(task, completed=final, description=f"{self.name} "
                               f"{self.counts()}")  # fmt: skip
                if final == len(states):
                    return self.status()
                if deadline is not None and time.monotonic() > deadline:
                    raise WaitTimedOut(
                        f"project {self.name} not finished after {timeout} s: "
                        f"{self.counts()}"
                    )
                time.sleep(poll)
        finally:
            if bar is not None:
                bar.stop()

    def outputs(self) -> list[str]:
        """LFNs of the registered outputs (exactly one per output of each Done job)."""
        if not self.output_lpn:
            return []
        try:
            files = self._service.storage.catalog.files_of(self.output_lpn)
        except LookupError:
            return []
        return [f.lfn for f in files]

    def kill(self) -> int:
        """Kill every live job of the project; returns how many."""
        return self._service.kill([s.job_id for s in self.jobs() if not s.final])

    def reschedule(self, *, reset_count: bool = False) -> RescheduleReport:
        """Reschedule the project's Failed and Killed jobs (see
        :meth:`JobService.reschedule`): which moved, and why the others did not."""
        ids = [
            s.job_id
            for s in self.jobs()
            if s.status in (JobStatus.FAILED, JobStatus.KILLED)
        ]
        return self._service.reschedule(ids, reset_count=reset_count)

    # ------------------------------------------------------------ outputs

    def download(
        self,
        dest: str | os.PathLike[str],
        *,
        workers: int = 4,
        only: Iterable[str] | None = None,
        progress: DownloadProgress | None = None,
    ) -> DownloadReport:
        """Download the outputs to ``dest`` (``dest/subNN/...``), verified.

        Resumable: files already in ``dest`` with the right checksum are kept. The
        report is ``"incomplete"`` while jobs are not Done or files failed (their
        LFNs are in ``dest/.b2grid-failed.txt``, which ``only=`` takes); outputs
        expiring within 14 days add a warning; expired ones raise
        :class:`~b2grid.errors.OutputsExpired`. See
        :func:`b2grid.storage.download.download`.
        """
        if not self.output_lpn:
            raise StorageError(
                f"project {self.name} writes its outputs to datasets of their own "
                "(production); download those datasets with `b2grid ds get LPN`"
            )
        what = f"project {self.name}"
        try:
            return download_outputs(
                self._service,
                self.output_lpn,
                dest,
                workers=workers,
                only=only,
                progress=progress,
                what=what,
                extend_hint=f"`b2grid project extend {self.name} --days N`",
            )
        except NotRegistered:  # no output registered, and every job is Done
            return DownloadReport(what, Path(dest), missing=[f"{what} has no outputs"])

    def expires(self) -> datetime | None:
        """When the rule keeping the outputs ends (None: no rule with an end)."""
        ends = [
            r.expires
            for r in self._service.storage.rules.rules(target=self.output_lpn)
            if r.expires is not None
        ] if self.output_lpn else []  # fmt: skip
        return max(from_iso(e) for e in ends) if ends else None

    def extend(self, days: float) -> datetime:
        """Keep the outputs ``days`` longer (owner or admin); returns the new end.

        Each rule on the output dataset that has an end is moved to that end (or
        now, if it passed) plus ``days`` grid days; ``days <= 0`` raises
        :class:`~b2grid.errors.BadArgument`.
        """
        storage = self._service.storage
        user = storage.user
        step = lifetime_of(days, "days")
        if user.name != self.owner and "admin" not in user.roles:
            raise PermissionDenied(
                user.name,
                self.output_lpn or self.name,
                f"project {self.name} belongs to {self.owner}; only its owner (or "
                "an admin) extends its outputs' lifetime",
            )
        rules = (
            [r for r in storage.rules.rules(target=self.output_lpn) if r.expires]
            if self.output_lpn
            else []
        )
        if not rules:
            raise StorageError(
                f"no rule with a lifetime keeps the outputs of project {self.name} "
                f"({self.output_lpn or 'no output dataset'}): either none was "
                "registered yet, they are kept for ever, or their lifetime already "
                "ended (`b2grid ds get` says which)"
            )
        now = storage.clock.now()
        ends = []
        for rule in rules:
            assert rule.expires is not None
            end = max(from_iso(rule.expires), now) + step
            storage.rules.extend(rule.rule_id, end)
            ends.append(end)
        return max(ends)

    def local_files(self, dest: str | os.PathLike[str]) -> list[Path]:
        """The local paths of the ntuple (``.root``) outputs under ``dest``.

        Raises :class:`~b2grid.errors.IncompleteDownload` if any is missing.
        """
        wanted = local_paths(
            [lfn for lfn in self.outputs() if lfn.endswith(".root")],
            self.output_lpn,
            dest,
        )
        missing = [p for p in wanted.values() if not p.is_file()]
        if missing:
            raise IncompleteDownload(
                f"project {self.name}", str(dest), len(missing), len(wanted)
            )
        return list(wanted.values())

    def to_awkward(self, dest: str | os.PathLike[str]) -> ak.Array:
        """The downloaded ntuples under ``dest`` as one awkward Array of records.

        Refuses (:class:`~b2grid.errors.IncompleteDownload`) while a registered
        output is not in ``dest``; :meth:`status` says whether every job is Done.
        """
        import awkward as ak

        from b2grid.formats import read_ntuples

        paths = self.local_files(dest)
        if not paths:
            return ak.Array([])
        return ak.Array(read_ntuples(paths))

    def to_pandas(self, dest: str | os.PathLike[str]) -> pd.DataFrame:
        """The downloaded ntuples under ``dest`` as one pandas DataFrame."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError(
                "Project.to_pandas needs pandas, which is not installed: "
                "`pip install pandas` (or use Project.to_awkward)"
            ) from exc
        from b2grid.formats import read_ntuples

        paths = self.local_files(dest)
        return pd.DataFrame(read_ntuples(paths) if paths else {})


# ------------------------------------------------------------ any named set


def download_outputs(
    service: JobService,
    names: str | Sequence[str],
    dest: str | os.PathLike[str],
    *,
    workers: int = 4,
    only: Iterable[str] | None = None,
    progress: DownloadProgress | None = None,
    what: str | None = None,
    extend_hint: str | None = None,
) -> DownloadReport:
    """Download ``names`` (dataset, datablock or collection LPNs, LFNs) to ``dest``,
    judged complete the same way however the set is named.

    As :func:`b2grid.storage.download.download`, and the set is also incomplete
    while jobs that write into it are not Done (:func:`unfinished_jobs`): a
    project's output LPN, one of its datablocks or a collection holding it says
    INCOMPLETE exactly as the project's name does (:meth:`Project.download`).
    A set with no file registered yet is reported incomplete if such jobs exist;
    otherwise :class:`~b2grid.errors.NotRegistered` propagates.
    """
    asked = [names] if isinstance(names, str) else list(names)
    pending = unfinished_jobs(service, asked)
    try:
        return download_files(
            service.storage,
            asked,
            dest,
            workers=workers,
            only=only,
            progress=progress,
            what=what,
            pending=pending,
            extend_hint=extend_hint,
        )
    except NotRegistered:
        if not pending:
            raise
        label = what or (asked[0] if len(asked) == 1 else f"{len(asked)} names")
        return DownloadReport(label, Path(dest), missing=pending)


def unfinished_jobs(service: JobService, names: Sequence[str]) -> list[str]:
    """Why the set ``names`` is incomplete on account of the jobs that fill it.

    ``names`` are dataset, datablock or collection LPNs or LFNs (a single file is
    complete by itself). A job fills a dataset when it has outputs and the
    dataset is its own output dataset, or else its project's ``output_lpn``; the
    jobs of official (production) projects are all looked at, those of user
    projects only when the project's ``output_lpn`` is in the set. One reason per
    project with jobs not Done, naming the counts and what to do; none when the
    set's producers are all Done (or it has none).
    """
    catalog = service.storage.catalog
    collections = Collections(catalog)
    datasets: set[str] = set()
    for name in names:
        name = validate_lfn(name)
        parts = (
            collections.expand([name]) if collections.is_collection(name) else [name]
        )
        for part in parts:
            datasets.add(part)
            parent, _, last = part.rpartition("/")
            if datablock_index(last) is not None:
                datasets.add(parent)  # a datablock: its dataset's producers fill it
    official = any(namespace_of(d).kind not in ("user", "group") for d in datasets)
    out = []
    for record in service.store.projects():
        if record.output_lpn not in datasets and not (
            official and record.kind != "user"
        ):
            continue
        filling = [
            job.state
            for job in service.store.jobs(record.project_id)
            if job.spec.outputs
            and datasets.intersection(job.spec.output_lpns or (record.output_lpn,))
        ]
        reason = _not_done(record.name, filling)
        if reason is not None:
            out.append(reason)
    return out


def _not_done(project: str, states: Sequence[JobState]) -> str | None:
    """The reason ``states`` (jobs of ``project``) leave a set incomplete, if any."""
    waiting = [s for s in states if s.status != JobStatus.DONE]
    if not waiting:
        return None
    by: dict[str, int] = {}
    for s in waiting:
        by[s.status.value] = by.get(s.status.value, 0) + 1
    counts = ", ".join(f"{n} {k}" for k, n in sorted(by.items()))
    return (
        f"{len(waiting)} of {len(states)} jobs of project {project} are not "
        f"Done ({counts}): wait for them, or reschedule the failed ones "
        f"(`b2grid job reschedule -p {project}`), then download again"
    )


__all__ = ["Project", "download_outputs", "unfinished_jobs"]
