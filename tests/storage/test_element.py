"""StorageElement: atomic, checksummed, never-overwriting puts; verified gets."""

from __future__ import annotations

import io
import os
import tracemalloc
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest

from b2grid.errors import (
    BadLFN,
    ChecksumMismatch,
    LocalFileError,
    NameReused,
    StorageError,
)
from b2grid.storage.checksum import CHUNK_SIZE, adler32_of_bytes
from b2grid.storage.element import PartialEntry, SEEntry, StorageElement

#: a real-looking official LFN (long, deep)
LFN = (
    "/belle/MC/release-08-00-00/DB00002100/MC15ri_b/prod00024816/s00/e1003/4S/r00000"
    "/mixed/mdst/sub00/mdst_000001_prod00024816_task10020000001.root"
)


def files_under(root: Path) -> list[str]:
    """Every file below ``root``, hidden ones included, relative and sorted."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def se(tmp_path: Path) -> StorageElement:
    return StorageElement("KEK", f"file://{tmp_path}/se/KEK", capacity=10**9)


@pytest.fixture(params=["file", "memory"])
def any_se(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageElement]:
    """A file:// SE, and the same tests on an fsspec memory:// SE."""
    if request.param == "file":
        yield StorageElement("KEK", f"file://{tmp_path}/se/KEK", capacity=10**9)
        return
    root = f"/b2grid-test-{uuid.uuid4().hex}"
    yield StorageElement("KEK", f"memory://{root}", capacity=10**9)
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


