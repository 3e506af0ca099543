"""Reward-head adapters: how a checkpoint's hidden states become one score.

Published reward models put the score in different places. Rather than one scoring script per
family, each adapter here is a small class that (1) loads the backbone with transformers'
own classes (never the repository's code unless `--trust-remote-code`), (2) builds the head
in float32 from the checkpoint's tensors, and (3) says which token each sequence is read at.

| `--head` | checkpoint | read at | score |
|---|---|---|---|
| `seq-cls` | `...ForSequenceClassification`, `num_labels=1` | last token that is not padding (transformers' rule) | `score` / `classifier` linear layer |
| `value-head[:PREFIX]` | a causal LM plus a value head (`v_head.*`, TRL / AceCodeRM / GRM style) | last token | the linear layers under PREFIX, ReLU between them |
| `special-token:TOKEN` | a backbone plus a value head read at a marker token (Athene style) | last occurrence of TOKEN (appended when the template does not end with it) | the value head |
| `gating` | multi-objective regression with a prompt-conditioned gate (ArmoRM style) | last token that is not padding; the gate reads the end-of-turn token of the prompt | Σ softmax(gate / T) · scale · (regression @ transform) |

Without `--head`, the adapter is chosen from the checkpoint (`detect`). Out-of-tree adapters
register through the `themis_rm.heads` entry-point group (`name = "package.module:Class"`).
"""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from typing import Any, ClassVar

from themis_rm.scoring.base import ScorerError, load_target
from themis_rm.scoring.loading import ModelFiles, text_config

HEAD_ENTRY_POINT_GROUP = "themis_rm.heads"


def last_non_pad(ids: list[int], pad_id: int | None) -> int:
    """transformers' sequence-classification rule: the rightmost token that is not the pad id."""
    if pad_id is None:
        return len(ids) - 1
    for position in range(len(ids) - 1, -1, -1):
        if ids[position] != pad_id:
            return position
    return 0


class RewardHead:
    """One way of turning hidden states into a score. Subclass and `@register_head("name")`."""

    name: ClassVar[str] = ""
    #: Tokens the adapter may append after truncation (the renderer keeps room for them).
    reserve: ClassVar[int] = 0
    #: Whether `score` also needs the hidden state of the prompt's last token.
    needs_anchor: ClassVar[bool] = False

    def __init__(self, argument: str = "") -> None:
        self.argument = argument
        self.backbone: Any = None
        self.head: Any = None
        self.pad_id: int | None = None

    @classmethod
    def detect(cls, files: ModelFiles) -> bool:
        """Whether this adapter is the natural reading of the checkpoint (used without `--head`)."""
        return False

    def describe(self) -> str:
        return f"{self.name}:{self.argument}" if self.argument else self.name

    def load(self, files: ModelFiles, tokenizer: Any, load_kwargs: dict[str, Any], device: Any) -> None:
        """Set `self.backbone` (returns `last_hidden_state`) and `self.head` (float32, on `device`)."""
        raise NotImplementedError

    def finalize(self, ids: list[int]) -> list[int]:
        """The token ids the model sees, after truncation (e.g. with a marker token appended)."""
        return ids

    def read_position(self, ids: list[int]) -> int:
        return len(ids) - 1

    def score(self, hidden: Any, anchor: Any | None) -> Any:
        """float32 hidden states at the read (and anchor) positions → float32 scores, one per row."""
        return self.head(hidden).squeeze(-1)

    def extra_stats(self) -> dict[str, Any]:
        return {}


_HEADS: dict[str, type[RewardHead]] = {}
DETECT_ORDER: list[str] = []


def register_head(name: str, detect: bool = True):
    """Class decorator: make an adapter available as `--head name` (and for detection)."""

    def decorate(cls: type[RewardHead]) -> type[RewardHead]:
        if not (isinstance(cls, type) and issubclass(cls, RewardHead)):
            raise TypeError(f"{cls!r} must subclass RewardHead")
        cls.name = name
        _HEADS[name] = cls
        if detect and name not in DETECT_ORDER:
            DETECT_ORDER.insert(0, name)  # later (more specific) registrations are tried first
        return cls

    return decorate


def _plugin_heads() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=HEAD_ENTRY_POINT_GROUP)}


def available_heads() -> list[str]:
    return sorted(set(_HEADS) | set(_plugin_heads()))


def resolve_head(spec: str) -> RewardHead:
    """`NAME` or `NAME:ARGUMENT` → an adapter instance (plug-ins are imported on first use)."""
    name, _, argument = spec.partition(":")
    name = name.strip()
    if name not in _HEADS:
        target = _plugin_heads().get(name)
        if target is None:
            raise ScorerError(f"unknown --head {name!r}; available: {', '.join(available_heads())}")
        register_head(name, detect=False)(load_target(target))
    return _HEADS[name](argument.strip())


