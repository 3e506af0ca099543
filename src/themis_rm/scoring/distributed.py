"""Which share of the work this process does when started by `accelerate launch` (or torchrun).

Data-parallel scoring needs no collective operations: every rank scores a strided share of the
unique requests (the list is length-sorted, so shares are balanced) and writes its scores to
the run's one cache file; the main rank then reads the other ranks' scores back from that
file. A crashed rank is the launcher's to report: it ends the whole group.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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




def gather_stats(shard: Shard, stats: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rank's counters, in rank order (on every rank), for the run manifest.

    Uses torch.distributed (a gloo group from the launcher's MASTER_ADDR / MASTER_PORT, or the
    group the caller already set up). Without a launcher's rendezvous only this rank's counters
    are known, and that is what is returned.
    """
    if not shard.active:
        return [stats]
    try:
        import torch.distributed as dist
    except ImportError:
        return [stats]
    if not dist.is_available() or not (dist.is_initialized() or "MASTER_ADDR" in os.environ):
        return [stats]
    created = not dist.is_initialized()
    if created:
        dist.init_process_group("gloo", rank=shard.rank, world_size=shard.world)
    try:
        gathered: list[Any] = [None] * shard.world
        dist.all_gather_object(gathered, stats)
        return gathered
    finally:
        if created:
            dist.destroy_process_group()


__all__ = ["Shard", "gather_stats"]
