"""`b2grid worker --site NAME`: join a site's worker to an external Dask scheduler."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import click

from b2grid.cli._context import CliContext
from b2grid.config import probe_scheduler
from b2grid.errors import SchedulerUnreachable
from b2grid.sites.worker import run_site_worker


@click.command()
@click.option("--site", "site_name", required=True, help="The site this worker serves.")
@click.option(
    "--scheduler",
    default=None,
    help="Scheduler address (default: `scheduler` in cluster.yaml, if not local).",
)
@click.option("--host", default=None, help="Interface or address to listen on.")
@click.pass_obj
def worker(
    ctx: CliContext, site_name: str, scheduler: str | None, host: str | None
) -> None:
    """Run one Dask worker for site NAME until Ctrl-C.

    Its name, slots (threads) and resource `site-NAME` come from cluster.yaml. While
    the site is down the worker leaves, and it rejoins when the site is up again.
    """
    cfg = ctx.config()
    site = cfg.site(site_name)
    address = scheduler or (None if cfg.embedded else cfg.scheduler)
    if address is None:
        raise click.UsageError(
            "cluster.yaml has `scheduler: local`; give the scheduler to join with "
            "--scheduler tcp://HOST:8786"
        )
    reason = probe_scheduler(address)
    if reason is not None:
        raise SchedulerUnreachable(address, reason)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    click.echo(
        f"site {site.name}: worker with {site.slots} slot(s) joining {address} "
        f"({urlsplit(address).hostname})"
    )
    run_site_worker(site, address, memory_limit=cfg.runtime.memory_limit, host=host)
    click.echo(f"site {site.name}: worker stopped")
