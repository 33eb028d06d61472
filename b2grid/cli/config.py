"""`b2grid config ...`: check a cluster.yaml, or write the default one."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from b2grid.cli._context import CliContext
from b2grid.config import (
    check_scheduler,
    default_config_path,
    format_size,
    shipped_config_path,
)
from b2grid.grid import resolve_config


@click.group()
def config() -> None:
    """The grid configuration (cluster.yaml)."""


@config.command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
@click.option(
    "--offline", is_flag=True, help="Do not try to reach an external scheduler."
)
@click.pass_obj
def check(ctx: CliContext, file: str | None, offline: bool) -> None:
    """Validate FILE (default: the config in use) and say what it declares.

    Exit status 2 and one line naming the file, field and problem when it is invalid.
    The home it names is the one commands would use (``--home`` applied).
    """
    path = Path(file or ctx.config_path or default_config_path())
    cfg = resolve_config(path, ctx.home)
    if not offline:
        check_scheduler(cfg)
    raw = sum(s.kind == "raw_data_centre" for s in cfg.sites)
    slots = sum(s.slots for s in cfg.sites)
    capacity = sum(s.storage.capacity for s in cfg.sites)
    where = (
        "embedded (local)" if cfg.embedded else f"external scheduler {cfg.scheduler}"
    )
    click.echo(
        f"{path}: OK: {len(cfg.sites)} sites ({raw} raw data centres, "
        f"{len(cfg.sites) - raw} grid), {slots} job slots, "
        f"{format_size(capacity)} of storage; {where}; home {cfg.home}"
    )


@config.command()
@click.argument(
    "file", required=False, default="cluster.yaml", type=click.Path(dir_okay=False)
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(file: str, force: bool) -> None:
    """Write the embedded default grid to FILE (default ./cluster.yaml)."""
    target = Path(file)
    if target.exists() and not force:
        raise click.ClickException(f"{target} exists; pass --force to overwrite it")
    shutil.copyfile(shipped_config_path(), target)
    click.echo(f"wrote {target}; check it with `b2grid config check {target}`")
