"""The demo's full chain: data taking, prompt calibration, MC, skims, search, a user
analysis on the grid, download, plot — then a short report.

:func:`run_chain` is what `b2grid demo` runs after showing the sites: every step is
the public API a physicist or production manager would type, at a scale that runs
in a few minutes on two cores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import awkward as ak
from rich.console import Console
from rich.table import Table

from b2grid.grid import Grid
from b2grid.production.campaign import Campaign

#: exp 12 runs whose true ECL gains drift by +1.5 %: calibration has work to do
EXP, RUNS = 12, "853-856"


@dataclass
class ChainReport:
    """What the full chain did."""

    campaigns: dict[str, str] = field(default_factory=dict)
    published: bool = False
    skim_datasets: int = 0
    analysis_jobs: int = 0
    analysis_outputs: int = 0
    downloaded: int = 0
    candidates: int = 0
    #: the fullest Mbc bin of the B candidates (GeV)
    mbc_peak: float = 0.0
    plot: str = ""
    sites_used: dict[str, int] = field(default_factory=dict)
    jobs_by_state: dict[str, int] = field(default_factory=dict)
    local_fraction: float = 0.0
    bytes_moved: int = 0
    events: int = 0

    @property
    def ok(self) -> bool:
        return (
            all(s == "done" for s in self.campaigns.values())
            and self.published
            and self.skim_datasets > 0
            and self.analysis_jobs > 0
            and self.analysis_outputs == self.analysis_jobs == self.downloaded
            and abs(self.mbc_peak - 5.279) < 0.004
            and Path(self.plot).is_file()
        )


def _stage_table(campaign: Campaign) -> Table:
    table = Table(title=f"{campaign.name}: {campaign.status()}", title_justify="left")
    for column in ("stage", "status", "note"):
        table.add_column(column)
    for name, status, note in campaign.stages():
        table.add_row(name, status, note)
    return table


def _finish(campaign: Campaign, out: Console, report: ChainReport) -> None:
    status = campaign.wait(timeout=1800)
    report.campaigns[campaign.name] = status
    out.print(_stage_table(campaign))


def run_chain(
    grid: Grid, home: Path, out: Console, *, plot_dir: Path | None = None
) -> ChainReport:
    """The full chain on a started grid whose user has the production role; the
    plot goes to ``plot_dir`` (default ``home``)."""
    from b2grid.analysis.plots import mbc_deltae
    from b2grid.skims.recipes import b2dpi

    report = ChainReport()
    prod = grid.production
    out.rule("[bold]7. data taking at KEK; prompt processing with calibration")
    _finish(prod.take_data(EXP, RUNS, 0.1), out, report)
    bucket = prod.process("bucket1", EXP, RUNS, min_mumu=60)
    _finish(bucket, out, report)
    report.published = grid.conditions.tag("bucket1_prompt").published

    out.rule("[bold]8. MC: B+ -> anti-D0 pi+ signal, run-independent")
    mc = prod.produce_mc(
        "MC15ri_a", ["1213030000"], luminosity=2.0, scale=1.0, events_per_job=800
    )
    _finish(mc, out, report)

    out.rule("[bold]9. skims: BtoD0h_Kpi (14140101) and TauGeneric, combined")
    for name, source in (("MC15ri_a_skim", "MC15ri_a"), ("bucket1_skim", "bucket1")):
        _finish(prod.skim(name, source, ["BtoD0h_Kpi", "TauGeneric"]), out, report)
    table = Table(title="skim statistics (data, bucket1_skim)", title_justify="left")
    for column in ("skim", "events in", "kept", "retention", "kB/event"):
        table.add_column(column)
    for row in prod.skim_stats("bucket1_skim"):
        table.add_row(
            f"{row['code']} {row['name']}", str(row["events_in"]),
            str(row["events_kept"]), f"{row['retention']:.2%}",
            f"{row['bytes_per_event'] / 1000:.1f}",
        )  # fmt: skip
    out.print(table)

    out.rule("[bold]10. search, submit the B -> D pi analysis, download, plot")
    found = grid.datasets.search(campaign="MC15ri_a_skim", skim_decay="14140101")
    report.skim_datasets = len(found.names)
    out.print(f"ds search campaign=MC15ri_a_skim skim_decay=14140101: {found.names}")
    project = grid.submit(
        b2dpi, project="demo_bdpi", inputs=found, files_per_job=1,
        outputs=["ntuple.root"],
    )  # fmt: skip
    status = project.wait(timeout=900, progress=True)
    report.analysis_jobs = len(project.jobs())
    report.analysis_outputs = len(project.outputs())
    out.print(f"project demo_bdpi: {status}, {report.analysis_outputs} ntuples")
    dest = home / "ntuples"
    fetched = project.download(dest)
    report.downloaded = len(sorted(dest.rglob("*.root")))
    out.print(f"downloaded: {fetched}", highlight=False)
    table_ = project.to_awkward(dest)
    report.candidates = len(table_)
    (plot_dir or home).mkdir(parents=True, exist_ok=True)
    report.plot = str((plot_dir or home).resolve() / "B2Dpi_Mbc_deltaE.png")
    report.mbc_peak = mbc_deltae(
        ak.to_numpy(table_["Mbc"]), ak.to_numpy(table_["deltaE"]), report.plot,
        title="B+ -> anti-D0 pi+ (signal MC, BtoD0h_Kpi skim)",
    )  # fmt: skip
    out.print(
        f"{report.candidates} B candidates; Mbc peaks at {report.mbc_peak:.4f} GeV "
        f"(PDG B+ 5.2793); plot: {report.plot}",
        highlight=False,
    )
    _summarise(grid, report)
    return report


def _summarise(grid: Grid, report: ChainReport) -> None:
    """Sites used, jobs by state, locality and bytes moved over every project."""
    store = grid.jobs.store
    local = total = moved = 0
    for p in store.projects():
        summary = store.summary(p.project_id)
        for status, n in summary.by_status.items():
            report.jobs_by_state[status.value] = (
                report.jobs_by_state.get(status.value, 0) + n
            )
        for site, counts in summary.by_site.items():
            report.sites_used[site] = report.sites_used.get(site, 0) + sum(
                counts.values()
            )
        for state in store.states(project_id=p.project_id):
            total += 1
            local += state.remote_bytes == 0
            moved += state.remote_bytes
    report.local_fraction = local / total if total else 0.0
    report.bytes_moved = moved
    report.events = sum(int(row["events"]) for row in grid.production.status())


def report_table(report: ChainReport) -> Table:
    """The demo's closing report."""
    table = Table(title="the chain in numbers", title_justify="left")
    table.add_column("what")
    table.add_column("value")
    sites = ", ".join(f"{s} {n}" for s, n in sorted(report.sites_used.items()))
    states = ", ".join(f"{s} {n}" for s, n in sorted(report.jobs_by_state.items()))
    rows = [
        ("campaigns", ", ".join(f"{k}: {v}" for k, v in report.campaigns.items())),
        ("jobs by site", sites),
        ("jobs by state", states),
        ("jobs reading only local replicas", f"{report.local_fraction:.0%}"),
        ("bytes read remotely by jobs", f"{report.bytes_moved / 1e6:.1f} MB"),
        ("events in production outputs", str(report.events)),
        ("B candidates", str(report.candidates)),
        ("Mbc peak", f"{report.mbc_peak:.4f} GeV"),
        ("plot", report.plot),
    ]
    for what, value in rows:
        table.add_row(what, value)
    return table


__all__ = ["EXP", "RUNS", "ChainReport", "report_table", "run_chain"]
