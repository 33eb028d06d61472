"""The conditions database on disk: tags, payload revisions, lookups, sharing."""

from __future__ import annotations

import json
import multiprocessing
import pickle
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from b2grid.conditions import ConditionsDB, IoV, TagStatus
from b2grid.errors import (
    BadIoV,
    ConditionsError,
    NoPayload,
    TagNotFound,
    TagPublished,
)

#: seconds a child process may take before the test gives up on it
TIMEOUT = 120


@pytest.fixture
def db(tmp_path: Path) -> ConditionsDB:
    return ConditionsDB(tmp_path / "cdb")


def gains(value: float) -> dict[str, Any]:
    return {"gains": np.full(4, value)}


def test_create_add_and_look_up_with_open_ends(db: ConditionsDB) -> None:
    tag = db.create_tag("main", description="prompt", now=5.0)
    assert (tag.status, tag.description, tag.created, tag.payloads) == (
        TagStatus.STAGING,
        "prompt",
        5.0,
        (),
    )
    r1 = db.add_payload("main", "Gains", IoV.experiment(12), gains(1.0), now=6.0)
    r2 = db.add_payload("main", "Gains", "(14,0)-(-1,-1)", gains(2.0))
    assert (r1.revision, r2.revision, r1.created) == (1, 2, 6.0)
    assert db.tag("main").payloads == (r1, r2)
    assert db.get("main", "Gains", 12, 0)["gains"][0] == 1.0
    assert db.get("main", "Gains", 12, 99_999)["gains"][0] == 1.0
    assert db.get("main", "Gains", 14, 3)["gains"][0] == 2.0
    assert db.get("main", "Gains", 1000, 1)["gains"][0] == 2.0
    with pytest.raises(NoPayload):
        db.get("main", "Gains", 13, 1)
    assert db.lookup(["main"], "Gains", 20, 1) == r2
    assert db.has_tag("main")
    assert not db.has_tag("other")
    assert not db.has_tag("../../etc/passwd")
    assert [t.name for t in db.tags()] == ["main"]


def test_later_revision_wins_within_a_tag(db: ConditionsDB) -> None:
    db.create_tag("main")
    db.add_payload("main", "Gains", IoV.always(), gains(1.0))
    db.add_payload("main", "Gains", IoV.runs(12, 10, 20), gains(2.0))
    p = db.get("main", "Gains", 12, 15)
    assert (p.revision, p["gains"][0]) == (2, 2.0)
    assert db.get("main", "Gains", 12, 21).revision == 1
    db.add_payload("main", "Gains", IoV.always(), gains(3.0))
    assert db.get("main", "Gains", 12, 15).revision == 3


def test_tag_stack_first_match_wins(db: ConditionsDB) -> None:
    db.create_tag("calib")
    db.create_tag("base")
    db.add_payload("base", "Gains", IoV.always(), gains(1.0))  # r1
    db.add_payload("calib", "Gains", IoV.experiment(12), gains(2.0))  # r2
    db.add_payload("base", "Gains", IoV.always(), gains(3.0))  # r3: higher, lower tag
    assert db.get(["calib", "base"], "Gains", 12, 5)["gains"][0] == 2.0
    assert db.get(["calib", "base"], "Gains", 11, 5)["gains"][0] == 3.0
    assert db.get(["base", "calib"], "Gains", 12, 5)["gains"][0] == 3.0
    with pytest.raises(ConditionsError, match="empty global tag stack"):
        db.get([], "Gains", 12, 5)


def test_unknown_tag_in_a_stack_is_an_error_even_after_a_match(
    db: ConditionsDB,
) -> None:
    db.create_tag("main_2026")
    db.add_payload("main_2026", "Gains", IoV.always(), gains(1.0))
    with pytest.raises(TagNotFound) as info:
        db.get(["main_2026", "main_2062"], "Gains", 1, 1)
    assert isinstance(info.value, LookupError)
    assert info.value.tag == "main_2062"
    assert "did you mean 'main_2026'" in str(info.value)
    assert "known tags: main_2026" in str(info.value)
    with pytest.raises(TagNotFound, match="did you mean 'main_2026'"):
        db.add_payload("Main_2026", "Gains", IoV.always(), gains(1.0))


def test_published_tags_are_immutable(db: ConditionsDB) -> None:
    db.create_tag("release")
    ref = db.add_payload("release", "Gains", IoV.always(), gains(1.0))
    published = db.publish("release", now=42.0)
    one = (IoV.always(), gains(2.0))
    assert (published.status, published.published_at) == (TagStatus.PUBLISHED, 42.0)
    attempts: list[tuple[str, Callable[[], object]]] = [
        ("add payload 'Gains'", lambda: db.add_payload("release", "Gains", *one)),
        ("remove payload 'Gains' r1", lambda: db.remove_payload("release", "Gains", 1)),
        ("publish", lambda: db.publish("release", now=43.0)),
    ]
    for action, attempt in attempts:
        with pytest.raises(TagPublished) as info:
            attempt()
        assert isinstance(info.value, PermissionError)
        assert (info.value.tag, info.value.action) == ("release", action)
        assert "'release'" in str(info.value)
    assert db.tag("release") == published
    assert db.tag("release").payloads == (ref,)


