"""`b2grid job ...`: gb2_job_status, gb2_job_reschedule, gb2_job_kill and more."""

from __future__ import annotations

import click
from rich.table import Table

from b2grid.cli._context import CliContext, console
from b2grid.grid import Grid
from b2grid.jobs.model import JobState, JobStatus


@click.group()
def job() -> None:
    """Jobs: status, logs, diagnosis, kill and reschedule."""


def _states(grid: Grid, name: str | None, ids: tuple[int, ...]) -> list[JobState]:
    store = grid.jobs.store
    if name is not None:
        record = store.project(grid.user.name, name)
        states = store.states(project_id=record.project_id)
    else:
        states = []
    states.extend(store.state(i) for i in ids)
    if not states:
        raise click.UsageError("give job ids or -p PROJECT")
    return sorted(states, key=lambda s: s.job_id)


@job.command()
@click.argument("ids", nargs=-1, type=int)
@click.option("-p", "--project", "name", default=None, help="All jobs of a project.")
@click.pass_obj
def status(ctx: CliContext, ids: tuple[int, ...], name: str | None) -> None:
    """Status of jobs (gb2_job_status): status, minor status, site, attempt."""
    with ctx.grid() as grid:
        states = _states(grid, name, ids)
    table = Table(title="jobs", title_justify="left")
    for column in ("job", "status", "minor status", "application", "site", "attempt"):
        table.add_column(column)
    for s in states:
        table.add_row(
            str(s.job_id), s.status.value, s.minor_status, s.application_status,
            s.site or "-", str(s.attempt),
        )  # fmt: skip
    console().print(table)


@job.command("log")
@click.argument("job_id", type=int)
@click.option("--attempt", type=int, default=None, help="Default: the latest.")
@click.pass_obj
def log_(ctx: CliContext, job_id: int, attempt: int | None) -> None:
    """Output, traceback and timings of one attempt of a job."""
    with ctx.grid() as grid:
        record = grid.jobs.store.log(job_id, attempt)
    if record is None:
        click.echo(f"job {job_id} has not run yet")
        return
    click.echo(
        f"job {job_id} attempt {record.attempt}: {record.status.value} at "
        f"{record.site or '-'} on {record.worker or '-'} {record.reason}".rstrip()
    )
    timings = ", ".join(f"{k} {v:.3f} s" for k, v in record.timings.items())
    click.echo(f"timings: {timings or '-'}")
    for title, text in (
        ("stdout", record.stdout),
        ("stderr", record.stderr),
        ("traceback", record.traceback),
    ):
        if text:
            click.echo(f"--- {title}\n{text.rstrip()}")


@job.command()
@click.argument("job_id", type=int)
@click.pass_obj
def diagnose(ctx: CliContext, job_id: int) -> None:
    """Why a job waits: every site, eligible or not, and why."""
    with ctx.grid() as grid:
        state, verdicts = grid.jobs.diagnose(job_id)
    click.echo(f"job {job_id}: {state.status.value}: {state.minor_status}")
    table = Table(title="candidate sites", title_justify="left")
    for column in ("site", "eligible", "why"):
        table.add_column(column)
    for v in verdicts:
        table.add_row(v.site, "yes" if v.eligible else "no", v.reason)
    console().print(table)


@job.command()
@click.argument("ids", nargs=-1, type=int)
@click.option("-p", "--project", "name", default=None, help="All jobs of a project.")
@click.pass_obj
def kill(ctx: CliContext, ids: tuple[int, ...], name: str | None) -> None:
    """Kill jobs (those already final are left as they are)."""
    with ctx.grid() as grid:
        states = _states(grid, name, ids)
        n = grid.jobs.kill([s.job_id for s in states])
    click.echo(f"killed {n} job(s)")


@job.command()
@click.argument("ids", nargs=-1, type=int)
@click.option(
    "-p", "--project", "name", default=None, help="Failed/killed of a project."
)
@click.option(
    "--reset-count",
    is_flag=True,
    help="Start the jobs' reschedule counts again (owner only): jobs at the cap run.",
)
@click.pass_obj
def reschedule(
    ctx: CliContext, ids: tuple[int, ...], name: str | None, reset_count: bool
) -> None:
    """Reschedule jobs (with -p: the project's Failed and Killed ones).

    Prints the jobs it moved and, for each job it left, why (at the cap, not
    yours, Done); exits 1 when it moved none of them.
    """
    with ctx.grid() as grid:
        states = _states(grid, name, ids)
        if name is not None and not ids:
            states = [
                s for s in states if s.status in (JobStatus.FAILED, JobStatus.KILLED)
            ]
        report = grid.jobs.reschedule(
            [s.job_id for s in states], reset_count=reset_count
        )
    click.echo(report.summary())
    if report.refused and not report.moved:
        raise SystemExit(1)
