"""Event files: each level round-trips, metadata travels inside, bad files named."""

from __future__ import annotations

import os

import awkward as ak
import numpy as np
import pytest

from b2grid import formats
from b2grid.errors import BadEventFile, SchemaError
from b2grid.formats import EventFile, EventWriter, FileMetadata
from b2grid.testing import synthetic_events


def meta(level: str = "mdst", mc: bool = True, **kw: object) -> FileMetadata:
    return FileMetadata(level=level, experiment=12, run=7, is_mc=mc, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("level", ["raw", "cdst", "mdst", "udst"])
@pytest.mark.parametrize("mc", [True, False])
def test_every_level_round_trips_exactly(tmp_path, level, mc):
    events = synthetic_events(level, 300, mc=mc, seed=1)
    stored = formats.write_events(tmp_path / "f.root", events, meta(level, mc))
    assert stored.nevents == 300
    back = formats.read_events(tmp_path / "f.root")
    assert sorted(back.fields) == sorted(events.fields)
    for part in formats.parts(level, mc=mc):
        for field in part.fields:
            a, b = events[part.name][field.name], back[part.name][field.name]
            assert ak.all(ak.flatten(a == b, axis=None)), f"{part.name}.{field.name}"
            dtype = ak.to_numpy(ak.flatten(b, axis=None)).dtype
            assert dtype == np.dtype(field.dtype), f"{part.name}.{field.name}"
    assert formats.read_metadata(tmp_path / "f.root") == stored
    assert ("MCParticle" in back.fields) is mc


def test_metadata_travels_inside_the_file(tmp_path):
    m = meta(
        campaign="proc12",
        global_tag="data_proc12",
        event_type="1213030000",
        generator_seed=42,
        software_version="0.1.0",
        parents=("/belle/Data/raw/e0012/r00007/raw_0.root",),
    )
    formats.write_events(tmp_path / "f.root", synthetic_events("mdst", 10), m)
    got = formats.read_metadata(tmp_path / "f.root")
    assert got.campaign == "proc12"
    assert got.generator_seed == 42
    assert got.parents == m.parents
    assert got.nevents == 10


def test_chunked_iteration_follows_baskets_and_covers_every_event(tmp_path):
    events = synthetic_events("mdst", 2500, seed=3)
    formats.write_events(tmp_path / "f.root", events, meta(), basket_events=1000)
    with EventFile(tmp_path / "f.root") as f:
        chunks = list(f.iterate(["Track", "EventMetaData"]))
        assert [len(c) for c in chunks] == [1000, 1000, 500]
        assert sorted(chunks[0].fields) == ["EventMetaData", "Track"]
        merged = list(f.iterate(step=1500))
        assert [len(c) for c in merged] == [2000, 500]
    again = ak.concatenate(chunks)
    assert ak.all(again.EventMetaData.event == events.EventMetaData.event)
    assert ak.all(ak.flatten(again.Track.px == events.Track.px))


def test_writer_in_batches_equals_one_write(tmp_path):
    events = synthetic_events("raw", 700, seed=5)
    with EventWriter(tmp_path / "a.root", meta("raw"), basket_events=250) as w:
        for start in range(0, 700, 90):
            w.extend(events[start : start + 90])
    back = formats.read_events(tmp_path / "a.root")
    assert len(back) == 700
    assert ak.all(ak.flatten(back.ECLDigit.adc == events.ECLDigit.adc))
    assert formats.read_metadata(tmp_path / "a.root").nevents == 700


def test_missing_collection_is_refused_by_name(tmp_path):
    events = synthetic_events("mdst", 5)
    broken = ak.zip(
        {k: events[k] for k in events.fields if k != "ECLCluster"}, depth_limit=1
    )
    with pytest.raises(SchemaError, match="ECLCluster"):
        formats.write_events(tmp_path / "f.root", broken, meta())
    assert not os.listdir(tmp_path), "a refused write leaves no file"


def test_missing_field_and_foreign_collection_are_refused(tmp_path):
    events = synthetic_events("mdst", 5)
    no_px = ak.with_field(
        events,
        ak.zip({f: events.Track[f] for f in events.Track.fields if f != "px"}),
        "Track",
    )
    with pytest.raises(SchemaError, match=r"Track\.px"):
        formats.write_events(tmp_path / "f.root", no_px, meta())
    extra = ak.with_field(events, events.Track, "Extra")
    with pytest.raises(SchemaError, match="only uDST"):
        formats.write_events(tmp_path / "g.root", extra, meta())


def test_udst_keeps_extra_collections(tmp_path):
    events = synthetic_events("udst", 20)
    plist = ak.zip(
        {
            "d0": events.Track.d0 * 0 + 1,
            "d1": ak.values_astype(events.Track.charge, np.int32),
        }
    )
    events = ak.with_field(events, plist, "PLDzeroKpi")
    formats.write_events(tmp_path / "u.root", events, meta("udst"))
    back = formats.read_events(tmp_path / "u.root")
    assert ak.all(ak.flatten(back.PLDzeroKpi.d1 == plist.d1))


def test_truncated_file_is_named(tmp_path):
    path = tmp_path / "f.root"
    formats.write_events(path, synthetic_events("mdst", 2000), meta())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BadEventFile, match=str(path)), EventFile(path) as f:
        f.read()
    with pytest.raises(BadEventFile, match="no such file"):
        EventFile(tmp_path / "absent.root")


def test_ntuple_round_trip_and_bad_columns(tmp_path):
    cols = {"__event__": np.arange(5, dtype=np.int64), "Mbc": np.linspace(5.2, 5.29, 5)}
    stored = formats.write_ntuple(tmp_path / "n.root", cols, meta("ntuple", mc=False))
    assert stored.level == "ntuple"
    assert stored.nevents == 5
    back = formats.read_ntuple(tmp_path / "n.root")
    assert np.array_equal(back["Mbc"], cols["Mbc"])
    with pytest.raises(SchemaError, match="deltaE"):
        formats.write_ntuple(
            tmp_path / "m.root", {**cols, "deltaE": np.zeros(3)}, meta("ntuple")
        )
    with pytest.raises(BadEventFile):
        EventFile(tmp_path / "n.root")  # an ntuple is not an event file


def test_every_field_is_documented():
    for level in ("raw", "cdst", "mdst", "udst"):
        text = formats.describe(level)
        for part in formats.SCHEMAS[level]:
            assert part.doc
            assert all(f.doc for f in part.fields)
            assert part.name in text
