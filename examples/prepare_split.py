"""Split the shared benchmark pairs by prompt into train.jsonl and heldout.jsonl (for examples/train-tiny.yaml).

    python examples/prepare_split.py ../shared/data/benchmarks runs/tiny/split --heldout 0.2 --seed 0

No prompt appears on both sides; every subset keeps about `--heldout` of its rows held out.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from themis_rm.data import read_pairs, write_pairs
from themis_rm.data.split import prompt_key, split_by_prompt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="pairs: a file or a directory of .jsonl files")
    parser.add_argument("out", type=Path, help="folder for train.jsonl and heldout.jsonl")
    parser.add_argument("--heldout", type=float, default=0.2, help="fraction of each subset held out")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pairs = read_pairs(args.source).pairs
    train, held = split_by_prompt(pairs, args.heldout, args.seed)
    assert not {prompt_key(p) for p in train} & {prompt_key(p) for p in held}
    write_pairs(train, args.out / "train.jsonl")
    write_pairs(held, args.out / "heldout.jsonl")
    print(f"{len(train)} train / {len(held)} held-out pairs; prompts disjoint")
    for name, rows in (("train", train), ("heldout", held)):
        print(f"  {name}: {dict(sorted(Counter(p.aspect.value for p in rows).items()))}")


if __name__ == "__main__":
    main()
