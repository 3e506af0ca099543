"""One commit of an untrusted repository, read with pygit2, as a candidate pair or a named
drop reason; and the shard of commits a worker processes.

Nothing here checks out, builds or runs anything: objects are read from the object database
only. Repositories are hostile data, so every way a commit can be odd has a reason that is
counted (symlinks, submodules, binary or huge blobs, undecodable bytes, shallow boundaries,
missing or corrupt objects), and an unexpected failure on one commit is counted as
`internal_error` with its message kept for the report, never a crash of the run.
"""

from __future__ import annotations

import os
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from themis_rm.mining import dedup, terms
from themis_rm.mining.languages import header_language, is_header, language_of_path
from themis_rm.mining.prompt import offline_prompt
from themis_rm.mining.syntax import ParseCache
from themis_rm.mining.windows import Dropped, WindowOptions, cut, split_lines
from themis_rm.schema import Aspect, Language

# The per-commit stages, in the order the checks run, each with the reasons that drop a commit there.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("commit", ("time_budget", "corrupt_object", "merge", "root_commit", "shallow_boundary",
                "out_of_time_range", "author_filtered")),
    ("message", ("trivial_message", "message_too_short", "message_too_long", "revert")),
    ("aspect", ("no_aspect",)),
    ("single_file", ("missing_parent", "no_file_changed", "multiple_files", "file_added", "file_deleted")),
    ("file_kind", ("type_change", "symlink", "submodule")),
    ("language", ("unsupported_language", "language_filtered")),
    ("file_guards", ("corrupt_blob", "file_too_large", "binary", "undecodable")),
    ("diff_size", ("diff_too_large",)),
    ("window", ("window_too_long", "no_change_in_window")),
    ("code_change", ("whitespace_only", "comment_only")),
    ("syntax_depth", ("trivial_side",)),
    ("prompt", ("prompt_leak",)),
    ("errors", ("internal_error",)),
)
MAX_ERROR_EXAMPLES = 5


# ---------------------------------------------------------------- one shard of commits (runs in a worker)

@dataclass(frozen=True)
class ShardTask:
    repo_path: str
    repo_name: str
    dominant: str | None
    shallow: tuple[str, ...]
    commits: tuple[str, ...]
    settings: dict[str, Any]  # the extraction fields of MineConfig
    terms: dict[str, list[str]] | None  # None: the labeller's own defaults
    time_budget_s: float | None
    key: str


@dataclass
class ShardResult:
    key: str
    repo_name: str
    commits: int
    drops: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    complete: bool = True
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "repo_name": self.repo_name, "commits": self.commits, "drops": dict(self.drops),
                "notes": dict(self.notes), "candidates": self.candidates, "errors": self.errors,
                "complete": self.complete, "seconds": self.seconds}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShardResult:
        return cls(key=data["key"], repo_name=data["repo_name"], commits=data["commits"],
                   drops=Counter(data["drops"]), notes=Counter(data["notes"]), candidates=data["candidates"],
                   errors=data["errors"], complete=data["complete"], seconds=data["seconds"])


class _Context:
    """Everything a worker needs per shard, built once."""

    def __init__(self, task: ShardTask) -> None:
        from themis_rm.mining.split import timestamp

        s = task.settings
        self.since, self.until = timestamp(s["since"]), timestamp(s["until"])
        self.authors = [a.lower() for a in s["authors"]]
        self.exclude_authors = [a.lower() for a in s["exclude_authors"]]
        self.languages = {Language.parse(name) for name in s["languages"]}
        self.min_chars, self.max_chars = s["min_message_chars"], s["max_message_chars"]
        self.max_file_bytes = s["max_file_bytes"]
        self.max_diff_lines = s["max_diff_lines"]
        self.min_depth = s["min_tree_depth"]
        self.shingle_size, self.num_perm = s["shingle_size"], s["num_perm"]
        table = None if task.terms is None else {Aspect.parse(a): tuple(t) for a, t in task.terms.items()}
        options = {} if table is None else {"terms": table}
        self.labeller = terms.get_labeller(s["labeller"], **options)
        self.window = WindowOptions(tree_sitter=s["tree_sitter"], context_lines=s["context_lines"],
                                    max_side_chars=s["max_side_chars"], max_side_tokens=s["max_side_tokens"],
                                    depth_cap=s["min_tree_depth"])
        self.parses = ParseCache(_line_hunks)
        self.dominant = Language(task.dominant) if task.dominant else None
        self.shallow = set(task.shallow)


