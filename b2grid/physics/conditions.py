"""The detector as it really was during a run, and the payloads reconstruction reads.

:class:`RunConditions` is the simulation's truth (true crystal gains, the true field
scale, the beams): only the detector simulation sees it; a run registry may keep it
for validation. Reconstruction never does: it takes :class:`RecoPayloads` from the
conditions database by (global tag stack, exp, run), so a better calibration in a newer
tag measurably improves the reconstructed data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from b2grid.conditions import ConditionsDB, IoV
from b2grid.physics.ecl_geometry import N_CRYSTALS
from b2grid.physics.ecl_reco import default_leakage
from b2grid.physics.kinematics import Beam

#: experiments that are run-independent MC (default conditions, no drifts)
MC_EXPERIMENTS: frozenset[int] = frozenset({0, 1003, 1004})

#: payload names (the basf2 ones where there is one)
ECL_CALIB = "ECLCrystalEnergy"
MOMENTUM_SCALE = "TrackMomentumScale"
ECL_LEAKAGE = "ECLLeakageCorrection"
BEAM = "BeamParameters"
PRESCALES = "SoftwareTriggerPrescales"
PAYLOAD_NAMES: tuple[str, ...] = (
    ECL_CALIB,
    MOMENTUM_SCALE,
    ECL_LEAKAGE,
    BEAM,
    PRESCALES,
)

#: HLT prescales (keep 1 in N) of the lines that would flood the output
DEFAULT_PRESCALES: Mapping[str, int] = {"bhabha": 50, "gamma_gamma": 10}


@dataclass(frozen=True)
class RunConditions:
    """The true state of the detector and the beams during one run (simulation only)."""

    experiment: int
    run: int
    #: true gain of each crystal (index = cellId; entry 0 unused); ADC = E x gain
    ecl_gains: np.ndarray[Any, np.dtype[np.float64]]
    #: true magnetic-field scale: measured momenta are off by this factor
    field_scale: float
    beam: Beam
    #: beam-background level: ``"BGx0"`` none, ``"BGx1"`` the run's real background
    background: str = "BGx1"
    #: the run's beam background over nominal (1.0 for run-independent MC); the
    #: simulated background is the ``background`` level times this
    background_scale: float = 1.0

    @property
    def is_mc(self) -> bool:
        return self.experiment in MC_EXPERIMENTS


def true_conditions(
    experiment: int, run: int, *, beam_energy: str = "4S", background: str = "BGx1"
) -> RunConditions:
    """The (deterministic) truth of a run.

    Run-independent MC experiments get an ideal detector. Data experiments get crystal
    gains spread by 4 % per crystal (fixed for the experiment), a common drift of up to
    ±1.5 % over runs and 0.5 % per-crystal run-to-run noise, and a field scale off by
    2-6 per mille, different per experiment and slowly drifting with the run. Their
    beam background (``background_scale``) follows the machine: it wanders over runs
    between 0.6 and 1.8 times nominal, smoothly plus 8 % run-to-run noise; MC
    experiments get the nominal 1.0.

    Examples
    --------
    >>> c = true_conditions(12, 100)
    >>> c.ecl_gains.shape, bool(abs(c.field_scale - 1) < 0.01), c.is_mc
    ((8737,), True, False)
    >>> bool(0.6 <= c.background_scale <= 1.8)
    True
    >>> true_conditions(1003, 0).field_scale, true_conditions(1003, 0).background_scale
    (1.0, 1.0)
    """
    beam = Beam.off_resonance() if beam_energy == "4S_offres" else Beam.y4s()
    if experiment in MC_EXPERIMENTS:
        gains = np.ones(N_CRYSTALS + 1)
        return RunConditions(experiment, run, gains, 1.0, beam, background)
    static = np.random.default_rng([7, experiment])
    per_crystal = static.normal(1.0, 0.04, N_CRYSTALS + 1)
    field_offset = static.choice([-1.0, 1.0]) * static.uniform(0.002, 0.006)
    drift = 0.015 * np.sin(run / 400.0 + experiment)
    noisy = np.random.default_rng([7, experiment, run])
    gains = per_crystal * (1.0 + drift) * noisy.normal(1.0, 0.005, N_CRYSTALS + 1)
    gains[0] = 1.0
    field_scale = 1.0 + field_offset + 0.001 * np.cos(run / 300.0)
    return RunConditions(
        experiment,
        run,
        np.clip(gains, 0.5, 1.5),
        float(field_scale),
        beam,
        background,
        background_scale=_background_scale(experiment, run),
    )


def _background_scale(experiment: int, run: int) -> float:
    """Beam background of a data run over nominal: a slow wave (currents, vacuum
    conditioning) with 8 % run-to-run noise, kept within 0.6-1.8."""
    wave = 1.2 + 0.45 * np.sin(run / 150.0 + 1.7 * experiment)
    noise = np.random.default_rng([11, experiment, run]).normal(1.0, 0.08)
    return float(np.clip(wave * noise, 0.6, 1.8))


@dataclass(frozen=True)
class RecoPayloads:
    """What reconstruction needs for one run, as read from the conditions database."""

    #: per-crystal calibration constant (index = cellId): E = adc / ADC_PER_GEV x calib
    ecl_calib: np.ndarray[Any, np.dtype[Any]]
    #: multiply raw momenta by this to get calibrated ones (ideal = true field scale)
    momentum_scale: float
    ecl_leakage: float
    beam: Beam
    prescales: Mapping[str, int] = field(
        default_factory=lambda: dict(DEFAULT_PRESCALES)
    )
    #: the global tags the payloads came from, first match first
    tags: tuple[str, ...] = ()

    @classmethod
    def load(
        cls, db: ConditionsDB, tags: str | Sequence[str], experiment: int, run: int
    ) -> RecoPayloads:
        """Look every payload up for (exp, run) in the tag stack (first match wins)."""
        stack = (tags,) if isinstance(tags, str) else tuple(tags)
        calib = db.get(stack, ECL_CALIB, experiment, run)
        scale = db.get(stack, MOMENTUM_SCALE, experiment, run)
        leakage = db.get(stack, ECL_LEAKAGE, experiment, run)
        beam = db.get(stack, BEAM, experiment, run)
        prescales = db.get(stack, PRESCALES, experiment, run)
        return cls(
            ecl_calib=np.asarray(calib["calib"]),
            momentum_scale=float(scale["scale"][0]),
            ecl_leakage=float(leakage["leakage"][0]),
            beam=Beam(
                her=float(beam["her"][0]),
                ler=float(beam["ler"][0]),
            ),
            prescales={str(k): int(v) for k, v in prescales.attrs.items()},
            tags=stack,
        )

    @classmethod
    def ideal(cls, conditions: RunConditions) -> RecoPayloads:
        """The perfect calibration of a run (what a converged calibration reaches)."""
        calib = 1.0 / conditions.ecl_gains
        return cls(
            calib, conditions.field_scale, default_leakage(), conditions.beam, tags=()
        )


def payload_arrays(p: RecoPayloads) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Each payload of ``p`` as (arrays, attrs) for ``ConditionsDB.add_payload``."""
    return {
        ECL_CALIB: ({"calib": np.asarray(p.ecl_calib, dtype=np.float32)}, {}),
        MOMENTUM_SCALE: ({"scale": np.array([p.momentum_scale])}, {}),
        ECL_LEAKAGE: ({"leakage": np.array([p.ecl_leakage])}, {}),
        BEAM: (
            {"her": np.array([p.beam.her]), "ler": np.array([p.beam.ler])},
            {"sqrt_s": p.beam.sqrt_s},
        ),
        PRESCALES: ({"lines": np.arange(len(p.prescales))}, dict(p.prescales)),
    }


