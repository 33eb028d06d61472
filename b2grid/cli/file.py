"""`b2grid file ...`: event files on local disk (basf2's b2file-metadata-show & co)."""

from __future__ import annotations

import click

from b2grid import formats
from b2grid.cli._context import CliContext


@click.group()
def file() -> None:
    """Event files: show metadata, print a data level's schema, make MC files."""


@file.command()
@click.argument("path", type=click.Path(dir_okay=False))
def meta(path: str) -> None:
    """The metadata PATH carries (level, exp/run, campaign, tag, event type, ...)."""
    for key, value in formats.metadata_json(formats.read_metadata(path)).items():
        click.echo(f"{key:<17} {value}")


@file.command()
@click.argument("level", type=click.Choice(["raw", "cdst", "mdst", "udst"]))
def schema(level: str) -> None:
    """Every group, collection and field of LEVEL, with units and meaning."""
    click.echo(formats.describe(level))


@file.command()
@click.argument("event_type")
@click.option("-n", "--events", type=click.IntRange(min=1), default=1000)
@click.option("-o", "--output", type=click.Path(dir_okay=False), required=True)
@click.option("--seed", type=int, default=1)
@click.option("--level", type=click.Choice(["raw", "cdst", "mdst"]), default="mdst")
@click.option("--exp", "experiment", type=int, default=1003, help="MC experiment.")
@click.option("--tag", "tags", multiple=True, help="Global tag(s), first wins.")
@click.pass_obj
def mc(
    ctx: CliContext,
    event_type: str,
    events: int,
    output: str,
    seed: int,
    level: str,
    experiment: int,
    tags: tuple[str, ...],
) -> None:
    """Generate, simulate and reconstruct EVENT_TYPE (e.g. mixed, 1213030000)."""
    from b2grid.physics import write_mc

    with ctx.grid() as grid:
        stored = write_mc(
            output,
            event_type,
            events,
            seed=seed,
            db=grid.conditions,
            tags=tags or "mc_default",
            experiment=experiment,
            level=level,
        )
    click.echo(f"{output}: {stored.nevents} {event_type} events ({level})")
