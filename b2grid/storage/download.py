"""The download: files of a dataset to a local folder, verified, parallel, resumable.

``gb2_ds_get`` as a function. Files land under ``dest`` in their dataset's layout
(``dest/sub00/f.root``); a file already there with the catalog's adler32 is kept, the
rest are fetched from a good replica by a bounded thread pool
(:meth:`StorageService.fetch` checks every copy and fails over from a corrupt one).
The :class:`DownloadReport` says what was fetched, kept and failed, and whether the
set is complete; failures go to ``dest/.b2grid-failed.txt``, which ``only=`` takes
back. Like the rest of :mod:`b2grid.storage`, it moves opaque bytes: merging and
reading ntuples is :mod:`b2grid.formats`'s business.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from sqlalchemy import select

from b2grid.errors import BadArgument, OutputsExpired, StorageError
from b2grid.storage import lfn as lfns
from b2grid.storage.checksum import adler32_equal, adler32_of_file
from b2grid.storage.collection import Collections
from b2grid.storage.records import FILE_AVAILABLE, FILE_DELETED, FileRecord
from b2grid.storage.schema import from_iso, names

if TYPE_CHECKING:
    from b2grid.storage.service import StorageService

#: the list of LFNs that failed, one per line, in the download folder
FAILED_LIST = ".b2grid-failed.txt"
#: outputs expiring within this many days get a warning
WARN_DAYS = 14

Outcome = Literal["fetched", "skipped", "failed"]


class DownloadProgress(Protocol):
    """What a progress display is told (from the calling thread)."""

    def start(self, files: int, size: int) -> None:
        """The download begins: ``files`` files of ``size`` bytes in all."""

    def advance(self, lfn: str, size: int, outcome: Outcome) -> None:
        """One file finished: fetched, skipped (already verified) or failed."""


@dataclass(frozen=True, slots=True)
class Planned:
    """One file of the set and where it lands."""

    lfn: str
    size: int
    adler32: str
    #: the local path (under the download folder)
    path: Path
    #: why it cannot be fetched at all (lost), or None
    unfetchable: str | None = None


@dataclass
class DownloadReport:
    """What one download did, and whether the set it asked for is complete."""

    #: what was asked for (an LPN, ``project NAME``, ``N files``)
    what: str
    dest: Path
    #: every file of the set and its local path
    files: dict[str, Path] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)
    #: files already in ``dest`` with the right checksum (not fetched again)
    skipped: list[str] = field(default_factory=list)
    #: LFN -> why it could not be had
    failed: dict[str, str] = field(default_factory=dict)
    #: why the set is incomplete beyond the failed files (jobs not Done, files not
    #: asked for this time and not in ``dest``)
    missing: list[str] = field(default_factory=list)
    #: things to act on although nothing failed (outputs expiring soon)
    warnings: list[str] = field(default_factory=list)
    #: LFN -> the site it was fetched from
    sources: dict[str, str] = field(default_factory=dict)
    bytes_fetched: int = 0
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """True only when every file of the set is in ``dest``, verified."""
        return not self.failed and not self.missing

    @property
    def status(self) -> Literal["complete", "incomplete"]:
        return "complete" if self.complete else "incomplete"

    @property
    def failed_list(self) -> Path:
        """The file listing the failed LFNs (``only=`` / ``--input-list`` take it)."""
        return self.dest / FAILED_LIST

    @property
    def rate(self) -> float:
        """Bytes fetched per second of wall time."""
        return self.bytes_fetched / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """One line: counts, bytes, rate and the status (never "complete" wrongly)."""
        mb = self.bytes_fetched / 1e6
        head = (
            f"{len(self.fetched)} fetched ({mb:.1f} MB, {self.rate / 1e6:.1f} MB/s), "
            f"{len(self.skipped)} already verified, {len(self.failed)} failed"
        )
        if self.complete:
            return f"{head}: complete, all {len(self.files)} file(s) in {self.dest}"
        return f"{head}: INCOMPLETE, {self.what} is not complete in {self.dest}"

    def __repr__(self) -> str:
        return f"DownloadReport({self.what}: {self.summary()})"


@dataclass(frozen=True, slots=True)
class _Dataset:
    """A dataset the set touches: its expiry facts."""

    lpn: str
    #: the latest end of the rules keeping it (None: kept for ever, or no rule)
    expires: datetime | None
    ruled: bool


class Downloader:
    """Downloads for one storage service (``grid.storage``)."""

    def __init__(self, storage: StorageService) -> None:
        self.storage = storage

    def download(
        self,
        names: str | Sequence[str],
        dest: str | os.PathLike[str],
        *,
        workers: int = 4,
        only: Iterable[str] | None = None,
        progress: DownloadProgress | None = None,
        what: str | None = None,
        pending: Sequence[str] = (),
        extend_hint: str | None = None,
    ) -> DownloadReport:
        """Download ``names`` (dataset, datablock or collection LPNs, or LFNs) to
        ``dest``; see :func:`download`. ``workers`` < 1 raises
        :class:`~b2grid.errors.BadArgument`."""
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise BadArgument(
                "workers", f"{workers!r} transfers at a time; give a whole number >= 1"
            )
        asked = [names] if isinstance(names, str) else list(names)
        if not asked:
            raise StorageError("nothing to download: give an LPN or LFNs")
        label = what or (asked[0] if len(asked) == 1 else f"{len(asked)} names")
        root = Path(dest)
        _check_writable(root)
        now = self.storage.clock.now()
        plan, deleted = self._plan(asked, root)
        datasets = self._datasets(plan, deleted)
        report = DownloadReport(label, root, files={p.lfn: p.path for p in plan})
        report.missing.extend(pending)
        if not plan:
            gone = [d for d in datasets if not d.ruled]
            if deleted and gone:
                raise self._expired(label, gone[0].lpn, deleted)
            report.missing.append(f"{label} has no files yet")
        report.warnings.extend(self._warnings(label, datasets, now, extend_hint))
        wanted = None if only is None else {s.strip() for s in only if s.strip()}
        todo = plan
        if wanted is not None:
            known = {p.lfn for p in plan}
            for lfn in sorted(wanted - known):
                report.failed[lfn] = f"not a file of {label}"
            todo = [p for p in plan if p.lfn in wanted]
            absent = [
                p
                for p in plan
                if p.lfn not in wanted and not _same_size(p.path, p.size)
            ]
            if absent:
                report.missing.append(
                    f"{len(absent)} file(s) of {label} are not in {root} and were not "
                    "asked for this time; run again without the input list"
                )
        started = time.perf_counter()
        try:
            self._run(todo, report, workers, progress)
        finally:
            report.seconds = time.perf_counter() - started
            _write_failed(report)
        return report

    # ------------------------------------------------------------------ planning

    def _plan(
        self, asked: Sequence[str], dest: Path
    ) -> tuple[list[Planned], list[FileRecord]]:
        """The files of ``asked`` with their local paths, and the deleted ones."""
        collections = Collections(self.storage.catalog)
        found: list[tuple[str | None, FileRecord]] = []
        for name in asked:
            name = lfns.validate_lfn(name)
            parts = (
                collections.expand([name])
                if collections.is_collection(name)
                else [name]
            )
            for part in parts:
                records = self.storage.catalog.files_of(part, include_lost=True)
                single = len(records) == 1 and records[0].lfn == part
                found += [(None if single else part, r) for r in records]
        roots = sorted({r for r, _ in found if r is not None})
        prefixes = _prefixes(roots)
        plan: dict[str, Planned] = {}
        deleted: dict[str, FileRecord] = {}
        for root, record in found:
            if record.state == FILE_DELETED:
                deleted[record.lfn] = record
                continue
            if record.lfn in plan:
                continue
            if root is None:
                rel = lfns.basename(record.lfn)
            else:
                rel = posixpath.join(prefixes[root], record.lfn[len(root) + 1 :])
            why = None
            if record.state != FILE_AVAILABLE:
                why = (
                    f"the file is {record.state}: no replica of it survives, so it "
                    "cannot be downloaded (its producer must make it again)"
                )
            plan[record.lfn] = Planned(
                record.lfn, record.size, record.adler32, dest / rel, why
            )
        return sorted(plan.values(), key=lambda p: p.lfn), list(deleted.values())

    def _datasets(
        self, plan: Sequence[Planned], deleted: Sequence[FileRecord]
    ) -> list[_Dataset]:
        lpns = sorted({_dataset_of(p.lfn) for p in plan})
        lpns += sorted({_dataset_of(r.lfn) for r in deleted} - set(lpns))
        out = []
        for lpn in lpns:
            rules = self.storage.rules.rules(target=lpn)
            ends = [r.expires for r in rules]
            expires = (
                None
                if not rules or any(e is None for e in ends)
                else max(from_iso(e) for e in ends if e is not None)
            )
            out.append(_Dataset(lpn, expires, bool(rules)))
        return out

    def _warnings(
        self,
        label: str,
        datasets: Sequence[_Dataset],
        now: datetime,
        extend_hint: str | None,
    ) -> list[str]:
        hint = extend_hint or "add a rule to keep them (`b2grid rule add ...`)"
        out = []
        for ds in datasets:
            if ds.expires is not None and ds.expires - now <= timedelta(days=WARN_DAYS):
                days = max((ds.expires - now).total_seconds() / 86400, 0.0)
                named = label if ds.lpn in label else f"{label} ({ds.lpn})"
                out.append(
                    f"the outputs of {named} expire on "
                    f"{ds.expires.date().isoformat()} (in {days:.1f} days); download "
                    f"them now, or keep them longer: {hint}"
                )
            elif not ds.ruled and lfns.namespace_of(ds.lpn).kind in ("user", "group"):
                out.append(
                    f"no rule keeps {ds.lpn} any more (its lifetime ended); its "
                    "replicas may be deleted at any moment: download them now"
                )
        return out

    def _expired(
        self, label: str, lpn: str, deleted: Sequence[FileRecord]
    ) -> OutputsExpired:
        """The error for a set whose files all went with their expired rule."""
        with self.storage.catalog.reading() as conn:
            stamps = [
                row.deleted
                for row in conn.execute(
                    select(names.c.deleted).where(
                        names.c.name.in_([r.lfn for r in deleted][:500])
                    )
                )
                if row.deleted is not None
            ]
        when = max(stamps) if stamps else "an unknown date"
        lifetime = None
        if lfns.namespace_of(lpn).kind in ("user", "group"):
            lifetime = float(self.storage.config.policies.user_output.lifetime_days)
        return OutputsExpired(label, lpn, when, lifetime)

    # ------------------------------------------------------------------ transfers

    def _run(
        self,
        todo: Sequence[Planned],
        report: DownloadReport,
        workers: int,
        progress: DownloadProgress | None,
    ) -> None:
        if progress is not None:
            progress.start(len(todo), sum(p.size for p in todo))
        queue = list(reversed(todo))
        running: dict[Future[tuple[Outcome, str]], Planned] = {}
        with ThreadPoolExecutor(max_workers=workers) as pool:
            try:
                while queue or running:
                    # at most ``workers`` in flight: an interruption leaves no queue
                    while queue and len(running) < workers:
                        item = queue.pop()
                        running[pool.submit(self._one, item)] = item
                    done, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        item = running[future]
                        outcome, detail = _result(future)
                        del running[future]
                        if outcome == "fetched":
                            report.fetched.append(item.lfn)
                            report.sources[item.lfn] = detail
                            report.bytes_fetched += item.size
                        elif outcome == "skipped":
                            report.skipped.append(item.lfn)
                        else:
                            report.failed[item.lfn] = detail
                        if progress is not None:
                            progress.advance(item.lfn, item.size, outcome)
            except BaseException:
                # interrupted: whatever did not finish is failed, so the failed
                # list written on the way out lets a re-run take exactly those
                for future, item in running.items():
                    future.cancel()
                    report.failed.setdefault(item.lfn, "interrupted")
                for item in queue:
                    report.failed.setdefault(item.lfn, "interrupted")
                raise

    def _one(self, item: Planned) -> tuple[Outcome, str]:
        """Keep a verified local copy, or fetch one: (outcome, site or reason)."""
        if item.unfetchable is not None:
            return "failed", item.unfetchable
        if _same_size(item.path, item.size) and adler32_equal(
            item.adler32, adler32_of_file(item.path)
        ):
            return "skipped", ""
        try:
            site = self.storage.fetch(item.lfn, item.path)
        except (StorageError, OSError) as exc:
            return "failed", str(exc)
        return "fetched", site


def _check_writable(root: Path) -> None:
    """Refuse a destination that cannot take files, before anything is fetched."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".b2grid-probe-"):
            pass
    except OSError as exc:
        raise StorageError(
            f"download directory {root} is not writable ({exc.strerror or exc}); "
            "choose another with -o DIR; nothing was fetched"
        ) from None


