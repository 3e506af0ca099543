"""Readers: every supported source becomes a stream of (location, raw row) for the validator.

A source is one of: `builtin`; a `.jsonl` / `.json` / `.parquet` file; a directory of such
files (read in name order); a directory written by `datasets.Dataset.save_to_disk`; or a
hub id (`owner/name`, optionally `owner/name:split`; prefix `hub:` when a local folder has the same
name) loaded through `datasets.load_dataset`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from themis_rm.data.validate import Location, Problem

RowStream = Iterator[tuple[Location, Any]]
TABLE_SUFFIXES = (".jsonl", ".json", ".parquet")


class SourceError(ValueError):
    """The source as a whole cannot be read (missing file, unknown format, empty input)."""


def read_jsonl(path: Path) -> RowStream:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            location = Location(str(path), line=number)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                yield location, Problem(location, "undecodable", f"undecodable bytes at byte {err.start}: not UTF-8")
                continue
            if not text.strip():
                continue
            try:
                yield location, json.loads(text)
            except json.JSONDecodeError as err:
                yield location, Problem(location, "invalid_json", f"invalid JSON: {err.msg} (column {err.colno})")


def read_json_array(path: Path) -> RowStream:
    try:
        rows = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise SourceError(f"{path}: undecodable bytes at byte {err.start}: not UTF-8") from None
    except json.JSONDecodeError as err:
        raise SourceError(f"{path}:{err.lineno}: invalid JSON: {err.msg}") from None
    if not isinstance(rows, list):
        raise SourceError(f"{path}: a .json file must hold a list of rows (use .jsonl for one row per line)")
    for index, row in enumerate(rows):
        yield Location(str(path), row=index), row


def read_parquet(path: Path) -> RowStream:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for corrupt files
        raise SourceError(f"{path}: cannot read Parquet: {err}") from None
    index = 0
    for batch in table.to_batches(max_chunksize=1024):
        for row in batch.to_pylist():
            yield Location(str(path), row=index), row
            index += 1


def read_hf_dataset(dataset: Any, name: str) -> RowStream:
    for index, row in enumerate(dataset):
        yield Location(name, row=index), row


def _is_saved_dataset(path: Path) -> bool:
    return any((path / marker).exists() for marker in ("dataset_info.json", "state.json", "dataset_dict.json"))


def _datasets():
    try:
        import datasets
    except ImportError:
        raise SourceError("reading saved or hub datasets needs the `datasets` package: pip install 'themis-rm[hf]'") from None
    return datasets


def _single_split(loaded: Any, name: str, split: str | None) -> Any:
    if not hasattr(loaded, "keys"):
        return loaded
    splits = list(loaded.keys())
    if split is None and len(splits) == 1:
        split = splits[0]
    if split not in splits:
        raise SourceError(f"{name}: choose a split with '{name}:SPLIT'; available: {', '.join(splits)}")
    return loaded[split]


def iter_source(source: str) -> RowStream:
    """Rows of a source; a row without `subset` takes the stem of its `Location.source`."""
    path = Path(source)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            return read_jsonl(path)
        if suffix == ".json":
            return read_json_array(path)
        if suffix == ".parquet":
            return read_parquet(path)
        raise SourceError(f"{path}: unknown file type {suffix!r}; expected one of {', '.join(TABLE_SUFFIXES)}")
    if path.is_dir():
        if _is_saved_dataset(path):
            loaded = _datasets().load_from_disk(str(path))
            return read_hf_dataset(_single_split(loaded, str(path), None), str(path))
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in TABLE_SUFFIXES and p.is_file())
        if not files:
            raise SourceError(f"{path}: no .jsonl, .json or .parquet files in this directory")
        return _chain(files)
    forced = source.startswith("hub:")
    if forced or (source.count("/") == 1 and not source.startswith((".", "/"))):
        name, _, split = source.removeprefix("hub:").partition(":")
        datasets = _datasets()
        try:
            loaded = datasets.load_dataset(name)
        except Exception as err:  # network, auth and format errors all end the same way for the user
            raise SourceError(f"{name}: cannot load from the hub: {err}") from None
        return read_hf_dataset(_single_split(loaded, name, split or None), name)
    raise SourceError(f"{source}: no such file or directory (and not a hub id owner/name)")


def _chain(files: list[Path]) -> RowStream:
    for file in files:
        yield from iter_source(str(file))
