"""Feed Seg from a Django shop: Segment-spec calls in, Seg tracker events out."""

__version__ = "0.1.0"
PACKAGE_NAME = "django-seg-integrations"
USER_AGENT = f"{PACKAGE_NAME}/{__version__}"
