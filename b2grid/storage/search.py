"""The dataset searcher: official samples by metadata, the gb2_ds_search vocabulary.

A :class:`SearchQuery` is validated when built; :func:`dataset_select` turns it into
one SQL select (a pure function); :class:`Searcher` runs it on one catalog snapshot,
leaves out files of bad runs unless asked, says which runs it left out and, for an
empty result, which criterion emptied it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import (
    Connection,
    FromClause,
    Select,
    and_,
    func,
    or_,
    select,
)
from sqlalchemy.sql.elements import ColumnElement

from b2grid.errors import BadQuery, UnknownValue, did_you_mean
from b2grid.storage.records import FILE_AVAILABLE, DatasetMeta
from b2grid.storage.schema import datablocks, datasets, files, run_quality

if TYPE_CHECKING:
    from b2grid.storage.catalog import Catalog

#: fields limited to a fixed vocabulary, and their allowed values
CHOICES: dict[str, tuple[str, ...]] = {
    "data_type": ("data", "mc"),
    "bg_level": ("BGx0", "BGx1"),
    "data_level": ("raw", "cdst", "mdst", "udst"),
}
#: free-text fields matched exactly or with the wildcards ``*`` and ``?``
PATTERN_FIELDS = (
    "campaign",
    "beam_energy",
    "mc_event_type",
    "general_skim",
    "release",
    "global_tag",
)
#: fields whose value (without wildcards) must be carried by some dataset
KNOWN_FIELDS = (
    "campaign",
    "beam_energy",
    "mc_event_type",
    "data_level",
    "general_skim",
    "release",
    "global_tag",
)
#: run qualities; files of ``bad`` runs are left out of searches
RUN_QUALITIES = ("good", "bad", "unknown")

_SKIM_CODE = re.compile(r"[0-9]{8}")
_NUMBER_FIELDS = ("production", "exp_low", "exp_high", "run_low", "run_high")


def has_wildcard(value: str) -> bool:
    """Whether ``value`` is a pattern (``*`` or ``?``) rather than a plain value."""
    return "*" in value or "?" in value


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """What to search for; every criterion given must hold (``None``: any).

    Ranges select the datasets whose ``[exp_low..exp_high]`` (``[run_low..
    run_high]``) interval overlaps the query's; a dataset without the bound in
    question does not match a range.

    Examples
    --------
    >>> SearchQuery(campaign="proc1?", exp_low=12).criteria()
    (('campaign', 'proc1?'), ('exp_low', 12))
    >>> SearchQuery(exp_low=14, exp_high=12)
    Traceback (most recent call last):
    ...
    b2grid.errors.BadQuery: bad search: exp_low=14: inverted range: exp_low 14 > exp_high 12
    """  # noqa: E501 - a doctest line cannot be wrapped

    data_type: str | None = None
    campaign: str | None = None
    #: the production number (``prod<8 digits>`` in official LPNs)
    production: int | None = None
    beam_energy: str | None = None
    mc_event_type: str | None = None
    bg_level: str | None = None
    data_level: str | None = None
    general_skim: str | None = None
    #: the 8-digit skim decay code
    skim_decay: str | None = None
    exp_low: int | None = None
    exp_high: int | None = None
    run_low: int | None = None
    run_high: int | None = None
    release: str | None = None
    global_tag: str | None = None
    #: keep files of bad runs (they are left out by default)
    include_bad_runs: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or f.name == "include_bad_runs":
                continue
            if f.name in _NUMBER_FIELDS:
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise BadQuery(f.name, value, "must be a whole number >= 0")
                if f.name == "production" and value >= 10**8:
                    raise BadQuery(f.name, value, "a production number has 8 digits")
            elif not isinstance(value, str) or not value:
                raise BadQuery(f.name, value, "must be a non-empty text")
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise BadQuery(
                    name,
                    value,
                    f"not one of {', '.join(allowed)}{did_you_mean(value, allowed)}",
                )
        if self.skim_decay is not None and not _SKIM_CODE.fullmatch(self.skim_decay):
            raise BadQuery(
                "skim_decay", self.skim_decay, "a skim decay code has 8 digits"
            )
        for low, high in (("exp_low", "exp_high"), ("run_low", "run_high")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise BadQuery(low, lo, f"inverted range: {low} {lo} > {high} {hi}")
        if not isinstance(self.include_bad_runs, bool):
            raise BadQuery("include_bad_runs", self.include_bad_runs, "must be a bool")

    @classmethod
    def from_kwargs(cls, **criteria: Any) -> SearchQuery:
        """A query from keyword arguments; :class:`BadQuery` names an unknown one."""
        known = [f.name for f in fields(cls)]
        for name in criteria:
            if name not in known:
                raise BadQuery(
                    name,
                    criteria[name],
                    f"unknown field{did_you_mean(name, known)}; "
                    f"known: {', '.join(known)}",
                )
        return cls(**criteria)

    def criteria(self) -> tuple[tuple[str, str | int], ...]:
        """The criteria given, in query order (``include_bad_runs`` is not one)."""
        out: list[tuple[str, str | int]] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "include_bad_runs" and value is not None:
                out.append((f.name, value))
        return tuple(out)


def _match(column: Any, pattern: str, dialect: str) -> ColumnElement[bool]:
    """``column`` equal to ``pattern``, or matching it if it has wildcards."""
    if not has_wildcard(pattern):
        result: ColumnElement[bool] = column == pattern
        return result
    if dialect == "sqlite":
        # GLOB is case-sensitive (LIKE is not on SQLite); ``[`` made literal
        glob = pattern.replace("[", "[[]")
        return column.op("GLOB", is_comparison=True)(glob)  # type: ignore[no-any-return]
    like = (
        pattern.replace("\\", "\\\\")
        .replace("%", "\\%")
        .replace("_", "\\_")
        .replace("*", "%")
        .replace("?", "_")
    )
    return column.like(like, escape="\\")  # type: ignore[no-any-return]


def _condition(name: str, value: str | int, dialect: str) -> ColumnElement[bool]:
    d = datasets.c
    if name == "exp_low":
        return d.exp_high >= value
    if name == "exp_high":
        return d.exp_low <= value
    if name == "run_low":
        return d.run_high >= value
    if name == "run_high":
        return d.run_low <= value
    if name == "skim_decay":
        return d.skim_code == value
    if name in PATTERN_FIELDS:
        assert isinstance(value, str)
        return _match(d[name], value, dialect)
    return d[name] == value


def conditions(
    query: SearchQuery, dialect: str = "sqlite"
) -> list[tuple[str, str | int, ColumnElement[bool]]]:
    """Each criterion of ``query`` with its SQL condition on ``datasets``."""
    return [
        (name, value, _condition(name, value, dialect))
        for name, value in query.criteria()
    ]


def _files_of_datasets(exclude_bad: bool) -> tuple[FromClause, list[Any]]:
    joined: FromClause = datasets.join(
        datablocks, datablocks.c.dataset_id == datasets.c.id
    ).join(files, files.c.datablock_id == datablocks.c.id)
    where: list[Any] = [datasets.c.state != "deleted", files.c.state == FILE_AVAILABLE]
    if exclude_bad:
        joined = joined.outerjoin(
            run_quality,
            and_(run_quality.c.exp == files.c.exp, run_quality.c.run == files.c.run),
        )
        where.append(
            or_(run_quality.c.quality.is_(None), run_quality.c.quality != "bad")
        )
    return joined, where


_META_COLUMNS = [datasets.c[f.name] for f in fields(DatasetMeta)]


def dataset_select(
    query: SearchQuery,
    *,
    dialect: str = "sqlite",
    upto: int | None = None,
    exclude_bad: bool | None = None,
) -> Select[Any]:
    """The datasets matching ``query``, with totals over their counted files.

    Only the first ``upto`` criteria apply if given; files of bad runs are left
    out unless ``exclude_bad`` is false (default: ``not query.include_bad_runs``).
    A dataset without a counted file is not returned.
    """
    if exclude_bad is None:
        exclude_bad = not query.include_bad_runs
    joined, where = _files_of_datasets(exclude_bad)
    where += [c for _, _, c in conditions(query, dialect)[:upto]]
    return (
        select(
            datasets.c.lpn,
            *_META_COLUMNS,
            func.count(files.c.id).label("nfiles"),
            func.coalesce(func.sum(files.c.size), 0).label("size"),
            func.coalesce(func.sum(files.c.events), 0).label("events"),
        )
        .select_from(joined)
        .where(and_(*where))
        .group_by(datasets.c.id)
        .order_by(datasets.c.lpn)
    )


def probe_select(
    query: SearchQuery,
    *,
    dialect: str = "sqlite",
    upto: int | None = None,
    exclude_bad: bool | None = None,
) -> Select[Any]:
    """One row if any dataset matches (as in :func:`dataset_select`), else none.

    Cheap: no grouping or ordering, so the database stops at the first match.
    """
    if exclude_bad is None:
        exclude_bad = not query.include_bad_runs
    joined, where = _files_of_datasets(exclude_bad)
    where += [c for _, _, c in conditions(query, dialect)[:upto]]
    return select(datasets.c.id).select_from(joined).where(and_(*where)).limit(1)


def file_select(query: SearchQuery, *, dialect: str = "sqlite") -> Select[Any]:
    """The counted files of the datasets matching ``query``, by LFN."""
    joined, where = _files_of_datasets(not query.include_bad_runs)
    where += [c for _, _, c in conditions(query, dialect)]
    return (
        select(
            files.c.lfn,
            datasets.c.lpn,
            files.c.size,
            files.c.events,
            files.c.exp,
            files.c.run,
        )
        .select_from(joined)
        .where(and_(*where))
        .order_by(files.c.lfn)
    )


def excluded_select(query: SearchQuery, *, dialect: str = "sqlite") -> Select[Any]:
    """Bad runs among the matching datasets' files: ``(exp, run, files)``."""
    joined, where = _files_of_datasets(False)
    # EXISTS, not a join, so that the planner starts from the datasets' indexes
    # rather than from every file of every bad run
    bad = (
        select(run_quality.c.exp)
        .where(
            and_(
                run_quality.c.exp == files.c.exp,
                run_quality.c.run == files.c.run,
                run_quality.c.quality == "bad",
            )
        )
        .exists()
    )
    where += [bad, *(c for _, _, c in conditions(query, dialect))]
    return (
        select(files.c.exp, files.c.run, func.count(files.c.id).label("files"))
        .select_from(joined)
        .where(and_(*where))
        .group_by(files.c.exp, files.c.run)
        .order_by(files.c.exp, files.c.run)
    )


