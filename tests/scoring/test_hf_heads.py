"""Head adapters: each checkpoint style scored by `hf:` equals a hand-written per-sample reference."""

from __future__ import annotations

import pytest

from themis_rm.schema import ScoreRequest
from themis_rm.scoring.base import ScorerError, load_scorer

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tests.scoring.hf_support import TOLERANCE, one_thread  # noqa: E402, F401
from themis_rm.scoring import heads  # noqa: E402
from themis_rm.scoring.heads import ModelFiles, SequenceClassificationHead, detect_head  # noqa: E402
from tiny_models import (  # noqa: E402
    CORPUS,
    build_gating_model,
    build_special_token_model,
    build_value_head_model,
)

REQUESTS = [
    ScoreRequest("Be strict." if i % 2 else None, "Write code." if i % 3 else "Fix it.", code * (1 + i % 3))
    for i, code in enumerate(CORPUS[:9])
]


def backbone_and_tensors(folder):
    from safetensors.torch import load_file
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(folder, dtype=torch.float32).eval()
    return AutoTokenizer.from_pretrained(folder), model, load_file(str(folder / "model.safetensors"))


def chat_ids(tokenizer, request):
    return list(tokenizer.apply_chat_template(request.messages(), tokenize=True, return_dict=True)["input_ids"])


def hidden_states(model, ids):
    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids])).last_hidden_state[0]


@pytest.fixture(scope="module")
def value_head_models(tmp_path_factory):
    return {
        "linear": build_value_head_model(tmp_path_factory.mktemp("vh-linear")),
        "mlp": build_value_head_model(tmp_path_factory.mktemp("vh-mlp"), hidden_layers=(32,), arch="llama"),
    }


@pytest.mark.parametrize("style", ["linear", "mlp"])
@pytest.mark.parametrize("layout", ["packed", "padded"])
def test_value_head_matches_reference(value_head_models, style, layout):
    folder = value_head_models[style]
    tokenizer, model, tensors = backbone_and_tensors(folder)
    expected = []
    for request in REQUESTS:
        x = hidden_states(model, chat_ids(tokenizer, request))[-1]  # last token
        if style == "linear":
            x = x @ tensors["v_head.summary.weight"].T + tensors["v_head.summary.bias"]
        else:
            x = torch.relu(x @ tensors["v_head.0.weight"].T + tensors["v_head.0.bias"])
            x = x @ tensors["v_head.2.weight"].T + tensors["v_head.2.bias"]
        expected.append(float(x[0]))
    scorer = load_scorer(f"hf:{folder}", {"layout": layout, "batch_tokens": 256})  # detected, no --head
    assert scorer.adapter.name == "value-head"
    got = [s.value for s in scorer.score(REQUESTS)]
    assert max(abs(a - b) for a, b in zip(got, expected)) < TOLERANCE
    assert_fast_paths(scorer, layout)


def assert_fast_paths(scorer, layout):
    """The head was read through the last layer at the read slots, and `packed` shared prompts."""
    stats = scorer.stats()
    assert stats["last_layer"] == "read slots"
    assert set(stats["plans"]) == ({"cached"} if layout == "packed" else {"padded"})
    assert (stats["shared_prefix_tokens"] > 0) == (layout == "packed")


