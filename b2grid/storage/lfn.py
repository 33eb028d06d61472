"""The Belle II logical namespace: LFNs, datablocks and the official dataset layout.

An LFN (logical file name) or LPN (logical path name: a dataset's directory) is an
absolute name under ``/belle/``. :func:`validate_lfn` holds every rule; the other
functions build and read names through it. Pure: no catalog, no disk. Parts are
numbered from 0 (``belle``) in messages, so in ``/belle/MC/...`` part 1 is ``MC``.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Literal, cast, get_args

from b2grid.errors import BadLFN, did_you_mean

#: longest part (the text between two slashes)
MAX_PART = 128
#: longest LFN
MAX_LFN = 512
#: the characters a part may contain
ALLOWED_CHARS = frozenset(string.ascii_letters + string.digits + "._+-")
#: the top-level namespaces, ``/belle/<namespace>/...``
NAMESPACES = ("Data", "MC", "user", "group", "collection")

NamespaceKind = Literal["data", "mc", "user", "group", "collection"]
DataType = Literal["data", "mc"]
DataLevel = Literal["raw", "cdst", "mdst", "udst"]
DATA_LEVELS: tuple[DataLevel, ...] = get_args(DataLevel)

_KINDS: dict[str, NamespaceKind] = dict(
    zip(NAMESPACES, get_args(NamespaceKind), strict=True)
)
_RELEASE = re.compile(r"release-[0-9]{2}-[0-9]{2}-[0-9]{2}|light-[0-9]{4}-[a-z]+")
_SKIM_CODE = re.compile(r"[0-9]{8}")
_DIGITS = re.compile(r"[0-9]+")
_DATABLOCK = re.compile(r"sub([0-9]{2,})")


def _part_reason(part: str, start: int = 0) -> str | None:
    """Why a non-empty ``part`` (at index ``start`` of its name) is bad, or None."""
    if part in (".", ".."):
        return f"part {part!r} is a relative reference; LFNs have no '.' or '..' parts"
    for i, char in enumerate(part):
        if char not in ALLOWED_CHARS:
            return (
                f"character {char!r} at index {start + i} (in {part!r}) is not "
                "allowed; use only A-Z a-z 0-9 . _ + -"
            )
    if len(part) > MAX_PART:
        return f"part {part[:16]!r}... has {len(part)} characters, over {MAX_PART=}"
    return None


def validate_part(part: str, what: str = "part") -> str:
    """Return ``part`` if it may be one part of an LFN, else raise :class:`BadLFN`.

    ``what`` names the part in the reason (``"user name"``, ``"project"``).

    Examples
    --------
    >>> validate_part("alice", "user name")
    'alice'
    >>> validate_part("al ice", "user name")
    Traceback (most recent call last):
    ...
    b2grid.errors.BadLFN: bad LFN 'al ice': user name: character ' ' at index 2 ...
    """
    reason = "it is empty" if not part else _part_reason(part)
    if reason is not None:
        raise BadLFN(part, f"{what}: {reason}")
    return part


def validate_lfn(name: str) -> str:
    """Return ``name`` if it is a valid LFN or LPN, else raise :class:`BadLFN`.

    The rules: absolute, under ``/belle/<namespace>`` with a namespace from
    :data:`NAMESPACES`; parts separated by single slashes (no empty part, no trailing
    slash), no ``.`` or ``..`` part; only ``A-Z a-z 0-9 . _ + -``; at most
    :data:`MAX_PART` characters a part and :data:`MAX_LFN` in all. A name has one
    spelling only, so a valid name is already normal and comes back unchanged. The
    reason names the first problem from the left (a bad character by its index).

    Examples
    --------
    >>> validate_lfn("/belle/user/alice/ana/ntuple.root")
    '/belle/user/alice/ana/ntuple.root'
    >>> validate_lfn("/belle/data/x")
    Traceback (most recent call last):
    ...
    b2grid.errors.BadLFN: bad LFN '/belle/data/x': top-level namespace 'data' is not one
    of Data, MC, user, group, collection (did you mean 'Data'?)
    """
    if not name.startswith("/"):
        raise BadLFN(name, "not absolute; an LFN starts with /belle/")
    parts = name[1:].split("/")
    if parts[0] != "belle":
        raise BadLFN(name, f"part 0 {parts[0]!r} should be 'belle'; LFNs start /belle/")
    if len(parts) == 1:
        raise BadLFN(name, f"no namespace; use /belle/<one of {', '.join(NAMESPACES)}>")
    if len(name) > MAX_LFN:
        raise BadLFN(name, f"{len(name)} characters, over {MAX_LFN=}; shorten it")
    start = 1
    for index, part in enumerate(parts):
        if not part:
            if index == len(parts) - 1:
                raise BadLFN(name, "ends with '/'; drop the trailing slash")
            raise BadLFN(name, f"empty part ('//') at index {start - 1}; use one '/'")
        reason = _part_reason(part, start)
        if reason is not None:
            raise BadLFN(name, reason)
        if index == 1 and part not in NAMESPACES:
            raise BadLFN(
                name,
                f"top-level namespace {part!r} is not one of {', '.join(NAMESPACES)}"
                + did_you_mean(part, NAMESPACES),
            )
        start += len(part) + 1
    return name


@dataclass(frozen=True, slots=True)
class NamespaceInfo:
    """Which top-level namespace a name lives in, and who owns it."""

    kind: NamespaceKind
    #: the user of ``/belle/user/<user>/...``, the group of ``/belle/group/<group>/...``
    owner: str | None = None


def namespace_of(lfn: str) -> NamespaceInfo:
    """The namespace of ``lfn``; user and group names need their owner part.

    Examples
    --------
    >>> namespace_of("/belle/user/alice/ana/f.root")
    NamespaceInfo(kind='user', owner='alice')
    >>> namespace_of("/belle/MC/release-06-00-08")
    NamespaceInfo(kind='mc', owner=None)
    """
    parts = validate_lfn(lfn).split("/")
    kind = _KINDS[parts[2]]
    if kind not in ("user", "group"):
        return NamespaceInfo(kind)
    if len(parts) < 4:
        raise BadLFN(lfn, f"names under /belle/{kind}/ start /belle/{kind}/<{kind}>/")
    return NamespaceInfo(kind, parts[3])


def basename(lfn: str) -> str:
    """The last part of ``lfn``: ``basename("/belle/MC/a/f.root") == "f.root"``."""
    return validate_lfn(lfn).rsplit("/", 1)[1]


def dirname(lfn: str) -> str:
    """The parent LPN of ``lfn``; a top-level namespace has none (:class:`BadLFN`).

    Examples
    --------
    >>> dirname("/belle/user/alice/ana/f.root")
    '/belle/user/alice/ana'
    """
    parent = validate_lfn(lfn).rsplit("/", 1)[0]
    if parent == "/belle":
        raise BadLFN(lfn, "a top-level namespace has no parent LPN")
    return parent


def join(lpn: str, *parts: str) -> str:
    """``lpn/part/...``, validated (a part may hold several ``/``-separated parts).

    Examples
    --------
    >>> join("/belle/user/alice", "ana", "f.root")
    '/belle/user/alice/ana/f.root'
    """
    return validate_lfn("/".join((validate_lfn(lpn), *parts)))


def user_lpn(user: str, project: str, *parts: str) -> str:
    """``/belle/user/<user>/<project>/<parts...>``, validated.

    Examples
    --------
    >>> user_lpn("alice", "ewp-2024", "ntuples")
    '/belle/user/alice/ewp-2024/ntuples'
    """
    validate_part(user, "user name")
    validate_part(project, "project")
    return join(f"/belle/user/{user}/{project}", *parts)


def datablock_name(index: int) -> str:
    """The datablock directory for ``index``: ``sub00`` … ``sub99``, ``sub100`` ….

    Examples
    --------
    >>> datablock_name(3), datablock_name(100)
    ('sub03', 'sub100')
    """
    if index < 0:
        raise BadLFN(f"sub{index}", f"datablock indices start at 0, not {index}")
    return f"sub{index:02d}"


def datablock_index(part: str) -> int | None:
    """The index of datablock ``part`` (``"sub07"`` -> 7), None if it is not one."""
    match = _DATABLOCK.fullmatch(part)
    if match is None:
        return None
    index = int(match[1])
    return index if datablock_name(index) == part else None


def datablock_lpn(lpn: str, index: int) -> str:
    """The LPN of datablock ``index`` of dataset ``lpn`` (itself not a datablock).

    Examples
    --------
    >>> datablock_lpn("/belle/user/alice/ana", 0)
    '/belle/user/alice/ana/sub00'
    """
    if datablock_index(basename(lpn)) is not None:
        raise BadLFN(lpn, "is a datablock already; give its dataset (the parent LPN)")
    return join(lpn, datablock_name(index))


def split_datablock(lfn: str) -> tuple[str, str] | None:
    """(dataset LPN, datablock) when ``lfn``'s directory is a datablock, else None.

    Examples
    --------
    >>> split_datablock("/belle/user/alice/ana/sub01/f.root")
    ('/belle/user/alice/ana', 'sub01')
    >>> split_datablock("/belle/user/alice/ana/f.root") is None
    True
    """
    parent = validate_lfn(lfn).rsplit("/", 1)[0]
    dataset, block = parent.rsplit("/", 1)
    if datablock_index(block) is None or dataset.count("/") < 2:
        return None
    return dataset, block


def _fits(value: object, width: int) -> bool:
    return type(value) is int and 0 <= value < 10**width


def _num(prefix: str, value: object, width: int) -> str:
    return f"{prefix}{value:0{width}d}" if type(value) is int else f"{prefix}{value}"


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetPath:
    """An official Belle II dataset LPN, field by field.

    Data: ``/belle/Data/<release>/DB<db>/<campaign>/prod<prod>/e<exp>/<beam_energy>/
    r<run>/<skim>[/<skim_code>]/<data_level>``; MC has ``s<stream>`` after ``prod``
    and an event type in place of the skim. Construction checks every field
    (:class:`BadLFN` names it); ``DatasetPath.parse(p.lpn) == p`` always.

    Examples
    --------
    >>> p = DatasetPath.parse(
    ...     "/belle/MC/release-06-00-08/DB00002288/MC15ri_b/prod00024816/s00/e1003/4S/"
    ...     "r00000/mixed/mdst")
    >>> p.data_type, p.campaign, p.prod, p.stream, p.event_type_or_skim
    ('mc', 'MC15ri_b', 24816, 0, 'mixed')
    >>> DatasetPath.parse(p.lpn) == p
    True
    """

    data_type: DataType
    #: ``release-06-00-08`` or a light release ``light-2203-zeus``
    release: str
    #: conditions database global tag number, rendered ``DB%08d``
    db: int
    #: ``proc13``, ``bucket23``, ``MC15ri_b`` …
    campaign: str
    #: production number, rendered ``prod%08d``
    prod: int
    #: MC background stream, rendered ``s%02d``; None for data
    stream: int | None = None
    #: experiment number, rendered ``e%04d``
    exp: int
    #: ``4S``, ``4S_offres``, ``5S``, ``scan`` …
    beam_energy: str
    #: run number, rendered ``r%05d``; 0 for run-independent MC
    run: int
    #: MC: event type (``mixed``, ``uubar``, a 10-digit signal code); data: the skim
    event_type_or_skim: str
    #: 8-digit skim code, for (and only for) uDST
    skim_code: str | None = None
    data_level: DataLevel

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem is not None:
            raise BadLFN(self.lpn, problem)
        validate_lfn(self.lpn)

    def _problem(self) -> str | None:
        if self.data_type not in ("data", "mc"):
            return f"data_type {self.data_type!r} should be 'data' or 'mc'"
        if not _RELEASE.fullmatch(self.release):
            return (
                f"release {self.release!r} should look like 'release-06-00-08' or "
                "'light-2203-zeus'"
            )
        mc = self.data_type == "mc"
        if not mc and self.stream is not None:
            return f"stream {self.stream!r} is for MC only; data has stream=None"
        numbers = [("stream", self.stream, 2)] * mc + [("db", self.db, 8)]
        numbers += [("prod", self.prod, 8), ("exp", self.exp, 4), ("run", self.run, 5)]
        for field, value, width in numbers:
            if not _fits(value, width):
                return f"{field} {value!r} should be an int from 0 to {10**width - 1}"
        texts = [("campaign", self.campaign), ("beam_energy", self.beam_energy)]
        for field, text in [*texts, ("event_type_or_skim", self.event_type_or_skim)]:
            reason = _part_reason(text) if text else "it is empty"
            if reason is not None:
                return f"{field} {text!r}: {reason}"
        event = self.event_type_or_skim
        if mc and _DIGITS.fullmatch(event) and len(event) != 10:
            return f"event type {event!r} is numeric but not a 10-digit signal code"
        if self.data_level not in DATA_LEVELS:
            return (
                f"data_level {self.data_level!r} should be one of "
                + ", ".join(DATA_LEVELS)
                + did_you_mean(str(self.data_level), DATA_LEVELS)
            )
        if self.skim_code is not None and not _SKIM_CODE.fullmatch(self.skim_code):
            return f"skim_code {self.skim_code!r} should be 8 digits, like '14120601'"
        if self.data_level == "udst" and self.skim_code is None:
            return "data_level 'udst' needs a skim_code (8 digits, like '14120601')"
        if self.data_level != "udst" and self.skim_code is not None:
            return f"skim_code is for udst only, not {self.data_level!r}; drop it"
        return None

    @property
    def lpn(self) -> str:
        """The dataset's LPN (the layout in the class docstring)."""
        mc = self.data_type == "mc"
        parts = ["", "belle", "MC" if mc else "Data", self.release]
        parts += [_num("DB", self.db, 8), self.campaign, _num("prod", self.prod, 8)]
        if mc:
            parts.append(_num("s", self.stream, 2))
        parts += [_num("e", self.exp, 4), self.beam_energy, _num("r", self.run, 5)]
        parts.append(self.event_type_or_skim)
        if self.skim_code is not None:
            parts.append(self.skim_code)
        parts.append(self.data_level)
        return "/".join(str(part) for part in parts)  # str(): also for a bad field

    @classmethod
    def parse(cls, lpn: str) -> DatasetPath:
        """The dataset path ``lpn`` spells; :class:`BadLFN` names the wrong part.

        Examples
        --------
        >>> DatasetPath.parse("/belle/Data/release-06-00-08/DB00001234/proc13/"
        ...                   "prod29531/e0012/4S/r01234/hadron/mdst")
        Traceback (most recent call last):
        ...
        b2grid.errors.BadLFN: bad LFN '...': part 5 'prod29531' should look like
        'prod00029531' ('prod' and 8 digits)
        """
        parts = validate_lfn(lpn).split("/")[1:]
        if parts[1] not in ("Data", "MC"):
            raise BadLFN(lpn, f"part 1 {parts[1]!r} should be 'Data' or 'MC'")
        mc = parts[1] == "MC"
        size = 12 if mc else 11
        if len(parts) not in (size, size + 1):
            layout = "/belle/MC/<release>/DB<db>/<campaign>/prod<prod>/s<stream>"
            if not mc:
                layout = "/belle/Data/<release>/DB<db>/<campaign>/prod<prod>"
            raise BadLFN(
                lpn,
                f"{len(parts)} parts, not {size} (or {size + 1} with a skim code): "
                f"{layout}/e<exp>/<beam>/r<run>/<{'event' if mc else 'skim'}>"
                "[/<skim code>]/<level>",
            )
        k = 7 if mc else 6  # index of e<exp>; text fields are checked by __init__
        code = parts[k + 4] if len(parts) == size + 1 else None
        return cls(
            data_type="mc" if mc else "data",
            release=parts[2],
            db=_parse_number(lpn, parts, 3, "DB", 8),
            campaign=parts[4],
            prod=_parse_number(lpn, parts, 5, "prod", 8),
            stream=_parse_number(lpn, parts, 6, "s", 2) if mc else None,
            exp=_parse_number(lpn, parts, k, "e", 4),
            beam_energy=parts[k + 1],
            run=_parse_number(lpn, parts, k + 2, "r", 5),
            event_type_or_skim=parts[k + 3],
            skim_code=code,
            data_level=cast(DataLevel, parts[-1]),
        )


def _parse_number(lpn: str, parts: list[str], index: int, prefix: str, n: int) -> int:
    """The number in ``parts[index]``, spelled ``prefix`` and exactly ``n`` digits."""
    part = parts[index]
    digits = part[len(prefix) :] if part.startswith(prefix) else ""
    number = int(digits) if _DIGITS.fullmatch(digits) else -1
    if len(digits) == n and number >= 0:
        return number
    like = _num(prefix, number if _fits(number, n) else 1, n)
    raise BadLFN(
        lpn,
        f"part {index} {part!r} should look like {like!r} ({prefix!r} and {n} digits)",
    )


__all__ = [
    "MAX_LFN",
    "MAX_PART",
    "ALLOWED_CHARS",
    "NAMESPACES",
    "DATA_LEVELS",
    "DataLevel",
    "DataType",
    "NamespaceKind",
    "NamespaceInfo",
    "DatasetPath",
    "validate_lfn",
    "validate_part",
    "namespace_of",
    "basename",
    "dirname",
    "join",
    "user_lpn",
    "datablock_name",
    "datablock_index",
    "datablock_lpn",
    "split_datablock",
]
