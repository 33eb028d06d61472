"""A storage element (SE): one site's file store behind an fsspec URL.

For now an SE knows where it is, how much it may hold and how much it holds; putting,
getting and checksumming files arrive with the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass

import fsspec


@dataclass(frozen=True, slots=True)
class StorageElement:
    """The storage element of site ``site`` at fsspec ``url``, ``capacity`` bytes."""

    site: str
    url: str
    capacity: int

    def used(self) -> int:
        """Bytes held now (0 for an SE that holds nothing yet)."""
        fs, root = fsspec.core.url_to_fs(self.url)
        if not fs.exists(root):
            return 0
        return int(fs.du(root, total=True))

    def free(self) -> int:
        """Bytes that may still be written."""
        return max(self.capacity - self.used(), 0)


__all__ = ["StorageElement"]
