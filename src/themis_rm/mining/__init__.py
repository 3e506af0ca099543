"""Mining preference pairs from git history (`themis mine`).

    from themis_rm.mining import MineConfig, mine
    result = mine(MineConfig(repos=["~/src/requests"], out="mined"))

The API is `MineConfig` (every option, also the CLI flags) and `mine` (the recipe in
`pipeline.py`). pygit2 and datasketch are imported only when mining runs.
"""

from themis_rm.mining.config import MineConfig

__all__ = ["MineConfig", "MineResult", "mine"]


def __getattr__(name: str):  # keeps `import themis_rm.mining` light
    if name in ("mine", "MineResult"):
        from themis_rm.mining import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
