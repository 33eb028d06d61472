"""A live view of one campaign: its stages and status, and waiting for it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from b2grid.errors import WaitTimedOut
from b2grid.production import model
from b2grid.production.model import Blocked, Complete
from b2grid.production.store import CampaignInfo

if TYPE_CHECKING:
    from b2grid.production.service import ProductionService


class Campaign:
    """A live view of one campaign (``grid.production.campaign(name)``)."""

    def __init__(self, service: ProductionService, name: str) -> None:
        self._service = service
        self.name = name

    def __repr__(self) -> str:
        return f"<Campaign {self.name} {self.status()}>"

    def info(self) -> CampaignInfo:
        return self._service.store.campaign(self.name)

    def stages(self) -> list[tuple[str, str, str]]:
        """(stage, status, note) in order."""
        return [(s.name, s.status.value, s.note) for s in self.info().stages]

    def status(self) -> str:
        """``done``, ``failed`` (a stage failed), or the running stage's name."""
        info = self.info()
        if info.finished:
            return "done"
        step = model.next_step(info.stages)
        if isinstance(step, Blocked):
            return "failed"
        if isinstance(step, Complete):
            return "done"
        return step.stage

    def wait(
        self, timeout: float = 600.0, *, poll: float = 0.2, drive: bool = True
    ) -> str:
        """Drive (in the controller) and wait until done or failed; returns
        the final status. Raises :class:`~b2grid.errors.WaitTimedOut` (a
        TimeoutError) naming the stage still running.

        ``drive=False`` only watches: for a process attached to the controller
        (`b2grid production ... --wait`), whose agent loop moves the stages on.
        """
        deadline = time.monotonic() + timeout
        while True:
            if drive:
                self._service.run_once()
            status = self.status()
            if status in ("done", "failed"):
                return status
            if time.monotonic() > deadline:
                raise WaitTimedOut(
                    f"campaign {self.name} still at stage {status} after {timeout} s"
                )
            time.sleep(poll)


__all__ = ["Campaign"]
