"""`themis eval`: score preference pairs with a reward model and write a run folder."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from themis_rm.cli.errors import user_errors
from themis_rm.criteria import PromptMode

SCORER_HELP = "Scorer spec: lite, lite:WEIGHTS.json, length, random, hf:MODEL, judge:MODEL@BASE_URL, or a plug-in name."


class Ties(str, Enum):
    wrong = "wrong"
    half = "half"


class OnInvalid(str, Enum):
    error = "error"
    skip = "skip"


def eval_command(
    data: Annotated[str, typer.Option(help="Pairs: builtin, a .jsonl/.parquet file, a directory, a saved dataset or a hub id.")] = "builtin",
    scorer: Annotated[str, typer.Option(help=SCORER_HELP)] = "lite",
    prompt_mode: Annotated[PromptMode | None, typer.Option(help="Criteria system prompt: none, full (all criteria) or aspect (the pair's own). Default: the scorer's own (aspect for lite, none for the others).")] = None,
    criteria: Annotated[Path | None, typer.Option(help="YAML file that replaces the criteria texts.")] = None,
    out: Annotated[Path | None, typer.Option(help="Run folder (default: a new folder under ./runs/); an existing one resumes.")] = None,
    limit: Annotated[int | None, typer.Option(help="Score a seeded random sample of this many pairs.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for --limit sampling, bootstrap intervals and seeded scorers.")] = 0,
    ties: Annotated[Ties, typer.Option(help="A tie counts as wrong (as the published runs) or as half.")] = Ties.wrong,
    on_invalid: Annotated[OnInvalid, typer.Option(help="Stop on the first invalid rows, or skip and count them.")] = OnInvalid.error,
    chunk_size: Annotated[int | None, typer.Option(help="Requests per engine chunk (cache commit and progress granularity).")] = None,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples for the 95% intervals.")] = 1000,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    # hf: options of the `hf:` scorer
    max_length: Annotated[int | None, typer.Option(help="[hf] Maximum tokens per sequence.", rich_help_panel="hf scorer")] = None,
    truncation: Annotated[str | None, typer.Option(help="[hf] response | error | drop.", rich_help_panel="hf scorer")] = None,
    dtype: Annotated[str | None, typer.Option(help="[hf] auto | bfloat16 | float16 | float32.", rich_help_panel="hf scorer")] = None,
    device: Annotated[str | None, typer.Option(help="[hf] cpu, cuda, cuda:1, mps ...", rich_help_panel="hf scorer")] = None,
    batch_tokens: Annotated[int | None, typer.Option(help="[hf] Token budget per forward pass.", rich_help_panel="hf scorer")] = None,
    chat_format: Annotated[str | None, typer.Option(help="[hf] template (default) | plain.", rich_help_panel="hf scorer")] = None,
    head: Annotated[str | None, typer.Option(help="[hf] Reward-head adapter (default: sequence classification).", rich_help_panel="hf scorer")] = None,
    trust_remote_code: Annotated[bool | None, typer.Option("--trust-remote-code", help="[hf] Run the model repository's own code.", rich_help_panel="hf scorer")] = None,
    attn_implementation: Annotated[str | None, typer.Option(help="[hf] sdpa, eager, flash_attention_2 ... (default: the fastest verified).", rich_help_panel="hf scorer")] = None,
    layout: Annotated[str | None, typer.Option(help="[hf] auto | packed | padded batches.", rich_help_panel="hf scorer")] = None,
    padding_side: Annotated[str | None, typer.Option(help="[hf] left | right (padded layout).", rich_help_panel="hf scorer")] = None,
    last_layer: Annotated[str | None, typer.Option(help="[hf] auto (only at the read slots, where verified) | full.", rich_help_panel="hf scorer")] = None,
    cpu_linear: Annotated[str | None, typer.Option(help="[hf] auto | onednn | torch: float32 linear kernel on CPU.", rich_help_panel="hf scorer")] = None,
    revision: Annotated[str | None, typer.Option(help="[hf] Hub revision (branch, tag or commit).", rich_help_panel="hf scorer")] = None,
    # judge: options of the `judge:` scorer
    judge_protocol: Annotated[str | None, typer.Option(help="[judge] rating | yesno | pairwise.", rich_help_panel="judge scorer")] = None,
    temperature: Annotated[float | None, typer.Option(help="[judge] Sampling temperature.", rich_help_panel="judge scorer")] = None,
    judge_seed: Annotated[int | None, typer.Option(help="[judge] Seed sent to the server.", rich_help_panel="judge scorer")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="[judge] Maximum generated tokens.", rich_help_panel="judge scorer")] = None,
    samples: Annotated[int | None, typer.Option(help="[judge] Samples per request (scores averaged).", rich_help_panel="judge scorer")] = None,
    concurrency: Annotated[int | None, typer.Option(help="[judge] Requests in flight at once.", rich_help_panel="judge scorer")] = None,
    api_key_env: Annotated[str | None, typer.Option(help="[judge] Environment variable that holds the API key.", rich_help_panel="judge scorer")] = None,
    timeout: Annotated[float | None, typer.Option(help="[judge] Seconds per request.", rich_help_panel="judge scorer")] = None,
) -> None:
    """Score preference pairs and write results.json, scores.parquet and a manifest.

    With no arguments: the bundled benchmark, scored by the CPU `lite` scorer.
    """
    from themis_rm.data import DataError
    from themis_rm.evaluation.run import EvalConfig, evaluate
    from themis_rm.evaluation.summary import print_summary
    from themis_rm.scoring.base import ScorerError
    from themis_rm.scoring.distributed import Shard

    scorer_options = {
        "max_length": max_length, "truncation": truncation, "dtype": dtype, "device": device,
        "batch_tokens": batch_tokens, "chat_format": chat_format, "head": head,
        "trust_remote_code": trust_remote_code, "attn_implementation": attn_implementation, "layout": layout,
        "padding_side": padding_side, "revision": revision, "last_layer": last_layer, "cpu_linear": cpu_linear,
        "judge_protocol": judge_protocol, "temperature": temperature,
        "judge_seed": judge_seed, "max_tokens": max_tokens, "samples": samples, "concurrency": concurrency,
        "api_key_env": api_key_env, "timeout": timeout,
    }
    with user_errors(DataError, ScorerError, ValueError, FileNotFoundError):
        config = EvalConfig(
            data=data, scorer=scorer, prompt_mode=prompt_mode.value if prompt_mode else None, criteria=str(criteria) if criteria else None,
            out=str(out) if out else None, limit=limit, seed=seed, ties=ties.value, on_invalid=on_invalid.value,
            chunk_size=chunk_size, resamples=resamples, progress=progress,
            scorer_options={k: v for k, v in scorer_options.items() if v is not None},
        )
        result = evaluate(config)
    if Shard.from_env().is_main:  # under accelerate launch only rank 0 writes and reports
        print_summary(result.results, result.out_dir)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
