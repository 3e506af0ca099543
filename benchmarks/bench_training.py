"""Themis's trainer against TRL's RewardTrainer on CPU, same everything, and the speed levers one by one.

    python benchmarks/bench_training.py                    # 12 steps of 16 pairs, both trainers
    python benchmarks/bench_training.py --ablations        # + each Themis speed lever on its own
    python benchmarks/bench_training.py --threads 1 --steps 20 --hidden 256 --layers 4

Both trainers get the same tiny Qwen3-shaped model (random weights, a byte-level BPE tokenizer
trained on the pairs), the same token ids (Themis's criteria draw and chat template; pairs longer
than `--max-length` are left out; TRL receives the ids pre-tokenised, Themis the rows with the
drawn criteria prompt as their system turn), the same effective batch (`--micro` pairs per
forward, accumulated to `--batch`), the same number of optimiser steps, fp32, the same torch
threads, and the same objective (BT + 0.01 · (r_c + r_r)², TRL's `center_rewards_coefficient`;
Themis's LM term off, as TRL has none; gradient checkpointing off in both).

Each run is a child process of this one, so that its peak memory is its own: peak resident set,
and its growth over the resident set after the libraries are imported (model, data, activations,
optimiser). Throughput is tokens of the pairs (chosen + rejected lengths) per wall-clock second
from the end of step 1 to the end of the last step (step 1 carries one-off warm-up costs).
Target (issue 4): Themis ≥ 1.5× TRL's tokens/s at ≤ 0.8× its memory growth.

Last, the LM term on its own at Qwen3's vocabulary (151,936): the full-logits cross-entropy
against the chunked one, forward and backward, memory growth and time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "benchmarks"
VARIANTS = {  # name: TrainConfig overrides
    "themis": {},
    "themis+lm": {"lm_coef": 0.01},
    "padded": {"layout": "padded", "attn_implementation": "sdpa"},
    "packed": {"share_prefix": False},
    "packed-dense": {"attn_implementation": "sdpa"},
    "themis+lm-plain-ce": {"lm_coef": 0.01, "lm_loss_impl": "plain"},
}


class PeakRSS:
    """Samples this process's resident set every few milliseconds (torch's CPU allocations included)."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.base = self._process.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(0.005)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)
        return {"peak_rss_mib": self.peak / 2**20, "growth_mib": (self.peak - self.base) / 2**20}


# -- preparation (parent) ---------------------------------------------------------------------

def _source_pairs(n: int, seed: int):
    from themis_rm.data import read_pairs

    if SHARED.is_dir():
        pairs = read_pairs(str(SHARED)).pairs
        origin = str(SHARED)
    else:  # offline fallback: synthetic code pairs of realistic length
        from themis_rm.schema import Aspect, Language, PreferencePair

        rng = random.Random(seed)
        pairs = []
        for i in range(4 * n):
            body = "\n".join(f"    value_{j} = compute({j}, item)" for j in range(rng.randint(5, 60)))
            pairs.append(PreferencePair(f"s{i}", f"Task {i}: process the items quickly.", f"```python\n{body}\n```",
                                        f"```python\n{body}\n    log(value_0)\n```", Aspect.RUNTIME_EFFICIENCY,
                                        Language.PYTHON))
        origin = "synthetic"
    rng = random.Random(seed)
    return rng.sample(pairs, min(len(pairs), 20 * n)), origin


