"""The event generator: e+e- collisions at SuperKEKB as MC-truth particle lists.

:func:`generate` makes any generic sample of PHYSICS.md or a signal event type; each
event is a record with ``sample``, ``sqrt_s`` and a jagged ``MCParticle`` list.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import awkward as ak
import numpy as np
from numpy.typing import NDArray

from b2grid.errors import UnknownEventType
from b2grid.physics import pdg
from b2grid.physics.decays import (
    ForcedDecay,
    Particles,
    decay_generations,
    neutral_kaons,
    resonance_masses,
)
from b2grid.physics.kinematics import (
    Beam,
    acceptance_cos_range,
    boost_t,
    directions,
    sample_bhabha_cos,
    sample_collisions,
    sample_cos_theta,
    sample_gg_cos,
    sample_vertices,
)
from b2grid.physics.phasespace import back_to_back, decay_t, isotropic, pdk

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: generic samples and their cross sections at the Y(4S) (nb), as PHYSICS.md
GENERIC_SAMPLES: Mapping[str, float] = MappingProxyType(
    {
        "mixed": 0.51,
        "charged": 0.54,
        "uubar": 1.605,
        "ddbar": 0.401,
        "ssbar": 0.383,
        "ccbar": 1.329,
        "taupair": 0.919,
        "mumu": 1.148,
        "ee": 295.8,
        "gg": 5.1,
    }
)


@dataclass(frozen=True, slots=True)
class SignalType:
    """A signal event type: Y(4S) -> B Bbar with one B forced down ``decay``.

    Which B is forced is drawn per event (the other charge takes the conjugate
    chain); the other B decays generically.
    """

    code: str
    nickname: str
    #: the chain, as :meth:`ForcedDecay.parse` reads it
    decay: str

    @property
    def chain(self) -> ForcedDecay:
        """The forced chain of the B (or B0)."""
        return ForcedDecay.parse(self.decay)


#: signal event types by 10-digit decay-file code (gsdcltnkeu)
SIGNAL_EVENT_TYPES: Mapping[str, SignalType] = MappingProxyType(
    {
        s.code: s
        for s in (
            SignalType("1213030000", "Bu_Dpi+_DtoK+pi-",
                       "B+ -> [anti-D0 -> K+ pi-] pi+"),
            SignalType("1113040000", "Bd_Dstpi+_DsttoDpi-_DtoK-pi+",
                       "B0 -> [D*- -> [anti-D0 -> K+ pi-] pi-] pi+"),
            SignalType("1211430000", "Bu_JpsiK_mumu",
                       "B+ -> [J/psi -> mu+ mu-] K+"),
            SignalType("1111440100", "Bd_JpsiKS_mumu",
                       "B0 -> [J/psi -> mu+ mu-] [K_S0 -> pi+ pi-]"),
        )
    }
)  # fmt: skip

#: what the ``sample`` field of an event indexes: generic names, then signal codes
SAMPLE_CODES: tuple[str, ...] = (*GENERIC_SAMPLES, *SIGNAL_EVENT_TYPES)
#: the fields of an MCParticle, in order
MCPARTICLE_FIELDS = (
    "pdg", "mother", "firstDaughter", "lastDaughter",
    "px", "py", "pz", "E", "vx", "vy", "vz", "status",
)  # fmt: skip
#: events generated per internal batch (bounds the memory)
BATCH = 25000
_Y4S, _ELECTRON, _MUON, _TAU, _PHOTON = 300553, 11, 13, 15, 22


def event_types() -> tuple[str, ...]:
    """Every event type :func:`generate` accepts: samples, "all", codes, nicknames.

    Examples
    --------
    >>> "uubar" in event_types() and "1213030000" in event_types()
    True
    """
    nicknames = tuple(s.nickname for s in SIGNAL_EVENT_TYPES.values())
    return (*GENERIC_SAMPLES, "all", *SIGNAL_EVENT_TYPES, *nicknames)


def known_event_type(name: str) -> bool:
    """Whether :func:`generate` accepts ``name``.

    Examples
    --------
    >>> known_event_type("mixed"), known_event_type("12130")
    (True, False)
    """
    return str(name).strip() in event_types()


def _resolve(event_type: str) -> str:
    """The sample name or signal code ``event_type`` stands for."""
    name = str(event_type).strip()
    if name in GENERIC_SAMPLES or name in SIGNAL_EVENT_TYPES or name == "all":
        return name
    for s in SIGNAL_EVENT_TYPES.values():
        if name == s.nickname:
            return s.code
    raise UnknownEventType(name, event_types())


# ------------------------------------------------------------------ the events
@dataclass(frozen=True, slots=True)
class _Batch:
    """Events of one sample, event-major: MCParticle columns (final dtypes, indices
    local to each event) and the number of particles per event."""

    sample: int
    sqrt_s: FloatArray
    counts: IntArray
    columns: dict[str, NDArray[np.generic]]


def generate(
    event_type: str, n: int, *, seed: int, beam: Beam | None = None
) -> ak.Array:
    """Generate ``n`` events of ``event_type`` with MC truth.

    Parameters
    ----------
    event_type
        A generic sample (:data:`GENERIC_SAMPLES`), ``"all"`` (every generic sample
        mixed by cross section, multinomially, in random order), or a signal event
        type by 10-digit code or nickname (:data:`SIGNAL_EVENT_TYPES`).
    n
        Number of events.
    seed
        Random seed: the same seed gives bit-identical events.
    beam
        The beams; :meth:`Beam.y4s` by default.

    Returns
    -------
    awkward.Array
        ``n`` records ``{sample: int16, sqrt_s: float32, MCParticle: var * {...}}``
        where ``sample`` indexes :data:`SAMPLE_CODES` and MCParticle has the fields
        of :data:`MCPARTICLE_FIELDS`: ``mother``/``firstDaughter``/``lastDaughter``
        index the same event's list (-1 for none, daughters contiguous), momenta
        are lab GeV, vertices are production points in cm, ``status`` 1 for final
        state and 2 for particles the generator decayed.

    Raises
    ------
    UnknownEventType
        For a name or code that is not in :func:`event_types`.
    ValueError
        For ``n < 0``, or B Bbar events asked of a beam below their threshold.

    Examples
    --------
    >>> events = generate("mumu", 3, seed=1)
    >>> len(events), int(abs(events.MCParticle.pdg[0][0]))
    (3, 13)
    """
    name = _resolve(event_type)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    beam = beam or Beam.y4s()
    seq = np.random.SeedSequence(seed)
    if name != "all":
        return _to_awkward(_sample(name, n, beam, seq), None)
    first, *streams = seq.spawn(1 + len(GENERIC_SAMPLES))
    rng = np.random.default_rng(first)
    # below the B Bbar threshold (off-resonance) there are no B Bbar events
    below = beam.sqrt_s < _BB_THRESHOLD + 3 * beam.sqrt_s_spread
    fractions = np.array(
        [0.0 if below and _is_bbbar(s) else x for s, x in GENERIC_SAMPLES.items()]
    )
    counts = rng.multinomial(n, fractions / fractions.sum())
    batches = [
        b
        for s, c, ss in zip(GENERIC_SAMPLES, counts, streams, strict=True)
        for b in _sample(s, int(c), beam, ss)
    ]
    return _to_awkward(batches, rng.permutation(n))


def _sample(name: str, n: int, beam: Beam, seq: np.random.SeedSequence) -> list[_Batch]:
    maker = _MAKERS.get(name) or functools.partial(_signal, SIGNAL_EVENT_TYPES[name])
    threshold = _BB_THRESHOLD if _is_bbbar(name) else 0.0
    if n and threshold and beam.sqrt_s < threshold + 3 * beam.sqrt_s_spread:
        raise ValueError(
            f"{name!r} needs B Bbar pairs, but sqrt(s) = {beam.sqrt_s:.4f} GeV is "
            f"below their threshold {threshold:.4f} GeV; use the Y(4S) beam"
        )
    batches = []
    for i, ss in enumerate(seq.spawn(-(-n // BATCH))):
        size = min(BATCH, n - i * BATCH)
        rng = np.random.default_rng(ss)
        sqrt_s, beta = sample_collisions(beam, size, rng)
        # the B Bbar threshold cuts into the beam-energy spread's low tail
        while (low := np.flatnonzero(sqrt_s < threshold)).size:
            sqrt_s[low], beta[low] = sample_collisions(beam, low.size, rng)
        vertex = sample_vertices(beam, size, rng).T
        prim, forced = maker(sqrt_s, beta, vertex, beam, rng)
        gens = decay_generations(prim, rng, forced)
        batches.append(_compact(SAMPLE_CODES.index(name), sqrt_s, gens))
    return batches


#: lowest sqrt(s) (GeV) of a B Bbar event
_BB_THRESHOLD = 2.0 * max(pdg.mass(511), pdg.mass(521)) + 0.001


def _is_bbbar(name: str) -> bool:
    return name in ("mixed", "charged") or name in SIGNAL_EVENT_TYPES


_DTYPES = {"pdg": np.int32, "mother": np.int32, "firstDaughter": np.int32,
           "lastDaughter": np.int32, "status": np.int16}  # fmt: skip


def _compact(sample: int, sqrt_s: FloatArray, generations: list[Particles]) -> _Batch:
    """Event-major MCParticle columns: each event's particles generation by
    generation (the generations are each sorted by event)."""
    n = sqrt_s.size
    per_gen = np.stack([np.bincount(g.event, minlength=n) for g in generations])
    counts = per_gen.sum(axis=0)
    start = np.cumsum(counts) - counts
    before = np.cumsum(per_gen, axis=0) - per_gen  # in earlier generations
    in_gen = np.cumsum(per_gen, axis=1) - per_gen  # of earlier events, same generation
    dest = np.concatenate([
        start[g.event] + before[i, g.event] + np.arange(len(g)) - in_gen[i, g.event]
        for i, g in enumerate(generations)
    ])  # fmt: skip
    total = int(counts.sum())
    cols = {f: np.empty(total, _DTYPES.get(f, np.float32)) for f in MCPARTICLE_FIELDS}
    row = 0
    for i, g in enumerate(generations):
        d = dest[row : row + len(g)]
        row += len(g)
        base = start[g.event]
        # primaries have no mother; every later particle has one
        cols["mother"][d] = dest[g.mother] - base if i else -1
        decayed = g.first_daughter >= 0
        first = np.where(decayed, dest[g.first_daughter] - base, -1)
        cols["firstDaughter"][d] = first
        cols["lastDaughter"][d] = first + decayed * (g.last_daughter - g.first_daughter)
        cols["pdg"][d] = g.pdg
        for c, name in enumerate(("px", "py", "pz", "E")):
            cols[name][d] = g.p4[c]
        for c, name in enumerate(("vx", "vy", "vz")):
            cols[name][d] = g.vertex[c]
    cols["status"] = np.where(cols["firstDaughter"] >= 0, 2, 1).astype(np.int16)
    return _Batch(sample, sqrt_s, counts, cols)


def _to_awkward(batches: list[_Batch], permutation: IntArray | None) -> ak.Array:
    """The batches' events as one awkward array; event i of the batches (in order)
    goes to ``permutation[i]`` if given."""
    if not batches:  # no events at all
        none = Particles.primaries(
            np.zeros(0, np.int64), np.zeros(0, np.int32), np.zeros((4, 0)),
            np.zeros((3, 0)), np.zeros(0),
        )  # fmt: skip
        batches = [_compact(0, np.zeros(0), [none])]
    sample = np.concatenate(
        [np.full(b.counts.size, b.sample, np.int16) for b in batches]
    )
    sqrt_s = np.concatenate([b.sqrt_s for b in batches]).astype(np.float32)
    counts = np.concatenate([b.counts for b in batches])
    cols = {f: _concatenate([b.columns[f] for b in batches]) for f in MCPARTICLE_FIELDS}
    if permutation is not None:
        start = np.cumsum(counts) - counts
        inverse = np.empty_like(permutation)
        inverse[permutation] = np.arange(permutation.size)
        sample, sqrt_s, counts = sample[inverse], sqrt_s[inverse], counts[inverse]
        # the particle rows of the events in their new order
        order = np.repeat(start[inverse] - (np.cumsum(counts) - counts), counts)
        order += np.arange(order.size)
        cols = {f: c[order] for f, c in cols.items()}
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    particles = ak.contents.RecordArray(
        [ak.contents.NumpyArray(cols[f]) for f in MCPARTICLE_FIELDS],
        list(MCPARTICLE_FIELDS),
    )
    events = ak.contents.RecordArray(
        [
            ak.contents.NumpyArray(sample),
            ak.contents.NumpyArray(sqrt_s),
            ak.contents.ListOffsetArray(ak.index.Index64(offsets), particles),
        ],
        ["sample", "sqrt_s", "MCParticle"],
    )
    return ak.Array(events)


def _concatenate(arrays: list[NDArray[np.generic]]) -> NDArray[np.generic]:
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


# ------------------------------------------------------------------ the samples
_Maker = Callable[
    [FloatArray, FloatArray, FloatArray, Beam, np.random.Generator],
    tuple[Particles, tuple[ForcedDecay, ...]],
]


def _primaries(
    event: IntArray,
    codes: NDArray[np.int32],
    p4_lab: FloatArray,
    vertex: FloatArray,
    mass: FloatArray | None = None,
    forced: NDArray[np.int32] | None = None,
) -> Particles:
    return Particles.primaries(
        event, codes.astype(np.int32), p4_lab, vertex[:, event], mass, forced
    )


def _y4s(
    sqrt_s: FloatArray, beta: FloatArray, vertex: FloatArray, forced: NDArray[np.int32]
) -> Particles:
    """One Y(4S) per event carrying the collision's four-momentum."""
    n = sqrt_s.size
    rest = np.zeros((4, n))
    rest[3] = sqrt_s
    codes = np.full(n, _Y4S, np.int32)
    p4 = boost_t(rest, beta.T)
    return _primaries(np.arange(n), codes, p4, vertex, sqrt_s, forced)


