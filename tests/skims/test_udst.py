"""uDST round trip: events, particle lists and flags read back as written."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from b2grid import formats
from b2grid.analysis import Analysis
from b2grid.errors import BadEventFile
from b2grid.skims import apply_skims, get, open_udst, read_lists, write_udst
from b2grid.skims.udst import prune, same_candidates


def _source(events: ak.Array) -> formats.FileMetadata:
    return formats.FileMetadata(
        level="mdst", experiment=1003, run=0, is_mc=True, event_type="1213030000"
    )


@pytest.fixture
def written(
    sample: dict[str, ak.Array], tmp_path: Path
) -> tuple[Analysis, np.ndarray, tuple, Path]:
    events = sample["1213030000"][:600]
    ana = Analysis(events)
    out = apply_skims(ana, ["BtoD0h_Kpi"])["14140101"]
    path = tmp_path / get("BtoD0h_Kpi").udst_name
    write_udst(
        path, out.skim, ana, out.keep, out.lists, source=_source(events),
        parents=("/belle/MC/x/sig.mdst.root",),
    )  # fmt: skip
    return ana, out.keep, out.lists, path


def test_lists_read_back_equal_the_ones_written(written: tuple) -> None:
    _ana, keep, lists, path = written
    assert path.name == "14140101.udst.root"
    back = read_lists(path)
    assert list(back) == ["B+:BtoD0pi_Kpi", "B+:BtoD0K_Kpi"]
    expected, _ = prune(lists, keep)
    for pl in expected[: len(lists)]:
        assert same_candidates(back[pl.name], pl)
    # against the original candidates, daughters resolved through the tree
    orig = lists[0]
    new = back[orig.name]
    sel = keep[orig.event]  # candidates of kept events (the hadron flag decides too)
    assert len(new) == int(sel.sum()) > 0
    assert np.array_equal(new.px, orig.px[sel])
    d0_new, d0_orig = new.daughter_lists[0], orig.daughter_lists[0]
    assert np.array_equal(
        d0_new.px[new.daughters[:, 0]], d0_orig.px[orig.daughters[sel, 0]]
    )
    k_new, k_orig = d0_new.daughter_lists[0], d0_orig.daughter_lists[0]
    assert np.array_equal(
        k_new.local[d0_new.daughters[new.daughters[:, 0], 0]],
        k_orig.local[d0_orig.daughters[orig.daughters[sel, 0], 0]],
    )
    # daughter lists hold only what the saved candidates use
    assert len(d0_new) < len(d0_orig)


def test_udst_events_metadata_and_flags(written: tuple) -> None:
    ana, keep, _, path = written
    meta = formats.read_metadata(path)
    assert meta.level == "udst"
    assert meta.nevents == int(keep.sum())
    assert meta.parents == ("/belle/MC/x/sig.mdst.root",)
    assert meta.extra["skim"]["code"] == "14140101"
    assert meta.extra["skim"]["name"] == "BtoD0h_Kpi"
    events = formats.read_events(path)
    kept = ana.events[keep]
    for part in ("EventMetaData", "Track", "ECLCluster", "MCParticle"):
        assert ak.to_list(events[part]) == ak.to_list(kept[part])
    assert ak.all(events.SkimResult.accept_14140101)


def test_open_udst_gives_lists_and_variables_without_recomputation(
    written: tuple,
) -> None:
    ana, keep, _lists, path = written
    again = open_udst(path)
    name = "B+:BtoD0pi_Kpi"
    assert "anti-D0:Kpi" in again  # the daughter list is there too
    for var in ("Mbc", "deltaE", "daughter(0, M)", "daughter(0, daughter(0, kaonID))"):
        want = ana.values(name, var)[keep[ana[name].event]]
        assert np.allclose(again.values(name, var), want, equal_nan=True), var
    # and the lists can seed new decays
    again.reconstruct_decay("D*+:x -> D0:Kpi pi+", "M - daughter(0, M) < 0.16")


def test_general_skim_udst_has_no_lists(
    sample: dict[str, ak.Array], tmp_path: Path
) -> None:
    events = sample["mumu"][:300]
    ana = Analysis(events)
    out = apply_skims(ana, ["mumu"])["00000300"]
    path = tmp_path / "00000300.udst.root"
    write_udst(path, out.skim, ana, out.keep, out.lists, source=_source(events))
    assert read_lists(path) == {}
    assert formats.read_metadata(path).nevents == int(out.keep.sum()) > 0


def test_read_lists_of_an_mdst_is_a_clear_error(mdst_files: list[Path]) -> None:
    with pytest.raises(BadEventFile, match=r"sig\.mdst\.root.*mdst file without skim"):
        read_lists(mdst_files[0])
