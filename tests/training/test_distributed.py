"""The same loop in two CPU processes (gloo) gives the single-process result for the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

from themis_rm.training.checkpoint import load_model_state  # noqa: E402
from themis_rm.training.loop import train  # noqa: E402


def test_two_gloo_processes_match_one(base_config, tmp_path):
    # batch 8 = 2 micro-batches of 4 in one process, or 1 micro-batch of 4 on each of 2 processes
    config = base_config(max_steps=3, output_dir=str(tmp_path / "ddp"), num_threads=1)
    path = tmp_path / "train.yaml"
    path.write_text(config.to_yaml())
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "themis_rm.training", str(path)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("finished: 3 steps") == 1  # only the main process reports
    checkpoint = tmp_path / "ddp" / "checkpoints" / "step-0000003"
    assert {p.name for p in (checkpoint / "state").glob("random_states_*.pkl")} == {
        "random_states_0.pkl", "random_states_1.pkl"}

    single = train(base_config(max_steps=3, output_dir=str(tmp_path / "single"), num_threads=1))
    two, one = load_model_state(checkpoint), load_model_state(single.checkpoint)
    assert one["reward_head.weight"].abs().max() > 0
    for key in one:
        assert torch.allclose(two[key], one[key], atol=2e-5, rtol=1e-4), key


def test_an_fsdp_launch_config_on_cpu_is_reported_as_ddp():
    from types import SimpleNamespace

    from accelerate.utils import DistributedType

    from themis_rm.training.loop import fsdp_fell_back

    cpu = SimpleNamespace(distributed_type=DistributedType.MULTI_CPU)
    fsdp = SimpleNamespace(distributed_type=DistributedType.FSDP)
    assert fsdp_fell_back(cpu, {"ACCELERATE_USE_FSDP": "true"})
    assert not fsdp_fell_back(fsdp, {"ACCELERATE_USE_FSDP": "true"})
    assert not fsdp_fell_back(cpu, {})
