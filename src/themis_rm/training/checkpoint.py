"""Checkpoints that resume exactly, and that the next stage or the exporter can load on their own.

Layout of `OUTPUT_DIR/checkpoints/step-NNNNNNN/`:

| path                 | what                                                                    |
|----------------------|-------------------------------------------------------------------------|
| `state/`             | `accelerator.save_state`: the whole `RewardModel` (backbone, LM head, reward head), AdamW moments, RNG states of every process |
| `backbone/`          | the backbone's `config.json` and the tokenizer (with its chat template) |
| `trainer_state.json` | data position (stage, epoch, step), counters, the `config` block        |

`trainer_state.json` is written last and the folder renamed into place only when complete, so an
interrupted save never looks like a checkpoint.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

STATE_FILE = "trainer_state.json"
PREFIX = "step-"


@dataclass
class TrainerState:
    """Where the run is: the next step to take, and what it has counted so far."""

    stage: int = 0
    epoch: int = 0
    step_in_epoch: int = 0
    stage_step: int = 0
    global_step: int = 0
    tokens_seen: int = 0
    finished: bool = False
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    #: token ids at which rewards were read (the export's pad id must not be one of them)
    final_tokens: list[int] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    last_metrics: dict[str, float] = field(default_factory=dict)

    @classmethod
    def load(cls, checkpoint: Path) -> TrainerState:
        raw = json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.name.startswith(PREFIX) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: p.name)


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder, or a run folder (its latest checkpoint)."""
    path = Path(path)
    if (path / STATE_FILE).is_file():
        return path
    found = checkpoints(path)
    if found:
        return found[-1]
    raise FileNotFoundError(f"{path}: not a Themis checkpoint or a run folder with checkpoints")


def is_checkpoint(path: str | Path) -> bool:
    try:
        resolve_checkpoint(path)
    except FileNotFoundError:
        return False
    return True


def save_checkpoint(accelerator, run_dir: Path, state: TrainerState, tokenizer, lm_config, keep: int) -> Path:
    """Every process calls this (the model and optimiser states may be sharded)."""
    root = Path(run_dir) / "checkpoints"
    final = root / f"{PREFIX}{state.global_step:07d}"
    partial = root / f".{final.name}.partial"
    if accelerator.is_main_process:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(partial / "state"))
    accelerator.wait_for_everyone()  # every rank's RNG state must be on disk before the rename
    if accelerator.is_main_process:
        lm_config.save_pretrained(partial / "backbone")
        tokenizer.save_pretrained(partial / "backbone")
        (partial / STATE_FILE).write_text(json.dumps(asdict(state), indent=1, default=str), encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        partial.rename(final)
        for old in checkpoints(run_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_model_state(checkpoint: Path) -> dict[str, torch.Tensor]:
    """The full `RewardModel` state dict of a checkpoint, merging FSDP shards if needed."""
    state_dir = Path(checkpoint) / "state"
    safe = state_dir / "model.safetensors"
    if safe.is_file():
        from safetensors.torch import load_file

        return load_file(str(safe))
    for name in ("pytorch_model.bin", "pytorch_model_fsdp.bin"):
        if (state_dir / name).is_file():
            return torch.load(state_dir / name, map_location="cpu", weights_only=True)
    sharded = state_dir / "pytorch_model_fsdp_0"
    if sharded.is_dir():
        # Not accelerate's merge_fsdp_weights: it ends in a barrier, and the main rank calls this
        # alone (the export) while the others wait at their own barrier, which it would consume.
        import tempfile

        from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

        with tempfile.TemporaryDirectory() as tmp:
            merged = Path(tmp) / "model.pt"
            dcp_to_torch_save(sharded, merged)
            state = torch.load(merged, map_location="cpu", weights_only=True)
        return state["model"] if set(state) == {"model"} else state
    raise FileNotFoundError(f"{checkpoint}: no model weights under state/")


def load_reward_model(checkpoint: Path, attn_implementation: str = "sdpa", trust_remote_code: bool = False):
    """(RewardModel with both heads, tokenizer, trainer state) from a checkpoint."""
    checkpoint = resolve_checkpoint(checkpoint)
    model, tokenizer = reward_model_skeleton(checkpoint, attn_implementation, trust_remote_code)
    state = load_model_state(checkpoint)
    tied = _tied_keys(model)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k not in tied]
    if missing or unexpected:
        raise ValueError(f"{checkpoint}: weights do not fit the backbone (missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]})")
    if tied:
        model.lm.tie_weights()
    return model, tokenizer, TrainerState.load(checkpoint)


def reward_model_skeleton(checkpoint: Path, attn_implementation: str = "sdpa", trust_remote_code: bool = False):
    """(RewardModel with random weights in the checkpoint's shape, its tokenizer): what a resumed
    run fills through accelerate and `load_reward_model` fills from the saved state."""
    from transformers import AutoConfig, AutoTokenizer

    from themis_rm.training.model import RewardModel, backbone_from_config

    backbone = Path(checkpoint) / "backbone"
    config = AutoConfig.from_pretrained(backbone, trust_remote_code=trust_remote_code)
    model = RewardModel(backbone_from_config(config, attn_implementation, trust_remote_code))
    return model, AutoTokenizer.from_pretrained(backbone, trust_remote_code=trust_remote_code)


def _tied_keys(model) -> set[str]:
    """State-dict keys that share storage with an earlier key (dropped by safetensors on save)."""
    seen: dict[int, str] = {}
    tied = set()
    for name, tensor in model.state_dict(keep_vars=True).items():
        ptr = tensor.data_ptr()
        if ptr in seen:
            tied.add(name)
        else:
            seen[ptr] = name
    return tied
