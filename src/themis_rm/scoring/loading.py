"""Finding and reading checkpoints: local folders and hub snapshots through one path.

A hub id is fetched as a snapshot folder first (its name is the commit, which joins the
fingerprint), so everything after this module sees a local folder. Only tensors are read
(safetensors, or `.bin` with `weights_only=True`); no repository code runs here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import resource
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from themis_rm.scoring.base import ScorerError
from themis_rm.scoring.distributed import Shard

DTYPES = ("auto", "bfloat16", "float16", "float32")
HUB_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.tiktoken", "*.txt", "*.jinja", "tokenizer*"]
EXTRAS_HINT = "pip install 'themis-rm[hf]'"


def require_extras() -> None:
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as err:
        raise ScorerError(f"the hf scorer needs torch and transformers ({err.name} is missing): {EXTRAS_HINT}") from err


def resolve_model(spec: str, revision: str | None, trust_remote_code: bool) -> tuple[Path, str, str]:
    """(folder, revision, display name): a local folder as is, a hub id as a downloaded snapshot."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path.resolve(), _local_digest(path), str(path)
    if path.exists() or spec.startswith((".", "/", "~")):
        raise ScorerError(f"no model folder at {spec!r}")
    repo, _, at = spec.partition("@")
    revision = revision or at or None
    try:
        from huggingface_hub import snapshot_download

        patterns = HUB_PATTERNS + (["*.py"] if trust_remote_code else [])
        folder = Path(snapshot_download(repo, revision=revision, allow_patterns=patterns))
        if not any(folder.glob("*.safetensors")):
            folder = Path(snapshot_download(repo, revision=revision, allow_patterns=[*patterns, "*.bin"]))
    except ImportError as err:
        raise ScorerError(f"fetching {repo!r} from the hub needs huggingface_hub: {EXTRAS_HINT}") from err
    except Exception as err:  # offline, unknown repo, gated repo: all end the run with the reason
        raise ScorerError(f"cannot get model {repo!r} (not a local folder either): {err}") from err
    return folder, folder.name, repo  # snapshot folders are named by commit


def _local_digest(folder: Path) -> str:
    """Identifies a local checkpoint cheaply: its config plus each weight file's name, size and mtime."""
    digest = hashlib.sha256()
    config = folder / "config.json"
    if config.is_file():
        digest.update(config.read_bytes())
    for weights in sorted([*folder.glob("*.safetensors"), *folder.glob("*.bin")]):
        stat = weights.stat()
        digest.update(f"{weights.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return "local-" + digest.hexdigest()[:16]


def resolve_device(device: str | None, shard: Shard) -> str:
    import torch

    if device and device != "auto":
        return device
    if torch.cuda.is_available():
        return f"cuda:{shard.local_rank}" if shard.active else "cuda"
    return "cpu"


def resolve_dtype(dtype: str, device: str, config: Any) -> str:
    import torch

    if dtype not in DTYPES:
        raise ScorerError(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    if dtype != "auto":
        return dtype
    if not device.startswith("cuda"):
        return "float32"
    stored = str(getattr(config, "dtype", None) or getattr(config, "torch_dtype", None) or "").replace("torch.", "")
    if stored in ("bfloat16", "float16"):
        return stored
    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


def text_config(config: Any) -> Any:
    """The language model's part of a config (multimodal configs nest it; text configs are it)."""
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def peak_memory(device: str) -> tuple[int, str]:
    import torch

    if device.startswith("cuda"):
        return int(torch.cuda.max_memory_allocated(device)), "cuda_max_memory_allocated"
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024), "process_max_rss"


@dataclass
class ModelFiles:
    """A model folder on disk (a local path or a hub snapshot) and what its files say."""

    directory: Path
    config: Any
    name: str
    _index: dict[str, Path] | None = field(default=None, repr=False)

    def weight_index(self) -> dict[str, Path]:
        """Tensor name → the file that holds it (safetensors headers are read, not the tensors)."""
        if self._index is None:
            self._index = _weight_index(self.directory)
        return self._index

    def weight_names(self) -> set[str]:
        return set(self.weight_index())

    def tensors(self, names: list[str]) -> dict[str, Any]:
        """Load only the named tensors, on CPU, as stored."""
        index = self.weight_index()
        missing = [n for n in names if n not in index]
        if missing:
            raise ScorerError(f"{self.name} has no tensor(s) {', '.join(missing[:5])}")
        by_file: dict[Path, list[str]] = {}
        for name in names:
            by_file.setdefault(index[name], []).append(name)
        out: dict[str, Any] = {}
        for path, wanted in by_file.items():
            out.update(_read_tensors(path, wanted))
        return out

    @property
    def architectures(self) -> list[str]:
        return list(getattr(self.config, "architectures", None) or [])


def _weight_index(directory: Path) -> dict[str, Path]:
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index_path = directory / index_name
        if index_path.is_file():
            weight_map = json.loads(index_path.read_text())["weight_map"]
            return {name: directory / file for name, file in weight_map.items()}
    files = sorted(directory.glob("*.safetensors")) or sorted(directory.glob("*.bin"))
    index: dict[str, Path] = {}
    for path in files:
        if path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                index.update(dict.fromkeys(handle.keys(), path))
        elif path.name.startswith(("pytorch_model", "model", "value_head", "v_head")):
            index.update(dict.fromkeys(_read_tensors(path, None), path))
    return index


def _read_tensors(path: Path, names: list[str] | None) -> dict[str, Any]:
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            return {n: handle.get_tensor(n) for n in (names if names is not None else handle.keys())}
    import torch

    state = torch.load(str(path), map_location="cpu", weights_only=True)  # no pickled code runs
    return {n: state[n] for n in (names if names is not None else state)}


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Loading reports and progress bars are noise next to our own progress bar."""
    from transformers.utils import logging

    level = logging.get_verbosity()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        logging.enable_progress_bar()




__all__ = [
    "DTYPES",
    "EXTRAS_HINT",
    "ModelFiles",
    "peak_memory",
    "quiet_transformers",
    "require_extras",
    "resolve_device",
    "resolve_dtype",
    "resolve_model",
    "text_config",
]
