"""Sites: which Dask workers are which computing site, and site up/down/banned.

Pure decisions live in :mod:`~b2grid.sites.topology`; the Dask side in
:mod:`~b2grid.sites.runtime` and :mod:`~b2grid.sites.worker`.
"""

from b2grid.sites.service import SiteService, SiteView
from b2grid.sites.topology import Site, SiteStatus, Topology, resource_name

__all__ = ["Site", "SiteService", "SiteStatus", "SiteView", "Topology", "resource_name"]