def download(
    storage: StorageService,
    lfns_or_dataset: str | Sequence[str],
    dest: str | os.PathLike[str],
    *,
    workers: int = 4,
    only: Iterable[str] | None = None,
    progress: DownloadProgress | None = None,
    what: str | None = None,
    pending: Sequence[str] = (),
    extend_hint: str | None = None,
) -> DownloadReport:
    """Download files to ``dest``, checksum-verified, at most ``workers`` at a time.

    ``lfns_or_dataset`` is a dataset, datablock or collection LPN, an LFN, or a
    list of them. Files land in their dataset's layout (``dest/sub00/f.root``; one
    folder per dataset when several are asked; a single LFN by its base name). A
    file already in ``dest`` whose adler32 is the catalog's is kept, not fetched
    again, so a re-run after an interruption fetches only what is missing or bad.
    ``only`` restricts the transfers to these LFNs (e.g. the lines of
    ``dest/.b2grid-failed.txt``, written whenever files fail). ``pending`` are
    reasons the set is incomplete that the caller knows (jobs not Done);
    ``what`` names the set in messages and ``extend_hint`` says how to keep it
    longer.

    Nothing is ever reported complete that is not: a file that failed (no good
    replica, lost, interrupted), a reason in ``pending`` or a file neither in
    ``dest`` nor fetched makes :attr:`DownloadReport.status` ``"incomplete"``.
    Outputs expiring within 14 days add a warning; outputs whose rule ended and
    whose replicas were deleted raise :class:`~b2grid.errors.OutputsExpired`.

    Examples
    --------
    >>> import tempfile
    >>> from b2grid.testing import offline_grid
    >>> home = tempfile.mkdtemp()
    >>> grid = offline_grid(home)
    >>> src = Path(home, "f.root")
    >>> _ = src.write_bytes(b"x" * 100)
    >>> lpn = f"/belle/user/{grid.user.name}/dl"
    >>> (lfn,) = grid.storage.put([src], lpn, site="KEK")
    >>> report = download(grid.storage, lpn, Path(home, "out"))
    >>> report.status, report.fetched == [lfn], Path(home, "out/sub00/f.root").exists()
    ('complete', True, True)
    >>> download(grid.storage, lpn, Path(home, "out")).skipped == [lfn]
    True
    >>> grid.close()
    >>> import shutil
    >>> shutil.rmtree(home)
    """
    return Downloader(storage).download(
        lfns_or_dataset,
        dest,
        workers=workers,
        only=only,
        progress=progress,
        what=what,
        pending=pending,
        extend_hint=extend_hint,
    )


