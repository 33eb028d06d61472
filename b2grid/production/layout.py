"""Where production puts things: the official LPN of every dataset it writes.

Each run's data of one kind is its own dataset, in the Belle II layout of
:class:`~b2grid.storage.lfn.DatasetPath`::

    RAW        /belle/Data/<release>/DB00000000/raw/prod00000000/e0012/4S/r00007/all/raw
    random trg /belle/Data/.../raw/prod00000000/e0012/4S/r00007/randomtrigger/raw
    cDST       /belle/Data/.../bucket23/prod00000003/e0012/4S/r00007/bhabha/cdst
    mDST       /belle/Data/.../bucket23/prod00000003/e0012/4S/r00007/hadron/mdst
    MC         /belle/MC/.../MC15ri_b/prod00000004/s00/e1003/4S/r00000/charged/mdst

The global tag appears as ``DB<8 digits>``: a stable number derived from the tag's
name (b2grid tags have names, Belle II's conditions database numbers them).
Payload files a calibration job writes go under
``/belle/Data/calibration/<campaign>/<stage>``. Pure: no catalog.
"""

from __future__ import annotations

import dataclasses
import zlib

from b2grid.storage.lfn import DatasetPath
from b2grid.storage.records import DatasetMeta

#: the software release production runs (the layout needs one)
RELEASE = "release-08-01-00"
#: general skims of the cDST calibration samples (HLT flag -> dataset name)
CALIBRATION_SKIMS: dict[str, str] = {
    "bhabha": "accept_bhabha",
    "mumu": "accept_mumu_2trk",
    "hadron": "accept_hadron",
}
#: the mDST datasets processing writes per run: all events, the HLT hadron skim
MDST_SKIMS: dict[str, str | None] = {"all": None, "hadron": "accept_hadron"}


def db_number(tag: str) -> int:
    """The ``DB`` number a global tag name stands for in LPNs (0 for none).

    Examples
    --------
    >>> db_number("bucket23_prompt") == db_number("bucket23_prompt")
    True
    >>> db_number("")
    0
    """
    return 0 if not tag else zlib.crc32(tag.encode()) % 10**8


def data_path(
    *,
    campaign: str,
    prod: int,
    exp: int,
    run: int,
    skim: str,
    level: str,
    beam_energy: str = "4S",
    tag: str = "",
) -> DatasetPath:
    """The dataset of one run of data."""
    return DatasetPath(
        data_type="data",
        release=RELEASE,
        db=db_number(tag),
        campaign=campaign,
        prod=prod,
        exp=exp,
        beam_energy=beam_energy,
        run=run,
        event_type_or_skim=skim,
        data_level=level,  # type: ignore[arg-type]
    )


def raw_path(
    exp: int, run: int, beam_energy: str = "4S", *, random: bool = False
) -> str:
    """The LPN of a run's RAW (or its random-trigger RAW)."""
    return data_path(
        campaign="raw", prod=0, exp=exp, run=run, beam_energy=beam_energy,
        skim="randomtrigger" if random else "all", level="raw",
    ).lpn  # fmt: skip


def mc_path(
    *,
    campaign: str,
    prod: int,
    exp: int,
    run: int,
    sample: str,
    tag: str,
    beam_energy: str = "4S",
) -> DatasetPath:
    """The mDST dataset of one MC sample (of one run, for run-dependent MC)."""
    return DatasetPath(
        data_type="mc",
        release=RELEASE,
        db=db_number(tag),
        campaign=campaign,
        prod=prod,
        stream=0,
        exp=exp,
        beam_energy=beam_energy,
        run=run,
        event_type_or_skim=sample,
        data_level="mdst",
    )


def udst_path(
    source: DatasetPath, *, campaign: str, prod: int, code: str
) -> DatasetPath:
    """The uDST dataset of skim ``code`` over the mDST dataset ``source``: the
    source's layout with the skim campaign, its production and the skim code."""
    return dataclasses.replace(
        source, campaign=campaign, prod=prod, skim_code=code, data_level="udst"
    )


def calibration_lpn(campaign: str, stage: str) -> str:
    """Where a campaign's calibration jobs write their payload files."""
    return f"/belle/Data/calibration/{campaign}/{stage}"


def meta_of(
    path: DatasetPath,
    *,
    tag: str = "",
    background: str | None = None,
    parent: str | None = None,
) -> DatasetMeta:
    """The searcher's metadata of a dataset production writes."""
    mc = path.data_type == "mc"
    return DatasetMeta(
        data_type=path.data_type,
        campaign=path.campaign,
        release=path.release,
        global_tag=tag or None,
        data_level=path.data_level,
        beam_energy=path.beam_energy,
        mc_event_type=path.event_type_or_skim if mc else None,
        bg_level=(background or "BGx1") if mc else None,
        general_skim=None if mc else path.event_type_or_skim,
        exp_low=path.exp,
        run_low=path.run,
        exp_high=path.exp,
        run_high=path.run,
        production=path.prod,
        skim_code=path.skim_code,
        parent_lpn=parent,
    )


__all__ = [
    "CALIBRATION_SKIMS",
    "MDST_SKIMS",
    "RELEASE",
    "calibration_lpn",
    "data_path",
    "db_number",
    "mc_path",
    "meta_of",
    "raw_path",
    "udst_path",
]
