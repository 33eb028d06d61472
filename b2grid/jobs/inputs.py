"""Job inputs: from what a physicist names to one LFN list per job, and its summary.

:func:`resolve_inputs` turns datasets, datablocks, collections, a search result, LFNs
or a list file into the files they stand for (each once, bad runs left out and
reported). :func:`group` cuts them into jobs without ever mixing datablocks, the
Belle II unit of job input; :func:`plan` adds the totals gbasf2 prints before it
submits. Only :func:`resolve_inputs` reads the catalog; the rest is pure.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from b2grid.errors import BadJob, NotRegistered
from b2grid.storage.collection import is_collection_lpn
from b2grid.storage.records import FileRecord
from b2grid.storage.search import ExcludedRun, SearchResult

if TYPE_CHECKING:
    from b2grid.storage.catalog import Catalog
    from b2grid.storage.collection import Collections

#: what may be given as the inputs of an analysis (see :func:`resolve_inputs`)
Inputs = str | os.PathLike[str] | SearchResult | Sequence[str]
#: CPU time an event costs when the caller gives no estimate (200 µs)
DEFAULT_SECONDS_PER_EVENT = 200e-6
#: the catalog's namespace: a string under it is a name, anything else a list file
NAMESPACE = "/belle/"


class InputFile(Protocol):
    """What grouping and planning need of a file (a :class:`FileRecord` has it)."""

    @property
    def lfn(self) -> str: ...
    @property
    def datablock(self) -> str | None: ...
    @property
    def size(self) -> int: ...
    @property
    def events(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class ResolvedInputs:
    """The files some inputs stand for, and the bad runs left out of them."""

    #: each file once, in the order the inputs name them
    files: tuple[FileRecord, ...]
    #: bad runs whose files were left out (empty with ``include_bad_runs``)
    excluded_bad_runs: tuple[ExcludedRun, ...] = ()

    @property
    def excluded_files(self) -> int:
        """How many files of bad runs were left out."""
        return sum(r.files for r in self.excluded_bad_runs)


@dataclass(frozen=True, slots=True)
class SubmissionPlan:
    """A project before it is submitted: gbasf2's project summary, and its jobs."""

    project: str
    owner: str
    #: where the outputs will be registered
    output_lpn: str
    #: one tuple of input LFNs per job, in submission order
    jobs: tuple[tuple[str, ...], ...]
    #: the datasets the input files belong to, in order
    datasets: tuple[str, ...]
    n_files: int
    #: events of the input files (files without a count add none)
    events: int
    #: bytes of the input files
    size: int
    #: events of the largest job times the per-event cost, in seconds
    cpu_seconds_per_job: float
    seconds_per_event: float = DEFAULT_SECONDS_PER_EVENT
    #: bad runs whose files were left out of the inputs
    excluded_bad_runs: tuple[ExcludedRun, ...] = ()
    #: what runs (a steering file's path, a function's name), for the summary
    analysis: str = ""

    @property
    def n_jobs(self) -> int:
        return len(self.jobs)

    @property
    def megabytes(self) -> float:
        """The input size in MB (10^6 bytes), as gbasf2 prints it."""
        return self.size / 1e6

    def rows(self) -> list[tuple[str, str]]:
        """The summary as (label, value) rows, in gbasf2's order."""
        first = ", ".join(self.jobs[0]) if self.jobs else "-"
        rows = [
            ("Project name", self.project),
            ("Output LPN", self.output_lpn),
            ("Owner", self.owner),
        ]
        if self.analysis:
            rows.append(("Analysis", self.analysis))
        rows += [
            ("Number of datasets", str(len(self.datasets))),
            ("Number of input files", str(self.n_files)),
            ("Number of jobs", str(self.n_jobs)),
            ("Input files of the first job", first),
            ("Processed events", str(self.events)),
            ("Processed data (MB)", f"{self.megabytes:.1f}"),
            ("Estimated CPU time per job", f"{self.cpu_seconds_per_job:.1f} s"),
        ]
        if self.excluded_bad_runs:
            runs = ", ".join(f"{r.exp}/{r.run}" for r in self.excluded_bad_runs)
            total = sum(r.files for r in self.excluded_bad_runs)
            rows.append(("Left out (bad runs exp/run)", f"{total} file(s): {runs}"))
        return rows


def is_per_job(inputs: object) -> bool:
    """Whether ``inputs`` is already one list of LFNs per job (a list of lists).

    Examples
    --------
    >>> is_per_job([["/belle/a/f1"], ["/belle/a/f2"]]), is_per_job(["/belle/a"])
    (True, False)
    """
    return (
        isinstance(inputs, Sequence)
        and not isinstance(inputs, str)
        and len(inputs) > 0
        and all(
            isinstance(job, Sequence) and not isinstance(job, str) for job in inputs
        )
    )


