#!/usr/bin/env bash
# The benchmark on an NVIDIA GPU: builds `train` with the `cuda` feature, runs `train bench` on
# the MLPs a to e, the recurrent rnn, lstm and gru and the CNN cnn on the GPU with and without
# telemetry, then the PyTorch reference scripts with `--device cuda`, and prints one table (milliseconds a step,
# medians over rounds). Usage, from the repository root:
#
#   bench/gpu.sh                      # PyTorch from `python3`
#   PYTHON=~/torchenv/bin/python bench/gpu.sh
#   CONFIGS=a,c RECURRENT=rnn bench/gpu.sh     # a subset
#
# The JSON lines of every run are kept in $OUT (default: bench-gpu-<date>/) for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
CONFIGS=${CONFIGS:-a,b,c,d,e}
RECURRENT=${RECURRENT:-rnn,lstm,gru}
CNN=${CNN:-cnn}
OUT=${OUT:-bench-gpu-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$OUT"

if ! command -v nvidia-smi > /dev/null || ! nvidia-smi -L > /dev/null 2>&1; then
    echo "bench/gpu.sh: no NVIDIA GPU visible (nvidia-smi lists none); it benchmarks the cuda backend" >&2
    exit 1
fi
nvidia-smi -L | tee "$OUT/gpu.txt"

# cubecl-cuda's build downloads LLVM from github.com once (BENCHMARKS.md, issue 26) and fails
# without it, after minutes of compiling: say so before starting. The folder's version is
# tracel-llvm-bundler's, in Cargo.lock.
llvm="${XDG_DATA_HOME:-$HOME/.local/share}/tracel/tracel-llvm-23.1.0-4"
if [ ! -e "$llvm/.tracel-llvm-installed" ] && command -v curl > /dev/null \
    && ! curl -sfI --max-time 10 https://github.com > /dev/null 2>&1; then
    echo "bench/gpu.sh: the cuda build downloads LLVM from github.com, which does not answer, into $llvm, which is missing: copy that folder from a machine that has built with --features cuda" >&2
    exit 1
fi

cargo build --release -p train --features cuda
TRAIN=${CARGO_TARGET_DIR:-target}/release/train

# train bench: the plain and the telemetry rounds alternate, as on the CPU.
"$TRAIN" bench --backend cuda --config "$CONFIGS,$RECURRENT,$CNN" --modes plain,telemetry | tee "$OUT/burn.jsonl"

# The PyTorch references on the same GPU, with their per-step gradient-norm logging.
have_torch=1
"$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2> /dev/null || have_torch=0
if [ "$have_torch" = 1 ]; then
    "$PYTHON" bench/pytorch_mlp.py --device cuda --config "$CONFIGS" --modes plain,gradnorm | tee "$OUT/pytorch_mlp.jsonl"
    "$PYTHON" bench/pytorch_rnn.py --device cuda --config "$RECURRENT" --modes plain,gradnorm | tee "$OUT/pytorch_rnn.jsonl"
    "$PYTHON" bench/pytorch_cnn.py --device cuda --config "$CNN" --modes plain,gradnorm | tee "$OUT/pytorch_cnn.jsonl"
else
    echo "bench/gpu.sh: $PYTHON has no torch with CUDA; the PyTorch columns stay empty" >&2
    : > "$OUT/pytorch_mlp.jsonl"
    : > "$OUT/pytorch_rnn.jsonl"
    : > "$OUT/pytorch_cnn.jsonl"
fi

# One table from the summaries (the same fields in both: config, mode, ms_per_step_median).
"$PYTHON" - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
ms = {}
for name in ("burn.jsonl", "pytorch_mlp.jsonl", "pytorch_rnn.jsonl", "pytorch_cnn.jsonl"):
    for line in (out / name).read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if r.get("kind", "").endswith("_summary"):
            who = "burn" if name == "burn.jsonl" else "torch"
            ms[(r["config"], who, r["mode"])] = r["ms_per_step_median"]
configs = sorted({c for c, _, _ in ms}, key=lambda c: (len(c) > 1, c))
cols = [("burn", "plain"), ("burn", "telemetry"), ("torch", "plain"), ("torch", "gradnorm")]
print()
print("| config | burn-cuda plain ms | burn-cuda telemetry ms | telemetry cost | PyTorch plain ms | PyTorch grad-norm ms |")
print("|---|---|---|---|---|---|")
for c in configs:
    v = [ms.get((c,) + k) for k in cols]
    cost = f"{100 * (v[1] / v[0] - 1):+.1f}%" if v[0] and v[1] else "-"
    cells = ["-" if x is None else f"{x:.3f}" for x in v]
    print(f"| {c} | {cells[0]} | {cells[1]} | {cost} | {cells[2]} | {cells[3]} |")
PY
