"""Analysis: a batch of mDST/uDST events and the particle lists built on it.

The basf2 steering verbs as methods: :meth:`Analysis.fill_particle_list`,
:meth:`Analysis.reconstruct_decay`, :meth:`Analysis.apply_cuts`,
:meth:`Analysis.variables_to_ntuple`. Everything is vectorised over the batch; a job
makes one ``Analysis`` per file or chunk. Cut and decay strings are checked before
any work is done, so a typo fails at once, naming itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import awkward as ak
import numpy as np
import numpy.typing as npt

from b2grid import formats
from b2grid.analysis import combiner, ntuple
from b2grid.analysis import variables as registry
from b2grid.analysis.cuts import mass_window
from b2grid.analysis.decay import ListName, parse_decay, parse_list_name
from b2grid.analysis.event import EventData, beam_of, check_level, open_events
from b2grid.analysis.particles import KEY_CLUSTER, KEY_TRACK, ParticleList, from_columns
from b2grid.analysis.standard import standard_list
from b2grid.errors import BadDecayString, UnknownParticleList
from b2grid.physics import pdg
from b2grid.physics.kinematics import Beam

#: final-state particles made from tracks (the PID hypotheses with a name)
TRACK_PARTICLES: frozenset[int] = frozenset({11, 13, 211, 321, 2212})
#: particles made from V0s
V0_PARTICLES: frozenset[int] = frozenset({310, 3122})


class Analysis:
    """Particle lists over one batch of mDST/uDST events.

    Parameters
    ----------
    events
        An mDST/uDST batch (awkward, as :func:`b2grid.formats.read_events` returns)
        or a prepared :class:`EventData`.
    beam
        The nominal beams for the CMS frame; Y(4S) running by default (a file's own
        ``beam_energy`` when opened with :meth:`open`).

    Examples
    --------
    >>> import awkward as ak
    >>> from b2grid.physics.chain import event_meta
    >>> trk = [[{"px": 1.0, "py": 0.0, "pz": 0.5, "charge": 1, "d0": 0.01,
    ...          "z0": 0.1, "mcIndex": -1}]]
    >>> events = ak.zip({"EventMetaData": event_meta(1, 12, 1), "Track": ak.Array(trk),
    ...     "PIDLikelihood": ak.Array([[{"CDC_K": 0.0}]]), "ECLCluster": ak.Array([[]]),
    ...     "V0": ak.Array([[]])}, depth_limit=1)
    >>> ana = Analysis(events)
    >>> ana.fill_particle_list("pi+:good", "p > 1 and abs(dr) < 0.5")
    <ParticleList pi+:good: 1 candidates in 1 events, from 'p > 1 and abs(dr) < 0.5'>
    >>> ana.values("pi+:good", "pt").round(3).tolist()
    [1.0]
    """

    def __init__(
        self,
        events: ak.Array | EventData,
        *,
        beam: Beam | None = None,
        source: str = "<memory>",
    ) -> None:
        if isinstance(events, EventData):
            self.data = events
        else:
            self.data = EventData(events, beam or Beam.y4s(), source=source)
        #: the lists by key (|pdg|, label)
        self.lists: dict[tuple[int, str], ParticleList] = {}

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], *, beam: Beam | None = None
    ) -> Analysis:
        """An analysis of a whole mDST/uDST file (BadEventFile for anything else)."""
        return cls(open_events(path, beam=beam))

    @classmethod
    def iterate(
        cls,
        path: str | os.PathLike[str],
        *,
        step: int | None = None,
        beam: Beam | None = None,
    ) -> Iterator[Analysis]:
        """One analysis per chunk of a big file (chunks of whole baskets)."""
        meta = check_level(path)  # the level, from the metadata alone
        chosen = beam or beam_of(meta)
        with formats.EventFile(path) as f:
            for chunk in f.iterate(step=step):
                yield cls(EventData(chunk, chosen, source=str(path)))

    @property
    def events(self) -> ak.Array:
        """The event batch (awkward), e.g. to write the events a skim keeps."""
        return self.data.events

    @property
    def beam(self) -> Beam:
        return self.data.beam

    def __len__(self) -> int:
        return self.data.n_events

    # --- lists ----------------------------------------------------------------------

    def __contains__(self, name: str) -> bool:
        return parse_list_name(name).key in self.lists

    def __getitem__(self, name: str) -> ParticleList:
        return self.get(name)

    def get(self, name: str) -> ParticleList:
        """The list ``name:label`` (either charge's name works)."""
        key = parse_list_name(name).key
        found = self.lists.get(key)
        if found is None:
            raise UnknownParticleList(name, (pl.name for pl in self.lists.values()))
        return found

    def _store(self, pl: ParticleList) -> ParticleList:
        self.lists[parse_list_name(pl.name).key] = pl
        return pl

    def _daughter_list(self, name: ListName, decay: str) -> ParticleList:
        found = self.lists.get(name.key)
        if found is not None:
            return found
        std = standard_list(name.key)
        if std is not None:
            return self.fill_standard_list(std.name)
        if name.label == "all" and _final_state_kind(name) is not None:
            return self.fill_particle_list(name.canonical)
        known = [pl.name for pl in self.lists.values()]
        raise UnknownParticleList(str(name), known)

    def fill_particle_list(self, name: str, cut: str = "") -> ParticleList:
        """Fill a final-state list ``name:label`` from the mDST objects, with a cut.

        Charged particles (``pi+ K+ p+ e+ mu+``) come from tracks with that mass
        hypothesis, ``gamma`` from ECL clusters without a track, ``K_S0``/``Lambda0``
        from V0s; the conjugate is always included. ``cut`` is a cut string over the
        variables (:func:`b2grid.analysis.variables.describe`). Returns the list.
        """
        ln = parse_list_name(name)
        node = registry.compile_expression(cut) if cut.strip() else None
        kind = _final_state_kind(ln)
        if kind is None:
            raise BadDecayString(
                name,
                f"{ln.particle} is not a final-state particle (tracks: pi+ K+ p+ e+ "
                "mu+; clusters: gamma; V0s: K_S0 Lambda0); build it with "
                "reconstruct_decay",
            )
        full = {"track": self._tracks, "cluster": self._photons, "v0": self._v0s}[kind](
            ln, cut
        )
        if node is not None:
            full = full.select(
                registry.as_mask(registry.evaluate(node, full, self.data))
            )
        return self._store(full)

    def fill_standard_list(self, name: str) -> ParticleList:
        """Fill a standard list (see :mod:`b2grid.analysis.standard`) and its inputs."""
        ln = parse_list_name(name)
        std = standard_list(ln.key)
        if std is None:
            raise UnknownParticleList(name, _standard_names())
        if std.decay:
            return self.reconstruct_decay(std.decay, std.cut)
        return self.fill_particle_list(std.name, std.cut)

    def reconstruct_decay(self, decay: str, cut: str = "") -> ParticleList:
        """Combine daughter lists into a new list ``mother:label``, with a cut.

        ``decay`` is ``"D0:Kpi -> K-:good pi+"`` (a daughter without a label is its
        ``:all`` list); the charge-conjugate decay is reconstructed too. Daughters
        may be lists reconstructed before (``B+:Dpi -> anti-D0:Kpi pi+``). No mDST
        object is used twice in one candidate. Returns the new list.
        """
        parsed = parse_decay(decay)
        node = registry.compile_expression(cut) if cut.strip() else None
        lists = [self._daughter_list(d, decay) for d in parsed.daughters]
        window = mass_window(node) if node is not None else (0.0, np.inf)
        full = combiner.build(parsed, lists, parsed.mother.canonical, window)
        if node is not None:
            full = full.select(
                registry.as_mask(registry.evaluate(node, full, self.data))
            )
        return self._store(full)

    def apply_cuts(self, name: str, cut: str) -> ParticleList:
        """Keep only the candidates of list ``name`` that pass ``cut``."""
        node = registry.compile_expression(cut)
        pl = self.get(name)
        kept = pl.select(
            registry.as_mask(registry.evaluate(node, pl, self.data)),
            origin=f"{pl.origin} & [{cut}]",
        )
        return self._store(kept)

    def copy_list(self, new: str, old: str, cut: str = "") -> ParticleList:
        """A new list ``new`` with the candidates of ``old`` passing ``cut``."""
        target = parse_list_name(new)
        source = self.get(old)
        if parse_list_name(source.name).key[0] != target.key[0]:
            raise BadDecayString(
                new, f"cannot copy {source.name} into another particle"
            )
        pl = source.renamed(target.canonical)
        if cut.strip():
            node = registry.compile_expression(cut)
            pl = pl.select(registry.as_mask(registry.evaluate(node, pl, self.data)))
        return self._store(pl)

    # --- values -----------------------------------------------------------------------

    def values(self, name: str, expression: str) -> npt.NDArray[np.float64]:
        """One value per candidate of list ``name`` (a float array)."""
        node = registry.compile_expression(expression)
        out = registry.evaluate(node, self.get(name), self.data)
        return np.asarray(out, dtype=np.float64)

    def event_mask(self, name: str) -> npt.NDArray[np.bool_]:
        """Events with at least one candidate in list ``name`` (a skim's decision)."""
        return self.get(name).event_mask()

    def candidate_columns(
        self, name: str, variables: Sequence[str] | Mapping[str, str]
    ) -> dict[str, npt.NDArray[Any]]:
        """The ntuple columns of list ``name`` (basf2 counters, then variables)."""
        return ntuple.candidate_columns(self.get(name), self.data, variables)

    def variables_to_ntuple(
        self,
        name: str,
        variables: Sequence[str] | Mapping[str, str],
        path: str | os.PathLike[str],
    ) -> formats.FileMetadata:
        """Write one row per candidate of list ``name`` to an ntuple file.

        Branches: the basf2 counters (``__experiment__`` ... ``__weight__``) and one
        per variable, named as basf2 names them or by the keys of a mapping.
        """
        columns = self.candidate_columns(name, variables)
        return ntuple.write(path, columns, self.data, list_name=self.get(name).name)

    # --- final-state fills ------------------------------------------------------------

    def _tracks(self, ln: ListName, cut: str) -> ParticleList:
        trk = self.data.track
        q = trk["charge"].astype(np.int32)
        mass = pdg.mass(ln.pdg)
        px, py, pz = (trk[c].astype(np.float64) for c in ("px", "py", "pz"))
        e = np.sqrt(px * px + py * py + pz * pz + mass * mass)
        codes = np.where(q == pdg.charge(ln.pdg), ln.pdg, pdg.conjugate(ln.pdg))
        local = trk.local()
        return from_columns(
            ln.canonical, "track", cut, self.data.n_events, trk.event,
            (px, py, pz, e), codes.astype(np.int32), q,
            obj=np.arange(len(trk), dtype=np.int64), local=local,
            keys=(KEY_TRACK + local)[:, None],
        )  # fmt: skip

    def _photons(self, ln: ListName, cut: str) -> ParticleList:
        cl = self.data.cluster
        obj = np.flatnonzero(cl["trackIndex"] < 0)
        e = cl["E"].astype(np.float64)[obj]
        th = cl["theta"].astype(np.float64)[obj]
        ph = cl["phi"].astype(np.float64)[obj]
        st = np.sin(th)
        local = cl.local()[obj]
        n = len(obj)
        return from_columns(
            ln.canonical, "cluster", cut, self.data.n_events, cl.event[obj],
            (e * st * np.cos(ph), e * st * np.sin(ph), e * np.cos(th), e),
            np.full(n, 22, dtype=np.int32), np.zeros(n, dtype=np.int32),
            obj=obj, local=local, keys=(KEY_CLUSTER + local)[:, None],
        )  # fmt: skip

    def _v0s(self, ln: ListName, cut: str) -> ParticleList:
        v0 = self.data.v0
        obj = np.flatnonzero(np.abs(v0["pdg"]) == abs(ln.pdg))
        px, py, pz = (v0[c].astype(np.float64)[obj] for c in ("px", "py", "pz"))
        m = v0["M"].astype(np.float64)[obj]
        e = np.sqrt(px * px + py * py + pz * pz + m * m)
        event = v0.event[obj]
        keys = np.stack(
            [
                KEY_TRACK + v0[f][obj].astype(np.int64)
                for f in ("trackIndexPos", "trackIndexNeg")
            ],
            axis=1,
        )
        return from_columns(
            ln.canonical, "v0", cut, self.data.n_events, event, (px, py, pz, e),
            v0["pdg"][obj].astype(np.int32), np.zeros(len(obj), dtype=np.int32),
            obj=obj, local=v0.local()[obj], keys=keys,
        )  # fmt: skip


def _final_state_kind(ln: ListName) -> str | None:
    code = abs(ln.pdg)
    if code in TRACK_PARTICLES:
        return "track"
    if code == 22:
        return "cluster"
    if code in V0_PARTICLES:
        return "v0"
    return None


def _standard_names() -> list[str]:
    from b2grid.analysis.standard import STANDARD_LISTS

    return [s.name for s in STANDARD_LISTS]


__all__ = ["Analysis", "beam_of"]
