"""`b2grid ds ...`: datasets as gbasf2 users know them (put, list, rm, rep)."""

from __future__ import annotations

from datetime import timedelta

import click
from rich.table import Table

from b2grid.cli._context import CliContext, console
from b2grid.config import format_size
from b2grid.errors import NotRegistered


@click.group()
def ds() -> None:
    """Datasets: upload, list, remove, replicate."""


@ds.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.argument("lpn")
@click.option(
    "--site", default=None, help="Site to upload to (default: most free space)."
)
@click.option(
    "--copies", type=int, default=None, help="Copies to keep (default: policy)."
)
@click.option(
    "--sites",
    "expression",
    default="*",
    show_default=True,
    help="Site expression the copies may go to, e.g. 'kind=raw_data_centre'.",
)
@click.option(
    "--lifetime-days",
    type=float,
    default=None,
    help="Lifetime of the rule (default: policy; user data 90 days).",
)
@click.pass_obj
def put(
    ctx: CliContext,
    paths: tuple[str, ...],
    lpn: str,
    site: str | None,
    copies: int | None,
    expression: str,
    lifetime_days: float | None,
) -> None:
    """Upload local PATHS into dataset LPN (datablocks subNN) and keep them by rule."""
    with ctx.grid() as grid:
        names = grid.storage.put(
            list(paths),
            lpn,
            site=site,
            copies=copies,
            expression=expression,
            lifetime=None if lifetime_days is None else timedelta(days=lifetime_days),
        )
    for name in names:
        click.echo(name)
    click.echo(f"{len(names)} file(s) registered under {lpn}", err=True)


@ds.command("list")
@click.argument("lpn")
@click.option("-l", "--long", "long_", is_flag=True, help="Sizes, checksums, events.")
@click.option("-g", "--replicas", is_flag=True, help="Replicas per storage element.")
@click.pass_obj
def list_(ctx: CliContext, lpn: str, long_: bool, replicas: bool) -> None:
    """List the files of a dataset/datablock, or the datasets under a path."""
    with ctx.grid() as grid:
        try:
            found = grid.storage.list(lpn)
        except NotRegistered:
            under = grid.storage.catalog.datasets_under(lpn.rstrip("/") + "/")
            if not under:
                raise
            for name in under:
                click.echo(name)
            return
    if not long_ and not replicas:
        for f in found:
            click.echo(f.lfn)
        return
    table = Table(title=lpn, title_justify="left")
    table.add_column("LFN")
    if long_:
        for column in ("size", "adler32", "events"):
            table.add_column(column, justify="right")
    if replicas:
        table.add_column("replicas (site:state)")
    for f in found:
        row = [f.lfn]
        if long_:
            row += [
                format_size(f.size),
                f.adler32,
                "-" if f.events is None else str(f.events),
            ]
        if replicas:
            row.append(" ".join(f"{r.site}:{r.state}" for r in f.replicas))
        table.add_row(*row)
    out = console()
    out.print(table)
    total = sum(f.size for f in found)
    out.print(f"{len(found)} file(s), {format_size(total)}", highlight=False)


@ds.command()
@click.argument("lpn")
@click.option("--force", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def rm(ctx: CliContext, lpn: str, force: bool) -> None:
    """Remove a dataset, datablock or file from every storage element."""
    if not force:
        click.confirm(f"remove {lpn} and all its replicas?", abort=True)
    with ctx.grid() as grid:
        n = grid.storage.remove(lpn)
    click.echo(f"removed {n} file(s) of {lpn}; the name stays used")


@ds.command()
@click.argument("lpn")
@click.option("--site", required=True, help="Site to add a replica at.")
@click.pass_obj
def rep(ctx: CliContext, lpn: str, site: str) -> None:
    """Add a replica of LPN at a site (a one-copy rule)."""
    grid, running = ctx.attach_or_offline()
    try:
        rule_id = grid.storage.replicate(lpn, site)
    finally:
        grid.close()
    note = "" if running else " (transfers start when the grid is up)"
    click.echo(f"rule {rule_id}: a copy of {lpn} at {site}{note}")
