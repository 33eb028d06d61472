"""`b2grid rule ...`: replication rules (Rucio's `rucio rule`)."""

from __future__ import annotations

import click
from rich.table import Table

from b2grid.cli._context import CliContext, console
from b2grid.storage.records import RuleRecord
from b2grid.storage.rule_book import lifetime_of


@click.group()
def rule() -> None:
    """Replication rules: keep N copies on matching sites until a time."""


@rule.command()
@click.argument("target")
@click.option("--copies", type=int, required=True, help="Copies to keep.")
@click.option(
    "--sites",
    "expression",
    required=True,
    help="Site expression, e.g. 'kind=raw_data_centre\\KEK' or 'DESY|BNL'.",
)
@click.option("--lifetime-days", type=float, default=None, help="Default: forever.")
@click.option("--comment", default=None)
@click.pass_obj
def add(
    ctx: CliContext,
    target: str,
    copies: int,
    expression: str,
    lifetime_days: float | None,
    comment: str | None,
) -> None:
    """Keep COPIES of TARGET (dataset, datablock or file) on matching sites."""
    lifetime = (
        None if lifetime_days is None else lifetime_of(lifetime_days, "--lifetime-days")
    )
    with ctx.grid() as grid:
        rule_id = grid.storage.add_rule(
            target, copies, expression, lifetime=lifetime, comment=comment
        )
        state = grid.storage.rules.rule(rule_id).state
    click.echo(f"rule {rule_id}: {state}")


def _table(rules: list[RuleRecord]) -> Table:
    table = Table(title="rules", title_justify="left")
    for column in (
        "id",
        "target",
        "copies",
        "sites",
        "state",
        "locks",
        "expires",
        "owner",
    ):
        table.add_column(column)
    for r in rules:
        locks = " ".join(f"{k}:{v}" for k, v in sorted(r.locks.items())) or "-"
        table.add_row(
            str(r.rule_id),
            r.target,
            str(r.copies),
            r.expression,
            r.state,
            locks,
            (r.expires or "never")[:19],
            r.owner,
        )
    return table


@rule.command("list")
@click.argument("target", required=False)
@click.pass_obj
def list_(ctx: CliContext, target: str | None) -> None:
    """Rules, all or on TARGET and what lies under it."""
    with ctx.grid() as grid:
        rules = grid.storage.rules.rules(target)
    console().print(_table(rules))


@rule.command()
@click.argument("rule_id", type=int)
@click.pass_obj
def show(ctx: CliContext, rule_id: int) -> None:
    """One rule in full, with the reason when it is STUCK."""
    with ctx.grid() as grid:
        r = grid.storage.rules.rule(rule_id)
    for key in (
        "rule_id",
        "target",
        "target_kind",
        "copies",
        "expression",
        "state",
        "error",
        "locks",
        "owner",
        "created",
        "expires",
        "comment",
    ):
        click.echo(f"{key:12} {getattr(r, key)}")


@rule.command()
@click.argument("rule_id", type=int)
@click.pass_obj
def rm(ctx: CliContext, rule_id: int) -> None:
    """Delete a rule: its locks go; unlocked replicas get tombstones."""
    with ctx.grid() as grid:
        grid.storage.delete_rule(rule_id)
    click.echo(f"rule {rule_id} deleted")
