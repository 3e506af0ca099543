"""The table `themis eval` prints at the end of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def percent(value: float | None) -> str:
    """An accuracy for tables: one decimal, a dash when there is none."""
    return "—" if value is None else f"{100 * value:.1f}"


def _interval(ci: list[float] | None) -> str:
    return "" if not ci else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def print_summary(results: dict[str, Any], out_dir: Path, console: Console | None = None) -> None:
    console = console or Console()
    overall = results["overall"]
    intervals = results.get("confidence_intervals", {})
    ties = results.get("ties", {})
    table = Table(title=f"Accuracy (%) — tie policy: {results.get('tie_policy', 'wrong')}")
    table.add_column("group")
    table.add_column("name")
    table.add_column("n", justify="right")
    table.add_column("acc", justify="right")
    table.add_column("95% CI", justify="right")
    table.add_column("ties", justify="right")
    table.add_row("overall", "", str(overall["total_examples"]), percent(overall["accuracy"]),
                  _interval(intervals.get("overall")), str(ties.get("overall", "")))
    for key, label in (("by_aspect", "aspect"), ("by_language", "language"), ("by_subset", "subset")):
        for name, block in results.get(key, {}).items():
            table.add_row(label, name, str(block["count"]), percent(block["accuracy"]),
                          _interval(intervals.get(key, {}).get(name)), str(ties.get(key, {}).get(name, "")))
    console.print(table)
    manifest = results.get("manifest", {})
    engine = manifest.get("engine", {})
    notes = [f"requests: {engine.get('requests_total', 0)} total, {engine.get('requests_unique', 0)} unique, "
             f"{engine.get('requests_from_cache', 0)} from cache, {engine.get('requests_scored', 0)} scored "
             f"in {engine.get('scoring_seconds', 0)} s"]
    invalid = results.get("invalid_pairs", {}).get("overall", 0)
    if invalid:
        notes.append(f"invalid pairs (a side without score): {invalid}; valid-only accuracy "
                     f"{percent(results['accuracy_by_policy']['valid_only']['overall'])}")
    skipped = results.get("skipped_rows")
    if skipped:
        notes.append(f"skipped input rows: {skipped['total']} {skipped['by_reason']}")
    for flag, counts in results.get("flags", {}).items():
        notes.append(f"{flag}: {counts['overall']} pair(s)")
    for note in notes:
        console.print(note)
    console.print(f"wrote {out_dir / 'results.json'} and {out_dir / 'scores.parquet'}")
