"""The Dask side of the sites: start, watch, place at, stop and restart site workers.

A :class:`SiteRuntime` owns one ``distributed.Client``. Embedded, it also owns a
``SpecCluster`` with one worker per site, named after the site and carrying the Dask
resource ``site-NAME = slots``; external, the workers are started elsewhere by
``b2grid worker`` and only retired from here. The runtime carries out what the pure
site layer (:mod:`b2grid.sites.topology`) decides; it decides nothing itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from distributed import Client, Future, Nanny, Scheduler, SpecCluster, Status, Worker

from b2grid.config import GridConfig, SiteConfig, dashboard_address
from b2grid.errors import GridError, SchedulerUnreachable
from b2grid.sites.topology import SiteStatus, resource_name, site_of_resources

#: scheduler metadata key under which the controller publishes site status, so that
#: `b2grid worker` supervisors on other machines know when their site is down
STATUS_METADATA_KEY = "b2grid-site-status"


@dataclass(frozen=True, slots=True)
class LiveWorker:
    """A Dask worker that belongs to a site."""

    site: str
    name: str
    address: str
    nthreads: int


def worker_spec(site: SiteConfig, config: GridConfig) -> dict[str, Any]:
    """The SpecCluster entry for one embedded site worker."""
    cls = Nanny if config.runtime.workers == "processes" else Worker
    return {
        "cls": cls,
        "options": {
            "name": site.name,
            "nthreads": site.slots,
            "resources": {resource_name(site.name): site.slots},
            "memory_limit": config.runtime.memory_limit,
            "host": "127.0.0.1",
        },
    }


class SiteRuntime:
    """Site workers on a Dask cluster, seen and steered through one client."""

    def __init__(self, client: Client, cluster: SpecCluster | None = None) -> None:
        #: the client every placement goes through
        self.client = client
        #: the embedded cluster, or None when the workers are started elsewhere
        self.cluster = cluster

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    def start_embedded(
        cls, config: GridConfig, statuses: dict[str, SiteStatus] | None = None
    ) -> SiteRuntime:
        """Start a scheduler on loopback and one worker per site that is not down."""
        statuses = statuses or {}
        dashboard = config.runtime.dashboard
        workers = {
            s.name: worker_spec(s, config)
            for s in config.sites
            if statuses.get(s.name, SiteStatus.ACTIVE) is not SiteStatus.DOWN
        }
        scheduler = {
            "cls": Scheduler,
            "options": {
                "host": "127.0.0.1",
                "port": 0,
                # the scheduler's HTTP server always runs; without a dashboard it
                # takes any free port rather than trying (and leaking) :8787;
                # on loopback unless a host is named (also for unvalidated configs)
                "dashboard_address": dashboard_address(dashboard or ":0"),
                "dashboard": dashboard is not None,
            },
        }
        cluster = SpecCluster(
            workers=workers,
            scheduler=scheduler,
            silence_logs=logging.WARNING,
            name="b2grid",
        )
        try:
            client = Client(cluster, set_as_default=False)
            client.wait_for_workers(len(workers), timeout=60)
        except BaseException:
            cluster.close()
            raise
        return cls(client, cluster)

    @classmethod
    def connect(cls, address: str, timeout: float = 10) -> SiteRuntime:
        """Attach to a running scheduler (external workers, or another controller)."""
        try:
            client = Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise SchedulerUnreachable(
                address, str(exc) or type(exc).__name__
            ) from None
        return cls(client)

    @property
    def scheduler_address(self) -> str:
        return str(self.client.scheduler_info(n_workers=0)["address"])

    @property
    def dashboard_link(self) -> str | None:
        if self.cluster is not None and "dashboard" in self.cluster.scheduler_info.get(
            "services", {}
        ):
            return str(self.client.dashboard_link)
        try:
            info = self.client.scheduler_info(n_workers=0)
        except Exception:
            return None
        return (
            str(self.client.dashboard_link)
            if "dashboard" in info.get("services", {})
            else None
        )

    def close(self) -> None:
        """Disconnect; an embedded cluster is shut down with its workers."""
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()

    # ------------------------------------------------------------------ observing

    def live_workers(self) -> list[LiveWorker]:
        """Workers connected now, each with its site (site-less ones skipped)."""
        info = self.client.scheduler_info(n_workers=-1)
        out = []
        for address, w in info["workers"].items():
            site = site_of_resources(w.get("resources") or {})
            if site is not None:
                out.append(
                    LiveWorker(site, str(w.get("name")), address, int(w["nthreads"]))
                )
        return sorted(out, key=lambda w: (w.site, w.name))

    def live_sites(self) -> set[str]:
        return {w.site for w in self.live_workers()}

    def wait_for_site(self, site: str, present: bool, timeout: float) -> bool:
        """Wait until ``site`` has (or, ``present=False``, has no) live workers."""
        deadline = time.monotonic() + timeout
        while True:
            if (site in self.live_sites()) == present:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)

    # ------------------------------------------------------------------ acting

    def submit(
        self, site: str, fn: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Future[Any]:
        """Run ``fn(*args, **kwargs)`` on one slot of ``site``'s workers, only there."""
        return self.client.submit(
            fn, *args, resources={resource_name(site): 1}, pure=False, **kwargs
        )

    def stop_site(self, site: str) -> None:
        """Retire every worker of ``site``; its running tasks go back to waiting."""
        addresses = [w.address for w in self.live_workers() if w.site == site]
        if self.cluster is not None:
            # forget the spec first, so that the cluster does not start it again
            self.cluster.worker_spec.pop(site, None)
        if addresses:
            # graceful: results held there move to other workers before it closes
            self.client.retire_workers(workers=addresses, close_workers=True)
        if self.cluster is not None:
            # the closed worker must also leave `cluster.workers`, or a restart under
            # the same name would be taken as already running
            self.cluster.scale(len(self.cluster.worker_spec))
            deadline = time.monotonic() + 30
            while site in self.cluster.workers and time.monotonic() < deadline:
                time.sleep(0.02)

    def start_site(self, site: SiteConfig, config: GridConfig) -> None:
        """(Re)start an embedded site's worker; external workers restart themselves."""
        if self.cluster is None:
            return
        if site.name not in self.cluster.worker_spec:
            self.cluster.worker_spec[site.name] = worker_spec(site, config)
        old = self.cluster.workers.get(site.name)
        if old is not None and old.status in (
            Status.closing,
            Status.closed,
            Status.failed,
        ):
            # a worker that died on its own is still listed; the cluster would take
            # it as running and start nothing
            del self.cluster.workers[site.name]
        # scale to the current spec size: starts what the spec has and the cluster lacks
        self.cluster.scale(len(self.cluster.worker_spec))

    def publish_status(self, statuses: dict[str, SiteStatus]) -> None:
        """Tell every worker supervisor the site statuses (scheduler metadata)."""
        try:
            self.client.set_metadata(
                STATUS_METADATA_KEY, {k: v.value for k, v in statuses.items()}
            )
        except Exception as exc:  # the scheduler went away under us
            raise GridError(
                f"could not publish site status to the scheduler: {exc}"
            ) from exc


__all__ = ["STATUS_METADATA_KEY", "LiveWorker", "SiteRuntime", "worker_spec"]
