"""What every command shares: which config and home, and how to reach the grid."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console

from b2grid.config import GridConfig
from b2grid.errors import GridNotRunning
from b2grid.grid import Grid, resolve_config
from b2grid.storage.identity import User


@dataclass
class CliContext:
    """The global options, resolved lazily (so `--help` never reads a file)."""

    config_path: str | None
    home: str | None
    user_name: str | None = None
    roles: tuple[str, ...] = ("user",)
    groups: tuple[str, ...] = ()

    def user(self) -> User:
        """Who the commands act as (``--user``/``--role``/``--group``)."""
        return User.current(roles=self.roles, groups=self.groups, name=self.user_name)

    def config(self) -> GridConfig:
        """The validated configuration, with ``--home`` applied."""
        return resolve_config(self.config_path, self.home)

    def attach(self) -> Grid:
        """The grid that is up; :class:`GridNotRunning` says how to start one."""
        return Grid.connect(self.config(), user=self.user())

    @contextmanager
    def grid(self) -> Iterator[Grid]:
        """The running grid (attached) or an offline one, closed afterwards."""
        grid, _ = self.attach_or_offline()
        try:
            yield grid
        finally:
            grid.close()

    def attach_or_offline(self) -> tuple[Grid, bool]:
        """The running grid, or an unstarted one (statuses only) and False."""
        try:
            return self.attach(), True
        except GridNotRunning:
            return Grid(self.config(), user=self.user()), False


def console() -> Console:
    """A console for tables; wide enough not to wrap them in pipes and tests."""
    return Console(width=120, soft_wrap=False)
