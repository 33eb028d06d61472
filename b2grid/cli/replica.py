"""`b2grid replica ...`: the copies of one file."""

from __future__ import annotations

import click
from rich.table import Table

from b2grid.cli._context import CliContext, console


@click.group()
def replica() -> None:
    """Replicas of files."""


@replica.command("list")
@click.argument("lfn")
@click.pass_obj
def list_(ctx: CliContext, lfn: str) -> None:
    """Every replica of LFN: site, state, locks, tombstone, last read."""
    with ctx.grid() as grid:
        record = grid.storage.catalog.file(lfn)
    table = Table(
        title=f"{record.lfn} ({record.state}, adler32 {record.adler32})",
        title_justify="left",
    )
    for column in ("site", "state", "locks", "tombstone", "created", "last read"):
        table.add_column(column)
    for r in record.replicas:
        table.add_row(
            r.site,
            r.state,
            str(r.lock_count),
            (r.tombstone or "-")[:19],
            r.created[:19],
            (r.last_read or "-")[:19],
        )
    console().print(table)
