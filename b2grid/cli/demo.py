"""`b2grid demo`: run the embedded demo on the default (or given) grid."""

from __future__ import annotations

from pathlib import Path

import click

from b2grid.cli._context import CliContext, console
from b2grid.demo import run_demo


@click.command()
@click.option(
    "--plot-dir",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="Where the analysis plot (PNG) is written.",
)
@click.pass_obj
def demo(ctx: CliContext, plot_dir: str) -> None:
    """The whole chain on the embedded grid: sites, jobs, data, production with
    calibration, MC, skims, a user analysis, download, plot; then shut down.

    Runs in a fresh temporary home unless --home is given, so it never disturbs a
    grid that is up.
    """
    report = run_demo(
        ctx.config(announce=ctx.home is not None),
        console(),
        Path(ctx.home) if ctx.home else None,
        plot_dir=Path(plot_dir),
    )
    if not report.ok:
        raise SystemExit(1)
