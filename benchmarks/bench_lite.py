"""Throughput of the `lite` scorer on one CPU core, against the `length` scorer in the same run.

    python benchmarks/bench_lite.py                     # 2,000 real pairs from ../shared/data/benchmarks
    python benchmarks/bench_lite.py --stratified        # as many pairs from every subset (more long files)
    python benchmarks/bench_lite.py --pairs 5000 --core 1

The process pins itself to one core (`os.sched_setaffinity`), takes a seeded sample of real
pairs (uniform over all pairs, or round-robin over subsets with `--stratified`, which
over-represents the subsets of whole source files), and scores both responses of every
pair with `length` and then `lite` (spec `lite`, prompt mode `aspect`) through the scorer
API in chunks of 256, as the scoring engine would. Each scorer runs `--repeats` times and
the fastest run counts (other processes on the machine only ever slow a run down).

pairs/s is given twice: on the process's CPU time (what one core delivers; the figure the
target is checked on) and on wall time (the same on an idle core, lower on a busy machine,
whose load average is printed next to it). It exits 1 when lite's CPU-time rate is under
`--min-pairs-per-second` (1,000 by default).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

from themis_rm.data import read_pairs
from themis_rm.schema import ScoreRequest
from themis_rm.scoring import load_scorer

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "benchmarks"
CHUNK = 256


def sample_pairs(data: Path, total: int, seed: int, stratified: bool = False) -> list:
    """A seeded sample: uniform over all pairs, or round-robin over subsets (each shuffled)."""
    by_subset = defaultdict(list)
    for file in sorted(data.glob("*.jsonl")):
        for pair in read_pairs(str(file)).pairs:
            by_subset[pair.subset].append(pair)
    rng = random.Random(seed)
    if not stratified:
        everything = [p for pairs in by_subset.values() for p in pairs]
        return rng.sample(everything, min(total, len(everything)))
    for pairs in by_subset.values():
        rng.shuffle(pairs)
    picked, round_ = [], 0
    while len(picked) < total and any(round_ < len(p) for p in by_subset.values()):
        picked.extend(p[round_] for p in by_subset.values() if round_ < len(p))
        round_ += 1
    return picked[:total]


def run(spec: str, requests: list[ScoreRequest], repeats: int) -> tuple[float, float]:
    """(wall, CPU) seconds of the fastest of `repeats` passes over `requests`."""
    scorer = load_scorer(spec)
    scorer.score(requests[:32])  # grammars, queries and weights load outside the timed loop
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(requests), CHUNK):
            scorer.score(requests[start:start + CHUNK])
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--core", type=int, default=0, help="CPU core to pin to")
    parser.add_argument("--stratified", action="store_true", help="round-robin over subsets instead of uniform")
    parser.add_argument("--repeats", type=int, default=3, help="passes per scorer; the fastest counts")
    parser.add_argument("--min-pairs-per-second", type=float, default=1000.0)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.core})
    pairs = sample_pairs(args.data, args.pairs, args.seed, args.stratified)
    if len(pairs) < 1000:
        print(f"only {len(pairs)} pairs in {args.data}; the benchmark wants at least 1,000", file=sys.stderr)
    requests = []
    for p in pairs:
        requests.append(ScoreRequest(None, p.prompt, p.chosen, p.aspect, p.language, "aspect"))
        requests.append(ScoreRequest(None, p.prompt, p.rejected, p.aspect, p.language, "aspect"))
    size = sum(len(r.response) for r in requests)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"{len(pairs)} pairs ({len(requests)} responses, mean {size / len(requests):.0f} chars) from "
          f"{len({p.subset for p in pairs})} subsets, {'stratified' if args.stratified else 'uniform'} sample; "
          f"core {args.core} of {os.cpu_count()}; load average {load[0]:.2f}; Python {platform.python_version()}")
    cpu_time = {}
    for spec in ("length", "lite"):
        wall, cpu = run(spec, requests, max(args.repeats, 1))
        cpu_time[spec] = max(cpu, 1e-9)
        print(f"{spec:7s} {len(pairs) / cpu_time[spec]:10.0f} pairs/s on CPU time ({cpu:.3f} s, "
              f"{1e6 * cpu / len(requests):.1f} µs per response); {len(pairs) / wall:.0f} pairs/s on wall time "
              f"({wall:.3f} s)")
    rate = len(pairs) / cpu_time["lite"]
    print(f"lite runs at {cpu_time['length'] / cpu_time['lite']:.5f}x the speed of length; "
          f"{rate:.0f} pairs/s on one core against a target of {args.min_pairs_per_second:.0f}")
    return 0 if rate >= args.min_pairs_per_second else 1


if __name__ == "__main__":
    sys.exit(main())
