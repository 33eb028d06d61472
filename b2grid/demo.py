"""The embedded demo: what `b2grid demo` runs, end to end, on the default grid.

It starts the grid from cluster.yaml, shows the sites and their live workers, runs a
few small jobs at every site and proves each ran there (the worker reports its own
site resource), shows a down site holding its work until it is back, a banned site
refusing new work and a dataset's copies surviving a lost site, then runs the full
chain (:mod:`b2grid.demo_chain`: data taking, prompt calibration, MC, skims, search,
a user analysis, download, plot) and prints a short report.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from b2grid.config import GridConfig
from b2grid.demo_chain import ChainReport, report_table, run_chain
from b2grid.errors import SiteBanned
from b2grid.grid import Grid
from b2grid.storage.identity import User

#: Dask memory limit the demo's workers get at least (bytes)
MEMORY = 8 * 2**30


@dataclass(frozen=True, slots=True)
class Where:
    """Where a job ran, as its payload process tells (its site and worker as the
    worker told it, its own pid: never the controller's)."""

    asked: str
    worker: str
    site: str | None
    host: str
    pid: int
    value: float

    @property
    def proven(self) -> bool:
        return self.site == self.asked


def where_am_i(asked: str, seed: int) -> Where:
    """A small job: a little numpy work, then its own account of where it ran (a
    payload process, told its site and worker as a grid job is)."""
    rng = np.random.default_rng(seed)
    value = float(np.sqrt(np.square(rng.normal(size=50_000)).mean()))
    return Where(
        asked=asked,
        worker=os.environ.get("B2GRID_WORKER", ""),
        site=os.environ.get("B2GRID_SITE") or None,
        host=socket.gethostname(),
        pid=os.getpid(),
        value=value,
    )


@dataclass
class DemoReport:
    """What the demo proved."""

    jobs: list[Where] = field(default_factory=list)
    down_site_waited: bool = False
    down_site_ran_after_up: bool = False
    banned_site_refused: bool = False
    #: files whose rule copies were made, then restored after a site loss
    data_copies_restored: bool = False
    #: the full chain: production, skims, analysis, download, plot
    chain: ChainReport | None = None

    @property
    def ok(self) -> bool:
        return (
            bool(self.jobs)
            and all(j.proven for j in self.jobs)
            and self.down_site_waited
            and self.down_site_ran_after_up
            and self.banned_site_refused
            and self.data_copies_restored
            and self.chain is not None
            and self.chain.ok
        )


def _replica_table(grid: Grid, lpn: str, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("LFN")
    table.add_column("replicas")
    for f in grid.storage.list(lpn):
        table.add_row(f.lfn, " ".join(f.available_sites))
    return table


def _data_demo(grid: Grid, home: Path, out: Console) -> bool:
    """Upload a user dataset, let the agents copy it, lose a site, repair."""
    local = home / "demo-local"
    local.mkdir(exist_ok=True)
    rng = np.random.default_rng(42)
    paths = []
    for i in range(4):
        path = local / f"ntuple_{i:03d}.root"
        path.write_bytes(rng.bytes(200_000))
        paths.append(path)
    lpn = f"/belle/user/{grid.user.name}/demo"
    names = grid.storage.put(paths, lpn, site=grid.config.sites[0].name)
    out.print(
        f"uploaded {len(names)} files into {lpn}/sub00 at {grid.config.sites[0].name}; "
        f"rule: {grid.config.policies.user_output.copies} copies for "
        f"{grid.config.policies.user_output.lifetime_days} days",
        highlight=False,
    )
    cycle = grid.storage.run_agents()
    out.print(
        f"transfers as Dask tasks at the destination: {len(cycle.conveyor.done)} done",
        highlight=False,
    )
    out.print(_replica_table(grid, lpn, "replicas"))
    copies = grid.config.policies.user_output.copies
    lost = grid.storage.list(lpn)[0].available_sites[-1]
    grid.storage.lose_site(lost)
    cycle = grid.storage.run_agents()
    out.print(
        f"{lost}'s storage declared lost: the repairer re-placed the copies, "
        f"{len(cycle.conveyor.done)} transfers, {len(cycle.repair.lost)} files lost",
        highlight=False,
    )
    out.print(_replica_table(grid, lpn, "replicas after the repair"))
    grid.sites.up(lost)
    grid.storage.validate_state()
    return all(
        len(f.available_sites) == copies and lost not in f.available_sites
        for f in grid.storage.list(lpn)
    )


@contextmanager
def _home(home: Path | None) -> Iterator[Path]:
    if home is not None:
        yield home
        return
    with tempfile.TemporaryDirectory(prefix="b2grid-demo-") as tmp:
        yield Path(tmp)


def run_demo(
    config: GridConfig,
    out: Console,
    home: Path | None = None,
    jobs_per_slot: int = 2,
    *,
    plot_dir: Path | None = None,
) -> DemoReport:
    """Run the demo on ``config`` (in a temporary home unless ``home`` is given);
    the analysis plot goes to ``plot_dir`` (default: the home)."""
    from b2grid.cli.site import site_table  # the same table `b2grid site list` shows

    report = DemoReport()
    with _home(home) as where:
        runtime = config.runtime
        if runtime.workers == "threads" and runtime.memory_limit < MEMORY:
            # threads share one process, and Dask pauses every worker when the
            # process passes 80 % of the limit: production jobs hold runs in memory
            runtime = runtime.model_copy(update={"memory_limit": MEMORY})
        cfg = config.model_copy(update={"home": where, "runtime": runtime})
        started = time.perf_counter()
        # a production manager who is also a physicist: both roles
        user = User.current(roles=("user", "production"))
        with Grid(cfg, user=user) as grid:
            grid.storage_interval = 2.0  # inputs reach the calibration centre
            out.rule("[bold]1. the grid is up")
            out.print(
                f"{len(cfg.sites)} sites started in "
                f"{time.perf_counter() - started:.1f} s; "
                f"scheduler {grid.scheduler_address}; dashboard "
                f"{grid.dashboard_link or '-'}; home {grid.home}",
                highlight=False,
            )
            out.print(site_table(grid.sites.list(), running=True))

            out.rule("[bold]2. small jobs at every site")
            futures = [
                grid.run_at(s.name, where_am_i, s.name, 1000 * i + k)
                for i, s in enumerate(cfg.sites)
                for k in range(jobs_per_slot * s.slots)
            ]
            t0 = time.perf_counter()
            report.jobs = list(grid.runtime.client.gather(futures))  # type: ignore[union-attr]
            elapsed = time.perf_counter() - t0
            table = Table(
                title="where each job ran (as its worker reports)", title_justify="left"
            )
            for column in (
                "asked for",
                "jobs",
                "ran on worker",
                "worker's site resource",
                "payload processes",
                "proof",
            ):
                table.add_column(column)
            for s in cfg.sites:
                mine = [j for j in report.jobs if j.asked == s.name]
                table.add_row(
                    s.name,
                    str(len(mine)),
                    ", ".join(sorted({j.worker for j in mine})),
                    ", ".join(sorted({f"site-{j.site}" for j in mine})),
                    str(len({j.pid for j in mine})),
                    "[green]ran there[/]"
                    if all(j.proven for j in mine)
                    else "[red]NO[/]",
                )
            out.print(table)
            out.print(f"{len(report.jobs)} jobs in {elapsed:.2f} s", highlight=False)

            out.rule("[bold]3. a site goes down, and comes back")
            down = cfg.sites[-1].name
            grid.sites.down(down)
            waiting = grid.run_at(down, where_am_i, down, 7)
            time.sleep(1.0)
            report.down_site_waited = waiting.status == "pending"
            out.print(
                f"{down} is down: a job placed there is "
                f"[bold]{waiting.status}[/] after 1 s",
                highlight=False,
            )
            grid.sites.up(down)
            after = waiting.result(timeout=60)
            report.down_site_ran_after_up = after.proven
            out.print(
                f"{down} is up again: the job ran on worker {after.worker} "
                f"(site-{after.site})",
                highlight=False,
            )

            out.rule("[bold]4. a banned site takes no new work")
            banned = cfg.sites[-2].name
            grid.sites.ban(banned)
            try:
                grid.run_at(banned, where_am_i, banned, 8)
            except SiteBanned as exc:
                report.banned_site_refused = True
                out.print(f"refused: {exc}", highlight=False)
            grid.sites.unban(banned)

            out.rule("[bold]5. data: a dataset, its copies, a lost site, the repair")
            report.data_copies_restored = _data_demo(grid, where, out)
            report.chain = run_chain(grid, where, out, plot_dir=plot_dir)
            out.rule("[bold]11. the report")
            out.print(report_table(report.chain))
            out.rule("[bold]12. shutting down")
        out.print("the grid shut down cleanly")
    verdict = "[green]demo OK[/]" if report.ok else "[red]demo FAILED[/]"
    out.print(f"{verdict}: {len(report.jobs)} jobs ran where they were placed")
    return report


__all__ = ["DemoReport", "Where", "run_demo", "where_am_i"]
