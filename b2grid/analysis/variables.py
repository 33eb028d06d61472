"""The variable registry that cut strings and ntuples share.

A variable maps a :class:`ParticleList` (and its batch of events) to one float per
candidate, vectorised; NaN where it does not apply (``kaonID`` of a photon, truth in
data). Meta-variables take arguments: ``daughter(0, p)``, ``useCMSFrame(p)``,
``abs(dz)``, ``binaryPID(321, 211)``. :func:`evaluate` runs a parsed expression (see
:mod:`b2grid.analysis.cuts`), :func:`check` validates one before any event is read,
and :func:`describe` lists everything with units. Kinematics are in the lab frame
unless wrapped in ``useCMSFrame``; ``Mbc`` and ``deltaE`` are always CMS.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from b2grid.analysis import cuts, truth
from b2grid.analysis.cuts import Node
from b2grid.analysis.event import EventData
from b2grid.analysis.particles import ParticleList
from b2grid.errors import BadCut, UnknownVariable
from b2grid.formats import PID_DETECTORS, PID_HYPOTHESES
from b2grid.physics import pdg, pid
from b2grid.physics.hlt import fox_wolfram_r2
from b2grid.physics.kinematics import boost_t

F64 = npt.NDArray[np.float64]
Values = npt.NDArray[np.float64] | npt.NDArray[np.bool_]
Frame = str  # "lab" or "cms"
VarFn = Callable[[ParticleList, EventData, Frame], F64]
MetaFn = Callable[[ParticleList, EventData, Frame, tuple[object, ...]], F64]


@dataclass(frozen=True, slots=True)
class Variable:
    """A named per-candidate quantity."""

    name: str
    fn: VarFn
    doc: str
    unit: str = ""
    group: str = ""


@dataclass(frozen=True, slots=True)
class MetaVariable:
    """A variable with arguments, named in ``params``: int, number or expr."""

    name: str
    params: tuple[str, ...]
    fn: MetaFn
    doc: str
    group: str = "meta"

    @property
    def signature(self) -> str:
        return f"{self.name}({', '.join(self.params)})"


#: every variable by name
VARIABLES: dict[str, Variable] = {}
#: every meta-variable by name
META: dict[str, MetaVariable] = {}


def register(
    name: str, doc: str, unit: str = "", group: str = ""
) -> Callable[[VarFn], VarFn]:
    """Decorator adding a variable ``fn(plist, events, frame) -> float array``."""

    def add(fn: VarFn) -> VarFn:
        if name in VARIABLES or name in META:
            raise ValueError(f"variable {name!r} is already registered")
        VARIABLES[name] = Variable(name, fn, doc, unit, group)
        return fn

    return add


def register_meta(
    name: str, params: Sequence[str], doc: str, group: str = "meta"
) -> Callable[[MetaFn], MetaFn]:
    """Decorator adding a meta-variable ``fn(plist, events, frame, args)``."""

    def add(fn: MetaFn) -> MetaFn:
        if name in VARIABLES or name in META:
            raise ValueError(f"variable {name!r} is already registered")
        META[name] = MetaVariable(name, tuple(params), fn, doc, group)
        return fn

    return add


def names() -> tuple[str, ...]:
    """Every variable and meta-variable name, sorted."""
    return tuple(sorted([*VARIABLES, *META]))


def describe() -> str:
    """A text listing of every variable: name, unit and meaning, by group.

    Examples
    --------
    >>> text = describe()
    >>> text.splitlines()[0], "  Mbc" in text
    ('kinematics', True)
    """
    groups: dict[str, list[str]] = {}
    for v in VARIABLES.values():
        unit = f" [{v.unit}]" if v.unit else ""
        groups.setdefault(v.group, []).append(f"  {v.name:<22}{unit} {v.doc}")
    for m in META.values():
        groups.setdefault(m.group, []).append(f"  {m.signature:<22} {m.doc}")
    out = []
    for group in sorted(groups, key=lambda g: (g != "kinematics", g)):
        out.append(group)
        out.extend(sorted(groups[group], key=str.lower))
    return "\n".join(out)


# --- evaluation -------------------------------------------------------------------


def check(node: Node, text: str) -> None:
    """Raise UnknownVariable / BadCut for unknown names or wrong arguments."""
    for sub in cuts.walk(node):
        if isinstance(sub, cuts.Var) and sub.name not in VARIABLES:
            raise UnknownVariable(sub.name, names(), text)
        if isinstance(sub, cuts.Call):
            meta = META.get(sub.name)
            if meta is None:
                raise UnknownVariable(sub.name, names(), text)
            where = max(text.find(sub.name), 0)
            if len(sub.args) != len(meta.params):
                raise BadCut(
                    text,
                    where,
                    f"{meta.signature} takes {len(meta.params)} argument(s), "
                    f"got {len(sub.args)}",
                )
            for kind, arg in zip(meta.params, sub.args, strict=True):
                if kind in ("int", "number") and not isinstance(arg, cuts.Num):
                    raise BadCut(text, where, f"{meta.signature}: {kind} expected")
                if kind == "int" and not float(arg.value).is_integer():  # type: ignore[union-attr]
                    raise BadCut(text, where, f"{meta.signature}: an integer expected")


def compile_expression(text: str) -> Node:
    """Parse and check a cut or variable expression.

    Examples
    --------
    >>> str(compile_expression("useCMSFrame(p) > 2"))
    'useCMSFrame(p) > 2'
    >>> compile_expression("kaonId > 0.5")
    Traceback (most recent call last):
    ...
    b2grid.errors.UnknownVariable: unknown variable 'kaonId' ... 'kaonID'...
    """
    node = cuts.parse(text)
    check(node, text)
    return node


def _truthy(x: Values) -> npt.NDArray[np.bool_]:
    if x.dtype == np.bool_:
        return x  # type: ignore[return-value]
    out: npt.NDArray[np.bool_] = (x != 0) & ~np.isnan(x)
    return out


_COMPARE: dict[str, Callable[[Values, Values], npt.NDArray[np.bool_]]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


def evaluate(
    node: Node, plist: ParticleList, ev: EventData, frame: Frame = "lab"
) -> Values:
    """Values of an expression for every candidate of ``plist`` (float or bool)."""
    n = len(plist)
    if isinstance(node, cuts.Num):
        return np.full(n, node.value)
    if isinstance(node, cuts.Var | cuts.Call):
        key = (plist, str(node), frame)
        out = ev.cache.get(key)
        if out is None:
            if isinstance(node, cuts.Var):
                out = VARIABLES[node.name].fn(plist, ev, frame)
            else:
                args = tuple(
                    a.value if isinstance(a, cuts.Num) else a for a in node.args
                )
                out = META[node.name].fn(plist, ev, frame, args)
            out = np.asarray(out, dtype=np.float64)
            ev.cache[key] = out
        return out
    if isinstance(node, cuts.Neg):
        return -np.asarray(evaluate(node.operand, plist, ev, frame), dtype=np.float64)
    if isinstance(node, cuts.Arith):
        a = np.asarray(evaluate(node.left, plist, ev, frame), dtype=np.float64)
        b = np.asarray(evaluate(node.right, plist, ev, frame), dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            if node.op == "+":
                return a + b
            if node.op == "-":
                return a - b
            if node.op == "*":
                return a * b
            return a / b
    if isinstance(node, cuts.Compare):
        values = [evaluate(x, plist, ev, frame) for x in node.operands]
        result = np.ones(n, dtype=bool)
        for i, op in enumerate(node.ops):
            result &= _COMPARE[op](values[i], values[i + 1])
        return result
    if isinstance(node, cuts.Logic):
        parts = [_truthy(evaluate(x, plist, ev, frame)) for x in node.items]
        fn = np.logical_and if node.op == "and" else np.logical_or
        return fn.reduce(parts)  # type: ignore[no-any-return]
    assert isinstance(node, cuts.Not)
    return ~_truthy(evaluate(node.operand, plist, ev, frame))


def as_mask(values: Values) -> npt.NDArray[np.bool_]:
    """A cut's values as a boolean mask (a bare number counts when non-zero)."""
    return _truthy(values)