def prepare(args, work: Path) -> dict:
    """Model, tokenizer, the pairs both trainers get, and their token ids."""
    from collections import Counter

    import torch

    from themis_rm.criteria import CriteriaSampler
    from themis_rm.data import write_pairs
    from themis_rm.training.config import ScratchConfig
    from themis_rm.training.data import ChatEncoder, draw_systems
    from themis_rm.training.scratch import build_config, train_tokenizer

    needed = args.steps * args.batch
    pool, origin = _source_pairs(needed, args.seed)
    texts = [t for p in pool for t in (p.prompt if isinstance(p.prompt, str) else "", p.chosen, p.rejected)]
    tokenizer = train_tokenizer(texts, args.vocab, work / "lm")
    shape = ScratchConfig(hidden_size=args.hidden, layers=args.layers, heads=args.heads, kv_heads=max(1, args.heads // 2),
                          vocab_size=args.vocab)
    from transformers import AutoModelForCausalLM

    torch.manual_seed(args.seed)
    AutoModelForCausalLM.from_config(build_config(shape, tokenizer)).save_pretrained(work / "lm")
    # keep the first `needed` pairs that fit max_length untouched, so neither trainer drops or cuts any
    systems = draw_systems(pool, CriteriaSampler(), args.seed, 0, 0, Counter())
    encoded = ChatEncoder(tokenizer, args.max_length, "drop").encode(pool, systems)
    kept = encoded.examples[:needed]
    if len(kept) < needed:
        raise SystemExit(f"only {len(kept)} pairs fit --max-length {args.max_length}; need {needed}")
    # the drawn criteria prompt travels as the row's own system turn, so Themis renders exactly these ids
    rows = [{**pool[e.index].to_row(), **({"system": systems[e.index]} if systems[e.index] else {})} for e in kept]
    write_pairs(rows, work / "pairs.jsonl")
    ids = {"chosen_ids": [e.chosen.tolist() for e in kept], "rejected_ids": [e.rejected.tolist() for e in kept]}
    (work / "ids.json").write_text(json.dumps(ids))
    tokens = sum(e.n_tokens for e in kept)
    return {"origin": origin, "pairs": needed, "tokens": tokens, "mean_tokens_per_pair": tokens / needed}


# -- children -----------------------------------------------------------------------------------

def run_themis(args, work: Path, variant: str) -> dict:
    import torch

    from themis_rm.training import TrainConfig
    from themis_rm.training.loop import train

    torch.set_num_threads(args.threads)
    meter = PeakRSS()
    out = work / f"run-{variant}"
    config = TrainConfig.from_dict({
        "model": str(work / "lm"), "data": [str(work / "pairs.jsonl")], "output_dir": str(out),
        "epochs": 1, "batch_size": args.batch, "micro_batch_size": args.micro, "max_length": args.max_length,
        "over_length": "error", "lr": 1e-5, "warmup_ratio": 0.0, "lm_coef": 0.0, "magnitude": "sum",
        "magnitude_coef": 0.01, "save_every": 0, "export": False, "progress": False, "log_every": 1,
        "num_threads": args.threads, "seed": args.seed, "p_none": 1.0, "p_aspect": 0.0, "p_full": 0.0,
        **VARIANTS[variant],
    })
    train(config)
    memory = meter.stop()
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    timed = rows[1:]
    seconds = rows[-1]["time"] - rows[0]["time"]
    return {"tokens": sum(r["tokens"] for r in timed), "seconds": seconds, "steps": len(rows), **memory}


def run_trl(args, work: Path) -> dict:
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback
    from trl import RewardConfig, RewardTrainer

    torch.set_num_threads(args.threads)
    meter = PeakRSS()
    tokenizer = AutoTokenizer.from_pretrained(work / "lm")
    model = AutoModelForSequenceClassification.from_pretrained(work / "lm", num_labels=1, dtype=torch.float32)
    model.config.pad_token_id = tokenizer.pad_token_id
    ids = json.loads((work / "ids.json").read_text())
    dataset = Dataset.from_dict(ids)
    marks: list[tuple[float, int]] = []

    class Clock(TrainerCallback):
        def on_step_end(self, _args, state, control, **kwargs):
            marks.append((time.perf_counter(), state.num_input_tokens_seen))

    config = RewardConfig(
        output_dir=str(work / "trl"), per_device_train_batch_size=args.micro,
        gradient_accumulation_steps=args.batch // args.micro, max_steps=args.steps, learning_rate=1e-5,
        lr_scheduler_type="cosine", warmup_steps=0, adam_beta2=0.95, weight_decay=0.01, max_grad_norm=1.0,
        center_rewards_coefficient=0.01, max_length=None, gradient_checkpointing=False, bf16=False, fp16=False,
        use_cpu=True, dataloader_num_workers=0, logging_steps=1, save_strategy="no", report_to="none",
        disable_tqdm=True, seed=args.seed, include_num_input_tokens_seen="non_padding",
    )
    trainer = RewardTrainer(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                            callbacks=[Clock()])
    trainer.train()
    memory = meter.stop()
    return {"tokens": marks[-1][1] - marks[0][1], "seconds": marks[-1][0] - marks[0][0], "steps": len(marks), **memory}


def _import_common() -> None:
    """What both children import before the meter starts, so neither pays for the other's imports."""
    import accelerate  # noqa: F401
    import transformers.models.qwen3.modeling_qwen3  # noqa: F401
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer  # noqa: F401


def run_ce(args, impl: str) -> dict:
    """The LM term alone at Qwen3's vocabulary: full logits (plain) against the chunked path."""
    import torch

    from themis_rm.training.linear_ce import linear_cross_entropy

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    hidden = torch.randn(args.ce_rows, 1024, requires_grad=True)
    weight = (torch.randn(151_936, 1024) * 0.02).requires_grad_()
    targets = torch.randint(0, 151_936, (args.ce_rows,))
    meter = PeakRSS()
    started = time.perf_counter()
    loss = linear_cross_entropy(hidden, weight, targets, impl)
    loss.backward()
    seconds = time.perf_counter() - started
    memory = meter.stop()
    return {"loss": float(loss.detach()), "seconds": seconds, **memory}


def child(args) -> None:
    _import_common()
    work = Path(args.workdir)
    if args.child.startswith("ce-"):
        result = run_ce(args, args.child[3:])
    else:
        result = run_trl(args, work) if args.child == "trl" else run_themis(args, work, args.child)
    print("RESULT " + json.dumps(result), flush=True)


def spawn(args, name: str, work: Path) -> dict:
    command = [sys.executable, __file__, "--child", name, "--workdir", str(work), *_shared_flags(args)]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"{name} failed:\n{done.stderr[-4000:]}")
    out = json.loads(line[len("RESULT "):])
    if "tokens" in out:
        out["tokens_per_s"] = out["tokens"] / out["seconds"]
    return out


