r"""Site expressions: parsing, canonical rendering, evaluation and every error."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

import pytest
from hypothesis import given
from hypothesis import strategies as st

from b2grid.errors import SiteExpressionError
from b2grid.storage.expression import (
    All,
    Attr,
    Difference,
    Expr,
    Intersection,
    Name,
    Union,
    evaluate,
    parse,
    resolve,
)

BELLE2: dict[str, dict[str, str]] = {
    "KEK": {"kind": "raw_data_centre", "country": "JP"},
    "BNL": {"kind": "raw_data_centre", "country": "US"},
    "DESY": {"kind": "raw_data_centre", "country": "DE"},
    "GridKa": {"kind": "raw_data_centre", "country": "DE"},
    "CNAF": {"kind": "raw_data_centre", "country": "IT"},
    "IN2P3": {"kind": "raw_data_centre", "country": "FR"},
    "UVic": {"kind": "raw_data_centre", "country": "CA"},
    "SiGNET": {"kind": "grid", "country": "SI"},
    "Napoli": {"kind": "grid", "country": "IT"},
    "Melbourne": {"kind": "grid", "country": "AU"},
}
RAW = ("KEK", "BNL", "DESY", "GridKa", "CNAF", "IN2P3", "UVic")
GRID = ("SiGNET", "Napoli", "Melbourne")
A, B, C = Name("A"), Name("B"), Name("C")
ABC: dict[str, dict[str, str]] = {"A": {}, "B": {}, "C": {}}


# --- Belle II examples ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r"kind=raw_data_centre\KEK", RAW[1:]),
        ("country=DE|country=IT", ("DESY", "GridKa", "CNAF", "Napoli")),
        ("(kind=grid|DESY)&country=IT", ("Napoli",)),
        ("kind=grid", GRID),
        ("*", RAW + GRID),
        (r"*\kind=raw_data_centre", GRID),
        ("country=de", ("DESY", "GridKa")),  # country is case-insensitive
        ("name=KEK", ("KEK",)),  # the name attribute is implied
        ("BNL|KEK", ("KEK", "BNL")),  # in the order of the site table
        ("  ( KEK |\tBNL ) & country = US ", ("BNL",)),
    ],
)
def test_belle2_examples(text: str, expected: tuple[str, ...]) -> None:
    assert resolve(text, BELLE2) == expected
    assert evaluate(text, BELLE2) == frozenset(expected)


def test_values_other_than_country_are_case_sensitive() -> None:
    assert evaluate("kind=GRID", BELLE2) == frozenset()
    assert evaluate("name=kek", BELLE2) == frozenset()


def test_evaluate_takes_a_parsed_expression() -> None:
    expr = parse(r"kind=raw_data_centre\KEK")
    assert evaluate(expr, BELLE2) == frozenset(RAW[1:])
    assert resolve(expr, BELLE2) == RAW[1:]


# --- precedence, associativity, rendering ----------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("A|B&C", Union(A, Intersection(B, C))),
        ("A|(B&C)", Union(A, Intersection(B, C))),
        ("(A|B)&C", Intersection(Union(A, B), C)),
        (r"A\B\C", Difference(Difference(A, B), C)),
        (r"(A\B)\C", Difference(Difference(A, B), C)),
        (r"A\(B\C)", Difference(A, Difference(B, C))),
        (r"A&B\C", Difference(Intersection(A, B), C)),
        (r"A\B&C", Intersection(Difference(A, B), C)),
        (r"A|B\C", Union(A, Difference(B, C))),
        ("A|B|C", Union(Union(A, B), C)),
        ("((A))", A),
        ("*", All()),
        ("tier = 1.b", Attr("tier", "1.b")),
    ],
)
def test_precedence_and_associativity(text: str, tree: Expr) -> None:
    assert parse(text) == tree


def test_precedence_changes_the_result() -> None:
    assert evaluate("A|B&C", ABC) == {"A"}
    assert evaluate("(A|B)&C", ABC) == frozenset()
    assert evaluate(r"*\A\B", ABC) == {"C"}
    assert evaluate(r"*\(A\B)", ABC) == {"B", "C"}


@pytest.mark.parametrize(
    ("tree", "text"),
    [
        (Union(A, Intersection(B, C)), "A|B&C"),
        (Intersection(Union(A, B), C), "(A|B)&C"),
        (Difference(Difference(A, B), C), r"A\B\C"),
        (Difference(A, Difference(B, C)), r"A\(B\C)"),
        (Intersection(A, Intersection(B, C)), "A&(B&C)"),
        (Union(A, Union(B, C)), "A|(B|C)"),
        (Difference(All(), Attr("country", "DE")), r"*\country=DE"),
    ],
)
def test_canonical_rendering(tree: Expr, text: str) -> None:
    assert str(tree) == text
    assert parse(text) == tree


def test_trees_are_immutable_and_hashable() -> None:
    tree = Union(A, Intersection(B, C))
    with pytest.raises(dataclasses.FrozenInstanceError):
        tree.left = B  # type: ignore[misc]
    assert {tree, parse("A | (B & C)")} == {tree}
    union: Expr = Union(A, B)
    assert union != Intersection(A, B)


# --- errors --------------------------------------------------------------------------

TERM = "a site name, key=value, '*' or '('"
OPS = r"'|', '&', '\'"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("(KEK|)", f"unexpected ')' at column 6; expected {TERM}"),
        ("KEK|", f"unexpected end of expression at column 5; expected {TERM}"),
        ("=DE", f"unexpected '=' at column 1; expected {TERM}"),
        ("KEK&&BNL", f"unexpected '&' at column 5; expected {TERM}"),
        ("KEK)", "unexpected ')' at column 4; there is no '(' for it to close"),
        (
            "KEK BNL",
            f"unexpected 'BNL' at column 5; expected {OPS} or the end of the "
            "expression",
        ),
        (
            "KEK,BNL",
            f"unexpected ',' at column 4; expected {OPS} or the end of the expression",
        ),
        (
            "a=b=c",
            f"unexpected '=' at column 4; expected {OPS} or the end of the expression",
        ),
        (
            " (KEK|BNL",
            f"unexpected end of expression at column 10; expected {OPS} or "
            "')' to close '(' at column 2",
        ),
        (
            "kind=",
            "unexpected end of expression at column 6; expected a value after "
            "'kind=' (letters, digits, _.-)",
        ),
        (
            "kind=(",
            "unexpected '(' at column 6; expected a value after 'kind=' "
            "(letters, digits, _.-)",
        ),
        (
            "1KEK",
            "'1KEK' at column 1 is not a site name (site names match "
            "[A-Za-z][A-Za-z0-9_-]*); for an attribute test write key=value",
        ),
    ],
)
def test_syntax_errors(text: str, reason: str) -> None:
    with pytest.raises(SiteExpressionError) as info:
        parse(text)
    assert (info.value.expression, info.value.reason) == (text, reason)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_expression(text: str) -> None:
    with pytest.raises(SiteExpressionError, match="empty expression; write a site"):
        parse(text)


KNOWN = "BNL, CNAF, DESY, GridKa, IN2P3, KEK, Melbourne, Napoli, SiGNET, UVic"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "KEK|Desy",
            f"unknown site 'Desy' (did you mean 'DESY'?); known sites: {KNOWN}",
        ),
        (r"kind=grid\Tokyo", f"unknown site 'Tokyo'; known sites: {KNOWN}"),
        (
            "tier=1",
            "no site has attribute 'tier'; known attributes: country, kind, name",
        ),
        (
            "KEK|kinds=grid",
            "no site has attribute 'kinds' (did you mean 'kind'?); "
            "known attributes: country, kind, name",
        ),
    ],
)
def test_unknown_names_and_keys(text: str, reason: str) -> None:
    for call in (evaluate, resolve):
        with pytest.raises(SiteExpressionError) as info:
            call(text, BELLE2)
        assert (info.value.expression, info.value.reason) == (text, reason)


def test_unknown_site_in_a_parsed_expression() -> None:
    with pytest.raises(SiteExpressionError, match="unknown site 'Foo'") as info:
        evaluate(Difference(All(), Name("Foo")), BELLE2)
    assert info.value.expression == r"*\Foo"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (
            "kind=grid&country=DE",
            "matches no site: 'kind=grid' matches SiGNET, "
            "Napoli, Melbourne and 'country=DE' matches DESY, GridKa",
        ),
        (
            r"KEK\*",
            "matches no site: 'KEK' matches KEK and '*' matches KEK, BNL, "
            "DESY, GridKa, CNAF, IN2P3, UVic, SiGNET, Napoli, Melbourne",
        ),
        (
            "(KEK&BNL)&KEK",
            "matches no site: 'KEK&BNL' matches no site and 'KEK' matches KEK",
        ),
        (
            "country=XX",
            "matches no site: no site has country=XX; known values of "
            "country: AU, CA, DE, FR, IT, JP, SI, US",
        ),
        (
            "kind=raw_data_center",
            "matches no site: no site has "
            "kind=raw_data_center (did you mean 'raw_data_centre'?); known values of "
            "kind: grid, raw_data_centre",
        ),
    ],
)
def test_resolve_refuses_an_empty_match(text: str, reason: str) -> None:
    assert evaluate(text, BELLE2) == frozenset()
    with pytest.raises(SiteExpressionError) as info:
        resolve(text, BELLE2)
    assert (info.value.expression, info.value.reason) == (text, reason)
    assert str(info.value).startswith(f"site expression {text!r}: matches no site")


def test_resolve_with_no_sites() -> None:
    assert evaluate("*", {}) == frozenset()
    with pytest.raises(SiteExpressionError, match="the site table is empty"):
        resolve("*", {})
    with pytest.raises(SiteExpressionError, match=r"unknown site 'KEK'; .*\(none\)"):
        evaluate("KEK", {})


# --- properties ----------------------------------------------------------------------

KEYS = ("kind", "country", "tier")
VALUES = ("grid", "raw", "DE", "de", "It", "1", "x.y", "a-b")
SPACE = st.sampled_from(["", "", " ", "  ", "\t", "\n"])

site_names = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,4}", fullmatch=True)
site_tables = st.dictionaries(
    site_names,
    st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES)),
    min_size=1,
    max_size=5,
)


def expressions(table: Mapping[str, Mapping[str, str]]) -> st.SearchStrategy[Expr]:
    """Random trees using only names and keys that ``table`` knows."""
    keys = sorted({"name"}.union(*table.values()))
    leaves = st.one_of(
        st.sampled_from(sorted(table)).map(Name),
        st.builds(Attr, st.sampled_from(keys), st.sampled_from((*VALUES, *table))),
        st.just(All()),
    )

    def extend(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
        return st.one_of(
            st.builds(Union, children, children),
            st.builds(Intersection, children, children),
            st.builds(Difference, children, children),
        )

    return st.recursive(leaves, extend, max_leaves=10)


def oracle(expr: Expr, table: Mapping[str, Mapping[str, str]]) -> set[str]:
    """Set semantics written independently of the module under test."""
    if isinstance(expr, Name):
        return {expr.site}
    if isinstance(expr, All):
        return set(table)
    if isinstance(expr, Attr):
        fold: Callable[[str], str] = str.upper if expr.key == "country" else str
        wanted = fold(expr.value)
        return {
            site
            for site, attrs in table.items()
            if (site if expr.key == "name" else attrs.get(expr.key)) is not None
            and fold(site if expr.key == "name" else attrs[expr.key]) == wanted
        }
    left, right = oracle(expr.left, table), oracle(expr.right, table)
    if isinstance(expr, Union):
        return left | right
    if isinstance(expr, Intersection):
        return left & right
    return left - right


def noisy(expr: Expr, draw: Callable[[st.SearchStrategy[str]], str]) -> str:
    """``expr`` as text with random whitespace and redundant parentheses."""
    if isinstance(expr, Name | All):
        return draw(SPACE) + str(expr) + draw(SPACE)
    if isinstance(expr, Attr):
        return "".join(
            [draw(SPACE), expr.key, draw(SPACE), "=", draw(SPACE), expr.value]
        ) + draw(SPACE)
    level = 1 if isinstance(expr, Union) else 2
    symbol = {Union: "|", Intersection: "&", Difference: "\\"}[type(expr)]

    def side(sub: Expr, needs_parens: bool) -> str:
        text = noisy(sub, draw)
        extra = draw(st.sampled_from(["", "("]))
        return f"({text})" if needs_parens or extra else text

    def binds(sub: Expr) -> int:
        if isinstance(sub, Union):
            return 1
        return 2 if isinstance(sub, Intersection | Difference) else 3

    left = side(expr.left, binds(expr.left) < level)
    right = side(expr.right, binds(expr.right) <= level)
    return f"{left}{symbol}{right}"


@given(st.data())
def test_parse_and_evaluate_agree_with_set_semantics(data: st.DataObject) -> None:
    table = data.draw(site_tables, label="table")
    expr = data.draw(expressions(table), label="expr")
    text = noisy(expr, data.draw)
    assert parse(str(expr)) == expr
    assert parse(text) == expr
    expected = oracle(expr, table)
    assert evaluate(text, table) == expected
    assert evaluate(expr, table) == expected
    if expected:
        assert resolve(text, table) == tuple(s for s in table if s in expected)
    else:
        with pytest.raises(SiteExpressionError, match="matches no site"):
            resolve(text, table)


def parse_or_error(text: str) -> Expr | SiteExpressionError:
    try:
        return parse(text)
    except SiteExpressionError as error:
        return error


@given(st.text(alphabet=" ()|&\\=*AB1._-,!", max_size=20))
def test_any_text_parses_or_raises_site_expression_error(text: str) -> None:
    outcome = parse_or_error(text)
    if isinstance(outcome, SiteExpressionError):
        assert outcome.expression == text
        assert outcome.reason
    else:
        assert parse(str(outcome)) == outcome
