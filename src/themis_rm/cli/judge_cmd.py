"""`themis judge`: check a judge server before a long run, and re-parse a judge run without the server.

    themis judge check judge:Qwen/Qwen3-8B@http://127.0.0.1:8000/v1 --judge-protocol yesno
    themis judge reparse runs/qwen3-judge --out runs/qwen3-judge-reparsed
"""

from __future__ import annotations

import gzip
import json
import math
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from themis_rm.cli.errors import UserError, user_errors

judge_app = typer.Typer(help="Generative judges: check a server, re-parse stored outputs.", no_args_is_help=True)


@judge_app.command("check")
def check(
    spec: Annotated[str, typer.Argument(help="judge:MODEL@BASE_URL[#API_KEY_ENV]")],
    judge_protocol: Annotated[str, typer.Option(help="rating | yesno | pairwise.")] = "rating",
    api_key_env: Annotated[str | None, typer.Option(help="Environment variable that holds the API key.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the answer.")] = 60.0,
) -> None:
    """Ask the judge one small question and show what came back and how it parsed."""
    from themis_rm.schema import Aspect, Language, PairRequest, ScoreRequest
    from themis_rm.scoring.base import ScorerError, load_scorer

    name, _, _ = spec.partition(":")
    if name != "judge":
        raise UserError(f"expected a judge spec (judge:MODEL@BASE_URL), got {spec!r}")
    options = {"judge_protocol": judge_protocol, "api_key_env": api_key_env, "timeout": timeout,
               "concurrency": 1}
    with user_errors(ScorerError):
        scorer = load_scorer(spec, options)
        prompt, good = "Write a Python function that returns the larger of two numbers.", "def larger(a, b):\n    return a if a >= b else b\n"
        started = time.perf_counter()
        try:
            if scorer.kind == "pairwise":
                bad = "def larger(a, b):\n    return a\n"
                request = PairRequest(None, prompt, good, bad, Aspect.FUNCTIONAL_CORRECTNESS, Language.PYTHON, "none")
                scored = scorer.compare([request])[0][0]  # type: ignore[attr-defined]
            else:
                request = ScoreRequest(None, prompt, good, Aspect.FUNCTIONAL_CORRECTNESS, Language.PYTHON, "none")
                scored = scorer.score([request])[0]  # type: ignore[attr-defined]
            stats = scorer.stats()
        finally:
            scorer.close()
    seconds = time.perf_counter() - started
    detail = scored.detail or {}
    for view, samples in detail.get("views", {}).items():
        for sample in samples:
            typer.echo(f"[{view}] finish={sample.get('finish')} parse={sample.get('parse_path')} value={sample.get('value')}")
            typer.echo("  " + str(sample.get("raw") or sample.get("error") or "").strip().replace("\n", "\n  ")[:2000])
    typer.echo(
        f"score {scored.value:g}; flags {detail.get('flags') or 'none'}; {seconds:.2f}s; "
        f"{stats.get('tokens', 0)} tokens"
    )


@judge_app.command("reparse")
def reparse_run(
    run: Annotated[Path, typer.Argument(help="A run folder written by `themis eval` with a judge scorer.")],
    out: Annotated[Path | None, typer.Option(help="Where to write the re-parsed run (default: RUN-reparsed).")] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples for the 95% intervals.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed for the bootstrap.")] = 0,
) -> None:
    """Re-read the stored judge outputs with the current extraction rules; no request is sent."""
    from themis_rm.evaluation.metrics import summarize
    from themis_rm.evaluation.run import write_run
    from themis_rm.evaluation.runs import RunError, load_run

    with user_errors(RunError):
        loaded = load_run(run)
        details = _read_details(run)
        frame, changed = _rescore(loaded.scores, details, run)
        stored = loaded.stored or {}
        ties = stored.get("tie_policy", "wrong")
        results = summarize(frame, ties=ties, resamples=resamples, seed=seed)
        results["manifest"] = {**stored.get("manifest", {}), "reparsed_from": str(run.resolve()),
                               "reparsed_rows_changed": changed}
    target = out or run.with_name(run.name + "-reparsed")
    if target.resolve() == run.resolve():
        raise UserError("--out must differ from the run folder: the original run is kept as it was")
    target.mkdir(parents=True, exist_ok=True)
    write_run(target, frame, results, list(details.values()))
    overall = results["overall"]
    typer.echo(
        f"re-parsed {len(frame)} pairs ({changed} changed): accuracy {overall.get('accuracy')}, "
        f"valid only {overall.get('accuracy_valid_only')}; wrote {target}"
    )


def _read_details(run: Path) -> dict[str, dict[str, Any]]:
    path = run / "details.jsonl.gz"
    if not path.is_file():
        raise UserError(f"{run}: no details.jsonl.gz, so there are no stored judge outputs to re-parse")
    rows: dict[str, dict[str, Any]] = {}
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise UserError(f"{path}:{number}: invalid JSON: {err.msg}") from None
            rows[str(row["id"])] = row
    return rows


def _rescore(scores: Any, details: dict[str, dict[str, Any]], run: Path) -> tuple[Any, int]:
    """The score table with scores, correctness and flag columns rebuilt from the re-parsed outputs."""
    from themis_rm.evaluation.run import fill_flags, flag_columns, flag_values
    from themis_rm.scoring.judge import is_judge_detail, reparse

    frame = scores.copy()
    frame[flag_columns(frame)] = False
    changed = 0
    for pair_id in frame.index:
        row = details.get(str(pair_id))
        if row is None or not is_judge_detail(row.get("chosen")):
            raise UserError(f"{run}: pair {pair_id} has no stored judge output; was this run scored by a judge?")
        pairwise = row["chosen"]["protocol"] == "pairwise"
        if pairwise:
            chosen, rejected = reparse(row["chosen"])  # type: ignore[misc]
            row["chosen"] = chosen.detail
        else:
            if not is_judge_detail(row.get("rejected")):
                raise UserError(f"{run}: pair {pair_id} has no stored judge output for its rejected response")
            chosen, rejected = reparse(row["chosen"]), reparse(row["rejected"])  # type: ignore[assignment]
            row["chosen"], row["rejected"] = chosen.detail, rejected.detail
        old = (frame.at[pair_id, "chosen_score"], frame.at[pair_id, "rejected_score"])
        if not all(_same(a, b) for a, b in zip(old, (chosen.value, rejected.value))):
            changed += 1
        frame.at[pair_id, "chosen_score"], frame.at[pair_id, "rejected_score"] = chosen.value, rejected.value
        frame.at[pair_id, "correct"] = bool(chosen.value > rejected.value)
        frame.at[pair_id, "score_diff"] = chosen.value - rejected.value
        for column, on in flag_values(chosen, rejected, pairwise).items():
            frame.at[pair_id, column] = on
    return fill_flags(frame), changed


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def register(app: typer.Typer) -> None:
    app.add_typer(judge_app, name="judge")
