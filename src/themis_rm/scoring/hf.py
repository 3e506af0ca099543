"""`hf:<hub-id-or-path>`: score with a transformers reward model, fast and faithfully.

    themis eval --scorer hf:./my-rm --dtype bfloat16 --max-length 4096 --batch-tokens 65536

The recipe for each engine chunk (the next chunk is prepared in a worker meanwhile): render
every request with the tokenizer's chat template and tokenise it whole (`render.py`); cut or
drop what exceeds `--max-length` and count it; group the sequences longest first under a
token budget, as the cheapest of the layouts that were verified at load time to give the
same hidden states as single sequences (`verify.py`): padded, packed, or with each shared
prompt run once and continued from its key/value cache (`planner.py`, `batching.py`,
`prefixes.py`); feed the
batches to the device one ahead of the model (`transfer.py`); run them, the last layer only at
the slots that are read when the model's family allows it (`forward.py`, `readout.py`); read
each sequence's hidden state at the token its head adapter names (`heads.py`) and apply the
head in float32.

Defaults that differ from transformers: `dtype=auto` means float32 on CPU and the checkpoint's
half precision (bfloat16 for float32 checkpoints) on CUDA; the score head always runs in
float32, so low precision does not create ties; `trust_remote_code` is off unless asked.
Hub ids and local folders go through the same code: a hub id is first fetched as a snapshot.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from themis_rm.schema import ScoreRequest
from themis_rm.scoring.base import PointwiseScorer, Scored, ScorerError, register_scorer
from themis_rm.scoring.batching import LAYOUTS, PADDING_SIDES, HostBatch
from themis_rm.scoring.distributed import Shard
from themis_rm.scoring.heads import RewardHead, detect_head, resolve_head
from themis_rm.scoring.loading import (
    ModelFiles,
    peak_memory,
    quiet_transformers,
    require_extras,
    resolve_device,
    resolve_dtype,
    resolve_model,
    text_config,
)
from themis_rm.scoring.planner import Capabilities, Plan, plan_chunk
from themis_rm.scoring.render import ChatRenderer, Encoded
from themis_rm.scoring.verify import configure

DEFAULT_BATCH_TOKENS = {"cpu": 2048, "cuda": 65536}
#: What a forward pass costs beyond its arithmetic, in tokens of the model's matrix work (the
#: planner weighs it against padding): Python and kernel launches per layer. CPU: about 2 ms per
#: pass for the benchmark's 4-layer model (docs/performance.md); CUDA: a rough guess, not measured.
PASS_OVERHEAD_TOKENS = {"cpu": 32, "cuda": 2048}
LAST_LAYER_MODES = ("auto", "full")
CPU_LINEAR_MODES = ("auto", "onednn", "torch")


@register_scorer("hf")
class HFScorer(PointwiseScorer):
    """A transformers reward model. Options are the `themis eval` hf flags, in snake case, plus
    `layout` (auto | packed | padded), `padding_side`, `attn_implementation`, `revision`,
    `last_layer` (auto: only at the read slots where verified | full) and `cpu_linear` (auto |
    onednn | torch, see `cpu_linear.py`) for the Python API."""

    options: ClassVar[frozenset[str]] = frozenset({
        "max_length", "truncation", "dtype", "device", "batch_tokens", "chat_format", "head",
        "trust_remote_code", "layout", "padding_side", "attn_implementation", "revision", "last_layer",
        "cpu_linear",
    })
    preferred_chunk_size: ClassVar[int] = 1024

    @classmethod
    def from_spec(cls, argument: str, options: dict[str, Any]) -> HFScorer:
        if not argument:
            raise ScorerError("the hf scorer needs a model: --scorer hf:<hub-id-or-path>")
        return cls(argument, **options)

    def __init__(
        self,
        model: str,
        max_length: int | None = None,
        truncation: str = "response",
        dtype: str = "auto",
        device: str | None = None,
        batch_tokens: int | None = None,
        chat_format: str = "template",
        head: str | None = None,
        trust_remote_code: bool = False,
        layout: str = "auto",
        padding_side: str = "right",
        attn_implementation: str | None = None,
        revision: str | None = None,
        last_layer: str = "auto",
        cpu_linear: str = "auto",
    ) -> None:
        require_extras()
        import torch
        from transformers import AutoConfig, AutoTokenizer

        if layout not in ("auto", *LAYOUTS):
            raise ScorerError(f"layout must be auto, packed or padded, got {layout!r}")
        if last_layer not in LAST_LAYER_MODES:
            raise ScorerError(f"last_layer must be auto or full, got {last_layer!r}")
        if cpu_linear not in CPU_LINEAR_MODES:
            raise ScorerError(f"cpu_linear must be one of {', '.join(CPU_LINEAR_MODES)}, got {cpu_linear!r}")
        if padding_side not in PADDING_SIDES:
            raise ScorerError(f"padding_side must be left or right, got {padding_side!r}")
        if batch_tokens is not None and batch_tokens < 1:
            raise ScorerError("--batch-tokens must be >= 1")
        self.torch = torch
        self.shard = Shard.from_env()
        self.device = resolve_device(device, self.shard)
        self.trust_remote_code = bool(trust_remote_code)
        folder, self.revision, self.model_name = resolve_model(model, revision, self.trust_remote_code)
        config = self._hf_call(AutoConfig.from_pretrained, str(folder))
        self.files = ModelFiles(folder, config, self.model_name)
        self.tokenizer = self._hf_call(AutoTokenizer.from_pretrained, str(folder))
        self.adapter: RewardHead = resolve_head(head) if head else detect_head(self.files)
        self.dtype = resolve_dtype(dtype, self.device, config)
        load_kwargs: dict[str, Any] = {"dtype": getattr(torch, self.dtype), "trust_remote_code": self.trust_remote_code}
        if attn_implementation:
            load_kwargs["attn_implementation"] = attn_implementation
        if self.device.startswith("cuda"):
            load_kwargs["device_map"] = self.device  # straight onto the card, not through host memory
        self._hf_call(self.adapter.load, self.files, self.tokenizer, load_kwargs, self.device)
        self.adapter.backbone.to(self.device).eval()
        self.attn_implementation = str(getattr(self.adapter.backbone.config, "_attn_implementation", "unknown"))

        self.max_length = int(max_length or self._default_max_length(config))
        self.renderer = ChatRenderer(
            self.tokenizer, chat_format, self.max_length, truncation,
            reserve=self.adapter.reserve, want_prompt_end=self.adapter.needs_anchor, model_name=self.model_name,
        )
        pad = self.tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else (self.tokenizer.eos_token_id or 0))
        self.padding_side = padding_side
        self.batch_tokens = int(batch_tokens or DEFAULT_BATCH_TOKENS.get(torch.device(self.device).type, 16384))
        self.layout = layout
        self.packing: str | None = None
        self.causal_padding = False
        self.readout: Any = None  # a ReadoutLayer once verified
        self.linear_kernel = "torch"
        self.runner = self.make_runner(None)
        self._flops_per_token = 2 * self._matmul_parameters()  # before the linear layers may be packed
        self._attention_width = self._attention_flops_width()
        self.layout_checks = configure(self, layout, last_layer, cpu_linear)
        self._feeder: Any = None
        self._preparer: Any = None
        self._prefetched: tuple[list[ScoreRequest], Any] | None = None
        self._counters: dict[str, Any] = {
            "sequences": 0, "tokens": 0, "computed_tokens": 0, "slots": 0, "forward_passes": 0,
            "forward_seconds": 0.0,
            "truncated": 0, "dropped": 0, "dropped_by_reason": {}, "model_flops": 0.0, "plans": {},
        }

    # -- loading helpers ---------------------------------------------------------------

    def _hf_call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        """Call into transformers; turn its loading errors into one clear `ScorerError`."""
        if function.__name__ == "from_pretrained":
            kwargs.setdefault("trust_remote_code", self.trust_remote_code)
        try:
            with quiet_transformers():
                return function(*args, **kwargs)
        except ScorerError:
            raise
        except (OSError, ValueError, KeyError) as err:
            text = str(err)
            if "trust_remote_code" in text or "custom code" in text:
                raise ScorerError(
                    f"{self.model_name} needs the code in its repository; rerun with --trust-remote-code only if you "
                    "trust it, or read it with a head adapter (--head)"
                ) from err
            raise ScorerError(f"cannot load {self.model_name}: {text.splitlines()[0] if text else type(err).__name__}") from err

    def _default_max_length(self, config: Any) -> int:
        limits = [getattr(text_config(config), "max_position_embeddings", None), getattr(self.tokenizer, "model_max_length", None)]
        usable = [int(v) for v in limits if isinstance(v, int) and 0 < v < 1_000_000]
        return min(usable) if usable else 4096

    def _matmul_parameters(self) -> int:
        embeddings = self.adapter.backbone.get_input_embeddings()
        skip = {id(p) for p in embeddings.parameters()} if embeddings is not None else set()
        return sum(p.numel() for p in self.adapter.backbone.parameters() if id(p) not in skip)

    def _attention_flops_width(self) -> int:
        text = text_config(self.adapter.backbone.config)
        heads = int(getattr(text, "num_attention_heads", 0) or 0)
        head_dim = int(getattr(text, "head_dim", 0) or (text.hidden_size // heads if heads else 0))
        return int(getattr(text, "num_hidden_layers", 0) or 0) * heads * head_dim

    def make_runner(self, readout: Any) -> Any:
        from themis_rm.scoring.forward import BatchRunner

        return BatchRunner(self.adapter.backbone, self.attn_implementation, self.dtype, readout)

    # -- scoring --------------------------------------------------------------------------

    def cost(self, request: ScoreRequest) -> int:
        """Sort key for the engine: by prompt first, so that requests that share a prompt reach the
        same chunk and share its computation; within a chunk batches are sorted by token length."""
        messages = request.messages()
        prompt = sum(len(m["content"]) for m in messages[:-1])
        return prompt * 1_000_000 + min(len(messages[-1]["content"]), 999_999)

    def fingerprint(self) -> dict[str, Any]:
        return {
            "scorer": self.name, "model": self.model_name, "revision": self.revision, "dtype": self.dtype,
            "max_length": self.max_length, "truncation": self.renderer.truncation,
            "chat_format": self.renderer.chat_format, "head": self.adapter.describe(),
            "template": self.renderer.template_hash,
        }

    def prefetch(self, requests: Sequence[ScoreRequest]) -> None:
        """Render, tokenise and plan the engine's next chunk in a worker thread (tokenizers release
        the GIL), while this chunk's batches run on the device."""
        if self._preparer is None:
            from concurrent.futures import ThreadPoolExecutor

            self._preparer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="themis-prepare")
        self._prefetched = (list(requests), self._preparer.submit(self._prepare, list(requests)))

    def _prepare(self, requests: list[ScoreRequest]) -> tuple[list[Encoded], Plan | None]:
        encoded = self.renderer.encode(requests)
        sequences = [self.adapter.finalize(e.ids) if e.ids else [] for e in encoded]
        live = [i for i, s in enumerate(sequences) if s]
        if not live:
            return encoded, None
        return encoded, plan_chunk(
            members=live,
            sequences=[sequences[i] for i in live],
            reads=[self.adapter.read_position(sequences[i]) for i in live],
            anchors=[encoded[i].prompt_end for i in live] if self.adapter.needs_anchor else None,
            keys=[json.dumps(requests[i].messages()[:-1], sort_keys=True) for i in live],
            budget=self.batch_tokens,
            caps=self._capabilities(),
            allowed=("padded", "packed") if self.layout == "auto" else (self.layout,),
        )

    def score(self, requests: Sequence[ScoreRequest]) -> list[Scored]:
        torch = self.torch
        requests = list(requests)
        prefetched, self._prefetched = self._prefetched, None
        if prefetched is not None and prefetched[0] == requests:
            encoded, plan = prefetched[1].result()
        else:
            encoded, plan = self._prepare(requests)
        values = [math.nan] * len(requests)
        if plan is not None:
            used = self._counters["plans"]
            used[plan.name] = used.get(plan.name, 0) + 1
            if self._feeder is None:
                from themis_rm.scoring.transfer import DeviceFeeder

                self._feeder = DeviceFeeder(self.device)
            outputs: list[tuple[Any, Any]] = []
            started = time.perf_counter()
            submitted = 0
            with torch.inference_mode():
                for batch in self._feeder.feed(plan.batches, plan.prepare):
                    outputs.append((batch.host.members, self._forward(batch)))
                    submitted += len(batch.host.members)
                    if self.progress is not None:  # on an accelerator: passes queued, ahead of the sync below
                        self.progress(submitted)
                members = [int(m) for host_members, _ in outputs for m in host_members]
                scores = torch.cat([s for _, s in outputs]).float().cpu().tolist()  # one sync per chunk
            self._counters["forward_seconds"] += time.perf_counter() - started
            for member, value in zip(members, scores):
                values[member] = value
        return [self._scored(value, e) for value, e in zip(values, encoded)]

    def _capabilities(self) -> Capabilities:
        overhead = PASS_OVERHEAD_TOKENS.get(self.torch.device(self.device).type, 256) * self._flops_per_token
        return Capabilities(self.packing, self.causal_padding, self.padding_side, self.pad_id,
                            float(self._flops_per_token), self._attention_width, float(overhead))

    def _scored(self, value: float, encoded: Encoded) -> Scored:
        if encoded.dropped:
            self._counters["dropped"] += 1
            reasons = self._counters["dropped_by_reason"]
            reasons[encoded.dropped] = reasons.get(encoded.dropped, 0) + 1
            return Scored(math.nan, {"flags": {"dropped": True}, "dropped": encoded.dropped,
                                     "tokens": encoded.original_length})
        if encoded.truncated:
            self._counters["truncated"] += 1
            return Scored(value, {"flags": {"truncated": True}, "tokens": encoded.original_length})
        return Scored(value)

    def _forward(self, batch: Any) -> Any:
        read, anchor = self.runner.hidden(batch)
        for ran in self.runner.ran:
            self._count_pass(ran)
        return self.adapter.score(read, anchor)

    def _count_pass(self, host: HostBatch) -> None:
        """Count a forward pass; FLOPs as run: with the last layer at the read slots only, the
        other slots skip all of it but the key and value projections, and its attention."""
        counters = self._counters
        counters["sequences"] += len(host.members)
        counters["tokens"] += host.tokens
        counters["computed_tokens"] += host.computed
        counters["slots"] += host.slots
        counters["forward_passes"] += 1
        flops = self._flops_per_token * host.computed + 2 * self._attention_width * host.attention_area
        if self.readout is not None:
            layers = len(self.adapter.backbone.layers)
            skipped = host.computed - len(host.read_index) - (len(host.anchor_index) if host.anchor_index is not None
                                                              else 0)
            flops -= 2 * self.readout.skipped_parameters * skipped
            flops -= 2 * self._attention_width / layers * host.attention_area
        counters["model_flops"] += flops

    def flops(self, lengths: Sequence[int]) -> float:
        """Model FLOPs to score sequences of these lengths alone: 2 per matmul weight per token,
        plus causal attention (QKᵀ and AV over the lower triangle: 2·L²·width per sequence)."""
        return float(sum(self._flops_per_token * n + 2 * self._attention_width * n * n for n in lengths))

    def stats(self) -> dict[str, Any]:
        counters = self._counters
        peak, peak_kind = peak_memory(self.device)
        slots = counters["slots"]
        return {
            "model": self.model_name, "revision": self.revision, "head": self.adapter.describe(),
            "device": self.device, "dtype": self.dtype, "head_dtype": "float32", "max_length": self.max_length,
            "truncation": self.renderer.truncation, "chat_format": self.renderer.chat_format,
            "template_hash": self.renderer.template_hash, "attn_implementation": self.attn_implementation,
            "layout": self.layout, "layout_checks": self.layout_checks, "plans": dict(counters["plans"]),
            "padding_side": self.padding_side,
            "batch_tokens": self.batch_tokens, "world_size": self.shard.world, "rank": self.shard.rank,
            "packing": self.packing, "last_layer": "read slots" if self.readout is not None else "full",
            "linear_kernel": self.linear_kernel,
            "sequences": counters["sequences"], "tokens": counters["tokens"],
            "computed_tokens": counters["computed_tokens"],
            "shared_prefix_tokens": counters["tokens"] - counters["computed_tokens"], "padded_tokens": slots,
            "padding_efficiency": round(counters["computed_tokens"] / slots, 4) if slots else None,
            "forward_passes": counters["forward_passes"], "forward_seconds": round(counters["forward_seconds"], 3),
            "truncated": counters["truncated"], "dropped": counters["dropped"],
            "dropped_by_reason": dict(counters["dropped_by_reason"]),
            "model_flops": counters["model_flops"], "peak_memory_bytes": peak, "peak_memory_kind": peak_kind,
            **self.adapter.extra_stats(),
        }

    def close(self) -> None:
        if self._preparer is not None:
            self._preparer.shutdown(wait=True)
        self.adapter.backbone = None
        self.adapter.head = None
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()


__all__ = ["HFScorer"]
