"""FSDP2 on two CPU processes, as far as accelerate lets it run there.

accelerate builds FSDP only on accelerators, so a whole training run cannot use it on CPU (the
trainer says so and runs DDP). What can run here is accelerate's own FSDP2 wrapping of our
`RewardModel` and its sharded checkpoint, called directly (with the few accelerator attributes
they read), and then our checkpoint reader merging the shards on the main rank while the other
rank waits, as the end-of-training export does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

SCRIPT = textwrap.dedent("""
    import copy, json, sys
    from pathlib import Path
    from types import SimpleNamespace

    import torch
    import torch.distributed as dist
    from accelerate import PartialState
    from accelerate.utils import FullyShardedDataParallelPlugin, save_fsdp_model
    from accelerate.utils.fsdp_utils import fsdp2_prepare_model
    from transformers import AutoModelForCausalLM

    from themis_rm.training.checkpoint import load_model_state
    from themis_rm.training.model import RewardModel

    model_path, out = sys.argv[1], Path(sys.argv[2])
    state = PartialState(cpu=True)
    rank = state.process_index
    torch.manual_seed(0)
    model = RewardModel(AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32))
    with torch.no_grad():
        model.reward_head.weight.normal_(0, 0.1)
    reference = copy.deepcopy(model)
    plugin = FullyShardedDataParallelPlugin(fsdp_version=2, auto_wrap_policy="transformer_based_wrap",
                                            reshard_after_forward=True, state_dict_type="SHARDED_STATE_DICT")
    accelerator = SimpleNamespace(state=SimpleNamespace(fsdp_plugin=plugin), mixed_precision="no",
                                  is_main_process=rank == 0, device=torch.device("cpu"), parallelism_config=None,
                                  torch_device_mesh=None, process_index=rank, num_processes=state.num_processes)
    sharded = fsdp2_prepare_model(accelerator, model)

    generator = torch.Generator().manual_seed(1 + rank)  # each rank its own batch, as in training
    ids = torch.randint(5, 200, (2, 24), generator=generator)
    positions = torch.arange(24).repeat(2, 1)

    def step(m):
        rewards, lm_sum = m(ids, positions, None, torch.tensor([23, 47]), torch.arange(10, 20), ids.flatten()[11:21])
        (-torch.nn.functional.logsigmoid(rewards[0] - rewards[1]) + 0.01 * lm_sum).backward()
        return rewards.detach(), lm_sum.detach()

    (r_sharded, lm_sharded), (r_plain, lm_plain) = step(sharded), step(reference)
    for p in reference.parameters():  # the sharded gradients are averaged over the ranks
        dist.all_reduce(p.grad)
        p.grad /= state.num_processes
    grad_diff = max((p.grad.full_tensor() - q.grad).abs().max().item()
                    for p, q in zip(sharded.parameters(), reference.parameters()))
    wrapped = sorted({type(m).__name__ for m in sharded.modules() if type(m).__name__.startswith("FSDP")})

    checkpoint = out / "checkpoint"
    save_fsdp_model(plugin, accelerator, sharded, str(checkpoint / "state"))
    dist.barrier()
    if rank == 0:  # the export: the main rank reads the checkpoint alone
        merged = load_model_state(checkpoint)
        plain = reference.state_dict()
        report = {
            "wrapped": wrapped,
            "reward_diff": (r_sharded - r_plain).abs().max().item(),
            "lm_diff": abs(lm_sharded.item() - lm_plain.item()),
            "grad_diff": grad_diff,
            "same_keys": sorted(merged) == sorted(plain),
            "weight_diff": max((merged[k] - plain[k]).abs().max().item() for k in plain),
            "shards": sorted(p.name for p in (checkpoint / "state").iterdir()),
        }
        (out / "report.json").write_text(json.dumps(report))
    dist.barrier()  # the other rank waits here; the main rank must meet it after reading
    state.destroy_process_group()
""")


def test_fsdp2_wrapping_and_sharded_checkpoint_of_the_reward_model(tiny_causal_lm, tmp_path):
    script = tmp_path / "fsdp2_two_ranks.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(script), str(tiny_causal_lm), str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert "FSDPRewardModel" in report["wrapped"] and any("DecoderLayer" in n for n in report["wrapped"])
    assert report["reward_diff"] < 1e-5 and report["lm_diff"] < 1e-3 and report["grad_diff"] < 1e-5
    assert report["shards"] == ["pytorch_model_fsdp_0"]
    assert report["same_keys"] and report["weight_diff"] == 0.0
