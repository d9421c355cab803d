"""Message to row: validate, resolve identity, map, insert, and queue after commit.

``store`` is the entry (``ingest``); ``locks`` and ``lookup`` read what is
known of a call's ids inside the writing transaction; ``identity`` resolves
who a call is about, ``vouching`` checks a page's signed userId, and
``holds`` releases what an identify makes sendable.
"""

from .holds import release_rest
from .identity import identity_chain
from .store import Result, ingest
from .vouching import user_hash

__all__ = ["Result", "identity_chain", "ingest", "release_rest", "user_hash"]
