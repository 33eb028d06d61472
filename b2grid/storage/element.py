"""A storage element (SE): one site's file store behind an fsspec URL.

An SE holds opaque files, each at its LFN below the SE's root. Writes are atomic
(a temporary name, checksummed while streamed, then renamed) and never overwrite;
reads and downloads can verify the adler32 the catalog records.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import posixpath
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any, cast

import fsspec
from fsspec.implementations.local import LocalFileSystem

from b2grid.errors import BadLFN, ChecksumMismatch, LocalFileError, NameReused
from b2grid.storage.checksum import (
    BinaryReadable,
    adler32_equal,
    adler32_of_file,
    copy_with_adler32,
)

#: a write in flight: ``.<name>.<32 hex digits>.part`` next to its final name
_PARTIAL = re.compile(r"^\.(?P<name>.+)\.[0-9a-f]{32}\.part$")

#: why a local file to upload cannot be opened, and what to do
_UNREADABLE: dict[type[OSError], str] = {
    FileNotFoundError: "no such file; check the path",
    IsADirectoryError: "is a directory; give a file",
    PermissionError: "not readable (permission denied)",
}

#: errnos of filesystems that cannot hard-link (we then fall back to a rename)
_NO_LINK = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS}


@dataclass(frozen=True, slots=True)
class PutResult:
    """What was written (or downloaded): its size and the adler32 of its bytes."""

    #: bytes written
    size: int
    #: adler32 of the bytes written, 8 lowercase hex digits
    adler32: str


@dataclass(frozen=True, slots=True)
class SEEntry:
    """A file found on an SE by :meth:`StorageElement.list`."""

    #: the file's LFN, reconstructed from its path below the SE's root
    lfn: str
    #: bytes
    size: int
    #: last modification, POSIX seconds (wall clock of the SE, not grid time)
    mtime: float


@dataclass(frozen=True, slots=True)
class PartialEntry:
    """A write in flight (or abandoned by a crash), seen by ``list_partial``."""

    #: the LFN the write is destined for
    lfn: str
    #: the temporary's path on the SE's filesystem
    path: str
    #: bytes written so far
    size: int
    #: last modification, POSIX seconds (wall clock of the SE)
    mtime: float


@dataclass(frozen=True, slots=True)
class StorageElement:
    """The storage element of site ``site`` at fsspec ``url``, ``capacity`` bytes.

    A file with LFN ``/belle/x/f.root`` lives at ``<root>/belle/x/f.root``, where
    ``<root>`` is the path part of ``url``. The SE does not enforce ``capacity``
    on writes: placement (which checks :meth:`free`) decides where files go.

    Examples
    --------
    >>> import tempfile, shutil
    >>> home = tempfile.mkdtemp()
    >>> se = StorageElement("KEK", f"file://{home}/se/KEK", capacity=10**9)
    >>> se.put_bytes("/belle/MC/f1.root", b"Wikipedia")
    PutResult(size=9, adler32='11e60398')
    >>> se.exists("/belle/MC/f1.root"), se.size("/belle/MC/f1.root")
    (True, 9)
    >>> [e.lfn for e in se.list("/belle")]
    ['/belle/MC/f1.root']
    >>> se.verify("/belle/MC/f1.root", "11e60398")
    True
    >>> se.used(), se.free()
    (9, 999999991)
    >>> se.delete("/belle/MC/f1.root"), se.delete("/belle/MC/f1.root")
    (True, False)
    >>> shutil.rmtree(home)
    """

    site: str
    url: str
    capacity: int

    def path_for(self, lfn: str) -> str:
        """The path of ``lfn`` on this SE's filesystem: ``<root>/<lfn without '/'>``.

        Raises :class:`~b2grid.errors.BadLFN` for a name that is not absolute or has
        empty, ``.``/``..`` or hidden (``.``-prefixed) segments, so no LFN escapes
        the root or collides with a temporary.

        Examples
        --------
        >>> se = StorageElement("KEK", "file:///data/se/KEK", capacity=10**12)
        >>> se.path_for("/belle/MC/f.root")
        '/data/se/KEK/belle/MC/f.root'
        >>> se.path_for("/belle/../etc/passwd")
        Traceback (most recent call last):
        ...
        b2grid.errors.BadLFN: bad LFN '/belle/../etc/passwd': ...
        """
        _check_lfn(lfn)
        return self._root() + lfn

    def put(
        self,
        lfn: str,
        source: str | os.PathLike[str] | BinaryReadable,
        expected_adler32: str | None = None,
    ) -> PutResult:
        """Write ``source`` (a local path or a binary file object) as ``lfn``.

        The bytes are streamed in 4 MiB chunks to ``.<name>.<uuid>.part`` in the
        final directory, checksummed on the way, synced where the filesystem allows,
        compared with ``expected_adler32`` (if given) and only then renamed into
        place. Whatever fails, no file appears under ``lfn`` and the temporary is
        removed.

        Raises
        ------
        NameReused
            ``lfn`` already exists on this SE (a ``FileExistsError``); files are
            never overwritten.
        LocalFileError
            ``source`` is a local path that cannot be read; nothing is written.
        ChecksumMismatch
            the bytes' adler32 is not ``expected_adler32`` (``where="SE <site>"``).
        """
        fs = self._fs()
        path = self.path_for(lfn)
        if fs.exists(path):
            raise NameReused(lfn)
        with _open_source(source) as src:
            parent = posixpath.dirname(path)
            fs.makedirs(parent, exist_ok=True)
            tmp = _partial_name(path)
            try:
                with fs.open(tmp, "wb") as out:
                    size, digest = copy_with_adler32(src, out)
                    _fsync(out)
                _check(lfn, f"SE {self.site}", expected_adler32, digest)
                _commit(fs, tmp, path, lfn)
            except BaseException:
                _discard(fs, tmp)
                raise
        return PutResult(size, digest)

    def put_bytes(self, lfn: str, data: bytes) -> PutResult:
        """Write ``data`` as ``lfn``; see :meth:`put`."""
        return self.put(lfn, io.BytesIO(data))

    def delete(self, lfn: str) -> bool:
        """Remove ``lfn``; True if it was there, False if it was not (no error)."""
        try:
            self._fs().rm_file(self.path_for(lfn))
        except FileNotFoundError:
            return False
        return True

    def discard_partial(self, entry: PartialEntry) -> bool:
        """Remove an abandoned temporary found by :meth:`list_partial`.

        Only the caller knows whether a write is abandoned (e.g. older than any
        transfer may take); True if it was removed, False if it had gone.
        """
        root = self._root()
        if not entry.path.startswith(root + "/") or not _PARTIAL.match(
            posixpath.basename(entry.path)
        ):
            raise ValueError(f"{entry.path} is not a temporary of SE {self.site}")
        try:
            self._fs().rm_file(entry.path)
        except FileNotFoundError:
            return False
        return True

    def open(self, lfn: str) -> IO[bytes]:
        """Open ``lfn`` for reading (binary); a ``FileNotFoundError`` if absent."""
        path = self.path_for(lfn)
        try:
            return cast(IO[bytes], self._fs().open(path, "rb"))
        except FileNotFoundError:
            raise self._missing(lfn) from None

    def get(
        self,
        lfn: str,
        local_path: str | os.PathLike[str],
        expected_adler32: str | None,
    ) -> PutResult:
        """Copy ``lfn`` to ``local_path``, verified against ``expected_adler32``.

        The copy is streamed to a temporary next to ``local_path`` and renamed over
        it only once its checksum matches (pass ``None`` to skip the check), so a
        reader of ``local_path`` never sees a partial or corrupt file. Raises
        :class:`~b2grid.errors.ChecksumMismatch` (``where="SE <site> (download)"``).
        """
        dest = Path(local_path)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(_partial_name(str(dest)))
        with self.open(lfn) as src:
            try:
                with open(tmp, "wb") as out:
                    size, digest = copy_with_adler32(src, out)
                    _fsync(out)
                _check(lfn, f"SE {self.site} (download)", expected_adler32, digest)
                os.replace(tmp, dest)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        return PutResult(size, digest)

    def verify(self, lfn: str, expected_adler32: str) -> bool:
        """Whether ``lfn``'s bytes, read again, have adler32 ``expected_adler32``."""
        with self.open(lfn) as f:
            return adler32_equal(expected_adler32, adler32_of_file(f))

    def exists(self, lfn: str) -> bool:
        """Whether ``lfn`` is a file on this SE (temporaries do not count)."""
        return bool(self._fs().isfile(self.path_for(lfn)))

    def size(self, lfn: str) -> int:
        """Bytes of ``lfn``; a ``FileNotFoundError`` if absent."""
        try:
            info = self._fs().info(self.path_for(lfn))
        except FileNotFoundError:
            raise self._missing(lfn) from None
        if info.get("type") != "file":
            raise self._missing(lfn)
        return int(info["size"])

    def list(self, prefix: str = "/belle") -> Iterator[SEEntry]:
        """The files below directory (or file) LFN ``prefix``, sorted by LFN.

        Writes in flight are left out; :meth:`list_partial` shows them.
        """
        for lfn, info in self._walk(prefix):
            if lfn is not None:
                yield SEEntry(lfn, int(info["size"]), _mtime(info))

    def list_partial(self, prefix: str = "/belle") -> Iterator[PartialEntry]:
        """The temporaries of writes in flight (or abandoned) below ``prefix``."""
        for lfn, info in self._walk(prefix):
            if lfn is None:
                path = str(info["name"])
                m = _PARTIAL.match(posixpath.basename(path))
                if m is not None:
                    target = posixpath.join(posixpath.dirname(path), m["name"])
                    yield PartialEntry(
                        self._lfn_of(target), path, int(info["size"]), _mtime(info)
                    )

    def used(self) -> int:
        """Bytes held now, temporaries included (0 for an SE that holds nothing)."""
        fs, root = fsspec.core.url_to_fs(self.url)
        if not fs.exists(root):
            return 0
        return int(fs.du(root, total=True))

    def free(self) -> int:
        """Bytes that may still be written."""
        return max(self.capacity - self.used(), 0)

    def _fs(self) -> Any:
        return fsspec.core.url_to_fs(self.url)[0]

    def _root(self) -> str:
        return str(fsspec.core.url_to_fs(self.url)[1]).rstrip("/")

    def _lfn_of(self, path: str) -> str:
        return "/" + path[len(self._root()) :].lstrip("/")

    def _walk(self, prefix: str) -> Iterator[tuple[str | None, dict[str, Any]]]:
        """(lfn, info) of each file below ``prefix``; lfn None for hidden names."""
        if prefix.rstrip("/"):
            _check_lfn(prefix.rstrip("/"))
        root = self._root()
        found = self._fs().find(root + prefix.rstrip("/"), detail=True)
        for path in sorted(found):
            lfn = self._lfn_of(path)
            hidden = any(s.startswith(".") for s in lfn.split("/"))
            yield (None if hidden else lfn), found[path]

    def _missing(self, lfn: str) -> FileNotFoundError:
        return FileNotFoundError(
            f"{lfn} is not on the storage element of {self.site} ({self.url}); "
            "check the catalog's replicas of it, or read another replica"
        )


