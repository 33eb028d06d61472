"""`b2grid production ...`: data taking, prompt buckets and official processing,
MC campaigns, their status, the data-readiness table and the run registry.

A thin layer over ``grid.production``; defining a campaign needs the production
role (``b2grid --role production production ...``). The controller (`b2grid up`)
drives the stages; ``--wait`` only watches them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from rich.table import Table

from b2grid.cli._context import CliContext, console
from b2grid.errors import PermissionDenied
from b2grid.grid import Grid
from b2grid.production import Campaign

#: what `b2grid production ... --wait` waits at most, in seconds
WAIT_TIMEOUT = 3600.0


class _ProductionGroup(click.Group):
    """Says how to get the production role when a command is refused for lack of it."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PermissionDenied as exc:
            roles = getattr(ctx.obj, "roles", ())
            if "production" in roles or "admin" in roles:
                raise
            click.secho(
                f"b2grid: error: {exc}; production commands need the production "
                "role: `b2grid --role production production ...`",
                err=True,
                fg="red",
            )
            ctx.exit(exc.exit_code)


def _wait_options(command: Any) -> Any:
    command = click.option(
        "--timeout",
        type=click.FloatRange(min=0),
        default=WAIT_TIMEOUT,
        show_default=True,
        help="With --wait: give up after this many seconds.",
    )(command)
    return click.option(
        "--wait",
        is_flag=True,
        help="Wait until the campaign is done or failed (needs `b2grid up`).",
    )(command)


@contextmanager
def _grid(ctx: CliContext, wait: bool) -> Iterator[Grid]:
    """The running grid; offline (the controller picks the campaign up when
    started) unless ``wait``, which needs a controller to move the stages on."""
    grid = ctx.attach() if wait else ctx.attach_or_offline()[0]
    try:
        yield grid
    finally:
        grid.close()


def _finish(grid: Grid, campaign: Campaign, wait: bool, timeout: float) -> None:
    """Report a campaign just defined; with ``wait``, watch it to its end."""
    if not wait:
        click.echo(
            f"campaign {campaign.name}: {_status(campaign)}; follow it with "
            f"`b2grid production status {campaign.name}`"
        )
        return
    try:
        status = campaign.wait(timeout, drive=grid.is_controller)
    except TimeoutError as exc:
        click.secho(f"b2grid: error: {exc}", err=True, fg="red")
        raise click.exceptions.Exit(1) from None
    console().print(stage_table(campaign))
    if status == "failed":
        click.secho(
            f"b2grid: error: campaign {campaign.name} failed; fix the cause, then "
            f"`b2grid production retry {campaign.name}`",
            err=True,
            fg="red",
        )
        raise click.exceptions.Exit(1)
    click.echo(f"campaign {campaign.name}: {status}")


def _status(campaign: Campaign) -> str:
    status = campaign.status()
    return status if status in ("done", "failed") else f"running {status}"


def stage_table(campaign: Campaign) -> Table:
    """One row per stage of ``campaign``: status and note."""
    table = Table()
    for column in ("stage", "status", "note"):
        table.add_column(column)
    for name, status, note in campaign.stages():
        table.add_row(name, status, note or "-")
    return table


@click.group(cls=_ProductionGroup)
def production() -> None:
    """Central production: data taking, buckets, proc, MC (production role)."""


@production.command("take-data")
@click.option("--exp", type=int, required=True, help="Experiment number.")
@click.option("--runs", required=True, help="Runs: 1-20, or 3,5,7-9.")
@click.option(
    "--lumi-per-run",
    type=float,
    required=True,
    help="Integrated luminosity per run in fb^-1.",
)
@click.option(
    "--beam-energy",
    type=click.Choice(["4S", "4S_offres"]),
    default="4S",
    show_default=True,
)
@click.option(
    "--scale",
    type=float,
    default=None,
    help="Collisions simulated per real one (default 1e-3).",
)
@_wait_options
@click.pass_obj
def take_data(
    ctx: CliContext,
    exp: int,
    runs: str,
    lumi_per_run: float,
    beam_energy: str,
    scale: float | None,
    wait: bool,
    timeout: float,
) -> None:
    """Take runs: RAW and random triggers per run, at KEK and one more raw data
    centre. Runs already taken are skipped."""
    with _grid(ctx, wait) as grid:
        campaign = grid.production.take_data(
            exp, runs, lumi_per_run, beam_energy=beam_energy, scale=scale
        )
        _finish(grid, campaign, wait, timeout)