def read_list_file(path: str | os.PathLike[str]) -> list[str]:
    """The names in a list file: one LFN or LPN a line, ``#`` starts a comment.

    The format ``b2grid ds search ... --output FILE`` writes. :class:`BadJob`
    if the file cannot be read.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "inputs.txt"
    >>> text = "# proc12 hadron\\n/belle/Data/a  # first\\n\\n/belle/Data/b\\n"
    >>> _ = p.write_text(text)
    >>> read_list_file(p)
    ['/belle/Data/a', '/belle/Data/b']
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = "does not exist" if isinstance(exc, FileNotFoundError) else str(exc)
        raise BadJob(
            "inputs",
            f"list file {os.fspath(path)!r} {why}; give dataset LPNs, LFNs, a "
            "search result or a list file (one name a line)",
        ) from exc
    names = []
    for line in text.splitlines():
        name = line.partition("#")[0].strip()
        if name:
            names.append(name)
    return names


def input_names(inputs: Inputs) -> list[str]:
    """The catalog names ``inputs`` give, in order (a list file is read).

    A string under ``/belle/`` is a name; any other string or path is a list file.
    """
    if isinstance(inputs, SearchResult):
        if not len(inputs):
            why = inputs.empty_message()
            raise BadJob("inputs", f"the search result is empty ({why})")
        return list(inputs.names)
    if isinstance(inputs, os.PathLike):
        return read_list_file(inputs)
    if isinstance(inputs, str):
        if inputs.startswith(NAMESPACE):
            return [inputs]
        return read_list_file(inputs)
    if isinstance(inputs, Sequence):
        names = list(inputs)
        for name in names:
            if not isinstance(name, str):
                raise BadJob(
                    "inputs",
                    f"{name!r} is not an LFN or LPN; a list of inputs holds names "
                    "(or give one list of LFNs per job)",
                )
        return names
    raise BadJob(
        "inputs",
        f"cannot use a {type(inputs).__name__} as inputs; give dataset LPNs, LFNs, a "
        "collection, a search result or a list file",
    )


def resolve_inputs(
    catalog: Catalog,
    collections: Collections,
    inputs: Inputs,
    *,
    include_bad_runs: bool = False,
) -> ResolvedInputs:
    """The files ``inputs`` stand for: each file once, in the order named.

    ``inputs`` is a dataset, datablock or collection LPN, an LFN, a list mixing
    them, a :class:`~b2grid.storage.search.SearchResult` (of datasets or files) or
    the path of a list file. Files of runs marked bad are left out (and reported in
    :attr:`ResolvedInputs.excluded_bad_runs`) unless ``include_bad_runs`` is true or
    the search result was made with it; lost files of datasets are left out.

    Raises
    ------
    NotRegistered
        Naming the first dataset, datablock, collection or file the catalog does not
        know.
    BadJob
        For inputs of the wrong kind, an unreadable list file, or when no file is
        left.
    """
    if isinstance(inputs, SearchResult) and inputs.query.include_bad_runs:
        include_bad_runs = True
    names = input_names(inputs)
    if not names:
        raise BadJob("inputs", "no inputs given: the input list is empty")
    known = catalog.files_named([n for n in names if not is_collection_lpn(n)])
    found: dict[str, FileRecord] = {}
    for name in names:
        if name in known:
            found.setdefault(name, known[name])
            continue
        targets = [name]
        if is_collection_lpn(name) and collections.is_collection(name):
            targets = collections.expand([name])
        for target in targets:
            try:
                files = catalog.files_of(target)
            except NotRegistered:
                raise NotRegistered(
                    name,
                    "dataset, datablock, collection or file",
                    "nothing submitted; `b2grid ds search` finds datasets",
                ) from None
            for f in files:
                found.setdefault(f.lfn, f)
    kept, excluded = exclude_bad_runs(
        list(found.values()), () if include_bad_runs else catalog.bad_runs()
    )
    if not kept:
        why = "every file is of a bad run; include_bad_runs=True (--include-bad-runs)"
        if not excluded:
            why = "the datasets named hold no available file"
        raise BadJob("inputs", f"no input files: {why}")
    return ResolvedInputs(tuple(kept), excluded)


def exclude_bad_runs(
    files: Sequence[FileRecord], bad_runs: Iterable[tuple[int, int]]
) -> tuple[list[FileRecord], tuple[ExcludedRun, ...]]:
    """``files`` without those of ``bad_runs``, and the runs left out with counts.

    Examples
    --------
    >>> from b2grid.storage.records import FileRecord
    >>> f = [FileRecord(i, f"/belle/x/f{i}", 1, "1", 5, 12, i % 2, "a", "available",
    ...                 "/belle/x/sub00") for i in range(3)]
    >>> kept, left_out = exclude_bad_runs(f, [(12, 1)])
    >>> [x.lfn for x in kept], left_out
    (['/belle/x/f0', '/belle/x/f2'], (ExcludedRun(exp=12, run=1, files=1),))
    """
    bad = set(bad_runs)
    if not bad:
        return list(files), ()
    kept: list[FileRecord] = []
    counts: dict[tuple[int, int], int] = {}
    for f in files:
        key = (f.exp, f.run)
        if f.exp is not None and f.run is not None and key in bad:
            counts[(f.exp, f.run)] = counts.get((f.exp, f.run), 0) + 1
        else:
            kept.append(f)
    runs = tuple(ExcludedRun(e, r, n) for (e, r), n in sorted(counts.items()))
    return kept, runs


def check_files_per_job(files_per_job: object) -> int:
    """``files_per_job`` if it is a whole number >= 1, else :class:`BadJob`."""
    if (
        isinstance(files_per_job, bool)
        or not isinstance(files_per_job, int)
        or files_per_job < 1
    ):
        raise BadJob(
            "files_per_job", f"{files_per_job!r} is not a whole number of files >= 1"
        )
    return files_per_job


def group(files: Iterable[InputFile], files_per_job: int) -> list[list[str]]:
    """One LFN list per job: at most ``files_per_job`` files, all of one datablock.

    Datablocks come in the order their first file does, files keep their order
    inside a datablock; a datablock's last job may hold fewer files.

    Examples
    --------
    >>> from types import SimpleNamespace as F
    >>> files = [F(lfn=f"/belle/d/sub0{b}/f{i}", datablock=f"/belle/d/sub0{b}")
    ...          for b, i in [(0, 1), (0, 2), (0, 3), (1, 4), (1, 5)]]
    >>> group(files, 2)
    [['/belle/d/sub00/f1', '/belle/d/sub00/f2'], ['/belle/d/sub00/f3'],
     ['/belle/d/sub01/f4', '/belle/d/sub01/f5']]
    """
    check_files_per_job(files_per_job)
    blocks: dict[str | None, list[str]] = {}
    for f in files:
        blocks.setdefault(f.datablock, []).append(f.lfn)
    return [
        lfns[i : i + files_per_job]
        for lfns in blocks.values()
        for i in range(0, len(lfns), files_per_job)
    ]


def dataset_of(datablock: str | None, lfn: str) -> str:
    """The dataset LPN of a file: its datablock's parent (``.../subNN``)."""
    return str(Path(datablock).parent) if datablock else str(Path(lfn).parent)


