"""Each skim keeps its signal and rejects generic background; combined = separate.

Efficiencies are on toy signal MC (the four signal event types, or the generic
sample that is the skim's signal: taupair for TauGeneric, ccbar for charm); the
retention is on generic samples. docs/skims.md quotes the slow, larger run.
"""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from b2grid.analysis import Analysis
from b2grid.skims import SKIMS, apply_skims, get
from b2grid.skims.udst import same_candidates

#: (skim, signal sample, lowest efficiency) measured with N_FAST events
SIGNAL = [
    ("BtoD0h_Kpi", "1213030000", 0.65),
    ("B0toDstarPi_D0pi_Kpi", "1113040000", 0.55),
    ("CharmoniumPsi", "1211430000", 0.65),
    ("TDCPV_inclusiveJpsi", "1111440100", 0.65),
    ("BtoXll", "1211430000", 0.55),
    ("TauGeneric", "taupair", 0.55),
]
#: (skim, generic sample, highest retention)
BACKGROUND = [
    ("BtoD0h_Kpi", "mixed", 0.02),
    ("BtoD0h_Kpi", "uubar", 0.03),
    ("B0toDstarPi_D0pi_Kpi", "mixed", 0.01),
    ("DstToD0Pi_D0ToHpJm", "mixed", 0.01),
    ("SystematicsCombinedHadronic", "mixed", 0.01),
    ("SLUntagged", "uubar", 0.01),
    ("CharmoniumPsi", "mixed", 0.01),
    ("TauGeneric", "mixed", 0.01),
    ("TauGeneric", "uubar", 0.10),
    ("LowMassTwoTrack", "mixed", 0.01),
    ("CharmlessHad2Body", "mixed", 0.01),
]


def _kept(events: ak.Array, skim: str) -> float:
    out = apply_skims(Analysis(events), [skim])
    return float(out[get(skim).code].keep.mean())


@pytest.mark.parametrize(("skim", "event_type", "least"), SIGNAL)
def test_skim_keeps_its_signal(
    sample: dict[str, ak.Array], skim: str, event_type: str, least: float
) -> None:
    eff = _kept(sample[event_type], skim)
    print(f"{skim} efficiency on {event_type}: {eff:.3f}")
    assert eff >= least


@pytest.mark.parametrize(("skim", "event_type", "most"), BACKGROUND)
def test_skim_rejects_generic_background(
    sample: dict[str, ak.Array], skim: str, event_type: str, most: float
) -> None:
    retention = _kept(sample[event_type], skim)
    print(f"{skim} retention on {event_type}: {retention:.4f}")
    assert retention <= most


def test_general_skims_are_the_hlt_flags(sample: dict[str, ak.Array]) -> None:
    events = sample["uubar"]
    out = apply_skims(Analysis(events), ["hadron", "HadronB1", "tau"])
    trg = events.SoftwareTriggerResult
    for name, line in (
        ("hadron", "hadron"),
        ("HadronB1", "hadronb1"),
        ("tau", "tau_tau"),
    ):
        flag = ak.to_numpy(trg[f"accept_{line}"])
        assert np.array_equal(out[get(name).code].keep, flag)
        assert out[get(name).code].lists == ()


def test_a_gated_skim_requires_its_hlt_flag(sample: dict[str, ak.Array]) -> None:
    events = sample["1213030000"]
    keep = apply_skims(Analysis(events), ["BtoD0h_Kpi"])["14140101"].keep
    hadron = ak.to_numpy(events.SoftwareTriggerResult.accept_hadron)
    assert not (keep & ~hadron).any()


def test_combined_skims_equal_separate_skims(sample: dict[str, ak.Array]) -> None:
    """Shared lists change nothing: each skim alone on a fresh batch gives the same
    events and candidates as all of them on one batch."""
    events = ak.concatenate([sample["1213030000"][:400], sample["ccbar"][:400]])
    combined = apply_skims(Analysis(events), list(SKIMS))
    for code in SKIMS:
        alone = apply_skims(Analysis(events), [code])[code]
        assert np.array_equal(alone.keep, combined[code].keep), code
        assert len(alone.lists) == len(combined[code].lists)
        for a, b in zip(alone.lists, combined[code].lists, strict=True):
            assert same_candidates(a, b), (code, a.name)


def test_order_of_skims_does_not_matter(sample: dict[str, ak.Array]) -> None:
    events = sample["1113040000"][:500]
    forward = apply_skims(Analysis(events), list(SKIMS))
    backward = apply_skims(Analysis(events), list(SKIMS)[::-1])
    for code in SKIMS:
        assert np.array_equal(forward[code].keep, backward[code].keep)
        for a, b in zip(forward[code].lists, backward[code].lists, strict=True):
            assert same_candidates(a, b)


SAMPLES = (
    "1213030000", "1113040000", "1211430000", "1111440100", "mixed", "charged",
    "uubar", "ccbar", "taupair", "mumu", "ee",
)  # fmt: skip


@pytest.mark.slow
def test_efficiency_table(skim_db: object) -> None:
    """The table docs/skims.md quotes: 5000 events per sample."""
    from b2grid.physics import chain

    table = {}
    for et in SAMPLES:
        events = chain.produce_mc(et, 5000, seed=29, db=skim_db)  # type: ignore[arg-type]
        out = apply_skims(Analysis(events), list(SKIMS))
        table[et] = {c: float(o.keep.mean()) for c, o in out.items()}
    print("\n" + " " * 30 + "".join(f"{e[:10]:>11}" for e in SAMPLES))
    for code, s in SKIMS.items():
        row = "".join(f"{100 * table[e][code]:10.2f}%" for e in SAMPLES)
        print(f"{code} {s.name[:21]:<21}{row}")
    assert table["1213030000"]["14140101"] > 0.7
    assert table["mixed"]["14140101"] < 0.02
