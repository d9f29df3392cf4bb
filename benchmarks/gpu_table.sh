#!/usr/bin/env bash
# The Triton butterfly kernels on a lent GPU, one prepared run (< 8 minutes on an H100/H200):
#   1. tests/test_kernels_triton.py compiled on the GPU (no interpreter),
#   2. `kmatrix bench butterfly --device cuda`: triton kernel vs torch.fft.rfft, dense
#      F.linear and a two-bmm Monarch at n = 1024..16384, batch 256..16384, then KLinear vs
#      nn.Linear forward and forward+backward; medians by CUDA events, bandwidth as a fraction
#      of a measured 1 GiB device copy.
# Usage (repository root or anywhere):  bash benchmarks/gpu_table.sh [extra bench options]
# Time goes mostly to triton compiling one kernel per (n, factors, dtype) the first time
# (cached in ~/.triton afterwards); every step has its own timeout so the table still prints.
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export TRITON_DEFAULT_FP_FUSION=1
unset TRITON_INTERPRET
start=$(date +%s)
python - <<'PY'
import torch, triton
print(f"torch {torch.__version__}, triton {triton.__version__}, cuda {torch.version.cuda}, "
      f"device {torch.cuda.get_device_name() if torch.cuda.is_available() else 'NONE'}", flush=True)
PY
# Triton compiles every kernel configuration once, single-threaded (seconds to a minute each):
# the bench's configurations compile in the background (parallel processes filling triton's
# disk cache) while the tests run as 5 concurrent pytest processes (split by -k).
timeout 240 python -c "from kmatrix.bench._butterfly_gpu import NS, precompile; precompile(NS)" \
    > /tmp/kmatrix_precompile.log 2>&1 &
pre=$!
echo "== pytest tests/test_kernels_triton.py (compiled, on the GPU; 5 processes) =="
pids=()
i=0
for sel in "matches_float64 and f32" "matches_float64 and c64 and not real" \
           "matches_float64 and real-twiddle" "half" "not matches_float64 and not half"; do
    timeout 240 python -m pytest -q -p no:cacheprovider tests/test_kernels_triton.py -k "$sel" \
        > "/tmp/kmatrix_pytest_$i.log" 2>&1 &
    pids+=($!)
    i=$((i + 1))
done
fail=0
for j in "${!pids[@]}"; do
    wait "${pids[$j]}" || fail=1
    grep -v -i warning "/tmp/kmatrix_pytest_$j.log" | tail -8
done
echo "pytest: $([ $fail = 0 ] && echo all passed || echo FAILURES above) after $(( $(date +%s) - start )) s"
wait "$pre"; grep -v -i warning /tmp/kmatrix_precompile.log | tail -3
echo "== kmatrix bench butterfly --device cuda =="
timeout 210 python -m kmatrix.cli.main bench butterfly --device cuda --repeats 5 "$@"
echo "bench rc=$? after $(( $(date +%s) - start )) s"