def extract_shard(task: ShardTask) -> ShardResult:
    """Candidates and drop counts for one shard of one repository. Safe to run in any process."""
    import pygit2

    started = time.monotonic()
    result = ShardResult(key=task.key, repo_name=task.repo_name, commits=len(task.commits))
    context = _Context(task)
    try:
        repo = pygit2.Repository(task.repo_path)
    except (pygit2.GitError, OSError) as err:
        result.drops["corrupt_object"] += len(task.commits)
        result.errors.append(f"{task.repo_name}: cannot open ({err})")
        result.seconds = time.monotonic() - started
        return result
    for done, oid in enumerate(task.commits):
        if task.time_budget_s is not None and time.monotonic() - started > task.time_budget_s:
            result.drops["time_budget"] += len(task.commits) - done
            result.complete = False
            break
        try:
            result.candidates.append(candidate(repo, oid, context, result.notes))
        except Dropped as drop:
            result.drops[drop.reason] += 1
        except Exception as err:  # hostile input must not end the run: count it, keep the first few
            result.drops["internal_error"] += 1
            if len(result.errors) < MAX_ERROR_EXAMPLES:
                where = traceback.extract_tb(err.__traceback__)[-1]
                result.errors.append(f"{task.repo_name}@{oid[:12]}: {type(err).__name__}: {err} "
                                     f"({os.path.basename(where.filename)}:{where.lineno})")
    result.seconds = time.monotonic() - started
    return result


