"""The toy Belle II: event generation, detector response, reconstruction, HLT.

The four calls most users need are :func:`produce_mc` (MC straight to mDST),
:func:`write_mc` (the same into a self-describing file), :func:`take_data` (the
detector at KEK: HLT-filtered RAW of one run) and :func:`process` (RAW to mDST with a
global tag stack). :func:`random_trigger` records a run's beam background for
run-dependent MC to overlay (``overlay=``). docs/physics.md describes the model and
its simplifications.
"""

from b2grid.physics.calibration import (
    BhabhaSample,
    MumuSample,
    calibrate_ecl,
    calibrate_momentum,
    collect_bhabha,
    collect_mumu,
    validate,
)
from b2grid.physics.chain import (
    RANDOM_TRIGGER,
    event_meta,
    process,
    produce_mc,
    random_trigger,
    simulate_run,
    take_data,
    write_mc,
)
from b2grid.physics.generator import GENERIC_SAMPLES, SIGNAL_EVENT_TYPES, event_types
from b2grid.physics.kinematics import Beam

__all__ = [
    "GENERIC_SAMPLES",
    "RANDOM_TRIGGER",
    "SIGNAL_EVENT_TYPES",
    "Beam",
    "BhabhaSample",
    "MumuSample",
    "calibrate_ecl",
    "calibrate_momentum",
    "collect_bhabha",
    "collect_mumu",
    "event_meta",
    "event_types",
    "process",
    "produce_mc",
    "random_trigger",
    "simulate_run",
    "take_data",
    "validate",
    "write_mc",
]
