"""The on-disk forms of the conditions database: tag JSON files and payload zarr groups.

Every write lands whole or not at all: a tag file is written to a temporary file and
renamed over the old one, a payload group is written to a temporary directory and
renamed to its final name. What is read back is validated (files are an edge) and
turned into the plain records of :mod:`~b2grid.conditions.globaltag` and
:mod:`~b2grid.conditions.payload`. No locking and no caching here.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import zarr
from pydantic import BaseModel, ConfigDict, ValidationError

from b2grid.conditions.globaltag import GlobalTag, TagStatus
from b2grid.conditions.iov import IoV
from b2grid.conditions.payload import Payload, PayloadRef, checksum
from b2grid.errors import ConditionsError

#: version of the tag file and payload metadata layout
FORMAT = 1


class _RefFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    revision: int
    iov: tuple[int, int, int, int]
    checksum: str
    created: float


class _TagFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    format: Literal[1]
    name: str
    status: TagStatus
    description: str
    created: float
    published_at: float | None
    payloads: list[_RefFile]


def _ref_json(ref: PayloadRef) -> dict[str, Any]:
    return {
        "name": ref.name,
        "revision": ref.revision,
        "iov": list(ref.iov.as_tuple()),
        "checksum": ref.checksum,
        "created": ref.created,
    }


def encode_tag(tag: GlobalTag) -> bytes:
    """The JSON document of ``tag`` (the content of ``tags/<name>.json``).

    Examples
    --------
    >>> tag = GlobalTag("main", TagStatus.STAGING, payloads=(
    ...     PayloadRef("Gains", 3, IoV.experiment(12), "abc", 5.0),))
    >>> decode_tag(encode_tag(tag), "<doc>") == tag
    True
    """
    doc = {
        "format": FORMAT,
        "name": tag.name,
        "status": tag.status.value,
        "description": tag.description,
        "created": tag.created,
        "published_at": tag.published_at,
        "payloads": [_ref_json(r) for r in tag.payloads],
    }
    return json.dumps(doc, indent=1).encode()


def decode_tag(data: bytes, source: str) -> GlobalTag:
    """Parse a tag document read from ``source``; ConditionsError if it is not one."""
    try:
        raw = _TagFile.model_validate_json(data)
        return GlobalTag(
            name=raw.name,
            status=raw.status,
            description=raw.description,
            created=raw.created,
            published_at=raw.published_at,
            payloads=tuple(
                PayloadRef(r.name, r.revision, IoV(*r.iov), r.checksum, r.created)
                for r in raw.payloads
            ),
        )
    except (ValidationError, ConditionsError) as exc:
        raise ConditionsError(
            f"{source} is not a valid global tag file ({exc}); restore it from a "
            "backup or recreate the tag"
        ) from None


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` with one rename: readers see old or new, whole."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_payload(
    path: Path,
    ref: PayloadRef,
    arrays: Mapping[str, np.ndarray[Any, Any]],
    attrs: Mapping[str, Any],
) -> None:
    """Write one payload revision as the zarr v3 group ``path`` (which must not exist).

    Group attributes hold ``b2grid_payload`` (the :class:`PayloadRef` fields) and
    ``attrs`` (the user's attributes); each array is a member array.
    """
    tmp = tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        meta = {"b2grid_payload": {"format": FORMAT, **_ref_json(ref)}, "attrs": attrs}
        group = zarr.create_group(store=tmp, zarr_format=3, attributes=meta)
        for key, arr in arrays.items():
            group.create_array(name=key, data=arr)
        os.rename(tmp, path)  # a directory appears whole, or not at all
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_payload(path: Path, name: str, revision: int) -> Payload:
    """Read the payload group ``path`` and check it against its stored checksum.

    Raises :class:`~b2grid.errors.ConditionsError` if it is missing or corrupt.
    """
    try:
        group = zarr.open_group(str(path), mode="r", zarr_format=3)
    except FileNotFoundError:
        raise ConditionsError(
            f"no payload {name!r} r{revision} at {path}; the global tags list the "
            "revisions that exist"
        ) from None
    stored = group.attrs.asdict()
    info = stored.get("b2grid_payload")
    attrs = stored.get("attrs", {})
    arrays = {key: np.asarray(arr[...]) for key, arr in group.arrays()}
    if (
        not isinstance(info, dict)
        or not isinstance(attrs, dict)
        or info.get("checksum") != checksum(arrays, attrs)
    ):
        raise ConditionsError(
            f"payload {name!r} r{revision} at {path} does not match its checksum; "
            "the copy is corrupt: restore it from a backup"
        )
    return Payload(name, revision, IoV(*info["iov"]), arrays, attrs)


__all__ = [
    "FORMAT",
    "decode_tag",
    "encode_tag",
    "read_payload",
    "write_atomic",
    "write_payload",
]
