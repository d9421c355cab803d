"""Who a customer is: every email, userId and anonymousId an identity graph ties together.

From the email or userId a request names, the graph follows, until nothing new
is found: aliases in either direction (every email the customer moved through),
identities (a userId's email, the anonymousIds tied to a userId, the ids an
email was given to) and the customer's own events (the ids their calls named
beside their email or userId). An anonymousId brings in only events that never
got an email: a browser shared with another customer does not bring them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q

from ..core import normalize_email
from ..exceptions import ErasureError
from ..ingest import ANONYMOUS, EMAIL, USER, digest
from ..models import Alias, Event, EventQuerySet, Identity

# More ids than one customer plausibly has: a graph this wide has run through a
# shared id into other customers, and is refused rather than erased.
MOST_IDS = 5000


@dataclass
class Customer:
    """One customer's ids (emails normalized, as ingest stores them)."""

    emails: set[str] = field(default_factory=set)
    user_ids: set[str] = field(default_factory=set)
    anonymous_ids: set[str] = field(default_factory=set)

    def identifiers(self) -> list[tuple[str, str]]:
        """Every id as (kind, id), kinds as ``refusals`` names them; sorted."""
        return sorted(
            [(EMAIL, e) for e in self.emails]
            + [(USER, u) for u in self.user_ids]
            + [(ANONYMOUS, a) for a in self.anonymous_ids]
        )

    def digests(self) -> list[str]:
        """The keyed hash of each id (``refusals.digest``), sorted: what a record keeps."""
        return sorted(digest(kind, value) for kind, value in self.identifiers())

    def events(self) -> EventQuerySet:
        """Their events: by email, by userId, and their anonymousIds' with no email."""
        return Event.objects.filter(
            Q(email__in=self.emails)
            | Q(user_id__in=self.user_ids)
            | Q(email="", anonymous_id__in=self.anonymous_ids)
        )

    def ties(self) -> Q:
        """Identity rows that tie an id to them: their userIds', and rows giving an id one
        of their emails or userIds (what the graph follows)."""
        return (
            Q(kind=Identity.Kind.USER, value__in=self.user_ids)
            | Q(email__in=self.emails)
            | Q(user_id__in=self.user_ids)
        )

    def identities(self) -> Q:
        """Their identity rows: the ties, and their anonymousIds' rows that tie them to
        no one else (a browser another customer used since is that customer's)."""
        own_user = Q(user_id="") | Q(user_id__in=self.user_ids)
        own_email = Q(email="") | Q(email__in=self.emails)
        return self.ties() | (
            Q(kind=Identity.Kind.ANONYMOUS, value__in=self.anonymous_ids) & own_user & own_email
        )

    def aliases(self) -> Q:
        """Their alias rows: from or to one of their emails."""
        return Q(previous_email__in=self.emails) | Q(email__in=self.emails)

    def size(self) -> int:
        return len(self.emails) + len(self.user_ids) + len(self.anonymous_ids)


def named(email: str | None = None, user_id: str | None = None) -> Customer:
    """The ids a request names, checked: an email (normalized) and/or a userId.
    Raises ErasureError when neither is given or the email is not one."""
    customer = Customer()
    if email:
        normalized = normalize_email(email)
        if normalized is None:
            raise ErasureError(f"{email!r} is not an email address.")
        customer.emails.add(normalized)
    if user_id:
        customer.user_ids.add(str(user_id))
    if not customer.size():
        raise ErasureError("Name the customer by email or userId.")
    return customer


def reach(start: Customer) -> Customer:
    """Every id tied to ``start``'s, following the graph until it adds nothing.

    A few indexed queries per round; rounds are as many as the graph is deep.
    Raises ErasureError past MOST_IDS ids.
    """
    found = Customer(set(start.emails), set(start.user_ids), set(start.anonymous_ids))
    while True:
        before = found.size()
        _grow(found)
        if found.size() > MOST_IDS:
            raise ErasureError(
                f"The ids tied to this customer run past {MOST_IDS}: a shared id links "
                "other customers. Name each customer's email or userId separately."
            )
        if found.size() == before:
            return found


def _grow(found: Customer) -> None:
    for previous, email in Alias.objects.filter(found.aliases()).values_list(
        "previous_email", "email"
    ):
        found.emails |= {previous, email}
    rows = Identity.objects.filter(found.ties()).values_list("kind", "value", "email", "user_id")
    for kind, value, email, user_id in rows:
        (found.user_ids if kind == Identity.Kind.USER else found.anonymous_ids).add(value)
        if email:
            found.emails.add(email)
        if user_id:
            found.user_ids.add(user_id)
    named_by_them = Event.objects.filter(
        Q(email__in=found.emails) | Q(user_id__in=found.user_ids)
    ).order_by()
    found.anonymous_ids |= set(
        named_by_them.exclude(anonymous_id="").values_list("anonymous_id", flat=True).distinct()
    )
    found.user_ids |= set(
        named_by_them.exclude(user_id="").values_list("user_id", flat=True).distinct()
    )
    found.emails |= set(named_by_them.exclude(email="").values_list("email", flat=True).distinct())
    unknown = Event.objects.filter(email="", anonymous_id__in=found.anonymous_ids).order_by()
    found.user_ids |= set(unknown.exclude(user_id="").values_list("user_id", flat=True).distinct())
