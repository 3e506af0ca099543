"""Mine preference pairs from git history: the whole recipe, top to bottom.

    themis mine ~/src/repos --out mined --workers 8
    # or: from themis_rm.mining import MineConfig, mine; mine(MineConfig(repos=[...], out="mined"))

1. find the repositories; read each one's licence, dominant C-family language and commit list
2. cut the commit lists into shards and extract candidates from each (commits.extract_shard),
   in this process, a process pool or Ray; finished shards are checkpointed under
   OUT/.cache/shards, so a rerun over the same history only does new work
3. quality gates over all candidates, oldest first: decontamination, exact and near
   duplicates, then (optional) an LLM-written prompt and LLM A/B votes, both cached
4. splits by time window and/or repository, rows in the training schema, the report

Every commit that goes in comes out either as a pair or as one count under one named reason.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from themis_rm import __version__
from themis_rm.mining import commits, dedup, repos, split, terms
from themis_rm.mining.config import EXTRACTION_FIELDS, MineConfig
from themis_rm.mining.decontam import Contamination
from themis_rm.mining.engine import run_shards
from themis_rm.mining.prompt import code_lines, leaks, llm_messages
from themis_rm.mining.report import aspect_language_table, print_report, stage_table
from themis_rm.mining.vote import Cache, ChatClient, VotePair, ask, request_key, vote_pairs
from themis_rm.schema import Aspect, Language

# Stages over pairs, after the per-commit stages of commits.STAGES.
PAIR_STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("decontamination", ("contaminated",)),
    ("dedup", ("exact_duplicate", "near_duplicate")),
    ("vote", ("vote_rejected", "vote_failed")),
)
ASPECT_CODES = {Aspect.FUNCTIONAL_CORRECTNESS: "fc", Aspect.RUNTIME_EFFICIENCY: "rt",
                Aspect.MEMORY_EFFICIENCY: "mem", Aspect.READABILITY_MAINTAINABILITY: "rd",
                Aspect.SECURITY_HARDNESS: "sec"}


@dataclass
class MineResult:
    rows: list[dict[str, Any]]
    report: dict[str, Any]
    out: Path


def mine(config: MineConfig, client: ChatClient | None = None, console: Any = None) -> MineResult:
    """Run the recipe. `client` replaces the LLM client built from the config; `console` (a rich
    Console) receives the summary tables. The progress bar, when on, goes to stderr."""
    started = time.perf_counter()
    out = Path(config.out)
    windows = split.parse_windows(config.time_split)
    how = split.mode(config.split, windows)
    fractions = split.parse_fractions(config.split_fractions)
    for name in config.languages:
        Language.parse(name)
    term_table = terms.load_terms(config.terms) if config.terms else None
    labeller = terms.get_labeller(config.labeller, **({"terms": term_table} if term_table else {}))
    contamination = Contamination.from_files(config.decontam, config.decontam_ngram) if config.decontam else None
    if (config.vote or config.prompt == "llm") and client is None and not (config.llm_base_url and config.llm_model):
        raise ValueError("--vote and --prompt llm need --llm-base-url and --llm-model")
    out.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []

    # 1. repositories
    git_dirs, repo_counts, problems = repos.discover(config.repos)
    errors.extend(problems)
    if not git_dirs:
        raise ValueError("no git repository found in " + ", ".join(config.repos) +
                         (f" ({problems[0]})" if problems else ""))
    names: set[str] = set()
    plans = []
    for git_dir in git_dirs:
        name = repos.repo_name(git_dir, names)
        names.add(name)
        plans.append(repos.plan_repo(git_dir, name, config.max_commits_per_repo, config.licenses))
    status = Counter(plan.status for plan in plans)
    errors.extend(f"{plan.name}: {plan.status} {plan.message}".strip() for plan in plans if plan.message)
    by_name = {plan.name: plan for plan in plans}

    # 2. candidates, shard by shard
    tasks = _shard_tasks(plans, config, term_table, labeller.fingerprint())
    shard_dir = out / ".cache" / "shards"
    results, cached = [], 0
    todo = []
    for task in tasks:
        stored = _load_shard(shard_dir, task.key)
        if stored is None:
            todo.append(task)
        else:
            results.append(stored)
            cached += 1
    extract_started = time.perf_counter()
    with _progress(config.progress, sum(len(t.commits) for t in todo)) as advance:
        for result in run_shards(todo, config.engine, config.workers, config.ray_address):
            if result.complete:
                _save_shard(shard_dir, result)
            results.append(result)
            advance(result.commits)
    drops: Counter[str] = Counter()
    notes: Counter[str] = Counter()
    candidates: list[dict[str, Any]] = []
    for result in results:
        drops.update(result.drops)
        notes.update(result.notes)
        errors.extend(result.errors)
        for item in result.candidates:
            plan = by_name[result.repo_name]
            candidates.append({**item, "repo": plan.name, "license": plan.licence})
    candidates.sort(key=lambda c: (c["time"], c["repo"], c["commit"]))
    extract_wall = time.perf_counter() - extract_started
    walked = sum(result.commits for result in results)
    extracted = sum(len(task.commits) for task in todo)

    # 3. quality gates over pairs
    if contamination is not None:
        candidates = _keep(candidates, drops, lambda c: "contaminated" if contamination.hits(
            c["prompt"], c["chosen"], c["rejected"]) else None)
    if config.dedup:
        dropped = dedup.deduplicate(
            (dedup.Item(_key(c), c["content_hash"], c["signature"]) for c in candidates),
            config.dedup_threshold, config.num_perm)
        candidates = _keep(candidates, drops, lambda c: dropped.get(_key(c), (None,))[0])
    llm_stats: dict[str, int] = {}
    if config.prompt == "llm" or config.vote:
        verdicts, llm_stats = asyncio.run(_llm_steps(candidates, config, client, out))
        if config.vote:
            candidates = _keep(candidates, drops, lambda c: _vote_drop(verdicts[_key(c)].decision(config.vote_k)))
            for c in candidates:
                c["votes"] = verdicts[_key(c)]

    # 4. splits and rows
    pair_counts = Counter(c["repo"] for c in candidates)
    by_repo = split.repo_splits(pair_counts, fractions, config.seed) if how in ("repo", "repo+time") else {}
    rows = [row for c in candidates for row in _rows(c, config, split.assign(c["time"], c["repo"], how, windows,
                                                                              by_repo))]
    outputs = _write_outputs(rows, out, config.format)
    seconds = time.perf_counter() - started
    report = {
        "themis_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(seconds, 3),
        "config": config.as_dict(),
        "repositories": {"found": len(plans), "mined": status.get("ok", 0), "status": dict(status),
                         "discovery": dict(repo_counts), "list": [plan.summary() for plan in plans]},
        "commits": {"walked": walked, "extracted_now": extracted, "from_checkpoint": walked - extracted,
                    "extraction_wall_seconds": round(extract_wall, 3),
                    "per_second": round(extracted / extract_wall, 1) if extracted and extract_wall > 0 else None,
                    "shards": len(tasks), "shards_from_checkpoint": cached,
                    "shard_seconds_total": round(sum(r.seconds for r in results), 3)},
        "stages": stage_table(walked, drops, (*commits.STAGES, *PAIR_STAGES)),
        "drop_reasons": dict(sorted(drops.items(), key=lambda kv: (-kv[1], kv[0]))),
        "notes": dict(sorted(notes.items())),
        "llm": llm_stats,
        "pairs": {"kept": len(candidates), "rows": len(rows), "split_mode": how,
                  "repo_splits": by_repo, "by_split": dict(sorted(Counter(r["split"] for r in rows).items())),
                  "by_aspect_language": aspect_language_table(rows),
                  "by_window": dict(Counter(c["window"] for c in candidates))},
        "decontamination": None if contamination is None else {"ngram": contamination.n,
                                                               "files": contamination.files},
        "outputs": outputs,
        "errors": errors,
    }
    (out / "mining_report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    if console is not None:
        print_report(report, console)
    return MineResult(rows, report, out)


# ---------------------------------------------------------------- shards and checkpoints

def _shard_tasks(plans: list[repos.RepoPlan], config: MineConfig, term_table: Any,
                 labeller_fingerprint: str) -> list[commits.ShardTask]:
    settings = {name: getattr(config, name) for name in EXTRACTION_FIELDS}
    table = None if term_table is None else {a.value: list(t) for a, t in term_table.items()}
    base = config.digest(EXTRACTION_FIELDS) + labeller_fingerprint
    tasks = []
    for plan in plans:
        if plan.status != "ok":
            continue
        for start in range(0, len(plan.commits), config.shard_size):
            ids = tuple(plan.commits[start:start + config.shard_size])
            budget = None if config.repo_time_budget_s is None else \
                config.repo_time_budget_s * len(ids) / max(len(plan.commits), 1)
            key = hashlib.sha256("\x00".join((base, plan.name, plan.dominant or "", *plan.shallow, *ids))
                                 .encode()).hexdigest()[:24]
            tasks.append(commits.ShardTask(plan.path, plan.name, plan.dominant, tuple(plan.shallow), ids, settings,
                                           table, budget, key))
    return tasks


def _load_shard(directory: Path, key: str) -> commits.ShardResult | None:
    path = directory / f"{key}.json.gz"
    if not path.is_file():
        return None
    try:
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return commits.ShardResult.from_json(json.load(handle))
    except (OSError, ValueError, KeyError, EOFError):
        return None  # a damaged checkpoint is redone, not trusted


def _save_shard(directory: Path, result: commits.ShardResult) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f"{result.key}.json.gz.partial"
    with gzip.open(partial, "wt", encoding="utf-8") as handle:
        json.dump(result.to_json(), handle)
    os.replace(partial, directory / f"{result.key}.json.gz")


class _progress:
    """A rich bar over commits, or nothing."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled and total > 0, total

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("mining commits"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=Console(stderr=True), transient=False)
        self.bar.__enter__()
        task = self.bar.add_task("commits", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.bar.__exit__(*exc)


# ---------------------------------------------------------------- pair gates

def _key(candidate: dict[str, Any]) -> str:
    return f"{candidate['repo']}\x00{candidate['commit']}"


def _keep(candidates: list[dict[str, Any]], drops: Counter[str],
          reason_of: Callable[[dict[str, Any]], str | None]) -> list[dict[str, Any]]:
    kept = []
    for candidate in candidates:
        reason = reason_of(candidate)
        if reason is None:
            kept.append(candidate)
        else:
            drops[reason] += 1
    return kept


def _vote_drop(decision: str) -> str | None:
    return None if decision == "keep" else decision


async def _llm_steps(candidates: list[dict[str, Any]], config: MineConfig, client: ChatClient | None,
                     out: Path) -> tuple[dict[str, Any], dict[str, int]]:
    """The optional LLM prompt writer and A/B vote, sharing one client and one answer cache."""
    owned = None
    retries = config.vote_retries
    if client is None:
        owned = client = _shared_client(config)
        retries = 0  # the shared client already retries (with backoff) up to vote_retries times
    cache = Cache(out / ".cache" / "llm.sqlite")
    stats: Counter[str] = Counter()
    verdicts: dict[str, Any] = {}
    try:
        if config.prompt == "llm":
            await _llm_prompts(candidates, config, client, cache, stats, retries)
        if config.vote:
            pairs = [VotePair(_key(c), c["prompt"], Language(c["language"]).fenced(c["chosen"]),
                              Language(c["language"]).fenced(c["rejected"]), _primary(c)) for c in candidates]
            verdicts, vote_stats = await vote_pairs(pairs, client, cache, n=config.vote_n, retries=retries,
                                                    seed=config.seed, model=config.llm_model,
                                                    concurrency=config.llm_concurrency,
                                                    params={"temperature": 0.7, "max_tokens": 512})
            stats.update(vote_stats.counts)
    finally:
        cache.close()
        if owned is not None:
            await owned.aclose()
    return verdicts, dict(sorted(stats.items()))


async def _llm_prompts(candidates: list[dict[str, Any]], config: MineConfig, client: ChatClient, cache: Cache,
                       stats: Counter[str], retries: int) -> None:
    gate = asyncio.Semaphore(config.llm_concurrency)
    params = {"temperature": 0.0, "max_tokens": 300}

    async def one(candidate: dict[str, Any]) -> None:
        messages = llm_messages(candidate["subject"], candidate["body"], candidate["path"],
                                Language(candidate["language"]), candidate["symbol"])
        key = request_key("prompt", config.llm_model, messages, params)
        text = cache.get(key)
        if text is None:
            async with gate:
                text = await ask(client, messages, params, retries, stats, "prompt")
            if text is None:
                stats["prompt_fallback_failed"] += 1
                return
            cache.put(key, text)
        else:
            stats["prompt_cached"] += 1
        text = text.strip()
        if not text or leaks(text, code_lines(candidate["chosen"], candidate["rejected"])):
            stats["prompt_fallback_leak_or_empty"] += 1
            return
        candidate["prompt"] = text
        stats["prompt_written"] += 1

    await asyncio.gather(*(one(c) for c in candidates))


def _shared_client(config: MineConfig) -> ChatClient:
    from themis_rm.llm import ChatClient as SharedClient
    from themis_rm.llm import ChatRequest, ClientConfig

    api_key = os.environ.get(config.llm_api_key_env)
    shared = SharedClient(ClientConfig(base_url=config.llm_base_url or "", model=config.llm_model or "",
                                       api_key=api_key, concurrency=config.llm_concurrency,
                                       max_retries=config.vote_retries))

    class Adapter:
        async def chat(self, messages: list[dict[str, str]], **params: Any) -> str:
            return (await shared.complete(ChatRequest.of(messages, **params))).text

        async def aclose(self) -> None:
            await shared.aclose()

    return Adapter()


# ---------------------------------------------------------------- rows and files

def _primary(candidate: dict[str, Any]) -> Aspect:
    return terms.primary_aspect({Aspect(a): t for a, t in candidate["labels"].items()})


def _rows(candidate: dict[str, Any], config: MineConfig, split_name: str) -> Iterable[dict[str, Any]]:
    language = Language(candidate["language"])
    labels = {Aspect(a): t for a, t in candidate["labels"].items()}
    ordered = [a for a in terms.PRIORITY if a in labels]
    chosen_aspects = ordered if config.labels == "all" else ordered[:1]
    when = datetime.fromtimestamp(candidate["time"], timezone.utc).isoformat(timespec="seconds")
    for aspect in chosen_aspects:
        row = {
            "id": f"{candidate['repo']}-{candidate['commit'][:12]}-{ASPECT_CODES[aspect]}",
            "prompt": candidate["prompt"],
            "chosen": language.fenced(candidate["chosen"]),
            "rejected": language.fenced(candidate["rejected"]),
            "aspect": aspect.value,
            "language": language.value,
            "subset": config.subset,
            "split": split_name,
            "repo": candidate["repo"],
            "commit": candidate["commit"],
            "path": candidate["path"],
            "time": when,
            "license": candidate["license"],
            "matched_terms": list(labels[aspect]),
            "aspects": [a.value for a in ordered],
            "symbol": candidate["symbol"],
            "window": candidate["window"],
        }
        if "votes" in candidate:
            row["votes_agree"] = candidate["votes"].agree
            row["votes_total"] = config.vote_n
        yield row


def _write_outputs(rows: list[dict[str, Any]], out: Path, fmt: str) -> dict[str, Any]:
    from themis_rm.data import write_pairs

    suffix = ".parquet" if fmt == "parquet" else ".jsonl"
    outputs: dict[str, Any] = {"pairs": str(out / f"pairs{suffix}"), "splits": {}}
    write_pairs(rows, out / f"pairs{suffix}")
    split_dir = out / "splits"
    if split_dir.is_dir():  # a rerun may have fewer splits; stale files would mislead
        for old in split_dir.glob(f"*{suffix}"):
            old.unlink()
    for name in sorted({row["split"] for row in rows}):
        path = split_dir / f"{name}{suffix}"
        write_pairs([row for row in rows if row["split"] == name], path)
        outputs["splits"][name] = str(path)
    return outputs
