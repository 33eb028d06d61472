"""b2grid: the Belle II computing model on Dask — a grid in a box.

The names a physicist types; everything else is reachable from the subpackages.
"""

from b2grid.clock import VirtualClock, WallClock
from b2grid.config import GridConfig, load_config
from b2grid.errors import B2GridError, ConfigError
from b2grid.grid import Grid, connect

__version__ = "0.1.0"

__all__ = [
    "B2GridError",
    "ConfigError",
    "Grid",
    "GridConfig",
    "VirtualClock",
    "WallClock",
    "__version__",
    "connect",
    "load_config",
]
