"""Scorers (one registry, many backends) and the engine that drives them."""

from themis_rm.scoring.base import (
    PairwiseScorer,
    PointwiseScorer,
    Scored,
    Scorer,
    ScorerError,
    available_scorers,
    load_scorer,
    register_scorer,
)

__all__ = [
    "PairwiseScorer",
    "PointwiseScorer",
    "Scored",
    "Scorer",
    "ScorerError",
    "available_scorers",
    "load_scorer",
    "register_scorer",
]
