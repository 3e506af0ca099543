"""Facts about one piece of code: counts, nesting, lines and identifiers.

One tree-sitter query (run in C) yields the structural roles of `syntax.py`. The rule tables
of `rules.py` yield the lexical ones, over the code with comments blanked: names by a
dictionary look-up per distinct token, word fragments once per distinct word (remembered
across responses), and the few patterns whose gate opens, each a regular-expression scan in
C. Python mostly counts what comes back, which keeps the scorer above a thousand pairs a
second on one core. Features (`features.py`) are arithmetic on these facts.
"""

from __future__ import annotations

import bisect
import operator
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from themis_rm.grammars import grammar, parser
from themis_rm.schema import Language
from themis_rm.scoring.lite.parse import Code
from themis_rm.scoring.lite.rules import (
    CATEGORIES,
    LOOP_ONLY,
    POSITIONAL,
    QUOTED,
    Compiled,
    compiled_rules,
    sql_built_by_concatenation,
)
from themis_rm.scoring.lite.syntax import ROLES, TABLES, query_source

IDENTIFIER = re.compile(rb"[A-Za-z_$][A-Za-z0-9_$]*")  # rules read it with strings kept, style with strings blanked
NUMBER = re.compile(rb"[0-9](?<![\w.][0-9])[0-9.]*")  # a digit-led literal, not the tail of a name
TODO = re.compile(rb"\b(?:TODO|FIXME|XXX|HACK)\b")
LONG_LINE = 100
_STEM_CACHE_LIMIT = 500_000  # distinct words remembered per language; beyond it, words are checked each time
_SUBSTANTIAL = re.compile(rb"^[ \t]*(\S[^\n]{12,})", re.M)  # lines worth calling duplicates
_IMPORTS: dict[Language, re.Pattern[bytes]] = {  # literal-first, so the engine skips ahead in C
    Language.PYTHON: re.compile(rb"import[ \t]+([^\n#]+)"),
    Language.JAVA: re.compile(rb"import[ \t]+(?:static[ \t]+)?[\w.]*?(\w+)[ \t]*;"),
    Language.JAVASCRIPT: re.compile(rb"import[ \t]+(?:\{([^}\n]*)\}|(\w+))|(?:const|let|var)[ \t]+(\w+)[ \t]*=[ \t]*require\b"),
    Language.GO: re.compile(rb"import[ \t]*(?:\(([^)]*)\)|((?:\w+[ \t]+)?\"[^\"\n]*\"))"),
}
_GO_PATH = re.compile(rb"\"(?:[^\"\n]*/)?([\w\-.]+)\"")
_IMPORT_NAME = re.compile(rb"(?:\bas[ \t]+)?([A-Za-z_]\w*)[ \t]*(?:,|$)")


@dataclass
class Facts:
    """What the feature table reads. Byte offsets throughout; lines are counted on the code."""

    language: Language | None
    size: int
    lines: int
    blank_lines: int
    long_lines: int
    max_line: int
    max_indent: float
    duplicate_lines: int
    prose_chars: int
    fenced: bool
    parsed: bool
    counts: Counter[str] = field(default_factory=Counter)
    error_bytes: int = 0
    max_nesting: int = 0
    max_loop_depth: int = 0
    nested_loops: int = 0
    in_loop: Counter[str] = field(default_factory=Counter)
    function_lines: list[int] = field(default_factory=list)
    callees: list[bytes] = field(default_factory=list)
    builtins: frozenset[bytes] = frozenset()
    comment_bytes: int = 0
    identifiers: Counter[bytes] = field(default_factory=Counter)
    imports: list[bytes] = field(default_factory=list)
    numbers: int = 0


@cache
def _query(language: Language) -> tuple[Any, Any]:
    import tree_sitter

    query = tree_sitter.Query(grammar(language), query_source(language))
    return query, tree_sitter.QueryCursor(query)


@cache
def _keywords(language: Language) -> frozenset[bytes]:
    return frozenset(word.encode() for word in TABLES[language].keywords)


@cache
def _builtins(language: Language) -> frozenset[bytes]:
    return frozenset(word.encode() for word in TABLES[language].builtins)


