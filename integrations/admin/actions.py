"""What the events list's actions say: what each will send before it does, and what it
did after, row by row in kind, with what to do instead for the rows it left alone.

An action that sends to Seg (retry of more than one event, replay, unsuppress) first
shows a confirmation page, as Django's delete does: the count that will be sent,
grouped by kind, the rows it will leave alone and why, and the first few events.
Counts stop at ``CAP`` rows, as the list's paginator's do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from django.contrib.admin import helpers
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, QuerySet, Subquery
from django.http import HttpRequest
from django.utils.translation import ngettext

from ..lifecycle import MOVES, SENDABLE, MoveName, unsendable
from ..models import Event, Status
from .lists import COUNT_CAP

CAP = COUNT_CAP * 100
# How many of the events an action would send its confirmation page lists.
SAMPLE = 20


@dataclass(frozen=True)
class Verb:
    """An action on events: the move it makes, its words, and whether it asks first."""

    name: str  # the admin action's name
    move: MoveName
    label: str  # as on a button: "Retry delivery"
    done: str  # as in a message: "Retried"
    sends: bool  # it makes events pending: Seg is sent them again
    # Ask first only when it would send more than this many (replay: always).
    ask_above: int = 0


VERBS = {
    verb.name: verb
    for verb in (
        Verb("retry_events", "retry", "Retry delivery", "Retried", True, ask_above=1),
        Verb("replay_events", "replay", "Replay", "Replayed", True),
        Verb("suppress_events", "suppress", "Suppress", "Suppressed", False),
        Verb("unsuppress_events", "unsuppress", "Unsuppress", "Unsuppressed", True),
    )
}

# The permission each action needs (EventAdmin.has_<permission>_permission).
PERMISSIONS = {
    "retry_events": "retry",
    "replay_events": "retry",
    "suppress_events": "suppress",
    "unsuppress_events": "suppress",
}

# What an instead calls each action, by its move: the admin's buttons; the management
# commands name themselves (``management.commands._selection.NAMES``).
LABELS: dict[str, str] = {verb.move: verb.label for verb in VERBS.values()}

# Why an event in this status is left alone by an action that does not take it, and
# what to do instead ({replay}: what ``LABELS`` or the caller's names call that action);
# ``OVERRIDES`` says it better for one action.
INSTEAD: dict[str, str] = {
    Status.DELIVERED: "Seg has them; use {replay} to send them again",
    Status.PENDING: "they are due and go out on their own",
    Status.SENDING: "a worker is posting them now",
    Status.FAILED: "use {retry} to send them",
    Status.EXPIRED: "use {retry} to send those with an email",
    Status.HELD: "they wait for an identify with the visitor's email; use {suppress} if they "
    "must never go",
    Status.SUPPRESSED: "use {unsuppress} to send them",
    Status.IGNORED: "Seg has no event for them",
    Status.WITHHELD: "the shop or the visitor's consent keeps them from Seg; no action sends them",
    Status.UNCHANGED: "Seg has what they say already",
}
OVERRIDES: dict[tuple[str, str], str] = {
    ("suppress_events", Status.DELIVERED): "Seg has them already; nothing is left to stop",
    ("suppress_events", Status.SENDING): "a worker is posting them now; it cannot be stopped",
    ("suppress_events", Status.SUPPRESSED): "they are suppressed already",
}
UNSENDABLE = (
    "no email or nothing to send, so left as they are — Seg is never sent an event without an email"
)


def instead(action: str, status: str, names: Mapping[str, str] = LABELS) -> str:
    """What to do instead with events in ``status`` that ``action`` leaves alone, naming
    the other actions as ``names`` (by move) does."""
    hint = OVERRIDES.get((action, status)) or INSTEAD.get(status, "no action moves them")
    return hint.format_map(names)


def events(count: int, kind: str = "") -> str:
    """'1 failed event', '3 events'."""
    noun = ngettext("event", "events", count)
    return f"{count} {kind} {noun}" if kind else f"{count} {noun}"


def capped(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """The first CAP rows of ``queryset``, as a set of events that can be grouped."""
    return Event.objects.filter(pk__in=Subquery(queryset.order_by().values("pk")[:CAP]))


def tally(queryset: QuerySet[Any], cap: bool = True) -> dict[str, int]:
    """The selected events by status (one grouped query, over at most CAP rows unless
    ``cap`` is False), in Status's order."""
    rows_read = capped(queryset) if cap else queryset
    grouped = rows_read.values("status").annotate(n=Count("pk")).order_by()
    rows = dict(grouped.values_list("status", "n"))
    return {status: rows[status] for status in Status.values if rows.get(status)}


