"""The payload sandbox: user code runs in a process of its own, never in a worker.

A site's worker is trusted b2grid code (a pilot, in DIRAC's words); the user's
function is the payload. :class:`Sandbox` keeps one *payload server* per worker
process: a plain Python process (running :func:`serve`) that imported
the analysis stack once and forks a **monitor** per request, which forks the
payload and watches it (DIRAC's JobWrapper and Watchdog). So a payload that exits,
crashes, leaks memory past its limit or hangs ends only itself: the monitor reports
what ended it, and the worker, the controller and every other job carry on. A
payload server that dies is started again at the next request.

Where the kernel allows it (root, or unprivileged user namespaces), the payload also
runs in namespaces of its own: no network (it cannot reach the Dask scheduler or the
catalog's database) and a file system on which the grid home and the storage
elements are hidden behind empty read-only mounts, its inputs bound read-only into
its scratch folder. The payload then holds no catalog credentials and cannot reach
the catalog file: only the controller writes the catalog.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import io
import logging
import os
import pickle
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

log = logging.getLogger(__name__)

#: how a payload is confined: ``namespaces`` (own mount and network namespaces:
#: grid home and SEs hidden, no network), ``process`` (own process only), or
#: ``auto`` (namespaces where the kernel allows them, else process)
SandboxMode = Literal["auto", "namespaces", "process"]

#: what ended a payload (:attr:`Outcome.kind`)
OutcomeKind = Literal["ok", "raised", "crashed", "memory", "walltime", "lost"]

#: file names the payload writes in its scratch folder
RESULT_FILE = ".b2grid-result.pkl"
STDOUT_FILE = ".b2grid-stdout.txt"
STDERR_FILE = ".b2grid-stderr.txt"
#: longest captured stdout/stderr kept per payload (characters, the tail)
MAX_LOG = 1_000_000
#: seconds between two looks of the monitor at its payload's memory and age
POLL = 0.2
#: modules the payload server imports before it forks anything
PRELOAD = (
    "numpy",
    "awkward",
    "uproot",
    "cloudpickle",
    "b2grid.formats",
    "b2grid.jobs.execution",
    "b2grid.analysis",
    "b2grid.skims",
    "b2grid.production.tasks",
)
#: environment variables a payload never sees (where the grid and its catalog are)
_HIDDEN_ENV = ("B2GRID_HOME", "B2GRID_CONFIG", "B2GRID_CATALOG", "B2GRID_USER")
#: one core per job slot, as on a grid worker node
_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}


@dataclass(frozen=True, slots=True)
class Limits:
    """What a payload may use before its monitor ends it."""

    #: resident memory in bytes (the payload and its children)
    memory: int
    #: seconds of wall-clock time
    wall_seconds: float


@dataclass(frozen=True, slots=True)
class Request:
    """One payload to run: ``target(pickle.loads(argument))`` in ``scratch``.

    ``target`` is a ``module:qualname`` of b2grid (importable in the payload server);
    ``argument`` its pickled argument. ``binds`` are ``(source, target)`` files to
    show read-only inside the sandbox (targets inside ``scratch``); ``hidden`` are
    folders (or files) the payload must not see.
    """

    target: str
    argument: bytes
    scratch: str
    limits: Limits
    binds: tuple[tuple[str, str], ...] = ()
    hidden: tuple[str, ...] = ()
    #: folders inside hidden ones that stay readable, read-only, at their own path
    #: (the conditions database, as CVMFS serves it to grid jobs)
    readable: tuple[str, ...] = ()
    #: environment variables set for the payload (``B2GRID_SITE``, ...)
    env: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a payload ended, and what it left."""

    kind: OutcomeKind
    #: what ``target`` returned (kind ``ok``)
    value: Any = None
    #: ``"Type: message"`` (raised) or what ended the payload (the other kinds)
    error: str = ""
    traceback: str = ""
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    #: the signal that ended the payload process, if one did
    signal: int | None = None
    #: peak resident memory of the payload process, bytes
    max_rss: int = 0
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    #: how the payload was confined (``namespaces`` or ``process``)
    confinement: str = ""


