"""Print benchmarks/results.json as the Markdown tables the README shows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results.json"


def main() -> None:
    rows = json.loads(RESULTS.read_text())["results"]
    print("| benchmark | result | baseline (same run) | ratio | target | |")
    print("|---|---:|---:|---:|---|---|")
    for r in rows:
        if "peer" in r:
            continue
        baseline = f"{r['baseline']:,.1f}" if r["baseline"] is not None else ""
        ratio = f"{r['ratio']:.0%}" if r["ratio"] is not None else ""
        met = {True: "met", False: "**missed**", None: ""}[r["met"]]
        note = f"<br><sub>{r['note']}</sub>" if r["note"] else ""
        print(
            f"| {r['name']}{note} | {r['value']:,.1f} {r['unit']} | {baseline} | {ratio} "
            f"| {r['target']} | {met} |"
        )
    peers([r for r in rows if "peer" in r])


def peers(rows: list[dict[str, Any]]) -> None:
    """The peers benchmark side by side: one line a measure, one column a peer."""
    if not rows:
        return
    labels = {r["peer"]: r["name"].split(":")[0].removeprefix("peers, ") for r in rows}
    measures = {r["measure"]: r["name"].split(": ", 1)[1] for r in rows}
    cells = {(r["measure"], r["peer"]): r for r in rows}
    print(f"\n| | {' | '.join(labels.values())} |")
    print(f"|---|{'---:|' * len(labels)}")
    for measure, name in measures.items():
        line = [cells[measure, p] for p in labels if (measure, p) in cells]
        values = [
            f"{c['value']:,.1f} {c['unit']}"
            if c["unit"] in ("events/s", "ms", "MiB", "s")
            else f"{c['value']:,.0f}"
            for c in line
        ]
        print(f"| {name} | {' | '.join(values)} |")


if __name__ == "__main__":
    main()
