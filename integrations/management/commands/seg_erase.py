"""Erase, suppress or unsuppress a customer, as the admin's erasure page does."""

from __future__ import annotations

import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations import erasure
from integrations.exceptions import ErasureError
from integrations.models import ErasureRequest


class Command(BaseCommand):
    help = (
        "Erase a customer (GDPR art. 17): their events, attempts, status history, "
        "identities and aliases, following every email, userId and anonymousId tied to "
        "the --email or --user-id given. --suppress also refuses their later calls; "
        "--suppress-only refuses them without deleting; --unsuppress lifts a suppression; "
        "--seg-told ID marks a request's step of telling Seg done."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", help="The customer's email (any they had).")
        parser.add_argument("--user-id", help="The customer's userId.")
        what = parser.add_mutually_exclusive_group()
        what.add_argument("--suppress", action="store_true", help="Delete, and suppress.")
        what.add_argument("--suppress-only", action="store_true", help="Suppress; delete nothing.")
        what.add_argument("--unsuppress", action="store_true", help="Lift a suppression.")
        what.add_argument(
            "--seg-told", type=int, metavar="ID", help="Mark request ID's Seg step done."
        )
        parser.add_argument(
            "--by", default=None, help="Who asks, for the record (default: the OS user)."
        )
        parser.add_argument("--yes", action="store_true", help="Do not ask to confirm.")

    def handle(self, *args: Any, **options: Any) -> None:
        by = options["by"] or f"seg_erase ({getpass.getuser()})"
        if options["seg_told"] is not None:
            record = ErasureRequest.objects.filter(pk=options["seg_told"]).first()
            if record is None:
                raise CommandError(f"No erasure request {options['seg_told']}.")
            if not erasure.mark_seg_told(record, by):
                raise CommandError(f"Request {record.pk} has no open step of telling Seg.")
            self.stdout.write(f"Request {record.pk}: Seg marked as told.")
            return
        email, user_id = options["email"], options["user_id"]
        try:
            if options["unsuppress"]:
                record = erasure.unsuppress(email, user_id, by=by)
            else:
                delete = not options["suppress_only"]
                if delete and not options["yes"] and not self._confirmed(email, user_id):
                    raise CommandError("Nothing erased.")
                record = erasure.erase(
                    email,
                    user_id,
                    delete=delete,
                    suppress=options["suppress"] or options["suppress_only"],
                    by=by,
                )
        except ErasureError as error:
            raise CommandError(str(error)) from error
        counts = ", ".join(f"{n} {name}" for name, n in record.counts.items()) or "nothing"
        self.stdout.write(
            f"Request {record.pk} ({record.get_kind_display()}): {counts}; "
            f"{len(record.digests)} ids reached."
        )
        if record.seg_step_open:
            self.stdout.write(
                "Seg keeps its own copy: ask Seg to erase this customer, then run "
                f"seg_erase --seg-told {record.pk}."
            )

    def _confirmed(self, email: str | None, user_id: str | None) -> bool:
        customer = erasure.reach(erasure.named(email, user_id))
        events = customer.events().count()
        answer = input(
            f"Erase {events} events and every row of {customer.size()} ids tied to this "
            "customer? This cannot be undone. [y/N] "
        )
        return answer.strip().lower() in ("y", "yes")
