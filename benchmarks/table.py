"""Print benchmarks/results.json as the Markdown table the README shows."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results.json"


def main() -> None:
    rows = json.loads(RESULTS.read_text())["results"]
    print("| benchmark | result | baseline (same run) | ratio | target | |")
    print("|---|---:|---:|---:|---|---|")
    for r in rows:
        baseline = f"{r['baseline']:,.1f}" if r["baseline"] is not None else ""
        ratio = f"{r['ratio']:.0%}" if r["ratio"] is not None else ""
        met = {True: "met", False: "**missed**", None: ""}[r["met"]]
        note = f"<br><sub>{r['note']}</sub>" if r["note"] else ""
        print(
            f"| {r['name']}{note} | {r['value']:,.1f} {r['unit']} | {baseline} | {ratio} "
            f"| {r['target']} | {met} |"
        )


if __name__ == "__main__":
    main()
