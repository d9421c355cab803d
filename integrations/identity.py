"""Who a call is about: userId and anonymousId to email, and aliases between emails."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .models import Alias, Identity

USER = Identity.Kind.USER
ANONYMOUS = Identity.Kind.ANONYMOUS


@dataclass
class Known:
    email: str = ""
    user_id: str = ""
    changed: bool = False


@dataclass
class Resolver:
    """Identity state for one batch: loaded once, updated in memory, saved once.

    Reads cost one query for identities and one per alias hop; ``save`` writes
    every change in one upsert per table.
    """

    identities: dict[tuple[str, str], Known] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    new_aliases: dict[str, str] = field(default_factory=dict)
    _alias_loaded: set[str] = field(default_factory=set)

    @classmethod
    def from_known(
        cls,
        identities: list[tuple[str, str, str, str]],
        aliases: dict[str, str],
        alias_keys: set[str],
        users: set[str],
    ) -> Resolver:
        """A resolver seeded with rows already read (see lookup.lookup)."""
        resolver = cls(aliases=dict(aliases), _alias_loaded=set(alias_keys))
        for kind, value, email, user_id in identities:
            resolver.identities[(kind, value)] = Known(email, user_id)
        # An anonymous id tied to a user takes that user's email.
        linked = {
            known.user_id for (kind, _), known in resolver.identities.items() if known.user_id
        }
        missing = linked - users
        if missing:
            for value, email in Identity.objects.filter(kind=USER, value__in=missing).values_list(
                "value", "email"
            ):
                resolver.identities[(USER, value)] = Known(email)
        return resolver

    def email_for(self, user_id: str | None, anonymous_id: str | None) -> str | None:
        """The current email known for these ids, through aliases; None when unknown."""
        candidates: list[str] = []
        if user_id:
            candidates.append(self._known(USER, user_id).email)
        if anonymous_id:
            anon = self._known(ANONYMOUS, anonymous_id)
            if anon.user_id:
                candidates.append(self._known(USER, anon.user_id).email)
            candidates.append(anon.email)
        for email in candidates:
            if email:
                return self.current(email)
        return None

    def _known(self, kind: str, value: str) -> Known:
        return self.identities.setdefault((kind, value), Known())

    def learn(self, user_id: str | None, anonymous_id: str | None, email: str | None) -> None:
        """Record what an identify says: the ids belong together, with this email."""
        if user_id:
            known = self._known(USER, user_id)
            if email and known.email != email:
                known.email, known.changed = email, True
        if anonymous_id:
            known = self._known(ANONYMOUS, anonymous_id)
            if email and known.email != email:
                known.email, known.changed = email, True
            if user_id and known.user_id != user_id:
                known.user_id, known.changed = user_id, True

    def current(self, email: str) -> str:
        """Follow aliases from ``email`` to the customer's current email."""
        seen = {email}
        while True:
            self._load_aliases({email})
            following = self.aliases.get(email)
            if following is None or following in seen:
                return email
            seen.add(following)
            email = following

    def _load_aliases(self, emails: set[str]) -> None:
        wanted = emails - self._alias_loaded
        if not wanted:
            return
        self._alias_loaded |= wanted
        for previous, email in Alias.objects.filter(previous_email__in=wanted).values_list(
            "previous_email", "email"
        ):
            self.aliases.setdefault(previous, email)

    def add_alias(self, previous: str, email: str) -> str | None:
        """Move ``previous`` to ``email``; returns why it was refused, or None."""
        if self.current(email) == previous or previous == email:
            return f"Refused: {previous} -> {email} would make an alias cycle."
        self._load_aliases({previous})
        self.aliases[previous] = email
        self.new_aliases[previous] = email
        return None

    def anonymous_ids_of(self, user_id: str) -> list[str]:
        """Every anonymous id tied to ``user_id``, in memory and in the database."""
        known = {
            value
            for (kind, value), row in self.identities.items()
            if kind == ANONYMOUS and row.user_id == user_id
        }
        known |= set(
            Identity.objects.filter(kind=ANONYMOUS, user_id=user_id).values_list("value", flat=True)
        )
        return sorted(known)

    def save(self, now: datetime, alias_messages: dict[str, str] | None = None) -> None:
        """Write what changed: one upsert for identities, one for aliases."""
        rows = [
            Identity(
                kind=kind, value=value, email=known.email, user_id=known.user_id, updated_at=now
            )
            for (kind, value), known in self.identities.items()
            if known.changed
        ]
        if rows:
            Identity.objects.bulk_create(
                rows,
                update_conflicts=True,
                unique_fields=("kind", "value"),
                update_fields=("email", "user_id", "updated_at"),
            )
        if self.new_aliases:
            messages = alias_messages or {}
            Alias.objects.bulk_create(
                [
                    Alias(previous_email=p, email=e, created_at=now, message_id=messages.get(p, ""))
                    for p, e in self.new_aliases.items()
                ],
                update_conflicts=True,
                unique_fields=("previous_email",),
                update_fields=("email", "created_at", "message_id"),
            )
