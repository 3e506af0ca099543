"""Fixtures of the training tests: short criteria texts, synthetic pairs, a base config."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("accelerate")

from tests.training import synthetic

SHORT_CRITERIA = """\
preamble: Judge the code.
general: Be helpful and harmless.
aspects:
  Functional_Correctness: correct
  Runtime_Efficiency: fast
  Memory_Efficiency: small
  Readability_Maintainability: clear
  Security_Hardness: safe
"""


@pytest.fixture(scope="session")
def short_criteria(tmp_path_factory) -> Path:
    """Criteria texts that tokenise short with the tiny tokenizer, so the tests stay fast."""
    path = tmp_path_factory.mktemp("criteria") / "short.yaml"
    path.write_text(SHORT_CRITERIA, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def syn_data(tmp_path_factory) -> Path:
    return synthetic.write(tmp_path_factory.mktemp("syn") / "train.jsonl", 64)


@pytest.fixture()
def base_config(tiny_causal_lm, short_criteria, syn_data, tmp_path):
    """A config factory: small, quick, no progress bar; keyword arguments override fields."""

    def make(**overrides):
        raw = {
            "model": str(tiny_causal_lm), "criteria": str(short_criteria), "data": [str(syn_data)],
            "output_dir": str(tmp_path / "run"), "batch_size": 8, "micro_batch_size": 4, "lr": 1e-3,
            "max_length": 256, "log_every": 1, "progress": False, "export": False, "num_threads": 2,
        }
        raw.update(overrides)
        from themis_rm.training import TrainConfig

        return TrainConfig.from_dict(raw)

    return make