@dataclass(frozen=True, slots=True)
class DatasetHit:
    """A dataset found, with totals over its counted files."""

    lpn: str
    meta: DatasetMeta
    nfiles: int
    size: int
    events: int


@dataclass(frozen=True, slots=True)
class FileHit:
    """A file found."""

    lfn: str
    lpn: str
    size: int
    events: int | None
    exp: int | None
    run: int | None


@dataclass(frozen=True, slots=True)
class ExcludedRun:
    """A bad run left out of a result, and how many of its files."""

    exp: int
    run: int
    files: int


@dataclass(frozen=True, slots=True)
class SearchResult:
    """What a search found (datasets or files) and what it left out."""

    query: SearchQuery
    kind: Literal["dataset", "file"]
    datasets: tuple[DatasetHit, ...] = ()
    files: tuple[FileHit, ...] = ()
    #: bad runs whose files were left out (empty with ``include_bad_runs``)
    excluded_bad_runs: tuple[ExcludedRun, ...] = ()
    #: for an empty result: the first criterion after which nothing matched
    #: (``("include_bad_runs", False)`` if only bad runs emptied it)
    emptied_by: tuple[str, str | int | bool] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The LPNs (dataset search) or LFNs (file search) found."""
        if self.kind == "dataset":
            return tuple(d.lpn for d in self.datasets)
        return tuple(f.lfn for f in self.files)

    def __len__(self) -> int:
        return len(self.datasets) if self.kind == "dataset" else len(self.files)

    @property
    def excluded_files(self) -> int:
        """How many files of bad runs were left out."""
        return sum(r.files for r in self.excluded_bad_runs)

    def empty_message(self) -> str:
        """``no datasets match (emptied by campaign='x')``."""
        text = f"no {self.kind}s match"
        if self.emptied_by is not None:
            name, value = self.emptied_by
            text += f" (emptied by {name}={value!r})"
        return text


class Searcher:
    """Searches one catalog; each search reads one snapshot.

    Examples
    --------
    >>> from b2grid.storage.catalog import Catalog
    >>> Searcher(Catalog.open("sqlite://")).search(campaign="*").empty_message()
    'no datasets match'
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def search(
        self,
        query: SearchQuery | None = None,
        *,
        files: bool = False,
        **criteria: Any,
    ) -> SearchResult:
        """Datasets (or with ``files=True`` files) matching ``query`` or ``criteria``.

        Raises
        ------
        UnknownValue
            A value without wildcards of a field in :data:`KNOWN_FIELDS` that no
            dataset carries.
        BadQuery
            An unknown field, a malformed value or an inverted range.
        """
        if query is None:
            query = SearchQuery.from_kwargs(**criteria)
        elif criteria:
            raise BadQuery(
                next(iter(criteria)), "...", "give a SearchQuery or criteria, not both"
            )
        dialect = self.catalog.engine.dialect.name
        with self.catalog.reading() as conn:
            self._check_known(conn, query)
            kind: Literal["dataset", "file"] = "file" if files else "dataset"
            found_datasets: tuple[DatasetHit, ...] = ()
            found_files: tuple[FileHit, ...] = ()
            if files:
                found_files = tuple(
                    FileHit(r.lfn, r.lpn, int(r.size), r.events, r.exp, r.run)
                    for r in conn.execute(file_select(query, dialect=dialect))
                )
                empty = not found_files
            else:
                found_datasets = tuple(
                    DatasetHit(
                        r.lpn,
                        DatasetMeta.from_row(r),
                        int(r.nfiles),
                        int(r.size),
                        int(r.events),
                    )
                    for r in conn.execute(dataset_select(query, dialect=dialect))
                )
                empty = not found_datasets
            excluded: tuple[ExcludedRun, ...] = ()
            if not query.include_bad_runs:
                excluded = tuple(
                    ExcludedRun(int(r.exp), int(r.run), int(r.files))
                    for r in conn.execute(excluded_select(query, dialect=dialect))
                )
            emptied = self._emptied_by(conn, query, dialect) if empty else None
        return SearchResult(query, kind, found_datasets, found_files, excluded, emptied)

    @staticmethod
    def _check_known(conn: Connection, query: SearchQuery) -> None:
        live = datasets.c.state != "deleted"
        for name in KNOWN_FIELDS:
            value = getattr(query, name)
            if value is None or has_wildcard(value):
                continue
            column = datasets.c[name]
            hit = conn.execute(
                select(datasets.c.id).where(and_(live, column == value)).limit(1)
            ).first()
            if hit is None:
                known = conn.scalars(
                    select(column)
                    .distinct()
                    .where(and_(live, column.is_not(None)))
                    .order_by(column)
                ).all()
                raise UnknownValue(name, value, known)

    @staticmethod
    def _emptied_by(
        conn: Connection, query: SearchQuery, dialect: str
    ) -> tuple[str, str | int | bool] | None:
        criteria = query.criteria()
        for upto in range(len(criteria) + 1):
            stmt = probe_select(query, dialect=dialect, upto=upto, exclude_bad=False)
            if conn.execute(stmt).first() is None:
                return None if upto == 0 else criteria[upto - 1]
        # every criterion left something: the bad runs took the rest
        return ("include_bad_runs", False)


__all__ = [
    "CHOICES",
    "KNOWN_FIELDS",
    "PATTERN_FIELDS",
    "RUN_QUALITIES",
    "DatasetHit",
    "ExcludedRun",
    "FileHit",
    "SearchQuery",
    "SearchResult",
    "Searcher",
    "conditions",
    "dataset_select",
    "excluded_select",
    "file_select",
    "has_wildcard",
    "probe_select",
]
