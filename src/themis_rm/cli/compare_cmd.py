"""`themis compare`: a paired comparison of two runs on the pairs they share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from themis_rm.cli.errors import user_errors


def compare_command(
    run_a: Annotated[Path, typer.Argument(help="First run folder.")],
    run_b: Annotated[Path, typer.Argument(help="Second run folder.")],
    ties: Annotated[str, typer.Option(help="wrong | half.")] = "wrong",
    resamples: Annotated[int, typer.Option(help="Paired bootstrap resamples.")] = 2000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the comparison as JSON.")] = None,
) -> None:
    """Accuracy difference A − B with a paired bootstrap interval and McNemar's exact p-value."""
    from themis_rm.evaluation.compare import compare_runs
    from themis_rm.evaluation.runs import RunError, load_run

    with user_errors(RunError, ValueError):
        result = compare_runs(load_run(run_a), load_run(run_b), ties=ties, resamples=resamples, seed=seed)
    table = Table(title=f"A = {result['run_a']}   B = {result['run_b']}   ({result['overall']['pairs']} shared pairs)")
    for column in ("group", "n", "A %", "B %", "A − B", "95% CI", "only A", "only B", "McNemar p"):
        table.add_column(column, justify="left" if column == "group" else "right")
    for name, block in [("overall", result["overall"]), *result["by_aspect"].items()]:
        low, high = block["difference_ci"]
        table.add_row(name, str(block["pairs"]), f"{100 * block['accuracy_a']:.1f}", f"{100 * block['accuracy_b']:.1f}",
                      f"{100 * block['difference']:+.1f}", f"[{100 * low:+.1f}, {100 * high:+.1f}]",
                      str(block["only_a_correct"]), str(block["only_b_correct"]), f"{block['mcnemar_p']:.3g}")
    Console().print(table)
    if result["only_in_a"] or result["only_in_b"]:
        typer.echo(f"not shared: {result['only_in_a']} pair(s) only in A, {result['only_in_b']} only in B")
    if json_path:
        json_path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def register(app: typer.Typer) -> None:
    app.command("compare")(compare_command)
