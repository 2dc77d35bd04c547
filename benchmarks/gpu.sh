#!/usr/bin/env bash
# The figures a GPU machine gives (issue 17), in one JSON: the real-model bench on CUDA with
# tiny-sd at 512x512 and 20 steps (batch 1 and 8 against a bare diffusers loop in the same
# run, the sim accelerator's busy ratio pipelined and not and sim_max_img_s, the control
# plane) and the encoding costs.
# Never part of `make test`.  Usage: benchmarks/gpu.sh [OUT.json]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-gpu-bench.json}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

make stack-install
.venv/bin/python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "no CUDA device here: benchmarks/gpu.sh is for a GPU machine (the CPU figures: diffstream bench)")'
.venv/bin/diffstream bench --device cuda --model tiny-sd --size 512 --steps 20 --json "$work/bench.json"
.venv/bin/diffstream bench encoding --json "$work/encoding.json"
.venv/bin/python - "$work/bench.json" "$work/encoding.json" "$out" <<'PY'
import json, sys
bench, encoding, out = sys.argv[1:]
with open(bench) as b, open(encoding) as e:
    report = {"bench": json.load(b), "encoding": json.load(e)}
with open(out, "w") as f:
    json.dump(report, f, indent=2)
print(f"figures written to {out}")
PY