# --- kinematics -------------------------------------------------------------------


def four_momenta(plist: ParticleList, ev: EventData, frame: Frame) -> F64:
    """(4, n) array of px, py, pz, E in ``frame`` (``lab`` or ``cms``), cached."""
    key = (plist, "p4", frame)
    out = ev.cache.get(key)
    if out is None:
        lab = np.stack([plist.px, plist.py, plist.pz, plist.E])
        out = lab if frame == "lab" else boost_t(lab, -ev.beam.boost_vector[:, None])
        ev.cache[key] = out
    return out


def _kin(name: str, doc: str, unit: str, fn: Callable[[F64], F64]) -> None:
    register(name, doc, unit, "kinematics")(
        lambda pl, ev, fr: fn(four_momenta(pl, ev, fr))
    )


def _mass(p: F64) -> F64:
    m2 = p[3] ** 2 - p[0] ** 2 - p[1] ** 2 - p[2] ** 2
    return np.sqrt(np.maximum(m2, 0.0))  # type: ignore[no-any-return]


def _mom(p: F64) -> F64:
    return np.sqrt(p[0] ** 2 + p[1] ** 2 + p[2] ** 2)  # type: ignore[no-any-return]


def _cos_theta(p: F64) -> F64:
    mom = _mom(p)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mom > 0, p[2] / mom, np.nan)


