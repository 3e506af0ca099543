"""The feature table: one named, documented number per line, computed from `Facts`.

A feature is a pure function of the facts of one response and of its request's context
(the categories its topic makes relevant, the words of the prompt). The table's order is
the weight vector's order; `FEATURE_VERSION` changes whenever a feature's meaning does, so
old weight files are refused instead of silently misread.

Counts enter as log(1 + n): one more dangerous call matters more in ten lines than in a
thousand. Size-aware rates (per line, per byte) sit next to raw sizes, and the fit decides.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from math import log1p

import numpy as np

from themis_rm.schema import Language, Prompt
from themis_rm.scoring.lite.facts import Facts, collect
from themis_rm.scoring.lite.parse import resolve_language, strip_fences
from themis_rm.scoring.lite.rules import DANGER_CATEGORIES, SAFE_CATEGORIES, prompt_categories

FEATURE_VERSION = "lite-features-1"


@dataclass(frozen=True)
class Context:
    """What a feature may know besides the code: the request's topic and words."""

    topics: frozenset[str]
    prompt: bytes  # the request's text, for substring look-ups


@dataclass(frozen=True)
class Feature:
    """A named number. Plain log-counts name their fact (`count` / `looped`) instead of a function: faster."""

    name: str
    compute: Callable[[Facts, Context], float] | None
    doc: str
    count: str = ""
    looped: str = ""


def _log(n: float) -> float:
    return math.log1p(max(n, 0.0))


def _per_line(n: float, facts: Facts) -> float:
    return n / max(facts.lines, 1)


def _singletons(facts: Facts) -> list[bytes]:
    return [name for name, n in facts.identifiers.items() if n == 1]


def _ident_len(facts: Facts) -> float:
    names = facts.identifiers
    return sum(len(n) for n in names) / len(names) if names else 0.0


def _short_share(facts: Facts) -> float:
    names = facts.identifiers
    return sum(1 for n in names if len(n) == 1) / len(names) if names else 0.0


def _style_mix(facts: Facts) -> float:
    """Share of the minority naming style among multi-word names (snake_case vs camelCase)."""
    snake = camel = 0
    for name in facts.identifiers:
        core = name.strip(b"_")
        if b"_" in core:
            snake += not core.isupper()
        elif not core.islower() and not core.isupper() and not core[:1].isupper():
            camel += 1
    total = snake + camel
    return min(snake, camel) / total if total else 0.0


def _unused_imports(facts: Facts) -> float:
    # A Go import is a string (blanked), so a used Go import appears once; elsewhere the import line counts once.
    threshold = 0 if facts.language is Language.GO else 1
    return _log(sum(1 for name in set(facts.imports) if facts.identifiers.get(name, 0) <= threshold))


def _topic(facts: Facts, ctx: Context, categories: tuple[str, ...]) -> float:
    return _log(sum(facts.counts[c] for c in categories if c in ctx.topics))


def _novel_singletons(facts: Facts, ctx: Context) -> float:
    return _log(sum(1 for name in _singletons(facts) if len(name) > 1 and name not in ctx.prompt))


def _unresolved_calls(facts: Facts) -> float:
    """Calls of names that nothing in the code defines and that are not built in (an undefined function)."""
    names = facts.identifiers
    return _log(sum(1 for callee in facts.callees if names.get(callee, 0) <= 1 and callee not in facts.builtins))


def _function_lines(facts: Facts, pick: Callable[[list[int]], float]) -> float:
    return _log(pick(facts.function_lines)) if facts.function_lines else 0.0


def _counted(name: str, fact: str, doc: str) -> Feature:
    """log(1 + count of a fact)."""
    return Feature(name, None, doc, count=fact)


def _in_loop(name: str, fact: str, doc: str) -> Feature:
    """log(1 + matches of a fact inside a loop)."""
    return Feature(name, None, doc, looped=fact)