def _bbar(pair: tuple[int, int]) -> _Maker:
    def make(
        sqrt_s: FloatArray, beta: FloatArray, vertex: FloatArray, beam: Beam,
        rng: np.random.Generator,
    ) -> tuple[Particles, tuple[ForcedDecay, ...]]:  # fmt: skip
        forced = np.zeros(sqrt_s.size, np.int32)
        return _y4s(sqrt_s, beta, vertex, forced), (ForcedDecay(_Y4S, pair),)

    return make


def _signal(
    signal: SignalType, sqrt_s: FloatArray, beta: FloatArray, vertex: FloatArray,
    beam: Beam, rng: np.random.Generator,
) -> tuple[Particles, tuple[ForcedDecay, ...]]:  # fmt: skip
    chain = signal.chain
    b, bbar = chain.parent, pdg.conjugate(chain.parent)
    # the signal side is the B or the anti-B, at random; the other decays generically
    forced = (
        ForcedDecay(_Y4S, (chain, bbar)),
        ForcedDecay(_Y4S, (b, chain.conjugate())),
    )
    which = rng.integers(0, 2, sqrt_s.size).astype(np.int32)
    return _y4s(sqrt_s, beta, vertex, which), forced


def _pair_primaries(
    code: int, lab: FloatArray, vertex: FloatArray, extra: FloatArray | None = None,
    keep_extra: NDArray[np.bool_] | None = None,
) -> Particles:  # fmt: skip
    """Particle ``code`` and its antiparticle (``lab`` is (4, 2, n)), plus photons."""
    n = lab.shape[2]
    codes = np.array([code, pdg.conjugate(code), _PHOTON], dtype=np.int32)
    p4 = lab if extra is None else np.concatenate([lab, extra[:, None]], axis=1)
    k = p4.shape[1]
    keep = np.ones((n, k), dtype=bool)
    if keep_extra is not None and k > 2:
        keep[:, 2] = keep_extra
    event = np.broadcast_to(np.arange(n)[:, None], (n, k))[keep]
    flat = p4.transpose(0, 2, 1)[:, keep]
    kinds = np.broadcast_to(codes[:k], (n, k))[keep]
    return _primaries(event, kinds, flat, vertex, pdg.masses(kinds))


