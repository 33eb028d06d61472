"""`b2grid project ...`: a user's projects (gb2_project_summary)."""

from __future__ import annotations

import click
from rich.table import Table

from b2grid.cli._context import CliContext, console


@click.group()
def project() -> None:
    """Projects: a user's named sets of jobs."""


@project.command("list")
@click.option("--all-users", is_flag=True, help="Every owner's projects.")
@click.pass_obj
def project_list(ctx: CliContext, all_users: bool) -> None:
    """Your projects (or everybody's) with their status."""
    with ctx.grid() as grid:
        records = grid.jobs.store.projects(None if all_users else grid.user.name)
    table = Table(title="projects", title_justify="left")
    for column in ("project", "owner", "kind", "jobs", "status", "created"):
        table.add_column(column)
    for r in records:
        table.add_row(r.name, r.owner, r.kind, str(r.njobs), r.status, r.created[:19])
    console().print(table)


@project.command()
@click.argument("name")
@click.option("--owner", default=None, help="Default: you.")
@click.pass_obj
def summary(ctx: CliContext, name: str, owner: str | None) -> None:
    """Jobs of project NAME by status and by site (gb2_project_summary)."""
    with ctx.grid() as grid:
        record = grid.jobs.store.project(owner or grid.user.name, name)
        s = grid.jobs.store.summary(record.project_id)
    table = Table(title=f"project {record.name} ({record.owner})", title_justify="left")
    for column in ("status", "jobs"):
        table.add_column(column)
    for status, n in sorted(s.by_status.items(), key=lambda kv: kv[0].value):
        table.add_row(status.value, str(n))
    console().print(table)
    click.echo(f"status: {record.status}; outputs: {record.output_lpn or '-'}")
    if s.by_site:
        sites = ", ".join(f"{k}: {v}" for k, v in sorted(s.by_site.items()))
        click.echo(f"by site: {sites}")


@project.command()
@click.argument("name")
@click.option(
    "--days",
    type=click.FloatRange(min=0, min_open=True),
    required=True,
    help="Grid days to add to the outputs' lifetime.",
)
@click.option("--owner", default=None, help="Default: you (others: admins only).")
@click.pass_obj
def extend(ctx: CliContext, name: str, days: float, owner: str | None) -> None:
    """Keep the outputs of project NAME DAYS grid days longer (owners, admins)."""
    with ctx.grid() as grid:
        until = grid.project(name, owner).extend(days)
    click.echo(
        f"the outputs of project {name} are kept until "
        f"{until:%Y-%m-%d %H:%M} UTC (grid time)"
    )
