"""Per-language syntax tables: which tree-sitter node types play which role.

Everything language-specific about the tree lives here as data. `query_source(language)`
turns a table into one tree-sitter query whose capture names are the roles below, so that
a single C-level query run yields every structural fact about a response.

| capture        | meaning                                                          |
|----------------|------------------------------------------------------------------|
| `loop`         | a loop, including comprehensions and iterator calls with a block |
| `branch`       | a decision point besides loops (if, case, catch, &&, ||, ?:)     |
| `nest`         | a control block that deepens nesting besides loops (if, try...)  |
| `function`     | a function, method or lambda                                     |
| `comment`      | a comment                                                        |
| `string`       | a string or character literal                                    |
| `exit`         | return, throw/raise, break, continue, goto                       |
| `compare`      | an ordering comparison (`<`, `<=`, `>`, `>=`)                    |
| `resource`     | a scoped-resource construct (with, using, defer, try-with-...)   |
| `assign_cond`  | an assignment used directly as an `if` condition                 |
| `catch_body`   | the body of a catch/except clause (checked for emptiness)        |
| `docstring`    | a Python docstring                                               |
| `call`         | the name of a bare call `f(...)` or a call on self/this          |
| `error`        | an ERROR or MISSING node                                         |
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field

from themis_rm.schema import Language

ROLES = (
    "loop", "branch", "nest", "function", "comment", "string", "exit", "compare",
    "resource", "assign_cond", "catch_body", "docstring", "call", "error",
)


@dataclass(frozen=True)
class SyntaxTable:
    """Node types per role, plus raw query patterns for roles that need structure."""

    node_types: dict[str, tuple[str, ...]]
    patterns: tuple[str, ...] = ()
    keywords: frozenset[str] = field(default_factory=frozenset)
    #: Functions callable without a definition in the code (library and built-in names).
    builtins: frozenset[str] = frozenset()
    #: Statement lists: an exit statement followed by a sibling in one of these is dead code.
    blocks: frozenset[str] = frozenset()


def _kw(words: str) -> frozenset[str]:
    return frozenset(words.split())


_C_KEYWORDS = _kw(
    "auto break case char const continue default do double else enum extern float for goto if inline int long "
    "register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while "
    "NULL size_t bool true false include define ifdef ifndef endif"
)
_CPP_KEYWORDS = _C_KEYWORDS | _kw(
    "class namespace template typename public private protected virtual override new delete this try catch throw "
    "using nullptr operator friend explicit constexpr auto std const_cast static_cast dynamic_cast reinterpret_cast "
    "noexcept final mutable string vector"
)
_JAVA_KEYWORDS = _kw(
    "abstract assert boolean break byte case catch char class const continue default do double else enum extends "
    "final finally float for goto if implements import instanceof int interface long native new package private "
    "protected public return short static strictfp super switch synchronized this throw throws transient try void "
    "volatile while var true false null String Override"
)
_CSHARP_KEYWORDS = _kw(
    "abstract as base bool break byte case catch char checked class const continue decimal default delegate do "
    "double else enum event explicit extern false finally fixed float for foreach goto if implicit in int interface "
    "internal is lock long namespace new null object operator out override params private protected public readonly "
    "ref return sbyte sealed short sizeof stackalloc static string struct switch this throw true try typeof uint "
    "ulong unchecked unsafe ushort using virtual void volatile while var async await get set value"
)
_JS_KEYWORDS = _kw(
    "break case catch class const continue debugger default delete do else export extends finally for function if "
    "import in instanceof let new return super switch this throw try typeof var void while with yield async await "
    "of true false null undefined static get set"
)
_GO_KEYWORDS = _kw(
    "break case chan const continue default defer else fallthrough for func go goto if import interface map package "
    "range return select struct switch type var nil true false int string error bool byte rune float64 int64"
)
_PY_KEYWORDS = _kw(
    "False None True and as assert async await break class continue def del elif else except finally for from global "
    "if import in is lambda nonlocal not or pass raise return try while with yield self print len range int str"
)
_RUBY_KEYWORDS = _kw(
    "BEGIN END alias and begin break case class def defined do else elsif end ensure false for if in module next nil "
    "not or redo rescue retry return self super then true undef unless until when while yield puts require attr_reader "
    "attr_accessor"
)

_PY_BUILTINS = frozenset(dir(builtins)) | _kw("super print")
_C_BUILTINS = _kw(
    "printf scanf sscanf fscanf sprintf snprintf fprintf vprintf puts putchar getchar gets fgets fputs fopen fclose "
    "fread fwrite fseek ftell fflush malloc calloc realloc free memset memcpy memmove memcmp strlen strcmp strncmp "
    "strcpy strncpy strcat strncat strchr strrchr strstr strtok strdup strtol strtoul strtod atoi atol atof abs labs "
    "exit abort qsort bsearch sqrt pow floor ceil fabs log exp sin cos tan isdigit isalpha isalnum isspace isupper "
    "islower toupper tolower assert rand srand time perror sizeof offsetof va_start va_end va_arg min max"
)
_CPP_BUILTINS = _C_BUILTINS | _kw(
    "sort stable_sort reverse swap accumulate find find_if count count_if lower_bound upper_bound binary_search "
    "make_pair make_tuple make_unique make_shared to_string stoi stol stoll stoul stod gcd __gcd lcm fill iota "
    "unique next_permutation prev_permutation max_element min_element begin end getline move forward tie get "
    "distance advance transform copy all_of any_of none_of partial_sum memset __builtin_popcount"
)
_JS_BUILTINS = _kw(
    "parseInt parseFloat isNaN isFinite Number String Boolean Array Object Symbol BigInt Date Error TypeError "
    "RegExp Map Set WeakMap Promise require setTimeout setInterval clearTimeout clearInterval alert fetch "
    "encodeURIComponent decodeURIComponent encodeURI decodeURI escape unescape eval $ jQuery describe it test "
    "expect super"
)
_GO_BUILTINS = _kw("len cap append make new panic recover copy delete close print println min max complex real imag "
                   "clear string int int64 float64 byte rune uint uint64 int32 error")
_JAVA_BUILTINS = _kw("super this")
_CSHARP_BUILTINS = _kw("nameof")
_RUBY_BUILTINS = _kw(
    "puts print p pp require require_relative raise fail attr_accessor attr_reader attr_writer include extend "
    "lambda proc loop format sprintf printf rand sleep gets private protected public block_given? respond_to? send "
    "define_method catch throw Integer Float String Array Hash render redirect_to params before_action "
    "after_action validates has_many belongs_to has_one scope helper_method exit abort at_exit"
)

_C_LIKE_EXITS = ("return_statement", "break_statement", "continue_statement", "goto_statement")
_LOGICAL = '(binary_expression operator: ["&&" "||"]) @branch'
_ORDERING = '(binary_expression operator: ["<" ">" "<=" ">="]) @compare'

TABLES: dict[Language, SyntaxTable] = {
    Language.PYTHON: SyntaxTable(
        node_types={
            "loop": ("for_statement", "while_statement", "list_comprehension", "set_comprehension",
                     "dictionary_comprehension", "generator_expression"),
            "branch": ("if_statement", "elif_clause", "conditional_expression", "boolean_operator",
                       "except_clause", "case_clause"),
            "nest": ("if_statement", "try_statement", "with_statement", "match_statement"),
            "function": ("function_definition", "lambda"),
            "comment": ("comment",),
            "string": ("string",),
            "exit": ("return_statement", "raise_statement", "break_statement", "continue_statement"),
            "compare": ("comparison_operator",),
            "resource": ("with_statement",),
        },
        patterns=(
            "(except_clause (block) @catch_body)",
            "(function_definition body: (block . (expression_statement (string) @docstring)))",
            "(class_definition body: (block . (expression_statement (string) @docstring)))",
            "(module . (expression_statement (string) @docstring))",
            "(call function: (identifier) @call)",
            "(call function: (attribute object: (identifier) @_self attribute: (identifier) @call) (#eq? @_self \"self\"))",
        ),
        keywords=_PY_KEYWORDS,
        builtins=_PY_BUILTINS,
        blocks=frozenset({"block"}),
    ),
    Language.JAVA: SyntaxTable(
        node_types={
            "loop": ("for_statement", "enhanced_for_statement", "while_statement", "do_statement"),
            "branch": ("if_statement", "ternary_expression", "catch_clause", "switch_label"),
            "nest": ("if_statement", "try_statement", "try_with_resources_statement", "switch_expression",
                     "synchronized_statement"),
            "function": ("method_declaration", "constructor_declaration", "lambda_expression"),
            "comment": ("line_comment", "block_comment"),
            "string": ("string_literal", "character_literal"),
            "exit": ("return_statement", "throw_statement", "break_statement", "continue_statement"),
            "resource": ("try_with_resources_statement", "finally_clause"),
        },
        patterns=(
            _LOGICAL, _ORDERING,
            "(if_statement condition: (parenthesized_expression (assignment_expression) @assign_cond))",
            "(catch_clause body: (block) @catch_body)",
            "(method_invocation !object name: (identifier) @call)",
            "(method_invocation object: (this) name: (identifier) @call)",
        ),
        keywords=_JAVA_KEYWORDS,
        builtins=_JAVA_BUILTINS,
        blocks=frozenset({"block"}),
    ),
    Language.JAVASCRIPT: SyntaxTable(
        node_types={
            "loop": ("for_statement", "for_in_statement", "while_statement", "do_statement"),
            "branch": ("if_statement", "ternary_expression", "catch_clause", "switch_case"),
            "nest": ("if_statement", "try_statement", "switch_statement", "with_statement"),
            "function": ("function_declaration", "function_expression", "arrow_function", "method_definition",
                         "generator_function", "generator_function_declaration"),
            "comment": ("comment",),
            "string": ("string", "template_string"),
            "exit": ("return_statement", "throw_statement", "break_statement", "continue_statement"),
            "resource": ("finally_clause",),
        },
        patterns=(
            '(binary_expression operator: ["&&" "||" "??"]) @branch', _ORDERING,
            '(call_expression function: (member_expression property: (property_identifier) @_iter) '
            '(#match? @_iter "^(forEach|map|filter|reduce|some|every|flatMap|find|findIndex)$")) @loop',
            "(if_statement condition: (parenthesized_expression (assignment_expression) @assign_cond))",
            "(catch_clause body: (statement_block) @catch_body)",
            "(call_expression function: (identifier) @call)",
            "(call_expression function: (member_expression object: (this) property: (property_identifier) @call))",
        ),
        keywords=_JS_KEYWORDS,
        builtins=_JS_BUILTINS,
        blocks=frozenset({"statement_block"}),
    ),
    Language.GO: SyntaxTable(
        node_types={
            "loop": ("for_statement",),
            "branch": ("if_statement", "expression_case", "type_case", "communication_case"),
            "nest": ("if_statement", "expression_switch_statement", "type_switch_statement", "select_statement"),
            "function": ("function_declaration", "method_declaration", "func_literal"),
            "comment": ("comment",),
            "string": ("interpreted_string_literal", "raw_string_literal", "rune_literal"),
            "exit": ("return_statement", "break_statement", "continue_statement", "goto_statement"),
            "resource": ("defer_statement",),
        },
        patterns=(
            _LOGICAL, _ORDERING,
            "(call_expression function: (identifier) @call)",
        ),
        keywords=_GO_KEYWORDS,
        builtins=_GO_BUILTINS,
        blocks=frozenset({"statement_list"}),
    ),
    Language.RUBY: SyntaxTable(
        node_types={
            "loop": ("for", "while", "until", "while_modifier", "until_modifier"),
            "branch": ("if", "elsif", "unless", "if_modifier", "unless_modifier", "conditional", "when",
                       "rescue", "rescue_modifier"),
            "nest": ("if", "unless", "case", "begin"),
            "function": ("method", "singleton_method", "lambda"),
            "comment": ("comment",),
            "string": ("string", "heredoc_body", "string_array", "symbol_array"),
            "exit": ("return", "break", "next", "retry"),
            "resource": ("ensure",),
        },
        patterns=(
            '(binary operator: ["&&" "||" "and" "or"]) @branch',
            '(binary operator: ["<" ">" "<=" ">="]) @compare',
            '(call method: (identifier) @_iter block: (_) '
            '(#match? @_iter "^(each|each_with_index|each_with_object|map|collect|select|reject|times|upto|downto|'
            'each_char|each_line|each_pair|each_key|each_value|inject|reduce|step|flat_map|find|detect|any\\\\?|all\\\\?|'
            'count|sum|group_by|sort_by|min_by|max_by)$")) @loop',
            "(rescue) @catch_body",
            "(call !receiver method: (identifier) @call)",
            "(call receiver: (self) method: (identifier) @call)",
        ),
        keywords=_RUBY_KEYWORDS,
        builtins=_RUBY_BUILTINS,
        blocks=frozenset(),
    ),
    Language.C: SyntaxTable(
        node_types={
            "loop": ("for_statement", "while_statement", "do_statement"),
            "branch": ("if_statement", "conditional_expression", "case_statement"),
            "nest": ("if_statement", "switch_statement"),
            "function": ("function_definition",),
            "comment": ("comment",),
            "string": ("string_literal", "char_literal", "system_lib_string"),
            "exit": _C_LIKE_EXITS,
        },
        patterns=(
            _LOGICAL, _ORDERING,
            "(if_statement condition: (parenthesized_expression (assignment_expression) @assign_cond))",
            "(call_expression function: (identifier) @call)",
        ),
        keywords=_C_KEYWORDS,
        builtins=_C_BUILTINS,
        blocks=frozenset({"compound_statement"}),
    ),
    Language.CPP: SyntaxTable(
        node_types={
            "loop": ("for_statement", "for_range_loop", "while_statement", "do_statement"),
            "branch": ("if_statement", "conditional_expression", "case_statement", "catch_clause"),
            "nest": ("if_statement", "switch_statement", "try_statement"),
            "function": ("function_definition", "lambda_expression"),
            "comment": ("comment",),
            "string": ("string_literal", "char_literal", "raw_string_literal", "system_lib_string"),
            "exit": (*_C_LIKE_EXITS, "throw_statement"),
        },
        patterns=(
            _LOGICAL, _ORDERING,
            "(if_statement condition: (condition_clause value: (assignment_expression) @assign_cond))",
            "(catch_clause body: (compound_statement) @catch_body)",
            "(call_expression function: (identifier) @call)",
            "(call_expression function: (field_expression argument: (this) field: (field_identifier) @call))",
        ),
        keywords=_CPP_KEYWORDS,
        builtins=_CPP_BUILTINS,
        blocks=frozenset({"compound_statement"}),
    ),
    Language.CSHARP: SyntaxTable(
        node_types={
            "loop": ("for_statement", "foreach_statement", "while_statement", "do_statement"),
            "branch": ("if_statement", "conditional_expression", "catch_clause", "switch_section",
                       "switch_expression_arm"),
            "nest": ("if_statement", "try_statement", "switch_statement", "using_statement", "lock_statement"),
            "function": ("method_declaration", "constructor_declaration", "local_function_statement",
                         "lambda_expression", "anonymous_method_expression"),
            "comment": ("comment",),
            "string": ("string_literal", "verbatim_string_literal", "interpolated_string_expression",
                       "raw_string_literal", "character_literal"),
            "exit": ("return_statement", "throw_statement", "break_statement", "continue_statement",
                     "goto_statement"),
            "resource": ("using_statement", "finally_clause"),
        },
        patterns=(
            '(binary_expression operator: ["&&" "||" "??"]) @branch', _ORDERING,
            "(if_statement condition: (assignment_expression) @assign_cond)",
            "(catch_clause body: (block) @catch_body)",
            "(invocation_expression function: (identifier) @call)",
        ),
        keywords=_CSHARP_KEYWORDS,
        builtins=_CSHARP_BUILTINS,
        blocks=frozenset({"block"}),
    ),
}


def query_source(language: Language) -> str:
    """One query for every role of a language: node-type alternations plus the raw patterns."""
    table = TABLES[language]
    parts = [f"[{' '.join(f'({t})' for t in types)}] @{role}" for role, types in table.node_types.items()]
    parts.extend(table.patterns)
    parts.append("(ERROR) @error")
    parts.append("(MISSING) @error")
    return "\n".join(parts)
