"""`lite`: a CPU multi-criteria code scorer built from static analysis.

tree-sitter features per language (`syntax.py`, `facts.py`), lexical rule tables (`rules.py`),
a feature table (`features.py`), expert priors (`priors.py`), a standardised linear model per
aspect fitted by logistic regression on pairs (`model.py`, `fit.py`), explanations
(`explain.py`) and the registered scorer (`scorer.py`).
"""

from themis_rm.scoring.lite.scorer import LiteScorer

__all__ = ["LiteScorer"]
