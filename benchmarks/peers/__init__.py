"""What a shop would build instead of the app, measured beside it: see scenarios.py."""
