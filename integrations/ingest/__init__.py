"""Message to row: validate, resolve identity, map, insert, and queue after commit.

``store`` is the entry (``ingest``); ``locks`` and ``lookup`` read what is
known of a call's ids inside the writing transaction; ``identity`` resolves
who a call is about, ``vouching`` checks a page's signed userId, and
``holds`` releases what an identify makes sendable; ``refusals`` refuses a
suppressed customer's calls, by a keyed hash of their ids; ``history`` keeps a
backfilled alias from moving an email live calls made known.
"""

from .holds import release_rest
from .identity import identity_chain
from .locks import Space, lock_many, write_lock
from .refusals import ANONYMOUS, EMAIL, USER, digest, identifiers
from .store import Result, ingest
from .vouching import user_hash

__all__ = [
    "ANONYMOUS",
    "EMAIL",
    "USER",
    "Result",
    "Space",
    "digest",
    "identifiers",
    "identity_chain",
    "ingest",
    "lock_many",
    "release_rest",
    "user_hash",
    "write_lock",
]
