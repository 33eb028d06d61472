"""Adler-32 as DIRAC/Rucio write it: 8 lowercase hex digits, streamed."""

from __future__ import annotations

import io
import itertools
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b2grid.errors import BadArgument
from b2grid.storage.checksum import (
    Adler32,
    adler32_equal,
    adler32_of_bytes,
    adler32_of_file,
    copy_with_adler32,
)

_ONES = b"\xff" * 100_000


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "00000001"),  # zero-padded, as the catalogs store it
        (b"a", "00620062"),
        (b"Wikipedia", "11e60398"),
        (_ONES, f"{zlib.adler32(_ONES):08x}"),  # sums that wrap modulo 65521
    ],
)
def test_known_values(data: bytes, expected: str) -> None:
    assert adler32_of_bytes(data) == expected
    assert adler32_of_file(io.BytesIO(data)) == expected


@given(st.binary(max_size=5000), st.lists(st.integers(0, 5000), max_size=5))
def test_incremental_equals_one_shot(data: bytes, cuts: list[int]) -> None:
    a = Adler32()
    edges = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    for lo, hi in itertools.pairwise(edges):
        a.update(data[lo:hi])
    assert a.hexdigest() == adler32_of_bytes(data)
    assert a.value == zlib.adler32(data)
    assert len(a.hexdigest()) == 8
    assert a.hexdigest() == a.hexdigest().lower()


@pytest.mark.parametrize("chunk", [1, 7, 4096, 4 * 1024 * 1024])
def test_file_by_path_or_object_in_any_chunking(tmp_path: Path, chunk: int) -> None:
    data = bytes(range(256)) * 41
    p = tmp_path / "f.bin"
    p.write_bytes(data)
    expected = adler32_of_bytes(data)
    assert adler32_of_file(p, chunk=chunk) == expected
    assert adler32_of_file(str(p), chunk=chunk) == expected
    with p.open("rb") as f:
        assert adler32_of_file(f, chunk=chunk) == expected


def test_file_object_is_read_from_its_position_and_left_open() -> None:
    f = io.BytesIO(b"headerWikipedia")
    f.seek(6)
    assert adler32_of_file(f) == "11e60398"
    assert not f.closed


def test_bad_chunk_is_refused() -> None:
    with pytest.raises(BadArgument, match="chunk: must be a positive") as info:
        adler32_of_file(io.BytesIO(b"x"), chunk=0)
    assert info.value.field == "chunk"


def test_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        adler32_of_file(tmp_path / "nope")


def test_equal_ignores_case_and_dropped_leading_zeros() -> None:
    assert adler32_equal("00620062", "620062")
    assert adler32_equal("11E60398", "11e60398")
    assert not adler32_equal("11e60398", "11e60399")


class ReadOnly:
    """A source with ``read`` only (no ``readinto``), like many network streams."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def read(self, size: int = -1, /) -> bytes:
        return self._f.read(size)


@given(st.binary(max_size=20_000), st.integers(1, 3000), st.booleans())
def test_copy_with_adler32_copies_and_sums_in_order(
    data: bytes, chunk: int, has_readinto: bool
) -> None:
    src = io.BytesIO(data) if has_readinto else ReadOnly(data)
    out = io.BytesIO()
    assert copy_with_adler32(src, out, chunk=chunk) == (
        len(data),
        adler32_of_bytes(data),
    )
    assert out.getvalue() == data


def test_copy_with_adler32_lets_errors_through() -> None:
    class Broken(io.BytesIO):
        def write(self, data: object, /) -> int:
            if self.tell() > 10:
                raise OSError("disk full")
            return super().write(data)  # type: ignore[arg-type]

    with pytest.raises(OSError, match="disk full"):
        copy_with_adler32(io.BytesIO(b"x" * 100), Broken(), chunk=8)
