"""Learning-rate schedules as pure functions of the step.

The schedule's whole state is (stage config, step), both saved in every checkpoint, so a
resumed run computes exactly the rate the uninterrupted run would have.
"""

from __future__ import annotations

import math

from themis_rm.training.config import StageConfig


def learning_rate(stage: StageConfig, step: int, total: int) -> float:
    """Rate for optimiser step `step` (0-based) of a stage with `total` steps: warm-up, then the schedule."""
    peak, floor = stage.lr, stage.lr * stage.min_lr_ratio
    warmup = min(round(stage.warmup_ratio * total), max(total - 1, 0))
    if step < warmup:
        return peak * (step + 1) / (warmup + 1)
    if stage.schedule == "constant":
        return peak
    if stage.schedule == "cosine":
        span = max(total - warmup, 1)
        progress = min((step - warmup) / span, 1.0)
        return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * progress))
    if stage.schedule == "wsd":  # warm-up, stable, then a linear decay over the last decay_ratio of the steps
        decay = max(round(stage.decay_ratio * total), 1)
        start = max(total - decay, warmup)
        if step < start:
            return peak
        return peak + (floor - peak) * min((step - start + 1) / max(total - start, 1), 1.0)
    raise ValueError(f"unknown schedule {stage.schedule!r}")
