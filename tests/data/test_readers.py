from pathlib import Path

import pytest

from themis_rm.data import read_pairs, write_pairs
from themis_rm.schema import Aspect, Language

FIXTURES = Path(__file__).parent / "fixtures"


def test_jsonl_shapes_aliases_and_extra_columns():
    pairs = read_pairs(str(FIXTURES / "good.jsonl")).pairs
    assert [p.id for p in pairs] == ["g1", "g2", "g3"]
    assert pairs[0].language is Language.PYTHON and pairs[0].extra == {"note": "kept"}
    assert pairs[1].aspect is Aspect.FUNCTIONAL_CORRECTNESS and pairs[1].prompt[0]["role"] == "system"
    assert pairs[2].chosen == "with open(p) as f:\n    data = f.read()"  # TRL conversational response


def test_round_trip_through_parquet_and_directory(tmp_path):
    original = read_pairs(str(FIXTURES / "good.jsonl")).pairs
    write_pairs(original, tmp_path / "dir" / "a.parquet")
    write_pairs(original[:1], tmp_path / "single.jsonl")
    again = read_pairs(str(tmp_path / "dir" / "a.parquet")).pairs
    assert [(p.id, p.chosen, p.rejected, p.aspect, p.language) for p in again] == [
        (p.id, p.chosen, p.rejected, p.aspect, p.language) for p in original
    ]
    assert again[0].prompt == ({"role": "user", "content": "Sum a list."},)  # promoted for one Parquet type
    write_pairs(original[1:], tmp_path / "dir" / "b.jsonl")
    with pytest.raises(ValueError, match="duplicate id"):
        read_pairs(str(tmp_path / "dir"))


def test_missing_subset_and_id_are_derived(tmp_path):
    path = tmp_path / "my_bench.jsonl"
    path.write_text('{"prompt": "p", "chosen": "a", "rejected": "b", "aspect": "memory", "language": "go"}\n')
    (pair,) = read_pairs(str(path)).pairs
    assert pair.subset == "my_bench"
    assert pair.id.startswith("my_bench_") and len(pair.id) == len("my_bench_") + 12


def test_saved_hf_dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = [p.to_row() for p in read_pairs(str(FIXTURES / "good.jsonl")).pairs if isinstance(p.prompt, str)]
    for r in rows:
        r.pop("note", None)
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "saved"))
    pairs = read_pairs(str(tmp_path / "saved")).pairs
    assert [p.id for p in pairs] == [r["id"] for r in rows]
    assert pairs[0].subset == "TINY"


def test_unknown_source_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no such file or directory"):
        read_pairs(str(tmp_path / "nope.jsonl"))
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(ValueError, match=r"unknown file type '\.csv'"):
        read_pairs(str(tmp_path / "x.csv"))


def test_shared_benchmarks_load(shared_data):
    pair_set = read_pairs(str(shared_data / "benchmarks"))
    assert len(pair_set.pairs) > 5000 and not pair_set.skipped
    assert {p.subset for p in pair_set.pairs} >= {"HUMANEVAL_PACK", "SAFECODER_SECURITY"}


def test_hub_id_goes_through_load_dataset(tmp_path, monkeypatch):
    """`datasets.load_dataset` resolves an id to a local repository-shaped folder before the hub,
    so the hub code path runs here for real, offline."""
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    repo = tmp_path / "someorg" / "code-prefs" / "data"
    repo.mkdir(parents=True)
    (repo / "test-00000.jsonl").write_text((FIXTURES / "good.jsonl").read_text().splitlines()[0] + "\n")
    pairs = read_pairs("hub:someorg/code-prefs").pairs
    assert [p.id for p in pairs] == ["g1"]
    assert read_pairs("hub:someorg/code-prefs:test").pairs[0].subset == "TINY"
    with pytest.raises(ValueError, match="available: test"):
        read_pairs("hub:someorg/code-prefs:train")


def test_trl_conversational_round_trip(tmp_path):
    from themis_rm.data.trl import to_trl_row

    pairs = read_pairs(str(FIXTURES / "good.jsonl")).pairs
    rows = [to_trl_row(p, system="Judge carefully.") for p in pairs]
    assert rows[0]["prompt"][0] == {"role": "system", "content": "Judge carefully."}
    assert rows[1]["prompt"][0]["content"] == "Be terse."  # an existing system turn is kept
    assert rows[0]["chosen"] == [{"role": "assistant", "content": pairs[0].chosen}]
    write_pairs(rows, tmp_path / "trl.jsonl")
    again = read_pairs(str(tmp_path / "trl.jsonl")).pairs
    assert [(p.chosen, p.rejected, p.aspect) for p in again] == [(p.chosen, p.rejected, p.aspect) for p in pairs]
    assert again[0].extra["system"] == "Judge carefully."
