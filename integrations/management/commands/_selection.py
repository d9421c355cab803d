"""The selection and progress bar shared by the retry, replay and suppress commands."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import make_aware

from integrations.models import Event, EventQuerySet, Status


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


RETRYABLE = [Status.FAILED.value, Status.EXPIRED.value]
