"""Exact and near-duplicate removal of mined pairs (MinHash LSH, datasketch).

Exact duplicates are pairs whose two sides are identical. Near duplicates are pairs that make
the same *change*: the text compared is the change itself (removed and added lines, marked,
under the name of the symbol), not the whole window. Comparing whole windows would call two
different fixes to the same long function duplicates (they share nearly every line), which
is what a history of one file is full of; comparing changes finds what dedup is for: the
same commit cherry-picked, back-ported, or copied into a fork or a vendored tree.
Shingles are runs of `shingle_size` code tokens. Signatures are computed where the pair is extracted (in the workers)
and travel as plain integers; the index is built once, in commit-time order, so the earliest
copy of a change is the one kept whichever worker found it first. LSH candidates are confirmed
with the signatures' estimated Jaccard similarity, so the threshold is what decides.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

TOKEN = re.compile(r"\w+|[^\w\s]")  # one token rule for shingles and the size caps
SEED = 1
SCHEME = "affine32"  # pinned: signatures cached by one datasketch version must mean the same in the next


def content_hash(rejected: str, chosen: str) -> str:
    return hashlib.sha256(f"{rejected}\x00{chosen}".encode()).hexdigest()


def change_text(before_lines: Sequence[str], after_lines: Sequence[str], hunks: Iterable[Sequence[int]],
                symbol: str | None) -> str:
    """The change as text: the symbol's name, then each removed (-) and added (+) line of each
    hunk, stripped (indentation is not part of what a change does)."""
    lines = [f"@ {symbol or ''}"]
    for old_start, old_count, new_start, new_count in hunks:
        lines.extend("-" + line.strip() for line in before_lines[old_start - 1:old_start - 1 + old_count])
        lines.extend("+" + line.strip() for line in after_lines[new_start - 1:new_start - 1 + new_count])
    return "\n".join(lines)


def shingles(text: str, size: int) -> set[bytes]:
    tokens = TOKEN.findall(text)
    if len(tokens) <= size:
        return {" ".join(tokens).encode()}
    return {" ".join(tokens[i:i + size]).encode() for i in range(len(tokens) - size + 1)}


@cache
def _permutations(num_perm: int) -> object:
    """Drawing the permutations is most of the cost of a new MinHash; they depend only on the seed."""
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=SEED, scheme=SCHEME).permutations


def signature(text: str, shingle_size: int, num_perm: int) -> list[int]:
    from datasketch import MinHash

    minhash = MinHash(num_perm=num_perm, seed=SEED, scheme=SCHEME, permutations=_permutations(num_perm))
    minhash.update_batch(sorted(shingles(text, shingle_size)))
    return minhash.hashvalues.tolist()


@dataclass(frozen=True)
class Item:
    key: str
    content_hash: str
    signature: Sequence[int]


def deduplicate(items: Iterable[Item], threshold: float, num_perm: int) -> dict[str, tuple[str, str]]:
    """Which items to drop: key -> (reason, key of the copy kept). Items come in priority order."""
    import numpy as np
    from datasketch import LeanMinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    seen_exact: dict[str, str] = {}
    kept: dict[str, LeanMinHash] = {}
    dropped: dict[str, tuple[str, str]] = {}
    for item in items:
        if item.content_hash in seen_exact:
            dropped[item.key] = ("exact_duplicate", seen_exact[item.content_hash])
            continue
        seen_exact[item.content_hash] = item.key
        minhash = LeanMinHash(seed=SEED, hashvalues=np.asarray(item.signature, dtype=np.uint32), scheme=SCHEME)
        match = next((other for other in sorted(lsh.query(minhash))
                      if kept[other].jaccard(minhash) >= threshold), None)
        if match is not None:
            dropped[item.key] = ("near_duplicate", match)
            continue
        lsh.insert(item.key, minhash)
        kept[item.key] = minhash
    return dropped
