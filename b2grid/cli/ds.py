"""`b2grid ds ...`: datasets as gbasf2 users know them: put, list, search, meta, rm."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from b2grid.cli._context import CliContext, console
from b2grid.cli.collection import show_record
from b2grid.config import format_size
from b2grid.errors import NotRegistered
from b2grid.storage.collection import is_collection_lpn
from b2grid.storage.download import DownloadReport, Outcome, read_failed_list
from b2grid.storage.records import FileRecord
from b2grid.storage.rule_book import lifetime_of
from b2grid.storage.search import Searcher, SearchQuery


@click.group()
def ds() -> None:
    """Datasets: upload, list, remove, replicate."""


@ds.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.argument("lpn")
@click.option(
    "--site", default=None, help="Site to upload to (default: most free space)."
)
@click.option(
    "--copies", type=int, default=None, help="Copies to keep (default: policy)."
)
@click.option(
    "--sites",
    "expression",
    default="*",
    show_default=True,
    help="Site expression the copies may go to, e.g. 'kind=raw_data_centre'.",
)
@click.option(
    "--lifetime-days",
    type=float,
    default=None,
    help="Lifetime of the rule (default: policy; user data 90 days).",
)
@click.option(
    "--allow-duplicates",
    is_flag=True,
    help="Add files the dataset already holds (same name, or same size and "
    "adler32) again; their events then count twice.",
)
@click.pass_obj
def put(
    ctx: CliContext,
    paths: tuple[str, ...],
    lpn: str,
    site: str | None,
    copies: int | None,
    expression: str,
    lifetime_days: float | None,
    allow_duplicates: bool,
) -> None:
    """Upload local PATHS into dataset LPN (datablocks subNN) and keep them by rule.

    Files LPN already holds are refused (nothing is uploaded) unless
    --allow-duplicates.
    """
    lifetime = (
        None if lifetime_days is None else lifetime_of(lifetime_days, "--lifetime-days")
    )
    with ctx.grid() as grid:
        names = grid.storage.put(
            list(paths),
            lpn,
            site=site,
            copies=copies,
            expression=expression,
            lifetime=lifetime,
            allow_duplicates=allow_duplicates,
        )
    for name in names:
        click.echo(name)
    click.echo(f"{len(names)} file(s) registered under {lpn}", err=True)


@ds.command("list")
@click.argument("lpn")
@click.option("-l", "--long", "long_", is_flag=True, help="Sizes, checksums, events.")
@click.option("-g", "--replicas", is_flag=True, help="Replicas per storage element.")
@click.pass_obj
def list_(ctx: CliContext, lpn: str, long_: bool, replicas: bool) -> None:
    """List the files of a dataset, datablock or collection, or the datasets under
    a path."""
    with ctx.grid() as grid:
        try:
            if grid.collections.is_collection(lpn):
                found: list[FileRecord] = []
                for dataset in grid.collections.expand([lpn]):
                    found += grid.storage.list(dataset)
            else:
                found = grid.storage.list(lpn)
        except NotRegistered:
            prefix = lpn.rstrip("/") + "/"
            under = grid.storage.catalog.datasets_under(prefix)
            if is_collection_lpn(prefix):
                under += [
                    c.lpn for c in grid.collections.list() if c.lpn.startswith(prefix)
                ]
            if not under:
                raise
            for name in sorted(under):
                click.echo(name)
            return
    if not long_ and not replicas:
        for f in found:
            click.echo(f.lfn)
        return
    table = Table(title=lpn, title_justify="left")
    table.add_column("LFN")
    if long_:
        for column in ("size", "adler32", "events"):
            table.add_column(column, justify="right")
    if replicas:
        table.add_column("replicas (site:state)")
    for f in found:
        row = [f.lfn]
        if long_:
            row += [
                format_size(f.size),
                f.adler32,
                "-" if f.events is None else str(f.events),
            ]
        if replicas:
            row.append(" ".join(f"{r.site}:{r.state}" for r in f.replicas))
        table.add_row(*row)
    out = console()
    out.print(table)
    total = sum(f.size for f in found)
    out.print(f"{len(found)} file(s), {format_size(total)}", highlight=False)


@ds.command()
@click.argument("lpn")
@click.option("--force", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def rm(ctx: CliContext, lpn: str, force: bool) -> None:
    """Remove a dataset, datablock or file from every storage element."""
    if not force:
        click.confirm(f"remove {lpn} and all its replicas?", abort=True)
    with ctx.grid() as grid:
        n = grid.storage.remove(lpn)
    click.echo(f"removed {n} file(s) of {lpn}; the name stays used")


@ds.command()
@click.argument("lpn")
@click.option("--site", required=True, help="Site to add a replica at.")
@click.pass_obj
def rep(ctx: CliContext, lpn: str, site: str) -> None:
    """Add a replica of LPN at a site (a one-copy rule; one per dataset of a
    collection)."""
    grid, running = ctx.attach_or_offline()
    try:
        targets = [lpn]
        if grid.collections.is_collection(lpn):
            targets = grid.collections.expand([lpn])
        rules = [(grid.storage.replicate(t, site), t) for t in targets]
    finally:
        grid.close()
    note = "" if running else " (transfers start when the grid is up)"
    for rule_id, target in rules:
        click.echo(f"rule {rule_id}: a copy of {target} at {site}{note}")


def _search_options(command: Any) -> Any:
    """The gb2_ds_search criteria, in the gbasf2 spellings (dashes or underscores)."""
    text = [
        ("data_type", "data or mc."),
        ("campaign", "Campaign, wildcards allowed (MC15*, proc1?)."),
        ("beam_energy", "4S, 4S_offres, 5S, ..."),
        ("mc_event_type", "mixed, charged, uubar, ... or a signal event type."),
        ("bg_level", "BGx0 or BGx1."),
        ("data_level", "raw, cdst, mdst or udst."),
        ("general_skim", "General skim, e.g. hadron."),
        ("skim_decay", "Skim decay code (8 digits)."),
        ("release", "basf2 release."),
        ("global_tag", "Global tag."),
    ]
    numbers = [
        ("exp_low", "Lowest experiment."),
        ("exp_high", "Highest experiment."),
        ("run_low", "Lowest run."),
        ("run_high", "Highest run."),
    ]
    for name, help_ in reversed(numbers):
        dashed = name.replace("_", "-")
        command = click.option(
            f"--{dashed}", f"--{name}", name, type=int, default=None, help=help_
        )(command)
    command = click.option(
        "--production",
        "--production-id",
        "--production_id",
        "--prod-id",
        "--prod_id",
        "production",
        type=int,
        default=None,
        help="Production number (the prodNNNNNNNN of official LPNs).",
    )(command)
    for name, help_ in reversed(text):
        dashed = name.replace("_", "-")
        names = [f"--{dashed}"] + ([f"--{name}"] if dashed != name else [])
        command = click.option(*names, name, default=None, help=help_)(command)
    return command


@ds.command()
@click.argument("what", type=click.Choice(["dataset", "file"]))
@_search_options
@click.option(
    "--include-bad-runs",
    "--include_bad_runs",
    "include_bad_runs",
    is_flag=True,
    help="Keep files of runs marked bad.",
)
@click.option("--plain", is_flag=True, help="One name per line (for scripts).")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write the names found to FILE, one per line.",
)
@click.pass_obj
def search(
    ctx: CliContext,
    /,
    what: str,
    plain: bool,
    output: str | None,
    **criteria: Any,
) -> None:
    """Find official datasets (LPNs) or their files (LFNs) by metadata."""
    query = SearchQuery.from_kwargs(**criteria)
    with ctx.grid() as grid:
        result = Searcher(grid.storage.catalog).search(query, files=what == "file")
    if output is not None:
        text = "".join(f"{name}\n" for name in result.names)
        Path(output).write_text(text, encoding="utf-8")
    if result.excluded_bad_runs:
        runs = ", ".join(f"{r.exp}/{r.run}" for r in result.excluded_bad_runs)
        click.echo(
            f"left out {result.excluded_files} file(s) of bad runs (exp/run): "
            f"{runs}; --include-bad-runs keeps them",
            err=True,
        )
    if not len(result):
        click.echo(result.empty_message())
        return
    if plain:
        for name in result.names:
            click.echo(name)
        return
    table = Table(title=f"{len(result)} {what}(s)", title_justify="left")
    if what == "dataset":
        table.add_column("LPN")
        for column in ("files", "events", "size"):
            table.add_column(column, justify="right")
        for d in result.datasets:
            table.add_row(d.lpn, str(d.nfiles), str(d.events), format_size(d.size))
    else:
        table.add_column("LFN")
        for column in ("exp", "run", "events", "size"):
            table.add_column(column, justify="right")
        for f in result.files:
            table.add_row(
                f.lfn,
                *("-" if v is None else str(v) for v in (f.exp, f.run, f.events)),
                format_size(f.size),
            )
    console().print(table)


@ds.command()
@click.argument("lpn")
@click.pass_obj
def meta(ctx: CliContext, lpn: str) -> None:
    """Show the metadata of dataset (or collection) LPN."""
    with ctx.grid() as grid:
        try:
            record = grid.storage.catalog.dataset(lpn)
        except NotRegistered:
            if not is_collection_lpn(lpn):
                raise
            show_record(grid.collections.get(lpn))  # or: no collection LPN
            return
    click.echo(f"{'lpn':14} {record.lpn}")
    click.echo(f"{'owner':14} {record.owner}")
    click.echo(f"{'files':14} {record.nfiles}")
    click.echo(f"{'size':14} {format_size(record.size)}")
    for key, value in record.meta.as_row().items():
        if value is not None:
            click.echo(f"{key:14} {value}")


class _Bar:
    """A rich progress bar of a download (files, bytes, rate); silent when stderr
    is not a terminal."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        out = Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.fields[files]}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=out,
            disable=not out.is_terminal,
        )
        self.task = self.progress.add_task("get", total=0, files="")
        self.total = self.done = 0

    def start(self, files: int, size: int) -> None:
        self.total = files
        self.progress.update(self.task, total=size, files=f"0/{files} files")
        self.progress.start()

    def advance(self, lfn: str, size: int, outcome: Outcome) -> None:
        self.done += 1
        files = f"{self.done}/{self.total} files"
        if outcome == "fetched":
            self.progress.update(self.task, advance=size, files=files)
        else:  # kept or failed: no bytes moved, so the rate stays honest
            total = self.progress.tasks[0].total or 0
            self.progress.update(self.task, total=total - size, files=files)

    def stop(self) -> None:
        self.progress.stop()


