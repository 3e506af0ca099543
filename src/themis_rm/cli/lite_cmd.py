"""`themis lite`: refit the `lite` scorer's weights on your pairs, and explain its verdicts.

    themis lite fit --data pairs.jsonl --out weights.json     # then: themis eval --scorer lite:weights.json
    themis lite explain --data pairs.jsonl --id PAIR_ID
    themis lite explain --chosen a.py --rejected b.py --language python --aspect security
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from themis_rm.cli.errors import UserError, user_errors
from themis_rm.criteria import PromptMode

lite_app = typer.Typer(help="The CPU `lite` scorer: fit its weights on your pairs, explain a verdict.",
                       no_args_is_help=True)


def _read(sources: list[str]) -> list:
    from themis_rm.data import read_pairs

    pairs = []
    for source in sources:
        pairs.extend(read_pairs(source).pairs)
    return pairs


@lite_app.command("fit")
def fit_command(
    data: Annotated[list[str], typer.Option(help="Pairs to fit on (repeatable): a file, a directory or a hub id.")],
    out: Annotated[Path, typer.Option(help="Where to write the weights JSON.")],
    holdout_subset: Annotated[list[str] | None, typer.Option(
        help="Keep this subset out of the fit and report accuracy on it (repeatable).")] = None,
    l2: Annotated[float | None, typer.Option(
        help="L2 strength towards the priors (default: chosen by leave-one-subset-out inside the data).")] = None,
    transfer: Annotated[float | None, typer.Option(
        help="How much of what the combined model learnt each aspect model starts from, 0..1 (default: chosen "
             "like --l2).")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the prompt folds used to choose --l2 when there is one subset.")] = 0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Fit per-aspect and combined weights by logistic regression on feature differences."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from themis_rm.data import DataError
    from themis_rm.scoring.lite.fit import FitConfig, aspect_margins, featurize, fit_model

    console = Console(stderr=True)
    with user_errors(DataError, ValueError):
        if "builtin" in data:
            raise UserError("refusing to fit on `builtin`: the bundled benchmark is kept out of every fit so that it "
                            "stays an independent check of `lite`")
        config = FitConfig(l2=l2, transfer=transfer, seed=seed)
        pairs = _read(data)
        held = set(holdout_subset or ())
        missing = held - {p.subset for p in pairs}
        if missing:
            raise UserError(f"--holdout-subset {', '.join(sorted(missing))}: no such subset in the data")
        train = [p for p in pairs if p.subset not in held]
        test = [p for p in pairs if p.subset in held]
        if not train:
            raise UserError("nothing left to fit on after --holdout-subset")
        with Progress(TextColumn("features"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, disable=not progress, transient=True) as bar:
            task = bar.add_task("", total=len(pairs))
            train_table = featurize(train, progress=lambda n: bar.advance(task, n))
            test_table = featurize(test, progress=lambda n: bar.advance(task, n))
        command = " ".join(["themis lite fit", *(f"--data {shlex.quote(d)}" for d in data), f"--out {shlex.quote(str(out))}",
                            *(f"--holdout-subset {shlex.quote(h)}" for h in sorted(held)),
                            *([f"--l2 {l2:g}"] if l2 is not None else []),
                            *([f"--transfer {transfer:g}"] if transfer is not None else []), f"--seed {seed}"])
        model = fit_model(train_table, config, sources=data,
                          extra_meta={"command": command, "holdout_subsets": sorted(held)})
        heldout = {}
        if test:
            margins = aspect_margins(test_table, model.weights, model.scale)
            length = [len(p.chosen) > len(p.rejected) for p in test]
            heldout = {"pairs": len(test), "lite_accuracy": round(float((margins > 0).mean()), 4),
                       "length_accuracy": round(sum(length) / len(length), 4)}
            model.meta["holdout"] = heldout
        out.parent.mkdir(parents=True, exist_ok=True)
        model.save(out)
    fitted = model.meta["fitted_on"]
    table = Table(title=f"lite fit: {fitted['pairs']} pairs")
    table.add_column("subset")
    table.add_column("pairs", justify="right")
    for subset, n in fitted["subsets"].items():
        table.add_row(subset, str(n))
    Console().print(table)
    chosen = model.meta["config"]
    print(f"L2 {chosen['l2_selected']:g}, transfer {chosen['transfer_selected']:g}; "
          f"training accuracy {100 * model.meta['training_accuracy']:.1f}%")
    if heldout:
        print(f"held out {', '.join(sorted(held))}: lite {100 * heldout['lite_accuracy']:.1f}% "
              f"vs length {100 * heldout['length_accuracy']:.1f}% on {heldout['pairs']} pairs")
    print(f"wrote {out} (use it with --scorer lite:{out})")


@lite_app.command("explain")
def explain_command(
    data: Annotated[str | None, typer.Option(help="Pairs source holding the pair to explain.")] = None,
    id: Annotated[str | None, typer.Option("--id", help="Id of the pair in --data.")] = None,
    chosen: Annotated[Path | None, typer.Option(help="File with the response expected to win.")] = None,
    rejected: Annotated[Path | None, typer.Option(help="File with the other response.")] = None,
    language: Annotated[str | None, typer.Option(help="Language of --chosen/--rejected (default: guessed).")] = None,
    aspect: Annotated[str | None, typer.Option(help="Aspect of --chosen/--rejected.")] = None,
    prompt: Annotated[str, typer.Option(help="The request, for --chosen/--rejected (optional).")] = "",
    weights: Annotated[Path | None, typer.Option(help="Weights JSON (default: the shipped weights).")] = None,
    mode: Annotated[str, typer.Option(help="Prompt mode: aspect (the aspect's model), full or none (combined).")] = "aspect",
    top: Annotated[int, typer.Option(help="How many features to show.")] = 12,
) -> None:
    """Show the features that drove score(chosen) - score(rejected) for one pair."""
    from themis_rm.data import DataError
    from themis_rm.schema import Aspect, Language
    from themis_rm.scoring.base import ScorerError
    from themis_rm.scoring.lite.explain import explain_pair
    from themis_rm.scoring.lite.scorer import load_model

    with user_errors(DataError, ScorerError):
        if mode not in {m.value for m in PromptMode}:
            raise UserError(f"--mode must be aspect, full or none, got {mode!r}")
        model, _ = load_model(str(weights) if weights else None)
        if data is not None:
            if id is None or chosen or rejected:
                raise UserError("with --data, give --id (and not --chosen/--rejected)")
            matches = [p for p in _read([data]) if p.id == id]
            if not matches:
                raise UserError(f"{data}: no pair with id {id!r}")
            pair = matches[0]
            texts = (pair.chosen, pair.rejected)
            lang, asp, request = pair.language, pair.aspect, pair.prompt
        else:
            if chosen is None or rejected is None:
                raise UserError("give --data and --id, or --chosen and --rejected")
            texts = (_read_text(chosen), _read_text(rejected))
            lang = _parse(Language, language, "--language")
            asp = _parse(Aspect, aspect, "--aspect")
            request = prompt
        result = explain_pair(model, texts[0], texts[1], lang, asp, mode=mode, prompt=request)
    console = Console()
    verdict = "chosen wins" if result.margin > 0 else "rejected wins" if result.margin < 0 else "tie"
    console.print(f"weights: {result.weights}   margin score(chosen) - score(rejected) = {result.margin:+.3f}   "
                  f"P(chosen better) = {result.probability:.3f}   ({verdict})")
    table = Table(title=f"top {top} feature contributions")
    for column, justify in (("feature", "left"), ("chosen", "right"), ("rejected", "right"),
                            ("contribution", "right"), ("meaning", "left")):
        table.add_column(column, justify=justify)
    for term in result.top(top):
        style = "green" if term.contribution > 0 else "red"
        table.add_row(term.feature, f"{term.chosen:.3g}", f"{term.rejected:.3g}",
                      f"[{style}]{term.contribution:+.3f}[/{style}]", term.doc)
    console.print(table)
    rest = result.margin - sum(t.contribution for t in result.top(top))
    if abs(rest) > 5e-4:
        console.print(f"other features together: {rest:+.3f}")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise UserError(f"{path}: cannot read: {err.strerror or err}") from None


def _parse(kind, text: str | None, flag: str):
    if text is None:
        return None
    try:
        return kind.parse(text)
    except ValueError as err:
        raise UserError(f"{flag}: {err}") from None


def register(app: typer.Typer) -> None:
    app.add_typer(lite_app, name="lite")