def _shared_flags(args) -> list[str]:
    return ["--steps", str(args.steps), "--batch", str(args.batch), "--micro", str(args.micro),
            "--max-length", str(args.max_length), "--hidden", str(args.hidden), "--layers", str(args.layers),
            "--heads", str(args.heads), "--vocab", str(args.vocab), "--threads", str(args.threads),
            "--seed", str(args.seed), "--ce-rows", str(args.ce_rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch", type=int, default=16, help="pairs per optimiser step")
    parser.add_argument("--micro", type=int, default=8, help="pairs per forward pass")
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="alternate the runs this many times; report medians")
    parser.add_argument("--ablations", action="store_true", help="also time each Themis speed lever on its own")
    parser.add_argument("--ce-only", action="store_true", help="only the cross-entropy memory check")
    parser.add_argument("--ce-rows", type=int, default=4096,
                        help="LM-term tokens for the cross-entropy memory check at a 151,936 vocabulary (0: skip)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if args.batch % args.micro:
        raise SystemExit("--batch must be a multiple of --micro")
    with tempfile.TemporaryDirectory(prefix="bench-training-") as tmp:
        work = Path(tmp)
        data = prepare(args, work) if not args.ce_only else {}
        names = [] if args.ce_only else ["trl", "themis"] + ([v for v in VARIANTS if v != "themis"] if args.ablations else [])
        runs: dict[str, list[dict]] = {name: [] for name in names}
        for _ in range(args.repeats):
            for name in names:
                runs[name].append(spawn(args, name, work))
        ce = {impl: spawn(args, f"ce-{impl}", work) for impl in ("plain", "chunked")} if args.ce_rows else {}
    if runs:
        report(args, data, {name: _median(results) for name, results in runs.items()})
    if ce:
        plain, chunked = ce["plain"], ce["chunked"]
        print(f"LM term alone, {args.ce_rows} tokens × vocabulary 151,936 × hidden 1024 (forward + backward): "
              f"plain {plain['growth_mib']:.0f} MiB in {plain['seconds']:.1f} s, chunked {chunked['growth_mib']:.0f} MiB "
              f"in {chunked['seconds']:.1f} s ({chunked['growth_mib'] / plain['growth_mib']:.2f}× memory); "
              f"losses {plain['loss']:.4f} / {chunked['loss']:.4f}")


def _median(results: list[dict]) -> dict:
    pick = sorted(results, key=lambda r: r["tokens_per_s"])[len(results) // 2]
    return {**pick, "growth_mib": sorted(r["growth_mib"] for r in results)[len(results) // 2]}


def report(args, data: dict, runs: dict[str, dict]) -> None:
    import platform

    import torch

    print(f"data: {data['pairs']} pairs from {data['origin']}, {data['mean_tokens_per_pair']:.0f} tokens per pair "
          f"(chosen + rejected); model: qwen3 hidden {args.hidden} × {args.layers} layers, vocab {args.vocab}; "
          f"{args.steps} steps × {args.batch} pairs (micro-batch {args.micro}), max_length {args.max_length}, "
          f"fp32, {args.threads} thread(s), torch {torch.__version__}, {platform.processor() or platform.machine()}")
    base = runs["trl"]
    print(f"{'run':<22}{'tokens/s':>10}{'× TRL':>8}{'peak RSS MiB':>14}{'growth MiB':>12}{'× TRL':>8}")
    for name, r in runs.items():
        print(f"{name:<22}{r['tokens_per_s']:>10.0f}{r['tokens_per_s'] / base['tokens_per_s']:>8.2f}"
              f"{r['peak_rss_mib']:>14.0f}{r['growth_mib']:>12.0f}{r['growth_mib'] / base['growth_mib']:>8.2f}")
    ours = runs["themis"]
    speed, memory = ours["tokens_per_s"] / base["tokens_per_s"], ours["growth_mib"] / base["growth_mib"]
    verdict = "met" if speed >= 1.5 and memory <= 0.8 else "not met"
    print(f"themis / trl: {speed:.2f}× tokens/s, {memory:.2f}× memory growth "
          f"({ours['peak_rss_mib'] / base['peak_rss_mib']:.2f}× peak RSS) — target ≥1.5× at ≤0.8×: {verdict}")


if __name__ == "__main__":
    main()