def add_payloads(
    db: ConditionsDB,
    tag: str,
    payloads: RecoPayloads,
    iov: IoV,
    *,
    only: Sequence[str] = (),
) -> None:
    """Store ``payloads`` (or only the names in ``only``) in a staging tag."""
    for name, (arrays, attrs) in payload_arrays(payloads).items():
        if not only or name in only:
            db.add_payload(tag, name, iov, arrays, attrs)


#: the global tags :func:`install_default_tags` creates
MC_TAG = "mc_default"
ONLINE_TAG = "data_online"


def install_default_tags(db: ConditionsDB, *, now: float = 0.0) -> None:
    """Create and publish the two tags every grid starts with (no-op if present).

    ``mc_default``: the ideal detector for the run-independent MC experiments.
    ``data_online``: what the detector knew at data taking for every data experiment:
    design crystal constants (1.0: the per-crystal spread is not yet calibrated) and
    no momentum-scale correction. Prompt and official calibration improve on it.
    """
    if not db.has_tag(MC_TAG):
        db.create_tag(MC_TAG, description="ideal detector for MC", now=now)
        for exp in sorted(MC_EXPERIMENTS):
            ideal = RecoPayloads.ideal(true_conditions(exp, 0))
            add_payloads(db, MC_TAG, ideal, IoV.experiment(exp))
        db.publish(MC_TAG, now=now)
    if not db.has_tag(ONLINE_TAG):
        db.create_tag(ONLINE_TAG, description="online constants for data", now=now)
        online = RecoPayloads(
            ecl_calib=np.ones(N_CRYSTALS + 1),
            momentum_scale=1.0,
            ecl_leakage=default_leakage(),
            beam=Beam.y4s(),
        )
        add_payloads(db, ONLINE_TAG, online, IoV(1, 0, 999, -1))
        db.publish(ONLINE_TAG, now=now)
