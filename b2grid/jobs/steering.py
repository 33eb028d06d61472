"""Steering files: a user's analysis as a Python file, gbasf2's ``steering.py``.

A steering file defines ``analysis(ctx)`` (or ``main(ctx)``): the job function that
reads ``ctx.inputs`` and writes its ntuple to ``ctx.output(name)``; it may declare
``OUTPUTS`` (default ``("ntuple.root",)``). :func:`load_steering` imports it by path,
under a module name of its own, so that the function travels to the workers by value.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from b2grid.errors import BadJob

#: the names a steering file's job function is looked up by, in order
ENTRY_POINTS = ("analysis", "main")
#: the outputs of a steering file that declares no ``OUTPUTS``
DEFAULT_OUTPUTS = ("ntuple.root",)


@dataclass(frozen=True, slots=True)
class Steering:
    """A loaded steering file: its job function and the outputs it writes."""

    path: Path
    #: the name the function was found under (``analysis`` or ``main``)
    name: str
    function: Callable[..., Any]
    outputs: tuple[str, ...] = DEFAULT_OUTPUTS


def is_steering_path(fn: object) -> bool:
    """Whether ``fn`` names a steering file: a path, or a string ending in ``.py``.

    Examples
    --------
    >>> is_steering_path("steering.py"), is_steering_path("mypkg.ana:run")
    (True, False)
    """
    return isinstance(fn, os.PathLike) or (isinstance(fn, str) and fn.endswith(".py"))


def _module_name(path: Path) -> str:
    # unique per file, and not under ``b2grid``: b2grid's own functions travel by
    # reference, a steering file's by value
    digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:10]
    stem = "".join(c if c.isalnum() else "_" for c in path.stem)
    return f"b2steering_{stem}_{digest}"


def load_steering(path: str | os.PathLike[str], *, name: str | None = None) -> Steering:
    """Import the steering file at ``path`` and find its job function.

    The function is ``name`` if given, else the first of :data:`ENTRY_POINTS` the
    file defines. Raises :class:`~b2grid.errors.BadJob` (field ``steering``) for a
    file that does not exist, does not import (with the error), or defines no such
    callable (saying which names were looked for), and for bad ``OUTPUTS``.

    Examples
    --------
    >>> load_steering("/nowhere/steering.py")
    Traceback (most recent call last):
    ...
    b2grid.errors.BadJob: steering: steering file /nowhere/steering.py does not ...
    """
    where = Path(path).expanduser().resolve()
    if not where.is_file():
        why = "is a directory" if where.is_dir() else "does not exist"
        raise BadJob("steering", f"steering file {os.fspath(path)} {why}")
    module_name = _module_name(where)
    spec = importlib.util.spec_from_file_location(module_name, where)
    if spec is None or spec.loader is None:
        raise BadJob("steering", f"{where} cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # cloudpickle pickles by value what it finds
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(module_name, None)
        if not isinstance(exc, Exception):
            raise
        raise BadJob(
            "steering", f"{where} failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    wanted = (name,) if name else ENTRY_POINTS
    for entry in wanted:
        fn = getattr(module, entry, None)
        if fn is None:
            continue
        if not callable(fn):
            raise BadJob(
                "steering",
                f"{entry} in {where} is a {type(fn).__name__}, not a function; "
                f"define def {entry}(ctx): ...",
            )
        return Steering(where, entry, fn, _outputs(module, where))
    looked = " or ".join(repr(w) for w in wanted)
    raise BadJob(
        "steering",
        f"{where} defines no callable {looked}; define def {wanted[0]}(ctx): ... "
        "reading ctx.inputs and writing ctx.output(name)",
    )


def _outputs(module: Any, where: Path) -> tuple[str, ...]:
    declared = getattr(module, "OUTPUTS", DEFAULT_OUTPUTS)
    if isinstance(declared, str):
        declared = (declared,)
    try:
        outputs = tuple(declared)
    except TypeError:
        outputs = ()
    if not outputs or not all(isinstance(o, str) and o for o in outputs):
        raise BadJob(
            "steering",
            f"OUTPUTS in {where} is {declared!r}; give a tuple of file names, "
            "e.g. OUTPUTS = ('ntuple.root',)",
        )
    return outputs


__all__ = [
    "DEFAULT_OUTPUTS",
    "ENTRY_POINTS",
    "Steering",
    "is_steering_path",
    "load_steering",
]
