"""Where site status lives between processes: a small locked JSON file in the grid home.

Several processes (the controller and `b2grid site ...` in other terminals) change and
read site status; each change is one read-modify-write under an exclusive ``flock`` and
lands with an atomic rename, so a reader never sees half a file. (When the catalog of
the storage layer exists this table moves into it; the interface stays.)
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from b2grid.sites.topology import SiteStatus


class SiteStatusStore:
    """Persistent site statuses under ``<home>/state/sites.json``."""

    def __init__(self, home: Path) -> None:
        self.path = home / "state" / "sites.json"
        self._lock_path = home / "state" / "sites.lock"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, SiteStatus]:
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        out = {}
        for name, value in raw.items():
            try:
                out[name] = SiteStatus(value)
            except ValueError:
                continue  # a status this version does not know: treat as absent
        return out

    def load(self) -> dict[str, SiteStatus]:
        """Every stored status (sites never changed are absent: they are active)."""
        return self._read()

    def update(
        self, change: Callable[[dict[str, SiteStatus]], dict[str, SiteStatus]]
    ) -> dict[str, SiteStatus]:
        """Apply ``change`` to the stored statuses atomically and return the result.

        ``change`` may raise to refuse; then nothing is written.
        """
        with self._locked():
            new = change(self._read())
            fd, tmp = tempfile.mkstemp(
                dir=self.path.parent, prefix=".sites.", suffix=".tmp"
            )
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump({k: v.value for k, v in sorted(new.items())}, f, indent=1)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            return new


__all__ = ["SiteStatusStore"]
