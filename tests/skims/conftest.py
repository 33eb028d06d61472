"""Fixtures of the skim tests: small generated mDST batches and files."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import pytest

from b2grid import formats
from b2grid.conditions import ConditionsDB
from b2grid.physics import chain
from b2grid.physics.conditions import install_default_tags

#: events per sample in the fast tests (the slow efficiency table uses more)
N_FAST = 1500


@pytest.fixture(scope="session")
def skim_db(tmp_path_factory: pytest.TempPathFactory) -> ConditionsDB:
    db = ConditionsDB(tmp_path_factory.mktemp("skim_cdb"))
    install_default_tags(db)
    return db


@pytest.fixture(scope="session")
def sample(skim_db: ConditionsDB) -> dict[str, ak.Array]:
    """Lazily made mDST batches by event type (N_FAST events, fixed seed)."""
    cache: dict[str, ak.Array] = {}

    class _Samples(dict[str, ak.Array]):
        def __missing__(self, key: str) -> ak.Array:
            if key not in cache:
                cache[key] = chain.produce_mc(key, N_FAST, seed=11, db=skim_db)
            return cache[key]

    return _Samples()


@pytest.fixture(scope="session")
def mdst_files(
    skim_db: ConditionsDB, tmp_path_factory: pytest.TempPathFactory
) -> list[Path]:
    """Two small mDST files (signal-enriched B+B- and generic mixed) with several
    baskets each, for the runner and uDST tests."""
    folder = tmp_path_factory.mktemp("skim_inputs")
    out = []
    for name, event_type, n in (("sig", "1213030000", 800), ("mixed", "mixed", 1200)):
        path = folder / f"{name}.mdst.root"
        events = chain.produce_mc(event_type, n, seed=3, db=skim_db)
        meta = formats.FileMetadata(
            level="mdst", experiment=1003, run=0, is_mc=True, event_type=event_type
        )
        formats.write_events(path, events, meta, basket_events=300)
        out.append(path)
    return out