def _check_lfn(lfn: str) -> None:
    if not lfn.startswith("/"):
        raise BadLFN(lfn, "an LFN is absolute: start it with '/' (e.g. /belle/...)")
    segments = lfn[1:].split("/")
    if "" in segments:
        raise BadLFN(lfn, "empty path segment ('//' or a trailing '/'); remove it")
    hidden = [s for s in segments if s.startswith(".")]
    if hidden:
        raise BadLFN(
            lfn, f"segment {hidden[0]!r} starts with '.'; use plain names in an LFN"
        )
    if "\x00" in lfn:
        raise BadLFN(lfn, "contains a NUL byte")


def _check(lfn: str, where: str, expected: str | None, actual: str) -> None:
    if expected is not None and not adler32_equal(expected, actual):
        raise ChecksumMismatch(lfn, where, expected, actual)


def _partial_name(path: str) -> str:
    head, name = posixpath.split(path)
    return posixpath.join(head, f".{name}.{uuid.uuid4().hex}.part")


@contextlib.contextmanager
def _open_source(
    source: str | os.PathLike[str] | BinaryReadable,
) -> Iterator[BinaryReadable]:
    """Open a local path (errors become LocalFileError) or pass a file object on."""
    if not isinstance(source, str | os.PathLike):
        yield source
        return
    path = os.fspath(source)
    try:
        f = open(path, "rb")  # noqa: SIM115 -- closed by the with below
    except OSError as exc:
        reason = _UNREADABLE.get(type(exc), f"cannot be opened ({exc.strerror})")
        raise LocalFileError(path, reason) from None
    with f:
        yield _LocalSource(f, path)


