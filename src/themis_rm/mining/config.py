"""`MineConfig`: the one description of a mining run.

The same dataclass is the Python API (`mine(MineConfig(...))`), the flags of `themis mine`
(one kebab-case flag per field, generated from the help text in each field's metadata), the
YAML accepted by `--config`, and the `config` block written into `mining_report.json`.

Defaults chosen here, and why:

- `labels="primary"`: one row per commit, whose `aspect` is the most specific aspect the
  message matched (security > memory > runtime > correctness > readability); every matched
  aspect is kept in the `aspects` column. `labels="all"` writes one row per matched aspect.
- `split="auto"`: time windows when `--time-split` is given, otherwise repository-disjoint
  splits with `--split-fractions` (train 0.9, benchmark 0.1), balanced greedily by pair count.
- Commit time is the committer time (when the change landed), which is what a
  contamination cut-off needs.
- The near-duplicate threshold (Jaccard 0.85 over 5-token shingles, 128 permutations) keeps
  cherry-picks and fork copies out while leaving distinct fixes to the same function.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from themis_rm.config_fields import choice_problems, known_fields, option
from themis_rm.schema import Language

ALL_LANGUAGES = [language.value for language in Language]


@dataclass
class MineConfig:
    """Every knob of `themis mine`; see the module docstring for the defaults that matter."""

    repos: list[str] = field(default_factory=list, metadata=option(
        "Git repositories (bare or with a work tree), or directories holding many.", argument=True))
    out: str = field(default="mined", metadata=option("Output directory."))

    # commit selection
    since: str | None = field(default=None, metadata=option("Keep commits at or after this date (YYYY[-MM[-DD]])."))
    until: str | None = field(default=None, metadata=option("Keep commits before this date (YYYY[-MM[-DD]])."))
    authors: list[str] = field(default_factory=list, metadata=option(
        "Keep only commits whose author name or e-mail contains one of these (case-insensitive)."))
    exclude_authors: list[str] = field(default_factory=list, metadata=option(
        "Drop commits whose author name or e-mail contains one of these (e.g. 'bot')."))
    languages: list[str] = field(default_factory=lambda: list(ALL_LANGUAGES), metadata=option(
        "Languages to keep (names or aliases)."))
    min_message_chars: int = field(default=10, metadata=option("Shortest commit message kept (characters)."))
    max_message_chars: int = field(default=5000, metadata=option("Longest commit message kept (characters)."))
    max_commits_per_repo: int | None = field(default=None, metadata=option(
        "Walk at most this many commits per repository (newest history last)."))
    repo_time_budget_s: float | None = field(default=3600.0, metadata=option(
        "Seconds of extraction per repository before its remaining commits are skipped (and counted)."))
    max_file_bytes: int = field(default=1_000_000, metadata=option("Skip files larger than this on either side."))

    # aspect labelling
    labeller: str = field(default="terms", metadata=option("Registered labelling step."))
    terms: str | None = field(default=None, metadata=option(
        "YAML/JSON file of {aspect: [terms]} that replaces the built-in term lists."))
    labels: str = field(default="primary", metadata=option(
        "'primary': one row per commit; 'all': one row per matched aspect.", choices=("primary", "all")))

    # pair extraction
    tree_sitter: bool = field(default=True, metadata=option(
        "Cut to the enclosing function or class with tree-sitter (else a window of lines)."))
    context_lines: int = field(default=8, metadata=option("Lines of context around the change in a line window."))
    max_side_chars: int = field(default=6000, metadata=option("Longest side kept (characters)."))
    max_side_tokens: int = field(default=1500, metadata=option("Longest side kept (code tokens)."))
    max_diff_lines: int = field(default=120, metadata=option("Skip commits changing more lines than this."))
    min_tree_depth: int = field(default=5, metadata=option("Drop pairs whose shallower side's syntax tree is below this depth."))

    # licences
    licenses: list[str] = field(default_factory=list, metadata=option(
        "Keep only repositories under these SPDX ids (empty: keep all)."))

    # prompt
    prompt: str = field(default="offline", metadata=option(
        "'offline': built from the commit message; 'llm': an LLM writes the instruction.",
        choices=("offline", "llm")))
    subset: str = field(default="git-commits", metadata=option("Value of the `subset` column."))

    # quality gates
    dedup: bool = field(default=True, metadata=option("MinHash LSH near-duplicate removal."))
    shingle_size: int = field(default=5, metadata=option("Tokens per shingle for MinHash."))
    num_perm: int = field(default=128, metadata=option("MinHash permutations."))
    dedup_threshold: float = field(default=0.85, metadata=option("Jaccard similarity above which pairs are duplicates."))
    decontam: list[str] = field(default_factory=list, metadata=option(
        "Benchmark files (JSONL, Parquet or text); pairs sharing an n-gram with them are dropped."))
    decontam_ngram: int = field(default=13, metadata=option("Word n-gram length for decontamination."))
    vote: bool = field(default=False, metadata=option("LLM A/B judging of each pair."))
    vote_n: int = field(default=3, metadata=option("Votes per pair."))
    vote_k: int = field(default=2, metadata=option("Votes that must agree with the commit direction."))
    vote_retries: int = field(default=2, metadata=option("Retries of a failed LLM call."))
    llm_model: str | None = field(default=None, metadata=option("Model name for --prompt llm and --vote."))
    llm_base_url: str | None = field(default=None, metadata=option("OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1."))
    llm_api_key_env: str = field(default="OPENAI_API_KEY", metadata=option("Environment variable holding the API key."))
    llm_concurrency: int = field(default=8, metadata=option("LLM requests in flight at once."))

    # splits
    split: str = field(default="auto", metadata=option(
        "'repo', 'time', 'repo+time', 'none' or 'auto' (time when --time-split is given, else repo).",
        choices=("auto", "repo", "time", "repo+time", "none")))
    split_fractions: list[str] = field(default_factory=lambda: ["train=0.9", "benchmark=0.1"], metadata=option(
        "Repository-disjoint split targets, NAME=FRACTION."))
    time_split: list[str] = field(default_factory=list, metadata=option(
        "Time windows NAME=START..END (either end may be empty), e.g. train=..2019-03."))
    seed: int = field(default=0, metadata=option("Seed of the split assignment and of the vote order."))

    # engine and output
    engine: str = field(default="process", metadata=option("'process' (one machine) or 'ray'.", choices=("process", "ray")))
    workers: int = field(default=1, metadata=option("Worker processes (process engine) or Ray CPUs."))
    ray_address: str | None = field(default=None, metadata=option("Address of a running Ray cluster (default: local)."))
    shard_size: int = field(default=500, metadata=option("Commits per unit of work (and of checkpointing)."))
    format: str = field(default="jsonl", metadata=option("Output format.", choices=("jsonl", "parquet")))
    progress: bool = field(default=True, metadata=option("Show a progress bar."))

    def __post_init__(self) -> None:
        for name in ("authors", "exclude_authors", "languages", "licenses", "split_fractions", "time_split"):
            setattr(self, name, _split_commas(getattr(self, name)))
        for name in ("repos", "decontam"):  # paths: a comma is a legal character in them
            value = getattr(self, name)
            setattr(self, name, [value] if isinstance(value, str) else [str(v) for v in value or []])
        problems = []
        if self.vote_k > self.vote_n:
            problems.append(f"--vote-k ({self.vote_k}) cannot exceed --vote-n ({self.vote_n})")
        if not 0.0 < self.dedup_threshold <= 1.0:
            problems.append("--dedup-threshold must be in (0, 1]")
        for name in ("shingle_size", "num_perm", "decontam_ngram", "shard_size", "workers", "vote_n"):
            if getattr(self, name) < 1:
                problems.append(f"--{name.replace('_', '-')} must be >= 1")
        problems += choice_problems(self, FIELDS, flag_names=True)
        if problems:
            raise ValueError("; ".join(problems))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def digest(self, names: tuple[str, ...]) -> str:
        """A hash of the named fields: the key of work that depends on exactly those fields."""
        blob = json.dumps({name: getattr(self, name) for name in names}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> MineConfig:
        """Read a YAML or JSON config file; `overrides` (e.g. from the command line) win."""
        import yaml

        text = Path(path).read_text(encoding="utf-8")
        data = known_fields(yaml.safe_load(text) or {}, FIELDS, str(path))
        data.update(overrides)
        return cls(**data)


def _split_commas(values: Any) -> list[str]:
    """Lists accept repeated flags and comma-separated values alike."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for value in values:
        out.extend(part.strip() for part in str(value).split(",") if part.strip())
    return out


FIELDS = {f.name: f for f in dataclasses.fields(MineConfig)}

# Fields whose value changes what a worker extracts from a commit; they key the shard checkpoints.
EXTRACTION_FIELDS = (
    "since", "until", "authors", "exclude_authors", "languages", "min_message_chars", "max_message_chars",
    "max_file_bytes", "labeller", "tree_sitter", "context_lines", "max_side_chars", "max_side_tokens",
    "max_diff_lines", "min_tree_depth", "shingle_size", "num_perm",
)
