"""The little tree-sitter the miner needs: parse, find the enclosing definition, measure depth,
and compare two regions while ignoring whitespace and comments.

Grammars load lazily, once per process; a language whose grammar package is missing gets
`None` from `parser_for`, and the miner falls back to line windows for it.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from themis_rm.grammars import parser
from themis_rm.schema import Language

FUNCTIONS: dict[Language, frozenset[str]] = {
    Language.C: frozenset({"function_definition"}),
    Language.CPP: frozenset({"function_definition"}),
    Language.CSHARP: frozenset({"method_declaration", "constructor_declaration", "destructor_declaration",
                                "operator_declaration", "conversion_operator_declaration", "property_declaration",
                                "indexer_declaration", "local_function_statement"}),
    Language.GO: frozenset({"function_declaration", "method_declaration"}),
    Language.JAVA: frozenset({"method_declaration", "constructor_declaration", "compact_constructor_declaration"}),
    Language.JAVASCRIPT: frozenset({"function_declaration", "generator_function_declaration", "method_definition",
                                    "function_expression", "arrow_function", "generator_function"}),
    Language.PYTHON: frozenset({"function_definition"}),
    Language.RUBY: frozenset({"method", "singleton_method"}),
}
CLASSES: dict[Language, frozenset[str]] = {
    Language.C: frozenset({"struct_specifier"}),
    Language.CPP: frozenset({"class_specifier", "struct_specifier"}),
    Language.CSHARP: frozenset({"class_declaration", "struct_declaration", "interface_declaration",
                                "record_declaration", "enum_declaration"}),
    Language.GO: frozenset({"type_declaration"}),
    Language.JAVA: frozenset({"class_declaration", "interface_declaration", "enum_declaration",
                              "record_declaration"}),
    Language.JAVASCRIPT: frozenset({"class_declaration"}),
    Language.PYTHON: frozenset({"class_definition"}),
    Language.RUBY: frozenset({"class", "module", "singleton_class"}),
}
# Nodes that carry a definition's decorators, template header or export keyword with it.
_WRAPPERS = frozenset({"decorated_definition", "template_declaration", "export_statement"})
# JavaScript function expressions count as definitions only when their context names them.
_ANONYMOUS = frozenset({"function_expression", "arrow_function", "generator_function"})
_NAMERS = {"variable_declarator": "name", "assignment_expression": "left", "pair": "key",
           "field_definition": "property", "public_field_definition": "name"}
_IDENTIFIERS = frozenset({"identifier", "field_identifier", "qualified_identifier", "destructor_name",
                          "operator_name", "type_identifier", "scoped_identifier", "template_function"})

Node = Any  # tree_sitter.Node; kept loose so that this module imports without the grammar packages


def parser_for(language: Language) -> Any | None:
    """The language's parser, or None when its grammar wheel is missing (windows fall back to lines)."""
    try:
        return parser(language)
    except ImportError:
        return None


def parse(language: Language, text: str) -> Node | None:
    parser = parser_for(language)
    if parser is None:
        return None
    return parser.parse(text.encode("utf-8")).root_node


Hunk = tuple[int, int, int, int]  # old_start, old_lines, new_start, new_lines (1-based, as git writes them)


def _line_starts(data: bytes) -> Any:
    """Byte offset of the start of every line, then the end of the data (a numpy array)."""
    import numpy as np

    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10) + 1
    starts = np.concatenate(([0], newlines))
    if starts[-1] != len(data):
        starts = np.append(starts, len(data))
    return starts


def edit_tree(tree: Any, old: bytes, new: bytes, hunks: Sequence[Hunk]) -> None:
    """Tell `tree` (a parse of `old`) about the line hunks that turn `old` into `new`."""
    old_starts, new_starts = _line_starts(old), _line_starts(new)

    def at(starts: Any, row: int) -> int:
        return int(starts[min(row, len(starts) - 1)])

    for old_start, old_lines, new_start, new_lines in reversed(hunks):  # last first: earlier offsets stay valid
        old_row = old_start - 1 if old_lines else old_start
        new_row = new_start - 1 if new_lines else new_start
        start = at(old_starts, old_row)
        tree.edit(start_byte=start, old_end_byte=at(old_starts, old_row + old_lines),
                  new_end_byte=start + at(new_starts, new_row + new_lines) - at(new_starts, new_row),
                  start_point=(old_row, 0), old_end_point=(old_row + old_lines, 0),
                  new_end_point=(old_row + new_lines, 0))


class ParseCache:
    """The last parsed version of each recently seen file, so that the next version of the same
    file is parsed incrementally (tree-sitter reuses the unchanged subtrees). A history touches
    the same files again and again, and a commit's "after" is an edit of its "before", so most
    parses become small reparses. The trees are the ones a fresh parse gives (a test holds
    the two to that); only the time differs."""

    def __init__(self, differ: Callable[[bytes, bytes], Sequence[Hunk]], size: int = 256) -> None:
        self.differ = differ
        self.size = size
        self._entries: OrderedDict[tuple[Language, str], tuple[bytes, Any]] = OrderedDict()
        self.stats = {"fresh": 0, "incremental": 0, "hit": 0}

    def root(self, language: Language, path: str, data: bytes,
             known: tuple[bytes, Sequence[Hunk]] | None = None) -> Node | None:
        """The syntax tree of `data`; `known` = (text of the cached version, hunks from it), when the
        caller already has the diff."""
        parser = parser_for(language)
        if parser is None:
            return None
        key = (language, path)
        entry = self._entries.get(key)
        if entry is not None and entry[0] == data:
            self._entries.move_to_end(key)
            self.stats["hit"] += 1
            return entry[1].root_node
        if entry is None:
            tree = parser.parse(data)
            self.stats["fresh"] += 1
        else:
            old_data, old_tree = entry
            hunks = known[1] if known is not None and known[0] == old_data else self.differ(old_data, data)
            edited = old_tree.copy()
            edit_tree(edited, old_data, data, hunks)
            tree = parser.parse(data, edited)
            self.stats["incremental"] += 1
        self._entries[key] = (data, tree)
        self._entries.move_to_end(key)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return tree.root_node


