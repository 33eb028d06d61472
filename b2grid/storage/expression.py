r"""Site (RSE) expressions: which sites a rule or a placement may use, as in Rucio.

:func:`parse` turns text such as ``kind=raw_data_centre\KEK`` into an immutable
:data:`Expr`; :func:`evaluate` gives the set of sites it matches in a site table and
:func:`resolve` the non-empty tuple of them in table order. Pure: no config, no I/O.

Grammar (``&`` and ``\`` bind tighter than ``|``; every operator associates left,
whitespace may surround any token)::

    expression   := intersection ("|" intersection)*
    intersection := term (("&" | "\") term)*
    term         := "(" expression ")" | "*" | SITE | KEY "=" VALUE

``SITE`` matches ``[A-Za-z][A-Za-z0-9_-]*``; ``KEY`` and ``VALUE`` match
``[A-Za-z0-9_.-]+``. Values compare case-sensitively, except ``country``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, NoReturn, TypeAlias

from b2grid.errors import SiteExpressionError, did_you_mean

#: site name -> its attributes (``kind``, ``country``, ...); ``name`` is implied
SiteTable: TypeAlias = Mapping[str, Mapping[str, str]]

#: attributes whose values compare case-insensitively
CASE_INSENSITIVE_KEYS = frozenset({"country"})

_SITE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
_TOKEN = re.compile(r"\s*(?:(?P<word>[A-Za-z0-9_.-]+)|(?P<op>[|&\\()=*])|(?P<bad>\S))")
_TERM = "a site name, key=value, '*' or '('"
_OPERATORS = "'|', '&', '\\'"


@dataclass(frozen=True, slots=True)
class Name:
    """The one site called ``site``."""

    site: str

    def __str__(self) -> str:
        return self.site


@dataclass(frozen=True, slots=True)
class Attr:
    """The sites whose attribute ``key`` equals ``value``."""

    key: str
    value: str

    def __str__(self) -> str:
        return f"{self.key}={self.value}"

    def matches(self, attributes: Mapping[str, str]) -> bool:
        """Whether ``attributes`` has ``key`` equal to ``value``."""
        have = attributes.get(self.key)
        if have is not None and self.key in CASE_INSENSITIVE_KEYS:
            return have.casefold() == self.value.casefold()
        return have == self.value


@dataclass(frozen=True, slots=True)
class All:
    """Every site (``*``)."""

    def __str__(self) -> str:
        return "*"


@dataclass(frozen=True, slots=True)
class _Binary:
    """An operator between two sub-expressions; renders with minimal parentheses."""

    left: Expr
    right: Expr
    symbol: ClassVar[str] = ""
    precedence: ClassVar[int] = 0

    def __str__(self) -> str:
        # left-associative: a left operand needs parentheses only when it binds
        # looser, a right operand also when it binds equally (A\(B\C) != A\B\C)
        left, right = str(self.left), str(self.right)
        if _precedence(self.left) < self.precedence:
            left = f"({left})"
        if _precedence(self.right) <= self.precedence:
            right = f"({right})"
        return f"{left}{self.symbol}{right}"


@dataclass(frozen=True, slots=True)
class Union(_Binary):
    """Sites in ``left`` or in ``right`` (``|``)."""

    symbol = "|"
    precedence = 1


@dataclass(frozen=True, slots=True)
class Intersection(_Binary):
    """Sites in both ``left`` and ``right`` (``&``)."""

    symbol = "&"
    precedence = 2


@dataclass(frozen=True, slots=True)
class Difference(_Binary):
    """Sites in ``left`` but not in ``right`` (``\\``)."""

    symbol = "\\"
    precedence = 2


#: a parsed site expression
Expr: TypeAlias = Name | Attr | All | Union | Intersection | Difference


def _precedence(expr: Expr) -> int:
    return expr.precedence if isinstance(expr, _Binary) else 3


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "word", "op", "bad" or "end"
    text: str
    column: int  # 1-based

    def __str__(self) -> str:
        if self.kind == "end":
            return f"end of expression at column {self.column}"
        return f"'{self.text}' at column {self.column}"


def _tokenize(text: str) -> list[_Token]:
    tokens = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        assert kind is not None  # one alternative always matches
        tokens.append(_Token(kind, match.group(kind), match.start(kind) + 1))
    tokens.append(_Token("end", "", len(text) + 1))
    return tokens


class _Parser:
    """Recursive descent over the tokens of ``text``, one method per grammar rule."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.at = 0

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def fail(self, token: _Token, expected: str) -> NoReturn:
        raise SiteExpressionError(self.text, f"unexpected {token}; expected {expected}")

    def whole(self) -> Expr:
        expr = self.expression()
        token = self.take()
        if token.text == ")":
            raise SiteExpressionError(
                self.text, f"unexpected {token}; there is no '(' for it to close"
            )
        if token.kind != "end":
            self.fail(token, f"{_OPERATORS} or the end of the expression")
        return expr

    def expression(self) -> Expr:
        expr = self.intersection()
        while self.peek().text == "|":
            self.take()
            expr = Union(expr, self.intersection())
        return expr

    def intersection(self) -> Expr:
        expr = self.term()
        while self.peek().text in ("&", "\\"):
            node = Intersection if self.take().text == "&" else Difference
            expr = node(expr, self.term())
        return expr

    def term(self) -> Expr:
        token = self.take()
        if token.text == "(":
            inner = self.expression()
            close = self.take()
            if close.text != ")":
                self.fail(
                    close, f"{_OPERATORS} or ')' to close '(' at column {token.column}"
                )
            return inner
        if token.text == "*":
            return All()
        if token.kind != "word":
            self.fail(token, _TERM)
        if self.peek().text == "=":
            self.take()
            value = self.take()
            if value.kind != "word":
                self.fail(
                    value, f"a value after '{token.text}=' (letters, digits, _.-)"
                )
            return Attr(token.text, value.text)
        if not _SITE_NAME.fullmatch(token.text):
            raise SiteExpressionError(
                self.text,
                f"{token} is not a site name (site names match "
                f"{_SITE_NAME.pattern}); for an attribute test write key=value",
            )
        return Name(token.text)


