"""One-shot GPU measurement of the trainer: a Qwen3-0.6B-shaped model with random weights, MFU.

    python benchmarks/gpu_training.py                     # on one GPU, ~6 minutes
    python benchmarks/gpu_training.py --tiny --steps 3    # the same code path on CPU, in seconds

Runs, each in its own child process (an out-of-memory run cannot take the others down), on the
same synthetic code pairs (prompt ~300-900 tokens, replies ~150-700 tokens each, as in code
preference data):

| run        | what                                                                                  |
|------------|---------------------------------------------------------------------------------------|
| hf-plain   | the reference: AutoModelForSequenceClassification in bf16, padded chosen+rejected batch, BT loss, AdamW, no Themis code |
| padded     | Themis trainer, padded layout, sdpa                                                   |
| themis     | Themis trainer defaults: packed, shared prefix, sdpa_segments, bf16 autocast, LM term (chunked CE, or Liger when installed) |
| flex       | Themis trainer with flex attention (block-sparse packed mask), GPU only                |
| fsdp2      | 3 steps through `accelerate launch` with examples/accelerate/fsdp2.yaml on 1 GPU (a smoke test of the FSDP2 path) |

Prints pairs/s, tokens/s, MFU (model FLOPs on real tokens ÷ the card's peak dense bf16) and peak
memory per run, the card's name, and writes everything to $OUT/gpu_training.json when $OUT is set.
For reference, a plain padded bf16 Hugging Face loop reached 8.5 pairs/s and 4.1% MFU on an H200;
the target is ≥ 35% MFU.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QWEN3_06B = dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                 num_key_value_heads=8, head_dim=128, vocab_size=151936, tie_word_embeddings=True)
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, vocab_size=1024, tie_word_embeddings=True)
WORDS = ("value", "index", "result", "items", "count", "buffer", "node", "left", "right", "total", "cache", "key")


def _code(rng: random.Random, tokens: int) -> str:
    lines = [f"    {rng.choice(WORDS)}_{i} = {rng.choice(WORDS)}[{rng.randint(0, 99)}] + {rng.randint(0, 9)}"
             for i in range(max(1, tokens // 12))]
    return "```python\ndef solve(items):\n" + "\n".join(lines) + "\n    return result\n```"


def make_data(work: Path, pairs: int, tiny: bool, seed: int = 0) -> None:
    """Synthetic pairs and a tokenizer trained on them; the backbone keeps Qwen3's full vocabulary."""
    from themis_rm.data import write_pairs
    from themis_rm.schema import Aspect, Language, PreferencePair
    from themis_rm.training.scratch import train_tokenizer

    rng = random.Random(seed)
    scale = 0.15 if tiny else 1.0
    rows = []
    for i in range(pairs):
        prompt = " ".join(rng.choice(WORDS) for _ in range(int(rng.randint(300, 900) * scale)))
        rows.append(PreferencePair(f"g{i}", f"Task {i}: {prompt}", _code(rng, int(rng.randint(150, 700) * scale)),
                                   _code(rng, int(rng.randint(150, 700) * scale)), Aspect.RUNTIME_EFFICIENCY,
                                   Language.PYTHON))
    write_pairs(rows, work / "pairs.jsonl")
    train_tokenizer([r.prompt + r.chosen for r in rows[:200]], 512 if tiny else 8192, work / "model")


def make_model(work: Path, tiny: bool) -> None:
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(work / "model")
    config = Qwen3Config(**(TINY if tiny else QWEN3_06B), max_position_embeddings=32768,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    Qwen3ForCausalLM(config).save_pretrained(work / "model")


def run_themis(args, work: Path, name: str) -> dict:
    from themis_rm.training import TrainConfig
    from themis_rm.training.loop import train

    variant = {"themis": {}, "padded": {"layout": "padded", "attn_implementation": "sdpa"},
               "flex": {"attn_implementation": "flex_attention"}}[name]
    out = work / f"run-{name}"
    config = TrainConfig.from_dict({
        "model": str(work / "model"), "data": [str(work / "pairs.jsonl")], "output_dir": str(out),
        "max_steps": args.steps, "batch_size": args.batch, "micro_batch_size": args.micro,
        "max_length": args.max_length, "lr": 1e-5, "warmup_ratio": 0.0, "lm_coef": 0.01, "save_every": 0,
        "export": False, "progress": False, "log_every": 1, "p_none": 1.0, "p_aspect": 0.0, "p_full": 0.0,
        **variant,
    })
    train(config)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()][1:]  # step 1 warms up
    seconds = sum(r["seconds"] for r in rows)
    return {"pairs_per_s": sum(r["pairs_per_s"] * r["seconds"] for r in rows) / seconds,
            "tokens_per_s": sum(r["tokens"] for r in rows) / seconds,
            "mfu": _weighted(rows, "mfu"), "peak_mem_gib": rows[-1]["peak_mem_gib"],
            "first_loss": rows[0]["loss"]}


def _weighted(rows: list[dict], key: str):
    if any(r.get(key) is None for r in rows):
        return None
    return sum(r[key] * r["seconds"] for r in rows) / sum(r["seconds"] for r in rows)