def _lepton_pair(code: int, photons: float) -> _Maker:
    """Fermion pairs with 1 + a cos^2 (massive a), a soft photon in ``photons``."""
    m = pdg.mass(code)

    def make(
        sqrt_s: FloatArray, beta: FloatArray, vertex: FloatArray, beam: Beam,
        rng: np.random.Generator,
    ) -> tuple[Particles, tuple[ForcedDecay, ...]]:  # fmt: skip
        n = sqrt_s.size
        # a photon of 0.5 % to 10 % of the beam energy, isotropic in the CM
        has_photon = rng.random(n) < photons
        x = np.exp(rng.uniform(np.log(0.005), np.log(0.1), n))
        k = np.where(has_photon, x * sqrt_s / 2.0, 0.0)
        u = isotropic(n, rng)
        photon = np.concatenate([k * u, k[None]])
        system = np.concatenate([-k * u, (sqrt_s - k)[None]])
        mass = np.sqrt(sqrt_s * (sqrt_s - 2.0 * k))
        b2 = 1.0 - (2.0 * m / mass) ** 2
        cos = sample_cos_theta(float(np.mean(b2 / (2.0 - b2))), n, rng)
        direction = directions(cos, rng.uniform(0, 2 * np.pi, n), beam.axis_cms).T
        pair = back_to_back(pdk(mass, m, m), direction, m, m)
        cms = boost_t(pair, (system[:3] / system[3])[:, None, :])
        lab = boost_t(cms, beta.T[:, None, :])
        extra = boost_t(photon, beta.T) if photons else None
        return _pair_primaries(code, lab, vertex, extra, has_photon), ()

    return make


