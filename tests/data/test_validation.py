"""Every kind of bad input gets one line naming the file and the row, and exit status 2."""

import json
import subprocess
import sys

import pytest

from themis_rm.data import DataError, read_pairs

GOOD = {"id": "a", "prompt": "p", "chosen": "x = 1", "rejected": "x = 2", "aspect": "Security_Hardness",
        "language": "Python", "subset": "S"}


def write_lines(path, lines):
    path.write_bytes(b"\n".join(line if isinstance(line, bytes) else line.encode() for line in lines) + b"\n")
    return path


def row(**changes):
    data = {**GOOD, **changes}
    return json.dumps({k: v for k, v in data.items() if v is not ...})


CASES = [
    ("missing column", [row(id="b", chosen=...)], "missing column(s) 'chosen'"),
    ("invalid json", ['{"id": "b", "prompt": '], "invalid JSON"),
    ("unknown aspect", [row(id="b", aspect="vibes")], "unknown aspect 'vibes'; allowed: Functional_Correctness"),
    ("unknown language", [row(id="b", language="Rust")], "unknown language 'Rust'; allowed: C, CSharp"),
    ("empty response", [row(id="b", rejected="   ")], "column 'rejected' is empty"),
    ("wrong type", [row(id="b", chosen=42)], "column 'chosen' must be a string, got int"),
    ("wrong prompt type", [row(id="b", prompt={"text": "p"})], "column 'prompt' must be a string or a list of messages"),
    ("bad message role", [row(id="b", prompt=[{"role": "robot", "content": "x"}])], "role 'robot'"),
    ("duplicate id", [row(id="a")], "duplicate id 'a' (first at"),
    ("undecodable bytes", [b'{"id": "b", "prompt": "\xff\xfe"}'], "undecodable bytes"),
]


@pytest.mark.parametrize(("name", "lines", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_problem_names_file_line_and_cause(tmp_path, name, lines, message):
    path = write_lines(tmp_path / "pairs.jsonl", [row(), *lines])
    with pytest.raises(DataError) as caught:
        read_pairs(str(path))
    text = str(caught.value)
    assert text.count("\n") == 0, "one problem, one line"
    assert text.startswith(f"{path}:2: "), text
    assert message in text


def test_empty_input(tmp_path):
    path = write_lines(tmp_path / "empty.jsonl", [b""])
    with pytest.raises(DataError, match=r"empty\.jsonl: no valid rows"):
        read_pairs(str(path))


def test_all_problems_are_listed_one_per_line(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [row(), row(id="b", aspect="x"), row(id="c", language="y")])
    with pytest.raises(DataError) as caught:
        read_pairs(str(path))
    lines = str(caught.value).splitlines()
    assert [line.split(": ")[0] for line in lines] == [f"{path}:2", f"{path}:3"]


def test_skip_mode_keeps_good_rows_and_counts_the_rest(tmp_path):
    path = write_lines(tmp_path / "p.jsonl", [row(), row(id="b", aspect="x"), "{oops", row(id="c"), row(id="c")])
    pair_set = read_pairs(str(path), on_invalid="skip")
    assert [p.id for p in pair_set.pairs] == ["a", "c"]
    assert pair_set.skipped_by_reason() == {"duplicate_id": 1, "invalid_json": 1, "unknown_aspect": 1}


def test_parquet_rows_are_located_by_index(tmp_path):
    import pandas as pd

    frame = pd.DataFrame([GOOD, {**GOOD, "id": "b", "language": "Klingon"}])
    path = tmp_path / "pairs.parquet"
    frame.to_parquet(path)
    with pytest.raises(DataError, match=r"pairs\.parquet\[row 1\]: column 'language': unknown language"):
        read_pairs(str(path))


@pytest.mark.parametrize(("name", "lines", "message"), CASES[:3], ids=[c[0] for c in CASES[:3]])
def test_cli_exits_2_with_one_line_and_no_traceback(tmp_path, name, lines, message):
    path = write_lines(tmp_path / "pairs.jsonl", [row(), *lines])
    result = subprocess.run(
        [sys.executable, "-m", "themis_rm", "eval", "--data", str(path), "--scorer", "length",
         "--out", str(tmp_path / "run"), "--no-progress"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"themis: error: {path}:2: " + result.stderr.split(f"{path}:2: ", 1)[1].strip()]
    assert message in result.stderr
    assert not (tmp_path / "run" / "scores.parquet").exists()


def test_a_source_that_cannot_be_opened_is_a_data_error_in_every_command(tmp_path):
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(DataError, match="no such file or directory"):
        read_pairs(str(missing))
    for command in (["data", "show", str(missing)], ["lite", "explain", "--data", str(missing), "--id", "x"]):
        result = subprocess.run([sys.executable, "-m", "themis_rm", *command], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert result.stderr.strip() == f"themis: error: {missing}: no such file or directory (and not a hub id owner/name)"
