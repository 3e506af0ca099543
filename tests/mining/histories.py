"""Two crafted histories that reach every filter and guard of the miner.

`alpha` (Python, MIT, with a work tree) holds one commit per drop reason plus five good pairs,
one per aspect, and a repeat of one of them (an exact duplicate). `beta` (bare, Apache-2.0,
mostly C) holds the same fix as alpha made later in a fork (a near duplicate) and changes to a
plain C header and to a header that is C++ by its content.

`EXPECTED_DROPS` is derived from the commit list by hand: each entry names the commits that
produce it.
"""

from __future__ import annotations

from pathlib import Path

from tests.mining.gitrepo import DAY, START, Gitlink, Link, RepoBuilder

MIT = """MIT License

Copyright (c) 2017 Example

Permission is hereby granted, free of charge, to any person obtaining a copy of this software.
"""
APACHE = """
                                 Apache License
                           Version 2.0, January 2004
                        http://www.apache.org/licenses/
"""

A_PY = '''import os


def parse_range(text):
    start, _, end = text.partition("-")
    lo = int(start)
    hi = int(end)
    return list(range(lo, hi))


def lookup(items, wanted):
    found = []
    for item in items:
        if item in list(wanted):
            found.append(item)
    return found


def read_all(path):
    with open(path) as handle:
        data = handle.read()
    return data.splitlines()


def build_query(table, name):
    query = "SELECT * FROM " + table + " WHERE name = '" + name + "'"
    return query


def total(values):
    result = 0
    for i in range(len(values)):
        result = result + values[i]
    return result
'''

FIXES = {
    "range": ('    hi = int(end)\n', '    hi = int(end) + 1\n'),
    "lookup": ('    found = []\n    for item in items:\n        if item in list(wanted):\n            found.append(item)\n',
               '    wanted_set = set(wanted)\n    found = []\n    for item in items:\n        if item in wanted_set:\n'
               '            found.append(item)\n'),
    "read": ('        data = handle.read()\n    return data.splitlines()\n',
             '        for line in handle:\n            yield line.rstrip("\\n")\n'),
    "query": ('    query = "SELECT * FROM " + table + " WHERE name = \'" + name + "\'"\n    return query\n',
              '    query = "SELECT * FROM " + table + " WHERE name = ?"\n    return query, (name,)\n'),
    "total": ('    result = 0\n    for i in range(len(values)):\n        result = result + values[i]\n    return result\n',
              '    result = 0\n    for value in values:\n        result += value\n    return result\n'),
}

WIDE_PY = "def wide(x):\n" + "".join(
    f"    value_{i:02d} = compute_something_rather_long(x, {i}, 'padding text to make this line long')\n"
    for i in range(40)) + "    return x\n"

LONG_PY = "def many():\n" + "".join(f"    step_{i} = {i}\n" for i in range(90)) + "    return step_0\n"

LEAK_PY = '''def collect(items, wanted):
    found = []
    for item in items:
        if item in wanted:
            found.append(item)
    return found
'''
LEAK_FIXED = '''def collect(items, wanted):
    wanted_set = set(wanted)
    found = []
    found.extend(item for item in items if item in wanted_set)
    return found
'''

SIMPLE = "def helper(values):\n    out = []\n    for value in values:\n        out.append(value * 2)\n    return out\n"


def changed(text: str, key: str) -> str:
    old, new = FIXES[key]
    assert old in text, key
    return text.replace(old, new)