def detect_head(files: ModelFiles) -> RewardHead:
    for name in DETECT_ORDER:
        if _HEADS[name].detect(files):
            return _HEADS[name]()
    raise ScorerError(
        f"cannot tell how {files.name} (architectures: {', '.join(files.architectures) or 'none'}) produces a "
        f"reward; pass --head, one of {', '.join(available_heads())}"
    )


def _backbone_from(files: ModelFiles, load_kwargs: dict[str, Any]) -> Any:
    """The bare transformer (no LM or task head) of any checkpoint, with transformers' own class."""
    from transformers import AutoModel

    return AutoModel.from_pretrained(str(files.directory), **load_kwargs)  # quiet: the scorer's _hf_call


def _mlp(tensors: dict[str, Any], weight_names: list[str]) -> Any:
    """Stored linear layers in order, with a ReLU between each two (the heads people publish)."""
    from torch import nn

    layers: list[nn.Module] = []
    for position, name in enumerate(weight_names):
        layers.append(_linear(tensors, name))
        if position < len(weight_names) - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _linear(tensors: dict[str, Any], weight_name: str) -> Any:
    """An fp32 `nn.Linear` from a stored `<name>.weight` and its `<name>.bias`, if there is one."""
    import torch
    from torch import nn

    weight = tensors[weight_name].float()
    bias = tensors.get(weight_name[: -len("weight")] + "bias")
    linear = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        linear.weight.copy_(weight)
        if bias is not None:
            linear.bias.copy_(bias.float())
    return linear


def _linear_stack(files: ModelFiles, prefix: str, hidden_size: int, device: Any) -> Any:
    """The linear layers stored under `prefix`, in module order, with ReLU between them, float32."""
    import torch

    stored = files.weight_names()
    names = sorted((n for n in stored if n.startswith(prefix) and n.endswith(".weight")), key=_natural_key)
    if not names:
        raise ScorerError(f"{files.name} has no weights under {prefix!r}")
    tensors = files.tensors(names + [n[: -len("weight")] + "bias" for n in names
                                     if n[: -len("weight")] + "bias" in stored])
    width = hidden_size
    for name in names:
        weight = tensors[name]
        if weight.ndim != 2 or weight.shape[1] != width:
            raise ScorerError(f"{files.name}: {name} has shape {tuple(weight.shape)}, expected (*, {width})")
        width = weight.shape[0]
    if width != 1:
        raise ScorerError(f"the head under {prefix!r} in {files.name} gives {width} outputs, not 1")
    return _mlp(tensors, names).to(device=device, dtype=torch.float32).eval()