@dataclass(frozen=True, slots=True)
class _Report:
    """What a monitor sends back: the payload process's end, not its result."""

    pid: int
    exit_code: int | None
    signal: int | None
    #: "memory" or "walltime" when the monitor ended the payload, else ""
    killed_for: str
    max_rss: int
    cpu_seconds: float
    wall_seconds: float
    detail: str = ""


# --------------------------------------------------------------------------- framing


def _send(sock: socket.socket, obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(struct.pack("!Q", len(data)) + data)


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = sock.recv(min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _recv(sock: socket.socket) -> Any:
    """The next framed object, or None when the peer closed the connection."""
    header = _recv_exact(sock, 8)
    if header is None:
        return None
    body = _recv_exact(sock, struct.unpack("!Q", header)[0])
    return None if body is None else pickle.loads(body)  # noqa: S301 (our own peer)


# --------------------------------------------------------------------------- Linux

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY = 1
_MS_NOSUID = 2
_MS_NODEV = 4
_MS_REMOUNT = 32
_MS_BIND = 4096
_MS_REC = 16384
_MS_PRIVATE = 1 << 18
_PR_SET_PDEATHSIG = 1

_libc: Any = None


def _c() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _die_with_parent() -> None:
    """Have the kernel kill this process when its parent ends (Linux only)."""
    with contextlib.suppress(Exception):
        _c().prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str) -> None:
    rc = _c().mount(
        source.encode(),
        target.encode(),
        None if fstype is None else fstype.encode(),
        ctypes.c_ulong(flags),
        data.encode() if data else None,
    )
    _check(rc, f"mount {target}")


def _unshare_user(flags: int) -> None:
    """Enter a new user namespace (with ``flags``), mapped to who we are now."""
    uid, gid = os.geteuid(), os.getegid()
    _check(_c().unshare(_CLONE_NEWUSER | flags), "unshare")
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
    Path("/proc/self/gid_map").write_text(f"0 {gid} 1")


def _enter_namespaces() -> None:
    """Own mount and network namespaces (in a user namespace when not root)."""
    if os.geteuid() == 0:
        _check(_c().unshare(_CLONE_NEWNS | _CLONE_NEWNET), "unshare")
    else:  # be root inside, mapped to ourselves outside, to mount
        _unshare_user(_CLONE_NEWNS | _CLONE_NEWNET)
    # mounts made here must not propagate back to the host
    _mount("none", "/", None, _MS_REC | _MS_PRIVATE, "")


def _lock() -> None:
    """Make the mounts made so far permanent for this process.

    A mount namespace copied into a less privileged user namespace has its mounts
    locked: they can no longer be unmounted to uncover what they hide. The new user
    namespace also takes away any capability over processes outside it (their
    ``/proc/PID/root`` is closed to the payload).
    """
    _unshare_user(_CLONE_NEWNS)


def _bind_readonly(source: str, target: str) -> None:
    _mount(source, target, None, _MS_BIND, "")
    _mount("none", target, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY, "")


def _confine(request: Request) -> None:
    """Bind the inputs read-only, hide the grid's folders (but for the readable
    ones inside them), lock it all."""
    _enter_namespaces()
    for source, target in request.binds:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).touch()
        _bind_readonly(source, target)
    # hold on to the readable folders before they are covered
    keep = {
        r: os.open(r, os.O_PATH | os.O_DIRECTORY)
        for r in request.readable
        if os.path.isdir(r)
    }
    hidden_flags = _MS_NOSUID | _MS_NODEV
    for path in request.hidden:
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", hidden_flags, "size=64k,mode=0755")
            for readable, fd in keep.items():
                if readable.startswith(path.rstrip("/") + "/"):
                    Path(readable).mkdir(parents=True, exist_ok=True)
                    _bind_readonly(f"/proc/self/fd/{fd}", readable)
            _mount("none", path, None, _MS_REMOUNT | _MS_RDONLY | hidden_flags, "")
        elif os.path.exists(path):
            _mount("/dev/null", path, None, _MS_BIND, "")
    for fd in keep.values():
        os.close(fd)
    _lock()