def test_no_payload_names_everything(db: ConditionsDB) -> None:
    db.create_tag("main")
    db.add_payload("main", "Gains", IoV.runs(12, 0, 100), gains(1.0))
    db.add_payload("main", "Gains", IoV(14, 0), gains(1.0))
    with pytest.raises(NoPayload) as info:
        db.get("main", "Gains", 13, 7)
    message = str(info.value)
    for part in (
        "'Gains'",
        "exp 13",
        "run 7",
        "main",
        "(12,0)-(12,100), (14,0)-(-1,-1)",
    ):
        assert part in message
    assert (info.value.tags, info.value.exp, info.value.run) == (("main",), 13, 7)

    db.create_tag("other")
    db.add_payload("other", "Gains", IoV.run(20, 1), gains(1.0))
    with pytest.raises(NoPayload, match=r"\(20,1\)-\(20,1\) in other") as info:
        db.get(["main", "other"], "Gains", 13, 7)
    assert "main > other" in str(info.value)
    with pytest.raises(NoPayload, match="did you mean 'Gains'") as info:
        db.get("main", "gains", 12, 1)


def test_copy_from_copies_the_payload_list(db: ConditionsDB) -> None:
    db.create_tag("v1")
    ref = db.add_payload("v1", "Gains", IoV.always(), gains(1.0))
    db.publish("v1")
    copy = db.create_tag("v2", copy_from="v1")
    assert (copy.status, copy.payloads) == (TagStatus.STAGING, (ref,))
    db.add_payload("v2", "Gains", IoV.experiment(12), gains(2.0))
    assert db.get("v2", "Gains", 12, 1)["gains"][0] == 2.0
    assert db.get("v1", "Gains", 12, 1)["gains"][0] == 1.0
    assert db.tag("v1").payloads == (ref,)
    with pytest.raises(TagNotFound):
        db.create_tag("v3", copy_from="v0")
    assert not db.has_tag("v3")
    with pytest.raises(ConditionsError, match="already exists"):
        db.create_tag("v1")
    with pytest.raises(ConditionsError, match="bad global tag name"):
        db.create_tag("v 4")


def test_arrays_and_attrs_round_trip_exactly(db: ConditionsDB) -> None:
    arrays: dict[str, npt.ArrayLike] = {
        "f32": np.linspace(0, 1, 7, dtype=np.float32),
        "i64": np.arange(-3, 3, dtype=np.int64).reshape(2, 3),
        "u8": np.array([0, 255], dtype=np.uint8),
        "flags": np.array([True, False, True]),
        "c128": np.array([1 + 2j, -3.5j]),
        "scalar": np.float64(9.81),
        "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "empty": np.zeros((0, 3), dtype=np.int16),
    }
    attrs = {"unit": "GeV", "scale": 1.5, "runs": [1, 2, 3], "algo": {"iters": 4}}
    db.create_tag("main")
    ref = db.add_payload("main", "Mixed", IoV.always(), arrays, attrs)
    fresh = ConditionsDB(db.root)  # nothing cached: read from disk
    p = fresh.payload("Mixed", ref.revision)
    assert set(p.arrays) == set(arrays)
    for key, original in arrays.items():
        expected = np.asarray(original)
        assert p[key].dtype == expected.dtype, key
        assert p[key].shape == expected.shape, key
        np.testing.assert_array_equal(p[key], expected)
        assert not p[key].flags.writeable
    assert dict(p.attrs) == attrs
    assert (p.name, p.revision, p.iov) == ("Mixed", 1, IoV.always())
    assert p.checksum == ref.checksum
    big_endian = np.arange(3, dtype=">f8")
    ref2 = db.add_payload("main", "Mixed", IoV.always(), {"be": big_endian})
    loaded = fresh.payload("Mixed", ref2.revision)["be"]
    assert loaded.dtype == np.dtype("=f8")  # stored in native byte order
    np.testing.assert_array_equal(loaded, big_endian)


def test_bad_payloads_are_refused_and_change_nothing(db: ConditionsDB) -> None:
    db.create_tag("main")
    cases: list[tuple[type[Exception], str, dict[str, Any]]] = [
        (ConditionsError, "no arrays", {"arrays": {}}),
        (ConditionsError, "numeric", {"arrays": {"s": np.array(["a"])}}),
        (ConditionsError, "numeric", {"arrays": {"o": np.array([None])}}),
        (ConditionsError, "JSON", {"arrays": gains(1.0), "attrs": {"x": {1, 2}}}),
        (ConditionsError, "JSON", {"arrays": gains(1.0), "attrs": {"x": float("nan")}}),
        (ConditionsError, "bad payload name", {"name": "1st"}),
        (ConditionsError, "bad array name", {"arrays": {"a/b": [1]}}),
        (BadIoV, "ends before", {"iov": "(12,50)-(12,10)"}),
    ]
    for error, match, change in cases:
        kwargs: dict[str, Any] = {
            "tag": "main",
            "name": "Gains",
            "iov": IoV.always(),
            "arrays": gains(1.0),
            **change,
        }
        with pytest.raises(error, match=match):
            db.add_payload(**kwargs)
    assert db.tag("main").payloads == ()


