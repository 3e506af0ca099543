"""Leave-one-subset-out evaluation of the `lite` scorer, next to the `length` baseline.

    python benchmarks/lite_loso.py                                   # ../shared/data/benchmarks, writes docs/lite.md
    python benchmarks/lite_loso.py --data DIR --doc docs/lite.md --l2 3

For every subset (one .jsonl file) of the benchmark folder: fit `lite` on all the other
subsets (the L2 strength chosen by leave-one-subset-out *inside* those), then score the
held-out subset. No subset is ever scored by a model that saw it. Per-aspect figures pool
the held-out pairs of that aspect. Accuracy counts ties as wrong for both scorers, as the
published runs do. `lite (aspect)` uses the pair's aspect model (prompt mode `aspect`);
`lite (combined)` uses the combined model (prompt modes `none` and `full`).

The table, the command and the targets of issue 6 are written to `--doc`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from themis_rm.data import read_pairs
from themis_rm.schema import CODE_ASPECTS, ScoreRequest
from themis_rm.scoring.baselines import LengthScorer
from themis_rm.scoring.lite.features import FEATURE_VERSION
from themis_rm.scoring.lite.fit import (
    FitConfig,
    aspect_margins,
    featurize,
    fit_weights,
    select_hyper,
    standardisation,
)
from themis_rm.scoring.lite.model import COMBINED

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "benchmarks"
TARGET_MARGIN = 0.10
ABSOLUTE_TARGETS = {"Security_Hardness": 0.75, "Functional_Correctness": 0.70}


def length_correct(pairs) -> np.ndarray:
    scorer = LengthScorer()
    chosen = scorer.score([ScoreRequest(None, p.prompt, p.chosen) for p in pairs])
    rejected = scorer.score([ScoreRequest(None, p.prompt, p.rejected) for p in pairs])
    return np.array([c.value > r.value for c, r in zip(chosen, rejected)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of <SUBSET>.jsonl files")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "lite.md", help="markdown file to (re)write")
    parser.add_argument("--no-doc", action="store_true", help="print only")
    parser.add_argument("--l2", type=float, default=None, help="fixed L2 strength (default: inner LOSO choice)")
    parser.add_argument("--transfer", type=float, default=None, help="fixed transfer (default: inner LOSO choice)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure as JSON")
    args = parser.parse_args()
    console = Console()

    files = sorted(args.data.glob("*.jsonl"))
    if not files:
        console.print(f"[red]no .jsonl files in {args.data}")
        return 2
    pair_sets = {f.stem: read_pairs(str(f)).pairs for f in files}
    everything = [p for pairs in pair_sets.values() for p in pairs]
    subsets_of = np.array([name for name, pairs in pair_sets.items() for _ in pairs])

    started = time.perf_counter()
    with Progress(TextColumn("features"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=True) as bar:
        task = bar.add_task("", total=len(everything))
        table = featurize(everything, progress=lambda n: bar.advance(task, n))
    feature_seconds = time.perf_counter() - started
    config = FitConfig(l2=args.l2, transfer=args.transfer)

    rows = []
    pooled: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for name, pairs in pair_sets.items():
        held = subsets_of == name
        train, test = table.take(~held), table.take(held)
        chosen = select_hyper(train, config)
        l2, transfer = chosen.l2, chosen.per_aspect[pairs[0].aspect.value]
        _, scale = standardisation(train)
        weights = fit_weights(train, scale, l2, chosen.per_aspect, config)
        margins = aspect_margins(test, weights, scale)
        lite_aspect = margins > 0
        lite_combined = aspect_margins(test, weights, scale, key=COMBINED) > 0
        length = length_correct(pairs)
        aspect = pairs[0].aspect.value
        rows.append({"subset": name, "aspect": aspect, "pairs": len(pairs), "l2": l2, "transfer": transfer,
                     "lite_aspect": float(lite_aspect.mean()), "lite_combined": float(lite_combined.mean()),
                     "lite_ties": float((margins == 0).mean()),
                     "length": float(length.mean()),
                     "languages": sorted({p.language.value for p in pairs})})
        for key, values in (("lite_aspect", lite_aspect), ("lite_combined", lite_combined), ("length", length)):
            pooled[aspect][key].extend(values.tolist())
        console.print(f"held out {name}: lite {lite_aspect.mean():.3f} (combined {lite_combined.mean():.3f}) "
                      f"length {length.mean():.3f}  l2={l2:g} transfer={transfer:g}")

    aspects = []
    for aspect in [a.value for a in CODE_ASPECTS if a.value in pooled]:
        values = pooled[aspect]
        lite, comb, length = (float(np.mean(values[k])) for k in ("lite_aspect", "lite_combined", "length"))
        target = ABSOLUTE_TARGETS.get(aspect)
        aspects.append({"aspect": aspect, "pairs": len(values["length"]), "lite_aspect": lite,
                        "lite_combined": comb, "length": length, "delta": lite - length,
                        "beats_length_by_10": lite - length >= TARGET_MARGIN - 1e-12,
                        "absolute_target": target, "meets_absolute": None if target is None else lite >= target})

    _print(console, rows, aspects)
    record = {"feature_version": FEATURE_VERSION, "config": {"l2": args.l2, "transfer": args.transfer},
              "data": str(args.data), "subsets": rows, "aspects": aspects,
              "feature_seconds": round(feature_seconds, 1), "pairs": len(everything), "python": platform.python_version()}
    if args.json:
        args.json.write_text(json.dumps(record, indent=1) + "\n")
    if not args.no_doc:
        _write_doc(args.doc, rows, aspects, record)
        console.print(f"wrote {args.doc}")
    return 0


def _shown(path: str) -> str:
    """The data folder as the command line would name it from the repository root."""
    try:
        return os.path.relpath(path, ROOT)
    except ValueError:
        return path


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _print(console: Console, rows: list[dict], aspects: list[dict]) -> None:
    table = Table(title="lite, leave-one-subset-out (accuracy %, ties wrong)")
    for column in ("held-out subset", "aspect", "pairs", "lite (aspect)", "lite (combined)", "length", "Δ vs length"):
        table.add_column(column, justify="right" if column not in ("held-out subset", "aspect") else "left")
    for row in rows:
        table.add_row(row["subset"], row["aspect"], str(row["pairs"]), _pct(row["lite_aspect"]),
                      _pct(row["lite_combined"]), _pct(row["length"]), f"{100 * (row['lite_aspect'] - row['length']):+.1f}")
    console.print(table)
    table = Table(title="per aspect, pooled over held-out subsets")
    for column in ("aspect", "pairs", "lite (aspect)", "lite (combined)", "length", "Δ", "≥ length+10", "absolute"):
        table.add_column(column)
    for row in aspects:
        absolute = "" if row["absolute_target"] is None else \
            f"{'met' if row['meets_absolute'] else 'missed'} (≥{_pct(row['absolute_target'])})"
        table.add_row(row["aspect"], str(row["pairs"]), _pct(row["lite_aspect"]), _pct(row["lite_combined"]),
                      _pct(row["length"]), f"{100 * row['delta']:+.1f}", "yes" if row["beats_length_by_10"] else "no",
                      absolute)
    console.print(table)


def _options(record: dict) -> str:
    """The command-line options that reproduce `record` (those that differ from the defaults)."""
    shown = [f" --{name} {value:g}" for name, value in record["config"].items() if value is not None]
    if Path(record["data"]).resolve() != DEFAULT_DATA.resolve():
        shown.append(f" --data {_shown(record['data'])}")
    return "".join(shown)


def _write_doc(path: Path, rows: list[dict], aspects: list[dict], record: dict) -> None:
    """Rewrite the generated section of docs/lite.md between its markers, keeping the prose around it."""
    begin, end = "<!-- loso:begin -->", "<!-- loso:end -->"
    lines = [begin, "", "Command (from the repository root):", "", "```bash",
             "python benchmarks/lite_loso.py" + _options(record),
             "```", "",
             f"Data: `{_shown(record['data'])}` ({record['pairs']} pairs, {len(rows)} subsets); "
             f"feature set `{record['feature_version']}`. Accuracy in %, ties count as wrong.", "",
             "| held-out subset | aspect | languages | pairs | lite (aspect) | lite (combined) | length | Δ vs length | lite ties | L2 | transfer |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['subset']} | {row['aspect']} | {', '.join(row['languages'])} | {row['pairs']} | "
                     f"{_pct(row['lite_aspect'])} | {_pct(row['lite_combined'])} | {_pct(row['length'])} | "
                     f"{100 * (row['lite_aspect'] - row['length']):+.1f} | {_pct(row['lite_ties'])} | {row['l2']:g} | "
                     f"{row['transfer']:g} |")
    lines += ["", "| aspect (pooled held-out) | pairs | lite (aspect) | lite (combined) | length | Δ | target ≥ length + 10 | absolute target |",
              "|---|---:|---:|---:|---:|---:|---|---|"]
    for row in aspects:
        absolute = "—"
        if row["absolute_target"] is not None:
            shortfall = 100 * (row["absolute_target"] - row["lite_aspect"])
            absolute = f"≥ {_pct(row['absolute_target'])}: " + ("met" if row["meets_absolute"] else f"missed by {shortfall:.1f}")
        gap = "met" if row["beats_length_by_10"] else f"missed by {100 * (0.10 - row['delta']):.1f}"
        lines.append(f"| {row['aspect']} | {row['pairs']} | {_pct(row['lite_aspect'])} | {_pct(row['lite_combined'])} | "
                     f"{_pct(row['length'])} | {100 * row['delta']:+.1f} | {gap} | {absolute} |")
    lines += ["", end]
    block = "\n".join(lines)
    text = path.read_text(encoding="utf-8") if path.exists() else f"# lite\n\n{begin}\n{end}\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
