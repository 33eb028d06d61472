"""`b2grid submit`: submit a steering file over datasets, as `gbasf2 steering.py` does.

Prints gbasf2's project summary (project, output LPN, owner, input files, jobs,
events, MB, estimated CPU per job); ``--dry-run`` stops there, otherwise it asks for
confirmation unless ``--force``.
"""

from __future__ import annotations

from dataclasses import replace

import click
from rich.table import Table

from b2grid.cli._context import CliContext, console
from b2grid.jobs.inputs import (
    DEFAULT_SECONDS_PER_EVENT,
    SubmissionPlan,
    read_list_file,
)
from b2grid.jobs.model import PRIORITY_RANGE
from b2grid.jobs.steering import load_steering


def show_plan(plan: SubmissionPlan) -> None:
    """The project summary as a two-column table."""
    table = Table(title="Project summary", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", overflow="fold")
    for label, value in plan.rows():
        table.add_row(label, value)
    console().print(table)


@click.command()
@click.argument("steering", type=click.Path(dir_okay=False))
@click.option("-p", "--project", required=True, help="Project name (new, <= 32 chars).")
@click.option(
    "-i",
    "--input-ds",
    "--input_ds",
    "lpns",
    multiple=True,
    metavar="LPN",
    help="Input dataset, datablock, collection or file (repeatable).",
)
@click.option(
    "--input-list",
    "--input_dslist",
    "input_list",
    type=click.Path(dir_okay=False),
    default=None,
    help="A file of input LPNs/LFNs, one a line (as `ds search --output` writes).",
)
@click.option(
    "-n",
    "--files-per-job",
    "files_per_job",
    type=int,
    default=1,
    show_default=True,
    help="Input files per job (a job never mixes datablocks).",
)
@click.option("--site", "sites", multiple=True, help="Run only at SITE (repeatable).")
@click.option(
    "--banned-site",
    "--banned_site",
    "banned_sites",
    multiple=True,
    help="Never run at SITE (repeatable).",
)
@click.option(
    "--priority",
    type=click.IntRange(*PRIORITY_RANGE),
    default=5,
    show_default=True,
    help="Job priority, 0 (lowest) to 10.",
)
@click.option("--include-bad-runs", is_flag=True, help="Keep files of runs marked bad.")
@click.option(
    "--cpu-per-event",
    type=float,
    default=DEFAULT_SECONDS_PER_EVENT,
    show_default=True,
    help="CPU seconds one event costs, for the estimate.",
)
@click.option("--dry-run", is_flag=True, help="Print the summary; submit nothing.")
@click.option("--force", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def submit(
    ctx: CliContext,
    steering: str,
    project: str,
    lpns: tuple[str, ...],
    input_list: str | None,
    files_per_job: int,
    sites: tuple[str, ...],
    banned_sites: tuple[str, ...],
    priority: int,
    include_bad_runs: bool,
    cpu_per_event: float,
    dry_run: bool,
    force: bool,
) -> None:
    """Submit the analysis in STEERING (a Python file defining analysis(ctx)) as
    project NAME over the inputs given with -i and --input-list."""
    if not lpns and input_list is None:
        raise click.UsageError("give inputs: -i LPN (repeatable) or --input-list FILE")
    names = list(lpns)
    if input_list is not None:
        names += read_list_file(input_list)
    loaded = load_steering(steering)
    grid, running = ctx.attach_or_offline()
    try:
        plan = grid.plan(
            loaded.function,
            project=project,
            inputs=names,
            files_per_job=files_per_job,
            include_bad_runs=include_bad_runs,
            seconds_per_event=cpu_per_event,
            priority=priority,
            sites=sites,
            banned_sites=banned_sites,
        )
        plan = replace(plan, analysis=str(loaded.path))
        show_plan(plan)
        if dry_run:
            click.echo("dry run: nothing submitted")
            return
        if not force:
            click.confirm("Are you sure to submit the project?", abort=True)
        # exactly the jobs shown: the inputs are not resolved a second time
        submitted = grid.submit(
            loaded.function,
            project=project,
            inputs=[list(job) for job in plan.jobs],
            outputs=loaded.outputs,
            cpu_seconds=max(plan.cpu_seconds_per_job, 1.0),
            priority=priority,
            sites=sites,
            banned_sites=banned_sites,
            description=f"steering file {loaded.path}",
        )
    finally:
        grid.close()
    note = "" if running else " (no grid is up: the jobs start at `b2grid up`)"
    click.echo(
        f"project {submitted.name} submitted: {plan.n_jobs} job(s); outputs under "
        f"{submitted.output_lpn}{note}"
    )
