"""The conditions database on disk: global tags as JSON files, payloads as zarr groups.

Layout under ``root``: ``tags/<tag>.json`` (one file per global tag, replaced by an
atomic rename), ``payloads/<name>/r<revision>.zarr`` (one zarr v3 group per payload
revision, written to a temporary directory and renamed into place before any tag
lists it) and ``lock`` (``flock``-ed exclusively by writers). Readers take no lock and
never see half a tag or half a payload, so Dask workers may read while a controller
writes a staging tag, in other threads or processes.
"""

from __future__ import annotations

import fcntl
import functools
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy.typing as npt

from b2grid.conditions.files import (
    decode_tag,
    encode_tag,
    read_payload,
    write_atomic,
    write_payload,
)
from b2grid.conditions.globaltag import (
    TAG_NAME,
    GlobalTag,
    TagStatus,
    check_tag_name,
    coverage,
)
from b2grid.conditions.iov import IoV
from b2grid.conditions.payload import (
    Payload,
    PayloadRef,
    check_name,
    checksum,
    to_array,
    to_json_attrs,
)
from b2grid.errors import (
    ConditionsError,
    NoPayload,
    TagNotFound,
    TagPublished,
    did_you_mean,
)

#: payload revisions kept in memory per database (revisions never change)
PAYLOAD_CACHE = 256
_REVISION_DIR = re.compile(r"r(\d+)\.zarr\Z")


