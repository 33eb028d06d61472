"""What runs on a site's worker: stage inputs, call the user's function, store outputs.

A :class:`JobTask` carries everything a worker needs (no catalog access: workers never
write the catalog). :func:`run_job` reads the inputs from the site's SE (or a remote SE
under ``read_remote``), verifying checksums, has the job's function called with a
:class:`JobContext` in a payload process of its own (:mod:`b2grid.jobs.sandbox`: the
worker never runs user code), writes each declared output to the site's SE at its
final LFN (an atomic write: temporary name, checksum, rename) and returns a small
:class:`TaskResult`. It never raises: every failure is reported in the result, with
``kind`` telling the job's own failures (``app``, ``limit``, ``crashed``) from the
infrastructure's (``lost``).
"""

from __future__ import annotations

import importlib
import os
import pickle
import shutil
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np

from b2grid.errors import ChecksumMismatch, PayloadFailed
from b2grid.jobs.sandbox import Limits, Request, Sandbox, SandboxMode
from b2grid.storage.element import StorageElement

#: the Dask event topic workers report job starts and heartbeats on
TOPIC = "b2grid-jobs"
#: longest captured stdout/stderr kept per attempt (characters)
MAX_LOG = 1_000_000


#: a job's limits when its task does not say (``runtime.job_*`` in cluster.yaml)
DEFAULT_LIMITS = Limits(memory=2 * 2**30, wall_seconds=3600.0)


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
    #: what the payload may use before it is ended
    limits: Limits = DEFAULT_LIMITS
    #: folders the payload must not see (grid home, storage elements)
    hidden: tuple[str, ...] = ()
    #: folders inside those it reads, read-only (the conditions database)
    readable: tuple[str, ...] = ()
    #: how the payload is confined (``runtime.sandbox``)
    sandbox: SandboxMode = "auto"


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
    #: "done"; "app" (the job's own error: it fails alone); "limit" (killed for
    #: its memory or wall time: fails alone); "crashed" (the payload process died:
    #: rescheduled, counted against the cap); "lost" (infrastructure: rescheduled,
    #: not counted)
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


@dataclass(frozen=True, slots=True)
class PayloadCall:
    """What the sandboxed payload process needs to call the user's function."""

    job_id: int
    attempt: int
    site: str
    function: str | None
    payload: bytes | None
    args: bytes
    #: input paths as the payload sees them (inside its scratch folder if confined)
    inputs: tuple[str, ...]
    input_lfns: tuple[str, ...]
    scratch: str
    output_names: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PayloadResult:
    """What the payload returns to its worker: small facts, never event data."""

    application_status: str | None
    facts: dict[str, dict[str, int]]


class BadReturn(TypeError):
    """The analysis returned something that is not a table (the job fails)."""


def run_payload(call: PayloadCall) -> PayloadResult:
    """In the payload process: call the job's function with its :class:`JobContext`.

    An analysis that returns a table instead of writing its one ``.root`` output
    has the table written here. Exceptions are the job's own (the sandbox reports
    them as an application error).
    """
    fn = load_function(call.function, call.payload)
    kwargs = cloudpickle.loads(call.args) if call.args else {}
    scratch = Path(call.scratch)
    ctx = JobContext(
        job_id=call.job_id,
        attempt=call.attempt,
        site=call.site,
        inputs=call.inputs,
        input_lfns=call.input_lfns,
        scratch=scratch,
        kwargs=dict(kwargs),
        output_names=call.output_names,
    )
    status = fn(ctx)
    missing = [n for n in call.output_names if not (scratch / "out" / n).is_file()]
    if status is not None and not isinstance(status, str) and missing:
        try:
            rows = _write_table(ctx.output(missing[0]), status, len(missing))
        except (TypeError, ValueError) as exc:
            raise BadReturn(
                f"the analysis returned a {type(status).__name__}, not a table "
                f"({exc}); return a mapping of column name to 1-d numeric array, an "
                "awkward record array or a pandas DataFrame, or write "
                f"ctx.output({missing[0]!r}) yourself"
            ) from None
        ctx.facts.setdefault(missing[0], {"events": rows})
        status = f"{rows} rows"
    return PayloadResult(None if status is None else str(status), dict(ctx.facts))


