"""Generative judges behind any OpenAI-compatible chat-completions server.

`load_scorer("judge:<model>@<base_url>", {"judge_protocol": "rating"})` gives a pointwise
`JudgeScorer` for `rating` and `yesno`, and a `JudgePairScorer` for `pairwise`. See
docs/judges.md for the protocols, the extraction cascade and the accounting flags.
"""

from themis_rm.scoring.judge.config import JUDGE_OPTIONS, JudgeConfig
from themis_rm.scoring.judge.extract import Extraction, read_score, read_verdict, read_yes_no
from themis_rm.scoring.judge.protocols import (
    JudgeProtocol,
    PointwiseProtocol,
    available_protocols,
    make_protocol,
    register_protocol,
)
from themis_rm.scoring.judge.reparse import is_judge_detail, reparse, reparse_all
from themis_rm.scoring.judge.scorer import JudgePairScorer, JudgeRunner, JudgeScorer, JudgeServerError

__all__ = [
    "JUDGE_OPTIONS",
    "Extraction",
    "JudgeConfig",
    "JudgePairScorer",
    "JudgeProtocol",
    "JudgeRunner",
    "JudgeScorer",
    "JudgeServerError",
    "PointwiseProtocol",
    "available_protocols",
    "is_judge_detail",
    "make_protocol",
    "read_score",
    "read_verdict",
    "read_yes_no",
    "register_protocol",
    "reparse",
    "reparse_all",
]
