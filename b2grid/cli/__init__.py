"""The `b2grid` command line: one group per noun, each a thin layer over the API.

Every :class:`~b2grid.errors.B2GridError` becomes one line on stderr and the error's
exit status (2 for configuration errors, 1 otherwise), never a traceback. An option
given beats its environment variable (``--home`` over ``$B2GRID_HOME``, ``--config``
over ``$B2GRID_CONFIG``); ``b2grid -v ...`` says on stderr which grid home a command
acts on and where that came from.
"""

from __future__ import annotations

from typing import Any

import click
from click.core import ParameterSource

from b2grid import __version__
from b2grid.cli._context import CliContext
from b2grid.errors import B2GridError


class _Group(click.Group):
    """A click group that turns b2grid errors into one clear line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except B2GridError as exc:
            click.secho(f"b2grid: error: {exc}", err=True, fg="red")
            ctx.exit(exc.exit_code)


#: how each source of a global option is named in `-v` lines
_SOURCES = {
    "config_path": {
        ParameterSource.COMMANDLINE: "--config",
        ParameterSource.ENVIRONMENT: "$B2GRID_CONFIG",
    },
    "home": {
        ParameterSource.COMMANDLINE: "--home",
        ParameterSource.ENVIRONMENT: "$B2GRID_HOME",
    },
}


def _source(ctx: click.Context, name: str) -> str | None:
    source = ctx.get_parameter_source(name)
    return None if source is None else _SOURCES[name].get(source)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "config_path",
    envvar="B2GRID_CONFIG",
    type=click.Path(dir_okay=False),
    default=None,
    help="cluster.yaml (default: $B2GRID_CONFIG, ./cluster.yaml, the shipped one).",
)
@click.option(
    "--home",
    envvar="B2GRID_HOME",
    type=click.Path(file_okay=False),
    default=None,
    help="Grid home folder (overrides `home` in cluster.yaml; $B2GRID_HOME).",
)
@click.option(
    "--user",
    "user_name",
    envvar="B2GRID_USER",
    default=None,
    help="Act as this user (default: the OS user; $B2GRID_USER).",
)
@click.option(
    "--role",
    "roles",
    multiple=True,
    envvar="B2GRID_ROLES",
    help="A role to act with: user, production, admin (repeatable; $B2GRID_ROLES).",
)
@click.option(
    "--group", "groups", multiple=True, help="A group the user belongs to (repeatable)."
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Say on stderr which grid home (and config) the command acts on, and why.",
)
@click.version_option(__version__, prog_name="b2grid")
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: str | None,
    home: str | None,
    user_name: str | None,
    roles: tuple[str, ...],
    groups: tuple[str, ...],
    verbose: bool,
) -> None:
    """b2grid: the Belle II grid in a box, on Dask."""
    ctx.obj = CliContext(
        config_path,
        home,
        user_name,
        roles or ("user",),
        groups,
        config_from=_source(ctx, "config_path"),
        home_from=_source(ctx, "home"),
        verbose=verbose,
    )


def _register() -> None:
    from b2grid.cli import (
        collection,
        config,
        demo,
        ds,
        file,
        grid,
        gt,
        job,
        production,
        project,
        replica,
        rule,
        site,
        skim,
        submit,
        worker,
    )

    cli.add_command(config.config)
    cli.add_command(ds.ds)
    cli.add_command(collection.collection)
    cli.add_command(gt.gt)
    cli.add_command(file.file)
    cli.add_command(project.project)
    cli.add_command(submit.submit)
    cli.add_command(job.job)
    cli.add_command(rule.rule)
    cli.add_command(replica.replica)
    cli.add_command(site.site)
    cli.add_command(skim.skim)
    cli.add_command(production.production)
    cli.add_command(grid.up)
    cli.add_command(grid.stop)
    cli.add_command(worker.worker)
    cli.add_command(demo.demo)


_register()


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="b2grid")


__all__ = ["cli", "main"]
