"""One-shot GPU scoring benchmark: prepare here, run on a GPU machine in one short command.

    # 1. here (CPU, has ../shared): sample the pairs and train the tokenizer into .bench/gpu/
    python benchmarks/gpu_scoring.py prepare
    # 2. on the GPU machine (carry .bench/gpu; writes every figure to $OUT/gpu_scoring.json)
    PYTHONUNBUFFERED=1 PYTHONPATH=src:tests python3 benchmarks/gpu_scoring.py run --out $OUT
    # the same code paths on CPU with a tiny model, in seconds (what the test suite runs):
    python benchmarks/gpu_scoring.py smoke

`run` builds a Qwen3-0.6B-shaped sequence classifier with random weights from the carried
tokenizer, then calls `bench_scoring.main` on the carried pairs: the research-harness baseline
(fp32, batch 8, dataset order) against Themis in bf16, plus Themis variants (padded layout,
other token budgets), each with seq/s and MFU against the bf16 matmul rate measured on the card.
The pairs are a seeded sample of the shared benchmark (its length mix); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

import bench_scoring  # noqa: E402

PREPARED = ROOT / ".bench" / "gpu"
QWEN3_06B = {"hidden": 1024, "layers": 28, "heads": 16, "kv_heads": 8, "head_dim": 128, "intermediate": 3072,
             "max_positions": 40960, "vocab_size": 151936}
TINY = {"hidden": 64, "layers": 2, "heads": 4, "kv_heads": 2, "head_dim": 16, "intermediate": 128,
        "max_positions": 8192, "vocab_size": 0}


def prepare(folder: Path, pairs: int, seed: int, data: Path, tokenizer_vocab: int = 8192,
            corpus_bytes: int = 4_000_000) -> None:
    """Write the sampled pairs and a code tokenizer where the GPU command will find them."""
    from themis_rm.data import write_pairs
    from tiny_models import build_tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    chosen, _ = bench_scoring.sample_requests(data, pairs, seed)
    write_pairs([p.to_row() for p in chosen], folder / "pairs.jsonl")
    build_tokenizer(folder / "tokenizer", vocab_size=tokenizer_vocab, corpus=bench_scoring.code_corpus(corpus_bytes))
    print(f"prepared {len(chosen)} pairs and a tokenizer in {folder}")


def build_model(folder: Path, tokenizer_folder: Path, shape: dict, device: str) -> Path:
    """A random-weight Qwen3 sequence classifier around the prepared tokenizer (built on `device`)."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from tiny_models import _config

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    shape = dict(shape)
    vocab = max(shape.pop("vocab_size"), len(tokenizer))
    hidden, layers = shape.pop("hidden"), shape.pop("layers")
    config = _config("qwen3", vocab, tokenizer.pad_token_id, hidden, layers, num_labels=1, **shape)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForSequenceClassification.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


def run(out: Path, prepared: Path, device: str, shape: dict, variants: list[dict], pairs: int | None) -> dict:
    started = time.perf_counter()
    model = build_model(Path("/tmp") / f"themis-bench-model-{shape['layers']}l", prepared / "tokenizer", shape,
                        device)
    print(f"model built in {time.perf_counter() - started:.1f} s", flush=True)
    count = pairs or sum(1 for _ in (prepared / "pairs.jsonl").open())
    common = ["--data", str(prepared / "pairs.jsonl"), "--pairs", str(count), "--model", str(model),
              "--device", device, "--max-length", "16384"]
    reports = []
    for number, variant in enumerate(variants):
        argv = [*common, *variant["args"], "--json", str(out / f"variant-{number}.json")]
        print(f"== {variant['name']}: {' '.join(argv)}", flush=True)
        report = bench_scoring.main(argv)
        report["variant"] = variant["name"]
        reports.append(report)
    summary = {"device": reports[0]["device"], "model_shape": shape, "variants": reports,
               "seconds": time.perf_counter() - started}
    (out / "gpu_scoring.json").write_text(json.dumps(summary, indent=2) + "\n")
    for number in range(len(variants)):
        (out / f"variant-{number}.json").unlink(missing_ok=True)
    shutil.rmtree(model, ignore_errors=True)
    return summary


GPU_VARIANTS = [
    {"name": "baseline vs themis bf16 (auto layout, 65,536-token budget)", "args": ["--dtype", "bfloat16"]},
    {"name": "themis bf16 padded", "args": ["--dtype", "bfloat16", "--layout", "padded", "--skip-baseline"]},
    {"name": "themis bf16, 131,072-token budget", "args": ["--dtype", "bfloat16", "--batch-tokens", "131072",
                                                           "--skip-baseline"]},
    {"name": "themis bf16, 32,768-token budget", "args": ["--dtype", "bfloat16", "--batch-tokens", "32768",
                                                          "--skip-baseline"]},
]
SMOKE_VARIANTS = [
    {"name": "baseline vs themis", "args": ["--dtype", "float32", "--batch-tokens", "2048"]},
    {"name": "themis padded", "args": ["--dtype", "float32", "--layout", "padded", "--skip-baseline"]},
]


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["prepare", "run", "smoke"])
    parser.add_argument("--prepared", type=Path, default=PREPARED)
    parser.add_argument("--out", type=Path, default=ROOT / ".bench" / "gpu-out")
    parser.add_argument("--data", type=Path, default=bench_scoring.DEFAULT_DATA)
    parser.add_argument("--pairs", type=int, default=1000, help="pairs to prepare (two sequences each)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.step == "prepare":
        prepare(args.prepared, args.pairs, args.seed, args.data)
        return None
    args.out.mkdir(parents=True, exist_ok=True)
    if args.step == "smoke":  # the GPU recipe on CPU with a tiny shape, so it is not dead code
        prepare(args.prepared, args.pairs, args.seed, args.data, tokenizer_vocab=1024, corpus_bytes=200_000)
        return run(args.out, args.prepared, "cpu", TINY, SMOKE_VARIANTS, None)
    import torch

    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device; use `smoke` to run this recipe on CPU")
    return run(args.out, args.prepared, "cuda", QWEN3_06B, GPU_VARIANTS, None)


if __name__ == "__main__":
    main()