def _probe_namespaces() -> str:
    """'' if a child can confine itself as a payload does, else why not."""
    scratch = tempfile.mkdtemp(prefix="b2grid-probe-")
    hidden = tempfile.mkdtemp(prefix="b2grid-probe-")
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover (runs in the child)
            code = 0
            try:
                _confine(Request("", b"", scratch, Limits(0, 0), hidden=(hidden,)))
                with contextlib.suppress(OSError):
                    # a locked mount cannot be taken away
                    _check(_c().umount2(hidden.encode(), 0), "umount")
                    code = 9
            except OSError as exc:
                code = 10 + (exc.errno or 0) % 200
            except Exception:
                code = 8
            os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        os.rmdir(scratch)
        os.rmdir(hidden)
    code = os.waitstatus_to_exitcode(status)
    if code == 0:
        return ""
    if code >= 10:
        return f"namespaces refused: {os.strerror(code - 10)}"
    if code == 9:
        return "mounts could not be locked"
    return f"probe ended with status {code}"


# --------------------------------------------------------------------------- payload


def _resolve(target: str) -> Callable[[Any], Any]:
    module, _, qualname = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj  # type: ignore[no-any-return]


def call_pickled(argument: bytes) -> Any:
    """Target that runs a cloudpickled ``(fn, args, kwargs)`` (``grid.run_at``)."""
    import cloudpickle

    fn, args, kwargs = cloudpickle.loads(argument)
    return fn(*args, **kwargs)


