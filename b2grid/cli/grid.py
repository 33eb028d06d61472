"""`b2grid up` and `b2grid stop`: run the controller in the foreground; stop it."""

from __future__ import annotations

import os
import signal
import threading
import time

import click

from b2grid.cli._context import CliContext, console
from b2grid.cli.site import site_table
from b2grid.errors import GridNotRunning
from b2grid.grid import Grid
from b2grid.runfile import read_run_info, run_file


@click.command()
@click.pass_obj
def up(ctx: CliContext) -> None:
    """Start the grid in the foreground until Ctrl-C (or `b2grid stop`).

    Embedded: starts a Dask cluster with one worker per site. External: attaches to
    the scheduler in cluster.yaml (sites join with `b2grid worker --site NAME`).
    Other terminals' `b2grid` commands attach to it through the grid home.
    """
    grid = Grid.from_config(ctx.config())
    stop = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        stop.set()

    previous = {
        sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    out = console()
    try:
        grid.start()
        out.print(f"[bold]b2grid is up[/] (controller pid {os.getpid()})")
        out.print(f"  scheduler  {grid.scheduler_address}")
        out.print(f"  dashboard  {grid.dashboard_link or '- (off, or bokeh missing)'}")
        out.print(f"  home       {grid.home}")
        out.print(f"  run file   {run_file(grid.home)}")
        out.print(site_table(grid.sites.list(), running=True))
        out.print("Ctrl-C (or `b2grid stop`) shuts the grid down.", highlight=False)
        while not stop.wait(0.5):
            pass
        out.print("shutting down ...")
    finally:
        grid.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    out.print("b2grid is down")


@click.command()
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait.")
@click.pass_obj
def stop(ctx: CliContext, timeout: float) -> None:
    """Stop the grid that `b2grid up` runs for this home."""
    home = ctx.config().home
    info = read_run_info(home)
    if info is None or not info.controller_alive():
        raise GridNotRunning(str(home))
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while read_run_info(home) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    if read_run_info(home) is not None:
        raise click.ClickException(
            f"the controller (pid {info.pid}) did not stop within {timeout:.0f} s"
        )
    click.echo(f"stopped the grid of home {home} (controller pid {info.pid})")
