"""Export a checkpoint as a standard `AutoModelForSequenceClassification` (num_labels=1).

The backbone weights move unchanged, the reward head becomes the `score` layer, the LM head is
dropped. The tokenizer is saved with its chat template and a pad token, and `config.pad_token_id`
is chosen so that Hugging Face's pooling ("the rightmost token that is not the pad token") lands
on the token the trainer read the reward at: the pad id must never be a sequence's last token,
so every token the trainer pooled at is recorded and excluded.

The export then checks itself: the exported folder, loaded with plain transformers and padded by
its own tokenizer, must give the trainer's rewards on real batches of several lengths.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from themis_rm.training.checkpoint import load_reward_model, resolve_checkpoint
from themis_rm.training.data import Encoded
from themis_rm.training.packing import collate

EXPORT_META = "themis_training.json"


class ExportError(RuntimeError):
    """The export cannot be made, or does not reproduce the trainer's rewards."""


@dataclass
class ExportReport:
    out_dir: Path
    pad_token_id: int
    checked: int
    max_abs_diff: float

    def as_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "pad_token_id": self.pad_token_id, "checked": self.checked,
                "max_abs_diff": self.max_abs_diff}


def choose_pad_token(tokenizer, final_tokens: set[int]) -> int:
    """The tokenizer's pad token when it never ends a sequence, else the first special token that doesn't."""
    candidates = [tokenizer.pad_token_id, tokenizer.unk_token_id, *tokenizer.all_special_ids,
                  tokenizer.eos_token_id, tokenizer.bos_token_id]
    for candidate in candidates:
        if candidate is not None and candidate not in final_tokens:
            return int(candidate)
    raise ExportError("every special token ends some training sequence; add a dedicated pad token to the tokenizer")


def to_sequence_classifier(model, pad_token_id: int):
    """A `...ForSequenceClassification` holding the backbone and the reward head as `score`."""
    from transformers import AutoModelForSequenceClassification
    from transformers.initialization import no_init_weights

    config = copy.deepcopy(model.lm.config)
    config.num_labels = 1
    config.pad_token_id = pad_token_id
    if hasattr(config, "get_text_config"):
        config.get_text_config().pad_token_id = pad_token_id
    config.architectures = None
    config._attn_implementation = "sdpa"  # the trainer's own attention kernels stay with the trainer
    with no_init_weights():
        seq = AutoModelForSequenceClassification.from_config(config, dtype=torch.float32)
    missing, unexpected = seq.base_model.load_state_dict(model.lm.base_model.state_dict(), strict=False)
    if missing or unexpected:
        raise ExportError(f"backbone weights do not fit {type(seq).__name__} (missing {missing[:3]}, "
                          f"unexpected {unexpected[:3]})")
    score = getattr(seq, "score", None)
    if not isinstance(score, torch.nn.Linear) or score.weight.shape != model.reward_head.weight.shape:
        raise ExportError(f"{type(seq).__name__} has no `score` layer of shape (1, hidden)")
    with torch.no_grad():
        score.weight.copy_(model.reward_head.weight.float())
    return seq.eval()


def export_checkpoint(checkpoint: str | Path, out_dir: str | Path, check: bool = True,
                      atol: float = 1e-4, rtol: float = 1e-4) -> ExportReport:
    checkpoint = resolve_checkpoint(checkpoint)
    out_dir = Path(out_dir)
    model, tokenizer, state = load_reward_model(checkpoint)
    model.eval()
    pad = choose_pad_token(tokenizer, set(state.final_tokens))
    seq = to_sequence_classifier(model, pad)
    out_dir.mkdir(parents=True, exist_ok=True)
    seq.save_pretrained(out_dir)
    tokenizer.pad_token = tokenizer.convert_ids_to_tokens(pad)
    tokenizer.save_pretrained(out_dir)
    meta = {"checkpoint": str(checkpoint), "pad_token_id": pad, "reward_read_at_token_ids": sorted(state.final_tokens),
            "global_step": state.global_step, "config": state.config}
    report = ExportReport(out_dir, pad, 0, float("nan"))
    if check:
        report = round_trip(out_dir, model, state.probes, atol, rtol)
        meta["round_trip"] = report.as_dict()
    (out_dir / EXPORT_META).write_text(json.dumps(meta, indent=1, default=str), encoding="utf-8")
    return report


def trainer_rewards(model, sequences: list[list[int]]) -> np.ndarray:
    """Rewards of single sequences through the training path (pairs of neighbours, packed, shared prefix)."""
    if len(sequences) < 2:
        raise ExportError("need at least two sequences to run the training path")
    seqs = sequences if len(sequences) % 2 == 0 else [*sequences, sequences[0]]
    examples = [Encoded(i, np.asarray(seqs[2 * i]), np.asarray(seqs[2 * i + 1]), len(seqs[2 * i]) - 1, False)
                for i in range(len(seqs) // 2)]
    batch = collate(examples)
    with torch.no_grad():
        pool = torch.cat([batch.pool_chosen, batch.pool_rejected])
        rewards, _ = model(batch.input_ids, batch.position_ids, batch.attention_mask, pool)
    n = batch.n_pairs
    chosen, rejected = rewards[:n].float().numpy(), rewards[n:].float().numpy()
    return np.stack([chosen, rejected], axis=1).reshape(-1)[:len(sequences)]


def round_trip(out_dir: Path, model, probes: list[dict], atol: float, rtol: float) -> ExportReport:
    """Load the export with plain transformers, pad a real batch with its tokenizer, compare rewards."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if len(probes) < 2:
        raise ExportError("the checkpoint holds fewer than two probe texts; cannot check the export")
    exported = AutoModelForSequenceClassification.from_pretrained(out_dir, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(out_dir)
    texts = [p["text"] for p in probes]
    batch = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt")
    for i, probe in enumerate(probes):
        ids = batch["input_ids"][i][batch["attention_mask"][i].bool()].tolist()
        if ids != probe["ids"]:
            raise ExportError(f"the exported tokenizer tokenises probe {i} differently from the trainer")
    with torch.no_grad():
        theirs = exported(**batch).logits[:, 0].float().numpy()
    ours = trainer_rewards(model, [p["ids"] for p in probes])
    diff = np.abs(theirs - ours)
    if not np.all(diff <= atol + rtol * np.abs(ours)):
        raise ExportError(f"exported rewards differ from the trainer's by up to {diff.max():.3g} "
                          f"(trainer {ours[:4].round(4).tolist()}, export {theirs[:4].round(4).tolist()})")
    return ExportReport(out_dir, int(exported.config.pad_token_id), len(probes), float(diff.max()))
