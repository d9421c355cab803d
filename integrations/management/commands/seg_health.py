"""Check the database, the broker and a live worker, as /readyz does; exit 1 on a failure."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from integrations import checks


class Command(BaseCommand):
    help = (
        "Check what delivery needs: the database, the broker, and a live worker (the "
        "readiness endpoint's checks). Exits 1 when a required check fails."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--require",
            default=",".join(checks.READINESS_CHECKS),
            help="Comma-separated checks whose failure fails the command "
            f"(default: all of {', '.join(checks.READINESS_CHECKS)}).",
        )
        parser.add_argument("--json", action="store_true", help="Print the results as JSON.")

    def handle(self, *args: Any, **options: Any) -> None:
        required = [name.strip() for name in options["require"].split(",") if name.strip()]
        unknown = sorted(set(required) - set(checks.READINESS_CHECKS))
        if unknown:
            raise CommandError(
                f"Unknown check(s): {', '.join(unknown)}; "
                f"choose from {', '.join(checks.READINESS_CHECKS)}."
            )
        probes = checks.readiness()
        ok = checks.ready(probes, required)
        if options["json"]:
            results = {p.name: {"ok": p.ok, "detail": p.detail} for p in probes}
            self.stdout.write(json.dumps({"ok": ok, "checks": results}))
        else:
            for probe in probes:
                style = self.style.SUCCESS if probe.ok else self.style.ERROR
                status = style(f"{'ok' if probe.ok else 'FAIL':<4}")
                self.stdout.write(f"{probe.name:<9} {status}  {probe.detail}")
        if not ok:
            failed = [p.name for p in probes if not p.ok and p.name in required]
            raise CommandError(f"Not ready: {', '.join(failed)}.", returncode=1)
