"""Central data production: data taking, prompt buckets and official processing
with calibration, and MC campaigns — each stage a project of grid jobs.

``model`` is the pure policy (stages, run ranges, merging runs into intervals of
validity, MC sizes); ``layout`` the official LPNs; ``store`` the run registry and
campaigns in the catalog; ``tasks`` what jobs run on the workers; ``stages`` how
each stage is submitted and booked; ``service`` the driver (``grid.production``);
``views`` the status and readiness tables; ``campaign`` the live :class:`Campaign`.
"""

from b2grid.production.model import PROCESSING_STAGES, StageStatus
from b2grid.production.service import Campaign, ProductionService
from b2grid.production.store import CampaignInfo, RunInfo

__all__ = [
    "PROCESSING_STAGES",
    "Campaign",
    "CampaignInfo",
    "ProductionService",
    "RunInfo",
    "StageStatus",
]
