"""Candidate ntuples: the basf2 layout, and physics values checked independently.

M, Mbc and ΔE of B+ -> anti-D0 pi+ candidates are recomputed here for a handful of
events with plain numpy from the raw Track momenta, PDG masses from the ``particle``
package and an explicit Lorentz matrix built from the SuperKEKB beam energies.
"""

from __future__ import annotations

import math
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from particle import Particle

from b2grid import formats
from b2grid.analysis import COUNTERS, Analysis, branch_name
from b2grid.errors import SchemaError, UnknownVariable

VARIABLES = [
    "M",
    "Mbc",
    "deltaE",
    "isSignal",
    "daughter(0, M)",
    "daughter(0, daughter(0, mdstIndex))",
    "daughter(0, daughter(1, mdstIndex))",
    "daughter(1, mdstIndex)",
    "useCMSFrame(p)",
]


@pytest.fixture(scope="module")
def b_analysis(signal_mdst: ak.Array) -> Analysis:
    ana = Analysis(signal_mdst)
    ana.fill_particle_list("K+:good", "kaonID > 0.5 and abs(dr) < 2")
    ana.reconstruct_decay("D0:Kpi -> K-:good pi+", "1.8 < M < 1.9")
    ana.reconstruct_decay(
        "B+:Dpi -> anti-D0:Kpi pi+", "Mbc > 5.2 and abs(deltaE) < 0.25"
    )
    return ana