def _named_by_context(node: Node) -> tuple[Node, str] | None:
    """For an anonymous JS function: the statement that names it and the name."""
    parent = node.parent
    if parent is None or parent.type not in _NAMERS:
        return None
    name_node = parent.child_by_field_name(_NAMERS[parent.type])
    if name_node is None:
        return None
    outer = parent.parent
    declared = parent.type == "variable_declarator"
    assigned = parent.type == "assignment_expression" and outer is not None and outer.type == "expression_statement"
    span = outer if outer is not None and (declared or assigned) else parent
    return span, _text(name_node)


def _text(node: Node) -> str:
    return node.text.decode("utf-8", errors="replace")


def symbol_name(node: Node) -> str | None:
    """The declared name of a definition node (C/C++ names hide inside declarator chains)."""
    name = _raw_symbol_name(node)
    if name is None or not re.search(r"\s", name):
        return name
    # a parse that went astray (macros, templates) can hand back a phrase: keep its last name
    names = re.findall(r"[~\w]+(?:::[~\w]+)*", name)
    return names[-1] if names else None


def _raw_symbol_name(node: Node) -> str | None:
    name = node.child_by_field_name("name")
    if name is not None:
        return _text(name)
    if node.type == "type_declaration":
        spec = next((c for c in node.named_children if c.type == "type_spec"), None)
        return symbol_name(spec) if spec is not None else None
    declarator = node.child_by_field_name("declarator")
    while declarator is not None:
        if declarator.type in _IDENTIFIERS:
            return _text(declarator)
        inner = declarator.child_by_field_name("declarator")
        if inner is None:  # reference_declarator and friends hold their child unnamed
            inner = next((c for c in declarator.named_children if "declarator" in c.type or c.type in _IDENTIFIERS),
                         None)
        declarator = inner
    return None


class Definition:
    """A function or class found around a change: the node to cut, its kind and its name."""

    def __init__(self, span: Node, kind: str, symbol: str | None, node_type: str) -> None:
        self.span = span
        self.kind = kind
        self.symbol = symbol
        self.node_type = node_type

    @property
    def rows(self) -> tuple[int, int]:
        return self.span.start_point[0], self.span.end_point[0]


def _children_over(node: Node, first_row: int, last_row: int) -> Iterator[Node]:
    """The children of `node` that share a row with [first_row, last_row], found by bisection
    (a file's top level can have thousands of children; only a few are near a change)."""
    lo, hi = 0, node.child_count
    while lo < hi:
        mid = (lo + hi) // 2
        if node.child(mid).end_point[0] < first_row:
            lo = mid + 1
        else:
            hi = mid
    for index in range(lo, node.child_count):
        child = node.child(index)
        if child.start_point[0] > last_row:
            return
        yield child


def enclosing_definition(root: Node, language: Language, first_row: int, last_row: int) -> Definition | None:
    """The innermost function or class whose rows cover [first_row, last_row]."""
    chain = [root]
    while True:
        inside = next((child for child in _children_over(chain[-1], first_row, last_row)
                       if child.start_point[0] <= first_row and child.end_point[0] >= last_row), None)
        if inside is None:
            break
        chain.append(inside)
    functions, classes = FUNCTIONS[language], CLASSES[language]
    for node in reversed(chain):
        if node.type in functions or node.type in classes:
            found = _definition(node, functions)
            if found is not None:
                return found
    return None


def _definition(node: Node, functions: frozenset[str]) -> Definition | None:
    kind = "function" if node.type in functions else "class"
    if node.type in _ANONYMOUS:
        named = _named_by_context(node)
        if named is None:
            name = node.child_by_field_name("name")
            return None if name is None else Definition(node, kind, _text(name), node.type)
        span, symbol = named
        return Definition(span, kind, symbol, node.type)
    span = node
    while span.parent is not None and span.parent.type in _WRAPPERS:
        span = span.parent
    return Definition(span, kind, symbol_name(node), node.type)


def depth(node: Node, cap: int | None = None) -> int:
    """Height of the syntax tree under `node`, counting every node (a lone leaf is 1); the search
    stops once `cap` is reached, which is all a threshold test needs."""
    best = 0
    stack = [(node, 1)]
    while stack:
        current, level = stack.pop()
        best = max(best, level)
        if cap is not None and best >= cap:
            return best
        stack.extend((child, level + 1) for child in current.children)
    return best


def _is_comment(node: Node, language: Language) -> bool:
    if "comment" in node.type:
        return True
    # A Python statement that is only a string literal is a docstring: prose, not code.
    return (language is Language.PYTHON and node.type == "expression_statement"
            and node.named_child_count == 1 and node.named_children[0].type == "string")


def code_signature(node: Node, language: Language, rows: tuple[int, int] | None = None) -> list[tuple[int, str]]:
    """The code leaves under `node` (optionally only those within `rows`), without comments,
    each with its depth. Two regions with the same signature differ only in whitespace or
    comments; the depth keeps a re-indented Python statement (a semantic change) apart."""
    out: list[tuple[int, str]] = []
    stack = [(node, 0)]
    while stack:
        current, level = stack.pop()
        if _is_comment(current, language):
            continue
        if current.child_count == 0:
            out.append((level, _text(current)))
            continue
        children = current.children if rows is None else list(_children_over(current, *rows))
        stack.extend((child, level + 1) for child in reversed(children))
    return out
