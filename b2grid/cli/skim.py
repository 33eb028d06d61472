"""`b2grid skim ...`: the skim registry and local skim runs (basf2's b2skim-*)."""

from __future__ import annotations

import inspect

import click
from rich.table import Table

from b2grid.cli._context import CliContext, console


@click.group()
def skim() -> None:
    """Skims: list the registry, show one skim, run skims over local files."""


@skim.command("list")
@click.option("--wg", default=None, help="Only this working group (e.g. charm, tau).")
def list_(wg: str | None) -> None:
    """Every registered skim: code, name, working group, general skim, description."""
    from b2grid.skims import by_working_group

    table = Table(title="registered skims", title_justify="left")
    for column in ("code", "name", "working group", "on", "description"):
        table.add_column(column)
    for s in by_working_group(wg):
        table.add_row(s.code, s.name, s.working_group, s.general or "-", s.description)
    console().print(table)


@skim.command()
@click.argument("skim_id", metavar="CODE|NAME")
def show(skim_id: str) -> None:
    """One skim: its code, group, contact, lists and selection."""
    from b2grid.skims import get

    s = get(skim_id)
    click.echo(f"{s.code}  {s.name}")
    click.echo(f"  working group  {s.working_group_title} ({s.working_group})")
    click.echo(f"  description    {s.description}")
    click.echo(f"  contact        {s.contact}")
    gate = f"HLT accept_{s.hlt_line}" if s.hlt_line else "every event"
    click.echo(f"  runs on        {gate}")
    click.echo(f"  output         {s.udst_name}")
    for name in s.lists:
        click.echo(f"  list           {name}")
    if s.build is not None and s.build.__doc__:
        click.echo("")
        click.echo(inspect.cleandoc(s.build.__doc__))


@skim.command()
@click.argument("skims", nargs=-1, required=True, metavar="CODE|NAME...")
@click.option(
    "-i", "--input", "inputs", multiple=True, required=True,
    type=click.Path(dir_okay=False), help="An mDST/uDST file (repeatable).",
)  # fmt: skip
@click.option(
    "-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False)
)
@click.option("--step", type=click.IntRange(min=1), default=None, help="Chunk size.")
def run(
    skims: tuple[str, ...], inputs: tuple[str, ...], out_dir: str, step: int | None
) -> None:
    """Run SKIMS combined over the input files: one <code>.udst.root each."""
    from b2grid.skims import run_skims

    report = run_skims(list(inputs), list(skims), out_dir, step=step)
    table = Table(
        title=f"{report.events_in} events from {len(inputs)} file(s), "
        f"{report.events_per_second:,.0f} ev/s",
        title_justify="left",
    )
    for column in ("code", "name", "kept", "retention", "kB/event", "ms/kevent"):
        table.add_column(column)
    for st in report.stats.values():
        table.add_row(
            st.code, st.name, str(st.events_kept), f"{100 * st.retention:.2f}%",
            f"{st.bytes_per_event / 1e3:.1f}", f"{1e6 * st.cpu_per_event:.1f}",
        )  # fmt: skip
    console().print(table)
    click.echo(f"uDSTs in {out_dir}")


@skim.command()
@click.argument("campaign")
@click.pass_obj
def stats(ctx: CliContext, campaign: str) -> None:
    """Per skim of skim campaign CAMPAIGN: retention, uDST bytes per kept event,
    CPU per input event."""
    with ctx.grid() as grid:
        rows = grid.production.skim_stats(campaign)
    table = Table(title=f"skim campaign {campaign}", title_justify="left")
    for column in ("code", "name", "events in", "kept", "retention", "kB/event",
                   "CPU ms/event"):  # fmt: skip
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["code"], r["name"], str(r["events_in"]), str(r["events_kept"]),
            f"{r['retention']:.2%}", f"{r['bytes_per_event'] / 1000:.2f}",
            f"{r['cpu_per_event'] * 1000:.3f}",
        )  # fmt: skip
    console().print(table)
