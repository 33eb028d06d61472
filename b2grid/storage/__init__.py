"""Storage: storage elements that hold opaque files (bytes, sizes, checksums).

This layer moves bytes and never interprets them: it does not import uproot.
"""

from b2grid.storage.collection import Collections
from b2grid.storage.download import DownloadReport, download
from b2grid.storage.element import StorageElement
from b2grid.storage.search import Searcher, SearchQuery

__all__ = [
    "Collections",
    "DownloadReport",
    "SearchQuery",
    "Searcher",
    "StorageElement",
    "download",
]
