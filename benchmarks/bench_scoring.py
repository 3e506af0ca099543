"""Scoring speed: the research-harness way against Themis's `hf:` scorer, same model, same pairs.

    python benchmarks/bench_scoring.py                      # CPU: small model, 1,000 real pairs
    python benchmarks/bench_scoring.py --shape qwen3-0.6b --device cuda --dtype bfloat16 --pairs 1000

Both contenders run in this one process, on one model with random weights (built here from a
config, no hub) and one seeded sample of pairs from the shared benchmark folder:

* baseline: how the original research harness scores: float32, batches of 8 in dataset order,
  each padded to its longest member, `model(**inputs).logits` (no deduplication, no sorting);
* themis: `ScoringEngine` + `HFScorer` (unique requests, length-sorted token-budget batches,
  each shared prompt run once and continued from its key/value cache, the last layer only at
  the read slots, overlapped transfer), with the dtype asked for.

It prints requests/s of each, their ratio, the largest score difference and the share of pairs
whose preference agrees, and on CUDA the model-FLOPs utilisation (MFU) against a bf16 matmul
rate measured here. `--json PATH` writes every figure and the command for docs/performance.md.
`--steps` also times Themis with its speed-ups added one at a time (`STEPS`), against the same
baseline. Model loading and one warm-up batch are outside the timed regions of both.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # tiny_models: the tests' model builder
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "benchmarks"
DEFAULT_CACHE = ROOT / ".bench"

SHAPES = {
    # name: (hidden, layers, heads, kv_heads, head_dim, intermediate, max_positions, model vocab, tokenizer vocab)
    "tiny": (64, 2, 4, 2, 16, 128, 8192, 0, 2048),
    "small": (256, 4, 4, 2, 64, 768, 16384, 0, 8192),
    "qwen3-0.6b": (1024, 28, 16, 8, 128, 3072, 40960, 151936, 8192),
}


def code_corpus(limit_bytes: int = 4_000_000) -> list[str]:
    """Python's own standard library: general code to train the tokenizer on, not the benchmark."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts, used = [], 0
    for path in sorted(stdlib.glob("*.py")):
        text = path.read_text(errors="ignore")
        texts.append(text)
        used += len(text)
        if used > limit_bytes:
            break
    return texts


def build_bench_model(shape: str, cache: Path) -> Path:
    """A random-weight Qwen3-shaped sequence classifier (num_labels=1) with a code tokenizer, built once."""
    from tiny_models import build_model

    hidden, layers, heads, kv_heads, head_dim, intermediate, positions, vocab, tokenizer_vocab = SHAPES[shape]
    folder = cache / f"model-{shape}"
    if (folder / "config.json").is_file():
        return folder
    build_model(folder, kind="seq-cls", arch="qwen3", hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads,
                head_dim=head_dim, intermediate=intermediate, max_positions=positions, vocab_size=vocab,
                tokenizer_kwargs={"vocab_size": tokenizer_vocab, "corpus": code_corpus()},
                save_dtype="bfloat16" if shape == "qwen3-0.6b" else None)
    return folder


def sample_requests(data: Path, pairs: int, seed: int):
    """A seeded sample of pairs over every subset (so the benchmark's length mix), in file order;
    two requests per pair (chosen, rejected), as `themis eval` makes them."""
    from themis_rm.data import read_pairs
    from themis_rm.evaluation.run import sample_pairs
    from themis_rm.schema import ScoreRequest

    every = read_pairs(str(data)).pairs
    chosen = sample_pairs(every, pairs, seed)
    requests = []
    for pair in chosen:
        requests.append(ScoreRequest(None, pair.prompt, pair.chosen))
        requests.append(ScoreRequest(None, pair.prompt, pair.rejected))
    return chosen, requests


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_baseline(folder: Path, requests, device: str, max_length: int, batch_size: int = 8):
    """The research-harness loop: fp32, fixed batch size, dataset order, pad to the batch maximum."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=torch.float32).to(device).eval()

    def score(batch):
        texts = [tokenizer.apply_chat_template(r.messages(), tokenize=False) for r in batch]
        inputs = tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt",
                           add_special_tokens=False).to(device)
        with torch.no_grad():
            logits = model(**inputs).logits[:, 0]
        return logits.float().cpu().tolist(), inputs["attention_mask"].sum(dim=1).tolist(), inputs["input_ids"].numel()

    score(requests[:batch_size])  # warm-up
    synchronize(device)
    started, cpu_started = time.perf_counter(), time.process_time()
    scores, lengths, slots = [], [], 0
    for start in range(0, len(requests), batch_size):
        values, real, padded = score(requests[start : start + batch_size])
        scores += values
        lengths += real
        slots += padded
    synchronize(device)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak = torch.cuda.max_memory_allocated(device) if device.startswith("cuda") else None
    return {"scores": scores, "seconds": seconds, "cpu_seconds": cpu_seconds, "lengths": lengths, "slots": slots,
            "peak_memory_bytes": peak}


def run_themis(folder: Path, requests, options: dict):
    """`themis eval`'s scoring path: the engine (unique requests, sorted chunks) over HFScorer."""
    import torch

    from themis_rm.scoring.base import load_scorer
    from themis_rm.scoring.engine import ScoringEngine

    scorer = load_scorer(f"hf:{folder}", options)
    scorer.score(requests[:8])  # warm-up, outside the timed region (and out of the counters below)
    scorer._counters.update(sequences=0, tokens=0, computed_tokens=0, slots=0, forward_passes=0, forward_seconds=0.0,
                            model_flops=0.0, plans={})
    if scorer.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(scorer.device)
    engine = ScoringEngine(scorer, cache=None, chunk_size=scorer.preferred_chunk_size, show_progress=False)
    synchronize(scorer.device)
    started, cpu_started = time.perf_counter(), time.process_time()
    results, engine_stats = engine.run(requests)
    synchronize(scorer.device)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    return {"scores": [r.value for r in results], "seconds": seconds, "cpu_seconds": cpu_seconds,
            "stats": scorer.stats(), "unique": engine_stats.requests_unique, "scorer": scorer}


