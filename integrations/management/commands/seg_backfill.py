"""Send a shop's history to Seg: Oscar's customers and orders, or a JSON Lines file of calls."""

from __future__ import annotations

import sys
from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string
from tqdm import tqdm

from integrations import backfill, conf
from integrations.models import BackfillRun, LiveSince

from ._selection import _moment

OSCAR_APP = "integrations.contrib.oscar"


UNKNOWN = (
    "When the shop's server first sent a live call is not known: retention or an erasure "
    "may have deleted its first live events before the app kept that moment. Pass --until "
    "with the day live sending to Seg began (YYYY-MM-DD or ISO), so that what went to Seg "
    "live is not sent again."
)


class Command(BaseCommand):
    help = (
        "Send the shop's history to Seg: 'oscar' for every customer (identify) and placed "
        "order (Order Completed) of the django-oscar shop, or a JSON Lines file of Segment "
        "calls. Resumes the unfinished run of the same source and window; what was stored "
        "before is never stored or sent again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", help="'oscar', or the path of a JSON Lines file.")
        parser.add_argument("--since", help="Only items dated at or after (YYYY-MM-DD or ISO).")
        parser.add_argument(
            "--until",
            help="Only items dated before (YYYY-MM-DD or ISO). Default: when the shop's server "
            "first sent a live call (what came after went to Seg live); needed when that "
            "moment is not known.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Read and check; store nothing.")
        parser.add_argument(
            "--rate", type=float, help="Events per second at most (default SEG_BACKFILL_RATE)."
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="No progress bar (for logs)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        source = self._source(options["source"])
        since = _moment(options["since"], "--since") if options["since"] else None
        until = _moment(options["until"], "--until") if options["until"] else None
        if until is None and (live := LiveSince.record()) is not None:
            if live.at is None:
                raise CommandError(UNKNOWN)
            until = live.at
        self.stdout.write(BackfillRun.window(until, given=bool(options["until"])))
        rate = options["rate"] or float(conf.get_setting("SEG_BACKFILL_RATE"))
        if rate <= 0:
            raise CommandError("--rate (or SEG_BACKFILL_RATE) must be above 0.")
        bar = tqdm(desc="Backfill", unit=" items", disable=options["no_progress"], file=sys.stderr)

        def show(progress: backfill.Progress) -> None:
            bar.total = progress.total
            bar.n = progress.done
            counts = {"stored": progress.stored, "repeated": progress.repeated}
            bar.set_postfix(
                counts | {"refused": progress.invalid, "suppressed": progress.suppressed}
            )

        if options["dry_run"]:
            progress = backfill.dry_run(source, since, until, show)
            bar.close()
            self._report(progress, "Would store")
            return
        record = backfill.resumable(source, since, until)
        if record.done:
            self.stdout.write(f"Resuming backfill #{record.pk} after {record.done} item(s).")
        else:
            self.stdout.write(f"Backfill #{record.pk}, at most {rate:g} events/s.")
        progress = backfill.run(source, record, rate=rate, on_progress=show)
        bar.close()
        self._report(progress, f"Backfill #{record.pk} finished: stored")

    def _source(self, name: str) -> backfill.HistorySource:
        if name == "oscar":
            if not apps.is_installed(OSCAR_APP):
                raise CommandError(f"'oscar' needs {OSCAR_APP!r} in INSTALLED_APPS.")
            # Imported by name: Oscar is an optional dependency.
            source: backfill.HistorySource = import_string(f"{OSCAR_APP}.history.OscarHistory")()
            return source
        try:
            with open(name, "rb"):
                pass
        except OSError as error:
            raise CommandError(f"Cannot read {name}: {error.strerror}.") from error
        return backfill.JsonLines(name)

    def _report(self, progress: backfill.Progress, stored: str) -> None:
        self.stdout.write(
            f"{stored} {progress.stored} event(s); {progress.repeated} already stored; "
            f"{progress.invalid} refused; {progress.suppressed} of suppressed customers, "
            f"not stored; {progress.done} of {progress.total} item(s) read."
        )
        for error in progress.errors[:20]:
            self.stdout.write(f"  {error['where']}: {error['error']}")
        if progress.invalid > 20:
            self.stdout.write("  ... see the run's page in the admin for the rest.")
