"""`b2grid demo`: run the embedded demo on the default (or given) grid."""

from __future__ import annotations

from pathlib import Path

import click

from b2grid.cli._context import CliContext, console
from b2grid.demo import run_demo


@click.command()
@click.pass_obj
def demo(ctx: CliContext) -> None:
    """Start the grid, run jobs at every site, prove where they ran, shut down.

    Runs in a fresh temporary home unless --home is given, so it never disturbs a
    grid that is up.
    """
    report = run_demo(ctx.config(), console(), Path(ctx.home) if ctx.home else None)
    if not report.ok:
        raise SystemExit(1)