_kin("px", "momentum x", "GeV", lambda p: p[0])
_kin("py", "momentum y", "GeV", lambda p: p[1])
_kin("pz", "momentum z", "GeV", lambda p: p[2])
_kin("p", "momentum magnitude", "GeV", _mom)
_kin("pt", "transverse momentum", "GeV", lambda p: np.hypot(p[0], p[1]))
_kin("E", "energy", "GeV", lambda p: p[3])
_kin("M", "invariant mass of the four-momentum", "GeV", _mass)
_kin("InvM", "invariant mass of the daughters' summed four-momenta", "GeV", _mass)
_kin("cosTheta", "cosine of the polar angle", "", _cos_theta)
_kin("theta", "polar angle", "rad", lambda p: np.arccos(np.clip(_cos_theta(p), -1, 1)))
_kin("phi", "azimuth", "rad", lambda p: np.arctan2(p[1], p[0]))


@register("dM", "M minus the PDG mass of the candidate's particle", "GeV", "kinematics")
def _dm(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    nominal = pdg.mass(int(abs(pl.pdg[0]))) if len(pl) else 0.0
    return _mass(four_momenta(pl, ev, fr)) - nominal


@register(
    "Mbc", "beam-constrained mass sqrt(E*beam^2 - p*^2), CMS", "GeV", "kinematics"
)
def _mbc(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    p = four_momenta(pl, ev, "cms")
    e_beam = ev.beam.e_beam_cms
    return np.sqrt(np.maximum(e_beam**2 - (p[0] ** 2 + p[1] ** 2 + p[2] ** 2), 0.0))  # type: ignore[no-any-return]


@register("deltaE", "E* - E*beam, CMS", "GeV", "kinematics")
def _delta_e(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    return four_momenta(pl, ev, "cms")[3] - ev.beam.e_beam_cms  # type: ignore[no-any-return]


# --- identity and structure ---------------------------------------------------------


@register("charge", "electric charge", "e", "identity")
def _charge(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    return pl.charge.astype(np.float64)


@register("PDG", "signed PDG code of the candidate", "", "identity")
def _pdg(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    return pl.pdg.astype(np.float64)


@register(
    "nDaughters", "number of daughters (0 for final-state particles)", "", "identity"
)
def _ndau(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    return np.full(len(pl), float(pl.n_daughters))


@register(
    "mdstIndex",
    "index of the mDST object in its event (NaN for composites)",
    "",
    "identity",
)
def _mdst_index(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    return np.where(pl.local >= 0, pl.local, np.nan)


# --- tracks -------------------------------------------------------------------------


def _from_tracks(pl: ParticleList, values: npt.NDArray[np.generic]) -> F64:
    if pl.source != "track":
        return np.full(len(pl), np.nan)
    return np.asarray(values, dtype=np.float64)[pl.obj]


def _track_var(
    name: str, field: str, doc: str, unit: str = "", absolute: bool = False
) -> None:
    def fn(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
        out = _from_tracks(pl, ev.track[field])
        return np.abs(out) if absolute else out

    register(name, doc, unit, "tracking")(fn)


_track_var("d0", "d0", "signed transverse impact parameter", "cm")
_track_var("z0", "z0", "z of the point of closest approach", "cm")
_track_var("phi0", "phi0", "azimuth of the momentum at the POCA", "rad")
_track_var("omega", "omega", "signed curvature", "1/cm")
_track_var("tanLambda", "tanLambda", "pz / pt of the helix", "")
_track_var("pValue", "pValue", "track fit p-value", "")
_track_var("nCDCHits", "nCDCHits", "CDC hits of the track", "")
_track_var("nSVDHits", "nSVDHits", "SVD hits of the track", "")
_track_var("nPXDHits", "nPXDHits", "PXD hits of the track", "")


@register(
    "dr", "transverse distance to the IP: |d0| (V0: of the vertex)", "cm", "tracking"
)
def _dr(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    if pl.source == "v0":
        vx, vy = (ev.v0[f][pl.obj].astype(np.float64) for f in ("vx", "vy"))
        return np.hypot(vx, vy)
    return np.abs(_from_tracks(pl, ev.track["d0"]))


@register("dz", "z distance to the IP: z0 (V0: of the vertex)", "cm", "tracking")
def _dz(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    if pl.source == "v0":
        return ev.v0["vz"][pl.obj].astype(np.float64)
    return _from_tracks(pl, ev.track["z0"])


@register("thetaInCDCAcceptance", "1 if 17 deg < theta < 150 deg (lab)", "", "tracking")
def _in_cdc(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    th = np.degrees(np.arccos(np.clip(_cos_theta(four_momenta(pl, ev, "lab")), -1, 1)))
    return ((th > 17.0) & (th < 150.0)).astype(np.float64)


# --- particle identification ----------------------------------------------------------


def _pid_sums(ev: EventData) -> F64:
    """(6, n_tracks) log-likelihood per hypothesis, summed over the detectors.

    The same numbers :func:`b2grid.physics.pid.global_id` sums, kept per hypothesis
    as contiguous rows: an (n, 4, 6) array costs several times more to build.
    """
    key = "pid_sums"
    if key not in ev.cache:
        sums = np.zeros((len(PID_HYPOTHESES), len(ev.pid)))
        for j, hyp in enumerate(PID_HYPOTHESES):
            for det in PID_DETECTORS:
                sums[j] += ev.pid[f"{det}_{hyp}"]
        ev.cache[key] = sums
    return ev.cache[key]  # type: ignore[no-any-return]


def _hypothesis(code: int) -> int:
    return pid.HYPOTHESIS_PDG.index(abs(code))


def _global_pid(name: str, hyp: str) -> None:
    row = PID_HYPOTHESES.index(hyp)

    def fn(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
        key = ("pid", hyp)
        if key not in ev.cache:
            sums = _pid_sums(ev)
            top = sums.max(axis=0) if len(ev.pid) else np.zeros(0)
            log_total = top + np.log(np.exp(sums - top).sum(axis=0))
            ev.cache[key] = np.exp(sums[row] - log_total)
        return _from_tracks(pl, ev.cache[key])

    register(
        name, f"L({hyp}) / sum of L over all hypotheses, all detectors", "", "pid"
    )(fn)


for _name, _hyp in (
    ("electronID", "e"),
    ("muonID", "mu"),
    ("pionID", "pi"),
    ("kaonID", "K"),
    ("protonID", "p"),
    ("deuteronID", "d"),
):
    _global_pid(_name, _hyp)


@register_meta(
    "binaryPID", ("int", "int"), "L(a) / (L(a) + L(b)) for PDG codes a, b", "pid"
)
def _binary_pid(
    pl: ParticleList, ev: EventData, fr: Frame, args: tuple[object, ...]
) -> F64:
    a, b = (int(float(x)) for x in args)  # type: ignore[arg-type]
    if abs(a) not in pid.HYPOTHESIS_PDG or abs(b) not in pid.HYPOTHESIS_PDG:
        return np.full(len(pl), np.nan)
    key = ("binaryPID", abs(a), abs(b))
    if key not in ev.cache:
        sums = _pid_sums(ev)
        diff = sums[_hypothesis(a)] - sums[_hypothesis(b)]
        ev.cache[key] = np.exp(-np.logaddexp(0.0, -diff))
    return _from_tracks(pl, ev.cache[key])


# --- calorimeter ------------------------------------------------------------------


def _cluster_index(pl: ParticleList, ev: EventData) -> npt.NDArray[np.int64]:
    """Flat ECLCluster of each candidate (a photon's own, a track's match), -1."""
    if pl.source == "cluster":
        return pl.obj
    if pl.source == "track":
        return ev.track_cluster()[pl.obj]
    return np.full(len(pl), -1, dtype=np.int64)


def _cluster_var(name: str, field: str, doc: str, unit: str = "") -> None:
    def fn(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
        idx = _cluster_index(pl, ev)
        values = ev.cluster[field].astype(np.float64)[np.maximum(idx, 0)]
        return np.where(idx >= 0, values, np.nan)

    register(name, doc, unit, "calorimeter")(fn)


_cluster_var(
    "clusterE", "E", "energy of the ECL cluster (a track's matched one)", "GeV"
)
_cluster_var("clusterTheta", "theta", "polar angle of the cluster", "rad")
_cluster_var("clusterPhi", "phi", "azimuth of the cluster", "rad")
_cluster_var("clusterE9E21", "E9oE21", "E in 3x3 over 5x5 without corners", "")
_cluster_var("clusterTiming", "time", "seed crystal time", "ns")
_cluster_var("clusterNHits", "nHits", "crystals in the cluster", "")


@register(
    "clusterReg",
    "ECL region: 1 forward, 2 barrel, 3 backward, NaN none",
    "",
    "calorimeter",
)
def _cluster_reg(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    idx = _cluster_index(pl, ev)
    theta = ev.cluster["theta"].astype(np.float64)[np.maximum(idx, 0)]
    # the barrel spans about 32.2-128.7 degrees
    reg = np.where(
        theta < math.radians(32.2), 1.0, np.where(theta > math.radians(128.7), 3.0, 2.0)
    )
    return np.where(idx >= 0, reg, np.nan)


@register("clusterEoP", "cluster energy over track momentum (lab)", "", "calorimeter")
def _eop(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    e = VARIABLES["clusterE"].fn(pl, ev, fr)
    mom = _mom(four_momenta(pl, ev, "lab"))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pl.source == "track", e / mom, np.nan)


# --- event --------------------------------------------------------------------------


def _per_event(pl: ParticleList, values: npt.NDArray[np.generic]) -> F64:
    return np.asarray(values, dtype=np.float64)[pl.event]


@register("nTracks", "tracks in the event", "", "event")
def _ntracks(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    return _per_event(pl, ev.track.counts)


@register("nECLClusters", "ECL clusters in the event", "", "event")
def _nclusters(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    return _per_event(pl, ev.cluster.counts)


@register("nKLMClusters", "KLM clusters in the event", "", "event")
def _nklm(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    return _per_event(pl, ev.klm_counts)


@register("expNum", "experiment number", "", "event")
def _exp(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    return _per_event(pl, ev.meta("experiment"))


@register("runNum", "run number", "", "event")
def _run(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    return _per_event(pl, ev.meta("run"))


@register("evtNum", "event number", "", "event")
def _evt(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    return _per_event(pl, ev.meta("event"))


@register(
    "R2",
    "Fox-Wolfram R2 = H2/H0 of the event: tracks (pion mass) and neutral clusters, CMS",
    "",
    "event",
)
def _r2(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    key = "R2"
    if key not in ev.cache:
        tp = np.stack([ev.track[c].astype(np.float64) for c in ("px", "py", "pz")])
        neutral = ev.cluster["trackIndex"] < 0
        e = ev.cluster["E"].astype(np.float64)[neutral]
        th = ev.cluster["theta"].astype(np.float64)[neutral]
        ph = ev.cluster["phi"].astype(np.float64)[neutral]
        cp = np.stack(
            [e * np.sin(th) * np.cos(ph), e * np.sin(th) * np.sin(ph), e * np.cos(th)]
        )
        te = np.sqrt((tp**2).sum(axis=0) + pdg.mass(211) ** 2)
        lab = np.concatenate([np.vstack([tp, te]), np.vstack([cp, e])], axis=1)
        cms = boost_t(lab, -ev.beam.boost_vector[:, None])
        event = np.concatenate([ev.track.event, ev.cluster.event[neutral]])
        order = np.argsort(event, kind="stable")
        ev.cache[key] = fox_wolfram_r2(
            event[order], ev.n_events, cms[:3, order].T.copy()
        )
    return _per_event(pl, ev.cache[key])


# --- MC truth -----------------------------------------------------------------------


@register(
    "isSignal",
    "1 if correctly reconstructed (MC truth), 0 if not, NaN in data",
    "",
    "truth",
)
def _is_signal(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    if ev.mc is None:
        return np.full(len(pl), np.nan)
    return truth.is_signal(pl, ev).astype(np.float64)


@register("mcPDG", "PDG code of the matched MCParticle (NaN if none)", "", "truth")
def _mc_pdg(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    return truth.mc_pdg(pl, ev)


@register(
    "genMotherPDG",
    "PDG code of the matched MCParticle's mother (NaN if none)",
    "",
    "truth",
)
def _gen_mother_pdg(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
    if ev.mc is None:
        return np.full(len(pl), np.nan)
    mom = truth.mother(ev, truth.mc_index(pl, ev))
    values = ev.mc["pdg"][np.maximum(mom, 0)].astype(np.float64)
    return np.where(mom >= 0, values, np.nan)


def _mc_kin(name: str, doc: str, fn: Callable[[F64], F64]) -> None:
    def var(pl: ParticleList, ev: EventData, fr: Frame) -> F64:
        if ev.mc is None:
            return np.full(len(pl), np.nan)
        idx = truth.mc_index(pl, ev)
        safe = np.maximum(idx, 0)
        p = np.stack(
            [ev.mc[c][safe].astype(np.float64) for c in ("px", "py", "pz", "E")]
        )
        if fr == "cms":
            p = boost_t(p, -ev.beam.boost_vector[:, None])
        return np.where(idx >= 0, fn(p), np.nan)

    register(name, doc, "GeV", "truth")(var)


_mc_kin("mcP", "momentum of the matched MCParticle", _mom)
_mc_kin("mcE", "energy of the matched MCParticle", lambda p: p[3])


# --- meta-variables -----------------------------------------------------------------


@register_meta(
    "daughter", ("int", "expr"), "the expression for the i-th daughter (from 0)"
)
def _daughter(
    pl: ParticleList, ev: EventData, fr: Frame, args: tuple[object, ...]
) -> F64:
    i = int(float(args[0]))  # type: ignore[arg-type]
    expr = args[1]
    if not 0 <= i < pl.n_daughters:
        return np.full(len(pl), np.nan)
    inner = evaluate(expr, pl.daughter_lists[i], ev, fr)  # type: ignore[arg-type]
    return np.asarray(inner, dtype=np.float64)[pl.daughters[:, i]]


@register_meta(
    "useCMSFrame", ("expr",), "the expression in the e+e- centre-of-mass frame"
)
def _cms(pl: ParticleList, ev: EventData, fr: Frame, args: tuple[object, ...]) -> F64:
    return np.asarray(evaluate(args[0], pl, ev, "cms"), dtype=np.float64)  # type: ignore[arg-type]


@register_meta("useLabFrame", ("expr",), "the expression in the lab frame")
def _lab(pl: ParticleList, ev: EventData, fr: Frame, args: tuple[object, ...]) -> F64:
    return np.asarray(evaluate(args[0], pl, ev, "lab"), dtype=np.float64)  # type: ignore[arg-type]


@register_meta("abs", ("expr",), "absolute value")
def _abs(pl: ParticleList, ev: EventData, fr: Frame, args: tuple[object, ...]) -> F64:
    return np.abs(np.asarray(evaluate(args[0], pl, ev, fr), dtype=np.float64))  # type: ignore[arg-type]


@register_meta("daughterInvM", ("int", "int"), "invariant mass of daughters i and j")
def _dau_invm(
    pl: ParticleList, ev: EventData, fr: Frame, args: tuple[object, ...]
) -> F64:
    i, j = (int(float(x)) for x in args)  # type: ignore[arg-type]
    if not (0 <= i < pl.n_daughters and 0 <= j < pl.n_daughters):
        return np.full(len(pl), np.nan)
    a = four_momenta(pl.daughter_lists[i], ev, "lab")[:, pl.daughters[:, i]]
    b = four_momenta(pl.daughter_lists[j], ev, "lab")[:, pl.daughters[:, j]]
    return _mass(a + b)


__all__ = [
    "META",
    "VARIABLES",
    "MetaVariable",
    "Variable",
    "as_mask",
    "check",
    "compile_expression",
    "describe",
    "evaluate",
    "four_momenta",
    "names",
    "register",
    "register_meta",
]
