"""Commit messages: cleaning, the trivial-message filter, and aspect labelling.

Labelling is a registered step (`@register_labeller`), so a learned classifier can replace the
term lists without touching the pipeline. The built-in `terms` labeller matches one term list
per aspect, case-insensitively, on the subject and body. Both the message and the terms are
read as words: runs of letters, digits and underscores (so an identifier such as
`basic_memory_buffer` is one word, and an apostrophe inside a word is kept); everything else
(spaces, hyphens, dots, punctuation) only separates words. A term matches a run
of whole words, so "use after free" matches "Use-After-Free" and "fix" does not match
"fixture"; a term ending in `*` lets its last word be a prefix (`optimi*` matches "optimise"
and "optimizations"). A term starting with `!` is a veto: when it matches, the aspect is not
assigned ("fix typo" is not a correctness fix). A message may match several aspects; every
matched term is kept.

The lists are ours. They favour precision: words that are as often innocent as not ("free",
"cache", "error", "escape", "copy") are absent or only appear inside longer phrases.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from themis_rm.schema import Aspect

DEFAULT_TERMS: dict[Aspect, tuple[str, ...]] = {
    Aspect.FUNCTIONAL_CORRECTNESS: (
        "fix", "fixes", "fixed", "fixing", "bug*", "hotfix", "incorrect*", "wrong*", "off by one",
        "crash*", "regression", "broken", "mistake*", "edge case*", "corner case*",
        "race condition*", "deadlock*", "null pointer", "nil pointer", "null reference", "npe",
        "infinite loop", "infinite recursion", "segfault*", "segmentation fault", "mishandl*",
        "miscalculat*", "miscomput*", "misbehav*", "erroneous*", "faulty", "failure to", "fails to",
        "failed to", "does not work", "doesn't work", "not working", "correctly", "properly handle*",
        "unhandled", "uncaught", "nullpointerexception", "typeerror", "keyerror", "indexerror",
        # vetoes: a message about these is not about behaviour, whatever else it says
        "!typo*", "!spelling", "!fix warning*", "!compiler warning*", "!fix build*", "!fix lint*",
        "!fix test*", "!fix ci", "!fix doc*", "!fix comment*", "!fix style", "!fix format*",
        "!fix indent*", "!fix whitespace", "!fix the build", "!fix compilation", "!fix compile", "!warning",
        "!warnings", "!fixed build*", "!fixes build*", "!fixed the build", "!build fix*",
    ),
    Aspect.RUNTIME_EFFICIENCY: (
        "speed*", "faster", "fast path", "perf", "performance", "performant", "optimi*", "slow*",
        "latency", "throughput", "quadratic", "exponential time", "linear time", "constant time lookup",
        "inefficien*", "efficien*", "bottleneck*", "hot path", "hot loop", "memoiz*", "precomput*",
        "vectoriz*", "vectoris*", "cpu usage", "cpu time", "avoid recomput*", "redundant computation*",
        "redundant lookup*", "unnecessary work", "time complexity", "reduce overhead", "less overhead",
        "lower overhead", "overhead", "fewer syscalls", "hash lookup", "lookup table",
    ),
    Aspect.MEMORY_EFFICIENCY: (
        "memory leak*", "memory usage", "memory use", "memory footprint", "memory consumption",
        "memory overhead", "memory pressure", "memory efficien*", "memory allocation*", "memory optimi*",
        "less memory", "lower memory", "reduce memory", "reduces memory", "reduced memory", "save memory",
        "saves memory", "saving memory", "optimize memory", "optimise memory", "for memory", "more memory",
        "mem leak*", "leak", "leaks", "leaking memory", "leaked memory", "allocation", "allocations",
        "allocating", "reduce allocat*", "avoid allocat*", "fewer allocat*", "less allocat*",
        "unnecessary allocat*", "extra allocat*", "allocs", "footprint",
        "ram usage", "heap usage", "heap allocation*", "garbage", "gc pressure", "out of memory", "oom",
        "unnecessary cop*", "avoid cop*", "extra cop*", "zero copy", "preallocat*",
        "pre-allocat*", "reserve capacity", "reuse buffer*", "buffer reuse", "stream instead",
        "release resource*", "resource leak*", "free memory",
        # vetoes: leaks of other things
        "!variable leak*", "!state leak*", "!info leak*", "!information leak*", "!leak of information",
    ),
    Aspect.READABILITY_MAINTAINABILITY: (
        "refactor*", "clean up", "cleanup", "cleaned up", "cleaner", "cleans up", "readab*",
        "simplif*", "tidy", "tidied", "tidies", "rename*", "restructur*", "reorganiz*", "reorganis*",
        "maintainab*", "linter", "lint error*", "lint warning*", "lint issue*", "linting", "clarif*", "dead code", "unused", "code style", "coding style",
        "style fix*", "deduplicat*", "duplicated code", "code duplication", "extract method",
        "extract function", "helper function", "polish*", "consolidat*", "moderniz*", "modernis*",
        "naming", "cosmetic*", "rubocop", "eslint", "pylint", "flake8", "clang-tidy", "golint",
        "go vet", "idiomatic", "more readable", "less verbose", "simpler", "decouple*",
    ),
    Aspect.SECURITY_HARDNESS: (
        "security fix*", "security issue*", "security bug*", "security hole*", "security problem*",
        "security flaw*", "security patch*", "security risk*", "security reasons", "security advisory",
        "security vulnerabilit*", "security hardening", "for security", "securely", "more secure",
        "vulnerab*", "cve", "exploit*", "xss", "csrf", "xsrf", "sql injection", "command injection",
        "code injection", "shell injection", "script injection", "html injection", "ldap injection",
        "template injection", "prototype pollution",
        "sanitiz*", "sanitis*", "buffer overflow*", "heap overflow*", "integer overflow*",
        "out of bounds", "use after free", "double free",
        "denial of service", "redos", "timing attack*", "constant-time", "path traversal", "directory traversal",
        "arbitrary code", "remote code execution", "rce", "privilege escalation", "auth bypass",
        "authentication bypass", "malicious", "untrusted", "harden*", "ssrf", "xxe",
        "open redirect", "crlf injection", "header injection", "insecure", "oss-fuzz", "ossfuzz",
        "clusterfuzz", "found by fuzz*", "found by the fuzz*", "fuzzer found", "fuzzing found",
        "asan", "addresssanitizer", "ubsan", "memory safety", "overread", "over-read",
        "buffer overrun", "info leak", "information leak", "information disclosure", "leaks sensitive",
    ),
}

# When a message matches several aspects, the row's `aspect` is the first of these it matched:
# the rarer, more specific label wins over the generic "fix".
PRIORITY: tuple[Aspect, ...] = (
    Aspect.SECURITY_HARDNESS,
    Aspect.MEMORY_EFFICIENCY,
    Aspect.RUNTIME_EFFICIENCY,
    Aspect.FUNCTIONAL_CORRECTNESS,
    Aspect.READABILITY_MAINTAINABILITY,
)

# A whole message (lower-cased, trailers removed, whitespace collapsed, end punctuation dropped)
# that matches one of these says nothing a task statement could be built from.
TRIVIAL_PATTERNS: tuple[str, ...] = (
    r"(wip|tmp|temp|test|tests|testing|save|stuff|misc|changes?|updates?|updated|fix|fixes|fixed|fixup|"
    r"minor|minor (changes?|fix(es)?|updates?|edits?|tweaks?|cleanup)|small (fix(es)?|changes?)|"
    r"cleanup|clean up|typo|typos|fix typos?|oops|asdf+|foo|bar|commit|more|done|working|works|"
    r"initial commit|first commit|init|initial import|import|initial version|tweak|tweaks|lint|format|"
    r"formatting|refactor|refactoring|[.\-_ ]*)",
    r"update (readme|changelog|docs?|documentation|license|licence|version|copyright|deps|dependencies)\b.*",
    r"(update|create|add|delete|rename) [\w/-]*\.\w+",  # the web editor's default messages
    r"add files via upload",
    r"(bump|release|version|prepare (for )?release|v?\d+(\.\d+)+)\b.*",
    r"merge (branch|pull request|remote-tracking|tag)\b.*",
    r"(fixup|squash|amend)! .*",
)
_TRIVIAL = re.compile("|".join(f"(?:{p})" for p in TRIVIAL_PATTERNS))
_REVERT = re.compile(r"^\s*(revert\b|reverts\b|back out\b|backout\b|rollback\b|roll back\b)", re.IGNORECASE)
_TRAILER_KEYS = re.compile(
    r"^(signed-off-by|co-authored-by|reviewed-by|acked-by|tested-by|reported-by|suggested-by|"
    r"helped-by|cc|change-id|git-svn-id|pr-url|pr-close|reviewed-on|bug|fixes|closes|refs|see-also)\s*:",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Message:
    """A commit message split into subject and body, trailers removed."""

    subject: str
    body: str

    @property
    def text(self) -> str:
        return f"{self.subject}\n\n{self.body}".strip()


def parse_message(text: str) -> Message:
    """Subject (first paragraph, joined) and body, without `Signed-off-by:`-style trailers."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    while lines and (not lines[-1].strip() or _TRAILER_KEYS.match(lines[-1].strip())):
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    subject_lines: list[str] = []
    while lines and lines[0].strip():
        subject_lines.append(lines.pop(0).strip())
    body = "\n".join(line for line in lines if not _TRAILER_KEYS.match(line.strip())).strip()
    return Message(" ".join(subject_lines), body)


