"""A site's worker on an external cluster: what `b2grid worker --site NAME` runs.

:func:`serve_site_worker` keeps one real ``distributed.Worker`` for a site connected to
a scheduler, named ``SITE@host:pid``, with ``nthreads = slots`` and resource
``site-SITE = slots``. Like a site's pilot factory it watches the status the controller
publishes on the scheduler: while the site is down it starts no worker; when the
controller retires the worker (site down) it waits for the site to come back up and
starts a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time

from distributed import Worker
from distributed.core import rpc

from b2grid.config import SiteConfig
from b2grid.errors import SchedulerUnreachable
from b2grid.sites.runtime import STATUS_METADATA_KEY
from b2grid.sites.topology import SiteStatus, resource_name

log = logging.getLogger("b2grid.worker")


async def fetch_site_status(scheduler: str, site: str) -> SiteStatus:
    """The status the controller published for ``site`` (active when none was)."""
    async with rpc(scheduler) as remote:
        value = await remote.get_metadata(
            keys=[STATUS_METADATA_KEY, site], default=None
        )
    return SiteStatus(value) if value else SiteStatus.ACTIVE


async def serve_site_worker(
    site: SiteConfig,
    scheduler: str,
    *,
    memory_limit: int | str = "auto",
    host: str | None = None,
    poll: float = 0.5,
    death_timeout: float = 60.0,
    stop: asyncio.Event | None = None,
) -> None:
    """Keep a worker for ``site`` on ``scheduler`` until ``stop`` is set.

    Raises :class:`SchedulerUnreachable` when the scheduler has not answered for
    ``death_timeout`` seconds.
    """
    stop = stop or asyncio.Event()
    generation = 0
    last_contact = time.monotonic()
    while not stop.is_set():
        try:
            status = await asyncio.wait_for(fetch_site_status(scheduler, site.name), 10)
            last_contact = time.monotonic()
        except (OSError, asyncio.TimeoutError) as exc:
            if time.monotonic() - last_contact > death_timeout:
                raise SchedulerUnreachable(
                    scheduler, str(exc) or type(exc).__name__
                ) from None
            await _sleep_or_stop(stop, poll)
            continue
        if status is SiteStatus.DOWN:
            await _sleep_or_stop(stop, poll)
            continue
        generation += 1
        name = f"{site.name}@{socket.gethostname()}:{os.getpid()}"
        if generation > 1:
            name += f"#{generation}"
        worker = Worker(
            scheduler,
            name=name,
            nthreads=site.slots,
            resources={resource_name(site.name): site.slots},
            memory_limit=memory_limit,
            host=host,
            death_timeout=death_timeout,
        )
        await worker
        log.info("site %s: worker %s joined %s", site.name, worker.address, scheduler)
        finished = asyncio.ensure_future(worker.finished())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({finished, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not finished.done():
            await worker.close()
            finished.cancel()
            break
        log.info("site %s: worker %s left the scheduler", site.name, name)


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def run_site_worker(site: SiteConfig, scheduler: str, **kwargs: object) -> None:
    """Run :func:`serve_site_worker` until SIGINT or SIGTERM."""

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve_site_worker(site, scheduler, stop=stop, **kwargs)  # type: ignore[arg-type]

    asyncio.run(main())


__all__ = ["fetch_site_status", "run_site_worker", "serve_site_worker"]
