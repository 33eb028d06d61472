"""`b2grid gt ...`: global tags of the conditions database (basf2's b2conditionsdb)."""

from __future__ import annotations

import click
import numpy as np
from rich.table import Table

from b2grid.cli._context import CliContext, console


@click.group()
def gt() -> None:
    """Global tags: list them, show their payloads, look one up for a run."""


@gt.command("list")
@click.pass_obj
def list_(ctx: CliContext) -> None:
    """Every global tag with its state and number of payloads."""
    with ctx.grid() as grid:
        tags = grid.conditions.tags()
    table = Table(title="global tags", title_justify="left")
    for column in ("tag", "state", "payloads", "description"):
        table.add_column(column)
    for t in tags:
        table.add_row(t.name, t.status.value, str(len(t.payloads)), t.description)
    console().print(table)


@gt.command()
@click.argument("tag")
@click.pass_obj
def show(ctx: CliContext, tag: str) -> None:
    """The payloads of TAG with their revisions and intervals of validity."""
    with ctx.grid() as grid:
        info = grid.conditions.tag(tag)
    table = Table(title=f"{info.name} ({info.status.value})", title_justify="left")
    for column in ("payload", "revision", "iov (exp,run)-(exp,run)", "checksum"):
        table.add_column(column)
    for ref in sorted(info.payloads, key=lambda r: (r.name, r.revision)):
        table.add_row(ref.name, str(ref.revision), str(ref.iov), ref.checksum[:12])
    console().print(table)


@gt.command()
@click.argument("tags", nargs=-1, required=True)
@click.option("--name", "payload", required=True, help="Payload name.")
@click.option("--exp", type=int, required=True)
@click.option("--run", type=int, required=True)
@click.pass_obj
def lookup(
    ctx: CliContext, tags: tuple[str, ...], payload: str, exp: int, run: int
) -> None:
    """The payload a run gets from the tag stack TAGS (first tag that has one wins)."""
    with ctx.grid() as grid:
        ref = grid.conditions.lookup(list(tags), payload, exp, run)
        data = grid.conditions.payload(ref.name, ref.revision)
    click.echo(f"{ref.name} revision {ref.revision}, valid {ref.iov}")
    for key, values in sorted(data.arrays.items()):
        arr = np.asarray(values)
        if arr.size <= 4:
            click.echo(f"  {key}: {arr.tolist()}")
        else:
            click.echo(
                f"  {key}: {arr.shape} {arr.dtype}, mean {arr.mean():.4g}, "
                f"min {arr.min():.4g}, max {arr.max():.4g}"
            )
    for key, value in sorted(data.attrs.items()):
        click.echo(f"  {key} = {value}")