#: `--steps`: Themis with its speed-ups added one at a time (the full set is the main run)
STEPS = [
    ("unique requests, length-sorted padded rows", {"layout": "padded", "last_layer": "full", "cpu_linear": "torch"}),
    ("+ each shared prompt run once (key/value cache)", {"last_layer": "full", "cpu_linear": "torch"}),
    ("+ last layer only at the read slots", {"cpu_linear": "torch"}),
]


def run_step(name: str, folder: Path, requests, options: dict) -> dict:
    timed = run_themis(folder, requests, options)
    timed.pop("scorer").close()
    stats = timed["stats"]
    return {"step": name, "options": options, "seconds": timed["seconds"], "cpu_seconds": timed["cpu_seconds"],
            "computed_tokens": stats["computed_tokens"], "forward_passes": stats["forward_passes"],
            "plans": stats["plans"], "scores": timed["scores"]}


def measured_bf16_tflops(device: str) -> float | None:
    """The card's dense bf16 matmul rate, measured: the denominator of MFU."""
    import torch

    if not device.startswith("cuda"):
        return None
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(10):
        a @ b
    torch.cuda.synchronize()
    return 10 * 2 * 8192**3 / (time.perf_counter() - started) / 1e12


def compare(pairs, baseline: list[float], themis: list[float]) -> dict:
    finite = [(a, b) for a, b in zip(baseline, themis) if math.isfinite(a) and math.isfinite(b)]
    worst = max((abs(a - b) for a, b in finite), default=float("nan"))
    agree = sum(
        (baseline[2 * i] > baseline[2 * i + 1]) == (themis[2 * i] > themis[2 * i + 1]) for i in range(len(pairs))
    )
    return {"max_abs_score_diff": worst, "preference_agreement": agree / max(len(pairs), 1),
            "compared": len(finite), "not_finite": len(baseline) - len(finite)}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="benchmark folder or pairs file")
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="small")
    parser.add_argument("--model", type=Path, default=None, help="an existing model folder instead of --shape")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", help="Themis's dtype (the baseline is always float32)")
    parser.add_argument("--max-length", type=int, default=16384)
    parser.add_argument("--batch-tokens", type=int, default=None)
    parser.add_argument("--layout", default="auto", choices=["auto", "packed", "padded"])
    parser.add_argument("--attn-implementation", default=None)
    parser.add_argument("--last-layer", default="auto", choices=["auto", "full"],
                        help="Themis's last layer: only at the read slots where verified (auto), or in full")
    parser.add_argument("--cpu-linear", default="auto", choices=["auto", "onednn", "torch"],
                        help="Themis's float32 linear kernel on CPU (see src/themis_rm/scoring/cpu_linear.py)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="where built models are kept")
    parser.add_argument("--skip-baseline", action="store_true", help="time Themis only (e.g. extra variants)")
    parser.add_argument("--steps", action="store_true",
                        help="also time Themis with its speed-ups added one at a time (STEPS), same process and baseline")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    if not args.data.exists():
        raise SystemExit(f"no benchmark data at {args.data}")
    folder = args.model or build_bench_model(args.shape, args.cache)
    pairs, requests = sample_requests(args.data, args.pairs, args.seed)
    options = {"dtype": args.dtype, "device": args.device, "max_length": args.max_length, "layout": args.layout,
               "last_layer": args.last_layer, "cpu_linear": args.cpu_linear}
    if args.batch_tokens:
        options["batch_tokens"] = args.batch_tokens
    if args.attn_implementation:
        options["attn_implementation"] = args.attn_implementation

    themis = run_themis(folder, requests, options)
    scorer = themis.pop("scorer")
    stats = themis["stats"]
    peak_tflops = measured_bf16_tflops(args.device)
    report: dict = {
        "command": " ".join(["python", "benchmarks/bench_scoring.py", *(argv if argv is not None else sys.argv[1:])]),
        "device": torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else platform.processor()
        or platform.machine(),
        "cpu_threads": torch.get_num_threads(), "torch": torch.__version__, "model": str(folder),
        "shape": None if args.model else args.shape, "pairs": len(pairs), "requests": len(requests),
        "measured_bf16_tflops": peak_tflops,
        "themis": {
            "seconds": themis["seconds"], "cpu_seconds": themis["cpu_seconds"],
            "requests_per_s": len(requests) / themis["seconds"], "unique_requests": themis["unique"],
            "tokens": stats["tokens"], "computed_tokens": stats["computed_tokens"],
            "tokens_per_s": stats["tokens"] / themis["seconds"], "padding_efficiency": stats["padding_efficiency"],
            "layout": stats["layout"], "plans": stats["plans"], "layout_checks": stats["layout_checks"],
            "last_layer": stats["last_layer"], "linear_kernel": stats["linear_kernel"],
            "attn_implementation": stats["attn_implementation"], "dtype": stats["dtype"],
            "batch_tokens": stats["batch_tokens"], "forward_passes": stats["forward_passes"],
            "truncated": stats["truncated"], "dropped": stats["dropped"], "model_flops": stats["model_flops"],
            "peak_memory_bytes": stats["peak_memory_bytes"],
        },
    }
    if peak_tflops:
        report["themis"]["mfu"] = stats["model_flops"] / themis["seconds"] / (peak_tflops * 1e12)
    steps = [run_step(name, folder, requests, {**options, **changes}) for name, changes in STEPS] if args.steps else []
    if not args.skip_baseline:
        base = run_baseline(folder, requests, args.device, args.max_length)
        flops = scorer.flops(base["lengths"])
        report["baseline"] = {
            "seconds": base["seconds"], "cpu_seconds": base["cpu_seconds"],
            "requests_per_s": len(requests) / base["seconds"],
            "tokens": sum(base["lengths"]), "padding_efficiency": sum(base["lengths"]) / max(base["slots"], 1),
            "model_flops": flops, "peak_memory_bytes": base["peak_memory_bytes"],
        }
        if peak_tflops:
            report["baseline"]["mfu"] = flops / base["seconds"] / (peak_tflops * 1e12)
        report["speedup"] = base["seconds"] / themis["seconds"]
        report["cpu_time_ratio"] = base["cpu_seconds"] / themis["cpu_seconds"]
        report["scores"] = compare(pairs, base["scores"], themis["scores"])
    for step in steps:
        if "baseline" in report:
            step["speedup"] = report["baseline"]["seconds"] / step["seconds"]
            step["scores"] = compare(pairs, base["scores"], step["scores"])
        else:
            del step["scores"]
    if steps:
        report["steps"] = steps
    scorer.close()
    print_report(report)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return report


def print_report(report: dict) -> None:
    print(f"device: {report['device']} | model: {report['shape'] or report['model']} | pairs: {report['pairs']} "
          f"| requests: {report['requests']} (unique {report['themis']['unique_requests']})")
    rows = [("themis", report["themis"])] + ([("baseline", report["baseline"])] if "baseline" in report else [])
    for name, block in rows:
        mfu = f" | MFU {100 * block['mfu']:.1f}%" if "mfu" in block else ""
        print(f"{name:9s} {block['seconds']:8.2f} s (cpu {block['cpu_seconds']:.1f} s) | "
              f"{block['requests_per_s']:8.1f} req/s | padding efficiency {block['padding_efficiency']:.3f}{mfu}")
    t = report["themis"]
    print(f"themis: plans {t['plans']} / {t['attn_implementation']} / {t['dtype']} / last layer {t['last_layer']} / "
          f"linear {t['linear_kernel']}, "
          f"batch tokens {t['batch_tokens']}, "
          f"{t['forward_passes']} forward passes, {t['tokens']:,} tokens ({t['computed_tokens']:,} computed), "
          f"{t['tokens_per_s']:,.0f} tok/s, truncated {t['truncated']}, dropped {t['dropped']}")
    for step in report.get("steps", []):
        ratio = f" | {step['speedup']:.2f}x, max |score diff| {step['scores']['max_abs_score_diff']:.2e}" \
            if "speedup" in step else ""
        print(f"  step {step['step']:50s} {step['seconds']:8.2f} s (cpu {step['cpu_seconds']:.1f} s){ratio}")
    if "speedup" in report:
        s = report["scores"]
        print(f"speedup (baseline time / themis time): {report['speedup']:.2f}x wall, "
              f"{report['cpu_time_ratio']:.2f}x cpu | max |score diff|: {s['max_abs_score_diff']:.2e} | "
              f"preference agreement: {100 * s['preference_agreement']:.2f}%")


if __name__ == "__main__":
    main()
