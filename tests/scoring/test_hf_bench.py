"""The scoring benchmarks run end to end on CPU (tiny shape), so the GPU recipe is not dead code."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from tests.scoring.hf_support import one_thread  # noqa: F401

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def test_gpu_recipe_smoke_on_cpu(tmp_path, shared_data):
    sys.path.insert(0, str(BENCHMARKS))
    import gpu_scoring

    summary = gpu_scoring.main(["smoke", "--pairs", "6", "--prepared", str(tmp_path / "prepared"),
                                "--out", str(tmp_path / "out"), "--data", str(shared_data / "benchmarks")])
    first, padded = summary["variants"]
    assert first["pairs"] == 6 and first["requests"] == 12
    assert first["scores"]["max_abs_score_diff"] < 1e-4  # fp32 on both sides: the same numbers
    assert first["scores"]["preference_agreement"] == 1.0
    assert first["themis"]["layout"] == "auto" and set(padded["themis"]["plans"]) == {"padded"}
    assert "baseline" not in padded and first["speedup"] > 0
    written = json.loads((tmp_path / "out" / "gpu_scoring.json").read_text())
    assert [v["variant"] for v in written["variants"]] == ["baseline vs themis", "themis padded"]