@ds.command()
@click.argument("target")
@click.option(
    "-o",
    "--output",
    "dest",
    required=True,
    type=click.Path(file_okay=False),
    help="Folder to download into (files keep their subNN layout).",
)
@click.option(
    "--merge",
    type=click.Path(dir_okay=False),
    default=None,
    help="Also merge the downloaded ntuples into this one ROOT file.",
)
@click.option(
    "--input-list",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Fetch only the LFNs listed (e.g. DIR/.b2grid-failed.txt).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Transfers at a time.",
)
@click.pass_obj
def get(
    ctx: CliContext,
    target: str,
    dest: str,
    merge: str | None,
    input_list: str | None,
    workers: int,
) -> None:
    """Download your project TARGET's outputs, or dataset/collection LPN TARGET.

    Checksum-verified and resumable: files already in DIR with the right adler32
    are kept, so running it again fetches only what is missing or bad. Exits 1
    when the set is incomplete (jobs not Done, files without a good replica).
    """
    only = None if input_list is None else read_failed_list(input_list)
    bar = _Bar()
    try:
        with ctx.grid() as grid:
            if target.startswith("/"):  # judged as the project's name is
                report = grid.download(
                    target, dest, workers=workers, only=only, progress=bar
                )
            else:
                report = grid.project(target).download(
                    dest, workers=workers, only=only, progress=bar
                )
    finally:
        bar.stop()
    _show(report, target, dest, merge)


