"""The Examples sections in b2grid's docstrings run (on the installed package)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import b2grid

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(b2grid.__path__, "b2grid.")
    if m.name != "b2grid.__main__"
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    result = doctest.testmod(module, optionflags=flags, verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_some_examples_exist() -> None:
    finder = doctest.DocTestFinder()
    examples = sum(
        len(t.examples)
        for name in MODULES
        for t in finder.find(importlib.import_module(name))
    )
    assert examples >= 3
