"""Production's pure policy: run ranges, buckets, the stages of a workflow, which
stage runs next, how runs merge into intervals of validity, and how many events a
luminosity is worth.

No catalog, no Dask, no disk, no clock: the production service
(:mod:`b2grid.production.service`) carries the decisions out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from b2grid.errors import BadCampaign, OverlappingBucket
from b2grid.physics.generator import GENERIC_SAMPLES, SIGNAL_EVENT_TYPES

#: campaign kinds: data taking, prompt buckets, official reprocessing, MC
KINDS = ("data_taking", "prompt", "proc", "mc_ri", "mc_rd", "skim")

#: the stages of a processing campaign (prompt bucket or official proc), in order
PROCESSING_STAGES: tuple[str, ...] = (
    "raw_calibration",  # momentum scale from mu-mu events in RAW
    "cdst",  # cDST calibration skims (bhabha, mumu, hadron) with stage-1 payloads
    "data_calibration",  # ECL crystal energies from the Bhabha cDST
    "validation",  # the staging tag checked on the calibration samples
    "mdst",  # RAW -> mDST (all events; the HLT hadron skim) with the final tag
)
#: single-stage campaigns
SINGLE_STAGE: Mapping[str, tuple[str, ...]] = {
    "data_taking": ("take_data",),
    "mc_ri": ("mc",),
    "mc_rd": ("mc",),
    "skim": ("skim",),
}

#: 1 fb^-1 = 1e6 nb^-1: events = sigma [nb] x L [fb^-1] x 1e6
NB_PER_INVERSE_FB = 1e6
#: total visible cross section of the generic processes (nb)
TOTAL_CROSS_SECTION = sum(GENERIC_SAMPLES.values())
#: campaign names: procNN, bucketNN / promptNN, MCNNri_x / MCNNrd_x
_NAMES = {
    "proc": re.compile(r"proc[0-9]{1,3}"),
    "prompt": re.compile(r"(bucket|prompt)[0-9]{1,3}[a-z]?"),
    "mc_ri": re.compile(r"MC[0-9]{1,2}ri_[a-z]"),
    "mc_rd": re.compile(r"MC[0-9]{1,2}rd_[a-z]"),
    "skim": re.compile(r"[A-Za-z][A-Za-z0-9_]*_skim[A-Za-z0-9]*"),
}
_SPELLING = {
    "proc": "procNN, e.g. proc13",
    "prompt": "bucketNN or promptNN, e.g. bucket23",
    "mc_ri": "MCNNri_x, e.g. MC15ri_b",
    "mc_rd": "MCNNrd_x, e.g. MC15rd_a",
    "skim": "<source>_skim[suffix], e.g. proc13_skim or MC15ri_a_skim2",
}


class StageStatus(str, Enum):
    """Where a stage of a campaign stands."""

    WAITING = "waiting"  # its inputs are not complete yet
    RUNNING = "running"  # its jobs are submitted
    DONE = "done"  # its jobs are done and its outputs booked
    FAILED = "failed"  # a job failed for good, or a check refused the result


@dataclass(frozen=True, slots=True)
class StageState:
    """One stage of a campaign as stored."""

    name: str
    status: StageStatus = StageStatus.WAITING
    #: the project running the stage's jobs, once submitted
    project_id: int | None = None
    #: why it failed, what it excluded, what it published
    note: str = ""


@dataclass(frozen=True, slots=True)
class Start:
    """Submit the jobs of stage ``stage``."""

    stage: str


@dataclass(frozen=True, slots=True)
class Watch:
    """Stage ``stage`` is running: look at its project."""

    stage: str


@dataclass(frozen=True, slots=True)
class Blocked:
    """Stage ``stage`` failed: nothing after it starts until someone acts."""

    stage: str
    why: str


@dataclass(frozen=True, slots=True)
class Complete:
    """Every stage is done."""


Step = Start | Watch | Blocked | Complete


def next_step(stages: Sequence[StageState]) -> Step:
    """What a campaign does next: a stage starts only when all before it are done.

    Examples
    --------
    >>> s = [StageState("a", StageStatus.DONE), StageState("b"), StageState("c")]
    >>> next_step(s)
    Start(stage='b')
    >>> next_step([StageState("a", StageStatus.FAILED, note="no data")])
    Blocked(stage='a', why='no data')
    >>> next_step([StageState("a", StageStatus.DONE)])
    Complete()
    """
    for stage in stages:
        if stage.status is StageStatus.DONE:
            continue
        if stage.status is StageStatus.FAILED:
            return Blocked(stage.name, stage.note)
        if stage.status is StageStatus.RUNNING:
            return Watch(stage.name)
        return Start(stage.name)
    return Complete()


def stages_of(kind: str) -> tuple[str, ...]:
    """The stage names of a campaign kind, in order."""
    return SINGLE_STAGE.get(kind, PROCESSING_STAGES)


def check_campaign_name(kind: str, name: str) -> str:
    """Return ``name`` if it is spelled as campaigns of ``kind`` are, else raise.

    Examples
    --------
    >>> check_campaign_name("prompt", "bucket23")
    'bucket23'
    >>> check_campaign_name("mc_ri", "MC15rd_a")
    Traceback (most recent call last):
    ...
    b2grid.errors.BadCampaign: campaign 'MC15rd_a': a mc_ri campaign is named MCNNri_x, e.g. MC15ri_b
    """  # noqa: E501
    if kind not in KINDS:
        raise BadCampaign(name, f"unknown kind {kind!r}; kinds: {', '.join(KINDS)}")
    pattern = _NAMES.get(kind)
    if pattern is not None and not pattern.fullmatch(name):
        raise BadCampaign(name, f"a {kind} campaign is named {_SPELLING[kind]}")
    return name


def parse_runs(text: str | int | Iterable[int]) -> tuple[int, ...]:
    """Runs from ``"1-20"``, ``"3,5,7-9"``, one int or ints: sorted, unique.

    Examples
    --------
    >>> parse_runs("7-9,3")
    (3, 7, 8, 9)
    >>> parse_runs("9-7")
    Traceback (most recent call last):
    ...
    b2grid.errors.BadCampaign: campaign 'runs': run range '9-7' is inverted; write 7-9
    """
    if isinstance(text, int):
        runs = [text]
    elif isinstance(text, str):
        runs = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            low, dash, high = part.partition("-")
            if not low.isdigit() or (dash and not high.isdigit()):
                raise BadCampaign("runs", f"{part!r} is not a run or a range like 1-20")
            a, b = int(low), int(high) if dash else int(low)
            if a > b:
                raise BadCampaign(
                    "runs", f"run range {part!r} is inverted; write {b}-{a}"
                )
            runs.extend(range(a, b + 1))
    else:
        runs = [int(r) for r in text]
    if not runs:
        raise BadCampaign("runs", "no runs given")
    if min(runs) < 0 or max(runs) > 99999:
        raise BadCampaign("runs", "runs are numbered 0 to 99999")
    return tuple(sorted(set(runs)))


@dataclass(frozen=True, slots=True)
class RunRange:
    """Runs ``run_low`` to ``run_high`` (inclusive) of experiment ``exp``."""

    exp: int
    run_low: int
    run_high: int

    def __post_init__(self) -> None:
        if self.run_low > self.run_high:
            raise BadCampaign(
                "runs",
                f"run range {self.run_low}-{self.run_high} is inverted; write "
                f"{self.run_high}-{self.run_low}",
            )

    def __contains__(self, run: object) -> bool:
        return isinstance(run, int) and self.run_low <= run <= self.run_high

    def overlaps(self, other: RunRange) -> bool:
        return (
            self.exp == other.exp
            and self.run_low <= other.run_high
            and other.run_low <= self.run_high
        )

    def __str__(self) -> str:
        return (
            f"(exp={self.exp}, run={self.run_low}) → (exp={self.exp}, "
            f"run={self.run_high})"
        )


def check_bucket(name: str, runs: RunRange, existing: Mapping[str, RunRange]) -> bool:
    """Whether bucket ``name`` over ``runs`` is new (True) or already defined the
    same (False, nothing to do); :class:`OverlappingBucket` if it overlaps another
    bucket or reuses a name for other runs.

    Examples
    --------
    >>> b23 = RunRange(12, 1, 20)
    >>> check_bucket("bucket24", RunRange(12, 21, 30), {"bucket23": b23})
    True
    >>> check_bucket("bucket23", RunRange(12, 1, 20), {"bucket23": b23})
    False
    >>> check_bucket("bucket24", RunRange(12, 15, 30), {"bucket23": b23})
    Traceback (most recent call last):
    ...
    b2grid.errors.OverlappingBucket: bucket24 (exp=12, run=15) → (exp=12, run=30) overlaps bucket23 (exp=12, run=1) → (exp=12, run=20); buckets never share a run: start after run 20
    """  # noqa: E501
    if name in existing:
        if existing[name] == runs:
            return False
        raise OverlappingBucket(name, str(runs), name, str(existing[name]))
    for other, theirs in existing.items():
        if runs.overlaps(theirs):
            raise OverlappingBucket(
                name, str(runs), other, str(theirs), theirs.run_high
            )
    return True


def merge_runs(
    counts: Sequence[tuple[int, int]], minimum: int
) -> list[tuple[int, ...]]:
    """Group consecutive runs so each group has at least ``minimum`` events.

    ``counts`` is (run, events) per run. Runs are taken in order and merged until
    a group is big enough; a short remainder joins the last group. Returns no
    group when all runs together are too few — the caller says so.

    Examples
    --------
    >>> merge_runs([(1, 50), (2, 80), (3, 200), (4, 10)], 100)
    [(1, 2), (3, 4)]
    >>> merge_runs([(1, 50)], 100)
    []
    """
    groups: list[list[int]] = []
    current: list[int] = []
    total = 0
    for run, n in sorted(counts):
        current.append(run)
        total += n
        if total >= minimum:
            groups.append(current)
            current, total = [], 0
    if current and groups:
        groups[-1].extend(current)
    return [tuple(g) for g in groups]


def collisions(luminosity: float, scale: float) -> int:
    """Collisions of every generic process in ``luminosity`` fb^-1, scaled down.

    Examples
    --------
    >>> collisions(0.05, 1e-3)
    15387
    """
    return max(1, round(luminosity * NB_PER_INVERSE_FB * TOTAL_CROSS_SECTION * scale))


def mc_events(sample: str, luminosity: float, scale: float) -> int:
    """Events of an MC sample worth ``luminosity`` fb^-1, scaled down.

    Generic samples go by their cross section; a signal event type by the
    B-pair cross section of its parent times a branching fraction of 1e-3 (signal
    MC is produced far above its natural rate, as in Belle II).

    Examples
    --------
    >>> mc_events("charged", 1.0, 1e-3)
    540
    >>> mc_events("1213030000", 1.0, 1e-3)
    1
    """
    if sample in GENERIC_SAMPLES:
        sigma = GENERIC_SAMPLES[sample]
    elif sample in SIGNAL_EVENT_TYPES:
        parent = "charged" if sample[1] == "2" else "mixed"
        sigma = GENERIC_SAMPLES[parent] * 2e-3
    else:
        raise BadCampaign(
            sample,
            "not an MC sample; generic samples: "
            + ", ".join(GENERIC_SAMPLES)
            + "; signal: "
            + ", ".join(SIGNAL_EVENT_TYPES),
        )
    return max(1, round(luminosity * NB_PER_INVERSE_FB * sigma * scale))


def split(total: int, per_job: int) -> list[int]:
    """``total`` events in jobs of at most ``per_job``: the sizes, in order.

    Examples
    --------
    >>> split(25, 10)
    [10, 10, 5]
    """
    return [min(per_job, total - i) for i in range(0, total, per_job)]


__all__ = [
    "KINDS",
    "PROCESSING_STAGES",
    "Blocked",
    "Complete",
    "RunRange",
    "StageState",
    "StageStatus",
    "Start",
    "Step",
    "Watch",
    "check_bucket",
    "check_campaign_name",
    "collisions",
    "mc_events",
    "merge_runs",
    "next_step",
    "parse_runs",
    "split",
    "stages_of",
]
