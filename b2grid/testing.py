"""Test harness for b2grid's own tests and for users testing their analyses.

``small_config`` builds a validated grid of a few tiny sites in a temporary home;
``small_grid`` starts it (embedded, no dashboard) for the length of a ``with`` block.
Wrap them in fixtures in your ``conftest.py``::

    @pytest.fixture
    def grid(tmp_path):
        with b2grid.testing.small_grid(tmp_path) as grid:
            yield grid
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from b2grid.clock import Clock
from b2grid.config import GridConfig, parse_config
from b2grid.grid import Grid
from b2grid.storage.identity import User

#: the default small grid: (name, kind, country, slots)
SMALL_SITES: tuple[tuple[str, str, str, int], ...] = (
    ("KEK", "raw_data_centre", "JP", 2),
    ("BNL", "raw_data_centre", "US", 1),
    ("DESY", "raw_data_centre", "DE", 1),
    ("SiGNET", "grid", "SI", 1),
)


def small_config_data(
    home: str | Path,
    sites: Sequence[tuple[str, str, str, int]] = SMALL_SITES,
    *,
    scheduler: str = "local",
    capacity: str = "1 GB",
    datablock_size: int = 1000,
    runtime: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The plain data of a small grid's cluster.yaml (edit it, then validate).

    ``runtime`` entries replace the small grid's (e.g. ``{"job_memory": "1 GiB"}``).
    """
    data = {
        "home": str(home),
        "scheduler": scheduler,
        # threads share one process, and Dask pauses every worker once the process
        # passes 80 % of this: a test process that has made physics holds more
        # than 1 GiB, so the limit is far above what a small grid needs
        "runtime": {
            "workers": "threads",
            "dashboard": None,
            "memory_limit": "12 GiB",
            **(runtime or {}),
        },
        "roles": {
            "data_taking": sites[0][0],
            "prompt_calibration": sites[min(1, len(sites) - 1)][0],
            "official_calibration": sites[min(2, len(sites) - 1)][0],
        },
        "policies": {
            "copies": {"raw": 1, "cdst": 1, "mdst": 1, "udst": 1, "mc": 1},
            "user_output": {"copies": min(2, len(sites)), "lifetime_days": 90},
            "datablock_size": datablock_size,
        },
        "sites": [
            {
                "name": name,
                "kind": kind,
                "country": country,
                "slots": slots,
                "storage": {"url": f"file://{{home}}/se/{name}", "capacity": capacity},
            }
            for name, kind, country, slots in sites
        ],
    }
    return data


def small_config(home: str | Path, **kwargs: Any) -> GridConfig:
    """A validated small grid in ``home`` (see :func:`small_config_data`)."""
    return parse_config(small_config_data(home, **kwargs), "small-grid.yaml")


def write_config(path: str | Path, data: dict[str, Any]) -> Path:
    """Write config data as a cluster.yaml file; returns the path."""
    path = Path(path)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


class Done:
    """A finished computation that looks like a ``distributed.Future``."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        try:
            self._value = fn(*args, **kwargs)
        except Exception as exc:  # handed back from result(), as Dask does
            self._error = exc

    def result(self, timeout: float | None = None) -> Any:
        if self._error is not None:
            raise self._error
        return self._value


def run_inline(site: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Done:
    """A stand-in for ``Grid.run_at`` that runs ``fn`` at once, in this process.

    Lets the storage agents be tested without a Dask cluster:
    ``grid.storage.submitter = run_inline``.
    """
    return Done(fn, *args, **kwargs)


def offline_grid(
    home: str | Path,
    *,
    clock: Clock | None = None,
    user: User | None = None,
    **kwargs: Any,
) -> Grid:
    """A small grid that is not started, with transfers run inline (no Dask).

    The test stands in for the controller: it runs the storage agents itself
    (``grid.storage.run_agents(now)``), which only the controller may otherwise.
    Use one per home: a second grid on the same home is an ordinary user's.
    """
    grid = Grid(small_config(home, **kwargs), clock=clock, user=user)
    grid.storage.submitter = run_inline
    grid.storage.runs_agents = True
    return grid


@contextmanager
def small_grid(
    home: str | Path,
    *,
    clock: Clock | None = None,
    user: User | None = None,
    storage_agents: bool = False,
    **kwargs: Any,
) -> Iterator[Grid]:
    """A started small grid (controller) that shuts down when the block ends.

    Its storage agents run only when the test calls ``grid.storage.run_agents()``
    unless ``storage_agents`` is True (then every few seconds, as in `b2grid up`).
    """
    grid = Grid(small_config(home, **kwargs), clock=clock, user=user)
    if not storage_agents:
        grid.storage_interval = float("inf")
    with grid:
        yield grid


#: who drives production in tests and examples
PRODUCER = User("prod", roles=frozenset({"production"}))


def production_grid(home: str | Path, *, clock: Clock | None = None) -> Grid:
    """A small grid (not started) for production: RAW kept at KEK plus one other
    raw data centre, the production role, storage agents every second (so inputs
    reach the calibration centre) and quick heartbeats.

    Examples
    --------
    >>> grid = production_grid("/tmp/b2grid-doc-home")
    >>> grid.config.policies.copies.raw, sorted(grid.user.roles)
    (2, ['production'])
    """
    data = small_config_data(home)
    data["policies"]["copies"]["raw"] = 2
    grid = Grid(parse_config(data, "production.yaml"), clock=clock, user=PRODUCER)
    grid.storage_interval = 1.0
    grid.agent_interval = 0.2
    grid.jobs.heartbeat_interval = 0.5
    return grid


def wait_until(
    predicate: Callable[[], object], timeout: float = 60.0, what: str = "condition"
) -> None:
    """Return once ``predicate()`` is true; ``TimeoutError`` naming ``what`` after
    ``timeout`` seconds. For tests of a grid whose agents run on their own threads
    and processes: wait on a condition with a deadline, never a bare sleep.

    Examples
    --------
    >>> wait_until(lambda: True)
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout} s")
        time.sleep(0.02)  # the poll period, not a synchronisation


__all__ = [
    "PRODUCER",
    "SMALL_SITES",
    "Done",
    "offline_grid",
    "production_grid",
    "run_inline",
    "small_config",
    "small_config_data",
    "small_grid",
    "synthetic_events",
    "wait_until",
    "write_config",
]


def synthetic_events(level: str, n: int, *, mc: bool = True, seed: int = 0) -> Any:
    """``n`` events of random numbers shaped like the schema of ``level``.

    For testing I/O and tools without running the physics: every group and
    collection of the level is present with the right dtypes; collections hold
    Poisson(5) objects per event (MCParticle Poisson(30)).
    """
    import awkward as ak
    import numpy as np

    from b2grid.formats import parts

    rng = np.random.default_rng(seed)
    out = {}
    for part in parts(level, mc=mc):
        size = n
        counts = None
        if part.jagged:
            counts = rng.poisson(30 if part.name == "MCParticle" else 5, n)
            size = int(counts.sum())
        fields = {}
        for f in part.fields:
            dtype = np.dtype(f.dtype)
            if dtype.kind == "f":
                fields[f.name] = rng.normal(size=size).astype(dtype)
            elif dtype.kind == "b":
                fields[f.name] = rng.random(size) < 0.5
            else:
                fields[f.name] = rng.integers(-1, 100, size).astype(dtype)
        record = ak.zip(fields, depth_limit=1)
        out[part.name] = record if counts is None else ak.unflatten(record, counts)
    return ak.zip(out, depth_limit=1)