@dataclass(frozen=True)
class Plan:
    """What ``verb`` will do with a selection, read before it acts."""

    verb: Verb
    by_status: dict[str, int]  # the selection, by status
    unsendable: int  # of those the move takes, those that cannot be sent
    back_to_held: int = 0  # unsuppress: suppressed events with no email yet

    @property
    def sources(self) -> list[str]:
        return [s for s in self.by_status if s in MOVES[self.verb.move].sources]

    @property
    def movable(self) -> int:
        """How many it would send (unsuppress: not those going back to held)."""
        return sum(self.by_status[s] for s in self.sources) - self.unsendable - self.back_to_held

    @property
    def selected(self) -> int:
        return sum(self.by_status.values())

    def left_alone(self, names: Mapping[str, str] = LABELS) -> list[tuple[str, int, str]]:
        """(status, count, what to do instead) of each status the move does not take."""
        return [
            (status, n, instead(self.verb.name, status, names))
            for status, n in self.by_status.items()
            if status not in self.sources
        ]

    def message(self, changed: int) -> str:
        """What the action did, after it moved ``changed`` rows: 'Retried 3 failed events;
        2 delivered events left alone — use Replay to send them again.'"""
        return "; ".join(self.parts(changed)) + "."

    def parts(
        self,
        changed: int | Mapping[str, int],
        names: Mapping[str, str] = LABELS,
        done: str = "",
    ) -> list[str]:
        """``message``'s clauses. ``changed``: the rows moved, or those of each status
        ('Retried 2 failed events and 1 expired event'); ``names``: what an instead
        calls the other actions; ``done``: the verb, if not ``verb.done`` ('Would retry'
        for a dry run)."""
        done = done or self.verb.done
        kinds = " or ".join(self.sources)
        moved = changed if isinstance(changed, int) else sum(changed.values())
        if isinstance(changed, int) or not moved:
            parts = [f"{done} {events(moved, kinds) if moved else 'no events'}"]
        else:
            each = [events(n, status) for status, n in changed.items() if n]
            parts = [f"{done} {' and '.join(each)}"]
        if moved and self.back_to_held:
            parts[0] += f" ({self.back_to_held} back to held: no email yet)"
        if self.unsendable:
            parts.append(f"{events(self.unsendable, kinds)}: {UNSENDABLE}")
        moved_meanwhile = self.movable + self.back_to_held - moved
        if moved and moved_meanwhile > 0:
            parts.append(f"{events(moved_meanwhile)} changed state meanwhile and were left alone")
        parts += [
            f"{events(n, status)} left alone — {hint}" for status, n, hint in self.left_alone(names)
        ]
        return parts


def plan(verb: Verb, queryset: QuerySet[Any], cap: bool = True) -> Plan:
    """What ``verb`` would do with ``queryset`` now: a grouped count and one or two
    counts, each over at most CAP rows (the admin's page) unless ``cap`` is False (the
    commands, which change every row selected and say so)."""
    by_status = tally(queryset, cap)
    sources = MOVES[verb.move].sources
    limit = CAP if cap else None
    unsendable = back_to_held = 0
    if verb.sends:
        if verb.move == "unsuppress":
            # No email: back to held, to wait for one. An email but nothing to send: stays.
            stays = queryset.filter(status__in=sources).exclude(email="").exclude(SENDABLE)
            unsendable = stays.order_by()[:limit].count()
            back_to_held = queryset.filter(status__in=sources, email="").order_by()[:limit].count()
        else:
            rows = queryset.filter(status__in=sources).exclude(SENDABLE)
            unsendable = rows.order_by()[:limit].count()
    return Plan(verb, by_status, unsendable, back_to_held)


def to_send(verb: Verb, queryset: QuerySet[Any]) -> tuple[list[tuple[str, int]], list[Event]]:
    """What ``verb`` would send: (kind, count) pairs, most first, and the first SAMPLE events.

    A kind is the call's name and what Seg gets for it ("Order Completed → OrderPlaced",
    "identify → update-customer").
    """
    rows = capped(queryset.filter(SENDABLE, status__in=MOVES[verb.move].sources))
    kinds = (
        rows.values("call_type", "name", "seg_event", "action")
        .annotate(n=Count("pk"))
        .order_by("-n", "name")
    )
    grouped = [
        (f"{k['name'] or k['call_type']} → {k['seg_event'] or k['action']}", k["n"])
        for k in kinds[:50]
    ]
    sample = list(rows.order_by("-received_at", "-id")[:SAMPLE])
    return grouped, sample


def log(request: HttpRequest, verb: str, changed: int, selected: int) -> None:
    """Write what an action changed to the admin log; nothing when it changed nothing."""
    if not changed:
        return
    numbers = {"verb": verb, "changed": changed, "selected": selected}
    LogEntry.objects.create(
        user_id=cast(int, request.user.pk),
        content_type_id=ContentType.objects.get_for_model(Event).pk,
        object_id=None,
        object_repr=ngettext("%(changed)d event", "%(changed)d events", changed) % numbers,
        action_flag=CHANGE,
        change_message=ngettext(
            "%(verb)s %(changed)d of %(selected)d selected event.",
            "%(verb)s %(changed)d of %(selected)d selected events.",
            selected,
        )
        % numbers,
    )


def buttons(event: Event, may: dict[str, bool]) -> list[Verb]:
    """The actions an event's page offers: those whose move takes its status, and which
    the operator may take (``may``: by action name). None that would send an event that
    cannot be sent."""
    cannot_send = unsendable(event.email, event.payload, event.action) is not None
    return [
        verb
        for verb in VERBS.values()
        if may.get(verb.name)
        and event.status in MOVES[verb.move].sources
        and not (verb.sends and cannot_send and verb.move != "unsuppress")
    ]


def asked(request: HttpRequest) -> bool:
    """Whether the operator has confirmed on the action's page."""
    return request.POST.get("post") == "yes"


def carried(request: HttpRequest, action: str) -> dict[str, Any]:
    """What a confirmation page posts back so the action runs on the same selection."""
    return {
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "action": action,
        "return_to": request.POST.get(RETURN, ""),
    }


# A form field that sends the operator back to the event's page after an action
# taken from there.
RETURN = "_seg_return"
