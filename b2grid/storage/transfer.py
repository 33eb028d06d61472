"""Third-party copy of one file between two storage elements, checksum-verified.

:func:`copy_file` is what a Dask task runs on a worker of the destination site: it
streams the bytes SE to SE (never the whole file in memory), verifies them against
the catalog's adler32 and returns a small, picklable :class:`TransferResult`.
Workers never write the catalog; the controller registers what the result reports.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from b2grid.errors import ChecksumMismatch
from b2grid.storage.checksum import adler32_equal, adler32_of_file
from b2grid.storage.element import StorageElement

#: SEs built here only move bytes; the SE never enforces capacity on a write (the
#: placement that chose the destination checked its free space)
_CAPACITY_UNUSED = 0


@dataclass(frozen=True, slots=True)
class TransferResult:
    """What one transfer did; small metadata for the controller to register."""

    lfn: str
    src_site: str
    dst_site: str
    #: bytes now at the destination
    size: int
    #: adler32 of the bytes at the destination (equal to the expected one)
    adler32: str
    #: wall time of the copy, seconds
    seconds: float
    #: True if a verified copy was already at the destination (a repeated task)
    already_present: bool = False


def copy_file(
    src_url: str,
    dst_url: str,
    lfn: str,
    expected_adler32: str,
    *,
    src_site: str,
    dst_site: str,
) -> TransferResult:
    """Copy ``lfn`` from the SE at ``src_url`` to the SE at ``dst_url``.

    The bytes stream through the destination's atomic
    :meth:`~b2grid.storage.element.StorageElement.put` with ``expected_adler32``,
    so the destination holds either a verified copy or nothing. Repeating a
    transfer that already succeeded (e.g. a task retried after its worker died)
    verifies the copy in place and returns it with ``already_present=True``.

    Raises
    ------
    ChecksumMismatch
        the bytes read from the source are not ``expected_adler32``
        (``where`` names the source site; nothing is left at the destination),
        or a copy already at the destination is corrupt (``where`` names the
        destination: delete it, then transfer again).
    FileNotFoundError
        ``lfn`` is not on the source SE.

    Examples
    --------
    >>> import tempfile, shutil
    >>> home = tempfile.mkdtemp()
    >>> kek = StorageElement("KEK", f"file://{home}/KEK", capacity=10**9)
    >>> kek.put_bytes("/belle/Data/f.root", b"Wikipedia").adler32
    '11e60398'
    >>> r = copy_file(kek.url, f"file://{home}/DESY", "/belle/Data/f.root",
    ...               "11e60398", src_site="KEK", dst_site="DESY")
    >>> r.dst_site, r.size, r.adler32, r.already_present
    ('DESY', 9, '11e60398', False)
    >>> shutil.rmtree(home)
    """
    start = time.perf_counter()
    src = StorageElement(src_site, src_url, _CAPACITY_UNUSED)
    dst = StorageElement(dst_site, dst_url, _CAPACITY_UNUSED)

    if dst.exists(lfn):
        return _already_there(dst, src_site, lfn, expected_adler32, start)

    with src.open(lfn) as f:
        try:
            written = dst.put(lfn, f, expected_adler32=expected_adler32)
        except ChecksumMismatch as exc:
            # the destination checked the bytes as they arrived; they were wrong
            # as read from the source, whose replica is the one to mark bad
            raise ChecksumMismatch(
                lfn,
                f"SE {src_site} (source of a transfer to {dst_site})",
                exc.expected,
                exc.actual,
            ) from exc
    return TransferResult(
        lfn,
        src_site,
        dst_site,
        written.size,
        written.adler32,
        time.perf_counter() - start,
    )


def _already_there(
    dst: StorageElement, src_site: str, lfn: str, expected: str, start: float
) -> TransferResult:
    """The result of a transfer whose copy is already at the destination."""
    size = dst.size(lfn)
    with dst.open(lfn) as f:
        actual = adler32_of_file(f)
    if not adler32_equal(expected, actual):
        raise ChecksumMismatch(
            lfn, f"SE {dst.site} (already at the destination)", expected, actual
        )
    return TransferResult(
        lfn, src_site, dst.site, size, actual, time.perf_counter() - start, True
    )


__all__ = ["copy_file", "TransferResult"]
