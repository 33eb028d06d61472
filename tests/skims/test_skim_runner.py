"""Combined skim runs over files: read once, same result as separate runs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import pytest

from b2grid import formats
from b2grid.errors import BadEventFile, UnknownSkim
from b2grid.skims import read_lists, run_skims
from b2grid.skims.udst import same_candidates

TEN = [
    "BtoD0h_Kpi", "B0toDstarPi_D0pi_Kpi", "B0toDpi_Kpipi", "SLUntagged",
    "SystematicsCombinedHadronic", "DstToD0Pi_D0ToHpJm", "CharmoniumPsi",
    "TDCPV_inclusiveJpsi", "TauGeneric", "hadron",
]  # fmt: skip


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[str, int, int]]:
    """Count every event range read from every file."""
    seen: Counter[tuple[str, int, int]] = Counter()
    original = formats.EventFile._read

    def counting(self: formats.EventFile, names: Any, start: int, stop: int) -> Any:
        seen[(Path(self.path).name, start, stop)] += 1
        return original(self, names, start, stop)

    monkeypatch.setattr(formats.EventFile, "_read", counting)
    return seen


def test_combined_run_equals_separate_runs_and_reads_once(
    mdst_files: list[Path], tmp_path: Path, reads: Counter[tuple[str, int, int]]
) -> None:
    report = run_skims(mdst_files, TEN, tmp_path / "combined", step=300)
    assert report.events_in == 2000
    assert set(reads.values()) == {1}  # each chunk of each file read once
    assert {name for name, _, _ in reads} == {"sig.mdst.root", "mixed.mdst.root"}
    assert sum(stop - start for _, start, stop in reads) == 2000
    for name in TEN:
        alone = run_skims(mdst_files, [name], tmp_path / name, step=300)
        (code,) = alone.stats
        a = tmp_path / "combined" / f"{code}.udst.root"
        b = tmp_path / name / f"{code}.udst.root"
        ea, eb = formats.read_events(a), formats.read_events(b)
        assert ak.to_list(ea.EventMetaData) == ak.to_list(eb.EventMetaData), name
        assert ak.to_list(ea.Track.px) == ak.to_list(eb.Track.px)
        assert np.array_equal(
            ak.to_numpy(ea.SkimResult[f"accept_{code}"]),
            ak.to_numpy(eb.SkimResult[f"accept_{code}"]),
        )
        la, lb = read_lists(a), read_lists(b)
        assert list(la) == list(lb)
        for key in la:
            assert same_candidates(la[key], lb[key]), (name, key)
        assert report.stats[code].events_kept == alone.stats[code].events_kept


def test_stats_and_outputs(mdst_files: list[Path], tmp_path: Path) -> None:
    report = run_skims(mdst_files, ["BtoD0h_Kpi", "TauGeneric"], tmp_path)
    st = report.stats["14140101"]
    assert st.events_in == 2000
    assert 0.2 < st.retention < 0.5  # 800 signal-rich + 1200 mixed events
    assert st.bytes_written == (tmp_path / "14140101.udst.root").stat().st_size
    assert st.bytes_per_event > 1000
    assert st.cpu_per_event > 0
    assert st.candidates["B+:BtoD0pi_Kpi"] >= st.events_kept * 0.5
    meta = report.outputs["14140101"]
    assert meta.level == "udst"
    assert meta.nevents == st.events_kept
    assert [Path(p).name for p in meta.parents] == ["sig.mdst.root", "mixed.mdst.root"]
    assert meta.extra["skim"]["flags"] == ["14140101", "18570600"]


def test_skimming_a_udst_drops_its_old_lists(
    mdst_files: list[Path], tmp_path: Path
) -> None:
    run_skims(mdst_files[:1], ["hadron"], tmp_path / "a")
    udst = tmp_path / "a" / "00000100.udst.root"
    report = run_skims([udst], ["BtoD0h_Kpi"], tmp_path / "b")
    events = formats.read_events(tmp_path / "b" / "14140101.udst.root")
    assert report.stats["14140101"].events_kept == len(events) > 0
    assert "accept_00000100" not in events.SkimResult.fields


def test_in_memory_batches_run_too(sample: dict[str, ak.Array], tmp_path: Path) -> None:
    report = run_skims(sample["1213030000"][:300], ["BtoD0h_Kpi"], tmp_path)
    assert report.stats["14140101"].events_kept > 150
    assert report.inputs == ()


def test_bad_inputs_are_named(
    mdst_files: list[Path], tmp_path: Path, skim_db: Any
) -> None:
    from b2grid.physics import chain

    raw = tmp_path / "run.raw.root"
    chain.write_mc(raw, "mixed", 20, seed=1, db=skim_db, level="raw")
    with pytest.raises(
        BadEventFile, match=r"run\.raw\.root.*raw file; skims read mDST"
    ):
        run_skims([mdst_files[0], raw], ["BtoD0h_Kpi"], tmp_path / "o")
    assert not (tmp_path / "o" / "14140101.udst.root").exists()
    junk = tmp_path / "notes.root"
    junk.write_bytes(b"not a ROOT file")
    with pytest.raises(BadEventFile, match=r"notes\.root"):
        run_skims([junk], ["BtoD0h_Kpi"], tmp_path / "o")
    with pytest.raises(UnknownSkim, match="did you mean 'TauGeneric'"):
        run_skims(mdst_files, ["TauGenric"], tmp_path / "o")
