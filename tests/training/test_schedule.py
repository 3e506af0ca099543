"""Learning-rate schedules: warm-up, cosine and warmup-stable-decay."""

from __future__ import annotations

import itertools

import pytest

from themis_rm.training.config import StageConfig
from themis_rm.training.schedule import learning_rate


def _rates(**kw):
    stage = StageConfig(data=["d"], lr=1.0, **kw)
    return [learning_rate(stage, s, 100) for s in range(100)]


def test_cosine_warms_up_then_decays_to_the_floor():
    rates = _rates(warmup_ratio=0.1, min_lr_ratio=0.1)
    assert rates[0] == pytest.approx(1 / 11) and rates[9] == pytest.approx(10 / 11)
    assert rates[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in itertools.pairwise(rates[10:]))
    assert rates[-1] == pytest.approx(0.1, abs=1e-3)


def test_wsd_is_stable_then_decays_linearly():
    rates = _rates(schedule="wsd", warmup_ratio=0.05, decay_ratio=0.2)
    assert rates[5:80] == [1.0] * 75
    assert rates[80] < 1.0 and rates[-1] == pytest.approx(0.0)
    assert rates[90] - rates[91] == pytest.approx(rates[85] - rates[86])


def test_constant_and_no_warmup():
    assert _rates(schedule="constant", warmup_ratio=0.0) == [1.0] * 100
