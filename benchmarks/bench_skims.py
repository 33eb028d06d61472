"""Benchmark: a skim job vs plain uproot + awkward; combined vs separate skims.

What it measures
----------------
Input: mDST files written once (generic ``mixed`` and ``charged`` events with a
fraction of ``1213030000`` B+ -> anti-D0 pi+ signal), basket-sized chunks.

(a) **BtoD0h_Kpi read-select-write**, side by side on the same files:
    ``skim`` is :func:`b2grid.skims.run_skims` (read in basket chunks, toolkit lists,
    compiled combinatorics, uDST with the particle lists and flags);
    ``plain`` is what a physicist writes with uproot + awkward alone: read every
    branch, the same selection (tracks with |dr| < 2, |dz| < 5; D0 -> K pi with
    1.7 < M < 2.0 from ``ak.cartesian``; B+ -> anti-D0 pi+/K+ with Mbc > 5.2 and
    |ΔE| < 0.5; the HLT hadron flag), then write the kept events' branches and the
    B candidates' four-momenta. The kept-event counts must agree exactly.
    Reported: events/s/core of each and the ratio skim/plain (aim >= 0.9).
(b) **10 skims combined vs 10 separate passes** of :func:`run_skims` over the same
    files: events/s of each and the speed-up (aim >= 4).

One process, one core used for compute (numba and numpy single-threaded here);
best of ``--repeat`` runs after a warm-up. Run:
``python benchmarks/bench_skims.py [--events 20000] [--repeat 2]``. Numbers in
docs/skims.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

from b2grid import formats
from b2grid.conditions import ConditionsDB
from b2grid.physics import chain, pdg
from b2grid.physics.conditions import install_default_tags
from b2grid.physics.kinematics import Beam
from b2grid.skims import run_skims

TEN = [
    "BtoD0h_Kpi", "B0toDstarPi_D0pi_Kpi", "B0toDpi_Kpipi", "SLUntagged",
    "SystematicsCombinedHadronic", "DstToD0Pi_D0ToHpJm", "CharmoniumPsi",
    "TDCPV_inclusiveJpsi", "TauGeneric", "CharmlessHad2Body",
]  # fmt: skip


def make_inputs(folder: Path, n: int, signal: float) -> list[Path]:
    db = ConditionsDB(folder / "cdb")
    install_default_tags(db)
    files = []
    n_sig = int(n * signal)
    parts = [("mixed", (n - n_sig) // 2), ("charged", (n - n_sig) - (n - n_sig) // 2)]
    parts.append(("1213030000", n_sig))
    for i, (event_type, count) in enumerate(parts):
        path = folder / f"in{i}_{event_type}.mdst.root"
        chain.write_mc(path, event_type, count, seed=100 + i, db=db)
        files.append(path)
    return files


# --- (a) the plain uproot + awkward skim ------------------------------------------


def _boost(p4: dict[str, Any], beta: np.ndarray) -> dict[str, Any]:
    """Lorentz boost of awkward four-vectors by -beta (lab -> CMS)."""
    b = -beta
    b2 = float(b @ b)
    gamma = 1.0 / np.sqrt(1.0 - b2)
    bp = b[0] * p4["px"] + b[1] * p4["py"] + b[2] * p4["pz"]
    g2 = (gamma - 1.0) / b2
    k = g2 * bp + gamma * p4["E"]
    return {
        "px": p4["px"] + k * b[0],
        "py": p4["py"] + k * b[1],
        "pz": p4["pz"] + k * b[2],
        "E": gamma * (p4["E"] + bp),
    }


def plain_skim(paths: list[Path], out_dir: Path) -> int:
    """BtoD0h_Kpi with uproot + awkward only; returns the events kept."""
    beam = Beam.y4s()
    beta = np.asarray(beam.boost_vector, dtype=np.float64)
    e_beam = beam.sqrt_s / 2.0
    mk, mpi = pdg.mass(321), pdg.mass(211)
    kept_total = 0
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in paths:
        with uproot.open(path) as f:
            tree = f["events"]
            arrays = tree.arrays(library="ak", how=dict)
            meta = str(f[formats.METADATA_KEY])
        trk = ak.zip(
            {c: arrays[f"Track_{c}"] for c in ("px", "py", "pz", "charge", "d0", "z0")}
        )
        trk = ak.with_field(trk, ak.local_index(trk), "idx")
        good = trk[(abs(trk.d0) < 2) & (abs(trk.z0) < 5)]
        p2 = good.px**2 + good.py**2 + good.pz**2
        pair = ak.cartesian(
            {"k": ak.with_field(good, np.sqrt(p2 + mk**2), "E"),
             "p": ak.with_field(good, np.sqrt(p2 + mpi**2), "E")},
        )  # fmt: skip
        pair = pair[(pair.k.idx != pair.p.idx) & (pair.k.charge == -pair.p.charge)]
        d = {c: pair.k[c] + pair.p[c] for c in ("px", "py", "pz", "E")}
        m = np.sqrt(
            np.maximum(d["E"] ** 2 - d["px"] ** 2 - d["py"] ** 2 - d["pz"] ** 2, 0)
        )
        sel = (m > 1.7) & (m < 2.0)
        d0 = ak.zip({**{c: d[c][sel] for c in d}, "qk": pair.k.charge[sel],
                     "ik": pair.k.idx[sel], "ip": pair.p.idx[sel]})  # fmt: skip
        n_b = 0
        cands = []
        for mass in (mpi, mk):
            bach = ak.with_field(good, np.sqrt(p2 + mass**2), "E")
            bd = ak.cartesian({"d": d0, "h": bach})
            # B+ -> anti-D0 (K+ pi-) h+: the bachelor has the kaon's charge
            ok = (
                (bd.h.charge == bd.d.qk) & (bd.h.idx != bd.d.ik) & (bd.h.idx != bd.d.ip)
            )
            bd = bd[ok]
            b = {c: bd.d[c] + bd.h[c] for c in ("px", "py", "pz", "E")}
            cms = _boost(b, beta)
            pstar2 = cms["px"] ** 2 + cms["py"] ** 2 + cms["pz"] ** 2
            mbc = np.sqrt(np.maximum(e_beam**2 - pstar2, 0))
            de = cms["E"] - e_beam
            bsel = (mbc > 5.2) & (abs(de) < 0.5)
            n_b = n_b + ak.num(b["E"][bsel])
            cands.append(ak.zip({c: b[c][bsel] for c in b}))
        keep = ak.to_numpy((n_b > 0) & arrays["SoftwareTriggerResult_accept_hadron"])
        kept_total += int(keep.sum())
        # write the kept events: every branch, collections re-zipped, plus the Bs
        groups: dict[str, dict[str, Any]] = {}
        for name, values in arrays.items():
            if "_" in name:
                part, _, field = name.partition("_")
                groups.setdefault(part, {})[field] = values[keep]
        out: dict[str, Any] = {}
        for part, fields in groups.items():
            if f"n{part}" in arrays:
                out[part] = ak.zip(fields)
            else:
                for field, values in fields.items():
                    out[f"{part}_{field}"] = ak.to_numpy(values)
        out["Bpi"] = cands[0][keep]
        out["BK"] = cands[1][keep]
        with uproot.recreate(
            out_dir / f"plain_{path.name}", compression=formats.COMPRESSION
        ) as w:
            w.mktree("events", {k: v.type if isinstance(v, ak.Array) else v.dtype
                                for k, v in out.items()},
                     counter_name=lambda c: f"n{c}")  # fmt: skip
            w["events"].extend(out)
            w[formats.METADATA_KEY] = meta
    return kept_total


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--signal", type=float, default=0.1)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench_skims_"))
    try:
        paths = make_inputs(work, args.events, args.signal)
        n = sum(formats.read_metadata(p).nevents for p in paths)
        size = sum(os.path.getsize(p) for p in paths) / 1e6
        print(f"inputs: {n} events in {len(paths)} files, {size:.1f} MB")

        def skim_job() -> int:
            out = work / "skim"
            shutil.rmtree(out, ignore_errors=True)
            r = run_skims(paths, ["BtoD0h_Kpi"], out)
            return r.stats["14140101"].events_kept

        def plain_job() -> int:
            out = work / "plain"
            shutil.rmtree(out, ignore_errors=True)
            return plain_skim(paths, out)

        skim_job(), plain_job()  # warm up: numba compiles, files in page cache
        t_skim, kept_skim = best(skim_job, args.repeat)
        t_plain, kept_plain = best(plain_job, args.repeat)
        assert kept_skim == kept_plain, (kept_skim, kept_plain)
        print("\n(a) BtoD0h_Kpi read-select-write, one core")
        print(
            f"  skim job (b2grid.skims)   {n / t_skim:10,.0f} ev/s   kept {kept_skim}"
        )
        print(
            f"  plain uproot + awkward    {n / t_plain:10,.0f} ev/s   kept {kept_plain}"
        )
        print(f"  ratio skim / plain        {t_plain / t_skim:10.2f}x   (aim >= 0.9)")

        def combined() -> None:
            out = work / "combined"
            shutil.rmtree(out, ignore_errors=True)
            run_skims(paths, TEN, out)

        def separate() -> None:
            for name in TEN:
                out = work / "separate" / name
                shutil.rmtree(out, ignore_errors=True)
                run_skims(paths, [name], out)

        t_comb, _ = best(combined, args.repeat)
        t_sep, _ = best(separate, args.repeat)
        print("\n(b) 10 skims: one combined pass vs 10 separate passes")
        print(f"  combined                  {n / t_comb:10,.0f} ev/s   {t_comb:6.2f} s")
        print(f"  separate                  {n / t_sep:10,.0f} ev/s   {t_sep:6.2f} s")
        print(f"  speed-up                  {t_sep / t_comb:10.2f}x   (aim >= 4)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
