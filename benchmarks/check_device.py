"""Run every zoo family on an accelerator against its CPU result (a prepared GPU check).

    PYTHONPATH=. python benchmarks/check_device.py [--device cuda] [--n 64] [--shard I/K]

For each zoo entry and dtype: build on CPU, copy to the device with ``.to(device)``, and compare
the forward product, the transpose, the conjugate transpose and the gradients of θ and x with
the CPU results (normwise error, tolerance of the battery for the dtype). Prints one line per
case and a summary; exits 1 on any failure. Not part of the test suite (CI has no GPU).
"""

from __future__ import annotations

import argparse
import copy
import sys
import time

import torch

from kmatrix.testing import ZOO
from kmatrix.testing.battery import random_tensor


def _err(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().cpu().to(torch.complex128), b.detach().cpu().to(torch.complex128)
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def check(entry, dtype, n: int, device: str, gen) -> tuple[bool, str]:
    M = entry.make(n, dtype, gen)
    D = copy.deepcopy(M).to(device)
    assert D.device.type == torch.device(device).type, f"parameters stayed on {D.device}"
    x = random_tensor((5, M.shape[1]), dtype, gen)
    y = random_tensor((5, M.shape[0]), dtype, gen)
    tol = 50 * entry.tolerance(dtype)
    errs = {
        "fwd": _err(D(x.to(device)), M(x)),
        "T": _err(D.T(y.to(device)), M.T(y)),
        "H": _err(D.H(y.to(device)), M.H(y)),
    }
    # gradients of a real loss w.r.t. θ and x
    xs = [x.clone().requires_grad_(True), x.to(device).requires_grad_(True)]
    for mat, xi in zip((M, D), xs):
        mat(xi).abs().pow(2).sum().backward()
    errs["dx"] = _err(xs[1].grad, xs[0].grad)
    for (name, p), (_, q) in zip(M.named_parameters(), D.named_parameters()):
        errs[f"d{name}"] = _err(q.grad, p.grad)
    worst = max(errs.values())
    return worst <= tol, ", ".join(f"{k} {v:.1e}" for k, v in errs.items())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--shard", default="0/1",
                   help="I/K: run only the cases whose index is I mod K (K processes in parallel "
                        "compile K kernels at a time on a GPU)")  # fmt: skip
    args = p.parse_args(argv)
    try:
        shard, shards = (int(v) for v in args.shard.split("/"))
        if not 0 <= shard < shards:
            raise ValueError
    except ValueError:
        p.error(f"--shard: expected I/K with 0 <= I < K, got {args.shard!r}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device")
        return 2
    failures = 0
    t0 = time.perf_counter()
    cases = [(e, d) for e in ZOO for d in (torch.float32, torch.complex64, torch.float64) if d in e.dtypes]
    for index in range(shard, len(cases), shards):
        entry, dtype = cases[index]
        gen = torch.Generator().manual_seed(index)  # the same draws whatever the sharding
        try:
            ok, msg = check(entry, dtype, args.n, args.device, gen)
        except Exception as exc:  # noqa: BLE001 - report and go on: one line per case
            ok, msg = False, f"{type(exc).__name__}: {str(exc)[:200]}"
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {entry.name:28s} {str(dtype)[6:]:10s} {msg}", flush=True)
    print(f"{failures} failures, {time.perf_counter() - t0:.1f} s, torch {torch.__version__}, device {args.device}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
