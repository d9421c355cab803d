"""What ingest must know before it writes, read in one round trip.

Three small indexed lookups (messageIds already stored, identities of the
calls' ids, aliases of the emails they carry) cost little in the database
but about a millisecond each in the ORM; one UNION ALL reads all three.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection

from .. import conf
from ..core import JSONObject, SegmentMessage, email_in, normalize_email
from ..models import Alias, Event, Identity, Source, Suppression
from . import locks
from .identity import Link, Resolver
from .locks import Space


@dataclass
class Known:
    """The rows found, by kind; ``users`` and ``emails`` are what was asked for, and
    ``chosen`` whether any message named its own messageId."""

    message_ids: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)
    emails: set[str] = field(default_factory=set)
    chosen: bool = False
    # Of the emails asked for by a page's calls, those the shop's server knows.
    server_emails: set[str] = field(default_factory=set)
    # kind, id, email, user id, source, and whether history alone made it known
    identities: list[tuple[str, str, str, str, str, bool]] = field(default_factory=list)
    aliases: dict[str, Link] = field(default_factory=dict)
    # Of the identifier hashes asked for, those suppressed (refusals.admitted).
    suppressed: set[str] = field(default_factory=set)

    def fresh(
        self, valid: list[tuple[SegmentMessage, JSONObject]]
    ) -> list[tuple[SegmentMessage, JSONObject]]:
        """``valid`` without messages whose messageId was stored before, or came earlier
        in the batch. A race between two requests is settled by the unique constraint."""
        seen = set(self.message_ids)
        kept = []
        for message, raw in valid:
            if message["messageId"] not in seen:
                seen.add(message["messageId"])
                kept.append((message, raw))
        return kept

    def resolver(self) -> Resolver:
        """A resolver seeded with what was found."""
        resolver = Resolver.from_known(self.identities, self.aliases, self.emails, self.users)
        resolver.server_emails = self.server_emails | set(self.aliases)  # aliased: the server's
        return resolver


def read_locked(
    source: str,
    valid: list[tuple[SegmentMessage, JSONObject]],
    lock: bool = True,
    digests: Collection[str] = (),
) -> Known:
    """Lock the ids these messages name (``locks``), then read what is known of them.

    Call it in the transaction that writes what is decided from it. An
    anonymousId the server tied to a user resolves through that user, whose
    email an identify may be changing: that user is locked too, before it is read.
    ``lock`` false reads without locks (for a caller's own transaction, whose
    decisions are settled after it commits: ``holds.settle``). ``digests``: identifier
    hashes to look for among the suppressed (``refusals``).
    """
    # Only ids the shop chose can repeat; ids made here are fresh UUIDs.
    chosen = [m["messageId"] for m, raw in valid if raw.get("messageId") not in (None, "")]
    # A message that carries its own email needs no identity lookup, unless
    # it is an identify, which changes what is known.
    needing = [m for m, _ in valid if m["type"] == "identify" or email_in(m) is None]
    users = {m["userId"] for m in needing if "userId" in m}
    anonymous = {m["anonymousId"] for m in needing if "anonymousId" in m}
    emails = {e for m, _ in valid if (e := email_in(m)) is not None}
    moved = {e for m, _ in valid if (e := normalize_email(m.get("previousId"))) is not None}
    if lock:
        locks.lock_many(
            [(Space.ANONYMOUS_ID, anonymous), (Space.EMAIL, emails | moved), (Space.USER_ID, users)]
        )
    known = lookup(source, chosen, users, anonymous, emails, digests)
    tied = {
        user
        for _, _, _, user, scope, _ in known.identities
        if user and scope == Source.SERVER and user not in users
    }
    if lock:
        locks.lock(Space.USER_ID, tied)
    known.users, known.emails, known.chosen = users, emails, bool(chosen)
    return known


def _in(values: Collection[str]) -> str:
    return ", ".join(["%s"] * len(values))


# An identity row's ``history`` as text ('h' or ''), as the union's other rows give text.
HISTORY = "CASE WHEN history THEN 'h' ELSE '' END"


def lookup(
    source: str,
    message_ids: Collection[str],
    user_ids: Collection[str],
    anonymous_ids: Collection[str],
    emails: Collection[str],
    digests: Collection[str] = (),
) -> Known:
    """Stored messageIds of ``source``, identities (of every source), aliases and
    suppressed identifier hashes among those asked for, and for a page (``source``
    browser) which of ``emails`` the shop's server knows (an identify of its own, or an
    alias); one query."""
    q = connection.ops.quote_name
    event, identity, alias, suppressed = (
        q(m._meta.db_table) for m in (Event, Identity, Alias, Suppression)
    )
    parts: list[str] = []
    params: list[str] = []
    if message_ids:
        parts.append(
            f"SELECT 'm', message_id, '', '', '', '' FROM {event} "  # noqa: S608
            f"WHERE source = %s AND message_id IN ({_in(message_ids)})"
        )
        params += [source, *message_ids]
    for kind, values in ((Identity.Kind.USER, user_ids), (Identity.Kind.ANONYMOUS, anonymous_ids)):
        if values:
            parts.append(
                f"SELECT kind, value, email, user_id, source, {HISTORY} FROM {identity} "  # noqa: S608
                f"WHERE kind = %s AND value IN ({_in(values)})"
            )
            params += [kind.value, *values]
    if emails:
        parts.append(
            f"SELECT 'e', previous_email, email, CAST(sequence AS VARCHAR(20)), '', '' "  # noqa: S608
            f"FROM {alias} WHERE previous_email IN ({_in(emails)})"
        )
        params += emails
    if emails and source == Source.BROWSER:
        parts.append(
            f"SELECT 'k', email, '', '', '', '' FROM {identity} "  # noqa: S608
            f"WHERE source = %s AND email IN ({_in(emails)})"
        )
        parts.append(
            f"SELECT 'k', email, '', '', '', '' FROM {alias} "  # noqa: S608
            f"WHERE email IN ({_in(emails)})"
        )
        params += [Source.SERVER, *emails, *emails]
    if digests:
        parts.append(
            f"SELECT 's', digest, '', '', '', '' FROM {suppressed} "  # noqa: S608
            f"WHERE digest IN ({_in(digests)})"
        )
        params += digests
    known = Known()
    if not parts:
        return known
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for kind, key, value, user_id, source, history in cursor.fetchall():
            if kind == "m":
                known.message_ids.add(key)
            elif kind == "s":
                known.suppressed.add(key)
            elif kind == "k":
                known.server_emails.add(key)
            elif kind == "e":
                known.aliases[key] = Link(value, int(user_id))
            else:
                known.identities.append((kind, key, value, user_id, source, history == "h"))
    return known


# Fields of an update-customer that differ on every call, whatever the customer.
VOLATILE = ("MessageId", "Date", "AnonymousId")


def unchanged(email: str, payload: JSONObject, now: datetime, website: str = "") -> str | None:
    """Why an update-customer for ``email`` at Seg website ``website`` need not be sent (the
    last one that website accepted for that email, within SEG_IDENTIFY_REFRESH, said the
    same but for VOLATILE), or None when it must be. One indexed read
    (``seg_event_accepted_update``)."""
    refresh: timedelta = conf.get_setting("SEG_IDENTIFY_REFRESH")
    if refresh <= timedelta(0):
        return None
    last = (
        Event.objects.filter(
            email=email,
            website=website,
            action="update-customer",
            status="delivered",
            delivered_at__gte=now - refresh,
        )
        .order_by("-delivered_at")
        .values_list("pk", "payload", "delivered_at")
        .first()
    )
    if last is None or not isinstance(last[1], dict):
        return None
    if {k: v for k, v in last[1].items() if k not in VOLATILE} != {
        k: v for k, v in payload.items() if k not in VOLATILE
    }:
        return None
    return (
        f"Unchanged: Seg accepted the same update-customer for {email} at "
        f"{last[2]:%Y-%m-%d %H:%M:%S %Z} (event {last[0]}); it is sent again when a field "
        "changes, or after SEG_IDENTIFY_REFRESH."
    )[:500]