def build_alpha(root: Path) -> dict:
    b = RepoBuilder(root / "alpha")
    work = {"a.py": A_PY, "two.py": SIMPLE, "three.py": SIMPLE, "old.py": SIMPLE, "config.py": SIMPLE,
            "data.py": b"\x00\x01binary" + b"\x00" * 64, "big.py": "x = 1\n" * 5000, "latin.py": "name = 'abc'\n",
            "tool.rb": "def tool(x)\n  x.map { |v| v * 2 }\nend\n", "version.py": "VERSION = 1\n",
            "wide.py": WIDE_PY, "long.py": LONG_PY, "leak.py": LEAK_PY, "corrupt.py": SIMPLE, "side.py": SIMPLE, "fmt.py": SIMPLE,
            "README.md": "# alpha\n", "LICENSE": MIT, "docs/current": Link("a.py"),
            "vendor/lib": Gitlink("1" * 40)}
    text = A_PY
    ids: dict[str, str] = {}
    ids["root"] = b.commit("Initial commit", work)                                         # root_commit
    ids["wip"] = b.commit("wip", {"two.py": SIMPLE + "\n"})                               # trivial_message
    ids["short"] = b.commit("tiny fix", {"two.py": SIMPLE})                               # message_too_short
    ids["long"] = b.commit("Fix bug " + "x" * 6000, {"two.py": SIMPLE + "\n"})            # message_too_long
    ids["revert"] = b.commit('Revert "Speed up lookup"', {"two.py": SIMPLE})              # revert
    ids["plain"] = b.commit("Document the plan for next quarter", {"two.py": SIMPLE + "\n"})  # no_aspect
    ids["veto"] = b.commit("Fix typo in the comment of helper", {"two.py": SIMPLE})       # no_aspect (veto)
    ids["multi"] = b.commit("Fix crash when both parsers see empty input",
                            {"two.py": SIMPLE + "\n", "three.py": SIMPLE + "\n"})          # multiple_files
    ids["added"] = b.commit("Fix bug by adding the missing module", {"new.py": SIMPLE})   # file_added
    ids["deleted"] = b.commit("Fix bug by deleting the stale module", {"old.py": None})   # file_deleted
    ids["empty"] = b.commit("Fix bug with an empty commit", {})                           # no_file_changed
    ids["symlink"] = b.commit("Fix bug in the docs link target", {"docs/current": Link("two.py")})  # symlink
    ids["submodule"] = b.commit("Fix bug by pinning the vendored library",
                                {"vendor/lib": Gitlink("2" * 40)})                         # submodule
    ids["typechange"] = b.commit("Fix bug by turning the config into a link",
                                 {"config.py": Link("a.py")})                              # type_change
    ids["readme"] = b.commit("Fix bug in the README wording", {"README.md": "# alpha!\n"})  # unsupported_language
    ids["ruby"] = b.commit("Fix bug in the ruby tool", {"tool.rb": "def tool(x)\n  x.map { |v| v * 3 }\nend\n"})
    ids["binary"] = b.commit("Fix bug in data loading", {"data.py": b"\x00\x02binary" + b"\x00" * 64})
    ids["huge"] = b.commit("Fix bug in the generated table", {"big.py": "x = 2\n" * 5000})
    ids["latin"] = b.commit("Fix bug in the latin module", {"latin.py": b"name = '\xe9\xff'\n"})  # undecodable
    ids["diff"] = b.commit("Fix bug across the whole module",
                           {"long.py": LONG_PY.replace(" = ", " = 1 + ")})                  # diff_too_large
    ids["space"] = b.commit("Fix bug in spacing of helper",
                            {"fmt.py": SIMPLE.replace("value * 2", "value  *  2")})      # whitespace_only
    ids["comment"] = b.commit("Fix bug: explain the loop in helper",
                              {"fmt.py": SIMPLE.replace("    for value", "    # double each\n    for value")})
    ids["wide"] = b.commit("Fix bug in the wide helper",
                           {"wide.py": WIDE_PY.replace("value_01 =", "value_1 =").replace("value_38 =", "value_x =")})
    ids["version"] = b.commit("Fix wrong version constant", {"version.py": "VERSION = 2\n"})  # trivial_side
    ids["leak"] = b.commit("Fix slow collect\n\nWe now call found.extend(item for item in items\n"
                           "if item in wanted_set) instead of a loop.", {"leak.py": LEAK_FIXED})  # prompt_leak
    ids["corrupt"] = b.commit("Fix bug in the corrupt module", {"corrupt.py": SIMPLE.replace("2", "3")})
    corrupt_blob = b.blob_id("corrupt.py")
    ids["bot"] = b.commit("Fix bug found by the dependency robot", {"two.py": SIMPLE},
                          author=b"dependabot[bot] <bot@example.com>")                     # author_filtered
    # a side branch and its merge
    side_base = b.head
    ids["side"] = b.commit("wip", {"side.py": SIMPLE + "\n"}, parents=[side_base], move_head=False,
                           files={**b.files, "side.py": b._entry(SIMPLE + "\n")})          # trivial_message
    ids["merge"] = b.commit("Merge branch 'side'", {"side.py": SIMPLE + "\n"}, parents=[side_base, ids["side"]])
    # five good pairs, one per aspect (with an undecodable byte in one message and one author name)
    text = changed(text, "range")
    ids["g_range"] = b.commit("Fix off by one in parse_range", {"a.py": text})
    text = changed(text, "lookup")
    ids["g_lookup"] = b.commit("Speed up lookup by using a set", {"a.py": text})
    text = changed(text, "read")
    ids["g_read"] = b.commit("Reduce memory use in read_all by streaming lines", {"a.py": text},
                             author=b"Ren\xe9 <rene@example.com>")
    text = changed(text, "query")
    ids["g_query"] = b.commit("Fix SQL injection in build_query", {"a.py": text})
    text = changed(text, "total")
    ids["g_total"] = b.commit(b"Refactor total for readability \xe9", {"a.py": text})
    # undo the range fix, then make it again: the second time is an exact duplicate
    undone = text.replace(*reversed(FIXES["range"]))
    ids["undo"] = b.commit("Restore the old range handling for callers", {"a.py": undone})  # no_aspect
    ids["g_again"] = b.commit("Fix off by one in parse_range again", {"a.py": text})  # exact_duplicate
    ids["future"] = b.commit("Fix bug from the far future", {"two.py": SIMPLE + "\n"},
                             when=START + 5000 * DAY)                                     # out_of_time_range
    b.object_file(corrupt_blob).unlink()                                                  # corrupt_blob
    return {"path": root / "alpha", "git_dir": b.path, "ids": ids, "builder": b}