class ConditionsDB:
    """Global tags and payloads under one directory, shared by threads and processes.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as home:
    ...     db = ConditionsDB(home)
    ...     _ = db.create_tag("calib_staging")
    ...     _ = db.add_payload("calib_staging", "ECLGains", IoV.experiment(12),
    ...                        {"gains": [1.0, 0.98, 1.02]}, {"unit": "ADC/MeV"})
    ...     _ = db.publish("calib_staging", now=100.0)
    ...     p = db.get(["calib_staging"], "ECLGains", 12, 4711)
    ...     p["gains"].tolist(), p.attrs["unit"], p.revision
    ([1.0, 0.98, 1.02], 'ADC/MeV', 1)
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        #: the database directory
        self.root = Path(root)
        self._tags_dir = self.root / "tags"
        self._payloads_dir = self.root / "payloads"
        self._lock_path = self.root / "lock"
        #: tag name -> (file bytes, parsed tag); a re-read costs one small file read
        self._tags_seen: dict[str, tuple[bytes, GlobalTag]] = {}
        self._tags_seen_lock = threading.Lock()
        self._load = functools.lru_cache(maxsize=PAYLOAD_CACHE)(self._read_payload)

    def __reduce__(self) -> tuple[Any, ...]:  # a Dask task gets the DB by its root
        return (type(self), (self.root,))

    def __repr__(self) -> str:
        return f"ConditionsDB({str(self.root)!r})"

    # ----------------------------------------------------------------- tags: reading

    def has_tag(self, name: str) -> bool:
        """Whether a global tag ``name`` exists."""
        return self._read_tag(name) is not None

    def tag(self, name: str) -> GlobalTag:
        """The global tag ``name``; :class:`~b2grid.errors.TagNotFound` if none."""
        found = self._read_tag(name)
        if found is None:
            raise TagNotFound(name, tuple(self._tag_names()))
        return found

    def tags(self) -> list[GlobalTag]:
        """Every global tag, sorted by name."""
        return [t for n in self._tag_names() if (t := self._read_tag(n)) is not None]

    def _tag_names(self) -> list[str]:
        try:
            files = os.listdir(self._tags_dir)
        except FileNotFoundError:
            return []
        return sorted(
            f[: -len(".json")]
            for f in files
            if f.endswith(".json") and not f.startswith(".")
        )

    def _tag_path(self, name: str) -> Path:
        return self._tags_dir / f"{name}.json"

    def _read_tag(self, name: str) -> GlobalTag | None:
        if not isinstance(name, str) or not TAG_NAME.match(name) or name[0] == ".":
            return None  # such a name can never have been created
        path = self._tag_path(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        with self._tags_seen_lock:
            seen = self._tags_seen.get(name)
        if seen is not None and seen[0] == data:
            return seen[1]
        tag = decode_tag(data, str(path))
        if tag.name != name:
            raise ConditionsError(
                f"{path} holds global tag {tag.name!r}, not {name!r}; rename the file "
                "back or restore it from a backup"
            )
        with self._tags_seen_lock:
            self._tags_seen[name] = (data, tag)
        return tag

    # ----------------------------------------------------------------- tags: writing

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self._tags_dir.mkdir(parents=True, exist_ok=True)
        self._payloads_dir.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write_tag(self, tag: GlobalTag) -> None:
        """Replace ``tags/<name>.json`` atomically; call with the lock held."""
        write_atomic(self._tag_path(tag.name), encode_tag(tag))

    def create_tag(
        self,
        name: str,
        *,
        description: str = "",
        now: float = 0.0,
        copy_from: str | None = None,
    ) -> GlobalTag:
        """Create the staging tag ``name`` (grid time ``now``) and return it.

        ``copy_from`` names a tag (published or not) whose payload list the new tag
        starts with. Tag names are never reused: an existing ``name`` raises
        :class:`~b2grid.errors.ConditionsError`; an unknown ``copy_from`` raises
        :class:`~b2grid.errors.TagNotFound`.
        """
        check_tag_name(name)
        with self._locked():
            existing = self._read_tag(name)
            if existing is not None:
                raise ConditionsError(
                    f"global tag {name!r} already exists ({existing.status.value}); "
                    "tag names are never reused: choose a new name "
                    f"(e.g. {name + '_v2'!r}), or use copy_from={name!r} to start "
                    "from its payloads"
                )
            payloads = self.tag(copy_from).payloads if copy_from is not None else ()
            tag = GlobalTag(name, TagStatus.STAGING, description, now, None, payloads)
            self._write_tag(tag)
        return tag

    def _staging(self, name: str, action: str) -> GlobalTag:
        tag = self.tag(name)
        if tag.published:
            raise TagPublished(name, action)
        return tag

    def publish(self, tag: str, *, now: float = 0.0) -> GlobalTag:
        """Make ``tag`` published (immutable) at grid time ``now`` and return it.

        Publishing twice raises :class:`~b2grid.errors.TagPublished` (action
        ``"publish"``).
        """
        with self._locked():
            new = replace(
                self._staging(tag, "publish"),
                status=TagStatus.PUBLISHED,
                published_at=now,
            )
            self._write_tag(new)
        return new

    def remove_payload(self, tag: str, name: str, revision: int) -> GlobalTag:
        """Drop revision ``revision`` of ``name`` from staging ``tag``; return the tag.

        The revision stays on disk (other tags may list it). Raises
        :class:`~b2grid.errors.TagPublished` for a published tag and
        :class:`~b2grid.errors.ConditionsError` if the tag does not list it.
        """
        with self._locked():
            old = self._staging(tag, f"remove payload {name!r} r{revision}")
            kept = tuple(
                r for r in old.payloads if (r.name, r.revision) != (name, revision)
            )
            if len(kept) == len(old.payloads):
                listed = [f"r{r.revision}" for r in old.payloads if r.name == name]
                raise ConditionsError(
                    f"global tag {tag!r} lists no payload {name!r} r{revision}; it "
                    f"lists {name!r} {', '.join(listed) or 'in no revision'}"
                )
            new = replace(old, payloads=kept)
            self._write_tag(new)
        return new

    # ------------------------------------------------------------------- payloads

    def add_payload(
        self,
        tag: str,
        name: str,
        iov: IoV | str,
        arrays: Mapping[str, npt.ArrayLike],
        attrs: Mapping[str, Any] | None = None,
        *,
        now: float = 0.0,
    ) -> PayloadRef:
        """Store a new revision of payload ``name`` and list it in staging ``tag``.

        ``arrays`` maps array names to numeric array-likes (at least one); ``attrs``
        must be JSON. ``iov`` is an :class:`IoV` or its text. Returns the new
        revision's record. Raises :class:`~b2grid.errors.TagNotFound`,
        :class:`~b2grid.errors.TagPublished`, :class:`~b2grid.errors.BadIoV` or
        :class:`~b2grid.errors.ConditionsError` (bad name, arrays or attrs); then
        the tag is unchanged. The arrays are written outside the lock; if another
        process publishes the tag meanwhile, the written revision stays unlisted.
        """
        check_name(name)
        iov = IoV.parse(iov) if isinstance(iov, str) else iov
        if not isinstance(iov, IoV):
            raise ConditionsError(f"iov must be an IoV or its text, not {iov!r}")
        if not arrays:
            raise ConditionsError(f"payload {name!r} has no arrays; give one or more")
        data = {check_name(k, "array"): to_array(k, v) for k, v in arrays.items()}
        meta = to_json_attrs(attrs)
        action = f"add payload {name!r}"
        with self._locked():
            self._staging(tag, action)
            revision = self._next_revision(name)
        ref = PayloadRef(name, revision, iov, checksum(data, meta), now)
        # written outside the lock; only listing it in the tag needs the lock
        write_payload(self._payload_path(name, revision), ref, data, meta)
        with self._locked():
            old = self._staging(tag, action)  # published meanwhile: revision unused
            self._write_tag(replace(old, payloads=(*old.payloads, ref)))
        return ref

    def _next_revision(self, name: str) -> int:
        """Allocate the next revision of ``name``; call with the lock held."""
        folder = self._payloads_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        counter = folder / "last_revision"
        try:
            last = int(counter.read_text(encoding="ascii"))
        except FileNotFoundError:
            last = 0
        # the counter is the truth; the directories guard against losing it
        matches = (_REVISION_DIR.match(f) for f in os.listdir(folder))
        last = max([last, *(int(m.group(1)) for m in matches if m)])
        tmp = folder / f".last_revision.{os.getpid()}.{threading.get_ident()}"
        tmp.write_text(str(last + 1), encoding="ascii")
        os.replace(tmp, counter)
        return last + 1

    def _payload_path(self, name: str, revision: int) -> Path:
        return self._payloads_dir / name / f"r{revision}.zarr"

    def payload(self, name: str, revision: int) -> Payload:
        """Revision ``revision`` of payload ``name`` (cached: it never changes)."""
        check_name(name)
        return self._load(name, int(revision))

    def _read_payload(self, name: str, revision: int) -> Payload:
        return read_payload(self._payload_path(name, revision), name, revision)

    # ------------------------------------------------------------------- lookups

    def lookup(
        self, tags: str | Sequence[str], name: str, exp: int, run: int
    ) -> PayloadRef:
        """The revision of ``name`` the tag stack ``tags`` gives for (exp, run).

        The first tag of the stack that has a revision valid for the run wins; in
        it, the highest revision. Raises :class:`~b2grid.errors.TagNotFound` if any
        tag of the stack is unknown and :class:`~b2grid.errors.NoPayload` (with
        where ``name`` *is* valid) if no tag has it.
        """
        stack = (tags,) if isinstance(tags, str) else tuple(tags)
        if not stack:
            raise ConditionsError("empty global tag stack; give at least one tag")
        loaded = [self.tag(t) for t in stack]
        for tag in loaded:
            ref = tag.resolve(name, exp, run)
            if ref is not None:
                return ref
        raise NoPayload(stack, name, exp, run, _available(loaded, name))

    def get(self, tags: str | Sequence[str], name: str, exp: int, run: int) -> Payload:
        """The payload ``name`` valid for (exp, run) in the tag stack ``tags``.

        See :meth:`lookup` for the rules and errors.
        """
        ref = self.lookup(tags, name, exp, run)
        return self._load(ref.name, ref.revision)


def _available(tags: Sequence[GlobalTag], name: str) -> str:
    """Where ``name`` is valid in a tag stack, for NoPayload's message."""
    found = [(t.name, c) for t in tags if (c := coverage(t.payloads, name))]
    if not found:
        names = sorted({n for t in tags for n in t.payload_names()})
        have = ", ".join(names) or "no payloads"
        return f"no run in these tags{did_you_mean(name, names)} (they have: {have})"
    if len(tags) == 1:
        return found[0][1]
    return "; ".join(f"{c} in {t}" for t, c in found)


__all__ = ["ConditionsDB", "PAYLOAD_CACHE"]
