"""What runs on a site's worker: stage inputs, call the user's function, store outputs.

A :class:`JobTask` carries everything a worker needs (no catalog access: workers never
write the catalog). :func:`run_job` reads the inputs from the site's SE (or a remote SE
under ``read_remote``), verifying checksums, calls the job's function with a
:class:`JobContext`, writes each declared output to the site's SE at its final LFN (an
atomic write: temporary name, checksum, rename) and returns a small
:class:`TaskResult`. It never raises: every failure is reported in the result, with
``kind`` telling user errors (``app``) from infrastructure ones (``lost``).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import cloudpickle
import numpy as np

from b2grid.errors import ChecksumMismatch
from b2grid.storage.element import StorageElement

#: the Dask event topic workers report job starts and heartbeats on
TOPIC = "b2grid-jobs"
#: longest captured stdout/stderr kept per attempt (characters)
MAX_LOG = 1_000_000


@dataclass(frozen=True, slots=True)
class InputRef:
    """One input file: its LFN, expected checksum and size, and the SE to read."""

    lfn: str
    adler32: str
    size: int
    se: StorageElement


@dataclass(frozen=True, slots=True)
class OutputRef:
    """A declared output: the file name the job writes and its final LFN."""

    name: str
    lfn: str


@dataclass(frozen=True, slots=True)
class JobTask:
    """Everything one attempt of a job needs on the worker."""

    job_id: int
    attempt: int
    site: str
    function: str | None
    payload: bytes | None
    args: bytes
    inputs: tuple[InputRef, ...]
    outputs: tuple[OutputRef, ...]
    out_se: StorageElement
    heartbeat_interval: float = 10.0


@dataclass(frozen=True, slots=True)
class StoredOutput:
    """An output written to the SE: what the controller verifies and registers."""

    name: str
    lfn: str
    size: int
    adler32: str
    #: what the job declared about the file (:meth:`JobContext.describe`)
    events: int | None = None
    exp: int | None = None
    run: int | None = None


@dataclass(frozen=True, slots=True)
class TaskResult:
    """What a worker reports back: small metadata, never event data."""

    job_id: int
    attempt: int
    #: "done", "app" (the job's own error: it fails alone) or "lost" (infrastructure)
    kind: str
    error: str = ""
    traceback: str = ""
    outputs: tuple[StoredOutput, ...] = ()
    application_status: str = "Done"
    stdout: str = ""
    stderr: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    worker: str = ""
    remote_bytes: int = 0
    #: (lfn, site) of input replicas that failed their checksum
    bad_replicas: tuple[tuple[str, str], ...] = ()


@dataclass
class JobContext:
    """What a job function receives: its inputs on local disk and where to write.

    ``inputs`` are local paths in the order of the job's input LFNs, already checksum
    verified. Write each declared output to ``output(name)``. ``kwargs`` are the
    keyword arguments given at submission.
    """

    job_id: int
    attempt: int
    site: str
    inputs: tuple[str, ...]
    input_lfns: tuple[str, ...]
    scratch: Path
    kwargs: dict[str, Any]
    output_names: tuple[str, ...]
    #: facts declared per output name with :meth:`describe`
    facts: dict[str, dict[str, int]] = field(default_factory=dict)

    def output(self, name: str) -> Path:
        """The local path to write declared output ``name`` to."""
        if name not in self.output_names:
            raise KeyError(
                f"{name!r} is not a declared output of job {self.job_id}; "
                f"declared: {', '.join(self.output_names) or 'none'}"
            )
        return self.scratch / "out" / name

    def describe(
        self,
        name: str,
        *,
        events: int | None = None,
        exp: int | None = None,
        run: int | None = None,
    ) -> None:
        """Declare facts of output ``name`` for the catalog: its number of events
        and the (experiment, run) it holds, which the dataset searcher uses."""
        self.output(name)  # a declared output, or KeyError
        given = {"events": events, "exp": exp, "run": run}
        self.facts[name] = {k: int(v) for k, v in given.items() if v is not None}


class _ThreadStreams:
    """sys.stdout/sys.stderr proxies that send a job thread's writes to its buffer.

    Worker threads run several jobs at once in one process, so redirecting the
    global streams would mix their output; this routes by thread instead.
    """

    def __init__(self, original: TextIO) -> None:
        self.original = original
        self.local = threading.local()

    def write(self, text: str) -> int:
        buffer = getattr(self.local, "buffer", None)
        return (buffer or self.original).write(text)

    def flush(self) -> None:
        buffer = getattr(self.local, "buffer", None)
        (buffer or self.original).flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


_install_lock = threading.Lock()


def _proxies() -> tuple[_ThreadStreams, _ThreadStreams]:
    with _install_lock:
        if not isinstance(sys.stdout, _ThreadStreams):
            sys.stdout = _ThreadStreams(sys.stdout)
        if not isinstance(sys.stderr, _ThreadStreams):
            sys.stderr = _ThreadStreams(sys.stderr)
        return sys.stdout, sys.stderr


@contextlib.contextmanager
def _captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out, err = _proxies()
    buffers = io.StringIO(), io.StringIO()
    out.local.buffer, err.local.buffer = buffers
    try:
        yield buffers
    finally:
        out.local.buffer = err.local.buffer = None


def _report(kind: str, task: JobTask, **extra: Any) -> None:
    """Send a start/heartbeat event to the controller (no-op outside a worker)."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return
    worker.log_event(
        TOPIC,
        {"kind": kind, "job": task.job_id, "attempt": task.attempt, **extra},
    )


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"inline:{os.getpid()}"


