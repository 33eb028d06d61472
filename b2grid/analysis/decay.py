"""Particle-list names and decay strings: ``pi+:loose``, ``D0:Kpi -> K- pi+``.

A list name is an EvtGen-style particle name and a label; the list holds the particle
*and* its charge conjugate, so ``pi-:loose`` and ``pi+:loose`` name the same list
(its key is ``(|pdg|, label)``). A decay string is ``mother -> daughter ...``; a
daughter without a label means the ``:all`` list. Parsing checks every name and that
charge is conserved; nothing here touches events.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from b2grid.errors import BadDecayString, did_you_mean
from b2grid.physics import pdg

#: a label: letters, digits and underscores (basf2 allows the same)
_LABEL = re.compile(r"[A-Za-z0-9_]+\Z")


def known_names() -> tuple[str, ...]:
    """Every particle name a list or decay string may use (EvtGen style).

    Examples
    --------
    >>> {"pi+", "anti-D0", "K_S0", "gamma"} <= set(known_names())
    True
    """
    # the name table of the physics layer (the generator's particles)
    return tuple(sorted(pdg._ALIAS))


@dataclass(frozen=True, slots=True)
class ListName:
    """One particle list as a decay string names it: particle name, code, label.

    Examples
    --------
    >>> n = parse_list_name("anti-D0:Kpi")
    >>> n.pdg, n.label, n.key, n.conjugate_name
    (-421, 'Kpi', (421, 'Kpi'), 'D0')
    """

    #: the particle name as written (``pi-``, ``anti-D0``)
    particle: str
    #: its PDG code (signed)
    pdg: int
    label: str

    @property
    def key(self) -> tuple[int, str]:
        """The list's identity: a particle and its conjugate share one list."""
        return (abs(self.pdg), self.label)

    @property
    def self_conjugate(self) -> bool:
        return pdg.conjugate(self.pdg) == self.pdg

    @property
    def conjugate_name(self) -> str:
        """The name of the charge-conjugate particle."""
        return _name_of(pdg.conjugate(self.pdg))

    @property
    def canonical(self) -> str:
        """``name:label`` with the particle (not the antiparticle) name."""
        code = abs(self.pdg) if not self.self_conjugate else self.pdg
        return f"{_name_of(code)}:{self.label}"

    def __str__(self) -> str:
        return f"{self.particle}:{self.label}"


@dataclass(frozen=True, slots=True)
class DecayString:
    """A parsed ``mother -> daughters`` string (charge already checked).

    Examples
    --------
    >>> d = parse_decay("B+:Dpi -> anti-D0:Kpi pi+")
    >>> str(d.mother), [str(x) for x in d.daughters]
    ('B+:Dpi', ['anti-D0:Kpi', 'pi+:all'])
    >>> d.self_conjugate
    False
    >>> parse_decay("pi0:gg -> gamma gamma").self_conjugate
    True
    """

    text: str
    mother: ListName
    daughters: tuple[ListName, ...]

    @property
    def self_conjugate(self) -> bool:
        """The daughters' conjugate set is the same set (``pi0 -> gamma gamma``,
        ``K_S0 -> pi+ pi-``): one pass builds every candidate, the conjugate pass
        would only repeat them."""
        here = Counter((d.key, d.pdg) for d in self.daughters)
        there = Counter((d.key, pdg.conjugate(d.pdg)) for d in self.daughters)
        return here == there

    def __str__(self) -> str:
        return f"{self.mother} -> {' '.join(str(d) for d in self.daughters)}"


def _name_of(code: int) -> str:
    for name, c in pdg._ALIAS.items():
        if c == code:
            return name
    return pdg.name(code)  # pragma: no cover - every code has an alias


def _particle(text: str, token: str) -> int:
    try:
        return pdg.code(token)
    except KeyError:
        raise BadDecayString(
            text,
            f"unknown particle {token!r}{did_you_mean(token, known_names())}; "
            "names are EvtGen style (pi+, K-, anti-D0, K_S0, gamma, pi0, B+)",
        ) from None


def parse_list_name(
    text: str, *, default_label: str | None = None, context: str | None = None
) -> ListName:
    """Parse ``name:label`` (``pi+:loose``); ``default_label`` fills a missing label.

    Raises :class:`~b2grid.errors.BadDecayString` for a malformed name or label or an
    unknown particle.

    Examples
    --------
    >>> parse_list_name("K-:good")
    ListName(particle='K-', pdg=-321, label='good')
    >>> parse_list_name("gamma", default_label="all").label
    'all'
    """
    where = context if context is not None else text
    token = text.strip()
    name, colon, label = token.partition(":")
    if not colon:
        if default_label is None:
            raise BadDecayString(
                where, f"{token!r} has no label; write it as name:label (pi+:loose)"
            )
        label = default_label
    if not name:
        raise BadDecayString(where, f"{token!r} has no particle name before ':'")
    if not _LABEL.match(label):
        raise BadDecayString(
            where, f"label {label!r} of {token!r} must be letters, digits or '_'"
        )
    return ListName(name, _particle(where, name), label)


def parse_decay(text: str) -> DecayString:
    """Parse ``mother:label -> d1[:label] d2[:label] ...`` and check charge.

    The mother needs a label (it names the new list); a daughter without one means
    its ``:all`` list. At least two daughters are needed, and the daughters' charges
    must add up to the mother's.

    Examples
    --------
    >>> d = parse_decay("D0:Kpi -> K- pi+")
    >>> [x.pdg for x in d.daughters]
    [-321, 211]
    >>> parse_decay("D0:Kpi -> K- pi-")
    Traceback (most recent call last):
    ...
    b2grid.errors.BadDecayString: bad decay string 'D0:Kpi -> K- pi-': ...
    """
    if not isinstance(text, str):
        raise BadDecayString(repr(text), "a decay string must be a str")
    head, arrow, tail = text.partition("->")
    if not arrow:
        raise BadDecayString(
            text, "no '->'; write it as 'mother:label -> daughter daughter ...'"
        )
    if "->" in tail:
        raise BadDecayString(
            text,
            "nested '->' is not supported: reconstruct the inner decay into its "
            "own list first, then use that list as a daughter",
        )
    heads = head.split()
    if len(heads) != 1:
        what = "no mother" if not heads else f"several mothers {heads}"
        raise BadDecayString(text, f"{what} before '->'; give exactly one")
    mother = parse_list_name(heads[0], context=text)
    tokens = tail.split()
    if len(tokens) < 2:
        raise BadDecayString(text, "a decay needs at least two daughters")
    daughters = tuple(
        parse_list_name(t, default_label="all", context=text) for t in tokens
    )
    total = sum(pdg.charge(d.pdg) for d in daughters)
    if total != pdg.charge(mother.pdg):
        charges = " + ".join(f"({pdg.charge(d.pdg):+d})" for d in daughters)
        raise BadDecayString(
            text,
            f"charge is not conserved: daughters {charges} = {total:+d}, "
            f"{mother.particle} has {pdg.charge(mother.pdg):+d}",
        )
    if any(d.key == mother.key for d in daughters):
        raise BadDecayString(text, "a list cannot be its own daughter")
    return DecayString(text, mother, daughters)


__all__ = ["DecayString", "ListName", "known_names", "parse_decay", "parse_list_name"]