class Failing(io.RawIOBase):
    """A source that gives ``good`` bytes, then fails as a dropped connection."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            raise ConnectionResetError("source went away")
        n = min(size if size >= 0 else self.left, self.left)
        self.left -= n
        return b"x" * n


# -- names ---------------------------------------------------------------------


def test_a_file_lives_at_its_lfn_below_the_root(
    se: StorageElement, tmp_path: Path
) -> None:
    assert se.path_for(LFN) == f"{tmp_path}/se/KEK{LFN}"
    se.put_bytes(LFN, b"abc")
    assert (tmp_path / "se" / "KEK" / LFN.lstrip("/")).read_bytes() == b"abc"


@pytest.mark.parametrize(
    ("lfn", "problem"),
    [
        ("belle/MC/f.root", "absolute"),
        ("/belle//MC/f.root", "empty path segment"),
        ("/belle/MC/", "empty path segment"),
        ("/belle/../../etc/passwd", "starts with '.'"),
        ("/belle/MC/.f.root.0123.part", "starts with '.'"),
    ],
)
def test_bad_names_are_refused_before_any_io(
    se: StorageElement, tmp_path: Path, lfn: str, problem: str
) -> None:
    with pytest.raises(BadLFN, match=problem):
        se.put_bytes(lfn, b"x")
    assert not (tmp_path / "se").exists()


# -- put -------------------------------------------------------------------------


def test_put_from_a_path_a_file_object_or_bytes(
    any_se: StorageElement, tmp_path: Path
) -> None:
    data = os.urandom(10_000)
    local = tmp_path / "local.root"
    local.write_bytes(data)
    expected = adler32_of_bytes(data)

    r1 = any_se.put("/belle/user/a/f1.root", local, expected_adler32=expected)
    r2 = any_se.put("/belle/user/a/f2.root", io.BytesIO(data))
    r3 = any_se.put_bytes("/belle/user/a/f3.root", data)
    assert r1 == r2 == r3
    assert (r1.size, r1.adler32) == (len(data), expected)
    for name in ("f1", "f2", "f3"):
        with any_se.open(f"/belle/user/a/{name}.root") as f:
            assert f.read() == data


def test_put_refuses_to_overwrite(any_se: StorageElement) -> None:
    any_se.put_bytes(LFN, b"first")
    with pytest.raises(NameReused, match="never reused") as info:
        any_se.put_bytes(LFN, b"second")
    assert isinstance(info.value, FileExistsError)
    assert isinstance(info.value, StorageError)
    with any_se.open(LFN) as f:
        assert f.read() == b"first"
    assert list(any_se.list_partial()) == []


def test_put_with_wrong_checksum_leaves_nothing(any_se: StorageElement) -> None:
    with pytest.raises(ChecksumMismatch) as info:
        any_se.put(LFN, io.BytesIO(b"Wikipedia"), expected_adler32="deadbeef")
    err = info.value
    assert (err.lfn, err.where) == (LFN, "SE KEK")
    assert (err.expected, err.actual) == ("deadbeef", "11e60398")
    assert not any_se.exists(LFN)
    assert list(any_se.list("/")) == []
    assert list(any_se.list_partial("/")) == []


def test_put_accepts_the_checksum_in_any_case(se: StorageElement) -> None:
    assert se.put(LFN, io.BytesIO(b"Wikipedia"), "11E60398").adler32 == "11e60398"


@pytest.mark.parametrize("good", [0, 1000, 2 * CHUNK_SIZE + 5])
def test_interrupted_put_leaves_no_file_and_no_temporary(
    se: StorageElement, tmp_path: Path, good: int
) -> None:
    with pytest.raises(ConnectionResetError, match="source went away"):
        se.put(LFN, Failing(good))
    assert not se.exists(LFN)
    assert list(se.list_partial("/")) == []
    assert files_under(tmp_path / "se") == []


def test_interrupted_put_leaves_nothing_listed(any_se: StorageElement) -> None:
    with pytest.raises(ConnectionResetError):
        any_se.put(LFN, Failing(CHUNK_SIZE + 1))
    assert list(any_se.list("/")) == []
    assert list(any_se.list_partial("/")) == []


def test_a_write_in_flight_is_a_partial_not_a_file(any_se: StorageElement) -> None:
    seen: dict[str, object] = {}

    class Peeking(io.RawIOBase):
        calls = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            self.calls += 1
            if self.calls == 2:  # the first chunk is written by now
                seen["files"] = list(any_se.list("/"))
                seen["partial"] = list(any_se.list_partial("/"))
                seen["exists"] = any_se.exists(LFN)
                return b""
            return b"y" * 100

    any_se.put(LFN, Peeking())
    assert seen["files"] == []
    assert seen["exists"] is False
    (partial,) = seen["partial"]  # type: ignore[misc]
    assert isinstance(partial, PartialEntry)
    assert partial.lfn == LFN
    assert os.path.basename(partial.path).startswith(".mdst_000001_")
    assert partial.path.endswith(".part")
    # once committed: a file, and no partial left
    assert [e.lfn for e in any_se.list("/")] == [LFN]
    assert list(any_se.list_partial("/")) == []


def test_missing_local_file_names_the_path_and_writes_nothing(
    se: StorageElement, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "f.root"
    with pytest.raises(LocalFileError, match="no such file") as info:
        se.put(LFN, missing)
    assert info.value.path == str(missing)
    assert str(missing) in str(info.value)
    assert isinstance(info.value, OSError)
    assert not (tmp_path / "se").exists()


def test_a_directory_is_not_a_local_file(se: StorageElement, tmp_path: Path) -> None:
    with pytest.raises(LocalFileError, match="is a directory"):
        se.put(LFN, tmp_path)
    assert not (tmp_path / "se").exists()


def test_abandoned_partials_can_be_discarded(
    se: StorageElement, tmp_path: Path
) -> None:
    se.put_bytes("/belle/Data/a.root", b"a")
    stale = tmp_path / "se" / "KEK" / "belle" / "Data" / f".b.root.{'0' * 32}.part"
    stale.write_bytes(b"half")
    (entry,) = se.list_partial()
    assert (entry.lfn, entry.size) == ("/belle/Data/b.root", 4)
    assert se.discard_partial(entry)
    assert not se.discard_partial(entry)
    assert files_under(tmp_path / "se") == ["KEK/belle/Data/a.root"]
    with pytest.raises(ValueError, match="not a temporary"):
        se.discard_partial(
            PartialEntry("/x", f"{tmp_path}/se/KEK/belle/Data/a.root", 1, 0)
        )


# -- read, get, verify ----------------------------------------------------------------


def test_get_verifies_and_replaces_atomically(
    any_se: StorageElement, tmp_path: Path
) -> None:
    any_se.put_bytes(LFN, b"Wikipedia")
    out = tmp_path / "download" / "deep" / "f.root"
    assert any_se.get(LFN, out, "11e60398").adler32 == "11e60398"
    assert out.read_bytes() == b"Wikipedia"

    out.write_bytes(b"old contents")
    with pytest.raises(ChecksumMismatch) as info:
        any_se.get(LFN, out, "00000001")
    assert info.value.where == "SE KEK (download)"
    assert out.read_bytes() == b"old contents"  # untouched by the bad download
    assert sorted(p.name for p in out.parent.iterdir()) == ["f.root"]

    assert any_se.get(LFN, out, None).size == 9  # None: no check asked
    assert out.read_bytes() == b"Wikipedia"


def test_corruption_on_the_se_is_caught_by_verify_and_get(
    se: StorageElement, tmp_path: Path
) -> None:
    data = os.urandom(5000)
    expected = se.put_bytes(LFN, data).adler32
    assert se.verify(LFN, expected)
    path = Path(se.path_for(LFN))
    flipped = bytearray(data)
    flipped[1234] ^= 0x01
    path.write_bytes(bytes(flipped))
    assert not se.verify(LFN, expected)
    with pytest.raises(ChecksumMismatch):
        se.get(LFN, tmp_path / "f.root", expected)
    assert not (tmp_path / "f.root").exists()


def test_missing_files_raise_file_not_found_naming_lfn_and_site(
    any_se: StorageElement, tmp_path: Path
) -> None:
    for call in (
        lambda: any_se.open(LFN),
        lambda: any_se.size(LFN),
        lambda: any_se.get(LFN, tmp_path / "f", None),
        lambda: any_se.verify(LFN, "00000001"),
    ):
        with pytest.raises(
            FileNotFoundError, match="not on the storage element of KEK"
        ):
            call()
    assert not (tmp_path / "f").exists()


def test_exists_size_delete(any_se: StorageElement) -> None:
    assert not any_se.exists(LFN)
    any_se.put_bytes(LFN, b"12345")
    assert any_se.exists(LFN)
    assert not any_se.exists("/belle/MC")  # a directory is not a file
    assert any_se.size(LFN) == 5
    assert any_se.delete(LFN) is True
    assert any_se.delete(LFN) is False
    assert not any_se.exists(LFN)


# -- listing and capacity --------------------------------------------------------


def test_list_reconstructs_lfns_below_a_prefix(any_se: StorageElement) -> None:
    names = ["/belle/Data/b.root", "/belle/Data/a.root", "/belle/MC/c.root"]
    for i, name in enumerate(names):
        any_se.put_bytes(name, b"x" * (i + 1))
    entries = list(any_se.list())
    assert [e.lfn for e in entries] == sorted(names)
    assert all(isinstance(e, SEEntry) and e.mtime > 0 for e in entries)
    assert {e.lfn: e.size for e in entries}["/belle/MC/c.root"] == 3
    assert [e.lfn for e in any_se.list("/belle/Data/")] == [
        "/belle/Data/a.root",
        "/belle/Data/b.root",
    ]
    assert [e.lfn for e in any_se.list("/belle/MC/c.root")] == ["/belle/MC/c.root"]
    assert list(any_se.list("/belle/nothing")) == []
    assert len(list(any_se.list("/"))) == 3


def test_used_and_free(se: StorageElement) -> None:
    assert (se.used(), se.free()) == (0, 10**9)
    se.put_bytes("/belle/a", b"x" * 1000)
    assert (se.used(), se.free()) == (1000, 10**9 - 1000)
    small = StorageElement("KEK", se.url, capacity=10)
    assert small.free() == 0


# -- large files stream ---------------------------------------------------------------


def test_a_50_mb_file_streams_with_bounded_memory(
    se: StorageElement, tmp_path: Path
) -> None:
    block = os.urandom(1 << 20)
    data = b"".join(bytes([i]) + block[1:] for i in range(50))
    local = tmp_path / "big.root"
    local.write_bytes(data)
    expected = f"{zlib.adler32(data):08x}"
    del data

    tracemalloc.start()
    try:
        put = se.put(LFN, local, expected_adler32=expected)
        got = se.get(LFN, tmp_path / "back.root", expected)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert put.size == got.size == 50 << 20
    assert put.adler32 == got.adler32 == expected
    assert peak < 4 * CHUNK_SIZE  # a chunk or two in flight, never the whole file
    assert (tmp_path / "back.root").read_bytes() == local.read_bytes()
