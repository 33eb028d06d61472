"""`b2grid collection ...`: immutable named sets of datasets, made by production."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from b2grid.cli._context import CliContext, console
from b2grid.config import format_size
from b2grid.errors import BadCollection, NotRegistered
from b2grid.storage.records import CollectionRecord


def _data_type_option(command: Any) -> Any:
    return click.option(
        "--data-type",
        "--data_type",
        "data_type",
        type=click.Choice(["data", "mc"]),
        default=None,
        help="data or mc: with a bare NAME, which of /belle/collection/{Data,MC}.",
    )(command)


def read_list(path: str) -> list[str]:
    """The names in a list file, one a line (blank lines and ``#`` comments skipped);
    what `b2grid ds search --output FILE` writes."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadCollection(path, f"cannot read the list file: {exc}") from None
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def show_record(record: CollectionRecord) -> None:
    """`collection show` (and `ds meta` of a collection): one field a line."""
    lumi = "-" if record.luminosity is None else f"{record.luminosity:g} fb^-1"
    for key, value in [
        ("lpn", record.lpn),
        ("kind", "collection"),
        ("data_type", record.data_type),
        ("description", record.description),
        ("luminosity", lumi),
        ("created_by", record.created_by),
        ("created", record.created),
        ("datasets", str(len(record.datasets))),
        ("files", str(record.nfiles)),
        ("events", str(record.events)),
        ("size", format_size(record.size)),
    ]:
        click.echo(f"{key:14} {value}")


@click.group()
def collection() -> None:
    """Collections: immutable named sets of datasets (/belle/collection/{Data,MC})."""


@collection.command()
@click.argument("name")
@click.argument("lpns", nargs=-1)
@click.option(
    "--datasets-from",
    "--datasets_from",
    "datasets_from",
    type=click.Path(dir_okay=False),
    default=None,
    help="A file of dataset (or collection) LPNs, one a line: `ds search --output`.",
)
@click.option("--description", required=True, help="What it holds and what for.")
@click.option(
    "--lumi",
    "--luminosity",
    "lumi",
    type=click.FloatRange(min=0),
    default=None,
    help="Integrated luminosity in fb^-1.",
)
@_data_type_option
@click.pass_obj
def create(
    ctx: CliContext,
    name: str,
    lpns: tuple[str, ...],
    datasets_from: str | None,
    description: str,
    lumi: float | None,
    data_type: str | None,
) -> None:
    """Make collection NAME (or LPN) of the datasets LPN... (production role only).

    A bare NAME goes under /belle/collection/Data or /MC by the datasets' data type
    (or --data-type). The datasets never change and the name is never reused.
    """
    names = [*lpns, *(read_list(datasets_from) if datasets_from else [])]
    with ctx.grid() as grid:
        record = grid.collections.create(
            name, names, description=description, luminosity=lumi, data_type=data_type
        )
    click.echo(
        f"collection {record.lpn}: {len(record.datasets)} dataset(s), "
        f"{record.nfiles} file(s), {format_size(record.size)}"
    )


@collection.command("list")
@_data_type_option
@click.option("--plain", is_flag=True, help="One LPN per line (for scripts).")
@click.pass_obj
def list_(ctx: CliContext, data_type: str | None, plain: bool) -> None:
    """List the collections."""
    with ctx.grid() as grid:
        found = grid.collections.list(data_type)
    if plain:
        for record in found:
            click.echo(record.lpn)
        return
    if not found:
        click.echo("no collections")
        return
    table = Table(title=f"{len(found)} collection(s)", title_justify="left")
    table.add_column("LPN")
    for column in ("datasets", "files", "size", "lumi/fb^-1"):
        table.add_column(column, justify="right")
    table.add_column("description")
    for r in found:
        lumi = "-" if r.luminosity is None else f"{r.luminosity:g}"
        table.add_row(
            r.lpn,
            str(len(r.datasets)),
            str(r.nfiles),
            format_size(r.size),
            lumi,
            r.description,
        )
    console().print(table)


@collection.command()
@click.argument("name")
@_data_type_option
@click.pass_obj
def show(ctx: CliContext, name: str, data_type: str | None) -> None:
    """Show collection NAME (or LPN): metadata and totals over its datasets."""
    with ctx.grid() as grid:
        record = grid.collections.get(name, data_type)
    show_record(record)


@collection.command()
@click.argument("name")
@_data_type_option
@click.option("--plain", is_flag=True, help="One LPN per line (for scripts).")
@click.pass_obj
def datasets(ctx: CliContext, name: str, data_type: str | None, plain: bool) -> None:
    """The datasets of collection NAME (or LPN), in order."""
    with ctx.grid() as grid:
        record = grid.collections.get(name, data_type)
        if plain:
            for lpn in record.datasets:
                click.echo(lpn)
            return
        table = Table(title=record.lpn, title_justify="left")
        table.add_column("dataset")
        for column in ("files", "size"):
            table.add_column(column, justify="right")
        for lpn in record.datasets:
            try:
                ds = grid.storage.catalog.dataset(lpn)
            except NotRegistered:  # deleted since the collection was made
                table.add_row(lpn, "deleted", "-")
                continue
            table.add_row(lpn, str(ds.nfiles), format_size(ds.size))
    console().print(table)


__all__ = ["collection", "read_list", "show_record"]