#: lab polar-angle acceptance of the ee and gg samples (10 to 170 degrees)
_COS_LAB = float(np.cos(np.radians(10.0)))


def _in_acceptance(code: int, sampler: Callable[..., FloatArray]) -> _Maker:
    """Two-body final states with both particles at 10-170 degrees in the lab."""
    m = pdg.mass(code)

    def make(
        sqrt_s: FloatArray, beta: FloatArray, vertex: FloatArray, beam: Beam,
        rng: np.random.Generator,
    ) -> tuple[Particles, tuple[ForcedDecay, ...]]:  # fmt: skip
        n = sqrt_s.size
        lo, hi = acceptance_cos_range(beam, _COS_LAB)
        lab = np.empty((4, 2, n))
        todo = np.arange(n)
        while todo.size:
            cos = sampler(todo.size, lo, hi, rng)
            phi = rng.uniform(0.0, 2 * np.pi, todo.size)
            d = directions(cos, phi, beam.axis_cms).T
            pair = back_to_back(pdk(sqrt_s[todo], m, m), d, m, m)
            cand = boost_t(pair, beta.T[:, None, todo])
            cos_lab = cand[2] / np.linalg.norm(cand[:3], axis=0)
            ok = (np.abs(cos_lab) < _COS_LAB).all(axis=0)
            lab[:, :, todo[ok]] = cand[:, :, ok]
            todo = todo[~ok]
        return _pair_primaries(code, lab, vertex), ()

    return make


