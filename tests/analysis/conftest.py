"""Fixtures of the analysis tests: generated mDST batches and hand-made events."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import awkward as ak
import numpy as np
import pytest

from b2grid.conditions import ConditionsDB
from b2grid.formats import PID_DETECTORS, PID_HYPOTHESES
from b2grid.physics import chain
from b2grid.physics.conditions import install_default_tags
from b2grid.physics.flat import jagged

Track = tuple[float, float, float, int]  # px, py, pz, charge
Cluster = tuple[float, float, float]  # E, theta, phi


@pytest.fixture(scope="session")
def analysis_db(tmp_path_factory: pytest.TempPathFactory) -> ConditionsDB:
    db = ConditionsDB(tmp_path_factory.mktemp("analysis_cdb"))
    install_default_tags(db)
    return db


@pytest.fixture(scope="session")
def signal_mdst(analysis_db: ConditionsDB) -> ak.Array:
    """3000 B+ -> anti-D0 pi+, anti-D0 -> K+ pi- events (MC, with truth)."""
    return chain.produce_mc("1213030000", 3000, seed=21, db=analysis_db)


@pytest.fixture(scope="session")
def generic_mdst(analysis_db: ConditionsDB) -> ak.Array:
    """400 generic B+B- events."""
    return chain.produce_mc("charged", 400, seed=5, db=analysis_db)


def _build(
    tracks: Sequence[Sequence[Track]],
    clusters: Sequence[Sequence[Cluster]] = (),
    kaon: Sequence[Sequence[bool]] = (),
) -> ak.Array:
    n = len(tracks)
    clusters = list(clusters) or [[] for _ in range(n)]
    t_event = np.repeat(np.arange(n), [len(t) for t in tracks])
    flat = np.array([t for ev in tracks for t in ev], dtype=np.float64).reshape(-1, 4)
    nt = len(flat)
    zeros = np.zeros(nt, dtype=np.float32)
    track = jagged(
        t_event, n,
        {
            "px": flat[:, 0].astype(np.float32), "py": flat[:, 1].astype(np.float32),
            "pz": flat[:, 2].astype(np.float32), "charge": flat[:, 3].astype(np.int8),
            "d0": zeros + 0.01, "z0": zeros - 0.02, "pValue": zeros + 0.5,
            "mcIndex": np.full(nt, -1, dtype=np.int32),
        },
    )  # fmt: skip
    is_k = (
        np.array([k for ev in kaon for k in ev], dtype=bool)
        if kaon
        else np.zeros(nt, dtype=bool)
    )
    pid_fields = {
        f"{d}_{h}": np.where(is_k & (d == "TOP") & (h == "K"), 5.0, 0.0).astype(
            np.float32
        )
        for d in PID_DETECTORS
        for h in PID_HYPOTHESES
    }
    c_event = np.repeat(np.arange(n), [len(c) for c in clusters])
    cflat = np.array([c for ev in clusters for c in ev], dtype=np.float64).reshape(
        -1, 3
    )
    nc = len(cflat)
    cluster = jagged(
        c_event, n,
        {
            "E": cflat[:, 0].astype(np.float32),
            "theta": cflat[:, 1].astype(np.float32),
            "phi": cflat[:, 2].astype(np.float32),
            "trackIndex": np.full(nc, -1, dtype=np.int16),
            "mcIndex": np.full(nc, -1, dtype=np.int32),
        },
    )  # fmt: skip
    v0 = jagged(
        np.zeros(0, dtype=np.int64), n,
        {
            "trackIndexPos": np.zeros(0, np.int16),
            "trackIndexNeg": np.zeros(0, np.int16),
            "pdg": np.zeros(0, np.int32),
            "M": np.zeros(0, np.float32),
            **{c: np.zeros(0, np.float32) for c in ("px", "py", "pz", "vx", "vy")},
            "vz": np.zeros(0, np.float32),
        },
    )  # fmt: skip
    meta = chain.event_meta(n, 1003, 0)
    return ak.zip(
        {
            "EventMetaData": meta,
            "Track": track,
            "PIDLikelihood": jagged(t_event, n, pid_fields),
            "ECLCluster": cluster,
            "V0": v0,
        },
        depth_limit=1,
    )


@pytest.fixture
def toy_events() -> Callable[..., Any]:
    """Build a data-like mDST batch from per-event tracks (px, py, pz, q), clusters
    (E, theta, phi) and which tracks look like kaons."""
    return _build
