"""Fixtures shared by the scoring tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def reference(tiny_seq_cls):
    """The hf test requests and their per-sample reference scores (see `hf_support`)."""
    from tests.scoring.hf_support import reference_scores, requests_for_tests

    requests = requests_for_tests()
    return requests, reference_scores(tiny_seq_cls, requests)
