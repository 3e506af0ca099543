"""Rank counters reach the main rank's manifest, for every evaluation a launched process runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("torch")

TWO_RUNS = textwrap.dedent("""
    import sys
    from themis_rm.evaluation.run import EvalConfig, evaluate

    for name in ("first", "second"):
        evaluate(EvalConfig(data="builtin", scorer="length", out=f"{sys.argv[1]}/{name}", progress=False, resamples=10))
""")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ranks_of(run_dir) -> list[dict]:
    manifest = json.loads((run_dir / "results.json").read_text())["manifest"]
    return manifest["data_parallel"]["ranks"]


@pytest.mark.parametrize("launcher", ["torchrun", "plain-env"])
def test_two_evaluations_in_one_launched_process_each_gather_their_own_counters(tmp_path, launcher):
    script = tmp_path / "two_runs.py"
    script.write_text(TWO_RUNS)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    if launcher == "torchrun":
        done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                               str(script), str(tmp_path)], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    else:  # MASTER_ADDR / MASTER_PORT only, as a launcher without an agent store sets them; rank 0 hosts the store
        port = str(_free_port())
        ranks = [subprocess.Popen([sys.executable, str(script), str(tmp_path)], stderr=subprocess.PIPE, text=True,
                                  env=dict(env, RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE="2",
                                           MASTER_ADDR="127.0.0.1", MASTER_PORT=port))
                 for r in range(2)]
        try:
            for process in ranks:
                _, stderr = process.communicate(timeout=300)
                assert process.returncode == 0, stderr[-3000:]
        finally:
            for process in ranks:
                process.kill()
    for name in ("first", "second"):
        ranks = _ranks_of(tmp_path / name)
        assert len(ranks) == 2
        scored = [r["engine"]["requests_scored"] for r in ranks]
        assert all(n > 0 for n in scored) and sum(scored) == 336  # the builtin benchmark's unique responses
