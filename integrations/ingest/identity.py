"""Who a call is about: userId and anonymousId to email, and aliases between emails."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ..models import Alias, Event, Identity, Source
from .upserts import upsert

USER = Identity.Kind.USER
ANONYMOUS = Identity.Kind.ANONYMOUS
SERVER = Source.SERVER
BROWSER = Source.BROWSER


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def micros(moment: datetime) -> int:
    """Microseconds since 1970: the unit of ``Alias.sequence``."""
    return (moment - EPOCH) // timedelta(microseconds=1)


@dataclass
class Known:
    email: str = ""
    user_id: str = ""
    changed: bool = False
    history: bool = False  # only a backfill made it known (``Identity.history``)


@dataclass(frozen=True)
class Link:
    """An alias: the email a customer moved to, and how new the move is."""

    email: str
    sequence: int


# An identity row's key: (kind, id, who vouches for it).
Key = tuple[str, str, str]


@dataclass
class Resolver:
    """Identity state for one batch: loaded once, updated in memory, saved once.

    Two scopes (``Identity.source``): what the shop's server vouched for (server
    keys, the Python API, a signed identify), which every event resolves through,
    and what a page claimed about its own anonymous visitor (an unsigned
    identify with a browser key), which only that visitor's page events resolve
    through, after the server's. A page never ties an anonymousId to a userId.
    Reads cost one query for identities and one per alias hop; ``save`` writes
    every change in one upsert per table.
    """

    identities: dict[Key, Known] = field(default_factory=dict)
    aliases: dict[str, Link] = field(default_factory=dict)
    new_aliases: dict[str, Link] = field(default_factory=dict)
    _alias_loaded: set[str] = field(default_factory=set)
    # Emails the shop's server knows (lookup.lookup, for a page's calls): a page
    # without the server's word may not speak for them.
    server_emails: set[str] = field(default_factory=set)

    @classmethod
    def from_known(
        cls,
        identities: list[tuple[str, str, str, str, str, bool]],
        aliases: dict[str, Link],
        alias_keys: set[str],
        users: set[str],
    ) -> Resolver:
        """A resolver seeded with rows already read (see lookup.lookup): identities as
        (kind, id, email, user id, source, history)."""
        resolver = cls(aliases=dict(aliases), _alias_loaded=set(alias_keys))
        for kind, value, email, user_id, source, history in identities:
            resolver.identities[(kind, value, source)] = Known(email, user_id, history=history)
        # An anonymous id the server tied to a user takes that user's email.
        linked = {
            known.user_id
            for (kind, _, source), known in resolver.identities.items()
            if known.user_id and source == SERVER
        }
        missing = linked - users
        if missing:
            for value, email in Identity.objects.filter(
                kind=USER, source=SERVER, value__in=missing
            ).values_list("value", "email"):
                resolver.identities[(USER, value, SERVER)] = Known(email)
        return resolver

    def email_for(
        self,
        user_id: str | None,
        anonymous_id: str | None,
        source: str = SERVER,
        vouched: bool = True,
    ) -> str | None:
        """The current email for these ids, through aliases; None when unknown.

        The server's word first: the userId's email, then that of the user the
        anonymousId was tied to, then the anonymousId's own. For a page's event
        (``source`` browser) last what its own page claimed for its anonymousId;
        and only that for a page's event the server does not vouch for
        (``vouched`` false: unsigned), since anyone may know or fix a browser's
        anonymousId (analytics.js takes one from a link's ``ajs_aid``).
        """
        if source == BROWSER and not vouched:
            claim = self._known(ANONYMOUS, anonymous_id, BROWSER).email if anonymous_id else ""
            return self.current(claim) if claim else None
        candidates: list[str] = []
        if user_id:
            candidates.append(self._known(USER, user_id, SERVER).email)
        if anonymous_id:
            anon = self._known(ANONYMOUS, anonymous_id, SERVER)
            if anon.user_id:
                candidates.append(self._known(USER, anon.user_id, SERVER).email)
            candidates.append(anon.email)
            if source == BROWSER:
                candidates.append(self._known(ANONYMOUS, anonymous_id, BROWSER).email)
        for email in candidates:
            if email:
                return self.current(email)
        return None

    def _known(self, kind: str, value: str, source: str) -> Known:
        return self.identities.setdefault((kind, value, source), Known())

    def learn(
        self, user_id: str | None, anonymous_id: str | None, email: str | None, source: str
    ) -> None:
        """Record what an identify says: the ids belong together, with this email.

        With the server's word (``source`` server) for both ids; a page's
        (``source`` browser) only gives its own anonymousId an email, and ties
        nothing to a userId. A row only history made known is written again
        even with the same email: a live call's makes it live (``save``).
        """
        if user_id and source == SERVER:
            known = self._known(USER, user_id, SERVER)
            if email and (known.email != email or known.history):
                known.email, known.changed = email, True
        if anonymous_id:
            known = self._known(ANONYMOUS, anonymous_id, source)
            if email and (known.email != email or known.history):
                known.email, known.changed = email, True
            if user_id and source == SERVER and known.user_id != user_id:
                known.user_id, known.changed = user_id, True

    def current(self, email: str, until: int | None = None) -> str:
        """The customer's current email, following aliases from ``email``."""
        return self.moves(email, until)[-1]

    def moves(self, email: str, until: int | None = None) -> list[str]:
        """``email`` and each email aliases moved it to, ending at the current one.

        Links are followed to the end of the chain (A -> B -> C gives C, in
        whatever order the aliases came). Where they loop, the newest link of
        the loop (by ``Alias.sequence``) says where the customer is now: after
        A -> B then B -> A, both lead to A. ``until`` ignores links made after
        that sequence (what was known when an event arrived).
        """
        path, seen = [email], {email: 0}
        while True:
            link = self._link(email, until)
            if link is None:
                return path
            if link.email not in seen:
                email = link.email
                seen[email] = len(path)
                path.append(email)
                continue
            loop = path[seen[link.email] :]
            newest = max(loop, key=lambda member: self.aliases[member].sequence)
            target = self.aliases[newest].email
            while path[-1] != target:
                path.append(self.aliases[path[-1]].email)
            return path

    def _link(self, email: str, until: int | None) -> Link | None:
        self._load_aliases({email})
        link = self.aliases.get(email)
        return None if link is None or (until is not None and link.sequence > until) else link

    def _load_aliases(self, emails: set[str]) -> None:
        wanted = emails - self._alias_loaded
        if not wanted:
            return
        self._alias_loaded |= wanted
        for previous, email, sequence in Alias.objects.filter(
            previous_email__in=wanted
        ).values_list("previous_email", "email", "sequence"):
            self.aliases.setdefault(previous, Link(email, sequence))

    def add_alias(self, previous: str, email: str, now: datetime) -> None:
        """Move ``previous`` to ``email``, as the newest link of all that this resolver saw."""
        self._load_aliases({previous, email})
        newest = max((link.sequence for link in self.aliases.values()), default=0)
        link = Link(email, max(micros(now), newest + 1))
        self.aliases[previous] = self.new_aliases[previous] = link

    def anonymous_ids_of(self, user_id: str, limit: int) -> list[str]:
        """The anonymous ids the server tied to ``user_id``: those this batch tied, and
        the ``limit`` tied most recently in the database (one indexed query, bounded
        whatever the user's history)."""
        known = {
            value
            for (kind, value, source), row in self.identities.items()
            if kind == ANONYMOUS and source == SERVER and row.user_id == user_id
        }
        known |= set(
            Identity.objects.filter(user_id=user_id, kind=ANONYMOUS, source=SERVER)
            .order_by("-updated_at")
            .values_list("value", flat=True)[:limit]
        )
        return sorted(known)

    def save(
        self, now: datetime, alias_messages: dict[str, str] | None = None, keep: bool = False
    ) -> None:
        """Write what changed: one upsert for identities, one for aliases; with ``keep`` (a
        backfill), rows marked ``history``, replacing only what history made (``upserts``)."""
        rows = [
            Identity(
                kind=kind,
                value=value,
                source=source,
                email=known.email,
                user_id=known.user_id,
                updated_at=now,
                history=keep,
            )
            for (kind, value, source), known in self.identities.items()
            if known.changed
        ]
        unique, fields = ("kind", "value", "source"), ("email", "user_id", "updated_at", "history")
        upsert(Identity, rows, unique, fields, keep)
        if self.new_aliases:
            messages = alias_messages or {}
            upsert(
                Alias,
                [
                    Alias(
                        previous_email=previous,
                        email=link.email,
                        sequence=link.sequence,
                        created_at=now,
                        message_id=messages.get(previous, ""),
                        history=keep,
                    )
                    for previous, link in self.new_aliases.items()
                ],
                ("previous_email",),
                ("email", "sequence", "created_at", "message_id", "history"),
                keep,
            )


def identity_chain(event: Event) -> list[tuple[str, str]]:
    """How the event's ids led to its email, as labelled steps for the admin.

    anonymousId, the userId an identify tied it to, the email identify gave,
    then each alias that had been made when the event arrived, in the order
    ``Resolver.current`` follows them; last the event's own email if it ends
    elsewhere (it named one itself).
    """
    chain: list[tuple[str, str]] = []
    user_id = event.user_id
    if event.anonymous_id:
        chain.append(("anonymousId", event.anonymous_id))
        if not user_id:
            linked = (
                Identity.objects.filter(kind=ANONYMOUS, value=event.anonymous_id, source=SERVER)
                .values_list("user_id", flat=True)
                .first()
            )
            if linked:
                chain.append(("userId (from identify)", linked))
                user_id = linked
    if event.user_id:
        chain.append(("userId", event.user_id))
    known = (
        Identity.objects.filter(kind=USER, value=user_id, source=SERVER)
        .values_list("email", flat=True)
        .first()
        if user_id
        else None
    )
    email = ""
    if known:
        chain.append(("email (from identify)", known))
        moves = Resolver().moves(known, until=micros(event.received_at))
        chain += [("alias to", move) for move in moves[1:]]
        email = moves[-1]
    if event.email and event.email != email:
        chain.append(("email", event.email))
    return chain
