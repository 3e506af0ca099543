"""Rendering and truncation of requests for the hf scorer: exact strings and token counts."""

from __future__ import annotations

import pytest

from themis_rm.schema import ScoreRequest
from themis_rm.scoring.base import ScorerError

pytest.importorskip("transformers")

from themis_rm.scoring.render import ChatRenderer

LONG_CODE = "def add(a, b):\n    return a + b\n" * 40


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from tiny_models import build_tokenizer

    return build_tokenizer(tmp_path_factory.mktemp("render-tokenizer"))


def test_template_renders_exact_string(tokenizer):
    renderer = ChatRenderer(tokenizer)
    request = ScoreRequest("Be strict.", "Add two numbers.", "def add(a, b): return a + b")
    assert renderer.render(request) == (
        "<|im_start|>system\nBe strict.<|im_end|>\n"
        "<|im_start|>user\nAdd two numbers.<|im_end|>\n"
        "<|im_start|>assistant\ndef add(a, b): return a + b<|im_end|>\n"
    )
    chat = ScoreRequest(None, ({"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                               {"role": "user", "content": "Code?"}), "x = 1")
    assert renderer.render(chat).count("<|im_start|>") == 4


def test_tokens_match_apply_chat_template(tokenizer):
    renderer = ChatRenderer(tokenizer)
    request = ScoreRequest(None, "Write a loop.", "for i in range(3):\n    print(i)\n")
    (encoded,) = renderer.encode([request])
    reference = tokenizer.apply_chat_template(request.messages(), tokenize=True, return_dict=True)["input_ids"]
    assert encoded.ids == list(reference)
    assert not encoded.truncated and encoded.dropped is None


def test_plain_format(tokenizer):
    renderer = ChatRenderer(tokenizer, chat_format="plain")
    request = ScoreRequest("Sys", "Prompt", "Answer")
    assert renderer.render(request) == "Sys\n\nPrompt\n\nAnswer"
    assert renderer.template_hash != ChatRenderer(tokenizer).template_hash


def test_missing_template_is_an_error_unless_plain(tmp_path):
    from tiny_models import build_tokenizer

    bare = build_tokenizer(tmp_path, chat_template=None)
    with pytest.raises(ScorerError, match=r"no chat template.*--chat-format plain"):
        ChatRenderer(bare, model_name="bare-model")
    ChatRenderer(bare, chat_format="plain")  # allowed when asked for


def test_truncate_response_keeps_prompt_and_closing(tokenizer):
    renderer = ChatRenderer(tokenizer, max_length=64, truncation="response")
    request = ScoreRequest(None, "Add numbers.", LONG_CODE)
    (encoded,) = renderer.encode([request])
    full = tokenizer(renderer.render(request), add_special_tokens=False)["input_ids"]
    prompt = tokenizer(renderer.prompt_text(request, generation=True), add_special_tokens=False)["input_ids"]
    closing = tokenizer("<|im_end|>\n", add_special_tokens=False)["input_ids"]
    assert encoded.truncated and encoded.original_length == len(full) > 64
    assert len(encoded.ids) == 64
    assert encoded.ids[: len(prompt)] == prompt  # the prompt is kept whole
    assert encoded.ids[-len(closing):] == closing  # the template's end of turn is kept
    assert encoded.ids[: 64 - len(closing)] == full[: 64 - len(closing)]  # the response's head is kept


def test_truncate_drop_and_error(tokenizer):
    requests = [ScoreRequest(None, "Add.", LONG_CODE), ScoreRequest(None, "Add.", "x = 1")]
    dropped, kept = ChatRenderer(tokenizer, max_length=64, truncation="drop").encode(requests)
    assert dropped.ids == [] and dropped.dropped == "too_long"
    assert kept.ids and kept.dropped is None
    with pytest.raises(ScorerError, match=r"1 of 2 request\(s\) exceed --max-length 64"):
        ChatRenderer(tokenizer, max_length=64, truncation="error").encode(requests)


def test_prompt_that_does_not_fit_is_dropped(tokenizer):
    renderer = ChatRenderer(tokenizer, max_length=20)
    (encoded,) = renderer.encode([ScoreRequest(None, LONG_CODE, "x = 1")])
    assert encoded.ids == [] and encoded.dropped == "prompt_too_long"


def test_reserve_and_prompt_end(tokenizer):
    renderer = ChatRenderer(tokenizer, max_length=64, reserve=1, want_prompt_end=True)
    request = ScoreRequest("Sys", "Add numbers.", LONG_CODE)
    (encoded,) = renderer.encode([request])
    assert len(encoded.ids) == 63  # one slot kept for the head's own token
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert encoded.ids[encoded.prompt_end] == im_end  # the end of the last prompt turn
    prompt = tokenizer(renderer.prompt_text(request, generation=False), add_special_tokens=False)["input_ids"]
    assert encoded.prompt_end == len(prompt) - 2  # the render ends "<|im_end|>\n"


@pytest.mark.parametrize("options", [{"chat_format": "yaml"}, {"truncation": "left"}, {"max_length": 1}])
def test_bad_options(tokenizer, options):
    with pytest.raises(ScorerError):
        ChatRenderer(tokenizer, **options)