def normalise(text: str) -> str:
    text = re.sub(r"\s+", " ", text.lower()).strip()
    return text.rstrip(".!:;, ")


def is_trivial(message: Message) -> bool:
    return _TRIVIAL.fullmatch(normalise(message.text)) is not None


def is_revert(message: Message) -> bool:
    """A revert undoes an earlier change, so "after" is not reliably the preferred side."""
    return _REVERT.match(message.subject) is not None


class Labeller(Protocol):
    """Maps a commit message to the aspects it is about, each with the evidence (matched terms)."""

    def label(self, message: Message) -> dict[Aspect, list[str]]: ...

    def fingerprint(self) -> str: ...


LabellerFactory = Callable[..., Labeller]
_LABELLERS: dict[str, LabellerFactory] = {}
# Built-ins register below; plug-ins register through the `themis_rm.labellers` entry points.


def register_labeller(name: str) -> Callable[[LabellerFactory], LabellerFactory]:
    def decorate(factory: LabellerFactory) -> LabellerFactory:
        _LABELLERS[name] = factory
        return factory

    return decorate


def get_labeller(name: str, **options: object) -> Labeller:
    if name not in _LABELLERS:
        from importlib.metadata import entry_points

        for point in entry_points(group="themis_rm.labellers"):
            if point.name == name:
                _LABELLERS[name] = point.load()
    if name not in _LABELLERS:
        raise ValueError(f"unknown labeller {name!r}; registered: {', '.join(sorted(_LABELLERS))}")
    return _LABELLERS[name](**options)


