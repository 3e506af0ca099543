"""Host → device feeding that overlaps with the forward pass.

While the model runs batch i, a worker thread collates batch i+1, pins its memory and starts
a non-blocking copy on a side CUDA stream; the compute stream waits on an event only when it
needs the tensors. On CPU the same pipeline runs without pinning or streams, so the code path
is the same one the tests exercise.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from themis_rm.scoring.batching import HostBatch


@dataclass
class DeviceBatch:
    host: HostBatch
    input_ids: Any
    position_ids: Any
    attention_mask: Any | None
    read_index: Any
    anchor_index: Any | None
    key_spans: Any | None = None
    prompt_rows: Any | None = None
    prompt_lengths: Any | None = None
    prompts: DeviceBatch | None = None  # the prompt pass this batch continues
    ready: Any | None = None  # a CUDA event the compute stream waits on

    def tensors(self) -> list[Any]:
        own = [t for t in (self.input_ids, self.position_ids, self.attention_mask, self.read_index,
                           self.anchor_index, self.key_spans, self.prompt_rows, self.prompt_lengths) if t is not None]
        return own + (self.prompts.tensors() if self.prompts is not None else [])


class DeviceFeeder:
    """Iterates device batches; `prepare` builds a `HostBatch` from a plan entry (in the worker)."""

    def __init__(self, device: Any) -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        self.stream = torch.cuda.Stream(device=self.device) if self.cuda else None

    def _to_device(self, host: HostBatch) -> DeviceBatch:
        torch = self.torch

        def move(array: Any) -> Any:
            if array is None:
                return None
            tensor = torch.from_numpy(array)
            if not self.cuda:
                return tensor if self.device.type == "cpu" else tensor.to(self.device)
            return tensor.pin_memory().to(self.device, non_blocking=True)

        def build(host: HostBatch) -> DeviceBatch:
            return DeviceBatch(host, move(host.input_ids), move(host.position_ids), move(host.attention_mask),
                               move(host.read_index), move(host.anchor_index), move(host.key_spans),
                               move(host.prompt_rows), move(host.prompt_lengths),
                               build(host.prompts) if host.prompts is not None else None)

        if not self.cuda:
            return build(host)
        with torch.cuda.stream(self.stream):
            batch = build(host)
            batch.ready = torch.cuda.Event()
            batch.ready.record(self.stream)
        return batch

    def _wait(self, batch: DeviceBatch) -> DeviceBatch:
        if batch.ready is not None:
            current = self.torch.cuda.current_stream(self.device)
            current.wait_event(batch.ready)
            for tensor in batch.tensors():
                tensor.record_stream(current)  # the caching allocator must not reuse it early
        return batch

    def feed(self, plans: Iterable[Any], prepare: Callable[[Any], HostBatch]) -> Iterator[DeviceBatch]:
        """Device batches in plan order, each one prepared while the previous one is in use."""
        plans = list(plans)
        if not plans:
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="themis-feed") as pool:
            pending = pool.submit(lambda p=plans[0]: self._to_device(prepare(p)))
            for following in [*plans[1:], None]:
                batch = pending.result()
                if following is not None:
                    pending = pool.submit(lambda p=following: self._to_device(prepare(p)))
                yield self._wait(batch)


__all__ = ["DeviceBatch", "DeviceFeeder"]
