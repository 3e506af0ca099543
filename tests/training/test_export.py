"""The export loads with plain transformers and gives the trainer's rewards on real padded batches."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

from themis_rm.training.checkpoint import load_reward_model  # noqa: E402
from themis_rm.training.export import ExportError, choose_pad_token, export_checkpoint, trainer_rewards  # noqa: E402
from themis_rm.training.loop import train  # noqa: E402


@pytest.fixture(scope="module")
def trained(tiny_causal_lm, short_criteria, syn_data, tmp_path_factory):
    from themis_rm.training import TrainConfig

    out = tmp_path_factory.mktemp("export-run")
    config = TrainConfig.from_dict({
        "model": str(tiny_causal_lm), "criteria": str(short_criteria), "data": [str(syn_data)],
        "output_dir": str(out / "run"), "batch_size": 8, "micro_batch_size": 8, "lr": 3e-3, "max_steps": 3,
        "max_length": 256, "progress": False, "export": False, "num_threads": 2,
    })
    return train(config)


@pytest.mark.parametrize("side", ["right", "left"])
def test_exported_rewards_equal_the_trainers_on_padded_batches(trained, tmp_path, side):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    out = tmp_path / "export"
    report = export_checkpoint(trained.checkpoint, out)
    assert report.checked == 8 and report.max_abs_diff < 1e-4
    model, _, state = load_reward_model(trained.checkpoint)
    exported = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    tokenizer.padding_side = side
    assert exported.config.num_labels == 1 and exported.config.pad_token_id == tokenizer.pad_token_id
    assert tokenizer.chat_template
    texts = [p["text"] for p in state.probes]
    lengths = {len(p["ids"]) for p in state.probes}
    assert len(lengths) > 1  # the batch really is padded
    batch = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt")
    with torch.no_grad():
        theirs = exported(**batch).logits[:, 0]
    ours = torch.from_numpy(trainer_rewards(model, [p["ids"] for p in state.probes]))
    assert ours.abs().max() > 0
    assert torch.allclose(theirs, ours, atol=1e-5)
    meta = json.loads((out / "themis_training.json").read_text())
    assert meta["round_trip"]["checked"] == 8


def test_pad_token_is_never_a_final_token(trained):
    _, tokenizer, state = load_reward_model(trained.checkpoint)
    pad = tokenizer.pad_token_id
    assert choose_pad_token(tokenizer, set(state.final_tokens)) == pad
    other = choose_pad_token(tokenizer, {pad})
    assert other != pad and other in tokenizer.all_special_ids
    with pytest.raises(ExportError, match="dedicated pad token"):
        choose_pad_token(tokenizer, set(tokenizer.all_special_ids))


def test_pad_equal_to_the_last_token_is_moved(trained, tmp_path):
    """A tokenizer whose pad token ends every sequence (e.g. pad = end-of-turn) gets another pad id."""
    import shutil

    from transformers import AutoTokenizer

    ckpt = tmp_path / "ckpt"
    shutil.copytree(trained.checkpoint, ckpt)
    state = json.loads((ckpt / "trainer_state.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(ckpt / "backbone")
    last = state["final_tokens"][0]
    tokenizer.pad_token = tokenizer.convert_ids_to_tokens(last)
    tokenizer.save_pretrained(ckpt / "backbone")
    report = export_checkpoint(ckpt, tmp_path / "export")
    assert report.pad_token_id != last and report.max_abs_diff < 1e-4


def test_tied_embeddings_export(tiny_causal_lm, short_criteria, syn_data, tmp_path):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from themis_rm.training import TrainConfig

    config = AutoConfig.from_pretrained(tiny_causal_lm)
    config.tie_word_embeddings = True
    torch.manual_seed(0)
    lm = AutoModelForCausalLM.from_config(config)
    lm.save_pretrained(tmp_path / "tied")
    AutoTokenizer.from_pretrained(tiny_causal_lm).save_pretrained(tmp_path / "tied")
    result = train(TrainConfig.from_dict({
        "model": str(tmp_path / "tied"), "criteria": str(short_criteria), "data": [str(syn_data)],
        "output_dir": str(tmp_path / "run"), "batch_size": 8, "micro_batch_size": 8, "max_steps": 2,
        "max_length": 256, "progress": False, "num_threads": 2, "lr": 3e-3,
    }))
    model, _, _ = load_reward_model(result.checkpoint)
    assert model.lm.lm_head.weight is model.lm.get_input_embeddings().weight
    meta = json.loads((result.export_dir / "themis_training.json").read_text())
    assert meta["round_trip"]["max_abs_diff"] < 1e-4