def plan(
    files: Sequence[InputFile],
    *,
    project: str,
    owner: str,
    output_lpn: str,
    files_per_job: int = 1,
    seconds_per_event: float = DEFAULT_SECONDS_PER_EVENT,
    excluded_bad_runs: Sequence[ExcludedRun] = (),
    analysis: str = "",
) -> SubmissionPlan:
    """The submission summary of ``files`` cut into jobs by :func:`group`.

    The CPU estimate is the events of the largest job (by events) times
    ``seconds_per_event``: what a job must be granted, not an average.

    Examples
    --------
    >>> from types import SimpleNamespace as F
    >>> files = [F(lfn=f"/belle/d/sub00/f{i}", datablock="/belle/d/sub00",
    ...            size=2_000_000, events=1000) for i in range(3)]
    >>> p = plan(files, project="ana1", owner="alice",
    ...          output_lpn="/belle/user/alice/ana1", files_per_job=2)
    >>> p.n_jobs, p.events, p.megabytes, p.cpu_seconds_per_job
    (2, 3000, 6.0, 0.4)
    """
    if (
        isinstance(seconds_per_event, bool)
        or not isinstance(seconds_per_event, int | float)
        or not 0 < seconds_per_event < float("inf")
    ):
        raise BadJob(
            "seconds_per_event", f"{seconds_per_event!r} is not a positive number"
        )
    jobs = group(files, files_per_job)
    by_lfn = {f.lfn: f for f in files}
    per_job = [sum(by_lfn[lfn].events or 0 for lfn in job) for job in jobs]
    datasets = dict.fromkeys(dataset_of(f.datablock, f.lfn) for f in files)
    return SubmissionPlan(
        project=project,
        owner=owner,
        output_lpn=output_lpn,
        jobs=tuple(tuple(job) for job in jobs),
        datasets=tuple(datasets),
        n_files=len(by_lfn),
        events=sum(f.events or 0 for f in by_lfn.values()),
        size=sum(f.size for f in by_lfn.values()),
        cpu_seconds_per_job=round(max(per_job, default=0) * seconds_per_event, 6),
        seconds_per_event=float(seconds_per_event),
        excluded_bad_runs=tuple(excluded_bad_runs),
        analysis=analysis,
    )


__all__ = [
    "DEFAULT_SECONDS_PER_EVENT",
    "NAMESPACE",
    "InputFile",
    "Inputs",
    "ResolvedInputs",
    "SubmissionPlan",
    "check_files_per_job",
    "dataset_of",
    "exclude_bad_runs",
    "group",
    "input_names",
    "is_per_job",
    "plan",
    "read_list_file",
    "resolve_inputs",
]
