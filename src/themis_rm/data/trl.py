"""Conversion to TRL's preference format, so mined or benchmark pairs train with any TRL trainer.

TRL's conversational shape: `prompt` is a list of messages, `chosen` and `rejected` are lists
holding the assistant turn. Reading that shape back needs nothing here: the validator
already takes the last assistant turn of a message-list response.
"""

from __future__ import annotations

from typing import Any

from themis_rm.schema import PreferencePair, with_system


def to_trl_row(pair: PreferencePair, system: str | None = None, conversational: bool = True) -> dict[str, Any]:
    """One TRL row plus Themis's `aspect`, `language` and `system` columns (extras are kept)."""
    if conversational:
        prompt: Any = with_system(pair.prompt, system)
        chosen: Any = [{"role": "assistant", "content": pair.chosen}]
        rejected: Any = [{"role": "assistant", "content": pair.rejected}]
    else:
        if not isinstance(pair.prompt, str):
            raise ValueError(f"pair {pair.id}: a chat prompt needs the conversational format")
        prompt, chosen, rejected = pair.prompt, pair.chosen, pair.rejected
    return {
        **pair.extra,
        "id": pair.id,
        "prompt": prompt,
        "chosen": chosen,
        "rejected": rejected,
        "aspect": pair.aspect.value,
        "language": pair.language.value,
        "subset": pair.subset,
        "system": system,
    }
