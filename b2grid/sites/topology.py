"""Sites and their status: the pure part of the site layer.

A :class:`Topology` is an immutable view of the grid's sites and their status
(``active`` | ``banned`` | ``down``). Status changes are decided by :func:`transition`
and placements are judged by :meth:`Topology.check_placement`; neither touches Dask,
disk or a clock. :func:`reconcile` turns "what the statuses say" and "which sites have
live workers" into the actions a runtime must carry out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from typing import Literal

from b2grid.config import GridConfig, SiteKind
from b2grid.errors import SiteBanned, SiteDown, SiteError, UnknownSite

RESOURCE_PREFIX = "site-"


class SiteStatus(str, Enum):
    """What a site may do.

    ``active`` runs work; ``banned`` keeps its workers and finishes what it has but
    takes no new placements; ``down`` has no workers: placed work waits for it.
    """

    ACTIVE = "active"
    BANNED = "banned"
    DOWN = "down"


Verb = Literal["ban", "unban", "down", "up"]


def resource_name(site: str) -> str:
    """The Dask resource a site's workers carry and its placed tasks ask for."""
    return f"{RESOURCE_PREFIX}{site}"


def site_of_resources(resources: Mapping[str, float]) -> str | None:
    """The site a worker belongs to, read from its Dask resources (None if none)."""
    for key in resources:
        if key.startswith(RESOURCE_PREFIX):
            return key[len(RESOURCE_PREFIX) :]
    return None


@dataclass(frozen=True, slots=True)
class Site:
    """One computing site as the grid sees it."""

    name: str
    kind: SiteKind
    country: str
    #: concurrent jobs (the amount of Dask resource ``site-NAME`` it offers)
    slots: int
    #: storage element URL, ``{home}`` already resolved
    se_url: str
    #: storage element capacity in bytes
    capacity: int
    status: SiteStatus = SiteStatus.ACTIVE

    @property
    def resource(self) -> str:
        return resource_name(self.name)


def transition(site: str, status: SiteStatus, verb: Verb) -> SiteStatus:
    """The status after ``verb``; raises :class:`SiteError` for a refused change.

    ``down`` works from any status; ``up`` brings a down site back as active (and
    leaves a banned or active site as it is); ``ban``/``unban`` need the site up.
    """
    if verb == "down":
        return SiteStatus.DOWN
    if verb == "up":
        return SiteStatus.ACTIVE if status is SiteStatus.DOWN else status
    if status is SiteStatus.DOWN:
        raise SiteError(
            f"site {site!r} is down; bring it up (`b2grid site up {site}`) before "
            f"you {verb} it",
            site,
        )
    return SiteStatus.BANNED if verb == "ban" else SiteStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class Topology:
    """All sites of a grid, in configuration order, with their status."""

    sites: tuple[Site, ...]

    @classmethod
    def from_config(
        cls, config: GridConfig, statuses: Mapping[str, SiteStatus] | None = None
    ) -> Topology:
        """Sites from ``config``; status from ``statuses`` (active when absent)."""
        statuses = statuses or {}
        return cls(
            tuple(
                Site(
                    name=s.name,
                    kind=s.kind,
                    country=s.country,
                    slots=s.slots,
                    se_url=s.storage.resolved_url(config.home),
                    capacity=s.storage.capacity,
                    status=statuses.get(s.name, SiteStatus.ACTIVE),
                )
                for s in config.sites
            )
        )

    def __iter__(self) -> Iterator[Site]:
        return iter(self.sites)

    def __len__(self) -> int:
        return len(self.sites)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sites)

    def site(self, name: str) -> Site:
        """The site called ``name``; :class:`UnknownSite` lists the known ones."""
        for s in self.sites:
            if s.name == name:
                return s
        raise UnknownSite(name, self.names)

    def with_status(self, name: str, status: SiteStatus) -> Topology:
        self.site(name)
        return Topology(
            tuple(
                replace(s, status=status) if s.name == name else s for s in self.sites
            )
        )

    def apply(self, name: str, verb: Verb) -> Topology:
        """The topology after ``verb`` on site ``name`` (see :func:`transition`)."""
        return self.with_status(name, transition(name, self.site(name).status, verb))

    def check_placement(self, name: str, *, wait_if_down: bool = True) -> Site:
        """The site a new task may be placed at, or the reason it may not.

        A banned site refuses new placements (:class:`SiteBanned`); a down site takes
        them to run when it is back up, unless ``wait_if_down`` is False
        (:class:`SiteDown`).
        """
        site = self.site(name)
        if site.status is SiteStatus.BANNED:
            raise SiteBanned(name)
        if site.status is SiteStatus.DOWN and not wait_if_down:
            raise SiteDown(name)
        return site

    def statuses(self) -> dict[str, SiteStatus]:
        return {s.name: s.status for s in self.sites}


@dataclass(frozen=True, slots=True)
class SiteAction:
    """What a runtime must do to make the workers match the statuses."""

    verb: Literal["start", "stop"]
    site: str


def reconcile(topology: Topology, live: Iterable[str]) -> list[SiteAction]:
    """Actions that bring workers in line with site status.

    ``live`` names the sites that have at least one live worker. A down site with
    workers is stopped; an active or banned site without workers is started (a
    banned site keeps its workers so that work already there can finish).
    """
    live = set(live)
    actions = []
    for site in topology:
        if site.status is SiteStatus.DOWN and site.name in live:
            actions.append(SiteAction("stop", site.name))
        elif site.status is not SiteStatus.DOWN and site.name not in live:
            actions.append(SiteAction("start", site.name))
    return actions


__all__ = [
    "RESOURCE_PREFIX",
    "Site",
    "SiteAction",
    "SiteStatus",
    "Topology",
    "Verb",
    "reconcile",
    "resource_name",
    "site_of_resources",
    "transition",
]
