"""Training multi-criteria Bradley-Terry reward models (`themis train`, `themis export`).

`TrainConfig` / `StageConfig` describe a run; `train(config)` runs it; `export_checkpoint`
turns any checkpoint into a standard `AutoModelForSequenceClassification`. torch,
transformers and accelerate are imported only when a function that needs them is called.
"""

from __future__ import annotations

from typing import Any

from themis_rm.training.config import ScratchConfig, StageConfig, TrainConfig


def train(config: TrainConfig) -> Any:
    from themis_rm.training.loop import train as _train

    return _train(config)


def export_checkpoint(checkpoint: Any, out_dir: Any, check: bool = True) -> Any:
    from themis_rm.training.export import export_checkpoint as _export

    return _export(checkpoint, out_dir, check=check)


__all__ = ["ScratchConfig", "StageConfig", "TrainConfig", "export_checkpoint", "train"]