def test_remove_payload_keeps_the_revision_and_never_reuses_it(
    db: ConditionsDB,
) -> None:
    db.create_tag("main")
    db.add_payload("main", "Gains", IoV.always(), gains(1.0))
    db.add_payload("main", "Gains", IoV.experiment(12), gains(2.0))
    after = db.remove_payload("main", "Gains", 2)
    assert [r.revision for r in after.payloads] == [1]
    assert db.get("main", "Gains", 12, 1).revision == 1
    assert db.payload("Gains", 2)["gains"][0] == 2.0  # still on disk
    assert db.add_payload("main", "Gains", IoV.always(), gains(3.0)).revision == 3
    with pytest.raises(
        ConditionsError, match="lists no payload 'Gains' r2; it lists 'Gains' r1, r3"
    ):
        db.remove_payload("main", "Gains", 2)
    with pytest.raises(ConditionsError, match="no payload 'Gains' r9"):
        db.payload("Gains", 9)


def test_payloads_are_cached_by_revision(db: ConditionsDB) -> None:
    db.create_tag("main")
    db.add_payload("main", "Gains", IoV.always(), gains(1.0))
    first = db.get("main", "Gains", 1, 1)
    assert db.get("main", "Gains", 2, 2) is first
    assert db.payload("Gains", 1) is first


def test_a_second_instance_sees_changes(db: ConditionsDB) -> None:
    other = ConditionsDB(db.root)
    db.create_tag("main")
    assert other.tag("main").payloads == ()  # cached by content, so re-read
    db.add_payload("main", "Gains", IoV.always(), gains(1.0))
    assert other.get("main", "Gains", 1, 1)["gains"][0] == 1.0
    other.add_payload("main", "Gains", IoV.always(), gains(2.0))
    assert db.get("main", "Gains", 1, 1).revision == 2
    other.publish("main")
    with pytest.raises(TagPublished):
        db.add_payload("main", "Gains", IoV.always(), gains(3.0))
    clone = pickle.loads(pickle.dumps(db))  # noqa: S301 - how a Dask task gets it
    assert clone.get("main", "Gains", 1, 1)["gains"][0] == 2.0


def test_corrupt_files_are_caught(db: ConditionsDB) -> None:
    db.create_tag("main")
    db.add_payload("main", "Gains", IoV.always(), gains(1.0), {"unit": "ADC"})
    meta_file = db.root / "payloads" / "Gains" / "r1.zarr" / "zarr.json"
    meta = json.loads(meta_file.read_text())
    meta["attributes"]["attrs"]["unit"] = "MeV"
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(ConditionsError, match="checksum"):
        db.get("main", "Gains", 1, 1)
    (db.root / "tags" / "main.json").write_text('{"name": "main"}')
    with pytest.raises(ConditionsError, match="not a valid global tag file"):
        db.tag("main")


def test_readers_never_see_half_a_write(db: ConditionsDB) -> None:
    db.create_tag("main")
    db.add_payload("main", "Gains", IoV.always(), gains(0.0))
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        reader = ConditionsDB(db.root)
        try:
            while not done.is_set():
                p = reader.get("main", "Gains", 1, 1)
                assert p["gains"][0] == p.revision - 1
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(1, 10):
            db.add_payload("main", "Gains", IoV.always(), gains(float(i)))
    finally:
        done.set()
        for t in threads:
            t.join(TIMEOUT)
    assert errors == []
    assert db.get("main", "Gains", 1, 1).revision == 10
    leftovers = [p for p in db.root.rglob(".*") if p.name.endswith(".tmp")]
    assert leftovers == []


def _add_many(root: str, worker: int, n: int) -> None:
    """Child: ``n`` payloads into the shared tag, under a shared and an own name."""
    db = ConditionsDB(root)
    for i in range(n):
        name = "Shared" if i % 2 == 0 else f"Own{worker}"
        db.add_payload("main", name, IoV.run(worker, i), {"v": np.array([worker, i])})


def test_processes_adding_concurrently_lose_nothing(db: ConditionsDB) -> None:
    db.create_tag("main")
    ctx = multiprocessing.get_context("spawn")
    n = 20
    procs = [ctx.Process(target=_add_many, args=(str(db.root), w, n)) for w in (1, 2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(TIMEOUT)
        assert proc.exitcode == 0
    refs = db.tag("main").payloads
    assert len(refs) == 2 * n
    shared = sorted(r.revision for r in refs if r.name == "Shared")
    assert shared == list(range(1, n + 1))  # distinct, none skipped
    for name in ("Own1", "Own2"):
        assert sorted(r.revision for r in refs if r.name == name) == list(range(1, 11))
    for worker in (1, 2):
        for i in range(n):
            p = db.get("main", "Shared" if i % 2 == 0 else f"Own{worker}", worker, i)
            assert p["v"].tolist() == [worker, i]
