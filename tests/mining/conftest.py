from __future__ import annotations

import pytest

from tests.mining.histories import build_alpha, build_beta
from themis_rm.mining import MineConfig

# Ruby is left out so that the Ruby commit in alpha is dropped as `language_filtered`.
LANGUAGES = ["C", "Cpp", "CSharp", "Go", "Java", "JavaScript", "Python"]


@pytest.fixture(scope="session")
def histories(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("histories")
    return {"root": root, "alpha": build_alpha(root), "beta": build_beta(root)}


@pytest.fixture
def make_config(histories, tmp_path):
    """The settings the crafted histories were written for; keyword arguments override them."""

    def make(**overrides) -> MineConfig:
        settings = dict(repos=[str(histories["root"])], out=str(tmp_path / "out"), languages=LANGUAGES,
                        max_file_bytes=20_000, max_diff_lines=60, max_side_chars=1500, until="2030-01-01",
                        exclude_authors=["bot"], progress=False)
        settings.update(overrides)
        return MineConfig(**settings)

    return make

