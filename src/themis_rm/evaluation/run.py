"""`evaluate`: pairs + scorer → scores.parquet + results.json, resumable.

The recipe, top to bottom: read and validate every pair; build one score request per side
(with the criteria prompt of the chosen mode); let the engine score the unique requests
through the on-disk cache; assemble the per-pair table; compute the metrics; write the run.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import platform
import random
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

from themis_rm import __version__
from themis_rm.criteria import PromptMode, load_criteria
from themis_rm.data import PairSet, read_pairs
from themis_rm.evaluation.metrics import TIE_POLICIES, summarize
from themis_rm.schema import PairRequest, PreferencePair, ScoreRequest
from themis_rm.scoring.base import PairwiseScorer, Scored, load_scorer, resolve_scorer
from themis_rm.scoring.cache import ScoreCache
from themis_rm.scoring.distributed import Shard, gather_stats
from themis_rm.scoring.engine import ScoringEngine

SCORE_COLUMNS = ["chosen_score", "rejected_score", "correct", "score_diff", "language", "aspect", "subset"]


@dataclass
class EvalConfig:
    """One evaluation. The same object is the Python API, the `themis eval` flags and the
    `config` block of every run's manifest.

    `limit` takes a seeded random sample of that many pairs (kept in file order); `out`
    defaults to a new folder under `./runs/`; giving an existing run folder resumes it.
    `prompt_mode` None means the scorer's own default (`aspect` for `lite`, `none` otherwise).
    """

    data: str = "builtin"
    scorer: str = "lite"
    prompt_mode: str | None = None
    criteria: str | None = None
    out: str | None = None
    limit: int | None = None
    seed: int = 0
    ties: str = "wrong"
    on_invalid: str = "error"
    chunk_size: int | None = None
    resamples: int = 1000
    scorer_options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True

    def __post_init__(self) -> None:
        if self.prompt_mode is not None:
            PromptMode(self.prompt_mode)
        if self.ties not in TIE_POLICIES:
            raise ValueError(f"ties must be one of {', '.join(TIE_POLICIES)}, got {self.ties!r}")
        if self.limit is not None and self.limit < 1:
            raise ValueError("limit must be >= 1")


@dataclass
class RunResult:
    out_dir: Path
    scores: pd.DataFrame
    results: dict[str, Any]


def default_out_dir(config: EvalConfig, mode: PromptMode) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    label = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in config.scorer.split("@")[0])[-40:]
    return Path("runs") / f"{stamp}-{label}-{mode.value}"


def sample_pairs(pairs: list[PreferencePair], limit: int | None, seed: int) -> list[PreferencePair]:
    if limit is None or limit >= len(pairs):
        return pairs
    keep = set(random.Random(seed).sample(range(len(pairs)), limit))
    return [pair for index, pair in enumerate(pairs) if index in keep]


def prompt_id(pair: PreferencePair) -> str:
    return hashlib.sha1(json.dumps(pair.prompt, sort_keys=True).encode("utf-8")).hexdigest()[:12]


def _flags(scored: Scored) -> dict[str, bool]:
    flags = (scored.detail or {}).get("flags") or {}
    return {name: bool(value) for name, value in flags.items()}


def assemble(pairs: list[PreferencePair], chosen: list[Scored], rejected: list[Scored], pairwise: bool) -> pd.DataFrame:
    """The per-pair table, in the published column order, plus prompt ids and flag columns."""
    rows = []
    for pair, c, r in zip(pairs, chosen, rejected):
        row: dict[str, Any] = {
            "id": pair.id,
            "chosen_score": c.value,
            "rejected_score": r.value,
            "correct": bool(c.value > r.value),
            "score_diff": c.value - r.value,
            "language": pair.language.value,
            "aspect": pair.aspect.value,
            "subset": pair.subset,
            "prompt_id": prompt_id(pair),
        }
        row.update(flag_values(c, r, pairwise))
        rows.append(row)
    return fill_flags(pd.DataFrame(rows).set_index("id"))


def flag_values(chosen: Scored, rejected: Scored, pairwise: bool) -> dict[str, bool]:
    """A pair's flag columns: per side and either side for pointwise scorers, one per flag for pairwise."""
    cf, rf = _flags(chosen), _flags(rejected)
    values: dict[str, bool] = {}
    for name in sorted(set(cf) | set(rf)):
        if pairwise:
            values[name] = cf.get(name, False) or rf.get(name, False)
        else:
            values[f"chosen_{name}"], values[f"rejected_{name}"] = cf.get(name, False), rf.get(name, False)
            values[name] = values[f"chosen_{name}"] or values[f"rejected_{name}"]
    return values


def flag_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in SCORE_COLUMNS and c != "prompt_id"]


def fill_flags(frame: pd.DataFrame) -> pd.DataFrame:
    """Flag columns as booleans: a flag a pair never raised is False."""
    flags = flag_columns(frame)
    frame[flags] = frame[flags].fillna(False).astype(bool)
    return frame


