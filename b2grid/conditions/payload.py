"""Payloads: named, numbered calibration constants (numpy arrays plus JSON attributes).

A :class:`Payload` is what reconstruction reads; a :class:`PayloadRef` is the small
record a global tag lists for it. A revision of a payload never changes once written,
so both are frozen and a payload's arrays are read-only. Pure: no disk.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from b2grid.conditions.iov import IoV
from b2grid.errors import ConditionsError

#: payload and array names: an identifier, as basf2 DBObj names are
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
#: numpy dtype kinds a payload array may have: bool, int, uint, float, complex
NUMERIC_KINDS = "biufc"


def check_name(name: str, what: str = "payload") -> str:
    """Return ``name`` if it is a valid payload (or array) name, else raise.

    Examples
    --------
    >>> check_name("ECLCrystalGains")
    'ECLCrystalGains'
    >>> check_name("2gains")
    Traceback (most recent call last):
    ...
    b2grid.errors.ConditionsError: bad payload name '2gains': ...
    """
    if not isinstance(name, str) or NAME.match(name) is None:
        raise ConditionsError(
            f"bad {what} name {name!r}: use a letter, then letters, digits or '_'"
        )
    return name


def to_array(name: str, value: npt.ArrayLike) -> np.ndarray[Any, Any]:
    """``value`` as a numeric, native-byte-order array (a copy when one is needed)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in NUMERIC_KINDS:
        raise ConditionsError(
            f"payload array {name!r} has dtype {arr.dtype}; payload arrays must be "
            "numeric (bool, int, uint, float or complex)"
        )
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def to_json_attrs(attrs: Mapping[str, Any] | None) -> dict[str, Any]:
    """A deep, JSON-normalised copy of ``attrs`` (tuples become lists), or raise."""
    try:
        text = json.dumps(dict(attrs or {}), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConditionsError(
            f"payload attributes must be JSON (str keys; numbers, strings, lists, "
            f"dicts, no NaN): {exc}"
        ) from None
    out: dict[str, Any] = json.loads(text)
    return out


def checksum(
    arrays: Mapping[str, np.ndarray[Any, Any]], attrs: Mapping[str, Any]
) -> str:
    """sha256 over the arrays (name, dtype, shape, values) and the attributes.

    Examples
    --------
    >>> a = checksum({"x": np.arange(3)}, {"unit": "GeV"})
    >>> a == checksum({"x": np.arange(3)}, {"unit": "GeV"}), len(a)
    (True, 64)
    >>> a == checksum({"x": np.arange(3.0)}, {"unit": "GeV"})
    False
    """
    h = hashlib.sha256()
    for key in sorted(arrays):
        arr = np.ascontiguousarray(arrays[key])
        h.update(f"{key}\0{arr.dtype.str}\0{arr.shape}\0".encode())
        h.update(arr.tobytes())
    h.update(json.dumps(dict(attrs), sort_keys=True).encode())
    return h.hexdigest()


@dataclass(frozen=True, slots=True)
class PayloadRef:
    """What a global tag lists: one revision of a payload and where it is valid."""

    #: payload name, e.g. ``ECLCrystalGains``
    name: str
    #: revision number, >= 1, unique per payload name
    revision: int
    #: where this revision is valid
    iov: IoV
    #: :func:`checksum` of the stored arrays and attributes
    checksum: str = ""
    #: grid time the revision was written
    created: float = 0.0

    def __post_init__(self) -> None:
        check_name(self.name)
        if not isinstance(self.revision, int) or self.revision < 1:
            raise ConditionsError(
                f"payload revision must be >= 1, not {self.revision!r}"
            )

    def __str__(self) -> str:
        return f"{self.name} r{self.revision} {self.iov}"


@dataclass(frozen=True, slots=True, eq=False)
class Payload:
    """One revision of a payload: read-only arrays and JSON attributes.

    ``arrays`` and ``attrs`` are read-only mappings; each array is a read-only view
    (``flags.writeable`` is False), so a cached payload cannot be changed by a
    reader. Equality is identity (arrays do not compare as one bool).

    Examples
    --------
    >>> p = Payload("BeamSpot", 1, IoV.always(), {"position": [0.0, 0.1, -0.2]},
    ...             {"unit": "cm"})
    >>> p["position"], p.attrs["unit"]
    (array([ 0. ,  0.1, -0.2]), 'cm')
    >>> p["position"][0] = 1.0
    Traceback (most recent call last):
    ...
    ValueError: assignment destination is read-only
    """

    #: payload name, e.g. ``ECLCrystalGains``
    name: str
    #: revision number, >= 1
    revision: int
    #: where this revision is valid
    iov: IoV
    #: the constants, by array name
    arrays: Mapping[str, np.ndarray[Any, Any]]
    #: JSON attributes (units, algorithm, run range used, ...)
    attrs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.name)
        if not isinstance(self.revision, int) or self.revision < 1:
            raise ConditionsError(
                f"payload revision must be >= 1, not {self.revision!r}"
            )
        if not self.arrays:
            raise ConditionsError(
                f"payload {self.name!r} has no arrays; give one or more"
            )
        frozen = {}
        for key, value in self.arrays.items():
            view = to_array(check_name(key, "array"), value).view()
            view.flags.writeable = False
            frozen[key] = view
        object.__setattr__(self, "arrays", MappingProxyType(frozen))
        attrs = to_json_attrs(self.attrs)
        object.__setattr__(self, "attrs", MappingProxyType(attrs))

    def __getitem__(self, key: str) -> np.ndarray[Any, Any]:
        try:
            return self.arrays[key]
        except KeyError:
            raise KeyError(
                f"payload {self.name} r{self.revision} has no array {key!r}; "
                f"it has: {', '.join(sorted(self.arrays))}"
            ) from None

    @property
    def checksum(self) -> str:
        """:func:`checksum` of this payload's arrays and attributes."""
        return checksum(self.arrays, self.attrs)

    def __repr__(self) -> str:
        names = ", ".join(sorted(self.arrays))
        return f"<Payload {self.name} r{self.revision} {self.iov} arrays: {names}>"


__all__ = ["NAME", "Payload", "PayloadRef", "check_name", "checksum", "to_array"]