@pytest.fixture(scope="module")
def columns(b_analysis: Analysis, tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = tmp_path_factory.mktemp("ntuple") / "b.root"
    meta = b_analysis.variables_to_ntuple("B+:Dpi", VARIABLES, path)
    assert meta.level == "ntuple"
    assert meta.extra["particle_list"] == "B+:Dpi"
    assert formats.read_metadata(path).nevents == len(b_analysis["B+:Dpi"])
    return formats.read_ntuple(path)


def test_basf2_layout(
    columns: dict, b_analysis: Analysis, signal_mdst: ak.Array
) -> None:
    names = list(columns)
    assert names[: len(COUNTERS)] == list(COUNTERS)
    assert names[len(COUNTERS) :] == [branch_name(v) for v in VARIABLES]
    assert "daughter__bo0__cm__spdaughter__bo0__cm__spmdstIndex__bc__bc" in names
    assert all(c.ndim == 1 for c in columns.values())  # flat branches
    b = b_analysis["B+:Dpi"]
    assert len(columns["M"]) == len(b)
    meta = signal_mdst.EventMetaData
    assert np.array_equal(columns["__event__"], ak.to_numpy(meta.event)[b.event])
    assert (columns["__experiment__"] == 1003).all()
    assert (columns["__run__"] == 0).all()
    assert (columns["__weight__"] == 1).all()
    # __candidate__ counts 0..n-1 inside each event, __ncandidates__ is that n
    ev, cand, ncand = (
        columns[c] for c in ("__event__", "__candidate__", "__ncandidates__")
    )
    for e in np.unique(ev)[:50]:
        rows = ev == e
        assert cand[rows].tolist() == list(range(rows.sum()))
        assert (ncand[rows] == rows.sum()).all()
    assert (ncand > 1).any(), "some events must have several candidates"


def _beams() -> np.ndarray:
    """Total four-momentum of the e- (7.004 GeV) and e+ (4.002 GeV) beams, each at
    41.5 mrad to z in the x-z plane (PHYSICS.md)."""
    me, angle = 0.00051099895, 0.0415
    total = np.zeros(4)
    for energy, sign in ((7.004, 1.0), (4.002, -1.0)):
        p = math.sqrt(energy**2 - me**2)
        total += [p * math.sin(angle), 0.0, sign * p * math.cos(angle), energy]
    return total


def _lorentz_to_cms(total: np.ndarray) -> np.ndarray:
    """The 4x4 matrix taking lab (px, py, pz, E) to the frame where total is at rest."""
    beta = total[:3] / total[3]
    b2 = beta @ beta
    gamma = 1.0 / math.sqrt(1.0 - b2)
    lam = np.eye(4)
    lam[3, 3] = gamma
    lam[3, :3] = -gamma * beta
    lam[:3, 3] = -gamma * beta
    lam[:3, :3] += (gamma - 1.0) * np.outer(beta, beta) / b2
    return lam


def test_m_mbc_delta_e_agree_with_an_independent_numpy_computation(
    columns: dict, signal_mdst: ak.Array
) -> None:
    m_k = Particle.from_pdgid(321).mass / 1000.0
    m_pi = Particle.from_pdgid(211).mass / 1000.0
    total = _beams()
    lam = _lorentz_to_cms(total)
    sqrt_s = math.sqrt(total[3] ** 2 - total[:3] @ total[:3])
    e_beam = sqrt_s / 2.0
    event_index = {
        int(e): i for i, e in enumerate(ak.to_numpy(signal_mdst.EventMetaData.event))
    }
    rows = np.flatnonzero(
        np.isin(columns["__event__"], np.unique(columns["__event__"])[:8])
    )
    assert len(rows) >= 8
    for r in rows:
        trk = signal_mdst.Track[event_index[int(columns["__event__"][r])]]
        p4 = []
        for col, mass in (
            ("daughter__bo0__cm__spdaughter__bo0__cm__spmdstIndex__bc__bc", m_k),
            ("daughter__bo0__cm__spdaughter__bo1__cm__spmdstIndex__bc__bc", m_pi),
            ("daughter__bo1__cm__spmdstIndex__bc", m_pi),
        ):
            t = trk[int(columns[col][r])]
            p = np.array([float(t.px), float(t.py), float(t.pz)])
            p4.append(np.append(p, math.sqrt(p @ p + mass**2)))
        d = p4[0] + p4[1]
        b = d + p4[2]
        assert columns["daughter__bo0__cm__spM__bc"][r] == pytest.approx(
            math.sqrt(d[3] ** 2 - d[:3] @ d[:3]), abs=1e-9
        )
        assert columns["M"][r] == pytest.approx(
            math.sqrt(b[3] ** 2 - b[:3] @ b[:3]), abs=1e-9
        )
        star = lam @ b
        assert columns["Mbc"][r] == pytest.approx(
            math.sqrt(e_beam**2 - star[:3] @ star[:3]), abs=1e-9
        )
        assert columns["deltaE"][r] == pytest.approx(star[3] - e_beam, abs=1e-9)
        assert columns["useCMSFrame__bop__bc"][r] == pytest.approx(
            math.sqrt(star[:3] @ star[:3]), abs=1e-9
        )


def robust_sigma(x: np.ndarray) -> float:
    lo, hi = np.percentile(x, [16, 84])
    return float(hi - lo) / 2


def test_signal_peaks_at_the_b_mass_with_belle2_resolution(columns: dict) -> None:
    sig = columns["isSignal"] == 1
    assert sig.sum() > 1500
    mbc, de = columns["Mbc"][sig], columns["deltaE"][sig]
    assert abs(np.median(mbc) - Particle.from_pdgid(521).mass / 1000) < 0.001
    assert 0.002 <= robust_sigma(mbc) <= 0.0035
    assert abs(np.median(de)) < 0.005
    assert 0.008 <= robust_sigma(de) <= 0.025
    # background (wrong combinations) is spread out, not in the peak
    bkg = ~sig
    assert bkg.sum() > 0
    assert robust_sigma(columns["deltaE"][bkg]) > 0.03


def test_aliases_and_ntuple_errors(b_analysis: Analysis, tmp_path: Path) -> None:
    cols = b_analysis.candidate_columns(
        "B+:Dpi", {"Kid": "daughter(0, daughter(0, kaonID))"}
    )
    assert list(cols)[-1] == "Kid"
    assert (cols["Kid"] > 0.5).all()
    with pytest.raises(UnknownVariable, match="did you mean 'deltaE'"):
        b_analysis.variables_to_ntuple("B+:Dpi", ["Mbc", "deltae"], tmp_path / "x.root")
    assert not (tmp_path / "x.root").exists()
    with pytest.raises(SchemaError, match="named twice"):
        b_analysis.candidate_columns("B+:Dpi", ["M", "M"])