# ------------------------------------------------------------------ continuum
#: leading hadron of the quark's jet (the antiquark's is its conjugate)
_LEADING: dict[str, tuple[tuple[int, float], ...]] = {
    "uubar": ((211, .30), (213, .15), (111, .12), (113, .08), (223, .08), (221, .05),
              (321, .12), (323, .06), (2212, .04)),
    "ddbar": ((-211, .30), (-213, .15), (111, .12), (113, .08), (223, .08),
              (221, .05), (311, .12), (313, .06), (2112, .04)),
    "ssbar": ((-321, .30), (-311, .25), (-323, .12), (-313, .12), (333, .10),
              (221, .06), (331, .05)),
    "ccbar": ((413, .23), (423, .23), (421, .20), (411, .10), (431, .06), (433, .10),
              (4122, .08)),
}  # fmt: skip
#: hadron-antihadron pairs popped from the vacuum into the two clusters
_PAIRS: tuple[tuple[int, float], ...] = (
    (211, .40), (111, .22), (213, .08), (113, .04), (223, .04), (221, .04),
    (321, .06), (311, .05), (323, .02), (313, .02), (2212, .02), (2112, .01),
)  # fmt: skip
#: mean number of pairs per event (tuned to the charged multiplicity)
_MEAN_PAIRS = {"uubar": 4.2, "ddbar": 4.2, "ssbar": 3.9, "ccbar": 2.8}
#: ranges of the share of an event's kinetic energy in each cluster's and each
#: jet's mass (tuned to R2 and, for charm, to a mean x_p ~ 0.6)
_LIGHT = ((0.06, 0.18), (0.02, 0.07))
_KINETIC = {"uubar": _LIGHT, "ddbar": _LIGHT, "ssbar": _LIGHT,
            "ccbar": ((0.03, 0.09), (0.01, 0.035))}  # fmt: skip