def _package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("themis-rm", "numpy", "pandas", "pyarrow", "tree-sitter", "torch", "transformers", "accelerate", "httpx"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def evaluate(config: EvalConfig) -> RunResult:
    started = datetime.now(timezone.utc)
    pair_set: PairSet = read_pairs(config.data, on_invalid=config.on_invalid)
    pairs = sample_pairs(pair_set.pairs, config.limit, config.seed)
    texts = load_criteria(config.criteria)
    scorer_class = resolve_scorer(config.scorer.partition(":")[0])
    mode = PromptMode(config.prompt_mode or scorer_class.default_prompt_mode)

    shard = Shard.from_env()  # several ranks under `accelerate launch`: each scores a share
    if shard.active and not config.out:
        raise ValueError("give --out under accelerate launch, so that every rank uses the same run folder")
    out_dir = Path(config.out) if config.out else default_out_dir(config, mode)
    out_dir.mkdir(parents=True, exist_ok=True)
    options = dict(config.scorer_options)
    provided_by_run = {"seed": config.seed, "request_cache": str(out_dir / "cache.sqlite")}
    for name, value in provided_by_run.items():  # e.g. a judge keeps each raw answer in the run's cache
        if name in scorer_class.options:
            options.setdefault(name, value)
    scorer = load_scorer(config.scorer, options)
    cache = ScoreCache(out_dir / "cache.sqlite")
    chunk = config.chunk_size or getattr(scorer, "preferred_chunk_size", 256)
    engine = ScoringEngine(scorer, cache, chunk_size=chunk, show_progress=config.progress, shard=shard)
    try:
        systems = [texts.system_prompt(mode, p.aspect) for p in pairs]
        if isinstance(scorer, PairwiseScorer):
            requests = [PairRequest(s, p.prompt, p.chosen, p.rejected, p.aspect, p.language, mode.value)
                        for s, p in zip(systems, pairs)]
            outcomes, stats = engine.run(requests)
            chosen = [o[0] for o in outcomes]  # type: ignore[index]
            rejected = [o[1] for o in outcomes]  # type: ignore[index]
        else:
            requests = []
            for s, p in zip(systems, pairs):
                requests.append(ScoreRequest(s, p.prompt, p.chosen, p.aspect, p.language, mode.value))
                requests.append(ScoreRequest(s, p.prompt, p.rejected, p.aspect, p.language, mode.value))
            outcomes, stats = engine.run(requests)
            chosen, rejected = outcomes[0::2], outcomes[1::2]  # type: ignore[assignment]
        rank_stats = gather_stats(shard, {"engine": stats.as_dict(), "scorer_stats": stats.extra})
    finally:
        cache.close()
        scorer.close()

    frame = assemble(pairs, chosen, rejected, isinstance(scorer, PairwiseScorer))
    results = summarize(frame, ties=config.ties, resamples=config.resamples, seed=config.seed)
    if pair_set.skipped:
        results["skipped_rows"] = {"total": len(pair_set.skipped), "by_reason": pair_set.skipped_by_reason()}
    results["manifest"] = {
        "themis_version": __version__,
        "config": asdict(config) | {"out": str(out_dir)},
        "scorer": {"spec": config.scorer, "kind": scorer.kind, "fingerprint": scorer.fingerprint()},
        "prompt_mode": mode.value,
        "criteria_digest": texts.digest(),
        "data": {"source": config.data, "digest": pair_set.digest(), "pairs_read": len(pair_set.pairs),
                 "pairs_scored": len(pairs), "rows_skipped": len(pair_set.skipped)},
        "seed": config.seed,
        "engine": stats.as_dict(),
        "scorer_stats": stats.extra,
        **({"data_parallel": {"world_size": shard.world, "ranks": rank_stats}} if shard.active else {}),
        "versions": _package_versions(),
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(sys.argv),
    }
    if shard.is_main:  # the other ranks' scores are already in the shared cache
        details = [{"id": p.id, "chosen": c.detail, "rejected": r.detail}
                   for p, c, r in zip(pairs, chosen, rejected) if _has_detail(c) or _has_detail(r)]
        write_run(out_dir, frame, results, details)
    return RunResult(out_dir, frame, results)


def write_run(out_dir: Path, frame: pd.DataFrame, results: dict[str, Any], details: list[dict[str, Any]]) -> None:
    """scores.parquet, results.json and, when any, the per-pair details (e.g. raw judge outputs)."""
    frame.to_parquet(out_dir / "scores.parquet")
    (out_dir / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False, default=str) + "\n")
    if details:
        with gzip.open(out_dir / "details.jsonl.gz", "wt", encoding="utf-8") as handle:
            for row in details:
                handle.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")


def _has_detail(scored: Scored) -> bool:
    return bool(scored.detail) and any(k != "flags" for k in scored.detail)  # flags already live in the table


__all__ = ["EvalConfig", "RunResult", "evaluate"]
