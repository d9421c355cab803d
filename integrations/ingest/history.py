"""What a shop's history (a backfill's calls) may change of the identity graph.

A backfilled identify only fills what is not known yet (``upserts``, keep);
a backfilled alias, likewise, only moves an email the app knows nothing of:
no identity has it and no alias leads from or to it. What it knows may come
from live traffic, which is newer than any history, so history never moves a
customer away from it (an old alias read as the newest move would).
"""

from __future__ import annotations

from django.db.models import Q

from ..models import Alias, Identity
from .identity import Resolver


def movable(resolver: Resolver, previous: str) -> str | None:
    """``previous`` when a backfilled alias may move it, else None: when neither this
    batch's ``resolver`` nor the stored rows tie it to anything (two indexed queries)."""
    if any(known.email == previous for known in resolver.identities.values()):
        return None
    if any(previous in (before, link.email) for before, link in resolver.aliases.items()):
        return None
    if Identity.objects.filter(email=previous).exists():
        return None
    taken = Alias.objects.filter(Q(previous_email=previous) | Q(email=previous)).exists()
    return None if taken else previous
