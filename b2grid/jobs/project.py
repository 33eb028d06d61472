"""A submitted project as a Python object: status, waiting, jobs, outputs, actions.

``Project`` is a thin, live view over the catalog (every call reads the current state),
so it works in the controller and in any attached process alike.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from b2grid.jobs.model import FINAL, JobState, JobStatus

if TYPE_CHECKING:
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
        counts per status beside it. Raises ``TimeoutError`` after ``timeout`` s.
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
                    raise TimeoutError(
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

    def reschedule(self) -> int:
        """Reschedule the project's Failed and Killed jobs; returns how many."""
        ids = [
            s.job_id
            for s in self.jobs()
            if s.status in (JobStatus.FAILED, JobStatus.KILLED)
        ]
        return self._service.reschedule(ids)