UTIL_C = '''#include <string.h>
#include "util.h"

void copy_name(char *dst, const char *src) {
    strcpy(dst, src);
}
'''
UTIL_H = '''#ifndef UTIL_H
#define UTIL_H

static inline int clamp_index(int index, int size) {
    if (index < 0) {
        return 0;
    }
    return index;
}

void copy_name(char *dst, const char *src);
#endif
'''
WIDGET_H = '''#pragma once

class Widget {
public:
    void resize(int width, int height) {
        if (width > 0) {
            width_ = width;
        }
        height_ = height;
    }
private:
    int width_;
    int height_;
};
'''
RANGES_PY = '''# ranges helpers, copied from alpha


def parse_range(text):
    start, _, end = text.partition("-")
    lo = int(start)  # the fork keeps a note here
    hi = int(end)
    return list(range(lo, hi))
'''


def build_beta(root: Path) -> dict:
    b = RepoBuilder(root / "beta.git", bare=True)
    b.time = START + 200 * DAY
    ids = {}
    ids["root"] = b.commit("Import the fork", {"util.c": UTIL_C, "util.h": UTIL_H, "widget.h": WIDGET_H,
                                               "lib/ranges.py": RANGES_PY, "LICENSE": APACHE})
    ids["c"] = b.commit("Fix buffer overflow in copy_name",
                        {"util.c": UTIL_C.replace("    strcpy(dst, src);\n",
                                                  "    strncpy(dst, src, 63);\n    dst[63] = '\\0';\n")})
    ids["h"] = b.commit("Fix wrong clamp at the upper end", {"util.h": UTIL_H.replace(
        "    return index;\n", "    if (index >= size) {\n        return size - 1;\n    }\n    return index;\n")})
    ids["hpp"] = b.commit("Fix crash in Widget resize", {"widget.h": WIDGET_H.replace(
        "        height_ = height;\n", "        if (height > 0) {\n            height_ = height;\n        }\n")})
    ids["near"] = b.commit("Fix off by one in parse_range",
                           {"lib/ranges.py": RANGES_PY.replace(*FIXES["range"])})       # near_duplicate
    return {"path": root / "beta.git", "git_dir": b.path, "ids": ids, "builder": b}


# Each reason, with the commits (in alpha unless marked) that produce it.
EXPECTED_DROPS = {
    "root_commit": 2,          # alpha root, beta root
    "merge": 1,
    "trivial_message": 2,      # wip, side
    "message_too_short": 1,
    "message_too_long": 1,
    "revert": 1,
    "no_aspect": 3,            # plain, veto, undo
    "multiple_files": 1,
    "file_added": 1,
    "file_deleted": 1,
    "no_file_changed": 1,
    "symlink": 1,
    "submodule": 1,
    "type_change": 1,
    "unsupported_language": 1,
    "language_filtered": 1,    # tool.rb with Ruby left out of --languages
    "binary": 1,
    "file_too_large": 1,
    "undecodable": 1,
    "corrupt_blob": 1,
    "diff_too_large": 1,
    "whitespace_only": 1,
    "comment_only": 1,
    "window_too_long": 1,
    "trivial_side": 1,
    "prompt_leak": 1,
    "author_filtered": 1,
    "out_of_time_range": 1,
    "exact_duplicate": 1,      # g_again repeats g_range
    "near_duplicate": 1,       # beta's copy of the range fix
}
WALKED = 37 + 5  # alpha's commits (the side-branch commit included) and beta's
GOOD = {  # commit name -> (aspect, language)
    "g_range": ("Functional_Correctness", "Python"),
    "g_lookup": ("Runtime_Efficiency", "Python"),
    "g_read": ("Memory_Efficiency", "Python"),
    "g_query": ("Security_Hardness", "Python"),
    "g_total": ("Readability_Maintainability", "Python"),
    "beta:c": ("Security_Hardness", "C"),
    "beta:h": ("Functional_Correctness", "C"),
    "beta:hpp": ("Functional_Correctness", "Cpp"),
}