_WORD = re.compile(r"\w+(?:'\w+)*")


def words_of(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("\u2019", "'"))


class _Terms:
    """A set of terms compiled for one pass over a message's words."""

    def __init__(self, terms: list[tuple[str, object]]) -> None:
        self.first: dict[str, list[tuple[tuple[str, ...], bool, object]]] = {}
        self.prefix: dict[str, list[tuple[tuple[str, ...], bool, object]]] = {}
        for term, tag in terms:
            prefix = term.endswith("*")
            words = tuple(words_of(term.rstrip("*")))
            if not words:
                continue
            table = self.prefix if prefix and len(words) == 1 else self.first
            table.setdefault(words[0], []).append((words, prefix, tag))
        self.longest_prefix = max((len(p) for p in self.prefix), default=0)

    def matches(self, words: list[str]) -> list[object]:
        found = []
        for i, word in enumerate(words):
            for term_words, prefix, tag in self.first.get(word, ()):
                if _continues(words, i, term_words, prefix):
                    found.append(tag)
            for size in range(1, min(len(word), self.longest_prefix) + 1):
                for _, _, tag in self.prefix.get(word[:size], ()):
                    found.append(tag)
        return found


def _continues(words: list[str], i: int, term_words: tuple[str, ...], prefix: bool) -> bool:
    """Whether the words after position i complete the term (its first word already matched)."""
    if i + len(term_words) > len(words):
        return False
    last = len(term_words) - 1
    for offset, wanted in enumerate(term_words[1:], 1):
        word = words[i + offset]
        if not (word == wanted or (prefix and offset == last and word.startswith(wanted))):
            return False
    return True


