"""Load-time checks: which fast paths give this model the hidden states of the plain one.

Each fast path is a claim about how the model computes (that right padding needs no mask, that a
prompt's keys and values can be continued, that the last layer can run at the read slots, that
another matrix kernel gives the same numbers). Rather than trust a list of architectures, the
scorer tries each on short probe sequences and keeps it only when the final hidden states at
the read slots equal those of each sequence run alone through the whole model (relative
difference ≤ 1e-4 in float32, 3e-2 in half precision). What was tried and found goes into the
manifest (`layout_checks`).

| check | probe batch | when it fails |
|---|---|---|
| last layer at the read slots (`readout.py`) | padded rows, masked | the full last layer |
| unmasked right padding | padded rows, no mask | padded rows get a mask |
| packing: `cached`, else `rows` (sliding windows: `rows`; flash attention: `flat`) | that layout | the next kind, else padded only (`--layout packed` is refused) |
| oneDNN linear layers (`cpu_linear.py`, float32 on CPU) | padded rows, against the same model before the swap | PyTorch's layers |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from themis_rm.scoring.base import ScorerError
from themis_rm.scoring.batching import HostBatch, collate_packed, collate_padded
from themis_rm.scoring.loading import text_config
from themis_rm.scoring.prefixes import collate_continued, collate_prompts, share_prefixes

PROBE_TEXTS = ("def probe(values):\n    return sorted(values)\n", "for item in range(3):\n    print(item)\n")


@dataclass(frozen=True)
class Probe:
    """The probe sequences, and their final hidden states with each run alone through the whole
    model: the reference every check compares with (computed once, before anything is swapped)."""

    sequences: list[list[int]]
    reads: list[int]
    alone: Any
    feeder: Any


def make_probe(scorer: Any) -> Probe:
    from themis_rm.scoring.transfer import DeviceFeeder

    sequences, reads = probe_sequences(scorer)
    feeder = DeviceFeeder(scorer.device)
    whole = scorer.make_runner(None)
    with scorer.torch.inference_mode():
        alone = scorer.torch.cat([hidden(feeder, collate_padded([0], [s], [r], None, scorer.pad_id), whole)
                                  for s, r in zip(sequences, reads)])
    return Probe(sequences, reads, alone, feeder)


def configure(scorer: Any, layout: str, last_layer: str, cpu_linear: str) -> str:
    """Turn on what passes on `scorer` (an `HFScorer` being built); returns the manifest sentence."""
    probe = make_probe(scorer)
    notes = []
    if last_layer == "auto":
        notes.append(_readout(scorer, probe))
    scorer.causal_padding, detail = agrees(scorer, "unmasked", probe)
    notes.append(f"unmasked right padding {'ok' if scorer.causal_padding else 'not used'} ({detail})")
    if layout != "padded":
        notes.extend(_packing(scorer, layout, probe))
    notes.append(_linear_kernel(scorer, cpu_linear, probe))
    return "; ".join(notes)


def _packing(scorer: Any, layout: str, probe: Probe) -> list[str]:
    if scorer.attn_implementation.startswith("flash"):
        kinds = ["flat"]
    elif _sliding_window(scorer):
        kinds = ["rows"]  # an explicit mask would override the sliding window
    else:
        kinds = ["cached", "rows"]
    notes = []
    for kind in kinds:
        works, detail = agrees(scorer, kind, probe)
        notes.append(f"{kind} packing {'ok' if works else 'not used'} ({detail})")
        if works:
            scorer.packing = kind
            return notes
    if layout == "packed":
        raise ScorerError(f"packed batches do not work with {scorer.model_name} ({scorer.attn_implementation}): "
                          f"{notes[-1]}")
    return notes


def _readout(scorer: Any, probe: Probe) -> str:
    from themis_rm.scoring import readout

    installed = readout.install(scorer.adapter.backbone)
    if installed is None:
        layers = getattr(scorer.adapter.backbone, "layers", None)
        name = type(layers[-1]).__name__ if layers is not None and len(layers) else "the backbone"
        return f"last layer in full ({name} has no read-slot form)"
    scorer.readout, scorer.runner = installed, scorer.make_runner(installed)
    works, detail = agrees(scorer, "masked", probe)
    if not works:
        readout.uninstall(scorer.adapter.backbone)
        scorer.readout, scorer.runner = None, scorer.make_runner(None)
    return f"last layer at the read slots {'ok' if works else 'not used'} ({detail})"


def _linear_kernel(scorer: Any, mode: str, probe: Probe) -> str:
    if mode == "torch" or scorer.dtype != "float32" or scorer.torch.device(scorer.device).type != "cpu":
        return "linear layers: PyTorch's"
    from themis_rm.scoring import cpu_linear

    if not cpu_linear.available():
        return "linear layers: PyTorch's (no oneDNN linear operator)"
    batch = _collate("masked", scorer, probe.sequences, probe.reads)
    with scorer.torch.inference_mode():
        before = hidden(probe.feeder, batch, scorer.runner)
        count = cpu_linear.pack(scorer.adapter.backbone, mode)
        if not count:
            return "linear layers: PyTorch's (oneDNN not faster here)"
        after = hidden(probe.feeder, batch, scorer.runner)
    error = float((after - before).norm() / before.norm().clamp_min(1e-12))
    if error > 1e-5:
        cpu_linear.unpack(scorer.adapter.backbone)
        return f"linear layers: PyTorch's (oneDNN not used: relative difference {error:.1e})"
    cpu_linear.release(scorer.adapter.backbone)
    scorer.linear_kernel = "onednn"
    return f"linear layers: oneDNN ({count} layers, relative difference {error:.1e})"


def _sliding_window(scorer: Any) -> bool:
    text = text_config(scorer.adapter.backbone.config)
    layer_types = getattr(text, "layer_types", None)
    if layer_types:
        return any("sliding" in str(t) for t in layer_types)
    return bool(getattr(text, "sliding_window", None)) and getattr(text, "use_sliding_window", True) is not False


def probe_sequences(scorer: Any) -> tuple[list[list[int]], list[int]]:
    """Four short sequences, two pairs that share prefixes of different lengths; read at the last token."""
    first, second = (scorer.tokenizer(t, add_special_tokens=False)["input_ids"][:24] for t in PROBE_TEXTS)
    sequences = [first, first[:12] + second[:10], second[:17], second[:9] + first[:6]]
    return sequences, [len(s) - 1 for s in sequences]


def _collate(kind: str, scorer: Any, sequences: list[list[int]], reads: list[int]) -> HostBatch:
    """The probe sequences as one batch of `kind`; for `cached`, sequences 0-1 and 2-3 share prompts."""
    members = list(range(len(sequences)))
    if kind in ("unmasked", "masked"):
        unmasked = kind == "unmasked"
        return collate_padded(members, sequences, reads, None, scorer.pad_id,
                              "right" if unmasked else scorer.padding_side, mask=not unmasked)
    if kind == "cached":
        units = [u for u in share_prefixes(members, sequences, [0, 0, 1, 1], reads, min_shared=4) if u.prefix]
        prompts = collate_prompts(units, scorer.pad_id, mask=not scorer.causal_padding)
        rows = [(number, m, rest) for number, u in enumerate(units) for m, rest in zip(u.members, u.suffixes)]
        return collate_continued(prompts, [len(u.prefix) for u in units], rows, dict(enumerate(reads)), None,
                                 scorer.pad_id)
    return collate_packed(members, sequences, reads, None, scorer.pad_id,
                          sum(len(s) for s in sequences) if kind == "flat" else None)


def agrees(scorer: Any, kind: str, probe: Probe) -> tuple[bool, str]:
    """The probe sequences batched as `kind` and run as `scorer` is configured, against each
    sequence alone through the whole model."""
    torch = scorer.torch
    try:
        with torch.inference_mode():
            batch = _collate(kind, scorer, probe.sequences, probe.reads)
            together = hidden(probe.feeder, batch, scorer.runner)
    except Exception as err:  # an attention implementation that refuses the layout
        return False, f"{type(err).__name__}: {err}"
    together = together[torch.as_tensor(batch.members.argsort(), device=together.device)]
    alone = probe.alone
    error = float((together - alone).norm() / alone.norm().clamp_min(1e-12))
    tolerance = 1e-4 if scorer.dtype == "float32" else 3e-2
    return error <= tolerance, f"relative difference {error:.1e}"


def hidden(feeder: Any, host: HostBatch, runner: Any) -> Any:
    """Final hidden states at the read slots of one host batch, float32."""
    batch = next(iter(feeder.feed([host], lambda h: h)))
    return runner.hidden(batch)[0]


__all__ = ["PROBE_TEXTS", "Probe", "agrees", "configure", "hidden", "make_probe", "probe_sequences"]