def test_special_token_head_matches_reference(tmp_path):
    folder = build_special_token_model(tmp_path / "athene", token="<|reward|>")
    tokenizer, model, tensors = backbone_and_tensors(folder)
    token_id = tokenizer.convert_tokens_to_ids("<|reward|>")
    expected = []
    for request in REQUESTS:
        ids = [*chat_ids(tokenizer, request), token_id]
        expected.append(float(hidden_states(model, ids)[-1] @ tensors["v_head.weight"][0]))
    scorer = load_scorer(f"hf:{folder}", {"head": "special-token:<|reward|>", "batch_tokens": 300, "layout": "packed"})
    got = [s.value for s in scorer.score(REQUESTS)]
    assert max(abs(a - b) for a, b in zip(got, expected)) < TOLERANCE
    assert_fast_paths(scorer, "packed")
    # truncation keeps room for the appended token
    cut = load_scorer(f"hf:{folder}", {"head": "special-token:<|reward|>", "max_length": 40})
    (scored,) = cut.score([ScoreRequest(None, "p", CORPUS[3] * 20)])
    assert scored.detail["flags"] == {"truncated": True}
    with pytest.raises(ScorerError, match="needs the token"):
        load_scorer(f"hf:{folder}", {"head": "special-token"})
    with pytest.raises(ScorerError, match="no token"):
        load_scorer(f"hf:{folder}", {"head": "special-token:<|nope|>"})


def test_gating_head_matches_reference(tmp_path):
    folder = build_gating_model(tmp_path / "armo", objectives=5, temperature=7.0)
    tokenizer, model, tensors = backbone_and_tensors(folder)
    # the gate reads the first token of the last "<|im_end|>\n<|im_start|>assistant\n" (ArmoRM's search)
    pattern = tokenizer("<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    expected = []
    for request in REQUESTS:
        ids = chat_ids(tokenizer, request)
        anchor = max(j for j in range(len(ids) - len(pattern) + 1) if ids[j : j + len(pattern)] == pattern)
        hidden = hidden_states(model, ids)
        rewards = (hidden[-1] @ tensors["regression_layer.weight"].T) @ tensors["reward_transform_matrix"]
        gate = hidden[anchor]
        for layer in range(2):
            gate = torch.relu(gate @ tensors[f"gating.layers.{layer}.weight"].T + tensors[f"gating.layers.{layer}.bias"])
        gate = gate @ tensors["gating.layers.2.weight"].T + tensors["gating.layers.2.bias"]
        weights = torch.softmax(gate / 7.0, dim=-1) * tensors["gating.logit_scale"][0]
        expected.append(float((weights * rewards).sum()))
    for layout in ("packed", "padded"):
        scorer = load_scorer(f"hf:{folder}", {"layout": layout, "batch_tokens": 200})  # no remote code needed
        assert scorer.adapter.name == "gating"
        got = [s.value for s in scorer.score(REQUESTS)]
        assert max(abs(a - b) for a, b in zip(got, expected)) < TOLERANCE, layout
        assert scorer.stats()["objectives"] == 5
        assert_fast_paths(scorer, layout)  # the gate's anchor is read in the remainder, never in a shared prompt


def test_detection_and_registry(tiny_seq_cls, tmp_path):
    from transformers import AutoConfig

    files = ModelFiles(tiny_seq_cls, AutoConfig.from_pretrained(tiny_seq_cls), "tiny")
    assert isinstance(detect_head(files), SequenceClassificationHead)
    assert {"seq-cls", "value-head", "special-token", "gating"} <= set(heads.available_heads())
    with pytest.raises(ScorerError, match="unknown --head"):
        heads.resolve_head("nope")


class DoubledScore(SequenceClassificationHead):
    """A plug-in adapter (registered below through the entry-point group) for the test."""

    def score(self, hidden, anchor):
        return 2 * super().score(hidden, anchor)


def test_plugin_head_through_entry_point(tiny_seq_cls, monkeypatch):
    monkeypatch.setattr(heads, "_plugin_heads", lambda: {"doubled": f"{__name__}:DoubledScore"})
    monkeypatch.setattr(heads, "_HEADS", dict(heads._HEADS))
    plain = load_scorer(f"hf:{tiny_seq_cls}", {}).score(REQUESTS[:3])
    doubled = load_scorer(f"hf:{tiny_seq_cls}", {"head": "doubled"})
    assert doubled.fingerprint()["head"] == "doubled"
    for a, b in zip(plain, doubled.score(REQUESTS[:3])):
        assert abs(2 * a.value - b.value) < TOLERANCE
