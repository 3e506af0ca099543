"""Print per-aspect accuracy of several `themis eval` run folders side by side (markdown).

    python examples/aspect_table.py runs/tiny/eval-hf-aspect runs/tiny/eval-length
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(folders: list[str]) -> None:
    runs = [(Path(f).name, json.loads((Path(f) / "results.json").read_text())) for f in folders]
    aspects = sorted({a for _, r in runs for a in r["by_aspect"]})
    print("| aspect | n | " + " | ".join(name for name, _ in runs) + " |")
    print("|---|---:|" + "---:|" * len(runs))
    for aspect in [*aspects, "overall"]:
        cells = []
        count = None
        for _, r in runs:
            row = r["overall"] if aspect == "overall" else r["by_aspect"].get(aspect, {})
            count = row.get("count", row.get("total_examples", count))
            cells.append(f"{100 * row['accuracy']:.1f}" if "accuracy" in row else "—")
        print(f"| {aspect} | {count} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