#: the leading hadron's angle in its jet's frame goes as (1 + cos)^sharpness
_SHARPNESS = {"uubar": 1.0, "ddbar": 1.0, "ssbar": 1.0, "ccbar": 4.0}
#: most pairs per event, most hadrons per cluster
_MAX_PAIRS, _MAX_CLUSTER = 8, 18
#: kinetic energy (GeV) an event's hadron content must leave at least
_MIN_KINETIC = 1.5


def _choice(
    table: tuple[tuple[int, float], ...], n: int, rng: np.random.Generator
) -> NDArray[np.int32]:
    codes = np.array([c for c, _ in table], dtype=np.int32)
    p = np.array([w for _, w in table])
    return codes[np.searchsorted(np.cumsum(p) / p.sum(), rng.random(n), side="right")]


def _content(
    flavour: str, n: int, rng: np.random.Generator
) -> tuple[NDArray[np.int32], FloatArray]:
    """Hadrons of ``n`` events: ``(2, n, 1 + _MAX_CLUSTER)`` codes (0 = none) and
    masses; slot 0 of each jet is the leading hadron, the rest its cluster."""
    lead = _choice(_LEADING[flavour], n, rng)
    n_pairs = np.minimum(rng.poisson(_MEAN_PAIRS[flavour], n), _MAX_PAIRS)
    event = np.repeat(np.arange(n), n_pairs)
    h = _choice(_PAIRS, event.size, rng)
    # a pair splits between the jets (either way) or lands in one jet (either one)
    u = rng.random(event.size)
    side_h = ((u >= 0.25) & (u < 0.5)) | (u >= 0.75)
    side_bar = (u < 0.25) | (u >= 0.75)
    cluster = np.concatenate([side_h * n + event, side_bar * n + event])
    codes = np.concatenate([h, _conjugate(h)])
    # every cluster gets at least two hadrons (neutral pions fill in)
    short = np.maximum(2 - np.bincount(cluster, minlength=2 * n), 0)
    fill = np.repeat(np.arange(2 * n), short)
    cluster = np.concatenate([cluster, fill])
    codes = np.concatenate([codes, np.full(fill.size, 111, np.int32)])
    order = np.argsort(cluster, kind="stable")
    cluster, codes = cluster[order], neutral_kaons(codes[order], rng)
    count = np.bincount(cluster, minlength=2 * n)
    rank = np.arange(cluster.size) - (np.cumsum(count) - count)[cluster]
    out = np.zeros((2 * n, 1 + _MAX_CLUSTER), dtype=np.int32)
    out[:, 0] = neutral_kaons(np.concatenate([lead, _conjugate(lead)]), rng)
    out[cluster, 1 + rank] = codes
    masses = np.zeros(out.shape)
    filled = out != 0
    masses[filled] = resonance_masses(out[filled], rng)
    return out.reshape(2, n, -1), masses.reshape(2, n, -1)


def _conjugate(codes: NDArray[np.int32]) -> NDArray[np.int32]:
    return pdg.CODE_ARRAY[pdg.CONJUGATE[pdg.species(codes)]]


