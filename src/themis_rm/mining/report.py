"""The mining report: counts at every stage, drop reasons, the aspect x language table.

`stage_table` turns per-reason drop counts into the funnel: for each stage, how many commits
(or pairs) came in, how many it dropped and why, and how many went on. `print_report` shows
the same numbers as `mining_report.json` holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from themis_rm.schema import CODE_ASPECTS, Language


def stage_table(entered: int, drops: Mapping[str, int],
                stages: Sequence[tuple[str, Sequence[str]]]) -> list[dict[str, Any]]:
    table = []
    remaining = entered
    for name, reasons in stages:
        dropped = {reason: int(drops.get(reason, 0)) for reason in reasons if drops.get(reason, 0)}
        out = remaining - sum(dropped.values())
        table.append({"stage": name, "in": remaining, "dropped": dropped, "out": out})
        remaining = out
    return table


def aspect_language_table(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    counts = Counter((row["aspect"], row["language"]) for row in rows)
    return {aspect.value: {language.value: counts[(aspect.value, language.value)] for language in Language}
            for aspect in CODE_ASPECTS}


def print_report(report: Mapping[str, Any], console: Any) -> None:
    from rich.table import Table

    repos = report["repositories"]
    commits = report["commits"]
    rate = f"{commits['per_second']:.0f} commits/s" if commits["per_second"] else "nothing new to extract"
    console.print(f"[bold]themis mine[/bold]: {repos['found']} repositories, {repos['mined']} mined, "
                  f"{commits['walked']} commits walked ({commits['from_checkpoint']} from checkpoints), "
                  f"{report['seconds']:.1f}s in all, extraction {rate}")
    skipped = {k: v for k, v in repos["status"].items() if k != "ok" and v}
    if skipped:
        console.print("repositories skipped: " + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())))

    funnel = Table(title="Stages", show_lines=False)
    for column in ("stage", "in", "out", "dropped (reason: count)"):
        funnel.add_column(column, justify="left" if column in ("stage", "dropped (reason: count)") else "right")
    for row in report["stages"]:
        reasons = ", ".join(f"{k}: {v}" for k, v in sorted(row["dropped"].items(), key=lambda kv: -kv[1]))
        funnel.add_row(row["stage"], str(row["in"]), str(row["out"]), reasons)
    console.print(funnel)

    grid = Table(title=f"Rows by aspect x language ({report['pairs']['rows']} rows)")
    grid.add_column("aspect")
    languages = [language.value for language in Language]
    for language in languages:
        grid.add_column(language, justify="right")
    grid.add_column("total", justify="right")
    for aspect, cells in report["pairs"]["by_aspect_language"].items():
        grid.add_row(aspect, *(str(cells[lang]) for lang in languages), str(sum(cells.values())))
    console.print(grid)
    splits = report["pairs"]["by_split"]
    console.print("splits: " + (", ".join(f"{name} {count}" for name, count in splits.items()) or "none"))
    for error in report.get("errors", [])[:5]:
        console.print(f"[yellow]warning[/yellow]: {error}")