def run_hf_plain(args, work: Path) -> dict:
    """The reference loop: what a user gets from transformers alone (padded, bf16 weights, BT loss)."""
    import torch
    import torch.nn.functional as F
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from themis_rm.training.meter import ModelShape, peak_flops, peak_memory_gib

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    dtype = torch.bfloat16 if cuda else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(work / "model")
    model = AutoModelForSequenceClassification.from_pretrained(work / "model", num_labels=1, dtype=dtype).to(device)
    model.config.pad_token_id = tokenizer.pad_token_id
    shape = ModelShape.of(model)
    rows = [json.loads(line) for line in (work / "pairs.jsonl").read_text().splitlines()]

    def text(row, side):
        return tokenizer.apply_chat_template([{"role": "user", "content": row["prompt"]},
                                              {"role": "assistant", "content": row[side]}], tokenize=False)

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.95))
    times, tokens, flops, pairs = [], 0, 0.0, 0
    at = 0
    for step in range(args.steps):
        started = time.perf_counter()
        step_tokens, step_flops = 0, 0.0
        for _ in range(args.batch // args.micro):
            batch_rows = rows[at:at + args.micro]
            at += args.micro
            texts = [text(r, "chosen") for r in batch_rows] + [text(r, "rejected") for r in batch_rows]
            enc = tokenizer(texts, add_special_tokens=False, padding=True, truncation=True,
                            max_length=args.max_length, return_tensors="pt").to(device)
            scores = model(**enc).logits[:, 0].float()
            chosen, rejected = scores.chunk(2)
            (-F.logsigmoid(chosen - rejected).mean() * args.micro / args.batch).backward()
            lengths = enc["attention_mask"].sum(1).tolist()
            step_tokens += sum(lengths)
            step_flops += shape.flops(sum(lengths), sum(n * (n + 1) // 2 for n in lengths), 0)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()
        if step > 0:  # step 1 warms up
            times.append(time.perf_counter() - started)
            tokens += step_tokens
            flops += step_flops
            pairs += args.batch
    seconds = sum(times)
    peak = peak_flops(device)
    return {"pairs_per_s": pairs / seconds, "tokens_per_s": tokens / seconds,
            "mfu": flops / seconds / peak if peak else None, "peak_mem_gib": round(peak_memory_gib(device), 3)}


def run_fsdp2(args, work: Path) -> dict:
    config = work / "fsdp2.yaml"
    config.write_text(json.dumps({
        "model": str(work / "model"), "data": [str(work / "pairs.jsonl")], "output_dir": str(work / "run-fsdp2"),
        "max_steps": 3, "batch_size": args.micro, "micro_batch_size": args.micro, "max_length": args.max_length,
        "export": True, "progress": False, "log_every": 1, "p_none": 1.0, "p_aspect": 0.0, "p_full": 0.0}))
    repo = Path(__file__).resolve().parents[1]
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--config_file",
                           str(repo / "examples/accelerate/fsdp2.yaml"), "--num_processes", "1",
                           "-m", "themis_rm.training", str(config)],
                          capture_output=True, text=True, timeout=args.timeout)
    ok = done.returncode == 0 and "finished: 3 steps" in done.stdout
    return {"ok": ok, "seconds": time.perf_counter() - started, "tail": (done.stdout + done.stderr)[-1500:]}


def child(args) -> None:
    work = Path(args.workdir)
    if args.child == "hf-plain":
        result = run_hf_plain(args, work)
    elif args.child == "fsdp2":
        result = run_fsdp2(args, work)
    else:
        result = run_themis(args, work, args.child)
    print("RESULT " + json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="tiny shape on any device (a smoke test of this script)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=32, help="pairs per optimiser step")
    parser.add_argument("--micro", type=int, default=8, help="pairs per forward pass")
    parser.add_argument("--max-length", type=int, default=2048)
    parser.add_argument("--runs", default="hf-plain,padded,themis,flex,fsdp2")
    parser.add_argument("--timeout", type=int, default=240, help="seconds per run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    import torch

    cuda = torch.cuda.is_available()
    card = torch.cuda.get_device_name(0) if cuda else "cpu"
    runs = [r for r in args.runs.split(",") if cuda or r not in ("flex", "fsdp2")]  # neither has a CPU path
    results: dict[str, dict] = {"card": card, "torch": torch.__version__, "args": vars(args)}
    with tempfile.TemporaryDirectory(prefix="gpu-training-") as tmp:
        work = Path(tmp)
        make_data(work, args.steps * args.batch + args.batch, args.tiny)
        make_model(work, args.tiny)
        for name in runs:
            command = [sys.executable, __file__, "--child", name, "--workdir", str(work), "--steps", str(args.steps),
                       "--batch", str(args.batch), "--micro", str(args.micro), "--max-length", str(args.max_length),
                       "--timeout", str(args.timeout)] + (["--tiny"] if args.tiny else [])
            try:
                done = subprocess.run(command, capture_output=True, text=True, timeout=args.timeout)
            except subprocess.TimeoutExpired:
                results[name] = {"error": f"timed out after {args.timeout} s"}
                continue
            line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
            results[name] = json.loads(line[7:]) if line else {"error": done.stderr[-2000:]}
            print(f"{name}: {results[name]}", flush=True)
    print(f"\ncard: {card}; {args.steps} steps × {args.batch} pairs (micro {args.micro}), max_length {args.max_length}")
    baseline = results.get("hf-plain", {}).get("pairs_per_s")
    print(f"{'run':<10}{'pairs/s':>9}{'× hf-plain':>12}{'tokens/s':>11}{'MFU':>8}{'peak GiB':>10}")
    for name in runs:
        r = results[name]
        if "pairs_per_s" in r:
            mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "n/a"
            ratio = r["pairs_per_s"] / baseline if baseline else None
            r["pairs_ratio_vs_hf_plain"] = ratio
            shown = f"{ratio:.2f}" if ratio is not None else "n/a"
            print(f"{name:<10}{r['pairs_per_s']:>9.2f}{shown:>12}{r['tokens_per_s']:>11.0f}{mfu:>8}"
                  f"{r['peak_mem_gib']:>10.2f}")
        else:
            print(f"{name:<10} {'ok' if r.get('ok') else 'FAILED'} {r.get('error', '')[:200]}")
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_training.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
