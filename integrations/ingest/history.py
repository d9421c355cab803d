"""What a shop's history (a backfill's calls) may change of the identity graph.

Live calls (the shop's server, its pages) are newer than any history, so history
never moves a customer away from what they made known: a backfilled identify
only fills what they did not (``upserts``, keep), and a backfilled alias only
moves an email no identity and no alias they made ties to anything (an old
alias read as the newest move would). What history itself taught, in this
batch or in earlier chunks and runs, never stands in its way: an export's
identify(old@) before its alias(old@ -> new@) is one customer's email change.

Which rows live calls made is kept on the rows (``Identity.history``,
``Alias.history``: false for a live call's write, or a live identify naming
the same email), not read from events: retention deletes events but keeps
these rows, and an event's email is where it resolved, not what it taught (a
live track resolved through a backfilled identify names its email; a live
alias's event names only its new one). Rows stored before the flag count as live.
"""

from __future__ import annotations

from django.db.models import Q

from ..models import Alias, Identity


def movable(previous: str) -> str | None:
    """``previous`` when a backfilled alias may move it, else None: when no identity and
    no alias that live calls made (``history`` false) has it (two indexed queries)."""
    if Identity.objects.filter(email=previous, history=False).exists():
        return None
    live = Alias.objects.filter(Q(previous_email=previous) | Q(email=previous), history=False)
    return None if live.exists() else previous
