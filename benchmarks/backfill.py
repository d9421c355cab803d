"""The backfill of an Oscar shop's history (10,000 orders) while its live orders flow.

The Oscar shop needs settings of its own, so the run is the Oscar backfill test
(tests/oscar_project/backfill_tests.py) at full size, in a pytest process of its
own on this run's PostgreSQL and Redis: a worker on the live queues, a worker of
the backfill's own, the command SIGKILLed a third of the way and run again. The
test prints its figures; the live delay alone is the baseline of the one beside
the backfill.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from benchmarks.harness import ROOT, Row, median, percentile

ORDERS = 10_000
RATE = 50.0
HISTORY_WORKERS = 2
TEST = "tests/oscar_project/backfill_tests.py::test_a_backfill_killed_mid_run_resumes_loses_nothing_sends_nothing_twice_and_live_goes_first"


def bench(scale: float) -> list[Row]:
    orders = max(int(ORDERS * scale), 300)
    env = os.environ | {
        "SEG_TEST_BACKFILL_ORDERS": str(orders),
        "SEG_TEST_BACKFILL_RATE": str(RATE),
        "SEG_TEST_BACKFILL_WORKERS": str(HISTORY_WORKERS),
    }
    command = [sys.executable, "-m", "pytest", TEST, "--ds", "tests.oscar_project.settings"]
    command += ["--nomigrations", "-p", "no:cacheprovider", "-q", "-s", "-W", "ignore"]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    line = next((x for x in run.stdout.splitlines() if x.startswith("BACKFILL-FIGURES ")), None)
    if run.returncode or line is None:
        raise RuntimeError(run.stdout[-6000:] + run.stderr[-2000:])
    got = json.loads(line.removeprefix("BACKFILL-FIGURES "))
    alone = [s * 1000 for s in got["live_alone"]]
    beside = [s * 1000 for s in got["live_beside"]]
    shape = (
        f"{got['items']:,} items ({orders:,} orders), cap {got['rate_cap']:g}/s, "
        f"{got['history_workers']} backfill process(es), SIGKILLed a third in and resumed"
    )
    return [
        Row(
            "backfill: Oscar history, ingest to delivered",
            got["items"] / got["seconds"],
            "events/s",
            note=f"{shape}; {got['seconds']:.0f} s from the first start to the last delivery",
        ),
        Row(
            "backfill: live order, commit to Seg, p50, beside the backfill",
            median(beside),
            "ms",
            baseline=median(alone),
            note=f"baseline: the same live orders without a backfill ({len(alone)} vs {len(beside)})",
        ),
        Row(
            "backfill: live order, commit to Seg, p90, beside the backfill",
            percentile(beside, 0.9),
            "ms",
            baseline=percentile(alone, 0.9),
        ),
    ]
