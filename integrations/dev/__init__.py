"""For development and tests only, never imported by production code: ``sandbox``, a
local stand-in for Seg's tracker, and ``devserver``, Django's development server taught
to read chunked request bodies."""

from .devserver import ChunkedWSGIServer
from .sandbox import BANNER, Sandbox

__all__ = ["BANNER", "ChunkedWSGIServer", "Sandbox"]
