"""The run file: how processes find the grid that is up.

The controller (the process holding a started :class:`~b2grid.grid.Grid`, e.g.
``b2grid up``) writes ``<home>/run/grid.json`` with its scheduler address, dashboard,
host and pid; ``b2grid`` commands in other terminals read it to attach. One home has
at most one controller: a second one is refused while the first is alive.
"""

from __future__ import annotations

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


__all__ = ["RunInfo", "read_run_info", "remove_run_info", "run_file", "write_run_info"]
