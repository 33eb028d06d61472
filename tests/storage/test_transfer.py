"""copy_file: SE to SE, streamed, verified, all or nothing at the destination."""

from __future__ import annotations

import ast
import os
import pickle
import tracemalloc
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest

import b2grid.storage
from b2grid.errors import ChecksumMismatch
from b2grid.storage.checksum import CHUNK_SIZE
from b2grid.storage.element import StorageElement
from b2grid.storage.transfer import TransferResult, copy_file

LFN = "/belle/Data/proc13/e0010/4S/r01234/mdst/sub00/mdst_000001.root"


@pytest.fixture
def kek(tmp_path: Path) -> StorageElement:
    return StorageElement("KEK", f"file://{tmp_path}/se/KEK", capacity=10**9)


@pytest.fixture
def desy(tmp_path: Path) -> StorageElement:
    return StorageElement("DESY", f"file://{tmp_path}/se/DESY", capacity=10**9)


def copy(src: StorageElement, dst: StorageElement, expected: str) -> TransferResult:
    return copy_file(
        src.url, dst.url, LFN, expected, src_site=src.site, dst_site=dst.site
    )


def nothing_at(se: StorageElement) -> bool:
    return list(se.list("/")) == [] and list(se.list_partial("/")) == []


def test_copy_moves_the_bytes_and_reports_small_metadata(
    kek: StorageElement, desy: StorageElement
) -> None:
    data = os.urandom(100_000)
    adler = kek.put_bytes(LFN, data).adler32
    result = copy(kek, desy, adler)
    assert (result.lfn, result.src_site, result.dst_site) == (LFN, "KEK", "DESY")
    assert (result.size, result.adler32) == (len(data), adler)
    assert result.seconds >= 0
    assert not result.already_present
    with desy.open(LFN) as f:
        assert f.read() == data
    assert kek.exists(LFN)  # a copy, not a move
    assert list(desy.list_partial("/")) == []


def test_task_and_result_pickle_for_dask() -> None:
    # our own bytes, round-tripped: nothing untrusted is unpickled
    assert pickle.loads(pickle.dumps(copy_file)) is copy_file  # noqa: S301
    r = TransferResult(LFN, "KEK", "DESY", 9, "11e60398", 0.5)
    assert pickle.loads(pickle.dumps(r)) == r  # noqa: S301


def test_a_corrupt_source_is_caught_and_nothing_lands(
    kek: StorageElement, desy: StorageElement
) -> None:
    data = os.urandom(3 * CHUNK_SIZE // 2)
    adler = kek.put_bytes(LFN, data).adler32
    on_disk = Path(kek.path_for(LFN))
    flipped = bytearray(data)
    flipped[len(data) - 7] ^= 0x40
    on_disk.write_bytes(bytes(flipped))

    with pytest.raises(ChecksumMismatch) as info:
        copy(kek, desy, adler)
    err = info.value
    assert err.lfn == LFN
    assert err.where.startswith("SE KEK")
    assert "DESY" in err.where  # where the copy was going
    assert err.expected == adler
    assert err.actual == f"{zlib.adler32(flipped):08x}"
    assert not desy.exists(LFN)
    assert nothing_at(desy)


def test_a_missing_source_leaves_nothing(
    kek: StorageElement, desy: StorageElement
) -> None:
    with pytest.raises(FileNotFoundError, match="storage element of KEK"):
        copy(kek, desy, "00000001")
    assert nothing_at(desy)


def test_a_repeated_transfer_finds_its_verified_copy(
    kek: StorageElement, desy: StorageElement
) -> None:
    adler = kek.put_bytes(LFN, b"Wikipedia").adler32
    first = copy(kek, desy, adler)
    again = copy(kek, desy, adler)
    assert again.already_present
    assert (again.size, again.adler32) == (first.size, first.adler32)


def test_a_corrupt_copy_already_at_the_destination_is_reported(
    kek: StorageElement, desy: StorageElement
) -> None:
    adler = kek.put_bytes(LFN, b"Wikipedia").adler32
    desy.put_bytes(LFN, b"Wikipedix")
    with pytest.raises(ChecksumMismatch) as info:
        copy(kek, desy, adler)
    assert info.value.where.startswith("SE DESY")


@pytest.fixture
def memory_se() -> Iterator[StorageElement]:
    root = f"/b2grid-test-{uuid.uuid4().hex}"
    yield StorageElement("BNL", f"memory://{root}", capacity=10**9)
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


def test_copy_between_different_filesystems(
    kek: StorageElement, memory_se: StorageElement
) -> None:
    adler = kek.put_bytes(LFN, b"Wikipedia").adler32
    assert copy(kek, memory_se, adler).size == 9
    with memory_se.open(LFN) as f:
        assert f.read() == b"Wikipedia"

    memory_se.delete(LFN)
    memory_se.put_bytes(LFN, b"Wikipedix")  # corrupt at the (memory) source
    kek.delete(LFN)
    with pytest.raises(ChecksumMismatch, match="SE BNL"):
        copy(memory_se, kek, adler)
    assert nothing_at(kek)


def test_a_50_mb_transfer_streams_with_bounded_memory(
    kek: StorageElement, desy: StorageElement, tmp_path: Path
) -> None:
    block = os.urandom(1 << 20)
    local = tmp_path / "big.root"
    with local.open("wb") as f:
        for i in range(50):
            f.write(bytes([i]) + block[1:])
    adler = kek.put(LFN, local).adler32

    tracemalloc.start()
    try:
        result = copy(kek, desy, adler)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.size, result.adler32) == (50 << 20, adler)
    assert peak < 4 * CHUNK_SIZE
    assert Path(desy.path_for(LFN)).read_bytes() == local.read_bytes()


@pytest.mark.parametrize("module", ["checksum", "element", "transfer"])
def test_the_byte_movers_import_no_event_or_dask_libraries(module: str) -> None:
    source = Path(b2grid.storage.__file__).parent / f"{module}.py"
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"uproot", "awkward", "dask", "distributed"}
