"""The `hf:` scorer: same numbers as a plain per-sample reference, on every batching path."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from themis_rm.schema import ScoreRequest
from themis_rm.scoring.base import ScorerError, load_scorer

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tests.scoring.hf_support import (  # noqa: E402, F401
    ONE_THREAD_ENV,
    TOLERANCE,
    one_thread,
    reference_scores,
    requests_for_tests,
    write_pairs,
)
from tiny_models import CORPUS, build_model  # noqa: E402


@pytest.mark.parametrize(
    ("layout", "side", "budget", "packing", "last_layer"),
    [("packed", "right", 64, None, "auto"), ("packed", "right", 100_000, None, "auto"),
     ("packed", "right", 300, None, "full"), ("padded", "right", 64, None, "auto"),
     ("padded", "left", 300, None, "auto"), ("padded", "right", 100_000, None, "full"),
     ("auto", "left", 1000, None, "auto"), ("auto", "right", 500, None, "auto"),
     ("packed", "right", 300, "rows", "auto"), ("packed", "right", 300, "flat", "auto")],
)
def test_scores_match_per_sample_reference(tiny_seq_cls, reference, layout, side, budget, packing, last_layer):
    """Every batch layout (prompts run once and continued from their cache, position-id-packed
    rows, one flat row, padded left or right, with or without a mask), every token budget, with
    the last layer in full or only at the read slots, gives the reference's numbers."""
    requests, expected = reference
    scorer = load_scorer(f"hf:{tiny_seq_cls}", {"layout": layout, "padding_side": side, "batch_tokens": budget,
                                                "dtype": "float32", "last_layer": last_layer})
    if packing:
        scorer.packing = packing  # the layouts flash attention and sliding-window models get, forced on sdpa
    got = [s.value for s in scorer.score(requests)]
    assert max(abs(a - b) for a, b in zip(got, expected)) < TOLERANCE
    stats = scorer.stats()
    assert stats["sequences"] == len(requests) and stats["forward_passes"] >= 1
    assert stats["tokens"] == sum(len(scorer.renderer.encode([r])[0].ids) for r in requests)
    assert stats["last_layer"] == ("read slots" if last_layer == "auto" else "full")
    plans = set(stats["plans"])
    if layout == "padded":
        assert plans == {"padded"}
    elif layout == "packed":
        assert plans == {packing or "cached"}
        if not packing:
            assert stats["shared_prefix_tokens"] > 0  # prompts shared by several requests ran once
    if budget == 64:
        assert stats["forward_passes"] > 5  # the budget really splits the work
    assert "unmasked right padding ok" in stats["layout_checks"]


def test_llama_family_matches_reference(tmp_path):
    """The other registered decoder family: cached prompts and the last layer at the read slots."""
    folder = build_model(tmp_path / "llama", arch="llama", layers=3)
    requests = requests_for_tests()
    expected = reference_scores(folder, requests)
    for layout in ("packed", "padded"):
        scorer = load_scorer(f"hf:{folder}", {"layout": layout, "batch_tokens": 400, "dtype": "float32"})
        assert scorer.stats()["last_layer"] == "read slots" and scorer.packing in (None, "cached")
        got = [s.value for s in scorer.score(requests)]
        assert max(abs(a - b) for a, b in zip(got, expected)) < TOLERANCE, layout


@pytest.mark.parametrize("kernel", ["onednn", "torch"])
def test_linear_kernels_match_reference(tiny_seq_cls, reference, kernel):
    """float32 linear layers through oneDNN's packed kernel (or PyTorch's): the reference's numbers."""
    from themis_rm.scoring.cpu_linear import PackedLinear, available

    if kernel == "onednn" and not available():
        pytest.skip("this PyTorch has no oneDNN linear operator")
    requests, expected = reference
    scorer = load_scorer(f"hf:{tiny_seq_cls}", {"cpu_linear": kernel, "layout": "packed", "batch_tokens": 300})
    packed = [m for m in scorer.adapter.backbone.modules() if isinstance(m, PackedLinear)]
    assert scorer.stats()["linear_kernel"] == kernel and bool(packed) == (kernel == "onednn")
    assert all(not m.original for m in packed)  # the plain weights were released after the check
    got = [s.value for s in scorer.score(requests)]
    assert max(abs(a - b) for a, b in zip(got, expected)) < TOLERANCE
    bf16 = load_scorer(f"hf:{tiny_seq_cls}", {"cpu_linear": kernel, "dtype": "bfloat16"})
    assert bf16.stats()["linear_kernel"] == "torch"  # only float32 layers are swapped


def test_auto_layout_picks_by_cost(tiny_seq_cls, reference):
    requests, _ = reference
    scorer = load_scorer(f"hf:{tiny_seq_cls}", {})
    assert scorer.packing == "cached" and scorer.causal_padding
    assert "last layer at the read slots ok" in scorer.layout_checks
    scorer.score(requests)
    assert set(scorer.stats()["plans"]) <= {"padded", "cached"}
    # long prompts that several responses share: running each prompt once pays
    prompt = "Write code that does this:\n" + CORPUS[1] * 6
    shared = [ScoreRequest(None, prompt, code) for code in CORPUS[:6]]
    scorer.score(shared)
    assert "cached" in scorer.stats()["plans"]


