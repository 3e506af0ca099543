import sys
import textwrap

import pytest

from themis_rm.scoring.base import (
    PointwiseScorer,
    Scored,
    ScorerError,
    available_scorers,
    load_scorer,
    register_scorer,
)
from themis_rm.scoring.baselines import LengthScorer, RandomScorer


def test_builtin_specs():
    assert isinstance(load_scorer("length"), LengthScorer)
    scorer = load_scorer("random", {"seed": 3})
    assert isinstance(scorer, RandomScorer) and scorer.seed == 3
    assert {"length", "random", "hf", "judge", "lite"} <= set(available_scorers())


def test_unknown_name_and_foreign_options_are_clear_errors():
    with pytest.raises(ScorerError, match=r"unknown scorer 'nope'; available: .*length"):
        load_scorer("nope")
    with pytest.raises(ScorerError, match="--dtype does not apply to scorer 'length'"):
        load_scorer("length", {"dtype": "bfloat16"})
    with pytest.raises(ScorerError, match="takes no argument"):
        load_scorer("length:foo")


def test_decorator_registration():
    @register_scorer("test-constant")
    class Constant(PointwiseScorer):
        def score(self, requests):
            return [Scored(1.0) for _ in requests]

    assert isinstance(load_scorer("test-constant"), Constant)


def test_entry_point_plugin(tmp_path, monkeypatch):
    """An out-of-tree package registers a scorer through the `themis_rm.scorers` entry-point group."""
    package = tmp_path / "myplugin"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent("""
        from themis_rm.scoring.base import PointwiseScorer, Scored

        class Vowels(PointwiseScorer):
            def score(self, requests):
                return [Scored(float(sum(c in "aeiou" for c in r.response))) for r in requests]
    """))
    dist = tmp_path / "myplugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myplugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[themis_rm.scorers]\nvowels = myplugin:Vowels\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "vowels" in available_scorers()
    from themis_rm.schema import ScoreRequest

    scorer = load_scorer("vowels")
    assert [s.value for s in scorer.score([ScoreRequest(None, "p", "banana")])] == [3.0]
    sys.modules.pop("myplugin", None)


def test_random_scorer_is_content_seeded():
    from themis_rm.schema import ScoreRequest

    reqs = [ScoreRequest(None, "p", t) for t in "abc"]
    a = [s.value for s in RandomScorer(seed=1).score(reqs)]
    b = [s.value for s in RandomScorer(seed=1).score(list(reversed(reqs)))]
    assert a == list(reversed(b)) and len(set(a)) == 3
    assert a != [s.value for s in RandomScorer(seed=2).score(reqs)]
