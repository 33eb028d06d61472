"""The standard particle lists, by name, with their definitions.

==================  ==================================================================
list                definition
==================  ==================================================================
``pi+:all``         every track, pion mass (likewise ``K+:all``, ``p+:all``,
                    ``e+:all``, ``mu+:all`` with their masses)
``pi+:loose``       ``abs(dr) < 0.5 and abs(dz) < 2 and thetaInCDCAcceptance`` and
                    ``pionID > 0.1`` (``K+:loose``: ``kaonID > 0.1``)
``gamma:all``       every ECL cluster not matched to a track, massless, from the IP
``gamma:pi0eff40``  ``gamma:all`` above 80 / 30 / 60 MeV in the forward endcap /
                    barrel / backward endcap
``pi0:eff40``       ``gamma:pi0eff40`` pairs with ``0.120 < M < 0.145``
``K_S0:merged``     V0s under the K_S0 hypothesis with ``0.450 < M < 0.550``
``Lambda0:merged``  V0s under the Lambda hypothesis with ``1.10 < M < 1.13``
==================  ==================================================================

The names follow basf2's ``stdCharged``/``stdPhotons``/``stdPi0s``/``stdV0s``; the
thresholds are b2grid's own (round numbers near basf2's). A decay string naming a
standard list that was not filled yet fills it on the spot.
"""

from __future__ import annotations

from dataclasses import dataclass

from b2grid.analysis.decay import parse_list_name


@dataclass(frozen=True, slots=True)
class StandardList:
    """One standard list: a final-state fill with a cut, or a decay with a cut."""

    name: str
    cut: str
    #: the decay string for a composite list, "" for a final-state one
    decay: str = ""


_TRACK_QUALITY = "abs(dr) < 0.5 and abs(dz) < 2 and thetaInCDCAcceptance"
_PI0_GAMMA = (
    "[clusterReg == 1 and E > 0.080] or [clusterReg == 2 and E > 0.030] "
    "or [clusterReg == 3 and E > 0.060]"
)

STANDARD_LISTS: tuple[StandardList, ...] = (
    *(StandardList(f"{p}:all", "") for p in ("pi+", "K+", "p+", "e+", "mu+")),
    StandardList("pi+:loose", f"{_TRACK_QUALITY} and pionID > 0.1"),
    StandardList("K+:loose", f"{_TRACK_QUALITY} and kaonID > 0.1"),
    StandardList("gamma:all", ""),
    StandardList("gamma:pi0eff40", _PI0_GAMMA),
    StandardList(
        "pi0:eff40",
        "0.120 < M < 0.145",
        "pi0:eff40 -> gamma:pi0eff40 gamma:pi0eff40",
    ),
    StandardList("K_S0:merged", "0.450 < M < 0.550"),
    StandardList("Lambda0:merged", "1.10 < M < 1.13"),
)

_BY_KEY = {parse_list_name(s.name).key: s for s in STANDARD_LISTS}


def standard_list(key: tuple[int, str]) -> StandardList | None:
    """The standard definition of a list key ``(|pdg|, label)``, if there is one.

    Examples
    --------
    >>> standard_list((111, "eff40")).decay
    'pi0:eff40 -> gamma:pi0eff40 gamma:pi0eff40'
    >>> standard_list((211, "mine")) is None
    True
    """
    return _BY_KEY.get(key)


__all__ = ["STANDARD_LISTS", "StandardList", "standard_list"]
