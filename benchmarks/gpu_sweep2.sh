#!/usr/bin/env bash
# Second GPU run: larger tiles for the Triton kernels, and the plain-torch backend on the GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1 TRITON_DEFAULT_FP_FUSION=1
unset TRITON_INTERPRET
log="${OUT:-/tmp/kmatrix_gpu}"; mkdir -p "$log"
A=(--ns 1024 4096 --fwd-tiles 8192 16384 32768 --bwd-tiles 2048 4096 8192 --warps 8 16 --bwd-warps 4 8)
B=(--ns 16384 --fwd-tiles 16384 32768 --bwd-tiles --warps 8 16)
timeout 200 python benchmarks/triton_sweep.py "${A[@]}" --compile-only --jobs 12 > "$log/c1.txt" 2>&1 &
timeout 200 python benchmarks/triton_sweep.py "${B[@]}" --compile-only --jobs 4 > "$log/c2.txt" 2>&1 &
wait; tail -n 1 "$log/c1.txt" "$log/c2.txt"
timeout 60 python benchmarks/triton_sweep.py "${A[@]}" --blocked --jobs 4 2>&1 | grep -v -i warn | tee "$log/s1.txt"
timeout 40 python benchmarks/triton_sweep.py "${B[@]}" --blocked --jobs 4 2>&1 | grep -v -i warn | tee "$log/s2.txt"
