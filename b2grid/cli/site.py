"""`b2grid site ...`: list the sites; ban, unban, take down and bring up a site."""

from __future__ import annotations

import json

import click
from rich.table import Table

from b2grid.cli._context import CliContext, console
from b2grid.config import format_size
from b2grid.sites.service import SiteView
from b2grid.sites.topology import SiteStatus

_STATUS_STYLE = {
    SiteStatus.ACTIVE: "green",
    SiteStatus.BANNED: "yellow",
    SiteStatus.DOWN: "red",
}


def site_table(views: list[SiteView], running: bool) -> Table:
    """The `site list` table (also shown by `up` and `demo`)."""
    table = Table(title="sites", title_justify="left")
    for column, justify in [
        ("site", "left"),
        ("kind", "left"),
        ("country", "left"),
        ("slots", "right"),
        ("live workers", "right"),
        ("status", "left"),
        ("SE usage", "right"),
    ]:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for v in views:
        s = v.site
        live = f"{len(v.workers)} ({v.live_slots} slots)" if running else "-"
        share = 100 * v.se_used / s.capacity if s.capacity else 0.0
        table.add_row(
            s.name,
            s.kind,
            s.country,
            str(s.slots),
            live,
            f"[{_STATUS_STYLE[s.status]}]{s.status.value}[/]",
            f"{format_size(v.se_used)} / {format_size(s.capacity)} ({share:.0f}%)",
        )
    return table


@click.group()
def site() -> None:
    """Computing sites: list them; ban, unban, take down, bring up."""


@site.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def list_sites(ctx: CliContext, as_json: bool) -> None:
    """Show every site: kind, country, slots, live workers, status, SE usage."""
    grid, running = ctx.attach_or_offline()
    try:
        views = grid.sites.list()
    finally:
        grid.close()
    if as_json:
        rows = [
            {
                "site": v.site.name,
                "kind": v.site.kind,
                "country": v.site.country,
                "slots": v.site.slots,
                "live_workers": [w.name for w in v.workers] if running else None,
                "status": v.site.status.value,
                "se_used": v.se_used,
                "se_capacity": v.site.capacity,
            }
            for v in views
        ]
        click.echo(json.dumps(rows, indent=1))
        return
    out = console()
    out.print(site_table(views, running))
    if not running:
        out.print(
            f"no grid is up for home {grid.home}: live workers unknown "
            "(start one with `b2grid up`)"
        )


def _change(ctx: CliContext, name: str, verb: str) -> None:
    grid, running = ctx.attach_or_offline()
    try:
        changed = getattr(grid.sites, verb)(name)
    finally:
        grid.close()
    note = "" if running else " (no grid is up: recorded, applies when it starts)"
    click.echo(f"site {changed.name}: {changed.status.value}{note}")


@site.command()
@click.argument("name")
@click.pass_obj
def ban(ctx: CliContext, name: str) -> None:
    """Stop new placements at NAME; work already there finishes."""
    _change(ctx, name, "ban")


@site.command()
@click.argument("name")
@click.pass_obj
def unban(ctx: CliContext, name: str) -> None:
    """Let NAME take new placements again."""
    _change(ctx, name, "unban")


@site.command()
@click.argument("name")
@click.pass_obj
def down(ctx: CliContext, name: str) -> None:
    """Take NAME down: retire its workers; work placed there waits."""
    _change(ctx, name, "down")


@site.command()
@click.argument("name")
@click.pass_obj
def up(ctx: CliContext, name: str) -> None:
    """Bring NAME back up: its workers restart and waiting work runs."""
    _change(ctx, name, "up")


@site.command()
@click.argument("name")
@click.option("--fix-dark", is_flag=True, help="Delete the dark files found.")
@click.pass_obj
def audit(ctx: CliContext, name: str, fix_dark: bool) -> None:
    """Compare NAME's storage element with the catalog: dark and lost files."""
    with ctx.grid() as grid:
        report = grid.storage.audit(name, fix_dark=fix_dark)
    click.echo(f"site {name}: {report.checked} file(s) on the SE")
    for lfn in report.dark:
        click.echo(f"dark  {lfn}" + ("  (deleted)" if fix_dark else ""))
    for lfn in report.lost:
        click.echo(f"lost  {lfn}  (marked unavailable; the repairer restores it)")
    click.echo(f"{len(report.dark)} dark, {len(report.lost)} lost")


@site.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def lose(ctx: CliContext, name: str, force: bool) -> None:
    """Declare NAME's storage lost: it goes down; copies are restored elsewhere."""
    if not force:
        click.confirm(f"declare all storage at {name} lost?", abort=True)
    with ctx.grid() as grid:
        n = grid.storage.lose_site(name)
    click.echo(f"site {name}: down, {n} replica(s) lost; the repairer restores them")
