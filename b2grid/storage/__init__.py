"""Storage: storage elements that hold opaque files (bytes, sizes, checksums).

This layer moves bytes and never interprets them: it does not import uproot.
"""

from b2grid.storage.element import StorageElement

__all__ = ["StorageElement"]
