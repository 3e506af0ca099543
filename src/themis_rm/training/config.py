"""`TrainConfig`: the one description of a training run.

The same dataclasses are the Python API (`train(TrainConfig(...))`), the YAML accepted by
`themis train CONFIG.yaml`, the flags of `themis train` (one kebab-case flag per field, built
from the help text in each field's metadata) and the `config` block saved in every
checkpoint and export.

A run has one or more stages (say a general-preference stage, then a code stage). A stage
field may also be written at the top level of the YAML, where it is the default of every
stage; a YAML without `stages` is one stage built from those top-level fields. Precedence:
command-line flag > the stage's own value > top-level YAML value > default. `--set
stages.1.lr=5e-6` reaches one stage.

Defaults that differ from upstream libraries, and why:

- `adam_beta2 = 0.95` (torch: 0.999): steadier with the small, noisy batches of preference data.
- `weight_decay = 0.01` on weight matrices only; norms and biases are not decayed (torch AdamW
  decays every parameter).
- `magnitude = "sum"` with `magnitude_coef = 0.01`: (r_c + r_r)² centres rewards on zero, the
  same term as TRL's `center_rewards_coefficient=0.01`.
- `lm_coef = 0.01`: a light language-model regulariser on the chosen response.
- `over_length = "truncate_response"`: cut the response, keep the prompt and the end-of-turn
  tokens (where the reward is read); counted in the run's stats.
- `resample_every_epoch = True`: a pair sees a new criteria prompt each epoch.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from themis_rm.config_fields import choice_problems, known_fields, option


@dataclass
class StageConfig:
    """One training stage: its data, length, epochs, schedule and loss coefficients."""

    name: str = field(default="code", metadata=option("Stage name (used in logs and checkpoint names)."))
    data: list[str] = field(default_factory=list, metadata=option(
        "Training pairs: .jsonl/.parquet files, directories, saved datasets or hub ids."))
    on_invalid: str = field(default="error", metadata=option(
        "Stop on invalid rows, or skip and count them.", choices=("error", "skip")))
    defaults: dict[str, str] = field(default_factory=dict, metadata=option(
        "Column defaults for rows that lack them, e.g. {aspect: Helpfulness, language: Python} (YAML or --set)."))
    epochs: int = field(default=1, metadata=option("Passes over the stage's data."))
    max_steps: int | None = field(default=None, metadata=option("Stop the stage after this many optimiser steps."))
    max_length: int = field(default=2048, metadata=option("Most tokens in one sequence (system + prompt + response)."))
    over_length: str = field(default="truncate_response", metadata=option(
        "What to do with a longer sequence: cut the response, drop the pair, or stop with an error.",
        choices=("truncate_response", "drop", "error")))
    batch_size: int = field(default=32, metadata=option("Pairs per optimiser step, over all processes."))
    micro_batch_size: int = field(default=4, metadata=option("Pairs per forward pass on one process."))
    lr: float = field(default=1e-5, metadata=option("Peak learning rate."))
    min_lr_ratio: float = field(default=0.0, metadata=option("Final learning rate as a fraction of the peak."))
    schedule: str = field(default="cosine", metadata=option(
        "Learning-rate schedule after warm-up.", choices=("cosine", "wsd", "constant")))
    warmup_ratio: float = field(default=0.03, metadata=option("Fraction of the stage's steps spent warming up."))
    decay_ratio: float = field(default=0.1, metadata=option("wsd: fraction of the steps spent in the final decay."))
    lm_coef: float = field(default=0.01, metadata=option("λ: weight of the LM cross-entropy on the chosen response."))
    magnitude: str = field(default="sum", metadata=option(
        "Magnitude term: sum = (r_c + r_r)² centres rewards; abs = (|r_c| + |r_r|)² shrinks them.",
        choices=("sum", "abs")))
    magnitude_coef: float = field(default=0.01, metadata=option("μ: weight of the magnitude term."))
    p_none: float = field(default=0.15, metadata=option("Probability of no criteria prompt."))
    p_aspect: float = field(default=0.60, metadata=option("Probability of the pair's own criterion."))
    p_full: float = field(default=0.25, metadata=option("Probability of all code criteria, shuffled."))
    resample_every_epoch: bool = field(default=True, metadata=option(
        "Draw a new criteria prompt for every pair each epoch (else the first draw repeats)."))
    reset_optimizer: bool = field(default=True, metadata=option(
        "Start the stage with fresh AdamW moments (the weights always carry over)."))

    def __post_init__(self) -> None:
        _coerce(self, "stage")
        self.data = [self.data] if isinstance(self.data, str) else [str(d) for d in self.data or []]
        self.defaults = {str(k): str(v) for k, v in (self.defaults or {}).items()}
        problems = choice_problems(self, STAGE_FIELDS)
        if not self.data:
            problems.append("needs data (--data or 'data:' in the YAML)")
        for name in ("epochs", "max_length", "batch_size", "micro_batch_size"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if self.max_steps is not None and self.max_steps < 1:
            problems.append("max_steps must be >= 1")
        if self.lr <= 0:
            problems.append("lr must be > 0")
        for name in ("min_lr_ratio", "warmup_ratio", "decay_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be in [0, 1]")
        for name in ("lm_coef", "magnitude_coef"):
            if getattr(self, name) < 0:
                problems.append(f"{name} must be >= 0")
        total = self.p_none + self.p_aspect + self.p_full
        if min(self.p_none, self.p_aspect, self.p_full) < 0 or abs(total - 1.0) > 1e-6:
            problems.append(f"p_none + p_aspect + p_full must be 1 (each >= 0), got {total:.4f}")
        if problems:
            raise ValueError(f"stage {self.name!r}: " + "; ".join(problems))


@dataclass
class ScratchConfig:
    """A model built from nothing (`model: scratch`): a fresh byte-level BPE tokenizer and random weights."""

    arch: str = field(default="qwen3", metadata=option("Architecture.", choices=("qwen3", "llama")))
    hidden_size: int = field(default=256, metadata=option("Hidden size."))
    layers: int = field(default=4, metadata=option("Decoder layers."))
    heads: int = field(default=4, metadata=option("Attention heads."))
    kv_heads: int = field(default=2, metadata=option("Key/value heads."))
    intermediate_size: int | None = field(default=None, metadata=option("MLP width (default 3 × hidden)."))
    vocab_size: int = field(default=8192, metadata=option("Tokenizer vocabulary to train."))
    tokenizer_texts: int = field(default=20000, metadata=option("Most texts of the first stage used to train it."))

    def __post_init__(self) -> None:
        _coerce(self, "scratch")
        problems = choice_problems(self, SCRATCH_FIELDS)
        if self.hidden_size % self.heads or self.heads % self.kv_heads:
            problems.append("hidden_size must divide by heads, and heads by kv_heads")
        if problems:
            raise ValueError("scratch: " + "; ".join(problems))


@dataclass
class TrainConfig:
    """Every knob of `themis train`; see the module docstring for the defaults that matter."""

    model: str = field(default="", metadata=option(
        "Backbone: a hub id or path of a causal LM, a Themis checkpoint (keeps both heads), or 'scratch'."))
    stages: list[StageConfig] = field(default_factory=list, metadata=option("Training stages, run in order."))
    output_dir: str = field(default="runs/train", metadata=option(
        "Run folder: checkpoints/, metrics.jsonl and the final export/."))
    tokenizer: str | None = field(default=None, metadata=option("Tokenizer path or id (default: the model's)."))
    chat_template: str | None = field(default=None, metadata=option(
        "Jinja chat template (a file or the text) for a tokenizer that has none; never guessed."))
    criteria: str | None = field(default=None, metadata=option("YAML file that replaces the criteria texts."))
    scratch: ScratchConfig = field(default_factory=ScratchConfig, metadata=option(
        "Shape of the model when model is 'scratch' (YAML or --set scratch.hidden_size=...)."))
    seed: int = field(default=0, metadata=option("Seed of the weights, the data order and the criteria draws."))

    # model and numerics
    precision: str = field(default="auto", metadata=option(
        "auto = bf16 autocast on GPU, fp32 on CPU.", choices=("auto", "fp32", "bf16")))
    attn_implementation: str = field(default="auto", metadata=option(
        "Attention: sdpa_segments (sdpa per packed pair, no masked work), sdpa or eager (dense masks), "
        "flex_attention (GPU block-sparse), flash_attention_2 (packed, no prefix sharing); "
        "auto = sdpa_segments when packed, else sdpa.",
        choices=("auto", "sdpa_segments", "sdpa", "eager", "flex_attention", "flash_attention_2")))
    gradient_checkpointing: bool = field(default=False, metadata=option("Recompute activations in backward."))
    trust_remote_code: bool = field(default=False, metadata=option("Run the model repository's own code."))

    # speed levers
    layout: str = field(default="packed", metadata=option(
        "packed: the pairs of a micro-batch share rows with no padding; padded: one padded row per sequence.",
        choices=("packed", "padded")))
    share_prefix: bool = field(default=True, metadata=option(
        "Packed layout: encode the common prefix of chosen and rejected once."))
    pack_tokens: int | None = field(default=None, metadata=option(
        "Packed layout: most tokens per row (default: the longest pair for sdpa/eager, whose dense mask "
        "costs the square of the row; one row otherwise)."))
    lm_loss_impl: str = field(default="auto", metadata=option(
        "LM term: chunked (never builds the full logits), liger (fused GPU kernel, 'gpu' extra), "
        "plain (full logits), or auto (liger when installed on GPU, else chunked).",
        choices=("auto", "chunked", "liger", "plain")))

    # optimiser
    adam_beta1: float = field(default=0.9, metadata=option("AdamW β1."))
    adam_beta2: float = field(default=0.95, metadata=option("AdamW β2."))
    adam_eps: float = field(default=1e-8, metadata=option("AdamW ε."))
    weight_decay: float = field(default=0.01, metadata=option("AdamW weight decay on matrices (not norms or biases)."))
    grad_clip: float = field(default=1.0, metadata=option("Clip the global gradient norm to this (0: off)."))

    # run control
    log_every: int = field(default=10, metadata=option("Optimiser steps between metric lines."))
    save_every: int = field(default=200, metadata=option("Optimiser steps between checkpoints (0: at stage ends only)."))
    keep_checkpoints: int = field(default=2, metadata=option("Checkpoints kept (older ones are deleted)."))
    halt_after_steps: int | None = field(default=None, metadata=option(
        "Checkpoint and stop after this many optimiser steps in this invocation (time-boxed jobs; --resume continues)."))
    resume: bool = field(default=False, metadata=option("Continue from the latest checkpoint in output_dir."))
    export: bool = field(default=True, metadata=option("Write output_dir/export when the last stage ends."))
    export_check: bool = field(default=True, metadata=option("Round-trip check of the export with plain transformers."))
    progress: bool = field(default=True, metadata=option("Show a progress bar."))
    num_threads: int | None = field(default=None, metadata=option("torch CPU threads per process (default: torch's)."))
    peak_tflops: float | None = field(default=None, metadata=option(
        "Peak dense TFLOP/s of one device for MFU (default: looked up for known GPUs)."))

    def __post_init__(self) -> None:
        _coerce(self, "config")
        if isinstance(self.scratch, dict):
            self.scratch = ScratchConfig(**known_fields(self.scratch, SCRATCH_FIELDS, "scratch"))
        self.stages = [s if isinstance(s, StageConfig) else StageConfig(**known_fields(s, STAGE_FIELDS, "stage"))
                       for s in self.stages]
        problems = choice_problems(self, TRAIN_FIELDS)
        if not self.model:
            problems.append("needs a model (--model or 'model:' in the YAML)")
        if not self.stages:
            problems.append("needs at least one stage")
        names = [s.name for s in self.stages]
        if len(set(names)) != len(names):
            problems.append(f"stage names must be unique, got {names}")
        if self.attn_implementation == "sdpa_segments" and self.layout != "packed":
            problems.append("sdpa_segments needs layout packed")
        if self.attn_implementation == "flash_attention_2" and (
                self.layout != "packed" or self.share_prefix or self.pack_tokens is not None):
            problems.append("flash_attention_2 needs layout packed, --no-share-prefix and no pack_tokens")
        for name in ("log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if self.save_every < 0:
            problems.append("save_every must be >= 0")
        if self.pack_tokens is not None and self.pack_tokens < 1:
            problems.append("pack_tokens must be >= 1")
        if problems:
            raise ValueError("; ".join(problems))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.as_dict(), sort_keys=False, allow_unicode=True)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], overrides: dict[str, Any] | None = None,
                  where: str = "config") -> TrainConfig:
        """Build from YAML-shaped data; `overrides` (flag name → value) win over everything."""
        raw = {k.replace("-", "_"): v for k, v in (raw or {}).items()}
        overrides = {k.replace("-", "_"): v for k, v in (overrides or {}).items()}
        allowed = set(TRAIN_FIELDS) | set(STAGE_FIELDS)
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}; see `themis train --help`")
        stage_defaults = {k: v for k, v in raw.items() if k in STAGE_FIELDS and k not in TRAIN_FIELDS}
        stage_flags = {k: v for k, v in overrides.items() if k in STAGE_FIELDS and k not in TRAIN_FIELDS}
        stages = raw.get("stages")
        if stages is None:
            stages = [{}]
        if not isinstance(stages, list):
            raise ValueError(f"{where}: 'stages' must be a list of stage mappings")
        built = []
        for i, stage in enumerate(stages):
            stage = known_fields(stage, STAGE_FIELDS, f"{where}: stages[{i}]")
            built.append({**stage_defaults, **stage, **stage_flags})
        top = {k: v for k, v in raw.items() if k in TRAIN_FIELDS and k != "stages"}
        top.update({k: v for k, v in overrides.items() if k in TRAIN_FIELDS})
        return cls(**top, stages=built)

    @classmethod
    def from_file(cls, path: str | Path | None, overrides: dict[str, Any] | None = None,
                  assignments: list[str] | None = None) -> TrainConfig:
        """Read a YAML (or JSON) file, apply `--set a.b=value` assignments, then flag overrides."""
        raw: dict[str, Any] = {}
        where = "command line"
        if path is not None:
            where = str(path)
            try:
                raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as err:
                raise ValueError(f"{path}: cannot read config: {err}") from None
            if not isinstance(raw, dict):
                raise ValueError(f"{path}: a training config must be a mapping of fields")
        for assignment in assignments or []:
            apply_assignment(raw, assignment)
        return cls.from_dict(raw, overrides, where)

    def fingerprint(self) -> str:
        """What a resumed run must share with the run it continues (everything but run control)."""
        keep = {k: v for k, v in self.as_dict().items() if k not in RUN_CONTROL}
        return json.dumps(keep, sort_keys=True, default=str)

    def attention(self) -> str:
        """The attention implementation `auto` stands for."""
        if self.attn_implementation != "auto":
            return self.attn_implementation
        return "sdpa_segments" if self.layout == "packed" else "sdpa"


def apply_assignment(raw: dict[str, Any], assignment: str) -> None:
    """`stages.1.lr=5e-6` → raw["stages"][1]["lr"] = 5e-6 (the value is parsed as YAML)."""
    key, sep, text = assignment.partition("=")
    if not sep or not key:
        raise ValueError(f"--set expects KEY=VALUE, got {assignment!r}")
    value = yaml.safe_load(text) if text else ""
    parts = key.replace("-", "_").split(".")
    node: Any = raw
    for i, part in enumerate(parts[:-1]):
        nxt_is_index = parts[i + 1].isdigit()
        if isinstance(node, list):
            index = int(part)
            while len(node) <= index:
                node.append({})
            node = node[index]
            continue
        if part not in node or node[part] is None:
            node[part] = [] if nxt_is_index else {}
        node = node[part]
    last = parts[-1]
    if isinstance(node, list):
        index = int(last)
        while len(node) <= index:
            node.append({})
        node[index] = value
    else:
        node[last] = value


def _coerce(obj: Any, where: str) -> None:
    """Numbers written as YAML strings (PyYAML reads `1e-5` as text) become numbers; wrong types are named."""
    hints = typing.get_type_hints(type(obj))
    for spec in dataclasses.fields(obj):
        value = getattr(obj, spec.name)
        kinds = [k for k in typing.get_args(hints[spec.name]) if k is not type(None)] or [hints[spec.name]]
        if value is None or not isinstance(value, (str, int, float)) or isinstance(value, bool):
            if isinstance(value, bool) and float in kinds and bool not in kinds:
                raise ValueError(f"{where}: {spec.name} must be a number, got {value!r}")
            continue
        try:
            if float in kinds and not isinstance(value, float):
                setattr(obj, spec.name, float(value))
            elif int in kinds and not isinstance(value, int):
                number = float(value)
                if number != int(number):
                    raise ValueError
                setattr(obj, spec.name, int(number))
            elif bool in kinds and isinstance(value, str):
                if value.lower() not in ("true", "false", "yes", "no", "1", "0"):
                    raise ValueError
                setattr(obj, spec.name, value.lower() in ("true", "yes", "1"))
        except ValueError:
            raise ValueError(f"{where}: {spec.name} must be {kinds[0].__name__}, got {value!r}") from None


TRAIN_FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
STAGE_FIELDS = {f.name: f for f in dataclasses.fields(StageConfig)}
SCRATCH_FIELDS = {f.name: f for f in dataclasses.fields(ScratchConfig)}
RUN_CONTROL = frozenset({
    "output_dir", "log_every", "save_every", "keep_checkpoints", "halt_after_steps", "resume", "export",
    "export_check", "progress", "num_threads", "peak_tflops",
})