def _payload(request: Request, confined: bool) -> None:  # pragma: no cover (child)
    """The payload process: confine, redirect, run, leave the result; never returns."""
    scratch = Path(request.scratch)
    result: tuple[Any, ...]
    try:
        os.setsid()  # its own process group: the monitor ends it and its children
        _die_with_parent()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if confined:
            _confine(request)
        os.chdir(scratch)
        for name in _HIDDEN_ENV:
            os.environ.pop(name, None)
        os.environ["TMPDIR"] = str(scratch)
        os.environ.update(dict(request.env))
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for fd, name in ((1, STDOUT_FILE), (2, STDERR_FILE)):
            out = os.open(scratch / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(out, fd)
            os.close(out)
        sys.stdout = io.TextIOWrapper(
            os.fdopen(1, "wb", closefd=False), line_buffering=True
        )
        sys.stderr = io.TextIOWrapper(
            os.fdopen(2, "wb", closefd=False), line_buffering=True
        )
        fn = _resolve(request.target)
        argument = pickle.loads(request.argument)  # noqa: S301 (the worker's own)
    except BaseException as exc:
        result = ("setup", f"{type(exc).__name__}: {exc}", traceback.format_exc())
    else:
        try:
            result = ("ok", fn(argument))
        except BaseException as exc:  # the payload's own failure
            result = ("raised", f"{type(exc).__name__}: {exc}", traceback.format_exc())
    try:
        import cloudpickle  # what a user's function returns may be defined by value

        data = cloudpickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:
        data = pickle.dumps(("raised", f"the result cannot be pickled: {exc}", ""))
    tmp = scratch / (RESULT_FILE + ".tmp")
    tmp.write_bytes(data)
    tmp.rename(scratch / RESULT_FILE)
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(0)


# --------------------------------------------------------------------------- monitor


def _rss(pid: int, page: int) -> int:
    """Resident bytes of ``pid`` and its descendants (0 once it is gone)."""
    total, todo, seen = 0, [pid], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * page
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo.extend(int(c) for c in f.read().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


def _monitor(conn: socket.socket, request: Request, confined: bool) -> None:
    """Fork the payload, watch it, report how it ended; never returns (child)."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _die_with_parent()
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the payload)
        conn.close()
        _payload(request, confined)
    page = os.sysconf("SC_PAGE_SIZE")
    peak, killed_for, detail = 0, "", ""
    sel = selectors.DefaultSelector()
    pidfd = os.pidfd_open(pid)
    sel.register(pidfd, selectors.EVENT_READ, "exit")
    sel.register(conn, selectors.EVENT_READ, "peer")
    deadline = started + request.limits.wall_seconds
    while True:
        ready = {key.data for key, _ in sel.select(timeout=POLL)}
        if "exit" in ready:
            break
        if "peer" in ready and not conn.recv(1):  # the worker gave up on it
            killed_for, detail = "cancelled", "the worker cancelled the payload"
            _kill_group(pid)
            sel.unregister(conn)
            continue
        if killed_for:
            continue
        rss = _rss(pid, page)
        peak = max(peak, rss)
        if rss > request.limits.memory:
            killed_for, detail = "memory", f"{rss} bytes resident"
            _kill_group(pid)
        elif time.monotonic() > deadline:
            killed_for = "walltime"
            _kill_group(pid)
    _, status, usage = os.wait4(pid, 0)
    os.close(pidfd)
    _kill_group(pid)  # whatever the payload left running
    code = os.waitstatus_to_exitcode(status)
    report = _Report(
        pid=pid,
        exit_code=code if code >= 0 else None,
        signal=-code if code < 0 else None,
        killed_for=killed_for,
        max_rss=max(peak, usage.ru_maxrss * 1024),
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        wall_seconds=time.monotonic() - started,
        detail=detail,
    )
    with contextlib.suppress(OSError):
        _send(conn, report)
    os._exit(0)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


# --------------------------------------------------------------------------- server


def serve(path: str, mode: SandboxMode) -> None:  # pragma: no cover (a subprocess)
    """The payload server's main loop: fork a monitor per connection on ``path``.

    Prints ``ready <confinement>`` on stdout once it listens; ends when its stdin
    (a pipe from the worker that started it) closes.
    """
    for name in PRELOAD:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    why = _probe_namespaces() if mode != "process" else "disabled by configuration"
    confined = not why
    if mode == "namespaces" and not confined:
        print(f"error cannot enter namespaces: {why}", flush=True)
        return
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    sel.register(sys.stdin, selectors.EVENT_READ, "parent")
    confinement = "namespaces" if confined else f"process ({why})"
    print(f"ready {confinement}", flush=True)
    while True:
        for key, _ in sel.select(timeout=1.0):
            if key.data == "parent":
                if not os.read(sys.stdin.fileno(), 1024):
                    return
                continue
            conn, _ = listener.accept()
            try:
                request = _recv(conn)
            except Exception:
                request = None
            if isinstance(request, Request) and os.fork() == 0:
                listener.close()
                _monitor(conn, request, confined)
            conn.close()
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass


# --------------------------------------------------------------------------- client


#: the payload server's program (``-c``: the module imported once, by its name)
_SERVE = "import sys; from b2grid.jobs.sandbox import serve; serve(*sys.argv[1:3])"


class Sandbox:
    """The payload server of this process, and how to run a payload in it."""

    _shared: ClassVar[dict[str, Sandbox]] = {}
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, mode: SandboxMode = "auto", *, start_timeout: float = 120.0):
        self.mode: SandboxMode = mode
        self._dir = tempfile.mkdtemp(prefix="b2grid-sandbox-")
        self.path = os.path.join(self._dir, "server.sock")
        env = {k: v for k, v in os.environ.items() if k not in _HIDDEN_ENV}
        env.update(_THREAD_ENV)
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _SERVE, self.path, mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,  # a Ctrl-C of the controller is its to handle
        )
        line = self._read_line(start_timeout)
        if not line.startswith("ready "):
            self.close()
            from b2grid.errors import GridError

            raise GridError(
                f"the payload sandbox did not start ({line or 'no answer'}); set "
                "runtime.sandbox to 'process' in cluster.yaml to run payloads "
                "without namespaces"
            )
        #: ``namespaces``, or ``process (why namespaces are not used)``
        self.confinement = line.removeprefix("ready ").strip()

    def _read_line(self, timeout: float) -> str:
        assert self._proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self._proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            return ""
        return self._proc.stdout.readline().decode(errors="replace").strip()

    @classmethod
    def shared(cls, mode: SandboxMode = "auto") -> Sandbox:
        """This process's payload server for ``mode``; started (again) if needed."""
        with cls._shared_lock:
            box = cls._shared.get(mode)
            if box is None or not box.alive:
                if box is not None:
                    log.warning("payload server %s ended; starting another", box.pid)
                    box.close()
                box = cls._shared[mode] = cls(mode)
                if box.confinement != "namespaces":
                    log.warning("payloads run confined to a process only: %s",
                                box.confinement)  # fmt: skip
            return box

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    @property
    def confined(self) -> bool:
        return self.confinement == "namespaces"

    def close(self) -> None:
        """Stop the server (payloads under way are killed with it)."""
        with contextlib.suppress(Exception):
            assert self._proc.stdin is not None
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        with contextlib.suppress(Exception):
            assert self._proc.stdout is not None
            self._proc.stdout.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.rmdir(self._dir)

    def run(self, request: Request, stop: Callable[[], bool] | None = None) -> Outcome:
        """Run ``request`` and say how it ended; never raises for the payload's sake.

        Blocks until the payload ends (its monitor enforces the limits), or until
        ``stop()`` (asked every second) is true: then the payload is killed and the
        outcome is ``lost``. A server that is gone gives an outcome ``lost`` too.
        """
        started = time.monotonic()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
            _send(sock, request)
            if stop is not None:
                sel = selectors.DefaultSelector()
                sel.register(sock, selectors.EVENT_READ)
                while not sel.select(timeout=1.0):
                    if stop():
                        # closing the connection has the monitor kill the payload
                        return Outcome(
                            "lost", error="the attempt was cancelled; payload killed",
                            wall_seconds=time.monotonic() - started,
                            confinement=self.confinement,
                        )  # fmt: skip
                sel.close()
            report = _recv(sock)
        except OSError as exc:
            report = None
            why = f"the payload server is unreachable ({exc})"
        else:
            why = "the payload server ended before the payload did"
        finally:
            sock.close()
        if not isinstance(report, _Report):
            return Outcome(
                "lost", error=why, wall_seconds=time.monotonic() - started,
                confinement=self.confinement,
            )  # fmt: skip
        return _outcome(request, report, self.confinement)


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 4 * MAX_LOG))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return text[-MAX_LOG:]


