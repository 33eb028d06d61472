"""The basf2-like analysis toolkit: particle lists, decays, cuts, variables, ntuples.

An :class:`Analysis` holds one batch of mDST/uDST events and the particle lists built
on it. Lists are ``name:label`` with the charge conjugate implied; cuts are strings
over the shared variable registry; decays are combined by a compiled kernel with no
Python loop over events; ntuples have basf2's layout. docs/analysis.md is the guide.

Examples
--------
>>> from b2grid.analysis import parse_decay, variables
>>> str(parse_decay("B+:Dpi -> anti-D0:Kpi pi+"))
'B+:Dpi -> anti-D0:Kpi pi+:all'
>>> "Mbc" in variables.names()
True
"""

from b2grid.analysis import variables
from b2grid.analysis.analysis import Analysis
from b2grid.analysis.cuts import parse as parse_cut
from b2grid.analysis.decay import DecayString, ListName, parse_decay, parse_list_name
from b2grid.analysis.event import EventData, open_events
from b2grid.analysis.ntuple import COUNTERS, branch_name
from b2grid.analysis.particles import ParticleList
from b2grid.analysis.standard import STANDARD_LISTS
from b2grid.analysis.variables import describe

__all__ = [
    "COUNTERS",
    "STANDARD_LISTS",
    "Analysis",
    "DecayString",
    "EventData",
    "ListName",
    "ParticleList",
    "branch_name",
    "describe",
    "open_events",
    "parse_cut",
    "parse_decay",
    "parse_list_name",
    "variables",
]