def local_paths(
    lfn_list: Iterable[str], root_lpn: str, dest: str | os.PathLike[str]
) -> dict[str, Path]:
    """Where the files of dataset ``root_lpn`` land under ``dest`` (as
    :func:`download` puts them)."""
    out = {}
    for lfn in lfn_list:
        if not lfn.startswith(root_lpn + "/"):
            raise BadArgument("lfn_list", f"{lfn} is not under {root_lpn}")
        out[lfn] = Path(dest) / lfn[len(root_lpn) + 1 :]
    return out


def read_failed_list(path: str | os.PathLike[str]) -> list[str]:
    """The LFNs of a failed list (one per line; blank lines and ``#`` ignored)."""
    text = Path(path).read_text(encoding="utf-8")
    return [s.strip() for s in text.splitlines() if s.strip() and s[0] != "#"]


def _prefixes(roots: Sequence[str]) -> dict[str, str]:
    """The local folder of each root: none for one, else its base name (or its
    whole path, when base names collide)."""
    if len(roots) <= 1:
        return dict.fromkeys(roots, "")
    bases = [lfns.basename(r) for r in roots]
    if len(set(bases)) == len(bases):
        return dict(zip(roots, bases, strict=True))
    return {r: r.lstrip("/") for r in roots}


def _dataset_of(lfn: str) -> str:
    """The dataset LPN of a file LFN (``<lpn>/subNN/<name>``)."""
    split = lfns.split_datablock(lfn)
    if split is not None:
        return split[0]
    return lfns.dirname(lfn)


def _same_size(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except OSError:
        return False


def _result(future: Future[tuple[Outcome, str]]) -> tuple[Outcome, str]:
    try:
        return future.result()
    except Exception as exc:  # a bug or an unexpected I/O error: one file fails
        return "failed", f"{type(exc).__name__}: {exc}"


def _write_failed(report: DownloadReport) -> None:
    """Write (or, with no failures, remove) ``dest/.b2grid-failed.txt``."""
    path = report.failed_list
    if not report.failed:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(f"{lfn}\n" for lfn in sorted(report.failed)), "utf-8")
    os.replace(tmp, path)


__all__ = [
    "FAILED_LIST",
    "WARN_DAYS",
    "DownloadProgress",
    "DownloadReport",
    "Downloader",
    "Planned",
    "download",
    "local_paths",
    "read_failed_list",
]
