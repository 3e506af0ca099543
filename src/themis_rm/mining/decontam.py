"""n-gram decontamination: drop mined pairs that share a word n-gram with a benchmark.

Words are runs of letters, digits and underscores, lower-cased; punctuation is ignored, so
`a[i] = b;` and `a[i]=b ;` meet. With the default n = 13 a shared n-gram is a shared passage,
not a common idiom. Benchmark files may be JSON lines or Parquet (every string in a row is
read, chat messages included) or any other text file (read whole).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

_WORD = re.compile(r"\w+")


def ngrams(text: str, n: int) -> Iterator[int]:
    words = _WORD.findall(text.lower())
    for i in range(len(words) - n + 1):
        yield hash(" ".join(words[i:i + n]))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def benchmark_texts(path: Path) -> Iterator[str]:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json"):
        with path.open(encoding="utf-8", errors="replace") as handle:
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    yield from _strings(json.loads(line))
                except json.JSONDecodeError:
                    if suffix == ".json" and number == 1:  # one JSON document, not JSON lines
                        yield from _strings(json.loads(path.read_text(encoding="utf-8", errors="replace")))
                        return
                    raise ValueError(f"{path}:{number}: not valid JSON") from None
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        for row in pq.read_table(path).to_pylist():
            yield from _strings(row)
    else:
        yield path.read_text(encoding="utf-8", errors="replace")


class Contamination:
    """The n-grams of a set of benchmark files, and the question "does this text share one?"."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.grams: set[int] = set()
        self.files: dict[str, int] = {}

    @classmethod
    def from_files(cls, paths: Iterable[str | Path], n: int) -> Contamination:
        index = cls(n)
        for path in map(Path, paths):
            if not path.is_file():
                raise ValueError(f"{path}: decontamination file not found")
            before = len(index.grams)
            for text in benchmark_texts(path):
                index.grams.update(ngrams(text, n))
            index.files[str(path)] = len(index.grams) - before
        return index

    def hits(self, *texts: str) -> bool:
        return any(gram in self.grams for text in texts for gram in ngrams(text, self.n))
