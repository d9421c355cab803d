"""Run the peers benchmark: ``python -m benchmarks.peers TRACKER_URL``; prints its rows as JSON.

benchmarks/run.py starts it (``scripts/bench.sh peers``) in a process of its own, so
that the peers' apps (benchmarks/peers/settings.py) stay out of the other benchmarks,
on a private Redis that it may stop. Progress goes to stderr.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from dataclasses import asdict

import django
from django.core.management import call_command

from benchmarks.peers.broker import Broker


def main(tracker: str) -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    broker = Broker()
    broker.start()
    try:
        os.environ["REDIS_URL"] = broker.url
        os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.peers.settings"
        django.setup()
        call_command("migrate", verbosity=0)
        # Only now: the scenarios import the peers' models and the app's settings.
        from benchmarks.peers import scenarios

        rows = scenarios.bench(tracker, broker, sys.stderr)
    finally:
        broker.close()
    json.dump([asdict(row) for row in rows], sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