def _show(report: DownloadReport, target: str, dest: str, merge: str | None) -> None:
    for warning in report.warnings:
        click.secho(f"warning: {warning}", err=True, fg="yellow")
    click.echo(report.summary())
    if not report.complete:
        for reason in report.missing:
            click.echo(f"  missing: {reason}", err=True)
        shown = sorted(report.failed.items())
        for lfn, why in shown[:10]:
            click.echo(f"  failed: {lfn}: {why}", err=True)
        if len(shown) > 10:
            click.echo(f"  ... and {len(shown) - 10} more", err=True)
        if report.failed:
            click.echo(
                f"the failed LFNs are listed in {report.failed_list}; run "
                f"`b2grid ds get {target} -o {dest}` again (it fetches only missing "
                f"or bad files) or add `--input-list {report.failed_list}`",
                err=True,
            )
        if merge is not None:
            click.echo(f"not merging into {merge}: the set is incomplete", err=True)
        raise click.exceptions.Exit(1)
    if merge is not None:
        from b2grid.formats import merge_ntuples

        paths = [report.files[lfn] for lfn in sorted(report.files)]
        ntuples = [p for p in paths if p.suffix == ".root"]
        if not ntuples:
            click.echo(f"not merging: no .root files in {report.what}", err=True)
            raise click.exceptions.Exit(1)
        meta = merge_ntuples(ntuples, merge)
        click.echo(
            f"merged {len(ntuples)} ntuple(s), {meta.nevents} rows, into {merge}"
        )
