"""Where shards run: in this process, in a local process pool, or on a Ray cluster.

All three call the same `extract_shard` on the same `ShardTask`s and hand results back as
they finish; the pipeline orders them afterwards, so the output does not depend on the
engine or on the number of workers (a test holds all three to that).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from themis_rm.mining.commits import ShardResult, ShardTask, extract_shard


def run_shards(tasks: Sequence[ShardTask], engine: str, workers: int,
               ray_address: str | None = None) -> Iterator[ShardResult]:
    if not tasks:
        return iter(())
    if engine == "ray":
        return _ray(tasks, workers, ray_address)
    if engine != "process":
        raise ValueError(f"unknown engine {engine!r}; use 'process' or 'ray'")
    if workers <= 1 or len(tasks) == 1:
        return (extract_shard(task) for task in tasks)
    return _pool(tasks, workers)


def _pool(tasks: Sequence[ShardTask], workers: int) -> Iterator[ShardResult]:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn, not fork: the parent holds open pygit2 repositories and tree-sitter parsers
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=context) as pool:
        futures = [pool.submit(extract_shard, task) for task in tasks]
        for future in as_completed(futures):
            yield future.result()


def _ray(tasks: Sequence[ShardTask], workers: int, address: str | None) -> Iterator[ShardResult]:
    try:
        import ray
    except ImportError:
        raise ValueError("--engine ray needs Ray: pip install 'themis-rm[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
        else:
            ray.init(num_cpus=max(workers, 1), include_dashboard=False, ignore_reinit_error=True,
                     log_to_driver=False, configure_logging=False)
    try:
        remote: Callable = ray.remote(num_cpus=1)(extract_shard)
        pending = [remote.remote(task) for task in tasks]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started_here:
            ray.shutdown()