FEATURES: tuple[Feature, ...] = (
    # size and shape
    Feature("log_chars", lambda f, c: _log(f.size), "log(1 + bytes of code)"),
    Feature("log_lines", lambda f, c: _log(f.lines), "log(1 + non-blank lines)"),
    Feature("prose_share", lambda f, c: f.prose_chars / max(f.prose_chars + f.size, 1), "share of the response outside code fences"),
    Feature("unfenced", lambda f, c: 0.0 if f.fenced else 1.0, "the response has no code fence"),
    Feature("unparsed", lambda f, c: 0.0 if f.parsed else 1.0, "no grammar could be applied (unknown language or empty)"),
    # parse health
    Feature("parse_error", lambda f, c: 1.0 if f.counts["error"] else 0.0, "the code has a syntax error"),
    _counted("error_nodes", "error", "log(1 + ERROR/MISSING nodes)"),
    Feature("error_share", lambda f, c: min(f.error_bytes / max(f.size, 1), 1.0), "share of bytes under error nodes"),
    # complexity
    Feature("decisions_per_line", lambda f, c: _per_line(f.counts["branch"] + f.counts["loop"], f), "branches and loops per line"),
    Feature("cyclomatic_per_function",
            lambda f, c: _log((f.counts["branch"] + f.counts["loop"]) / max(f.counts["function"], 1)),
            "log(1 + decision points per function)"),
    Feature("max_nesting", lambda f, c: float(f.max_nesting), "deepest nesting of control blocks"),
    Feature("max_indent", lambda f, c: f.max_indent, "deepest indentation in 4-column steps"),
    _counted("functions", "function", "log(1 + functions, methods and lambdas)"),
    Feature("function_lines_max", lambda f, c: _function_lines(f, max), "log(1 + lines of the longest function)"),
    Feature("function_lines_mean", lambda f, c: _function_lines(f, lambda v: sum(v) / len(v)), "log(1 + mean function lines)"),
    _counted("exits", "exit", "log(1 + return/throw/break/continue)"),
    _counted("compares", "compare", "log(1 + ordering comparisons): bounds checks"),
    # loops and efficiency
    _counted("loops", "loop", "log(1 + loops, comprehensions, iterator blocks)"),
    Feature("max_loop_depth", lambda f, c: float(f.max_loop_depth), "deepest loop nesting"),
    Feature("nested_loops", lambda f, c: _log(f.nested_loops), "log(1 + loops inside another loop)"),
    _in_loop("search_in_loop", "eff_search", "linear searches/scans inside a loop"),
    _in_loop("sort_in_loop", "eff_sort", "sorts inside a loop"),
    _in_loop("concat_in_loop", "eff_concat", "string concatenation inside a loop"),
    _in_loop("alloc_in_loop", "eff_alloc", "allocations inside a loop"),
    _in_loop("copy_in_loop", "eff_copy", "copies and slices inside a loop"),
    _in_loop("io_in_loop", "eff_io", "unbuffered I/O calls inside a loop"),
    _counted("search_calls", "eff_search", "linear search/scan calls"),
    _counted("copy_calls", "eff_copy", "copies, slices, clones"),
    _counted("alloc_calls", "eff_alloc", "allocations"),
    _counted("io_calls", "eff_io", "print/input style I/O calls"),
    _counted("hash_structs", "eff_hash", "hash maps and sets"),
    _counted("builtin_calls", "eff_builtin", "library routines (sum, std::accumulate, streams...)"),
    _counted("fast_io", "eff_fast_io", "buffered I/O and builders"),
    _counted("streaming", "eff_stream", "generators, iterators, line-by-line reads"),
    _counted("prealloc", "eff_prealloc", "pre-sized containers"),
    _counted("memo", "eff_memo", "caches and memo tables"),
    _counted("boxed_types", "eff_boxed", "boxed numeric types (Java Integer, C# object)"),
    # memory and resources
    _counted("compact_types", "mem_compact", "compact representations (bitsets, small ints, views, moves)"),
    _counted("release_calls", "mem_release", "close/free/dispose/null-out and weak references"),
    _counted("acquire_calls", "mem_acquire", "open/malloc/new stream or connection"),
    Feature("resource_blocks", lambda f, c: _log(f.counts["resource"] + f.counts["raii"]), "with/using/defer/try-with-resources/RAII"),
    Feature("unreleased", lambda f, c: _log(f.counts["mem_acquire"] - f.counts["mem_release"] - f.counts["resource"] - f.counts["raii"]),
            "acquisitions without a matching release or scope"),
    # readability
    Feature("comment_share", lambda f, c: f.comment_bytes / max(f.size, 1), "share of bytes in comments"),
    _counted("comments", "comment", "log(1 + comments)"),
    Feature("docstrings", lambda f, c: _log(f.counts["docstring"] + f.counts["doc_comment"]), "docstrings and doc comments"),
    _counted("todo", "todo", "TODO/FIXME/XXX/HACK markers"),
    Feature("line_len_mean", lambda f, c: f.size / max(f.lines, 1) / 40.0, "mean line length (40-column units)"),
    Feature("long_line_share", lambda f, c: f.long_lines / max(f.lines, 1), "share of lines over 100 columns"),
    Feature("max_line", lambda f, c: _log(f.max_line), "log(1 + longest line)"),
    Feature("blank_share", lambda f, c: f.blank_lines / max(f.lines + f.blank_lines, 1), "share of blank lines"),
    Feature("ident_len_mean", lambda f, c: _ident_len(f) / 8.0, "mean identifier length (8-character units)"),
    Feature("short_ident_share", lambda f, c: _short_share(f), "share of one-letter identifiers"),
    Feature("style_mix", lambda f, c: _style_mix(f), "minority share of snake_case vs camelCase"),
    Feature("singleton_share", lambda f, c: len(_singletons(f)) / max(len(f.identifiers), 1),
            "share of identifiers used once (unused or undefined names)"),
    Feature("singletons", lambda f, c: _log(len(_singletons(f))), "log(1 + identifiers used once)"),
    Feature("novel_singletons", _novel_singletons, "identifiers used once and absent from the prompt"),
    Feature("unresolved_calls", lambda f, c: _unresolved_calls(f), "calls of functions defined nowhere in the code"),
    Feature("unused_imports", lambda f, c: _unused_imports(f), "imported names never used"),
    Feature("magic_numbers", lambda f, c: _per_line(f.numbers, f), "numeric literals other than 0, 1, 2 per line"),
    Feature("duplicate_lines", lambda f, c: _per_line(f.duplicate_lines, f), "repeated non-trivial lines per line"),
    _counted("smells", "smell", "linter smells (== None, bare except, loose ==, broad catch...)"),
    _counted("unreachable", "unreachable", "statements right after return/throw/break/continue"),
    _counted("empty_catch", "empty_catch", "catch/except blocks that swallow errors"),
    # correctness
    _counted("assign_in_cond", "assign_cond", "assignment used as an if condition"),
    _counted("bug_patterns", "bug_pattern", "self-assignment, x == x, <= length, if (...);"),
    _counted("null_checks", "null_check", "null/None/nil checks"),
    _counted("err_checks", "err_check", "error handling (try/catch, err != nil, errno)"),
    _counted("coerce", "coerce", "numeric conversions and casts"),
    # security: dangerous patterns
    _counted("sec_memory", "sec_memory", "unbounded C string/memory calls (strcpy, gets, sprintf)"),
    _counted("sec_format", "sec_format", "non-literal format strings"),
    _counted("sec_exec", "sec_exec", "command execution and eval"),
    _counted("sec_exec_built", "sec_exec_built", "command lines built from strings (concatenation, formatting)"),
    _counted("sec_deser", "sec_deser", "unsafe deserialisation (pickle, yaml.load, ObjectInputStream)"),
    _counted("sec_html", "sec_html", "raw HTML sinks (innerHTML, html_safe, Markup)"),
    _counted("sec_sql", "sec_sql", "SQL built by concatenation or interpolation"),
    _counted("sec_hash", "sec_hash", "weak hashes and ciphers (MD5, SHA-1, DES, ECB)"),
    _counted("sec_random", "sec_random", "non-cryptographic randomness"),
    _counted("sec_tls", "sec_tls", "disabled TLS verification or old protocols"),
    _counted("sec_secret", "sec_secret", "hard-coded secrets"),
    _counted("sec_compare", "sec_compare", "non-constant-time comparison of secrets"),
    _counted("sec_misc", "sec_misc", "world-writable files, mktemp, debug on, open redirects, ignored errors"),
    Feature("danger_total", lambda f, c: _log(sum(f.counts[k] for k in DANGER_CATEGORIES)), "all dangerous patterns"),
    Feature("danger_topic", lambda f, c: _topic(f, c, DANGER_CATEGORIES), "dangerous patterns the request's topic names"),
    # security: safe counterparts
    _counted("safe_escape", "safe_escape", "escaping and sanitising calls"),
    _counted("safe_validate", "safe_validate", "input and path validation"),
    _counted("safe_param_sql", "safe_param_sql", "parameterised queries"),
    _counted("safe_memory", "safe_memory", "bounded C calls, sizeof, limits, safe containers"),
    _counted("safe_crypto", "safe_crypto", "constant-time compare, CSPRNG, strong hashes, safe loaders"),
    Feature("safe_total", lambda f, c: _log(sum(f.counts[k] for k in SAFE_CATEGORIES)), "all safe counterparts"),
    Feature("safe_topic", lambda f, c: _topic(f, c, (*SAFE_CATEGORIES, "coerce", "null_check")),
            "safe counterparts the request's topic names"),
)

FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
FEATURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}


@dataclass(frozen=True)
class Extracted:
    """The feature vector of one response and what the scorer reports about it."""

    values: np.ndarray
    language: Language | None
    syntax_error: bool
    truncated: bool


def prompt_text(prompt: Prompt) -> str:
    if isinstance(prompt, str):
        return prompt
    return "\n".join(str(m.get("content", "")) for m in prompt if m.get("role") != "assistant")


@lru_cache(maxsize=4096)
def context_for(text: str) -> Context:
    text = text[:100_000]
    return Context(prompt_categories(text), text.encode("utf-8", errors="replace"))


def extract(response: str, language: Language | None, prompt: Prompt = "") -> Extracted:
    """Features of one response; never raises on odd input (empty, binary, unknown language)."""
    code = strip_fences(response if isinstance(response, str) else str(response))
    resolved, _ = resolve_language(language, code)
    facts = collect(code, resolved)
    ctx = context_for(prompt_text(prompt))
    counts, looped = facts.counts, facts.in_loop
    values = np.array([
        log1p(counts[f.count]) if f.count else log1p(looped[f.looped]) if f.looped else f.compute(facts, ctx)
        for f in FEATURES
    ], dtype=np.float64)
    if not np.isfinite(values).all():
        np.nan_to_num(values, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    return Extracted(values, resolved, syntax_error=facts.parsed and bool(facts.counts["error"]),
                     truncated=code.truncated)
