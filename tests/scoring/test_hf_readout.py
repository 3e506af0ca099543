"""The last layer at the read slots only, and the automatic fallbacks when a form is not verified."""

from __future__ import annotations

import pytest

from themis_rm.scoring.base import load_scorer

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tests.scoring.hf_support import (  # noqa: E402, F401
    TOLERANCE,
    one_thread,
    reference_scores,
    requests_for_tests,
)
from themis_rm.scoring import readout  # noqa: E402
from themis_rm.scoring.forward import BatchRunner  # noqa: E402
from tiny_models import build_model  # noqa: E402


def assert_matches(scorer, reference):
    requests, expected = reference
    got = [s.value for s in scorer.score(requests)]
    assert max(abs(a - b) for a, b in zip(got, expected)) < TOLERANCE


@pytest.mark.parametrize("arch", ["qwen3", "llama"])
def test_read_slots_equal_the_full_layer(tmp_path, arch):
    """At every asked slot (two per row, any position), the final hidden state equals the full
    model's; the backbone returns those rows only, in order."""
    from transformers import AutoModel

    folder = build_model(tmp_path / arch, kind="causal-lm", arch=arch, layers=2)
    model = AutoModel.from_pretrained(folder, dtype=torch.float32).eval()
    ids = torch.randint(5, 300, (3, 20))
    positions = torch.arange(20).expand(3, 20)
    with torch.inference_mode():
        full = model(input_ids=ids, position_ids=positions).last_hidden_state.reshape(60, -1)
        layer = readout.install(model)
        assert isinstance(layer, readout.ReadoutLayer) and model.layers[-1] is layer
        slots = torch.tensor([19, 3, 20 + 7, 20 + 19, 40 + 0, 40 + 12])
        spans = torch.zeros(6, 4, dtype=torch.int64)
        spans[:, 1] = slots % 20 + 1  # causal: the row from its start up to the slot
        with layer.reading(readout.Queries(slots, spans)):
            pruned = model(input_ids=ids, position_ids=positions).last_hidden_state  # one row per slot
        again = model(input_ids=ids, position_ids=positions).last_hidden_state.reshape(60, -1)  # outside: full
    assert pruned.shape == (1, 6, full.shape[-1]) and (pruned[0] - full[slots]).abs().max() < 1e-5
    assert torch.equal(again, full) or (again - full).abs().max() < 1e-6
    assert layer.skipped_parameters > 0
    readout.uninstall(model)
    assert not isinstance(model.layers[-1], readout.ReadoutLayer)


def test_key_mask_from_spans():
    spans = torch.tensor([[0, 2, 3, 5], [1, 2, 0, 0]])
    assert readout.key_mask(spans, 6).int().tolist() == [[1, 1, 0, 1, 1, 0], [0, 1, 0, 0, 0, 0]]


def test_unregistered_layer_runs_in_full(tiny_seq_cls, reference, monkeypatch):
    monkeypatch.setattr(readout, "_FAMILIES", {})
    scorer = load_scorer(f"hf:{tiny_seq_cls}", {"layout": "packed"})
    assert "last layer in full (Qwen3DecoderLayer has no read-slot form)" in scorer.layout_checks
    assert scorer.stats()["last_layer"] == "full"
    assert_matches(scorer, reference)


def test_a_wrong_read_slot_form_is_caught_and_not_used(tiny_seq_cls, reference, monkeypatch):
    """A registered function that does not compute the layer fails the load-time check: the
    backbone gets its own layer back and the scores stay right."""

    def skips_the_layer(layer, hidden, position_embeddings, queries, cache):
        return hidden

    monkeypatch.setitem(readout._FAMILIES, "Qwen3DecoderLayer", skips_the_layer)
    scorer = load_scorer(f"hf:{tiny_seq_cls}", {"layout": "packed"})
    assert "last layer at the read slots not used" in scorer.layout_checks
    assert not isinstance(scorer.adapter.backbone.layers[-1], readout.ReadoutLayer)
    assert_matches(scorer, reference)


def test_cached_prompts_fall_back_to_packed_rows(tiny_seq_cls, reference, monkeypatch):
    """If continuing cached prompts does not reproduce single sequences (here: a mask that hides
    the prompt), the next packing is verified and used instead."""
    original = BatchRunner._mask

    def hides_the_prompt(self, batch):
        mask = original(self, batch)
        if batch.prompts is not None:
            mask = mask.clone()
            mask[..., : batch.prompts.input_ids.shape[1]] = False
        return mask

    monkeypatch.setattr(BatchRunner, "_mask", hides_the_prompt)
    scorer = load_scorer(f"hf:{tiny_seq_cls}", {"layout": "packed"})
    assert "cached packing not used" in scorer.layout_checks and scorer.packing == "rows"
    assert_matches(scorer, reference)


def test_sliding_window_model_keeps_full_layer_and_rows(tmp_path):
    """A sliding window would be overridden by an explicit mask and is not in the read-slot form:
    such a model gets position-id packing and the full last layer, and the reference's numbers."""
    folder = build_model(tmp_path / "sliding", arch="qwen3", use_sliding_window=True, sliding_window=12,
                         max_window_layers=0)
    scorer = load_scorer(f"hf:{folder}", {"layout": "packed", "batch_tokens": 300})
    assert scorer.packing == "rows" and scorer.stats()["last_layer"] == "full"
    requests = requests_for_tests()
    expected = reference_scores(folder, requests)
    got = [s.value for s in scorer.score(requests)]
    assert max(abs(a - b) for a, b in zip(got, expected)) < TOLERANCE
