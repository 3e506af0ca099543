"""`themis report`: Markdown and self-contained HTML reports over one or more runs.

Every figure is recomputed from `scores.parquet`; where a run's stored `results.json`
disagrees with its own scores, the report says so rather than trusting either silently.
A report is a list of blocks rendered twice, once as Markdown and once as HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from themis_rm.evaluation.metrics import correctness
from themis_rm.evaluation.plots import accuracy_bars, heatmap
from themis_rm.evaluation.runs import Run, discrepancies, recompute
from themis_rm.evaluation.summary import percent
from themis_rm.schema import CODE_ASPECTS


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Paragraph:
    text: str
    strong: bool = False


@dataclass
class TableBlock:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Figure:
    name: str
    svg: str


Block = Heading | Paragraph | TableBlock | Figure


def _ci(ci: list[float] | None) -> str:
    return "" if not ci else f"{100 * ci[0]:.1f}–{100 * ci[1]:.1f}"


def _group_table(results: dict[str, Any], key: str) -> TableBlock:
    intervals = results["confidence_intervals"].get(key, {})
    ties = results["ties"].get(key, {})
    rows = [[name, str(block["count"]), percent(block["accuracy"]), _ci(intervals.get(name)), str(ties.get(name, 0))]
            for name, block in results[key].items()]
    return TableBlock([key.removeprefix("by_"), "n", "accuracy %", "95% CI", "ties"], rows)


def leaderboard(named: list[tuple[str, dict[str, Any]]]) -> TableBlock:
    aspects = [a.value for a in CODE_ASPECTS]
    header = ["run", "n", "accuracy %", "95% CI", "macro over aspects", *aspects]
    rows = []
    for name, results in sorted(named, key=lambda item: -(item[1]["overall"]["accuracy"] or 0)):
        overall = results["overall"]
        rows.append([name, str(overall["total_examples"]), percent(overall["accuracy"]),
                     _ci(results["confidence_intervals"]["overall"]), percent(results["macro_accuracy"]["over_aspects"]),
                     *[percent(results["by_aspect"].get(a, {}).get("accuracy")) for a in aspects]])
    return TableBlock(header, rows)


def run_blocks(run: Run, results: dict[str, Any]) -> list[Block]:
    overall = results["overall"]
    blocks: list[Block] = [
        Heading(run.name, 2),
        Paragraph(f"Accuracy {percent(overall['accuracy'])}% (95% CI {_ci(results['confidence_intervals']['overall'])}) "
                  f"over {overall['total_examples']} pairs; tie policy `{results['tie_policy']}`; "
                  f"{results['ties']['overall']} tie(s), {results['invalid_pairs']['overall']} pair(s) without a score."),
    ]
    if "per_prompt_macro" in results:
        macro = results["per_prompt_macro"]
        blocks.append(Paragraph(f"Per-prompt macro accuracy: {percent(macro['accuracy'])}% over {macro['prompts']} prompts."))
    intervals = results["confidence_intervals"]
    blocks.append(Figure(f"{run.name}-aspects", accuracy_bars(
        f"{run.name}: accuracy by aspect",
        [(n, b["accuracy"], intervals["by_aspect"].get(n), b["count"]) for n, b in results["by_aspect"].items()])))
    cells = {}
    scores = run.scores
    correct = pd.Series(correctness(scores, results["tie_policy"]), index=scores.index)
    for (aspect, language), values in correct.groupby([scores["aspect"], scores["language"]]):
        cells[(aspect, language)] = (float(np.mean(values)), len(values))
    blocks.append(Figure(f"{run.name}-heatmap", heatmap(
        f"{run.name}: accuracy by aspect × language", sorted(results["by_aspect"]), sorted(results["by_language"]), cells)))
    blocks.append(Figure(f"{run.name}-subsets", accuracy_bars(
        f"{run.name}: accuracy by subset",
        [(n, b["accuracy"], intervals["by_subset"].get(n), b["count"]) for n, b in results["by_subset"].items()])))
    for key in ("by_aspect", "by_language", "by_subset"):
        blocks.append(_group_table(results, key))
    problems = discrepancies(run, results)
    if problems:
        blocks.append(Paragraph(f"Stored results.json disagrees with its own scores ({len(problems)} item(s)):", strong=True))
        blocks.append(TableBlock(["item"], [[p] for p in problems]))
    elif run.stored is not None:
        blocks.append(Paragraph("The stored results.json matches the metrics recomputed from scores.parquet (4 decimals)."))
    return blocks


def to_markdown(blocks: list[Block], figure_dir: str) -> str:
    out = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text}\n")
        elif isinstance(block, Paragraph):
            out.append((f"**{block.text}**" if block.strong else block.text) + "\n")
        elif isinstance(block, TableBlock):
            out.append("| " + " | ".join(block.header) + " |")
            out.append("|" + "|".join("---" for _ in block.header) + "|")
            out.extend("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in block.rows)
            out.append("")
        else:
            out.append(f"![{block.name}]({figure_dir}/{block.name}.svg)\n")
    return "\n".join(out)


def to_html(blocks: list[Block], title: str) -> str:
    body = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{escape(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            text = escape(block.text)
            body.append(f"<p><strong>{text}</strong></p>" if block.strong else f"<p>{text}</p>")
        elif isinstance(block, TableBlock):
            head = "".join(f"<th>{escape(h)}</th>" for h in block.header)
            rows = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        else:
            body.append(f'<figure>{block.svg}</figure>')
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
             "td:first-child,th:first-child{text-align:left}figure{margin:1em 0}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def build_report(runs: list[Run], out_dir: Path, resamples: int = 1000, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Write report.md (+ figures/) and report.html; return the recomputed results keyed by run name."""
    recomputed = {run.name: recompute(run, resamples, seed) for run in runs}
    blocks: list[Block] = [Heading("Themis report", 1)]
    if len(runs) > 1:
        blocks += [Heading("Leaderboard", 2), leaderboard(list(recomputed.items()))]
    for run in runs:
        blocks += run_blocks(run, recomputed[run.name])
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = out_dir / "figures"
    figures.mkdir(exist_ok=True)
    for block in blocks:
        if isinstance(block, Figure):
            (figures / f"{block.name}.svg").write_text(block.svg, encoding="utf-8")
    (out_dir / "report.md").write_text(to_markdown(blocks, "figures"), encoding="utf-8")
    (out_dir / "report.html").write_text(to_html(blocks, "Themis report"), encoding="utf-8")
    return recomputed
