"""Erasing and suppressing a customer (GDPR art. 17), as Segment's user deletion and
suppression do for the data this app keeps.

``graph`` finds every id of the customer a request names; ``deletion`` stops
their live events and deletes their rows in batches; ``requests`` carries out a
request and records it, keeping only keyed hashes of the ids
(``ingest.refusals``, which also refuses a suppressed customer's calls).
"""

from .graph import Customer, named, reach
from .requests import ERASED, erase, erased_digests, mark_seg_told, names_erased, unsuppress

__all__ = [
    "ERASED",
    "Customer",
    "erase",
    "erased_digests",
    "mark_seg_told",
    "named",
    "names_erased",
    "reach",
    "unsuppress",
]
