"""One config object: YAML, flags and --set land in the same dataclasses, with clear errors."""

from __future__ import annotations

import pytest

from themis_rm.training.config import StageConfig, TrainConfig

YAML = """\
model: some/model
lr: 2.0e-5              # top-level stage field: the default of every stage
max_length: 1024
stages:
  - name: general
    data: [general.jsonl]
    defaults: {aspect: Helpfulness, language: Python}
    lm_coef: 0.0
  - name: code
    data: code.jsonl
    lr: 1.0e-5
"""


def test_yaml_stages_inherit_top_level_fields(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(YAML)
    config = TrainConfig.from_file(path)
    general, code = config.stages
    assert general.lr == 2e-5 and code.lr == 1e-5
    assert general.max_length == code.max_length == 1024
    assert code.data == ["code.jsonl"]
    assert general.defaults == {"aspect": "Helpfulness", "language": "Python"}


def test_flags_win_over_everything_and_set_reaches_one_stage(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(YAML)
    config = TrainConfig.from_file(path, {"max_length": 256, "output_dir": "out"}, ["stages.1.epochs=3"])
    assert [s.max_length for s in config.stages] == [256, 256]
    assert config.output_dir == "out"
    assert [s.epochs for s in config.stages] == [1, 3]


def test_single_stage_from_top_level_fields():
    config = TrainConfig.from_dict({"model": "m", "data": ["d.jsonl"], "epochs": 2})
    assert len(config.stages) == 1 and config.stages[0].epochs == 2


def test_the_saved_block_rebuilds_the_same_config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(YAML)
    config = TrainConfig.from_file(path, assignments=["scratch.hidden_size=128"])
    again = TrainConfig.from_dict(config.as_dict())
    assert again == config and again.scratch.hidden_size == 128
    assert config.fingerprint() == TrainConfig.from_dict({**config.as_dict(), "save_every": 7}).fingerprint()


@pytest.mark.parametrize(("raw", "message"), [
    ({"model": "m", "data": ["d"], "lr_rate": 1}, "unknown field.*lr_rate"),
    ({"model": "m", "data": ["d"], "schedule": "linear"}, "schedule must be one of cosine, wsd, constant"),
    ({"model": "m", "data": ["d"], "p_none": 0.5}, "must be 1"),
    ({"model": "m"}, "needs data"),
    ({"data": ["d"]}, "needs a model"),
    ({"model": "m", "stages": [{"name": "a", "data": ["d"]}, {"name": "a", "data": ["e"]}]}, "unique"),
    ({"model": "m", "data": ["d"], "attn_implementation": "flash_attention_2"}, "no-share-prefix"),
    ({"model": "m", "stages": [{"data": ["d"], "bogus": 1}]}, r"stages\[0\]: unknown field"),
])
def test_invalid_configs_say_what_is_wrong(raw, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict(raw)


def test_set_needs_key_and_value():
    with pytest.raises(ValueError, match="KEY=VALUE"):
        TrainConfig.from_file(None, {"model": "m", "data": ["d"]}, ["lr"])


def test_stage_defaults_match_the_issue():
    stage = StageConfig(data=["d"])
    assert (stage.p_none, stage.p_aspect, stage.p_full) == (0.15, 0.60, 0.25)
    assert stage.resample_every_epoch and stage.over_length == "truncate_response"


def test_yaml_numbers_without_a_dot_are_numbers(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model: m\ndata: [d]\nlr: 1e-5\nepochs: '2'\nshare_prefix: 'false'\n")
    config = TrainConfig.from_file(path, assignments=["stages.0.magnitude_coef=5e-2"])
    assert config.stages[0].lr == 1e-5 and config.stages[0].epochs == 2
    assert config.stages[0].magnitude_coef == 0.05 and config.share_prefix is False
    with pytest.raises(ValueError, match="epochs must be int"):
        TrainConfig.from_dict({"model": "m", "data": ["d"], "epochs": "two"})


@pytest.mark.parametrize("name", ["train-tiny.yaml", "train-two-stage.yaml"])
def test_example_configs_parse(name):
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / name
    config = TrainConfig.from_file(path)
    assert config.stages and all(stage.data for stage in config.stages)
