"""The training objective: BT + λ·LM + μ·magnitude, as sums that normalise over a whole optimiser step.

- BT = −log σ(r_c − r_r), averaged over the pairs of the step.
- LM = cross-entropy of the chosen reply's tokens (system and prompt masked), averaged over the
  tokens of the step, so long and short replies weigh per token as in plain SFT.
- magnitude = (r_c + r_r)² (`sum`: centres the rewards) or (|r_c| + |r_r|)² (`abs`: shrinks
  them), averaged over the pairs.

Each micro-batch contributes its *sums* divided by the step's global counts, so that gradient
accumulation and any number of processes give the gradient of one big batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


def bt_terms(r_chosen: torch.Tensor, r_rejected: torch.Tensor) -> torch.Tensor:
    """Per-pair −log σ(r_c − r_r), computed stably."""
    return -F.logsigmoid(r_chosen - r_rejected)


def magnitude_terms(r_chosen: torch.Tensor, r_rejected: torch.Tensor, form: str) -> torch.Tensor:
    if form == "sum":
        return (r_chosen + r_rejected) ** 2
    if form == "abs":
        return (r_chosen.abs() + r_rejected.abs()) ** 2
    raise ValueError(f"unknown magnitude form {form!r}; expected sum or abs")


@dataclass
class StepSums:
    """A step's statistics, summed over its pairs (and LM tokens) on every process."""

    bt: float = 0.0
    lm: float = 0.0
    magnitude: float = 0.0
    correct: float = 0.0
    margin: float = 0.0
    pairs: float = 0.0
    lm_tokens: float = 0.0

    @classmethod
    def from_tensor(cls, values: torch.Tensor) -> StepSums:
        return cls(*[float(v) for v in values.tolist()])

    def means(self, lm_coef: float, magnitude_coef: float) -> dict[str, float]:
        pairs = max(self.pairs, 1.0)
        lm = self.lm / self.lm_tokens if self.lm_tokens else 0.0
        bt, mag = self.bt / pairs, self.magnitude / pairs
        return {"loss": bt + lm_coef * lm + magnitude_coef * mag, "bt": bt, "lm": lm, "magnitude": mag,
                "accuracy": self.correct / pairs, "margin": self.margin / pairs}


def micro_objective(
    r_chosen: torch.Tensor,
    r_rejected: torch.Tensor,
    lm_sum: torch.Tensor | None,
    n_lm_tokens: int,
    *,
    step_pairs: int,
    step_lm_tokens: int,
    lm_coef: float,
    magnitude_coef: float,
    magnitude: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """This micro-batch's share of the step loss, plus its detached sums (`StepSums` order) for logging.

    `step_pairs` and `step_lm_tokens` count the whole optimiser step over all processes; the
    caller multiplies by the number of processes when the backend averages gradients.
    """
    r_chosen, r_rejected = r_chosen.float(), r_rejected.float()
    bt = bt_terms(r_chosen, r_rejected).sum()
    mag = magnitude_terms(r_chosen, r_rejected, magnitude).sum()
    loss = (bt + magnitude_coef * mag) / step_pairs
    lm_value = r_chosen.new_zeros(()) if lm_sum is None else lm_sum.detach().float()
    if lm_sum is not None and lm_coef > 0 and step_lm_tokens > 0:
        loss = loss + lm_coef * lm_sum.float() / step_lm_tokens
    with torch.no_grad():  # stays on the device: one transfer per step, not per micro-batch
        sums = torch.stack([
            bt.detach(), lm_value, mag.detach(), (r_chosen > r_rejected).sum().float(),
            (r_chosen - r_rejected).sum().detach(), r_chosen.new_tensor(float(len(r_chosen))),
            r_chosen.new_tensor(float(n_lm_tokens if lm_sum is not None else 0)),
        ])
    return loss, sums


def preference_loss(
    r_chosen: torch.Tensor,
    r_rejected: torch.Tensor,
    lm_sum: torch.Tensor | None = None,
    n_lm_tokens: int = 0,
    lm_coef: float = 0.0,
    magnitude_coef: float = 0.0,
    magnitude: str = "sum",
) -> tuple[torch.Tensor, dict[str, float]]:
    """The objective of one batch on its own (its own pair and token counts): loss and its parts."""
    loss, sums = micro_objective(
        r_chosen, r_rejected, lm_sum, n_lm_tokens, step_pairs=len(r_chosen), step_lm_tokens=n_lm_tokens,
        lm_coef=lm_coef, magnitude_coef=magnitude_coef, magnitude=magnitude,
    )
    return loss, StepSums.from_tensor(sums).means(lm_coef, magnitude_coef)
