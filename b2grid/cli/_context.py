"""What every command shares: which config and home, and how to reach the grid."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import click
from rich.console import Console

from b2grid.config import GridConfig, default_config_path, shipped_config_path
from b2grid.errors import GridNotRunning
from b2grid.grid import Grid, resolve_config
from b2grid.storage.identity import User


@dataclass
class CliContext:
    """The global options, resolved lazily (so `--help` never reads a file).

    ``config_path`` and ``home`` are what ``--config``/``--home`` (or, failing them,
    ``$B2GRID_CONFIG``/``$B2GRID_HOME``) gave; ``config_from``/``home_from`` say
    which (None: neither). With ``verbose``, the first command that resolves the
    config says on stderr which grid home it acts on, and where that came from.
    """

    config_path: str | None
    home: str | None
    user_name: str | None = None
    roles: tuple[str, ...] = ("user",)
    groups: tuple[str, ...] = ()
    config_from: str | None = None
    home_from: str | None = None
    verbose: bool = False
    _announced: bool = field(default=False, init=False, repr=False)

    def user(self) -> User:
        """Who the commands act as (``--user``/``--role``/``--group``)."""
        return User.current(roles=self.roles, groups=self.groups, name=self.user_name)

    def config(self, *, announce: bool = True) -> GridConfig:
        """The validated configuration, with ``--home`` applied.

        ``announce=False`` for commands that do not act on this home (the demo
        runs in a home of its own).
        """
        cfg = resolve_config(self.config_path, self.home)
        if self.verbose and announce and not self._announced:
            self._announced = True
            click.echo(f"b2grid: {self.describe(cfg)}", err=True)
        return cfg

    def describe(self, cfg: GridConfig) -> str:
        """``grid home PATH (from --home); config FILE (from ...)``."""
        home_from = self.home_from or "`home` in the config"
        if self.config_from is not None:
            config_from = self.config_from
        elif default_config_path() == shipped_config_path():
            config_from = "the shipped default"
        else:
            config_from = f"{Path('cluster.yaml')} in the current folder"
        return (
            f"grid home {cfg.home} (from {home_from}); "
            f"config {cfg.source} (from {config_from})"
        )

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
