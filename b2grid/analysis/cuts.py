"""A small, safe parser for cut strings and variable expressions (never ``eval``).

The grammar is basf2's, with arithmetic::

    cut     := or
    or      := and ('or' and)*
    and     := not ('and' not)*
    not     := 'not' not | compare
    compare := sum (('<' | '<=' | '>' | '>=' | '==' | '!=') sum)*   # chains
    sum     := product (('+' | '-') product)*
    product := unary (('*' | '/') unary)*
    unary   := '-' unary | atom
    atom    := number | name | name '(' expr (',' expr)* ')' | '(' cut ')' | '[' cut ']'

``1.8 < M < 1.9`` means ``1.8 < M and M < 1.9``; ``[...]`` groups like ``(...)``.
Names are variables, ``name(...)`` meta-variables such as ``daughter(0, p)``,
``useCMSFrame(p)`` or ``abs(dr)``; which names exist is the registry's business
(:mod:`b2grid.analysis.variables`), checked when a cut is compiled. Parse errors raise
:class:`~b2grid.errors.BadCut` with the position and what was expected.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

from b2grid.errors import BadCut


@dataclass(frozen=True, slots=True)
class Num:
    value: float

    def __str__(self) -> str:
        v = self.value
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)


@dataclass(frozen=True, slots=True)
class Var:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Call:
    """A meta-variable or function: ``daughter(0, p)``, ``abs(dz)``."""

    name: str
    args: tuple[Node, ...]

    def __str__(self) -> str:
        return f"{self.name}({', '.join(str(a) for a in self.args)})"


@dataclass(frozen=True, slots=True)
class Neg:
    operand: Node

    def __str__(self) -> str:
        return f"-{_wrap(self.operand)}"


@dataclass(frozen=True, slots=True)
class Arith:
    op: str  # + - * /
    left: Node
    right: Node

    def __str__(self) -> str:
        return f"{_wrap(self.left)} {self.op} {_wrap(self.right)}"


@dataclass(frozen=True, slots=True)
class Compare:
    """``a < b <= c``: operands and the operators between them."""

    operands: tuple[Node, ...]
    ops: tuple[str, ...]

    def __str__(self) -> str:
        parts = [str(self.operands[0])]
        for op, x in zip(self.ops, self.operands[1:], strict=True):
            parts += [op, str(x)]
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Logic:
    op: str  # and / or
    items: tuple[Node, ...]

    def __str__(self) -> str:
        return f" {self.op} ".join(_wrap(i) for i in self.items)


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node

    def __str__(self) -> str:
        return f"not {_wrap(self.operand)}"


Node = Num | Var | Call | Neg | Arith | Compare | Logic | Not


def _wrap(node: Node) -> str:
    simple = isinstance(node, Num | Var | Call)
    return str(node) if simple else f"[{node}]"


_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|!=|<|>|[-+*/(),\[\]]))"
)
_COMPARE = ("<", "<=", ">", ">=", "==", "!=")
_KEYWORDS = ("and", "or", "not")


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # num, name, op, end
    text: str
    pos: int


def _tokens(text: str) -> Iterator[_Tok]:
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            if text[pos:].strip() == "":
                break
            where = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise BadCut(text, where, f"unexpected character {text[where]!r}")
        kind = m.lastgroup
        assert kind is not None
        yield _Tok(kind, m.group(kind), m.start(kind))
        pos = m.end()
    yield _Tok("end", "", len(text))


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = list(_tokens(text))
        self.i = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    def at(self, *texts: str) -> bool:
        t = self.tok
        return t.kind in ("op", "name") and t.text in texts

    def fail(self, expected: str) -> BadCut:
        t = self.tok
        found = "the end" if t.kind == "end" else repr(t.text)
        return BadCut(self.text, t.pos, f"expected {expected}, found {found}")

    def expect(self, text: str) -> None:
        if not self.at(text):
            raise self.fail(repr(text))
        self.take()

    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise self.fail("a cut or an expression")
        node = self.or_()
        if self.tok.kind != "end":
            raise self.fail("'and', 'or', an operator or the end")
        return node

    def or_(self) -> Node:
        items = [self.and_()]
        while self.at("or"):
            self.take()
            items.append(self.and_())
        return items[0] if len(items) == 1 else Logic("or", tuple(items))

    def and_(self) -> Node:
        items = [self.not_()]
        while self.at("and"):
            self.take()
            items.append(self.not_())
        return items[0] if len(items) == 1 else Logic("and", tuple(items))

    def not_(self) -> Node:
        if self.at("not"):
            self.take()
            return Not(self.not_())
        return self.compare()

    def compare(self) -> Node:
        operands = [self.sum_()]
        ops: list[str] = []
        while self.tok.kind == "op" and self.tok.text in _COMPARE:
            ops.append(self.take().text)
            operands.append(self.sum_())
        if not ops:
            return operands[0]
        return Compare(tuple(operands), tuple(ops))

    def sum_(self) -> Node:
        node = self.product()
        while self.tok.kind == "op" and self.tok.text in "+-":
            op = self.take().text
            node = Arith(op, node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.tok.kind == "op" and self.tok.text in "*/":
            op = self.take().text
            node = Arith(op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.tok.kind == "op" and self.tok.text == "-":
            self.take()
            inner = self.unary()
            return Num(-inner.value) if isinstance(inner, Num) else Neg(inner)
        if self.tok.kind == "op" and self.tok.text == "+":
            self.take()
            return self.unary()
        return self.atom()

    def atom(self) -> Node:
        t = self.tok
        if t.kind == "num":
            self.take()
            return Num(float(t.text))
        if t.kind == "name" and t.text not in _KEYWORDS:
            self.take()
            if not self.at("("):
                return Var(t.text)
            self.take()
            args = [self.or_()]
            while self.at(","):
                self.take()
                args.append(self.or_())
            if not self.at(")"):
                raise self.fail(f"',' or ')' closing {t.text}(")
            self.take()
            return Call(t.text, tuple(args))
        for opening, closing in (("(", ")"), ("[", "]")):
            if self.at(opening):
                self.take()
                node = self.or_()
                if not self.at(closing):
                    raise self.fail(f"{closing!r}")
                self.take()
                return node
        raise self.fail("a number, a variable or '('")


def parse(text: str) -> Node:
    """Parse a cut or a variable expression into a tree of nodes.

    Examples
    --------
    >>> str(parse("1.8 < M < 1.9 and abs(dr) < 2"))
    '[1.8 < M < 1.9] and [abs(dr) < 2]'
    >>> parse("daughter(0, p)")
    Call(name='daughter', args=(Num(value=0.0), Var(name='p')))
    >>> parse("M >")
    Traceback (most recent call last):
    ...
    b2grid.errors.BadCut: bad cut 'M >' at position 3: expected ...
    """
    if not isinstance(text, str):
        raise BadCut(repr(text), 0, "a cut must be a str")
    return _Parser(text).parse()


def mass_window(node: Node) -> tuple[float, float]:
    """The widest ``lo <= M <= hi`` a cut implies through top-level ``and`` terms.

    Only plain comparisons of ``M`` or ``InvM`` with numbers count; the combiner
    applies this window while it builds candidates (the full cut follows), so it
    must never be narrower than the cut itself.

    Examples
    --------
    >>> mass_window(parse("1.8 < M < 1.9 and p > 1"))
    (1.8, 1.9)
    >>> mass_window(parse("M < 2 or p > 1"))
    (0.0, inf)
    """
    lo, hi = 0.0, math.inf
    terms = node.items if isinstance(node, Logic) and node.op == "and" else (node,)
    for term in terms:
        if not isinstance(term, Compare):
            continue
        pairs = zip(term.operands, term.ops, term.operands[1:], strict=False)
        for left, op, right in pairs:
            if op in ("==", "!="):
                continue
            if _is_mass(right) and isinstance(left, Num):  # number < M, number > M
                if op in ("<", "<="):
                    lo = max(lo, left.value)
                else:
                    hi = min(hi, left.value)
            elif _is_mass(left) and isinstance(right, Num):  # M < number, M > number
                if op in ("<", "<="):
                    hi = min(hi, right.value)
                else:
                    lo = max(lo, right.value)
    return lo, hi


def _is_mass(node: Node) -> bool:
    return isinstance(node, Var) and node.name in ("M", "InvM")


def walk(node: Node) -> Iterator[Node]:
    """Every node of a tree, parents first."""
    yield node
    children: tuple[Node, ...] = ()
    if isinstance(node, Call):
        children = node.args
    elif isinstance(node, Neg | Not):
        children = (node.operand,)
    elif isinstance(node, Arith):
        children = (node.left, node.right)
    elif isinstance(node, Compare):
        children = node.operands
    elif isinstance(node, Logic):
        children = node.items
    for child in children:
        yield from walk(child)


__all__ = [
    "Arith",
    "Call",
    "Compare",
    "Logic",
    "Neg",
    "Node",
    "Not",
    "Num",
    "Var",
    "mass_window",
    "parse",
    "walk",
]
