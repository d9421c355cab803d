"""The HTTP edges: Segment's Tracking API (``views``, with ``auth`` and the browser
``limiter``), what analytics.js asks its CDN for (``cdn``), ``cors``, and where
browsers reach the app (``mount``); ``website_of`` says which store a request is for."""

from .auth import website_of
from .cdn import bundle, chunk, metrics, project_settings
from .limiter import client_address
from .mounting import mount
from .views import not_found, track_api

__all__ = [
    "bundle",
    "chunk",
    "client_address",
    "metrics",
    "mount",
    "not_found",
    "project_settings",
    "track_api",
    "website_of",
]