@production.command()
@click.argument("name")
@click.option("--exp", type=int, required=True, help="Experiment number.")
@click.option("--runs", required=True, help="Run range low-high, e.g. 853-856.")
@click.option(
    "--base-tag",
    "base_tags",
    multiple=True,
    help="A global tag to calibrate on top of (repeatable; default data_online).",
)
@click.option(
    "--min-electrons", type=int, default=None, help="Bhabha events needed (200)."
)
@click.option("--min-mumu", type=int, default=None, help="mu-mu events needed (200).")
@_wait_options
@click.pass_obj
def process(
    ctx: CliContext,
    name: str,
    exp: int,
    runs: str,
    base_tags: tuple[str, ...],
    min_electrons: int | None,
    min_mumu: int | None,
    wait: bool,
    timeout: float,
) -> None:
    """Process runs as prompt bucket NAME (bucketNN, promptNN) or official
    campaign NAME (procNN).

    Stages: raw-data calibration, cDST calibration skims, data calibration,
    validation of the staging tag, mDST with the published final tag.
    """
    options: dict[str, Any] = {}
    if base_tags:
        options["base_tags"] = base_tags
    if min_electrons is not None:
        options["min_electrons"] = min_electrons
    if min_mumu is not None:
        options["min_mumu"] = min_mumu
    with _grid(ctx, wait) as grid:
        campaign = grid.production.process(name, exp, runs, **options)
        _finish(grid, campaign, wait, timeout)


@production.command()
@click.argument("name")
@click.option(
    "--sample",
    "samples",
    multiple=True,
    required=True,
    help="An MC sample: mixed, charged, uubar, ... or a signal (repeatable).",
)
@click.option(
    "--lumi", type=float, default=None, help="Run-independent: fb^-1 per sample."
)
@click.option("--exp", type=int, default=None, help="Run-dependent: the experiment.")
@click.option("--runs", default=None, help="Run-dependent: the runs, e.g. 853-856.")
@click.option(
    "--scale", type=float, default=None, help="Events per real one (default 1e-3)."
)
@click.option("--events-per-job", type=int, default=None, help="Default 5000.")
@_wait_options
@click.pass_obj
def mc(
    ctx: CliContext,
    name: str,
    samples: tuple[str, ...],
    lumi: float | None,
    exp: int | None,
    runs: str | None,
    scale: float | None,
    events_per_job: int | None,
    wait: bool,
    timeout: float,
) -> None:
    """Produce MC campaign NAME: run-independent (MCNNri_x, --lumi) or
    run-dependent (MCNNrd_x, --exp and --runs, with each run's conditions)."""
    with _grid(ctx, wait) as grid:
        campaign = grid.production.produce_mc(
            name,
            samples,
            luminosity=lumi,
            exp=exp,
            runs=runs,
            scale=scale,
            events_per_job=events_per_job,
        )
        _finish(grid, campaign, wait, timeout)


@production.command("skim")
@click.argument("name")
@click.option("--source", required=True, help="The processing or MC campaign.")
@click.option(
    "--skim",
    "skims",
    multiple=True,
    required=True,
    help="A skim code or name (repeatable; all run combined, one pass).",
)
@click.option(
    "--general-skim",
    default="hadron",
    show_default=True,
    help="Which mDST of data campaigns to skim.",
)
@_wait_options
@click.pass_obj
def skim_campaign(
    ctx: CliContext,
    name: str,
    source: str,
    skims: tuple[str, ...],
    general_skim: str,
    wait: bool,
    timeout: float,
) -> None:
    """Skim campaign NAME (<source>_skim...): combined skims over the mDST of
    --source, one uDST dataset per skim and run."""
    with _grid(ctx, wait) as grid:
        campaign = grid.production.skim(name, source, skims, general_skim=general_skim)
        _finish(grid, campaign, wait, timeout)


