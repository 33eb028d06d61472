"""B+ -> anti-D0 pi+ over the BtoD0h_Kpi skim (14140101): a steering module.

Submit it over the skim's uDSTs; each job writes one candidate ntuple::

    b2grid submit examples/b2dpi_analysis.py -p bdpi1 -i <uDST LPN> -n 1 --force

The job function is the recipe ``b2grid.skims.recipes.b2dpi`` (copy it from there to
change the selection or the variables); shipped with b2grid, it runs on every worker.
"""

from b2grid.skims.recipes import CUT, LIST, VARIABLES
from b2grid.skims.recipes import b2dpi as analysis

#: what each job writes (b2grid submit reads it from the steering module)
OUTPUTS = ("ntuple.root",)

__all__ = ["CUT", "LIST", "OUTPUTS", "VARIABLES", "analysis"]