def test_chunking_and_order_do_not_change_scores(tiny_seq_cls, reference):
    from themis_rm.scoring.engine import ScoringEngine

    requests, expected = reference
    scorer = load_scorer(f"hf:{tiny_seq_cls}", {"batch_tokens": 200})
    reordered = list(reversed(requests))
    got = [s.value for s in scorer.score(reordered[:7])] + [s.value for s in scorer.score(reordered[7:])]
    assert max(abs(a - b) for a, b in zip(reversed(got), expected)) < TOLERANCE
    # through the engine in small chunks: each next chunk is prepared while the current one runs
    results, stats = ScoringEngine(scorer, chunk_size=4, show_progress=False).run(requests + requests[:3])
    assert stats.requests_unique == len(requests)
    assert max(abs(r.value - e) for r, e in zip(results, expected + expected[:3])) < TOLERANCE
    assert scorer._prefetched is None  # every prefetched chunk was used


def test_reports_progress_after_each_forward_pass(tiny_seq_cls, reference):
    requests, _ = reference
    scorer = load_scorer(f"hf:{tiny_seq_cls}", {"batch_tokens": 200, "layout": "padded"})
    heard: list[int] = []
    scorer.progress = heard.append
    scorer.score(requests)
    assert len(heard) > 1 and heard == sorted(heard) and heard[-1] == len(requests)
    assert len(heard) == scorer.stats()["forward_passes"]  # padded rows: one pass per batch


def test_bfloat16_backbone_keeps_a_float32_head(tiny_seq_cls, reference):
    requests, expected = reference
    scorer = load_scorer(f"hf:{tiny_seq_cls}", {"dtype": "bfloat16"})
    assert scorer.adapter.head.weight.dtype == torch.float32
    assert next(scorer.adapter.backbone.parameters()).dtype == torch.bfloat16
    got = [s.value for s in scorer.score(requests)]
    assert max(abs(a - b) for a, b in zip(got, expected)) < 0.05  # close, not equal: bf16 backbone
    assert scorer.stats()["dtype"] == "bfloat16"


def test_truncation_is_flagged_and_counted(tiny_seq_cls):
    long = ScoreRequest(None, "Write code.", CORPUS[3] * 30)
    short = ScoreRequest(None, "Write code.", "x = 1")
    scorer = load_scorer(f"hf:{tiny_seq_cls}", {"max_length": 96})
    cut, fine = scorer.score([long, short])
    assert cut.detail["flags"] == {"truncated": True} and cut.detail["tokens"] > 96
    assert math.isfinite(cut.value) and fine.detail is None
    dropper = load_scorer(f"hf:{tiny_seq_cls}", {"max_length": 96, "truncation": "drop"})
    dropped, fine = dropper.score([long, short])
    assert math.isnan(dropped.value) and dropped.detail["flags"] == {"dropped": True}
    assert dropper.stats()["dropped"] == 1 and dropper.stats()["dropped_by_reason"] == {"too_long": 1}
    assert scorer.stats()["truncated"] == 1
    with pytest.raises(ScorerError, match="exceed --max-length 96"):
        load_scorer(f"hf:{tiny_seq_cls}", {"max_length": 96, "truncation": "error"}).score([long])


def test_fingerprint_covers_everything_that_changes_a_score(tiny_seq_cls):
    base = load_scorer(f"hf:{tiny_seq_cls}", {}).fingerprint()
    assert base["revision"].startswith("local-") and base["template"] and base["head"] == "seq-cls"
    for options in ({"dtype": "bfloat16"}, {"max_length": 128}, {"truncation": "drop"}, {"chat_format": "plain"}):
        assert load_scorer(f"hf:{tiny_seq_cls}", options).fingerprint() != base, options
    assert load_scorer(f"hf:{tiny_seq_cls}", {"batch_tokens": 99, "layout": "padded"}).fingerprint() == base


def test_clear_errors(tmp_path, tiny_causal_lm):
    no_template = build_model(tmp_path / "bare", tokenizer_kwargs={"chat_template": None})
    with pytest.raises(ScorerError, match="no chat template"):
        load_scorer(f"hf:{no_template}", {})
    plain = load_scorer(f"hf:{no_template}", {"chat_format": "plain"})
    assert math.isfinite(plain.score([ScoreRequest(None, "p", "r")])[0].value)

    two_labels = build_model(tmp_path / "two", num_labels=2)
    with pytest.raises(ScorerError, match=r"num_labels=2.*--head gating"):
        load_scorer(f"hf:{two_labels}", {})
    with pytest.raises(ScorerError, match="cannot tell how"):
        load_scorer(f"hf:{tiny_causal_lm}", {})  # a plain LM has no reward head
    with pytest.raises(ScorerError, match="needs a model"):
        load_scorer("hf", {})
    with pytest.raises(ScorerError, match="no model folder"):
        load_scorer(f"hf:{tmp_path / 'missing'}", {})
    with pytest.raises(ScorerError, match="--dtype"):
        load_scorer(f"hf:{no_template}", {"dtype": "int8", "chat_format": "plain"})


