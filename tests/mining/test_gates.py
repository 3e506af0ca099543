"""The pair-level parts: prompt, dedup, decontamination, splits, licences."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from themis_rm.mining import dedup, licence, split
from themis_rm.mining.decontam import Contamination
from themis_rm.mining.prompt import clean_message_text, code_lines, leaks, offline_prompt
from themis_rm.mining.windows import diff_hunks, split_lines
from themis_rm.schema import Language

BEFORE = "def area(w, h):\n    result = w * h + 1\n    return result\n"
AFTER = "def area(w, h):\n    result = w * h\n    return result\n"


# ---------------------------------------------------------------- prompt

def test_offline_prompt_is_built_from_the_message_path_and_symbol():
    prompt = offline_prompt("Fix wrong area (#123)", "The area was one too big.", "geo/shapes.py", Language.PYTHON,
                            "area", "function", BEFORE, AFTER)
    assert prompt == ("Make the following change to the function `area` in `geo/shapes.py` (Python).\n\n"
                      "Change: Fix wrong area\n\nDetails:\nThe area was one too big.\n\n"
                      "Reply with the complete function `area` after the change.")


def test_code_quoted_in_the_message_never_reaches_the_prompt():
    body = ("Before:\n```\nresult = w * h + 1\n```\nand the old line was\n    result = w * h + 1\n"
            "+    result = w * h\nWe changed result = w * h + 1 to the product.\n- a bullet stays")
    prompt = offline_prompt("Fix wrong area", body, "a.py", Language.PYTHON, "area", "function", BEFORE, AFTER)
    assert prompt is not None
    assert not leaks(prompt, code_lines(BEFORE, AFTER))
    assert "result = w * h" not in prompt and "- a bullet stays" in prompt


def test_a_leak_that_cannot_be_cleaned_drops_the_prompt():
    body = "We now compute result = w *\nh + 1 in one place."  # the code line is split over two lines
    assert offline_prompt("Fix area", body, "a.py", Language.PYTHON, "area", "function", BEFORE, AFTER) is None


def test_clean_message_keeps_prose_and_other_code():
    text = "-Fixed the loop\n- a bullet\n+    quoted = diff_line()\n\nThis used to crash:\n    parse('[1,')\n"
    assert clean_message_text(text, set()) == "-Fixed the loop\n- a bullet\n\nThis used to crash:\n    parse('[1,')"
    leaked = code_lines("def f():\n    parse('[1,')\n")  # the same call is a line of one side
    assert clean_message_text(text, leaked) == "-Fixed the loop\n- a bullet\n\nThis used to crash:"


def test_fence_survives_backticks_in_code():
    assert Language.CSHARP.fenced("x = 1") == "```csharp\nx = 1\n```"
    assert Language.PYTHON.fenced('s = "```"').startswith("````python\n")


# ---------------------------------------------------------------- dedup

def _item(key, before, after, symbol="f"):
    text = dedup.change_text(split_lines(before), split_lines(after), diff_hunks(before, after), symbol)
    return dedup.Item(key, dedup.content_hash(before, after), dedup.signature(text, 5, 128))


def test_exact_and_near_duplicates_are_dropped_in_priority_order():
    body = "".join(f"    total = total + values[{i}] * weights[{i}]\n" for i in range(12))
    before = f"def score(values, weights):\n    total = 0\n{body}    return total\n"
    after = before.replace("return total", "return total / len(values)")
    context = before.replace("total = 0", "total = 0  # start")  # same change, different context
    items = [_item("a", before, after), _item("b", before, after), _item("c", context, after.replace(
        "total = 0", "total = 0  # start"))]
    assert dedup.deduplicate(items, 0.85, 128) == {"b": ("exact_duplicate", "a"), "c": ("near_duplicate", "a")}


def test_successive_fixes_to_one_function_are_not_duplicates():
    body = "".join(f"    step_{i} = run(x, {i})\n" for i in range(30))
    v1 = f"def pipeline(x):\n{body}    return x\n"
    v2 = v1.replace("run(x, 3)", "run(x, 4)")
    v3 = v2.replace("return x", "return step_29")
    items = [_item("first", v1, v2, "pipeline"), _item("second", v2, v3, "pipeline")]
    assert dedup.deduplicate(items, 0.85, 128) == {}


def test_signatures_are_the_same_in_every_process():
    # pinned: workers compute signatures in other processes and shard checkpoints keep them
    assert _item("a", BEFORE, AFTER).signature[:3] == [1496347177, 272506539, 459770084]


# ---------------------------------------------------------------- decontamination

def test_decontamination_reads_jsonl_parquet_and_text(tmp_path):
    passage = "the quick brown fox jumps over the lazy dog while the cat sleeps on the warm mat"
    (tmp_path / "b.jsonl").write_text(json.dumps({"prompt": [{"role": "user", "content": passage}]}) + "\n")
    index = Contamination.from_files([tmp_path / "b.jsonl"], 13)
    assert index.hits("Intro: The QUICK brown fox, jumps over the lazy dog while the cat sleeps!")
    assert not index.hits("the quick brown fox jumps over the lazy dog")  # only 9 words
    pytest.importorskip("pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([{"chosen": passage}]), tmp_path / "b.parquet")
    (tmp_path / "b.txt").write_text(passage)
    for name in ("b.parquet", "b.txt"):
        assert Contamination.from_files([tmp_path / name], 13).hits(passage)


def test_missing_benchmark_file_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="not found"):
        Contamination.from_files([tmp_path / "nope.jsonl"], 13)


# ---------------------------------------------------------------- splits

def _ts(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp())


def test_time_windows():
    windows = split.parse_windows(["train=..2019-03", "benchmark=2019-06..2021-01"])
    assert split.time_split(_ts("2019-02-28T23:59:59"), windows) == "train"
    assert split.time_split(_ts("2019-03-01"), windows) == "gap"
    assert split.time_split(_ts("2019-06-01"), windows) == "benchmark"
    assert split.time_split(_ts("2021-01-01"), windows) == "gap"


@pytest.mark.parametrize("specs, message", [
    (["train"], "NAME=START..END"),
    (["train=2019..2018"], "start must come before"),
    (["a=..2019-06", "b=2019-03.."], "overlap"),
    (["a=2019-13.."], "bad date"),
])
def test_bad_time_windows(specs, message):
    with pytest.raises(ValueError, match=message):
        split.parse_windows(specs)


def test_repo_splits_are_seeded_disjoint_and_balanced():
    counts = {f"repo{i}": 10 + i for i in range(20)}
    fractions = split.parse_fractions(["train=0.8", "benchmark=0.2"])
    first = split.repo_splits(counts, fractions, seed=1)
    assert first == split.repo_splits(counts, fractions, seed=1)
    assert first != split.repo_splits(counts, fractions, seed=2)
    share = sum(counts[r] for r, s in first.items() if s == "benchmark") / sum(counts.values())
    assert 0.15 < share < 0.25
    assert split.repo_splits({"only": 5}, fractions, seed=3) == {"only": "train"}


def test_split_modes():
    windows = split.parse_windows(["train=..2020", "benchmark=2020.."])
    by_repo = {"a": "train", "b": "benchmark"}
    when = _ts("2021-05-01")
    assert split.assign(when, "a", "none", windows, by_repo) == "train"
    assert split.assign(when, "a", "time", windows, by_repo) == "benchmark"
    assert split.assign(when, "a", "repo", windows, by_repo) == "train"
    assert split.assign(when, "a", "repo+time", windows, by_repo) == "gap"
    assert split.assign(when, "b", "repo+time", windows, by_repo) == "benchmark"
    assert split.mode("auto", windows) == "time" and split.mode("auto", []) == "repo"
    with pytest.raises(ValueError, match="needs at least one"):
        split.mode("time", [])


# ---------------------------------------------------------------- licences

@pytest.mark.parametrize("text, spdx", [
    ("MIT License\n\nPermission is hereby granted, free of charge, to any person", "MIT"),
    ("  Apache License\n  Version 2.0, January 2004", "Apache-2.0"),
    ("GNU GENERAL PUBLIC LICENSE\nVersion 3, 29 June 2007", "GPL-3.0"),
    ("GNU LESSER GENERAL PUBLIC LICENSE\nVersion 2.1, February 1999", "LGPL-2.1"),
    ("Redistribution and use in source and binary forms ... Neither the name of", "BSD-3-Clause"),
    ("Redistribution and use in source and binary forms, with or without", "BSD-2-Clause"),
    ("SPDX-License-Identifier: MPL-2.0", "MPL-2.0"),
    ("All rights reserved.", "NOASSERTION"),
])
def test_licence_detection(text, spdx):
    assert licence.detect_licence(text) == spdx


@pytest.mark.parametrize("name, expected", [("LICENSE", True), ("licence.md", True), ("COPYING", True),
                                            ("MIT-LICENSE", True), ("LICENSE-APACHE", True), ("UNLICENSE", True),
                                            ("license.txt", True), ("licenses", False), ("README.md", False),
                                            ("LICENSING.md", False)])
def test_licence_file_names(name, expected):
    assert licence.is_licence_file(name) is expected


def test_licence_allowlist():
    assert licence.allowed("MIT", [])
    assert licence.allowed("mit", ["MIT"])
    assert not licence.allowed("GPL-3.0", ["MIT", "Apache-2.0"])
    assert licence.allowed("MIT OR GPL-3.0", ["MIT"])
    assert not licence.allowed("MIT AND GPL-3.0", ["MIT"])
    assert licence.allowed("GPL-2.0 WITH Classpath-exception-2.0", ["GPL-2.0"])
    assert not licence.allowed("NOASSERTION", ["MIT"])