def collect(code: Code, language: Language | None) -> Facts:
    source = code.source
    facts = _line_facts(source, code, language)
    comment_spans: list[tuple[int, int]] = []
    string_spans: list[tuple[int, int]] = []
    loop_spans: list[tuple[int, int]] = []
    keywords: frozenset[bytes] = frozenset()
    if language is not None and source.strip():
        tree = parser(language).parse(source)
        captures = _query(language)[1].captures(tree.root_node)
        facts.parsed = True
        keywords = _keywords(language)
        _structure(facts, captures, comment_spans, string_spans, loop_spans, TABLES[language].blocks)
        facts.callees = [source[n.start_byte:n.end_byte] for n in captures.get("call", ())]
        facts.builtins = _builtins(language)
        if tree.root_node.has_error and not facts.counts["error"]:
            facts.counts["error"] = 1
    code_nc = _blank(source, comment_spans)
    _lexical(facts, code_nc, language, _merge(loop_spans))
    if not facts.parsed:
        string_spans = [m.span() for m in QUOTED.finditer(code_nc)]
    facts.counts["sec_sql"] += sql_built_by_concatenation(code_nc, string_spans)
    code_plain = _blank(code_nc, string_spans)
    identifiers = Counter(IDENTIFIER.findall(code_plain))
    for keyword in identifiers.keys() & keywords:
        del identifiers[keyword]
    facts.identifiers = identifiers
    numbers = NUMBER.findall(code_plain)
    facts.numbers = len(numbers) - numbers.count(b"0") - numbers.count(b"1") - numbers.count(b"2")
    if language in _IMPORTS:
        facts.imports = _imported_names(language, code_nc)
    comments = b"\n".join(source[a:b] for a, b in comment_spans)
    facts.comment_bytes = sum(b - a for a, b in comment_spans)
    facts.counts["todo"] = len(TODO.findall(comments))
    facts.counts["doc_comment"] += sum(1 for a, _ in comment_spans if source.startswith((b"/**", b"///"), a))
    return facts


def _line_facts(source: bytes, code: Code, language: Language | None) -> Facts:
    text = source.replace(b"\t", b"    ") if b"\t" in source else source
    lines = text.split(b"\n")
    widths = list(map(len, lines))
    stripped = list(map(len, map(bytes.lstrip, lines)))
    blank = stripped.count(0)
    ordered = sorted(widths)
    substantial = _SUBSTANTIAL.findall(source)
    return Facts(
        language=language,
        size=len(source),
        lines=len(lines) - blank,
        blank_lines=blank,
        long_lines=len(ordered) - bisect.bisect_right(ordered, LONG_LINE),
        max_line=ordered[-1] if ordered else 0,
        max_indent=min(max(map(operator.sub, widths, stripped), default=0) / 4.0, 20.0),
        duplicate_lines=len(substantial) - len(set(substantial)),
        prose_chars=code.prose_chars,
        fenced=code.fenced,
        parsed=False,
    )


def _dead_after(node: Any, blocks: frozenset[str]) -> bool:
    """An exit statement followed by another statement in the same statement list."""
    after = node.next_named_sibling
    while after is not None and "comment" in after.type:
        after = after.next_named_sibling
    return after is not None and node.parent is not None and node.parent.type in blocks


def _structure(facts: Facts, captures: dict[str, list[Any]], comments: list, strings: list, loops: list,
               blocks: frozenset[str]) -> None:
    counts = facts.counts
    for role in ROLES:
        nodes = captures.get(role)
        if nodes:
            counts[role] = len(nodes)
    for node in captures.get("error", ()):
        facts.error_bytes += max(node.end_byte - node.start_byte, 1)
    comments.extend((n.start_byte, n.end_byte) for n in captures.get("comment", ()))
    strings.extend((n.start_byte, n.end_byte) for n in captures.get("string", ()))
    loops.extend((n.start_byte, n.end_byte) for n in captures.get("loop", ()))
    nests = [(n.start_byte, n.end_byte) for n in captures.get("nest", ())]
    facts.max_loop_depth, facts.nested_loops = _depths(loops)
    facts.max_nesting = _depths(loops + nests)[0]
    facts.function_lines = [n.end_point[0] - n.start_point[0] + 1 for n in captures.get("function", ())]
    counts["unreachable"] = sum(1 for n in captures.get("exit", ()) if _dead_after(n, blocks))
    counts["empty_catch"] = sum(1 for n in captures.get("catch_body", ()) if _is_empty(n))


def _is_empty(node: Any) -> bool:
    """A catch body with nothing but comments and `pass` in it."""
    return all(child.type in ("comment", "pass_statement", "line_comment", "block_comment")
               for child in node.named_children)


