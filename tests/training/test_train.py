"""End-to-end training on CPU: it learns, it resumes exactly, stages carry both heads, the CLI works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

from tests.training import synthetic  # noqa: E402
from themis_rm.training.checkpoint import checkpoints, load_model_state, load_reward_model  # noqa: E402
from themis_rm.training.loop import train  # noqa: E402


def _metrics(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _exported_accuracy(export_dir: Path, data: Path) -> float:
    """Accuracy of the export, loaded with plain transformers, on the pairs it was trained on."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(export_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(export_dir)
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    texts = []
    for row in rows:
        for side in ("chosen", "rejected"):
            texts.append(tokenizer.apply_chat_template(
                [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row[side]}],
                tokenize=False))
    batch = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt")
    with torch.no_grad():
        scores = model(**batch).logits[:, 0].view(-1, 2)
    return float((scores[:, 0] > scores[:, 1]).float().mean())


def test_learns_a_separable_task_and_exports_it(base_config, syn_data):
    config = base_config(epochs=4, lr=3e-3, warmup_ratio=0.0, export=True)
    result = train(config)
    assert result.state.finished and result.state.global_step == 32
    rows = _metrics(result.run_dir)
    assert rows[0]["accuracy"] == 0.0 and rows[0]["bt"] == pytest.approx(0.6931, abs=1e-3)  # zero-initialised head
    assert rows[-1]["accuracy"] >= 0.95
    assert {"loss", "bt", "lm", "magnitude", "accuracy", "margin", "tokens_per_s", "lr"} <= rows[-1].keys()
    assert _exported_accuracy(result.export_dir, syn_data) >= 0.95
    meta = json.loads((result.export_dir / "themis_training.json").read_text())
    assert meta["round_trip"]["checked"] >= 2 and meta["round_trip"]["max_abs_diff"] < 1e-4
    assert meta["config"]["stages"][0]["lr"] == 3e-3  # the config block travels with the model
    counts = result.state.counts["code"]
    assert counts["pairs_encoded"] == 4 * 64 and sum(counts[f"mode_{m}"] for m in ("none", "aspect", "full")) == 256


def test_resumed_run_matches_an_uninterrupted_one(base_config, tmp_path):
    data = synthetic.write(tmp_path / "small.jsonl", 24)  # 3 steps per epoch
    make = lambda out, **kw: base_config(data=[str(data)], epochs=2, output_dir=str(tmp_path / out), save_every=0, **kw)  # noqa: E731
    whole = train(make("whole"))
    assert whole.state.global_step == 6
    first = train(make("parts", halt_after_steps=2))
    assert not first.state.finished and first.state.global_step == 2
    with pytest.raises(ValueError, match="--resume"):
        train(make("parts"))
    with pytest.raises(ValueError, match="config differs"):
        train(make("parts", lr=5e-4, resume=True))
    second = train(make("parts", halt_after_steps=2, resume=True))
    assert second.state.global_step == 4 and second.state.epoch == 1  # stopped inside the second epoch
    last = train(make("parts", resume=True))
    assert last.state.finished and last.state.global_step == 6
    a, b = load_model_state(whole.checkpoint), load_model_state(last.checkpoint)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-7, rtol=0), key
    assert _metrics(whole.run_dir)[-1]["loss"] == pytest.approx(_metrics(tmp_path / "parts")[-1]["loss"], abs=1e-7)
    assert last.state.counts == whole.state.counts


def test_stages_carry_both_heads(base_config, tmp_path):
    general = synthetic.write(tmp_path / "general.jsonl", 24, seed=1, general=24)
    config = base_config(
        output_dir=str(tmp_path / "two"), lr=3e-3, warmup_ratio=0.0,
        stages=[{"name": "general", "data": [str(general)], "epochs": 2},
                {"name": "code", "max_steps": 2}],
    )
    result = train(config)
    rows = _metrics(result.run_dir)
    first_code = next(r for r in rows if r["stage"] == "code")
    assert first_code["margin"] != 0.0 and first_code["accuracy"] > 0.5  # the reward head came along
    assert result.state.counts["general"]["own_system"] == 48  # these rows bring their own system turn
    assert len(checkpoints(result.run_dir)) == 2  # one at each stage end (keep_checkpoints=2)

    # across runs: a Themis checkpoint as the model keeps the backbone and both heads
    stage_one = checkpoints(result.run_dir)[0]
    model, _, state = load_reward_model(stage_one)
    saved = load_model_state(stage_one)
    assert state.stage == 1
    assert torch.equal(model.reward_head.weight, saved["reward_head.weight"])
    assert torch.equal(model.lm.lm_head.weight, saved["lm.lm_head.weight"])
    assert model.reward_head.weight.abs().sum() > 0
    follow = train(base_config(model=str(stage_one), output_dir=str(tmp_path / "follow"), max_steps=1))
    assert _metrics(follow.run_dir)[0]["margin"] != 0.0


def test_cli_train_then_export(tiny_causal_lm, short_criteria, syn_data, tmp_path):
    from typer.testing import CliRunner

    from themis_rm.cli.app import app

    config = tmp_path / "train.yaml"
    config.write_text(f"model: {tiny_causal_lm}\ncriteria: {short_criteria}\ndata: [{syn_data}]\n"
                      "batch_size: 8\nmicro_batch_size: 8\nmax_length: 256\nlog_every: 1\n")
    out = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(app, ["train", str(config), "--output-dir", str(out), "--max-steps", "2",
                                 "--no-progress", "--layout", "padded", "--set", "stages.0.lr=2e-3"])
    assert result.exit_code == 0, result.output
    assert "finished: 2 steps" in result.output
    assert (out / "export" / "config.json").is_file()
    saved = json.loads((out / "export" / "themis_training.json").read_text())["config"]
    assert saved["layout"] == "padded" and saved["stages"][0]["lr"] == 2e-3
    exported = json.loads((out / "export" / "config.json").read_text())
    assert exported["num_labels"] == 1 if "num_labels" in exported else len(exported["id2label"]) == 1
    assert exported["architectures"] == ["Qwen3ForSequenceClassification"]

    again = runner.invoke(app, ["export", str(out), str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    assert "round trip on" in again.output

    bad = runner.invoke(app, ["train", str(config), "--output-dir", str(tmp_path / "bad"), "--max-length", "40",
                              "--over-length", "error", "--no-progress"])
    assert bad.exit_code == 2
    assert "over max_length 40" in bad.output and "Traceback" not in bad.output


def test_gradient_checkpointing_changes_nothing_and_bf16_runs(base_config, tmp_path, monkeypatch):
    from themis_rm.training import loop

    built = []
    real_optimizer = loop._optimizer
    monkeypatch.setattr(loop, "_optimizer", lambda model, config: (built.append(model), real_optimizer(model, config))[1])
    plain = train(base_config(max_steps=2, output_dir=str(tmp_path / "plain")))
    checkpointed = train(base_config(max_steps=2, output_dir=str(tmp_path / "ckpt"), gradient_checkpointing=True))
    name = "is_activation_checkpointing" if hasattr(built[0].lm, "is_activation_checkpointing") \
        else "is_gradient_checkpointing"  # transformers 5.x / 4.x
    assert [getattr(m.lm, name) for m in built] == [False, True]
    a, b = load_model_state(plain.checkpoint), load_model_state(checkpointed.checkpoint)
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key
    bf16 = train(base_config(max_steps=2, output_dir=str(tmp_path / "bf16"), precision="bf16"))
    rows = _metrics(bf16.run_dir)
    assert all(abs(r["loss"]) < 10 for r in rows) and rows[-1]["margin"] != 0.0
