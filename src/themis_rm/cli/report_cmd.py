"""`themis report`: recompute metrics from run folders and write Markdown + HTML reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from themis_rm.cli.errors import user_errors


def unique_names(paths: list[Path]) -> list[str]:
    """Run names are folder names; clashing ones get their parent folder prepended."""
    names = [p.resolve().name for p in paths]
    return [f"{p.resolve().parent.name}/{n}" if names.count(n) > 1 else n for p, n in zip(paths, names)]


def report_command(
    runs: Annotated[list[Path], typer.Argument(help="Run folders (ours or the published Themis runs).")],
    out: Annotated[Path, typer.Option(help="Folder for report.md, report.html and figures/.")] = Path("report"),
    json_path: Annotated[Path | None, typer.Option("--json", help="Also write the recomputed results, keyed by run name.")] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples for the 95% intervals.")] = 1000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
) -> None:
    """Recompute every metric from scores.parquet and write a report (with plots)."""
    from themis_rm.evaluation.report import build_report
    from themis_rm.evaluation.runs import RunError, discrepancies, load_run

    with user_errors(RunError):
        loaded = [load_run(path) for path in runs]
    for run, name in zip(loaded, unique_names(runs)):
        run.name = name
    recomputed = build_report(loaded, out, resamples=resamples, seed=seed)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(recomputed, indent=2) + "\n", encoding="utf-8")
    disagreeing = [run.name for run in loaded if discrepancies(run, recomputed[run.name])]
    typer.echo(f"wrote {out / 'report.md'} and {out / 'report.html'} for {len(loaded)} run(s)")
    if disagreeing:
        typer.echo(f"stored results.json disagrees with its scores in: {', '.join(disagreeing)} (see the report)")


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