def _payload_inputs(
    task: JobTask, paths: list[str], scratch: Path, confined: bool
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """The inputs as the payload sees them, and the files to bind for it.

    Confined, an input on a storage element (hidden from the payload) is bound
    read-only into ``scratch/in``; inputs already copied there stay as they are.
    """
    if not confined:
        return tuple(paths), ()
    inside, binds, taken = [], [], set()
    staged = str(scratch / "in") + os.sep
    for i, path in enumerate(paths):
        if path.startswith(staged):
            inside.append(path)
            taken.add(Path(path).name)
            continue
        name = Path(path).name
        target = scratch / "in" / (name if name not in taken else f"{i}_{name}")
        taken.add(target.name)
        binds.append((path, str(target)))
        inside.append(str(target))
    return tuple(inside), tuple(binds)


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
        try:
            box = Sandbox.shared(task.sandbox)
        except Exception as exc:  # the node cannot run payloads: not the user's
            return make("lost", error=f"no payload sandbox: {exc}", timings=timings)
        inside, binds = _payload_inputs(task, paths, scratch, box.confined)
        call = PayloadCall(
            job_id=task.job_id,
            attempt=task.attempt,
            site=task.site,
            function=task.function,
            payload=task.payload,
            args=task.args,
            inputs=inside,
            input_lfns=tuple(r.lfn for r in task.inputs),
            scratch=str(scratch),
            output_names=tuple(o.name for o in task.outputs),
        )
        outcome = box.run(
            Request(
                target="b2grid.jobs.execution:run_payload",
                argument=pickle.dumps(call),
                scratch=str(scratch),
                limits=task.limits,
                binds=binds,
                hidden=_visible_scratch(task.hidden, scratch),
                readable=task.readable,
                env=(("B2GRID_SITE", task.site), ("B2GRID_WORKER", worker)),
            ),
            stop=_cancelled_check(),
        )
        timings["run"] = time.monotonic() - started - timings["stage"]
        timings["cpu"] = outcome.cpu_seconds
        timings["max_rss"] = float(outcome.max_rss)
        logs = {
            "stdout": outcome.stdout,
            "stderr": outcome.stderr,
            "timings": timings,
            "remote_bytes": remote,
        }
        if outcome.kind != "ok":
            kind = {"raised": "app", "memory": "limit", "walltime": "limit"}.get(
                outcome.kind, outcome.kind
            )
            return make(kind, error=outcome.error, traceback=outcome.traceback, **logs)
        result: PayloadResult = outcome.value
        stored = []
        for ref in task.outputs:
            local = scratch / "out" / ref.name
            if not local.is_file():
                return make(
                    "app", error=f"declared output {ref.name!r} was not written", **logs
                )
            put = task.out_se.put(ref.lfn, local)
            facts = result.facts.get(ref.name, {})
            stored.append(
                StoredOutput(ref.name, ref.lfn, put.size, put.adler32, **facts)
            )
        timings["total"] = time.monotonic() - started
        return make(
            "done",
            outputs=tuple(stored),
            application_status=result.application_status or "Done",
            **logs,
        )
    except Exception as exc:  # storing outputs failed: infrastructure
        return make(
            "lost", error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(), timings=timings,
        )  # fmt: skip
    finally:
        stop.set()
        shutil.rmtree(scratch, ignore_errors=True)


def run_call(
    payload: bytes,
    limits: Limits,
    hidden: tuple[str, ...] = (),
    sandbox: SandboxMode = "auto",
    readable: tuple[str, ...] = (),
) -> Any:
    """What ``Grid.run_at`` places on a worker: a cloudpickled ``(fn, args,
    kwargs)`` called in a payload process; returns what it returned.

    Raises :class:`~b2grid.errors.PayloadFailed` when the call raised, crashed or
    hit a limit (the worker itself carries on).
    """
    site, worker = _site_and_worker()
    scratch = Path(tempfile.mkdtemp(prefix="b2grid-call-"))
    try:
        outcome = Sandbox.shared(sandbox).run(
            Request(
                target="b2grid.jobs.sandbox:call_pickled",
                argument=pickle.dumps(payload),
                scratch=str(scratch),
                limits=limits,
                hidden=_visible_scratch(hidden, scratch),
                readable=readable,
                env=(("B2GRID_SITE", site), ("B2GRID_WORKER", worker)),
            )
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if outcome.kind == "ok":
        return outcome.value
    raise PayloadFailed(site, outcome.kind, outcome.error, outcome.traceback)


def _cancelled_check() -> Callable[[], bool] | None:
    """On a Dask worker: a check that this thread's task is no longer wanted
    (cancelled by the controller: a killed or rescheduled attempt)."""
    try:
        from distributed import get_worker
        from distributed.worker import thread_state  # type: ignore[attr-defined]

        worker = get_worker()
        key = thread_state.key
    except (ImportError, ValueError, AttributeError):
        return None

    def cancelled() -> bool:
        ts = worker.state.tasks.get(key)
        return ts is None or ts.state in ("cancelled", "released", "forgotten")

    return cancelled


def _site_and_worker() -> tuple[str, str]:
    """This worker's site and name ('' outside a site's worker)."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return "", f"inline:{os.getpid()}"
    from b2grid.sites.topology import site_of_resources

    site = site_of_resources(worker.state.total_resources) or ""
    return site, str(worker.name)


def _visible_scratch(hidden: tuple[str, ...], scratch: Path) -> tuple[str, ...]:
    """``hidden`` without any folder that holds the scratch folder itself."""
    here = os.path.realpath(scratch)
    return tuple(
        h for h in hidden if not (here + os.sep).startswith(h.rstrip(os.sep) + os.sep)
    )


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
