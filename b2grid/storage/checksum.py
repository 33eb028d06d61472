"""Adler-32 checksums of opaque files, as DIRAC and Rucio record them.

A checksum is 8 lowercase hex digits of zlib's adler32, computed by streaming the
bytes in chunks, so a file of any size costs a few MiB of memory.
:func:`copy_with_adler32` checksums bytes while it copies them.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from b2grid.errors import BadArgument

#: bytes read at a time when streaming a file (4 MiB, as the SEs use)
CHUNK_SIZE = 4 * 1024 * 1024


class BinaryReadable(Protocol):
    """Anything with ``read(n) -> bytes``: an open binary file, an fsspec file, …"""

    def read(self, size: int = -1, /) -> bytes: ...


class BinaryWritable(Protocol):
    """Anything with ``write(bytes-like)``: an open binary file, an fsspec file, …"""

    def write(self, data: bytes | bytearray | memoryview, /) -> object: ...


class Adler32:
    """An incremental adler32: feed bytes with :meth:`update`, read :meth:`hexdigest`.

    Examples
    --------
    >>> a = Adler32()
    >>> a.update(b"Wiki")
    >>> a.update(b"pedia")
    >>> a.hexdigest()
    '11e60398'
    >>> Adler32().hexdigest()  # the checksum of no bytes
    '00000001'
    """

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value = 1  # adler32's starting value, as zlib.adler32(b"")

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Extend the checksum with ``data`` (any bytes-like object)."""
        self._value = zlib.adler32(data, self._value)

    @property
    def value(self) -> int:
        """The checksum so far as an unsigned 32-bit integer."""
        return self._value & 0xFFFFFFFF

    def hexdigest(self) -> str:
        """The checksum so far as 8 lowercase hex digits (zero-padded)."""
        return f"{self.value:08x}"


def adler32_of_bytes(data: bytes | bytearray | memoryview) -> str:
    """Return the adler32 of ``data`` as 8 lowercase hex digits.

    Examples
    --------
    >>> adler32_of_bytes(b"Wikipedia")
    '11e60398'
    >>> adler32_of_bytes(b"")
    '00000001'
    """
    a = Adler32()
    a.update(data)
    return a.hexdigest()


def adler32_of_file(
    path_or_fileobj: str | os.PathLike[str] | BinaryReadable,
    chunk: int = CHUNK_SIZE,
) -> str:
    """Return the adler32 of a file, streamed ``chunk`` bytes at a time.

    ``path_or_fileobj`` is a local path (opened and closed here) or an open binary
    file object, read from its current position to its end and left open.

    Examples
    --------
    >>> import io
    >>> adler32_of_file(io.BytesIO(b"Wikipedia"), chunk=4)
    '11e60398'
    """
    if chunk <= 0:
        raise BadArgument("chunk", f"must be a positive number of bytes, not {chunk}")
    if isinstance(path_or_fileobj, str | os.PathLike):
        with open(path_or_fileobj, "rb") as f:
            return _adler32_of_stream(f, chunk)
    return _adler32_of_stream(path_or_fileobj, chunk)


def adler32_equal(a: str, b: str) -> bool:
    """Whether two adler32 strings name the same checksum.

    Case and dropped leading zeros do not matter (some catalogs store ``"1a2b3c"``
    for ``"001a2b3c"``), like DIRAC's ``compareAdler``.

    Examples
    --------
    >>> adler32_equal("001A2B3C", "1a2b3c")
    True
    >>> adler32_equal("11e60398", "11e60399")
    False
    """
    return a.strip().lower().zfill(8) == b.strip().lower().zfill(8)


def copy_with_adler32(
    src: BinaryReadable, dst: BinaryWritable, chunk: int = CHUNK_SIZE
) -> tuple[int, str]:
    """Copy ``src`` (from its position to its end) to ``dst``; return (bytes, adler32).

    At most two chunks are in memory. When ``src`` has ``readinto`` two buffers are
    reused, and from the second chunk on the checksum runs in a helper thread while
    this one writes and reads the next chunk (zlib releases the GIL), so a copy costs
    about the larger of its I/O and its checksum, not their sum. Errors of ``src``
    and ``dst`` propagate unchanged; both are left open.

    Examples
    --------
    >>> import io
    >>> out = io.BytesIO()
    >>> copy_with_adler32(io.BytesIO(b"Wikipedia"), out, chunk=4)
    (9, '11e60398')
    >>> out.getvalue()
    b'Wikipedia'
    """
    adler = Adler32()
    size = 0
    pool: ThreadPoolExecutor | None = None
    pending: Future[None] | None = None
    try:
        for block in _blocks(src, chunk):
            if pending is not None:
                pending.result()  # chunks are summed in order, one at a time
            if pool is None and size == 0:
                adler.update(block)  # a one-chunk file needs no thread
            else:
                pool = pool or ThreadPoolExecutor(1, thread_name_prefix="adler32")
                pending = pool.submit(adler.update, block)
            dst.write(block)
            size += len(block)
        if pending is not None:
            pending.result()
    finally:
        if pool is not None:
            pool.shutdown(wait=True)  # never free a buffer the thread still reads
    return size, adler.hexdigest()


def _blocks(src: BinaryReadable, chunk: int) -> Iterator[bytes | memoryview]:
    """The chunks of ``src``; after the first, with ``readinto``, alternately in
    two reused buffers.

    The first chunk is a plain ``read``: a file smaller than a chunk (most job
    outputs) then costs one read of its own size, not two zero-filled chunk
    buffers. A yielded buffer is overwritten two chunks later: the caller must be
    done with chunk k (written and summed) before it asks for chunk k + 2.
    """
    if chunk <= 0:
        raise BadArgument("chunk", f"must be a positive number of bytes, not {chunk}")
    first = src.read(chunk)
    if not first:
        return
    yield first
    # a short first read means a small file (or a stream): plain reads to its end
    readinto = getattr(src, "readinto", None) if len(first) == chunk else None
    views: list[memoryview] = []
    k = 0
    while True:
        if readinto is not None:
            if not views:
                views = [memoryview(bytearray(chunk)), memoryview(bytearray(chunk))]
            try:
                n = readinto(views[k])
            except NotImplementedError:  # an io.RawIOBase that only has read()
                readinto = None
                continue
            if not n:
                return
            yield views[k][:n]
            k ^= 1
        elif block := src.read(chunk):
            yield block
        else:
            return


def _adler32_of_stream(f: BinaryReadable, chunk: int) -> str:
    a = Adler32()
    for block in _blocks(f, chunk):
        a.update(block)
    return a.hexdigest()


__all__ = [
    "Adler32",
    "adler32_of_bytes",
    "adler32_of_file",
    "adler32_equal",
    "copy_with_adler32",
    "BinaryReadable",
    "BinaryWritable",
    "CHUNK_SIZE",
]
