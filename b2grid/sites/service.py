"""Site operations as users see them: list, ban, unban, down, up, reconcile.

:class:`SiteService` joins the three parts of the site layer: the pure decisions
(:mod:`~b2grid.sites.topology`), the persistent statuses
(:mod:`~b2grid.sites.status_store`) and the Dask runtime
(:mod:`~b2grid.sites.runtime`, absent when no grid is up: then changes are only
recorded and take effect when the grid starts).
"""

from __future__ import annotations

import builtins
import threading
from dataclasses import dataclass

from b2grid.config import GridConfig
from b2grid.errors import GridError
from b2grid.sites.runtime import LiveWorker, SiteRuntime
from b2grid.sites.status_store import SiteStatusStore
from b2grid.sites.topology import (
    Site,
    SiteAction,
    SiteStatus,
    Topology,
    Verb,
    reconcile,
)
from b2grid.storage.element import StorageElement


@dataclass(frozen=True, slots=True)
class SiteView:
    """A site with what is live there now (for tables and scripts)."""

    site: Site
    #: live Dask workers of the site (empty when down, or when no grid is up)
    workers: tuple[LiveWorker, ...]
    #: bytes on the site's storage element
    se_used: int

    @property
    def live_slots(self) -> int:
        return sum(w.nthreads for w in self.workers)


class SiteService:
    """The grid's sites; every change is recorded first, then carried out."""

    def __init__(
        self,
        config: GridConfig,
        store: SiteStatusStore,
        runtime: SiteRuntime | None = None,
        *,
        owner: bool = False,
        timeout: float = 60.0,
    ) -> None:
        self.config = config
        self.store = store
        self.runtime = runtime
        #: True in the controller, which may start embedded workers
        self.owner = owner
        #: seconds to wait for workers to come or go after a change
        self.timeout = timeout
        self._lock = threading.RLock()

    # ---------------------------------------------------------------- reading

    def topology(self) -> Topology:
        """The sites and their current status."""
        return Topology.from_config(self.config, self.store.load())

    def get(self, name: str) -> Site:
        """Site ``name`` and its status; :class:`~b2grid.errors.UnknownSite` if none."""
        return self.topology().site(name)

    @property
    def names(self) -> tuple[str, ...]:
        return self.config.site_names

    def workers(self) -> builtins.list[LiveWorker]:
        """Live workers of every site (empty when no grid is up)."""
        return self.runtime.live_workers() if self.runtime is not None else []

    def list(self) -> list[SiteView]:
        """Every site, in configuration order, with live workers and SE usage."""
        by_site: dict[str, list[LiveWorker]] = {}
        for w in self.workers():
            by_site.setdefault(w.site, []).append(w)
        return [
            SiteView(
                site=s,
                workers=tuple(by_site.get(s.name, ())),
                se_used=StorageElement(s.name, s.se_url, s.capacity).used(),
            )
            for s in self.topology()
        ]

    # ---------------------------------------------------------------- changing

    def _change(self, name: str, verb: Verb) -> Site:
        with self._lock:
            statuses = self.store.update(
                lambda current: (
                    Topology.from_config(self.config, current)
                    .apply(name, verb)
                    .statuses()
                )
            )
            if self.runtime is not None:
                self.runtime.publish_status(statuses)
            return Topology.from_config(self.config, statuses).site(name)

    def ban(self, name: str) -> Site:
        """Stop new placements at ``name``; work already there finishes."""
        return self._change(name, "ban")

    def unban(self, name: str) -> Site:
        """Let ``name`` take new placements again."""
        return self._change(name, "unban")

    def down(self, name: str) -> Site:
        """Mark ``name`` down and retire its workers; work placed there waits."""
        site = self._change(name, "down")
        if self.runtime is not None:
            with self._lock:
                self.runtime.stop_site(name)
            if not self.runtime.wait_for_site(
                name, present=False, timeout=self.timeout
            ):
                raise GridError(
                    f"site {name!r} is down but its workers did not leave "
                    f"within {self.timeout:.0f} s; check the scheduler"
                )
        return site

    def up(self, name: str) -> Site:
        """Bring ``name`` back: its workers restart and waiting work runs."""
        site = self._change(name, "up")
        if self.runtime is not None and site.status is not SiteStatus.DOWN:
            self.reconcile()
            if not self.runtime.wait_for_site(name, present=True, timeout=self.timeout):
                who = (
                    "the controller" if self.runtime.cluster is None else "the cluster"
                )
                raise GridError(
                    f"site {name!r} is up but no worker joined within "
                    f"{self.timeout:.0f} s; check {who} (external sites need "
                    f"`b2grid worker --site {name}` running)"
                )
        return site

    def validate_state(self) -> None:
        """Assert the site invariants (for tests): down sites have no live workers,
        and in an embedded grid every other site has at least one."""
        if self.runtime is None:
            return
        live = self.runtime.live_sites()
        for site in self.topology():
            if site.status is SiteStatus.DOWN:
                assert site.name not in live, f"down site {site.name} has live workers"
            elif self.owner and self.runtime.cluster is not None:
                assert site.name in live, (
                    f"{site.status.value} site {site.name} has no worker"
                )

    def reconcile(self) -> builtins.list[SiteAction]:
        """One pass of the site agent: make live workers match the statuses.

        Returns the actions taken. Only the controller starts embedded workers;
        any process may retire the workers of a down site.
        """
        if self.runtime is None:
            return []
        with self._lock:
            topology = self.topology()
            self.runtime.publish_status(topology.statuses())
            actions = reconcile(topology, self.runtime.live_sites())
            done = []
            for action in actions:
                if action.verb == "stop":
                    self.runtime.stop_site(action.site)
                elif self.owner and self.runtime.cluster is not None:
                    self.runtime.start_site(self.config.site(action.site), self.config)
                else:
                    continue
                done.append(action)
            return done


__all__ = ["SiteService", "SiteView"]
