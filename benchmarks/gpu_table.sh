#!/usr/bin/env bash
# The Triton butterfly kernels on a lent GPU, one prepared run within a time budget
# ($GPU_TABLE_BUDGET seconds, default 480; every step's timeout is cut to what is left):
#   1. compile (CPU-bound, in parallel): the bench's kernel configurations, the launch-shape
#      sweep's configurations (niced), and tests/test_kernels_triton.py run as 5 concurrent
#      pytest processes, compiled for the GPU (no interpreter) and checked there;
#   2. `kmatrix bench butterfly --device cuda`: triton kernel vs torch.fft.rfft, dense
#      F.linear and a two-bmm Monarch at n = 1024..16384, batch 256..16384, then KLinear vs
#      nn.Linear forward and forward+backward; medians by CUDA events, bandwidth as a fraction
#      of a measured 1 GiB device copy;
#   3. benchmarks/triton_sweep.py: time per (tile size, num_warps) of both kernels;
#   4. benchmarks/check_device.py: every zoo family on the GPU against its CPU result.
# Logs go to $OUT (the device tool's output folder; five files: env, pytest, bench, sweep,
# check_device) when set, else /tmp/kmatrix_gpu.
# Usage (repository root or anywhere):  bash benchmarks/gpu_table.sh [extra bench options]
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
export TRITON_DEFAULT_FP_FUSION=1
unset TRITON_INTERPRET
log="${OUT:-/tmp/kmatrix_gpu}"
mkdir -p "$log"
start=$(date +%s)
deadline=$((start + ${GPU_TABLE_BUDGET:-480}))
left() {  # seconds left for a step wanting $1, at least 5
    local l=$((deadline - $(date +%s)))
    [ "$l" -gt "$1" ] && l=$1
    [ "$l" -lt 5 ] && l=5
    echo "$l"
}
python - <<'PY' 2>&1 | tee "$log/env.txt"
import os, torch, triton
print(f"torch {torch.__version__}, triton {triton.__version__}, cuda {torch.version.cuda}, "
      f"device {torch.cuda.get_device_name() if torch.cuda.is_available() else 'NONE'}, "
      f"{os.cpu_count()} CPUs", flush=True)
PY
echo "== 1. compile (bench + sweep configurations) and pytest on the GPU =="
timeout "$(left 230)" python -c "from kmatrix.bench._butterfly_gpu import NS, precompile; precompile(NS)" \
    > /tmp/kmatrix_precompile.txt 2>&1 &
pre=$!
timeout "$(left 230)" nice -n 10 python benchmarks/triton_sweep.py --compile-only --jobs 8 \
    > /tmp/kmatrix_sweep_compile.txt 2>&1 &
sweep_pre=$!
pids=()
i=0
for sel in "matches_float64 and f32" "matches_float64 and c64 and not real" \
           "matches_float64 and real-twiddle" "half" "not matches_float64 and not half"; do
    timeout "$(left 230)" python -m pytest -q -p no:cacheprovider tests/test_kernels_triton.py \
        -k "$sel" > "/tmp/kmatrix_pytest_$i.txt" 2>&1 &
    pids+=($!)
    i=$((i + 1))
done
fail=0
for j in "${!pids[@]}"; do
    wait "${pids[$j]}" || fail=1
    grep -v -i warning "/tmp/kmatrix_pytest_$j.txt" | tail -6
done
cat /tmp/kmatrix_pytest_*.txt > "$log/pytest.txt"  # the tool returns at most 8 files
echo "pytest: $([ $fail = 0 ] && echo all passed || echo FAILURES above) after $(( $(date +%s) - start )) s"
wait "$pre"; grep -v -i warning /tmp/kmatrix_precompile.txt | tail -3
wait "$sweep_pre"; tail -2 /tmp/kmatrix_sweep_compile.txt
echo "== 2. kmatrix bench butterfly --device cuda ($(( $(date +%s) - start )) s) =="
timeout "$(left 220)" python -m kmatrix.cli.main bench butterfly --device cuda --repeats 5 "$@" \
    2>&1 | tee "$log/bench.txt"
echo "bench rc=$? after $(( $(date +%s) - start )) s"
echo "== 3. launch-shape sweep ($(( $(date +%s) - start )) s) =="
timeout "$(left 90)" python benchmarks/triton_sweep.py 2>&1 | grep -v -i warning | tee "$log/sweep.txt"
echo "== 4. zoo on the GPU vs CPU ($(( $(date +%s) - start )) s) =="
# 8 shards in parallel: each case compiles its own kernels (seconds each), 97 cases in all
t4=$(left 120)
for k in 0 1 2 3 4 5 6 7; do
    timeout "$t4" python benchmarks/check_device.py --device cuda --shard "$k/8" 2>&1 \
        | grep -v -i warning > "/tmp/kmatrix_check_$k.txt" &
done
wait
cat /tmp/kmatrix_check_*.txt > "$log/check_device.txt"
grep -c "^ok" "$log/check_device.txt" | sed 's/^/ok cases: /'
grep -v "^ok" "$log/check_device.txt" | tail -15
echo "done after $(( $(date +%s) - start )) s"