def _decode(raw: bytes, notes: Counter[str], what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        notes[f"{what}_decode_replaced"] += 1
        return raw.decode("utf-8", errors="replace")


def _line_hunks(old: bytes, new: bytes) -> list[tuple[int, int, int, int]]:
    import pygit2

    return _hunks(pygit2.Patch.create_from(old, new, context_lines=0))


def _hunks(patch: Any) -> list[tuple[int, int, int, int]]:
    return [(h.old_start, h.old_lines, h.new_start, h.new_lines) for h in patch.hunks]


def _special(modes: tuple[int, int]) -> bool:
    import pygit2

    return any(mode in (pygit2.enums.FileMode.LINK, pygit2.enums.FileMode.COMMIT) for mode in modes)


def _author_matches(needles: list[str], name: str, email: str) -> bool:
    return any(needle in name or needle in email for needle in needles)


def candidate(repo: Any, oid: str, ctx: _Context, notes: Counter[str]) -> dict[str, Any]:
    """One commit as a candidate pair (a dict), or `Dropped(reason)`. The checks run in STAGES order."""
    import pygit2

    try:
        commit = repo[oid]
    except (KeyError, ValueError, pygit2.GitError) as err:
        raise Dropped("corrupt_object") from err
    # --- commit
    if len(commit.parent_ids) > 1:
        raise Dropped("merge")
    if not commit.parent_ids:
        raise Dropped("shallow_boundary" if oid in ctx.shallow else "root_commit")
    when = commit.commit_time
    if (ctx.since is not None and when < ctx.since) or (ctx.until is not None and when >= ctx.until):
        raise Dropped("out_of_time_range")
    if ctx.authors or ctx.exclude_authors:
        author = commit.author
        name = _decode(author.raw_name, notes, "author").lower()
        email = _decode(author.raw_email, notes, "author").lower()
        if ctx.authors and not _author_matches(ctx.authors, name, email):
            raise Dropped("author_filtered")
        if _author_matches(ctx.exclude_authors, name, email):
            raise Dropped("author_filtered")
    # --- message
    message = terms.parse_message(_decode(commit.raw_message, notes, "message"))
    if terms.is_trivial(message):
        raise Dropped("trivial_message")
    length = len(message.text)
    if length < ctx.min_chars:
        raise Dropped("message_too_short")
    if length > ctx.max_chars:
        raise Dropped("message_too_long")
    if terms.is_revert(message):
        raise Dropped("revert")
    # --- aspect
    labels = ctx.labeller.label(message)
    if not labels:
        raise Dropped("no_aspect")
    # --- single file
    try:
        parent = repo[commit.parent_ids[0]]
        diff = parent.tree.diff_to_tree(commit.tree, flags=pygit2.enums.DiffOption.INCLUDE_TYPECHANGE)
    except (KeyError, ValueError, pygit2.GitError) as err:
        raise Dropped("missing_parent") from err
    if len(diff) == 0:
        raise Dropped("no_file_changed")
    if len(diff) > 1:
        raise Dropped("multiple_files")
    delta = next(iter(diff.deltas))
    status = delta.status
    if status == pygit2.enums.DeltaStatus.ADDED:
        raise Dropped("file_added")
    if status == pygit2.enums.DeltaStatus.DELETED:
        raise Dropped("file_deleted")
    # --- file kind
    modes = (delta.old_file.mode, delta.new_file.mode)
    if status == pygit2.enums.DeltaStatus.TYPECHANGE or (modes[0] != modes[1] and _special(modes)):
        raise Dropped("type_change")
    if pygit2.enums.FileMode.LINK in modes:
        raise Dropped("symlink")
    if pygit2.enums.FileMode.COMMIT in modes:
        raise Dropped("submodule")
    # --- language
    path = _decode(delta.new_file.raw_path, notes, "path")
    language = language_of_path(path)
    header = language is None and is_header(path)
    if language is None and not header:
        raise Dropped("unsupported_language")
    if language is not None and language not in ctx.languages:
        raise Dropped("language_filtered")
    # --- file guards
    blobs = []
    for file in (delta.old_file, delta.new_file):
        try:
            size = repo.odb.read_header(file.id)[1]
            blob = repo[file.id] if size <= ctx.max_file_bytes else None
        except (KeyError, ValueError, pygit2.GitError) as err:
            raise Dropped("corrupt_blob") from err
        if blob is None:
            raise Dropped("file_too_large")
        if blob.is_binary:
            raise Dropped("binary")
        blobs.append(blob)
    try:
        before, after = (blob.data.decode("utf-8") for blob in blobs)
    except UnicodeDecodeError as err:
        raise Dropped("undecodable") from err
    if header:
        language = header_language(after, ctx.dominant)
        if language not in ctx.languages:
            raise Dropped("language_filtered")
    assert language is not None
    # --- diff size
    patch = pygit2.Patch.create_from(blobs[0], blobs[1], context_lines=0)
    _, added, removed = patch.line_stats
    if added + removed > ctx.max_diff_lines:
        raise Dropped("diff_too_large")
    hunks = _hunks(patch)
    # --- window, code change, syntax depth
    window = cut(before, after, hunks, language, ctx.window, ctx.parses, path)
    if window.change == "whitespace":
        raise Dropped("whitespace_only")
    if window.change == "comment":
        raise Dropped("comment_only")
    if min(window.before_depth, window.after_depth) < ctx.min_depth:
        raise Dropped("trivial_side")
    # --- prompt
    prompt = offline_prompt(message.subject, message.body, path, language, window.symbol, window.kind,
                            window.before, window.after)
    if prompt is None:
        raise Dropped("prompt_leak")
    if len(labels) > 1:
        notes["multi_label"] += 1
    return {
        "commit": oid,
        "time": when,
        "path": path,
        "language": language.value,
        "labels": {aspect.value: found for aspect, found in labels.items()},
        "subject": message.subject,
        "body": message.body,
        "symbol": window.symbol,
        "window": window.kind,
        "rejected": window.before,
        "chosen": window.after,
        "prompt": prompt,
        "lines_added": added,
        "lines_removed": removed,
        "content_hash": dedup.content_hash(window.before, window.after),
        "signature": dedup.signature(dedup.change_text(split_lines(before), split_lines(after), hunks, window.symbol),
                                     ctx.shingle_size, ctx.num_perm),
    }