def signal_name(number: int) -> str:
    """``SIGSEGV`` for 11, and so on (``signal 99`` for unknown numbers)."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _outcome(request: Request, report: _Report, confinement: str) -> Outcome:
    """Read what the payload left in its scratch folder and name how it ended."""
    scratch = Path(request.scratch)
    facts: dict[str, Any] = {
        "stdout": _tail(scratch / STDOUT_FILE),
        "stderr": _tail(scratch / STDERR_FILE),
        "exit_code": report.exit_code,
        "signal": report.signal,
        "max_rss": report.max_rss,
        "cpu_seconds": report.cpu_seconds,
        "wall_seconds": report.wall_seconds,
        "confinement": confinement,
    }
    from b2grid.config import format_size

    if report.killed_for == "memory":
        return Outcome(
            "memory",
            error=(
                f"Job exceeded its memory limit: {format_size(report.max_rss)} "
                f"resident, limit {format_size(request.limits.memory)}"
            ),
            **facts,
        )
    if report.killed_for == "walltime":
        return Outcome(
            "walltime",
            error=(
                "Job has exceeded maximum wall clock time "
                f"({request.limits.wall_seconds:.0f} s)"
            ),
            **facts,
        )
    if report.killed_for == "cancelled":
        return Outcome("lost", error=report.detail, **facts)
    result: Any = None
    with contextlib.suppress(OSError, pickle.UnpicklingError, EOFError):
        result = pickle.loads((scratch / RESULT_FILE).read_bytes())  # noqa: S301
    if report.signal is not None:
        name = signal_name(report.signal)
        what = "Segmentation fault" if report.signal == signal.SIGSEGV else name
        return Outcome(
            "crashed",
            error=f"Payload crashed: {what} (signal {report.signal}, {name})",
            **facts,
        )
    if not isinstance(result, tuple) or not result:
        return Outcome(
            "crashed",
            error=(
                f"Payload exited with status {report.exit_code} before it "
                "finished (the job ended its own process)"
            ),
            **facts,
        )
    if result[0] == "ok":
        return Outcome("ok", value=result[1], **facts)
    if result[0] == "setup":
        return Outcome(
            "lost", error=f"payload setup failed: {result[1]}", traceback=result[2],
            **facts,
        )  # fmt: skip
    return Outcome("raised", error=result[1], traceback=result[2], **facts)


def hidden_paths(paths: Sequence[str | os.PathLike[str]]) -> tuple[str, ...]:
    """Absolute, existing, de-duplicated folders to hide, outermost first."""
    out: list[str] = []
    for p in sorted({os.path.realpath(os.fspath(p)) for p in paths}, key=len):
        if not any(p == q or p.startswith(q.rstrip("/") + "/") for q in out):
            out.append(p)
    return tuple(out)
