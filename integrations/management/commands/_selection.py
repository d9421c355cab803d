"""The shell of the commands that change a selection of events: its options and its
progress bar. What a batch makes due is queued for delivery as that batch commits."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any, ClassVar

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import make_aware

from integrations import lifecycle
from integrations.models import Event, EventQuerySet, Status


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


def selection(options: dict[str, Any], default_statuses: list[str]) -> EventQuerySet:
    queryset = Event.objects.filter(status__in=options["status"] or default_statuses)
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
    """Change the selected events in batches; each batch queues what it made due.

    A subclass sets ``statuses`` (what ``--status`` offers, and the default
    selection), the ``verb`` and ``past`` of its messages ("Would retry N
    event(s).", "Retried N event(s)."), and ``change``: the operation the
    admin action also calls, given one batch, returning how many rows changed.
    """

    statuses: ClassVar[list[str]]
    verb: ClassVar[str]
    past: ClassVar[str]

    def change(self, events: EventQuerySet) -> int:
        raise NotImplementedError

    def add_arguments(self, parser: CommandParser) -> None:
        add_selection_arguments(parser, self.statuses)

    def handle(self, *args: Any, **options: Any) -> None:
        queryset = selection(options, self.statuses)
        if options["dry_run"]:
            self.stdout.write(f"Would {self.verb} {queryset.count()} event(s).")
            return
        changed = lifecycle.in_batches(self.change, queryset, progress=progress_bar())
        self.stdout.write(self.style.SUCCESS(f"{self.past} {changed} event(s)."))