@register_labeller("terms")
class TermLabeller:
    """The built-in labeller: one term list per aspect (see the module docstring)."""

    def __init__(self, terms: Mapping[Aspect, tuple[str, ...] | list[str]] | None = None) -> None:
        table = DEFAULT_TERMS if terms is None else terms
        self.terms = {Aspect.parse(a): tuple(dict.fromkeys(t.lower().strip() for t in ts if t.strip()))
                      for a, ts in table.items()}
        positive: list[tuple[str, object]] = []
        vetoes: list[tuple[str, object]] = []
        for aspect, terms in self.terms.items():
            for index, term in enumerate(t for t in terms if not t.startswith("!")):
                positive.append((term, (aspect, index, term)))
            vetoes.extend((t[1:], aspect) for t in terms if t.startswith("!"))
        self._positive, self._vetoes = _Terms(positive), _Terms(vetoes)

    def label(self, message: Message) -> dict[Aspect, list[str]]:
        words = words_of(message.text)
        hits: dict[Aspect, dict[int, str]] = {}
        for aspect, index, term in self._positive.matches(words):  # type: ignore[misc]
            hits.setdefault(aspect, {})[index] = term
        if not hits:
            return {}
        vetoed = set(self._vetoes.matches(words))
        return {aspect: [term for _, term in sorted(hits[aspect].items())]
                for aspect in PRIORITY if aspect in hits and aspect not in vetoed}

    def fingerprint(self) -> str:
        blob = json.dumps({a.value: list(t) for a, t in sorted(self.terms.items())}, sort_keys=True)
        return "terms:" + hashlib.sha256(blob.encode()).hexdigest()[:16]


def load_terms(path: str | Path) -> dict[Aspect, tuple[str, ...]]:
    """A `--terms` file: a mapping from aspect (name or alias) to a list of terms. It replaces
    the built-in lists entirely; an aspect the file leaves out is never assigned."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: cannot read terms file ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of aspect -> list of terms")
    table: dict[Aspect, tuple[str, ...]] = {}
    for key, terms in data.items():
        try:
            aspect = Aspect.parse(str(key))
        except ValueError as err:
            raise ValueError(f"{path}: {err}") from None
        if not aspect.is_code:
            raise ValueError(f"{path}: {aspect.value} is not a code aspect")
        if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
            raise ValueError(f"{path}: terms of {key!r} must be a list of strings")
        misplaced = [t for t in terms if "*" in t.rstrip("*")]
        if misplaced:
            raise ValueError(f"{path}: '*' may only end a term, not {misplaced[0]!r}")
        table[aspect] = tuple(terms)
    return table


def primary_aspect(labels: Mapping[Aspect, list[str]]) -> Aspect:
    return next(aspect for aspect in PRIORITY if aspect in labels)