def _depths(spans: list[tuple[int, int]]) -> tuple[int, int]:
    """(deepest nesting, number of spans inside another) for possibly nested byte spans."""
    if not spans:
        return 0, 0
    stack: list[int] = []
    deepest = nested = 0
    for start, end in sorted(set(spans), key=lambda s: (s[0], -s[1])):
        while stack and stack[-1] <= start:
            stack.pop()
        if stack:
            nested += 1
        stack.append(end)
        deepest = max(deepest, len(stack))
    return deepest, nested


def _merge(spans: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Outermost spans as sorted (starts, ends): the loop bodies, each byte once."""
    starts: list[int] = []
    ends: list[int] = []
    for start, end in sorted(spans):
        if ends and start < ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


def _blank(source: bytes, spans: list[tuple[int, int]]) -> bytes:
    """`source` with each span replaced by spaces of the same length (offsets stay valid)."""
    if not spans:
        return source
    parts = []
    position = 0
    for start, end in sorted(spans):
        if start < position:
            start = position
        if end <= start:
            continue
        parts.append(source[position:start])
        parts.append(b" " * (end - start))
        position = end
    parts.append(source[position:])
    return b"".join(parts)


def _lexical(facts: Facts, code: bytes, language: Language | None, loops: tuple[list[int], list[int]]) -> None:
    """Count every rule category of `rules.py` in `code` (comments already blanked)."""
    rules = compiled_rules(language)
    counts = [0] * len(CATEGORIES)
    tokens = Counter(IDENTIFIER.findall(code))
    _count_names(rules, tokens, counts)
    _count_stems(rules, tokens, counts)
    present = tokens.keys()
    looped = b"\n".join(code[a:b] for a, b in zip(*loops)) if loops[0] else b""
    for position in sorted(_opened(rules, code, present)):
        gated = rules.patterns[position]
        if gated.needs and present.isdisjoint(gated.needs):
            continue
        category = CATEGORIES[gated.category]
        if category not in LOOP_ONLY:
            counts[gated.category] += len(gated.regex.findall(code))
        if looped and category in POSITIONAL:  # a second C scan over the loop bodies beats a bisect per match
            facts.in_loop[category] += len(gated.regex.findall(looped))
    for index, n in enumerate(counts):
        if n:
            facts.counts[CATEGORIES[index]] += n


def _count_names(rules: Compiled, tokens: Counter[bytes], counts: list[int]) -> None:
    for name in rules.names.keys() & tokens.keys():
        n = tokens[name]
        for index in rules.names[name]:
            counts[index] += n


def _count_stems(rules: Compiled, tokens: Counter[bytes], counts: list[int]) -> None:
    """Word fragments inside tokens. Each distinct word is checked once and remembered (per language)."""
    for token in tokens.keys() - rules.stem_seen:
        lowered = token.lower()
        found = tuple(i for stem, indices in rules.stems if stem in lowered for i in indices)
        if len(rules.stem_seen) < _STEM_CACHE_LIMIT:
            rules.stem_seen.add(token)
            if found:
                rules.stem_hits[token] = found
        else:  # the memory is full: count this word now instead of remembering it
            for index in found:
                counts[index] += tokens[token]
    for token in rules.stem_hits.keys() & tokens.keys():
        n = tokens[token]
        for index in rules.stem_hits[token]:
            counts[index] += n


def _opened(rules: Compiled, code: bytes, present: Any) -> set[int]:
    """Positions of the patterns whose gate word, symbol or stem occurs in `code`."""
    opened: set[int] = set()
    for word in rules.gate_words.keys() & present:
        opened.update(rules.gate_words[word])
    for symbol, positions in rules.gate_symbols:
        if symbol in code:
            opened.update(positions)
    if rules.gate_stems:
        lowered = code.lower()
        for stem, positions in rules.gate_stems:
            if stem in lowered:
                opened.update(positions)
    return opened


def _imported_names(language: Language, code: bytes) -> list[bytes]:
    names: list[bytes] = []
    for match in _IMPORTS[language].finditer(code):
        for group in match.groups():
            if not group:
                continue
            if language in (Language.PYTHON, Language.JAVASCRIPT):
                names.extend(m.group(1) for m in _IMPORT_NAME.finditer(group.strip().strip(b"()")))
            elif language is Language.GO:
                names.extend(_GO_PATH.findall(group))
            else:
                names.append(group)
    return names