def _continuum(flavour: str) -> _Maker:
    """q qbar: two back-to-back jets (1 + cos^2 theta), each a forward leading
    hadron plus a cluster that decays by phase space."""
    sharpness = _SHARPNESS[flavour]
    cluster_share, jet_share = _KINETIC[flavour]

    def make(
        sqrt_s: FloatArray, beta: FloatArray, vertex: FloatArray, beam: Beam,
        rng: np.random.Generator,
    ) -> tuple[Particles, tuple[ForcedDecay, ...]]:  # fmt: skip
        n = sqrt_s.size
        codes, masses = _content(flavour, n, rng)
        budget = sqrt_s - masses.sum(axis=(0, 2))
        while (bad := np.flatnonzero(budget < _MIN_KINETIC)).size:
            codes[:, bad], masses[:, bad] = _content(flavour, bad.size, rng)
            budget[bad] = sqrt_s[bad] - masses[:, bad].sum(axis=(0, 2))
        m_lead = masses[:, :, 0]
        m_cluster = masses[:, :, 1:].sum(axis=2)
        m_cluster += budget * rng.uniform(*cluster_share, (2, n))
        m_jet = m_lead + m_cluster + budget * rng.uniform(*jet_share, (2, n))
        # the jets along the quark axis, in the CM
        cos = sample_cos_theta(1.0, n, rng)
        axis = directions(cos, rng.uniform(0, 2 * np.pi, n), beam.axis_cms).T
        q = pdk(sqrt_s, m_jet[0], m_jet[1])
        jets = back_to_back(q, axis, 0.0, 0.0)
        jets[3] = np.sqrt(q * q + m_jet**2)
        # leading hadron and cluster in each jet's frame, leading one forward
        c = 2.0 * rng.random((2, n)) ** (1.0 / (1.0 + sharpness)) - 1.0
        d = np.stack([directions(c[j], rng.uniform(0, 2 * np.pi, n), a.T).T
                      for j, a in enumerate((axis, -axis))], axis=1)  # fmt: skip
        q_lead = pdk(m_jet, m_lead, m_cluster)
        lead = np.concatenate([q_lead * d, np.sqrt(q_lead**2 + m_lead**2)[None]])
        clus = np.concatenate([-q_lead * d, np.sqrt(q_lead**2 + m_cluster**2)[None]])
        to_lab = beta.T[:, None, :]
        lead = boost_t(boost_t(lead, jets[:3] / jets[3]), to_lab)
        clus = boost_t(boost_t(clus, jets[:3] / jets[3]), to_lab)
        # the clusters decay into their hadrons
        p4 = np.zeros((4, 2 * n, 1 + _MAX_CLUSTER))
        p4[:, :, 0] = lead.reshape(4, 2 * n)
        k_of = (codes[:, :, 1:] != 0).sum(axis=2).reshape(2 * n)
        flat_m = masses[:, :, 1:].reshape(2 * n, -1)
        flat_clus, flat_mc = clus.reshape(4, 2 * n), m_cluster.reshape(2 * n)
        for k in np.unique(k_of):
            sel = np.flatnonzero(k_of == k)
            hadrons = decay_t(
                flat_clus[:, sel], flat_m[sel, :k].T.copy(), rng, flat_mc[sel]
            )
            p4[:, sel, 1 : k + 1] = hadrons.transpose(0, 2, 1)
        # event-major: [lead A, cluster A..., lead B, cluster B...]
        keep = codes.transpose(1, 0, 2).reshape(n, -1) != 0
        event = np.broadcast_to(np.arange(n)[:, None], keep.shape)[keep]
        flat = p4.reshape(4, 2, n, -1).transpose(0, 2, 1, 3).reshape(4, n, -1)[:, keep]
        kinds = codes.transpose(1, 0, 2).reshape(n, -1)[keep]
        mass = masses.transpose(1, 0, 2).reshape(n, -1)[keep]
        return _primaries(event, kinds, flat, vertex, mass), ()

    return make


_MAKERS: dict[str, _Maker] = {
    "mixed": _bbar((511, -511)),
    "charged": _bbar((521, -521)),
    "uubar": _continuum("uubar"),
    "ddbar": _continuum("ddbar"),
    "ssbar": _continuum("ssbar"),
    "ccbar": _continuum("ccbar"),
    "taupair": _lepton_pair(_TAU, 0.0),
    "mumu": _lepton_pair(_MUON, 0.15),
    "ee": _in_acceptance(_ELECTRON, sample_bhabha_cos),
    "gg": _in_acceptance(_PHOTON, sample_gg_cos),
}

__all__ = [
    "GENERIC_SAMPLES",
    "MCPARTICLE_FIELDS",
    "SAMPLE_CODES",
    "SIGNAL_EVENT_TYPES",
    "SignalType",
    "event_types",
    "generate",
    "known_event_type",
]
