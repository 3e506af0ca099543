"""Which share of the work this process does when started by `accelerate launch` (or torchrun).

Data-parallel scoring needs no collective operations: every rank scores a strided share of the
unique requests (the list is length-sorted, so shares are balanced) and writes its scores to
the run's one cache file; the main rank then reads the other ranks' scores back from that
file, and their counters from the launcher's key-value store. A crashed rank is the launcher's
to report: it ends the whole group.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Shard:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Shard:
        """Read `RANK`, `WORLD_SIZE` and `LOCAL_RANK`, as `accelerate launch` and torchrun set them."""
        env = os.environ if env is None else env
        world = int(env.get("WORLD_SIZE", "1") or 1)
        rank = int(env.get("RANK", "0") or 0)
        local = int(env.get("LOCAL_RANK", str(rank)) or 0)
        if world < 1 or not 0 <= rank < world:
            raise ValueError(f"inconsistent RANK={rank} / WORLD_SIZE={world} in the environment")
        return cls(rank, world, local)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def take(self, items: Sequence[T]) -> list[T]:
        """This rank's strided share of `items`."""
        return list(items[self.rank :: self.world])


_stats_store: Any = None  # one rendezvous per process; each call uses its own key prefix
_stats_calls = itertools.count()


def gather_stats(shard: Shard, stats: dict[str, Any], timeout_s: float = 600.0) -> list[dict[str, Any]]:
    """Every rank's counters, in rank order, for the main rank's manifest (other ranks get their own).

    The counters travel through the launcher's key-value store (MASTER_ADDR / MASTER_PORT, or the
    agent's store under torchrun): a few small JSON values need no process group, and so no
    connections between the ranks beyond the one each already has to the store. Without a
    launcher's rendezvous only this rank's counters are known, and that is what is returned.
    """
    if not shard.active:
        return [stats]
    try:
        import torch.distributed as dist
    except ImportError:
        return [stats]
    if not dist.is_available():
        return [stats]
    if dist.is_initialized():  # the caller already has a group: use it
        gathered: list[Any] = [None] * shard.world
        dist.all_gather_object(gathered, stats)
        return gathered
    if "MASTER_ADDR" not in os.environ:
        return [stats]
    global _stats_store
    if _stats_store is None:
        _stats_store, _, _ = next(dist.rendezvous("env://", rank=shard.rank, world_size=shard.world,
                                                  timeout=timedelta(seconds=timeout_s)))
    # every rank runs the same evaluations in the same order, so the call numbers agree
    store = dist.PrefixStore(f"themis-eval-stats/{next(_stats_calls)}/", _stats_store)
    store.set(str(shard.rank), json.dumps(stats, default=str))
    if not shard.is_main:  # only the main rank writes the manifest
        return [stats]
    return [json.loads(store.get(str(rank))) for rank in range(shard.world)]


__all__ = ["Shard", "gather_stats"]