def test_remote_code_is_refused_unless_asked(tmp_path):
    folder = build_model(tmp_path / "custom")
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="themis-custom-never-registered", architectures=["CustomRM"],
                  auto_map={"AutoConfig": "configuration_custom.CustomConfig",
                            "AutoModelForSequenceClassification": "modeling_custom.CustomRM"})
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_custom.py").write_text("raise SystemExit('repository code must not run')\n")
    with pytest.raises(ScorerError, match="--trust-remote-code"):
        load_scorer(f"hf:{folder}", {})


def test_missing_extras_message(monkeypatch):
    from themis_rm.scoring import loading

    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(ScorerError, match=r"pip install 'themis-rm\[hf\]'"):
        loading.require_extras()


def test_themis_eval_end_to_end(tmp_path, tiny_seq_cls):
    """`themis eval --scorer hf:PATH` as a user runs it: scores equal the reference, the manifest
    has the physics, and truncations are counted in results.json."""
    requests = [ScoreRequest(None, "Write some code.", r.response) for r in requests_for_tests()]
    data = tmp_path / "pairs.jsonl"
    write_pairs(data, requests)
    out = tmp_path / "run"
    command = [sys.executable, "-m", "themis_rm", "eval", "--data", data, "--scorer", f"hf:{tiny_seq_cls}",
               "--out", out, "--no-progress", "--max-length", "128", "--batch-tokens", "512", "--dtype", "float32", "--resamples", "50"]
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=300,
                            env=ONE_THREAD_ENV)
    assert result.returncode == 0, result.stderr
    import pandas as pd

    scores = pd.read_parquet(out / "scores.parquet")
    results = json.loads((out / "results.json").read_text())
    stats = results["manifest"]["scorer_stats"]
    for key in ("dtype", "max_length", "template_hash", "truncated", "padding_efficiency", "peak_memory_bytes",
                "tokens", "device"):
        assert key in stats, key
    assert stats["max_length"] == 128 and stats["dtype"] == "float32"
    assert results["manifest"]["engine"]["requests_unique"] < results["manifest"]["engine"]["requests_total"]

    expected = dict(zip((r.response for r in requests), reference_scores(tiny_seq_cls, requests)))
    for row_id, row in scores.iterrows():
        source = json.loads(next(line for line in data.read_text().splitlines() if f'"{row_id}"' in line))
        for side in ("chosen", "rejected"):
            if row.get(f"{side}_truncated", False):
                continue  # cut rows are checked against the renderer's own tests
            assert abs(row[f"{side}_score"] - expected[source[side]]) < TOLERANCE, (row_id, side)
    truncated = int(scores.get("truncated", pd.Series(dtype=bool)).sum())
    assert stats["truncated"] >= 1 and truncated >= 1
    assert results["flags"]["truncated"]["overall"] == truncated


def test_hub_ids_take_the_local_path_through_a_snapshot(tiny_seq_cls, tmp_path, monkeypatch):
    """A hub id is fetched as a snapshot folder (named by its commit) and then loaded exactly like
    a local path; the commit joins the fingerprint. No network: the download is simulated."""
    import shutil

    import huggingface_hub

    calls = []

    def fake_snapshot_download(repo_id, revision=None, allow_patterns=None):
        calls.append((repo_id, revision, tuple(allow_patterns)))
        folder = tmp_path / "hub" / "snapshots" / "0123456789abcdef"
        if not folder.exists():
            shutil.copytree(tiny_seq_cls, folder)
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    hub = load_scorer("hf:someone/tiny-rm@v1", {})
    local = load_scorer(f"hf:{tiny_seq_cls}", {})
    assert calls[0][:2] == ("someone/tiny-rm", "v1") and "*.py" not in calls[0][2]  # no code unless asked
    assert hub.fingerprint()["revision"] == "0123456789abcdef" and hub.fingerprint()["model"] == "someone/tiny-rm"
    request = [ScoreRequest(None, "p", "def f():\n    return 1\n")]
    assert hub.score(request)[0].value == local.score(request)[0].value

    def offline(*args, **kwargs):
        raise OSError("offline")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    with pytest.raises(ScorerError, match="cannot get model 'someone/other'"):
        load_scorer("hf:someone/other", {})


def test_plain_format_truncation(tiny_seq_cls):
    scorer = load_scorer(f"hf:{tiny_seq_cls}", {"chat_format": "plain", "max_length": 48})
    (cut,) = scorer.score([ScoreRequest("System.", "Prompt.", CORPUS[3] * 10)])
    assert cut.detail["flags"] == {"truncated": True} and math.isfinite(cut.value)
    (encoded,) = scorer.renderer.encode([ScoreRequest("System.", "Prompt.", CORPUS[3] * 10)])
    prompt = scorer.tokenizer("System.\n\nPrompt.\n\n", add_special_tokens=False)["input_ids"]
    assert len(encoded.ids) == 48 and encoded.ids[: len(prompt) - 1] == prompt[:-1]
