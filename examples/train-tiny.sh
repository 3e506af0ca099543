#!/usr/bin/env bash
# The whole tiny demo: split the shared benchmark by prompt, train from scratch, evaluate the
# export on the held-out prompts next to the length baseline. Extra arguments go to `themis train`
# (e.g. --num-threads 1 on a busy machine). Run from the repository root.
set -euo pipefail
DATA=${DATA:-../shared/data/benchmarks}
OUT=${OUT:-runs/tiny}

python examples/prepare_split.py "$DATA" "$OUT/split" --heldout 0.2 --seed 0
themis train examples/train-tiny.yaml --output-dir "$OUT/train" --set "stages.0.data=[$OUT/split/train.jsonl]" "$@"
for mode in aspect none; do
  themis eval --data "$OUT/split/heldout.jsonl" --scorer "hf:$OUT/train/export" --prompt-mode "$mode" \
    --out "$OUT/eval-hf-$mode" --no-progress
done
themis eval --data "$OUT/split/heldout.jsonl" --scorer length --out "$OUT/eval-length" --no-progress
themis compare "$OUT/eval-hf-aspect" "$OUT/eval-length"
python examples/aspect_table.py "$OUT/eval-hf-aspect" "$OUT/eval-hf-none" "$OUT/eval-length"
