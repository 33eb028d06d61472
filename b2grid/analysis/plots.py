"""Plots physicists make first: Mbc and ΔE of B candidates, with hist + mplhep.

Optional libraries are imported when a plot is made, so the toolkit imports without
them (``pip install hist mplhep matplotlib`` if missing).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import numpy.typing as npt


def _libraries() -> tuple[Any, Any, Any]:
    try:
        import hist
        import matplotlib

        matplotlib.use("Agg")  # files, never a window
        import matplotlib.pyplot as plt
        import mplhep
    except ImportError as exc:  # pragma: no cover - the install hint is the point
        raise ImportError(
            f"plots need hist, mplhep and matplotlib ({exc}); "
            "pip install hist mplhep matplotlib"
        ) from exc
    return hist, plt, mplhep


def mbc_deltae(
    mbc: npt.ArrayLike,
    delta_e: npt.ArrayLike,
    path: str | os.PathLike[str],
    *,
    title: str = "",
) -> float:
    """Histogram Mbc (5.20 to 5.29 GeV) and ΔE (-0.2 to 0.2 GeV) side by side, a PNG.

    Returns the centre of the fullest Mbc bin (GeV): where the signal peaks.
    """
    hist, plt, mplhep = _libraries()
    mbc = np.asarray(mbc, dtype=np.float64)
    delta_e = np.asarray(delta_e, dtype=np.float64)
    h_mbc = hist.Hist.new.Reg(45, 5.20, 5.29, name="Mbc", label=r"$M_{bc}$ [GeV]")
    h_mbc = h_mbc.Double().fill(mbc)
    h_de = hist.Hist.new.Reg(40, -0.2, 0.2, name="dE", label=r"$\Delta E$ [GeV]")
    h_de = h_de.Double().fill(delta_e)
    plt.style.use(mplhep.style.ROOT)
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 6))
    mplhep.histplot(h_mbc, ax=left, histtype="fill", alpha=0.6, label="candidates")
    mplhep.histplot(h_de, ax=right, histtype="fill", alpha=0.6, label="candidates")
    for ax, h in ((left, h_mbc), (right, h_de)):
        ax.set_xlabel(h.axes[0].label)
        ax.set_ylabel("candidates / bin")
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.savefig(os.fspath(path), dpi=80, bbox_inches="tight")
    plt.close(fig)
    values = h_mbc.values()
    return float(h_mbc.axes[0].centers[int(np.argmax(values))]) if values.sum() else 0.0


__all__ = ["mbc_deltae"]
