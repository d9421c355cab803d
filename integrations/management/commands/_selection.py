"""The shell of the commands that change a selection of events: its options, its
progress bar, and what it says it did, in the admin actions' words
(``admin.actions.Plan``). What a batch makes due is queued for delivery as that batch
commits."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any, ClassVar

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import make_aware

from integrations import lifecycle
from integrations.admin import actions
from integrations.models import Event, EventQuerySet, Status

# What the commands' messages call each action, by its move (the admin's name its buttons:
# ``actions.LABELS``).
NAMES = {
    "retry": "seg_retry",
    "replay": "seg_replay",
    "suppress": "the admin's Suppress action",
    "unsuppress": "the admin's Unsuppress action",
}


def sources(move: lifecycle.MoveName) -> list[str]:
    """The statuses lifecycle ``move`` takes events from, in the order Status lists them."""
    return [status.value for status in Status if status in lifecycle.MOVES[move].sources]


def add_selection_arguments(parser: CommandParser, statuses: list[str]) -> None:
    parser.add_argument(
        "--status", action="append", choices=statuses, help=f"Any of {', '.join(statuses)}."
    )
    parser.add_argument("--since", help="Received at or after (YYYY-MM-DD or ISO 8601).")
    parser.add_argument("--until", help="Received before (YYYY-MM-DD or ISO 8601).")
    parser.add_argument("--email", help="Only this customer's events.")
    parser.add_argument("--seg-event", help="Only this Seg event, e.g. OrderPlaced.")
    parser.add_argument("--dry-run", action="store_true", help="Count, change nothing.")


def _moment(value: str, option: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None and (day := parse_date(value)) is not None:
        parsed = datetime(day.year, day.month, day.day)
    if parsed is None:
        raise CommandError(f"{option} {value!r} is not a date or an ISO 8601 time.")
    return parsed if parsed.tzinfo else make_aware(parsed)


def selection(options: dict[str, Any]) -> EventQuerySet:
    """The events the options select: of the statuses ``--status`` names, else of any."""
    queryset = Event.objects.all()
    if options["status"]:
        queryset = queryset.filter(status__in=options["status"])
    if options["since"]:
        queryset = queryset.filter(received_at__gte=_moment(options["since"], "--since"))
    if options["until"]:
        queryset = queryset.filter(received_at__lt=_moment(options["until"], "--until"))
    if options["email"]:
        queryset = queryset.filter(email=options["email"].strip().lower())
    if options["seg_event"]:
        queryset = queryset.filter(seg_event=options["seg_event"])
    return queryset


def progress_bar(stream: Any = sys.stderr) -> Any:
    def show(done: int, total: int) -> None:
        width = 40
        filled = int(width * done / total) if total else width
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return show


class SelectionCommand(BaseCommand):
    """Change the selected events in batches, a status at a time; each batch queues what
    it made due. Then say, a line each, as the admin action does: how many it changed of
    each status ("Retried 2 failed events and 1 expired event."), those it could not send,
    and the selected events of other statuses it left alone, with what to do instead.

    A subclass sets ``statuses`` (what ``--status`` offers: the statuses its move
    takes), ``action`` (the admin action it matches, a key of ``actions.VERBS``), and
    ``change``: the operation the admin action also calls, given one batch, returning
    how many rows changed.
    """

    statuses: ClassVar[list[str]]
    action: ClassVar[str]

    def change(self, events: EventQuerySet) -> int:
        raise NotImplementedError

    def add_arguments(self, parser: CommandParser) -> None:
        add_selection_arguments(parser, self.statuses)

    def handle(self, *args: Any, **options: Any) -> None:
        queryset = selection(options)
        verb = actions.VERBS[self.action]
        plan = actions.plan(verb, queryset, cap=False)  # it changes them all, and says so
        changed: dict[str, int] = {}
        for status in self.statuses:
            rows = queryset.filter(status=status)
            if options["dry_run"]:
                changed[status] = rows.filter(lifecycle.SENDABLE).order_by().count()
            else:
                changed[status] = lifecycle.in_batches(self.change, rows, progress=progress_bar())
        done = f"Would {verb.move}" if options["dry_run"] else ""
        first, *rest = plan.parts(changed, NAMES, done)
        style = self.style.SUCCESS if any(changed.values()) else self.style.WARNING
        self.stdout.write(style(f"{first}."))
        for part in rest:
            self.stdout.write(f"{part}.")