class _LocalSource:
    """A local file to upload whose read errors name it (as LocalFileError)."""

    def __init__(self, f: io.BufferedReader, path: str) -> None:
        self._f = f
        self._path = path

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._f.read(size)
        except OSError as exc:
            raise LocalFileError(self._path, f"read failed ({exc})") from exc

    def readinto(self, buffer: memoryview, /) -> int:
        try:
            return self._f.readinto(buffer)
        except OSError as exc:
            raise LocalFileError(self._path, f"read failed ({exc})") from exc


def _fsync(f: Any) -> None:
    """Flush ``f`` to stable storage, if it is backed by a local file descriptor."""
    try:
        fd = f.fileno()
    except (AttributeError, OSError, ValueError):  # e.g. memory://, remote files
        return
    f.flush()
    os.fsync(fd)


def _commit(fs: Any, tmp: str, path: str, lfn: str) -> None:
    """Give ``tmp`` its final name ``path`` atomically, never replacing a file."""
    if not isinstance(fs, LocalFileSystem):
        # other filesystems have no no-replace rename: check, then move
        if fs.exists(path):
            raise NameReused(lfn)
        fs.mv(tmp, path)
        return
    try:
        os.link(tmp, path)  # atomic, and fails if path exists (rename would replace)
    except FileExistsError:
        raise NameReused(lfn) from None
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        if os.path.exists(path):
            raise NameReused(lfn) from None
        os.rename(tmp, path)
    else:
        # committed: a temporary left by a failed unlink is only a second name
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    _fsync_dir(posixpath.dirname(path))


def _fsync_dir(path: str) -> None:
    """Make a rename in directory ``path`` durable, where the filesystem allows."""
    with contextlib.suppress(OSError):  # not every filesystem can sync a directory
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _discard(fs: Any, tmp: str) -> None:
    # runs while another exception propagates: never let cleanup mask it
    with contextlib.suppress(OSError):
        fs.rm_file(tmp)


def _mtime(info: dict[str, Any]) -> float:
    value = info.get("mtime", info.get("created"))
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value) if value is not None else 0.0


__all__ = ["StorageElement", "PutResult", "SEEntry", "PartialEntry"]