def _stages(stages: list[tuple[str, str, str]]) -> str:
    return " ".join(f"{name}:{status}" for name, status, _ in stages)


def _jobs(jobs: dict[str, int]) -> str:
    return " ".join(f"{status}:{n}" for status, n in sorted(jobs.items())) or "-"


@production.command()
@click.argument("name", required=False)
@click.pass_obj
def status(ctx: CliContext, name: str | None) -> None:
    """Every campaign: stages, jobs by state, events, luminosity; with NAME,
    its stages and their notes."""
    with ctx.grid() as grid:
        if name is not None:
            campaign = grid.production.campaign(name)
            click.echo(f"campaign {name}: {_status(campaign)}")
            console().print(stage_table(campaign))
            return
        rows = grid.production.status()
    if not rows:
        click.echo("no campaigns")
        return
    table = Table(title=f"{len(rows)} campaign(s)", title_justify="left")
    for column in ("campaign", "kind", "runs", "stages", "jobs"):
        table.add_column(column)
    for column in ("events", "lumi/fb^-1"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            row["campaign"],
            row["kind"],
            row["runs"] or "-",
            _stages(row["stages"]),
            _jobs(row["jobs"]),
            str(row["events"]),
            f"{row['luminosity']:.3g}",
        )
    console().print(table)


@production.command()
@click.pass_obj
def readiness(ctx: CliContext) -> None:
    """The data-readiness table: per experiment, calibration, data and MC."""
    with ctx.grid() as grid:
        rows = grid.production.readiness()
    if not rows:
        click.echo("no runs taken yet")
        return
    table = Table(title="data readiness", title_justify="left")
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*row.values())
    console().print(table)


@production.command()
@click.option("--exp", type=int, default=None, help="Only this experiment.")
@click.pass_obj
def runs(ctx: CliContext, exp: int | None) -> None:
    """The run registry: luminosity, beam energy, collisions, quality."""
    with ctx.grid() as grid:
        found = grid.production.runs(exp)
    if not found:
        click.echo("no runs taken yet")
        return
    table = Table(title=f"{len(found)} run(s)", title_justify="left")
    for column in ("exp", "run", "lumi/fb^-1", "beam energy", "collisions"):
        table.add_column(column, justify="left" if column == "beam energy" else "right")
    table.add_column("quality")
    for r in found:
        table.add_row(
            str(r.exp),
            str(r.run),
            f"{r.luminosity:g}",
            r.beam_energy,
            str(r.collisions),
            r.quality,
        )
    console().print(table)


@production.command("run-quality")
@click.argument("exp", type=int)
@click.argument("run", type=int)
@click.argument("quality", type=click.Choice(["good", "bad", "unknown"]))
@click.pass_obj
def run_quality(ctx: CliContext, exp: int, run: int, quality: str) -> None:
    """Mark run RUN of experiment EXP good, bad or unknown. A bad run is left out
    of dataset searches and new production jobs, never deleted."""
    with ctx.grid() as grid:
        grid.production.set_quality(exp, run, quality)
    click.echo(f"exp {exp} run {run}: {quality}")


@production.command()
@click.argument("name")
@click.pass_obj
def retry(ctx: CliContext, name: str) -> None:
    """Retry the failed stage of campaign NAME (its failed jobs, or its booking)."""
    with ctx.grid() as grid:
        n = grid.production.retry(name)
        now = grid.production.campaign(name).status()
    click.echo(f"campaign {name}: {n} failed job(s) rescheduled; now {now}")


__all__ = ["production", "stage_table"]