def parse(text: str) -> Expr:
    r"""Parse a site expression; :class:`SiteExpressionError` says where it is wrong.

    Examples
    --------
    >>> parse("kind=raw_data_centre \\ KEK")
    Difference(left=Attr(key='kind', value='raw_data_centre'), right=Name(site='KEK'))
    >>> print(parse("( A | B ) & C | D"))
    (A|B)&C|D
    >>> parse("(KEK|)")
    Traceback (most recent call last):
    ...
    b2grid.errors.SiteExpressionError: site expression '(KEK|)': unexpected ')' at
    column 6; expected a site name, key=value, '*' or '('
    """
    if not text.strip():
        raise SiteExpressionError(
            text,
            "empty expression; write a site name, key=value or '*', combined with "
            f"{_OPERATORS} and parentheses, e.g. 'kind=raw_data_centre\\KEK'",
        )
    return _Parser(text).whole()


def _attributes(site: str, attributes: Mapping[str, str]) -> Mapping[str, str]:
    return {**attributes, "name": site}


def _check(expr: Expr, text: str, sites: SiteTable) -> None:
    """Raise for a site name or an attribute key that ``sites`` does not know."""
    if isinstance(expr, _Binary):
        _check(expr.left, text, sites)
        _check(expr.right, text, sites)
    elif isinstance(expr, Name) and expr.site not in sites:
        known = sorted(sites)
        raise SiteExpressionError(
            text,
            f"unknown site {expr.site!r}{did_you_mean(expr.site, known)}; "
            f"known sites: {', '.join(known) or '(none)'}",
        )
    elif isinstance(expr, Attr):
        keys = sorted({"name"}.union(*(a.keys() for a in sites.values())))
        if expr.key not in keys:
            raise SiteExpressionError(
                text,
                f"no site has attribute {expr.key!r}{did_you_mean(expr.key, keys)}; "
                f"known attributes: {', '.join(keys)}",
            )


