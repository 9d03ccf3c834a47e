"""Restoration of spun text: a pure library (text in, restored text and edits out; no Kafka).

    >>> from workers.restoration import default_restorer
    >>> r = default_restorer().restore("The corporate mentioned 1000's of jobs.")
    >>> r.text, [e.restored for e in r.edits]

See ``Restorer.restore`` for the result's shape and ``data/README.md`` for the spinner table.
"""

from workers.restoration.edits import Edit, OffsetMap, apply_edits
from workers.restoration.restorer import Restoration, Restorer, default_restorer

__all__ = ["Edit", "OffsetMap", "Restoration", "Restorer", "apply_edits", "default_restorer"]
