"""The conditions database: global tags of payloads with intervals of validity.

Reconstruction asks a :class:`ConditionsDB` for a payload by (global tag or tag
stack, name, experiment, run); calibration adds payload revisions to a staging tag and
publishes it, after which it never changes.
"""

from b2grid.conditions.database import ConditionsDB
from b2grid.conditions.globaltag import GlobalTag, TagStatus, resolve
from b2grid.conditions.iov import IoV
from b2grid.conditions.payload import Payload, PayloadRef

__all__ = [
    "ConditionsDB",
    "GlobalTag",
    "IoV",
    "Payload",
    "PayloadRef",
    "TagStatus",
    "resolve",
]