def _match(expr: Expr, sites: SiteTable) -> frozenset[str]:
    match expr:
        case Name(site):
            return frozenset({site})
        case All():
            return frozenset(sites)
        case Attr():
            return frozenset(
                site for site, a in sites.items() if expr.matches(_attributes(site, a))
            )
        case Union(left, right):
            return _match(left, sites) | _match(right, sites)
        case Intersection(left, right):
            return _match(left, sites) & _match(right, sites)
        case Difference(left, right):
            return _match(left, sites) - _match(right, sites)


def _prepare(expression: str | Expr, sites: SiteTable) -> tuple[Expr, str]:
    if isinstance(expression, str):
        expr, text = parse(expression), expression
    else:
        expr, text = expression, str(expression)
    _check(expr, text, sites)
    return expr, text


def evaluate(expression: str | Expr, sites: SiteTable) -> frozenset[str]:
    r"""The names of the sites in ``sites`` that ``expression`` matches.

    ``sites`` maps each site name to its attributes; ``name`` is implied. Raises
    :class:`SiteExpressionError` for bad syntax, an unknown site name or an attribute
    key no site has. An expression that matches no site gives an empty set.

    Examples
    --------
    >>> sites = {"KEK": {"kind": "raw_data_centre", "country": "JP"},
    ...          "DESY": {"kind": "raw_data_centre", "country": "DE"},
    ...          "Napoli": {"kind": "grid", "country": "IT"}}
    >>> sorted(evaluate("kind=raw_data_centre\\KEK | country=it", sites))
    ['DESY', 'Napoli']
    >>> evaluate("KEKK", sites)
    Traceback (most recent call last):
    ...
    b2grid.errors.SiteExpressionError: site expression 'KEKK': unknown site 'KEKK'
    (did you mean 'KEK'?); known sites: DESY, KEK, Napoli
    """
    expr, _ = _prepare(expression, sites)
    return _match(expr, sites)


def _why_empty(expr: Expr, sites: SiteTable) -> str:
    if isinstance(expr, Attr):
        found = (_attributes(s, a).get(expr.key) for s, a in sites.items())
        values = sorted({v for v in found if v is not None})
        return (
            f"no site has {expr}{did_you_mean(expr.value, values)}; "
            f"known values of {expr.key}: {', '.join(values)}"
        )
    if isinstance(expr, _Binary):
        parts = []
        for operand in (expr.left, expr.right):
            matched = _match(operand, sites)
            names = ", ".join(s for s in sites if s in matched) or "no site"
            parts.append(f"'{operand}' matches {names}")
        return " and ".join(parts)
    return "the site table is empty"


def resolve(expression: str | Expr, sites: SiteTable) -> tuple[str, ...]:
    r"""The sites ``expression`` matches, in the order of ``sites``; never empty.

    Like :func:`evaluate`, but an expression that matches no site raises
    :class:`SiteExpressionError`, saying what its parts matched.

    Examples
    --------
    >>> sites = {"KEK": {"kind": "raw_data_centre", "country": "JP"},
    ...          "DESY": {"kind": "raw_data_centre", "country": "DE"},
    ...          "Napoli": {"kind": "grid", "country": "IT"}}
    >>> resolve("*\\Napoli", sites)
    ('KEK', 'DESY')
    >>> resolve("kind=grid&country=DE", sites)
    Traceback (most recent call last):
    ...
    b2grid.errors.SiteExpressionError: site expression 'kind=grid&country=DE':
    matches no site: 'kind=grid' matches Napoli and 'country=DE' matches DESY
    """
    expr, text = _prepare(expression, sites)
    matched = _match(expr, sites)
    if not matched:
        raise SiteExpressionError(text, f"matches no site: {_why_empty(expr, sites)}")
    return tuple(site for site in sites if site in matched)


__all__ = [
    "Expr",
    "Name",
    "Attr",
    "All",
    "Union",
    "Intersection",
    "Difference",
    "SiteTable",
    "CASE_INSENSITIVE_KEYS",
    "parse",
    "evaluate",
    "resolve",
]
