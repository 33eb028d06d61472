"""Jobs: the workload management system (DIRAC's WMS).

Pure: :mod:`~b2grid.jobs.model` says what a job is, :mod:`~b2grid.jobs.lifecycle` how
its status changes, :mod:`~b2grid.jobs.matchmaker` where it runs. Around them:
:mod:`~b2grid.jobs.store` (the catalog keeps jobs), :mod:`~b2grid.jobs.execution` (what
runs on a worker), :mod:`~b2grid.jobs.sandbox` (the payload process user code runs in,
its limits and confinement), :mod:`~b2grid.jobs.service` (the controller's agent,
``grid.jobs``) and :mod:`~b2grid.jobs.project` (``grid.submit`` returns a Project).
"""

from b2grid.jobs.lifecycle import decide, validate_state, watchdog
from b2grid.jobs.matchmaker import Candidate, MatchResult, SiteView, diagnose, match
from b2grid.jobs.model import (
    FINAL,
    JobSpec,
    JobState,
    JobStatus,
    Requirements,
    validate_project_name,
)

__all__ = [
    "FINAL",
    "JobSpec",
    "JobState",
    "JobStatus",
    "Requirements",
    "validate_project_name",
    "decide",
    "validate_state",
    "watchdog",
    "Candidate",
    "MatchResult",
    "SiteView",
    "diagnose",
    "match",
]
