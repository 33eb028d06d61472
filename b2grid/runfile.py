"""The run file: how processes find the grid that is up.

The controller (the process holding a started :class:`~b2grid.grid.Grid`, e.g.
``b2grid up``) writes ``<home>/run/grid.json`` with its scheduler address, dashboard,
host and pid; ``b2grid`` commands in other terminals read it to attach. One home has
at most one controller: a second one is refused while the first is alive.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from b2grid.clock import utcnow


@dataclass(frozen=True, slots=True)
class RunInfo:
    """Where a running grid can be reached."""

    scheduler: str
    dashboard: str | None
    pid: int
    host: str
    started: str
    config: str

    def controller_alive(self) -> bool:
        """False only when the controller ran on this host and its pid is gone."""
        if self.host != socket.gethostname():
            return True  # cannot tell from here; attaching will tell
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class ControllerLock:
    """An exclusive lock on a home, held by its controller for its whole life.

    ``flock`` is released by the kernel when the process dies, so a crashed
    controller never blocks the next one, and two controllers starting at the same
    moment cannot both win.
    """

    def __init__(self, home: Path) -> None:
        self.path = home / "run" / "controller.lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock; False if another live process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def run_file(home: Path) -> Path:
    return home / "run" / "grid.json"


def read_run_info(home: Path) -> RunInfo | None:
    """The run info of the grid up for ``home``, or None (no file, or unreadable)."""
    try:
        data = json.loads(run_file(home).read_text(encoding="utf-8"))
        return RunInfo(**data)
    except (FileNotFoundError, ValueError, TypeError):
        return None


def write_run_info(
    home: Path, scheduler: str, dashboard: str | None, config: str
) -> RunInfo:
    """Record this process as the controller of ``home`` (atomically)."""
    info = RunInfo(
        scheduler=scheduler,
        dashboard=dashboard,
        pid=os.getpid(),
        host=socket.gethostname(),
        started=utcnow().isoformat(timespec="seconds"),
        config=config,
    )
    path = run_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(info), indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return info


def remove_run_info(home: Path) -> None:
    """Remove the run file if this process wrote it."""
    info = read_run_info(home)
    if (
        info is not None
        and info.pid == os.getpid()
        and info.host == socket.gethostname()
    ):
        run_file(home).unlink(missing_ok=True)


__all__ = [
    "ControllerLock",
    "RunInfo",
    "read_run_info",
    "remove_run_info",
    "run_file",
    "write_run_info",
]