def load_function(function: str | None, payload: bytes | None) -> Callable[..., Any]:
    """The job's callable from ``module:qualname`` or from its pickled bytes."""
    if payload is not None:
        fn = cloudpickle.loads(payload)
    else:
        if function is None or ":" not in function:
            raise ValueError(f"not a 'module:qualname' reference: {function!r}")
        module, _, qualname = function.partition(":")
        fn = importlib.import_module(module)
        for part in qualname.split("."):
            fn = getattr(fn, part)
    if not callable(fn):
        raise TypeError(f"{function or 'the pickled payload'} is not callable")
    return fn  # type: ignore[no-any-return]


def _stage(
    task: JobTask, scratch: Path
) -> tuple[list[str], int, list[tuple[str, str]]]:
    """Local, verified paths of the inputs; bytes read remotely; bad replicas."""
    paths, remote, bad = [], 0, []
    for ref in task.inputs:
        local_se = ref.se.site == task.site and ref.se.url.startswith("file://")
        if local_se:
            if not ref.se.verify(ref.lfn, ref.adler32):
                bad.append((ref.lfn, ref.se.site))
                continue
            paths.append(ref.se.path_for(ref.lfn))
        else:
            target = scratch / "in" / Path(ref.lfn).name
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                ref.se.get(ref.lfn, target, expected_adler32=ref.adler32)
            except ChecksumMismatch:
                bad.append((ref.lfn, ref.se.site))
                continue
            remote += ref.size
            paths.append(str(target))
    return paths, remote, bad


