"""The prepared GPU script runs its whole code path on CPU with a tiny shape (so it does not rot unseen)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("accelerate")

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_training.py"


def test_gpu_script_tiny_on_cpu(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--tiny", "--steps", "2", "--batch", "4", "--micro", "2",
         "--max-length", "512", "--runs", "hf-plain,padded,themis"],
        capture_output=True, text=True, timeout=300, env={**_env(), "OUT": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    table = done.stdout.split("card:")[-1]
    for run in ("hf-plain", "padded", "themis"):
        line = next(ln for ln in table.splitlines() if ln.startswith(run))
        assert "FAILED" not in line and float(line.split()[1]) > 0
    assert (tmp_path / "gpu_training.json").is_file()


def _env() -> dict:
    import os

    return {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
