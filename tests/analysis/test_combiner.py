"""Combinatorics: no track reused, conjugates exactly once, against brute force."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from b2grid.analysis import Analysis, combiner

M_PI, M_K = 0.13957039, 0.493677


def random_tracks(rng: np.random.Generator, n_events: int, mean: float) -> list:
    return [
        [
            (*rng.normal(0.0, 0.8, 3).tolist(), int(rng.choice([-1, 1])))
            for _ in range(rng.poisson(mean))
        ]
        for _ in range(n_events)
    ]


def brute_force(tracks: list, slots: list[tuple[int, set[int] | None]]) -> set:
    """Every (event, flavour, tuple of track indices) for slots of (charge, allowed
    track set or None = any); the conjugate flips every charge; a repeated
    identical slot keeps one ordering."""
    out = set()
    for ev, trk in enumerate(tracks):
        for flav, sign in ((0, 1), (1, -1)):
            for combo in itertools.product(range(len(trk)), repeat=len(slots)):
                if len(set(combo)) < len(combo):
                    continue
                ok = all(
                    trk[i][3] == sign * q and (allowed is None or (ev, i) in allowed)
                    for i, (q, allowed) in zip(combo, slots, strict=True)
                )
                if ok:
                    out.add((ev, flav, combo))
    return out


def test_d0_to_k_pi_matches_brute_force_and_reuses_no_track(
    toy_events: Callable[..., Any],
) -> None:
    rng = np.random.default_rng(3)
    tracks = random_tracks(rng, 60, 5)
    kaon = [[bool(rng.random() < 0.5) for _ in ev] for ev in tracks]
    ana = Analysis(toy_events(tracks, kaon=kaon))
    ana.fill_particle_list("K+:k", "kaonID > 0.5")
    d0 = ana.reconstruct_decay("D0:Kpi -> K-:k pi+")
    kaons = {(e, i) for e, ev in enumerate(kaon) for i, k in enumerate(ev) if k}
    expected = brute_force(tracks, [(-1, kaons), (+1, None)])
    got = {
        (int(d0.event[i]), 0 if d0.pdg[i] == 421 else 1, tuple(d0.keys[i].tolist()))
        for i in range(len(d0))
    }
    assert len(got) == len(d0), "a candidate appears twice"
    assert got == expected
    assert (d0.keys[:, 0] != d0.keys[:, 1]).all()
    # flavour follows the kaon: D0 has the K-, anti-D0 the K+
    kaon_charge = ana["K+:k"].charge[d0.daughters[:, 0]]
    assert ((d0.pdg == 421) == (kaon_charge == -1)).all()
    assert ((d0.pdg == -421) == (kaon_charge == 1)).all()


def test_three_body_with_identical_slots_counts_each_set_once(
    toy_events: Callable[..., Any],
) -> None:
    rng = np.random.default_rng(4)
    tracks = random_tracks(rng, 40, 6)
    ana = Analysis(toy_events(tracks))
    dp = ana.reconstruct_decay("D+:Kpipi -> K- pi+ pi+")
    # brute force with ordered pions, then keep one ordering of the two pions
    expected = {
        (e, f, c)
        for e, f, c in brute_force(tracks, [(-1, None), (1, None), (1, None)])
        if c[1] < c[2]
    }
    got = {
        (int(dp.event[i]), 0 if dp.pdg[i] == 411 else 1, tuple(dp.keys[i].tolist()))
        for i in range(len(dp))
    }
    assert got == expected
    assert len(got) == len(dp)
    assert all(len(set(k)) == 3 for k in dp.keys.tolist())


def test_self_conjugate_decays_run_once(toy_events: Callable[..., Any]) -> None:
    tracks = [[(1.0, 0.0, 0.0, 1), (-1.0, 0.2, 0.0, -1), (0.3, 0.3, 0.3, 1)]]
    photons = [[(0.5, 1.0, 0.0), (0.4, 1.2, 1.0), (0.3, 2.0, 2.0), (0.2, 1.5, -1.0)]]
    ana = Analysis(toy_events(tracks, photons))
    ks = ana.reconstruct_decay("K_S0:pp -> pi+ pi-")
    assert len(ks) == 2  # two positive tracks x one negative; no conjugate copies
    assert set(ks.pdg.tolist()) == {310}
    gg = ana.reconstruct_decay("pi0:gg -> gamma gamma")
    assert len(gg) == 6  # 4 choose 2
    pairs = {tuple(sorted(k)) for k in gg.keys.tolist()}
    assert len(pairs) == 6
    kk = ana.reconstruct_decay("D0:KK -> K- K+")
    assert set(kk.pdg.tolist()) == {421}
    assert len(kk) == 2


def test_nested_decays_never_share_a_track(toy_events: Callable[..., Any]) -> None:
    rng = np.random.default_rng(5)
    ana = Analysis(toy_events(random_tracks(rng, 50, 6)))
    ana.reconstruct_decay("D0:Kpi -> K- pi+")
    b = ana.reconstruct_decay("B+:Dpi -> anti-D0:Kpi pi+")
    assert len(b) > 0
    assert b.keys.shape[1] == 3
    assert all(len(set(k)) == 3 for k in b.keys.tolist())
    # B+ has the anti-D0 and a pi+, B- the D0 and a pi-
    d_pdg = ana["D0:Kpi"].pdg[b.daughters[:, 0]]
    pi_q = ana["pi+:all"].charge[b.daughters[:, 1]]
    assert ((b.pdg == 521) == ((d_pdg == -421) & (pi_q == 1))).all()
    assert set(b.pdg.tolist()) <= {521, -521}
    assert (b.charge == np.sign(b.pdg)).all()


def test_mass_window_and_counting_pass_agree(
    toy_events: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(6)
    ev = toy_events(random_tracks(rng, 80, 6))
    wide = Analysis(ev).reconstruct_decay("D0:Kpi -> K- pi+")
    m = np.sqrt(np.maximum(wide.E**2 - wide.px**2 - wide.py**2 - wide.pz**2, 0))
    expected = int(((m > 1.0) & (m < 2.0)).sum())
    narrow = Analysis(ev).reconstruct_decay("D0:Kpi -> K- pi+", "1.0 < M < 2.0")
    assert len(narrow) == expected
    monkeypatch.setattr(combiner, "ONE_PASS_LIMIT", 0)  # force count-then-fill
    again = Analysis(ev).reconstruct_decay("D0:Kpi -> K- pi+", "1.0 < M < 2.0")
    assert np.array_equal(again.keys, narrow.keys)
    assert np.allclose(again.E, narrow.E)


def test_four_momenta_add_up(toy_events: Callable[..., Any]) -> None:
    tracks = [[(1.0, 0.0, 0.5, -1), (0.0, -1.0, 0.2, 1)], []]
    ana = Analysis(toy_events(tracks))
    d = ana.reconstruct_decay("D0:Kpi -> K- pi+")
    # D0 = (K- track 0, pi+ track 1) and anti-D0 = (K+ track 1, pi- track 0)
    assert d.pdg.tolist() == [421, -421]
    assert d.offsets.tolist() == [0, 2, 2]
    e_d0 = np.sqrt(1.25 + M_K**2) + np.sqrt(1.04 + M_PI**2)
    e_anti = np.sqrt(1.25 + M_PI**2) + np.sqrt(1.04 + M_K**2)
    assert np.allclose(d.px, 1.0)
    assert np.allclose(d.py, -1.0)
    assert np.allclose(d.pz, 0.7)
    assert np.allclose(d.E, [e_d0, e_anti])
