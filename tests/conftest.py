"""Shared fixtures: paths to the shared real data, and tiny models built once per session."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))  # lets test modules import tiny_models

REPO = Path(__file__).resolve().parents[1]
SHARED_CANDIDATES = [Path(p) for p in [os.environ.get("THEMIS_SHARED_DATA")] if p] + [
    REPO / "shared" / "data",
    REPO.parent / "shared" / "data",
]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real benchmark subsets and published runs, read in place (never copied into the repo)."""
    for candidate in SHARED_CANDIDATES:
        if (candidate / "benchmarks").is_dir():
            return candidate
    pytest.skip(f"shared data not found (set THEMIS_SHARED_DATA); looked in {', '.join(map(str, SHARED_CANDIDATES))}")


@pytest.fixture(scope="session")
def tiny_seq_cls(tmp_path_factory) -> Path:
    """A tiny Qwen3-shaped `...ForSequenceClassification` (num_labels=1) with its tokenizer."""
    pytest.importorskip("transformers")
    from tiny_models import build_model

    return build_model(tmp_path_factory.mktemp("tiny-seq-cls"), kind="seq-cls", arch="qwen3")


@pytest.fixture(scope="session")
def tiny_causal_lm(tmp_path_factory) -> Path:
    """A tiny Qwen3-shaped causal LM with its tokenizer."""
    pytest.importorskip("transformers")
    from tiny_models import build_model

    return build_model(tmp_path_factory.mktemp("tiny-causal-lm"), kind="causal-lm", arch="qwen3")
