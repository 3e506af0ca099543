"""Shared fixtures: paths to the shared real data, and tiny models built once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))  # lets test modules import tiny_models

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


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