def _natural_key(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _hidden_size(files: ModelFiles) -> int:
    return int(text_config(files.config).hidden_size)


@register_head("seq-cls")
class SequenceClassificationHead(RewardHead):
    """`AutoModelForSequenceClassification` with one label: the backbone, then its linear score layer in fp32."""

    @classmethod
    def detect(cls, files: ModelFiles) -> bool:
        return any(a.endswith("ForSequenceClassification") for a in files.architectures)

    def load(self, files: ModelFiles, tokenizer: Any, load_kwargs: dict[str, Any], device: Any) -> None:
        import copy

        import torch
        from transformers import AutoModelForSequenceClassification

        labels = getattr(files.config, "num_labels", 1)
        if labels != 1:
            raise ScorerError(
                f"{files.name} has num_labels={labels}; a scalar reward model has 1. For a multi-objective "
                f"model pick a head adapter (--head gating for ArmoRM style; available: {', '.join(available_heads())})"
            )
        model = AutoModelForSequenceClassification.from_pretrained(str(files.directory), **load_kwargs)
        layer = next((getattr(model, n) for n in ("score", "classifier") if isinstance(getattr(model, n, None),
                                                                                      torch.nn.Linear)), None)
        if layer is None:
            raise ScorerError(
                f"{files.name}: the sequence-classification head is not a plain linear layer; "
                "write a head adapter for it (see themis_rm.scoring.heads)"
            )
        self.backbone = model.base_model
        self.head = copy.deepcopy(layer).to(device=device, dtype=torch.float32).eval()
        self.pad_id = getattr(files.config, "pad_token_id", None)
        if self.pad_id is None:
            self.pad_id = getattr(text_config(files.config), "pad_token_id", None)

    def read_position(self, ids: list[int]) -> int:
        return last_non_pad(ids, self.pad_id)


@register_head("value-head")
class ValueHead(RewardHead):
    """A value head on a causal LM, read at the last token. ARGUMENT: the weight prefix
    (default: the first of `v_head.`, `value_head.` the checkpoint has)."""

    PREFIXES: ClassVar[tuple[str, ...]] = ("v_head.", "value_head.")

    @classmethod
    def detect(cls, files: ModelFiles) -> bool:
        causal = any(a.endswith("ForCausalLM") for a in files.architectures)
        return causal and any(n.startswith(cls.PREFIXES) for n in files.weight_names())

    def __init__(self, argument: str = "") -> None:
        super().__init__(argument)
        self.weight_prefix = argument or None

    def _prefix(self, files: ModelFiles) -> str:
        if self.weight_prefix:
            return self.weight_prefix if self.weight_prefix.endswith(".") else self.weight_prefix + "."
        names = files.weight_names()
        for prefix in self.PREFIXES:
            if any(n.startswith(prefix) for n in names):
                return prefix
        raise ScorerError(f"{files.name} has no value head ({' or '.join(self.PREFIXES)} weights); "
                          f"give its prefix as --head {self.name}:PREFIX")

    def load(self, files: ModelFiles, tokenizer: Any, load_kwargs: dict[str, Any], device: Any) -> None:
        prefix = self._prefix(files)
        self.backbone = _backbone_from(files, load_kwargs)
        self.head = _linear_stack(files, prefix, _hidden_size(files), device)


@register_head("special-token", detect=False)
class SpecialTokenHead(ValueHead):
    """A value head read at a marker token (ARGUMENT, e.g. `<|reserved_special_token_1|>`), which is
    appended when the rendered conversation does not already end with it."""

    reserve = 1

    def __init__(self, argument: str = "") -> None:
        super().__init__(argument)
        self.weight_prefix = None  # found automatically, as for value-head
        self.token = argument

    def load(self, files: ModelFiles, tokenizer: Any, load_kwargs: dict[str, Any], device: Any) -> None:
        if not self.token:
            raise ScorerError("--head special-token needs the token to read at: --head special-token:TOKEN")
        token_id = tokenizer.convert_tokens_to_ids(self.token)
        if token_id is None or token_id == getattr(tokenizer, "unk_token_id", object()):
            raise ScorerError(f"the tokenizer of {files.name} has no token {self.token!r}")
        self.token_id = int(token_id)
        super().load(files, tokenizer, load_kwargs, device)

    def finalize(self, ids: list[int]) -> list[int]:
        return ids if ids and ids[-1] == self.token_id else [*ids, self.token_id]

    def read_position(self, ids: list[int]) -> int:
        for position in range(len(ids) - 1, -1, -1):
            if ids[position] == self.token_id:
                return position
        raise ScorerError(f"token {self.token!r} is missing from a sequence")


@register_head("gating")
class GatingHead(RewardHead):
    """Multi-objective regression combined by a gate on the prompt (ArmoRM style).

    Tensors: `regression_layer.weight` (K × H), `gating.layers.N.{weight,bias}` (ReLU between),
    optional `gating.logit_scale` and `reward_transform_matrix` (K × K); the gate's softmax
    temperature is the config's `gating_temperature` (default 10).
    """

    needs_anchor = True

    @classmethod
    def detect(cls, files: ModelFiles) -> bool:
        names = files.weight_names()
        return "regression_layer.weight" in names and any(n.startswith("gating.layers.") for n in names)

    def load(self, files: ModelFiles, tokenizer: Any, load_kwargs: dict[str, Any], device: Any) -> None:
        import torch
        from torch import nn

        names = files.weight_names()
        gate_names = sorted((n for n in names if n.startswith("gating.layers.")), key=_natural_key)
        extra = [n for n in ("gating.logit_scale", "reward_transform_matrix") if n in names]
        tensors = files.tensors(["regression_layer.weight", *gate_names, *extra])
        regression = tensors["regression_layer.weight"].float()
        objectives = regression.shape[0]
        gate_weights = [n for n in gate_names if n.endswith(".weight")]
        if not gate_weights or tensors[gate_weights[-1]].shape[0] != objectives:
            raise ScorerError(f"{files.name}: the gating layers do not end in {objectives} outputs")
        gate = _mlp(tensors, gate_weights)
        self.backbone = _backbone_from(files, load_kwargs)
        self.head = nn.ModuleDict({"gate": gate}).to(device=device, dtype=torch.float32).eval()
        self.regression = regression.to(device)
        transform = tensors.get("reward_transform_matrix")
        self.transform = (transform.float() if transform is not None else torch.eye(objectives)).to(device)
        scale = tensors.get("gating.logit_scale")
        self.logit_scale = float(scale.float().reshape(-1)[0]) if scale is not None else 1.0
        self.temperature = float(getattr(files.config, "gating_temperature", 10.0))
        self.pad_id = getattr(files.config, "pad_token_id", None)
        self.objectives = objectives

    def read_position(self, ids: list[int]) -> int:
        return last_non_pad(ids, self.pad_id)

    def score(self, hidden: Any, anchor: Any | None) -> Any:
        import torch

        rewards = (hidden @ self.regression.T) @ self.transform
        weights = torch.softmax(self.head["gate"](anchor) / self.temperature, dim=-1) * self.logit_scale
        return (weights * rewards).sum(dim=-1)

    def extra_stats(self) -> dict[str, Any]:
        return {"objectives": self.objectives, "gating_temperature": self.temperature}


__all__ = [
    "HEAD_ENTRY_POINT_GROUP",
    "GatingHead",
    "RewardHead",
    "SequenceClassificationHead",
    "SpecialTokenHead",
    "ValueHead",
    "available_heads",
    "detect_head",
    "last_non_pad",
    "register_head",
    "resolve_head",
]