def run_job(task: JobTask) -> TaskResult:
    """Run one attempt of a job on this worker; never raises (see the module doc)."""
    started = time.monotonic()
    timings: dict[str, float] = {}
    worker = _worker_name()
    _report("started", task, worker=worker)
    stop = threading.Event()
    beat = threading.Thread(
        target=_heartbeats, args=(task, stop), name=f"b2grid-hb-{task.job_id}"
    )
    beat.daemon = True
    beat.start()
    scratch = Path(tempfile.mkdtemp(prefix=f"b2grid-job{task.job_id}.{task.attempt}-"))

    def make(kind: str, **kw: Any) -> TaskResult:
        return TaskResult(task.job_id, task.attempt, kind, worker=worker, **kw)

    try:
        try:
            paths, remote, bad = _stage(task, scratch)
        except Exception as exc:  # an unreadable or corrupt replica: not the user's
            return make(
                "lost", error=f"input staging failed: {exc}",
                traceback=traceback.format_exc(), timings=timings,
            )  # fmt: skip
        if bad:
            lfn, site = bad[0]
            return make(
                "lost",
                error=f"input {lfn} at {site} failed its checksum",
                bad_replicas=tuple(bad),
            )
        timings["stage"] = time.monotonic() - started
        (scratch / "out").mkdir()
        with _captured() as (out, err):
            try:
                fn = load_function(task.function, task.payload)
                kwargs = cloudpickle.loads(task.args) if task.args else {}
                ctx = JobContext(
                    job_id=task.job_id,
                    attempt=task.attempt,
                    site=task.site,
                    inputs=tuple(paths),
                    input_lfns=tuple(r.lfn for r in task.inputs),
                    scratch=scratch,
                    kwargs=dict(kwargs),
                    output_names=tuple(o.name for o in task.outputs),
                )
                status = fn(ctx)
            except BaseException as exc:  # the job's own failure: it fails alone
                timings["run"] = time.monotonic() - started - timings["stage"]
                return make(
                    "app",
                    error=f"{type(exc).__name__}: {exc}",
                    traceback=traceback.format_exc(),
                    stdout=out.getvalue()[-MAX_LOG:],
                    stderr=err.getvalue()[-MAX_LOG:],
                    timings=timings,
                    remote_bytes=remote,
                )
        timings["run"] = time.monotonic() - started - timings["stage"]
        missing = [
            r.name for r in task.outputs if not (scratch / "out" / r.name).is_file()
        ]
        if status is not None and not isinstance(status, str) and missing:
            # an analysis that returns its table: the job writes the ntuple
            try:
                rows = _write_table(ctx.output(missing[0]), status, len(missing))
            except (TypeError, ValueError) as exc:
                return make(
                    "app",
                    error=(
                        f"the analysis returned a {type(status).__name__}, not a "
                        f"table ({exc}); return a mapping of column name to 1-d "
                        "numeric array, an awkward record array or a pandas "
                        f"DataFrame, or write ctx.output({missing[0]!r}) yourself"
                    ),
                    stdout=out.getvalue()[-MAX_LOG:],
                    stderr=err.getvalue()[-MAX_LOG:],
                    timings=timings,
                )
            ctx.facts.setdefault(missing[0], {"events": rows})
            status = f"{rows} rows"
        stored = []
        for ref in task.outputs:
            local = scratch / "out" / ref.name
            if not local.is_file():
                return make(
                    "app",
                    error=f"declared output {ref.name!r} was not written",
                    stdout=out.getvalue()[-MAX_LOG:],
                    stderr=err.getvalue()[-MAX_LOG:],
                    timings=timings,
                )
            put = task.out_se.put(ref.lfn, local)
            facts = ctx.facts.get(ref.name, {})
            stored.append(
                StoredOutput(ref.name, ref.lfn, put.size, put.adler32, **facts)
            )
        timings["total"] = time.monotonic() - started
        return make(
            "done",
            outputs=tuple(stored),
            application_status=str(status) if status else "Done",
            stdout=out.getvalue()[-MAX_LOG:],
            stderr=err.getvalue()[-MAX_LOG:],
            timings=timings,
            remote_bytes=remote,
        )
    except Exception as exc:  # storing outputs failed: infrastructure
        return make(
            "lost", error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(), timings=timings,
        )  # fmt: skip
    finally:
        stop.set()
        shutil.rmtree(scratch, ignore_errors=True)


def _write_table(path: Path, table: Any, n_missing: int) -> int:
    """Write a returned table as the job's one missing ntuple; returns its rows.

    Raises TypeError (not a table) or ValueError (columns that do not fit).
    """
    from b2grid import formats
    from b2grid.errors import SchemaError

    if n_missing != 1 or path.suffix != ".root":
        raise TypeError(
            "a returned table fills exactly one missing .root output, "
            f"{n_missing} outputs are missing"
        )
    if isinstance(table, Mapping):
        columns = {str(k): np.asarray(v) for k, v in table.items()}
    elif hasattr(table, "columns") and hasattr(table, "to_numpy"):  # a DataFrame
        columns = {str(c): np.asarray(table[c].to_numpy()) for c in table.columns}
    else:
        import awkward as ak

        if not isinstance(table, ak.Array) or not ak.fields(table):
            raise TypeError("no named columns")
        columns = {f: ak.to_numpy(table[f]) for f in ak.fields(table)}
    meta = formats.FileMetadata(level="ntuple", experiment=0, run=0, is_mc=False)
    try:
        formats.write_ntuple(path, columns, meta)
    except SchemaError as exc:
        raise ValueError(str(exc)) from None
    return len(next(iter(columns.values()))) if columns else 0


def _heartbeats(task: JobTask, stop: threading.Event) -> None:
    while not stop.wait(task.heartbeat_interval):
        _report("heartbeat", task)
