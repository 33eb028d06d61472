"""The one error tree of b2grid.

Every error b2grid raises on purpose derives from :class:`B2GridError`. Leaves also
subclass the matching built-in, so ``except LookupError`` keeps working for callers who
do not know b2grid. Each error carries structured fields and a message that says what
was wrong *and* what to do about it::

    B2GridError
    ├── ConfigError(ValueError)            cluster.yaml missing, unreadable or invalid
    ├── SiteError
    │   ├── UnknownSite(LookupError)       a site name no config declares
    │   ├── SiteBanned(PermissionError)    new placements refused at a banned site
    │   └── SiteDown(RuntimeError)         a down site, for a caller who will not wait
    └── GridError
        ├── GridNotRunning(RuntimeError)   no `b2grid up` to attach to
        ├── GridAlreadyRunning(RuntimeError)
        └── SchedulerUnreachable(ConnectionError)

The CLI turns any :class:`B2GridError` into one clear line on stderr and an exit status
(2 for configuration errors, 1 otherwise), never a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """Return ``" (did you mean 'X'?)"`` for the closest known name, or ``""``."""
    candidates = list(known)
    lowered = {k.lower(): k for k in candidates}
    if name.lower() in lowered:
        return f" (did you mean {lowered[name.lower()]!r}?)"
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class B2GridError(Exception):
    """Base of every error b2grid raises on purpose."""

    #: process exit status the CLI uses for this error
    exit_code: int = 1


class ConfigError(B2GridError, ValueError):
    """A grid configuration that cannot be used.

    ``file`` is the configuration file (or ``"<config>"`` for in-memory data),
    ``path`` the field path inside it (``sites[3].storage.capacity``, empty when the
    whole file is at fault) and ``problem`` what is wrong and what to do.
    """

    exit_code = 2

    def __init__(self, file: str, path: str, problem: str) -> None:
        self.file = file
        self.path = path
        self.problem = problem
        where = f"{file}: {path}" if path else file
        super().__init__(f"{where}: {problem}")


class SiteError(B2GridError):
    """Something about a computing site."""

    def __init__(self, message: str, site: str) -> None:
        self.site = site
        super().__init__(message)


class UnknownSite(SiteError, LookupError):
    """A site name that the grid's configuration does not declare."""

    def __init__(self, site: str, known: Iterable[str]) -> None:
        self.known = sorted(known)
        super().__init__(
            f"unknown site {site!r}{did_you_mean(site, self.known)}; "
            f"known sites: {', '.join(self.known)}",
            site,
        )

    def __str__(self) -> str:  # LookupError would quote the message otherwise
        return str(self.args[0])


class SiteBanned(SiteError, PermissionError):
    """A placement at a banned site; banned sites take no new work."""

    def __init__(self, site: str) -> None:
        super().__init__(
            f"site {site!r} is banned and takes no new placements; "
            f"choose another site or run `b2grid site unban {site}`",
            site,
        )


class SiteDown(SiteError, RuntimeError):
    """A placement at a down site by a caller who asked not to wait for it."""

    def __init__(self, site: str) -> None:
        super().__init__(
            f"site {site!r} is down; its work waits until `b2grid site up {site}`, "
            f"or place it at another site",
            site,
        )


class GridError(B2GridError):
    """The running grid (the controller process and its Dask scheduler)."""


class GridNotRunning(GridError, RuntimeError):
    """A command that needs a running grid found none."""

    def __init__(self, home: str, detail: str = "") -> None:
        self.home = home
        extra = f" ({detail})" if detail else ""
        super().__init__(
            f"no grid is running for home {home}{extra}; start one with `b2grid up` "
            f"in another terminal (same cluster.yaml), then retry"
        )


class GridAlreadyRunning(GridError, RuntimeError):
    """`b2grid up` when a grid with the same home is already up."""

    def __init__(self, home: str, scheduler: str, pid: int) -> None:
        self.home = home
        self.scheduler = scheduler
        self.pid = pid
        super().__init__(
            f"a grid is already up for home {home}: scheduler {scheduler}, "
            f"controller pid {pid}; use it, or stop it (Ctrl-C in its terminal, "
            f"or `b2grid stop`) before starting another"
        )


class SchedulerUnreachable(GridError, ConnectionError):
    """The Dask scheduler at an address did not answer."""

    def __init__(self, address: str, detail: str) -> None:
        self.address = address
        super().__init__(
            f"scheduler {address} is unreachable ({detail}); start it "
            f"(`dask scheduler`) or fix the address"
        )


__all__ = [
    "B2GridError",
    "ConfigError",
    "GridAlreadyRunning",
    "GridError",
    "GridNotRunning",
    "SchedulerUnreachable",
    "SiteBanned",
    "SiteDown",
    "SiteError",
    "UnknownSite",
    "did_you_mean",
]
