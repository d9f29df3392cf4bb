"""``kmatrix bench butterfly``: the fused butterfly multiply against dense and FFT baselines.

Measured in one run, float32, torch's default thread count, medians of repeats (after warm-up):

1. Forward at (n, batch) ∈ {(1024, 1024), (4096, 1024), (4096, 64), (256, 1)} on the same real
   input x (batch, n): ``Butterfly(n)`` (increasing strides, the survey's B), ``KMatrix(n,
   width=1)`` (BB*), ``KMatrix(n, width=2)``, dense ``F.linear(x, W)`` with a random n×n W, and
   ``torch.fft.rfft(x)`` (the FFT is a fixed butterfly hand-tuned for decades: the natural floor;
   rfft rather than fft, whose time on real input is dominated by allocating the complex
   output). Also the raw kernel ``butterfly_multiply`` (no class overhead), and BB* as one
   fused call over both factors (what KMatrix costs when it makes one call per product).
   Ratios: dense / Butterfly, Butterfly / rfft, dense / KMatrix.
2. ``KLinear(n, n)`` vs ``nn.Linear(n, n)`` at the same sizes: forward alone (no grad) and
   forward + backward (x and the parameters require grad); peak memory of forward + backward
   (live bytes allocated by torch during the step, from the profiler's memory events; the fused
   kernel's own per-thread scratch — ceil(L/2)+1 tiles of 16 rows × N plus one twiddle-gradient
   accumulator per thread, independent of the batch — is outside torch's allocator and printed
   separately), and the bytes autograd saves for the backward.

3. ``KLinear(1024, 1024)`` at batch 1024 on each backend: fused kernel, the blocked plain-PyTorch
   fallback (``"torch"``: radix-2^5 blocks, one batched matmul each) and the per-stage
   ``"reference"``; ratios to fused (issue 12 target: fallback ≤ 4× fused, forward and
   forward+backward).

4. Issue 12 ("speed everywhere"), all in the same run: ``Butterfly(n)`` (the fused kernel)
   forward and forward+backward at (1024, 1024) and (4096, 1024) against ``torch.fft.rfft``
   and dense ``F.linear`` (forward+backward: x and the parameters require grad, loss = sum of
   the output; rfft's loss sums real and imaginary parts), and fwd+bwd / fwd; the 1 → 2 thread
   speedup at (4096, 1024); bfloat16 and float16 against float32 at (1024, 1024); the per-call
   time of one small product (n = 256, one vector, no grad: ``time.perf_counter_ns`` over
   10^4 calls, median of repeats) for Butterfly, KMatrix and KLinear against a dense matvec
   (``F.linear``, ``nn.Linear``) and rfft. GPU / Triton rows are printed when a CUDA device is
   present (section "GPU").

Targets (issue 3, ratios in the same run, 2 cores): Butterfly forward at (4096, 1024) ≥ 15×
faster than dense and ≤ 3× rfft; at (1024, 1024) ≥ 5× faster than dense; KMatrix(width=1) at
(4096, 1024) ≥ 8× faster than dense; KLinear(4096, 4096) forward+backward at batch 1024 ≥ 5×
faster than nn.Linear.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from ..kernels import butterfly_multiply, get_backend, set_backend
from ._timing import format_table, median_time

SIZES = [(1024, 1024), (4096, 1024), (4096, 64), (256, 1)]


def _classes():
    """The public classes, imported lazily (bench sits above families and nn)."""
    from .. import Butterfly, KMatrix
    from ..nn import KLinear

    return Butterfly, KMatrix, KLinear


def _peak_bytes(fn) -> int:
    """Peak of the live bytes torch allocates while ``fn()`` runs (profiler memory events)."""
    from torch.profiler import ProfilerActivity, profile

    # the profiler's C++ side prints start/stop lines on stderr: silence file descriptor 2
    sys.stderr.flush()
    saved_fd = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            fn()
    finally:
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
        os.close(devnull)
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    live = peak = 0
    for e in sorted(events, key=lambda e: e.start_ns()):
        live += e.nbytes()
        peak = max(peak, live)
    return peak


def _saved_bytes(fn) -> int:
    """Bytes of the tensors autograd saves for the backward during ``fn()``."""
    total = 0

    def pack(t):
        nonlocal total
        total += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return total


def _kernel_scratch_bytes(n: int, threads: int) -> int:
    """The fused backward's own scratch (float32): per thread, ceil(L/2)+1 tiles of 16 rows × N
    (pass checkpoints and the gradient tile) and one twiddle-gradient accumulator (L·N/2·4)."""
    levels = max(1, int(math.log2(n)))
    tiles = math.ceil(levels / 2) + 1
    return threads * (tiles * 16 * n + levels * (n // 2) * 4) * 4


def _forward_case(n: int, batch: int, repeats: int, gen: torch.Generator) -> dict:
    """Median seconds of each forward at one (n, batch), all on the same input x."""
    Butterfly, KMatrix, _ = _classes()
    x = torch.randn(batch, n, generator=gen)
    W = torch.randn(n, n, generator=gen) / math.sqrt(n)
    bfly = Butterfly(n, generator=gen)
    km1 = KMatrix(n, width=1, generator=gen)
    km2 = KMatrix(n, width=2, generator=gen)
    tw = bfly.twiddle.detach().unsqueeze(0)
    x3 = x.unsqueeze(1)
    # BB* as one fused call over its 2 factors (strides decreasing then increasing)
    tw_chain = km1.twiddle.detach().reshape(2, 1, *km1.twiddle.shape[2:])
    fns = {
        "kernel": lambda: butterfly_multiply(tw, x3, True),
        "chain": lambda: butterfly_multiply(tw_chain, x3, [False, True]),
        "butterfly": lambda: bfly(x),
        "kmatrix1": lambda: km1(x),
        "kmatrix2": lambda: km2(x),
        "dense": lambda: F.linear(x, W),
        "rfft": lambda: torch.fft.rfft(x),
    }
    with torch.no_grad():
        return {k: median_time(f, repeats=repeats, min_time=0.05) for k, f in fns.items()}


def forward_table(sizes, repeats: int, gen: torch.Generator) -> tuple[list, dict]:
    rows, ratios = [], {}
    for n, batch in sizes:
        t = _forward_case(n, batch, repeats, gen)
        keys = ("kernel", "butterfly", "chain", "kmatrix1", "kmatrix2", "dense", "rfft")
        rows.append(
            [
                f"{n}x{batch}",
                *(t[k] * 1e3 for k in keys),
                t["dense"] / t["butterfly"],
                t["butterfly"] / t["rfft"],
                t["dense"] / t["kmatrix1"],
                t["dense"] / t["kmatrix2"],
                t["dense"] / t["chain"],
            ]
        )
        ratios[(n, batch)] = t
    headers = [
        "n x batch", "kernel ms", "Butterfly ms", "BB* 1 call", "KM(w=1) ms", "KM(w=2) ms",
        "dense ms", "rfft ms", "dense/B", "B/rfft", "dense/KM1", "dense/KM2", "dense/BB*call",
    ]  # fmt: skip
    return [headers, rows], ratios


def _layer_case(layer: nn.Module, x: torch.Tensor, repeats: int, memory: bool = True) -> dict:
    """Forward (no grad) and forward+backward medians, peak and saved bytes of one layer."""
    xg = x.clone().requires_grad_(True)

    def step():
        layer(xg).sum().backward()

    with torch.no_grad():
        fwd = median_time(lambda: layer(x), repeats=repeats, min_time=0.05)
    out = {"fwd": fwd, "fb": median_time(step, repeats=repeats, min_time=0.05)}
    if memory:
        out["peak"] = _peak_bytes(step)
        out["saved"] = _saved_bytes(lambda: layer(xg))
    return out


def klinear_table(sizes, repeats: int, gen: torch.Generator) -> tuple[list, dict]:
    _, _, KLinear = _classes()
    rows, ratios = [], {}
    threads = torch.get_num_threads()
    mib = 1 / 2**20
    for n, batch in sizes:
        x = torch.randn(batch, n, generator=gen)
        kl_layer = KLinear(n, n, generator=gen)
        kl = _layer_case(kl_layer, x, repeats)
        lin = _layer_case(nn.Linear(n, n), x, repeats)
        # the plain-PyTorch reference path, for the memory contrast (log2 N saved activations)
        previous = set_backend("reference")
        try:
            xg = x.clone().requires_grad_(True)
            ref_saved = _saved_bytes(lambda: kl_layer(xg))  # noqa: B023 (called right here)
        finally:
            set_backend(previous)
        rows.append(
            [
                f"{n}x{batch}",
                kl["fwd"] * 1e3,
                lin["fwd"] * 1e3,
                lin["fwd"] / kl["fwd"],
                kl["fb"] * 1e3,
                lin["fb"] * 1e3,
                lin["fb"] / kl["fb"],
                kl["peak"] * mib,
                _kernel_scratch_bytes(n, threads) * mib,
                lin["peak"] * mib,
                kl["saved"] * mib,
                ref_saved * mib,
                lin["saved"] * mib,
            ]
        )
        ratios[(n, batch)] = {"klinear_fb": kl["fb"], "linear_fb": lin["fb"]}
    headers = [
        "n x batch", "KL fwd ms", "Lin fwd ms", "Lin/KL", "KL f+b ms", "Lin f+b ms", "Lin/KL",
        "KL peak MiB", "+kernel scratch", "Lin peak MiB", "KL saved MiB", "KL(ref) saved MiB",
        "Lin saved MiB",
    ]  # fmt: skip
    return [headers, rows], ratios


def fallback_table(n: int, batch: int, repeats: int, gen: torch.Generator) -> tuple[list, dict]:
    """``KLinear(n, n)`` forward (no grad) and forward+backward on each backend: the fused
    kernel, the blocked plain-PyTorch fallback (``"torch"``) and the per-stage reference."""
    _, _, KLinear = _classes()
    x = torch.randn(batch, n, generator=gen)
    layer = KLinear(n, n, generator=gen)
    times = {}
    for backend in ("fused", "torch", "reference"):
        previous = set_backend(backend)
        try:
            case = _layer_case(layer, x, repeats, memory=False)
        finally:
            set_backend(previous)
        times[backend] = case
    rows = [
        [b, t["fwd"] * 1e3, t["fb"] * 1e3, t["fwd"] / times["fused"]["fwd"],
         t["fb"] / times["fused"]["fb"]]
        for b, t in times.items()
    ]  # fmt: skip
    headers = ["backend", "fwd ms", "f+b ms", "fwd / fused", "f+b / fused"]
    return [headers, rows], times


def _targets(fw: dict, kl: dict, fb: dict | None = None) -> list[str]:
    out = []

    def check(label, value, ok):
        out.append(f"  [{'met' if ok else 'MISSED'}] {label}: {value:.3g}")

    if (4096, 1024) in fw:
        t = fw[(4096, 1024)]
        check(
            "Butterfly fwd (4096,1024) dense/Butterfly >= 15",
            t["dense"] / t["butterfly"],
            t["dense"] >= 15 * t["butterfly"],
        )
        check(
            "Butterfly fwd (4096,1024) Butterfly/rfft <= 3 (aim 2)",
            t["butterfly"] / t["rfft"],
            t["butterfly"] <= 3 * t["rfft"],
        )
        check(
            "KMatrix(w=1) fwd (4096,1024) dense/KM >= 8",
            t["dense"] / t["kmatrix1"],
            t["dense"] >= 8 * t["kmatrix1"],
        )
    if (1024, 1024) in fw:
        t = fw[(1024, 1024)]
        check(
            "Butterfly fwd (1024,1024) dense/Butterfly >= 5",
            t["dense"] / t["butterfly"],
            t["dense"] >= 5 * t["butterfly"],
        )
    if (4096, 1024) in kl:
        t = kl[(4096, 1024)]
        check(
            "KLinear(4096) fwd+bwd batch 1024: Linear/KLinear >= 5",
            t["linear_fb"] / t["klinear_fb"],
            t["linear_fb"] >= 5 * t["klinear_fb"],
        )
    if fb:
        for key, label in (("fwd", "forward"), ("fb", "forward+backward")):
            ratio = fb["torch"][key] / fb["fused"][key]
            check(f"fallback (backend torch) / fused, KLinear {label} <= 4", ratio, ratio <= 4)
    return out  # fmt: skip


# ----------------------------------------------------------------------------- issue 12
SIZES_12 = [(1024, 1024), (4096, 1024)]
SMALL_N = 256


def _fwd_bwd_times(fwd, params, x, repeats: int) -> tuple[float, float]:
    """(forward median with no grad, forward+backward median) of ``fwd(x)``; the backward of
    sum(output) (real view for complex outputs) reaches x and ``params``."""
    xg = x.detach().clone().requires_grad_(True)

    def step():
        y = fwd(xg)
        (torch.view_as_real(y) if y.is_complex() else y).sum().backward()
        xg.grad = None
        for p in params:
            p.grad = None

    with torch.no_grad():
        f = median_time(lambda: fwd(x), repeats=repeats, min_time=0.05)
    return f, median_time(step, repeats=repeats, min_time=0.05)


def _fused_case(n: int, batch: int, repeats: int, gen: torch.Generator, dtype=torch.float32):
    Butterfly, _, _ = _classes()
    x = torch.randn(batch, n, generator=gen).to(dtype)
    bfly = Butterfly(n, generator=gen).to(dtype)
    return _fwd_bwd_times(bfly, list(bfly.parameters()), x, repeats)


def fused_table(sizes, repeats: int, gen: torch.Generator) -> tuple[list, dict]:
    """Butterfly (fused kernel) vs rfft vs dense, forward and forward+backward."""
    rows, out = [], {}
    for n, batch in sizes:
        bf, bfb = _fused_case(n, batch, repeats, gen)
        W = (torch.randn(n, n, generator=gen) / math.sqrt(n)).requires_grad_(True)
        x = torch.randn(batch, n, generator=gen)
        df, dfb = _fwd_bwd_times(lambda v, W=W: F.linear(v, W), [W], x, repeats)
        rf, rfb = _fwd_bwd_times(torch.fft.rfft, [], x, repeats)
        out[(n, batch)] = {"fwd": bf, "fb": bfb, "dense_fwd": df, "dense_fb": dfb,
                           "rfft_fwd": rf, "rfft_fb": rfb}  # fmt: skip
        rows.append([f"{n}x{batch}", bf * 1e3, bfb * 1e3, bfb / bf, df * 1e3, dfb * 1e3,
                     rf * 1e3, rfb * 1e3, bf / rf, bfb / rfb, df / bf, dfb / bfb])  # fmt: skip
    headers = ["n x batch", "B fwd ms", "B f+b ms", "B f+b/fwd", "dense fwd", "dense f+b",
               "rfft fwd", "rfft f+b", "B/rfft fwd", "B/rfft f+b", "dense/B fwd",
               "dense/B f+b"]  # fmt: skip
    return [headers, rows], out


def threads_table(n: int, batch: int, repeats: int, gen: torch.Generator) -> tuple[list, dict]:
    """Butterfly forward and forward+backward with 1 and 2 torch threads."""
    previous = torch.get_num_threads()
    times = {}
    try:
        for t in (1, 2):
            torch.set_num_threads(t)
            times[t] = _fused_case(n, batch, repeats, gen)
    finally:
        torch.set_num_threads(previous)
    rows = [[f"{t}", f * 1e3, fb * 1e3] for t, (f, fb) in times.items()]
    rows.append(["1 -> 2 speedup", times[1][0] / times[2][0], times[1][1] / times[2][1]])
    return [["threads", "B fwd ms", "B f+b ms"], rows], times


def precision_table(n: int, batch: int, repeats: int, gen: torch.Generator) -> tuple[list, dict]:
    """Butterfly forward and forward+backward in float32, bfloat16, float16."""
    times = {}
    for dt in (torch.float32, torch.bfloat16, torch.float16):
        times[dt] = _fused_case(n, batch, repeats, gen, dtype=dt)
    f32 = times[torch.float32]
    rows = [[str(dt).replace("torch.", ""), f * 1e3, fb * 1e3, f / f32[0], fb / f32[1]]
            for dt, (f, fb) in times.items()]  # fmt: skip
    return [["dtype", "B fwd ms", "B f+b ms", "fwd / f32", "f+b / f32"], rows], times


def _per_call_us(fn, calls: int, repeats: int) -> float:
    """Median over ``repeats`` of the mean time of ``calls`` back-to-back calls, in µs."""
    for _ in range(min(calls, 200)):
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter_ns() - t0) / calls / 1e3)
    return statistics.median(samples)


def small_call_table(n: int, calls: int, repeats: int, gen: torch.Generator) -> tuple[list, dict]:
    """Per-call time of one product with one vector (batch 1), no grad."""
    Butterfly, KMatrix, KLinear = _classes()
    x = torch.randn(1, n, generator=gen)
    W = torch.randn(n, n, generator=gen)
    fns = {
        "Butterfly": Butterfly(n, generator=gen),
        "KMatrix": KMatrix(n, generator=gen),
        "KLinear": KLinear(n, n, generator=gen),
        "dense F.linear": lambda v: F.linear(v, W),
        "nn.Linear": nn.Linear(n, n),
        "rfft": torch.fft.rfft,
    }
    with torch.no_grad():
        us = {k: _per_call_us(lambda f=f: f(x), calls, repeats) for k, f in fns.items()}
    rows = [[k, v, v / us["dense F.linear"], v / us["rfft"]] for k, v in us.items()]
    return [[f"n = {n}, 1 vector, no grad", "µs / call", "/ F.linear", "/ rfft"], rows], us


def gpu_rows(args) -> list[str]:
    """Triton / GPU rows of issue 12: measured by ``--device cuda``
    (:mod:`kmatrix.bench._butterfly_gpu`); here one line saying whether a CUDA device is
    present."""
    if not torch.cuda.is_available():
        return ["no CUDA device: GPU / Triton rows not measured"]
    line = "CUDA device present: `kmatrix bench butterfly --device cuda` prints the GPU rows"
    return [line]


def _targets_12(fused: dict, thr: dict, prec: dict, small: dict, fb: dict) -> list[str]:
    out = []

    def report(label, value, ok=None):
        tag = "info" if ok is None else ("met" if ok else "MISSED")
        out.append(f"  [{tag}] {label}: {value:.3g}")

    for (n, batch), t in fused.items():
        report(f"fused fwd ({n},{batch}) Butterfly / rfft", t["fwd"] / t["rfft_fwd"])
        report(f"fused fwd ({n},{batch}) dense / Butterfly", t["dense_fwd"] / t["fwd"])
        report(f"fused f+b ({n},{batch}) Butterfly / rfft", t["fb"] / t["rfft_fb"])
        report(f"fused f+b ({n},{batch}) dense / Butterfly", t["dense_fb"] / t["fb"])
        report(f"fused ({n},{batch}) f+b / fwd", t["fb"] / t["fwd"])
    if fb:
        for key, label in (("fwd", "forward"), ("fb", "forward+backward")):
            report(f"fallback 'torch' / fused, KLinear {label}", fb["torch"][key] / fb["fused"][key])
        bwd = {k: max(v["fb"] - v["fwd"], 1e-12) for k, v in fb.items()}
        report("fallback 'torch' / fused, KLinear backward (f+b - fwd)", bwd["torch"] / bwd["fused"])
        report("reference / fused, KLinear forward+backward", fb["reference"]["fb"] / fb["fused"]["fb"])
    if thr:
        report("1 -> 2 threads speedup, Butterfly fwd", thr[1][0] / thr[2][0])
        report("1 -> 2 threads speedup, Butterfly f+b", thr[1][1] / thr[2][1])
    for dt in (torch.bfloat16, torch.float16):
        if dt in prec:
            name = str(dt).replace("torch.", "")
            report(f"{name} / float32, Butterfly fwd", prec[dt][0] / prec[torch.float32][0])
            report(f"{name} / float32, Butterfly f+b", prec[dt][1] / prec[torch.float32][1])
    for k in ("Butterfly", "KMatrix"):
        if k in small:
            report(f"small call n={SMALL_N}: {k} µs/call <= 10 (unloaded machine)", small[k],
                   small[k] <= 10)  # fmt: skip
            report(f"small call n={SMALL_N}: {k} / dense F.linear", small[k] / small["dense F.linear"])
    if "KLinear" in small:
        report(f"small call n={SMALL_N}: KLinear / nn.Linear", small["KLinear"] / small["nn.Linear"])
    return out


def _parse_size(p: argparse.ArgumentParser, text: str) -> tuple[int, int]:
    """'n:batch' with n a power of two ≥ 2 and batch ≥ 1 (else a usage error naming the pair)."""
    try:
        n, batch = (int(v) for v in text.split(":"))
    except ValueError:
        p.error(f"--sizes: expected n:batch pairs of integers such as 1024:64, got {text!r}")
    if n < 2 or n & (n - 1):
        p.error(f"--sizes: n must be a power of two >= 2 (butterflies act on 2^k entries), got {n} in {text!r}")
    if batch < 1:
        p.error(f"--sizes: batch must be >= 1, got {batch} in {text!r}")
    return n, batch


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="kmatrix bench butterfly", description=__doc__.split("\n\n")[0]
    )
    p.add_argument("--repeats", type=int, default=7, help="timed repeats per measurement (median)")
    p.add_argument(
        "--sizes", type=str, nargs="+", default=None,
        help="n:batch pairs (default 1024:1024 4096:1024 4096:64 256:1)",
    )  # fmt: skip
    p.add_argument("--skip-klinear", action="store_true", help="no KLinear vs nn.Linear table")
    p.add_argument(
        "--skip-fallback", action="store_true", help="no fused/torch/reference backend table"
    )
    p.add_argument(
        "--fallback-size", type=str, default="1024:1024", help="n:batch of the backend table"
    )
    p.add_argument(
        "--device", choices=("cpu", "cuda"), default="cpu",
        help="cuda: the triton kernels vs rfft / dense / Monarch on the GPU (n 1024..16384, "
        "batch 256..16384, or the grid of --sizes' n and batch values); see kmatrix.bench."
        "_butterfly_gpu",
    )  # fmt: skip
    p.add_argument(
        "--compile-jobs", type=int, default=None,
        help="--device cuda: processes compiling the triton kernels first (default: CPUs - 1; "
        "0: compile lazily inside the timed warm-up)",
    )  # fmt: skip
    p.add_argument("--skip-issue12", action="store_true",
                   help="no issue-12 section (fused vs rfft/dense, threads, half precision, "
                   "small calls, GPU)")  # fmt: skip
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes and one repeat (a smoke test of every table, seconds; "
                   "the figures mean nothing)")  # fmt: skip
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error(f"--repeats: expected a positive count, got {args.repeats}")
    sizes = SIZES if args.sizes is None else [_parse_size(p, s) for s in args.sizes]
    if args.device == "cuda":  # --- GPU table (issue 12) ---
        from . import _butterfly_gpu as gpu

        problem = gpu.cuda_problem()
        if problem is not None:
            p.error(f"--device cuda: {problem}")
        ns = None if args.sizes is None else sorted({n for n, _ in sizes})
        batches = None if args.sizes is None else sorted({b for _, b in sizes})
        return gpu.main(
            args.repeats, ns, batches, skip_klinear=args.skip_klinear, compile_jobs=args.compile_jobs
        )
    sizes12, size_thr, size_prec, small_calls = SIZES_12, (4096, 1024), (1024, 1024), 10_000
    if args.quick:
        args.repeats = 1
        if args.sizes is None:
            sizes = [(64, 16), (256, 1)]
        args.fallback_size = "64:16" if args.fallback_size == "1024:1024" else args.fallback_size
        sizes12, size_thr, size_prec, small_calls = [(64, 16), (128, 16)], (128, 16), (64, 16), 200
    gen = torch.Generator().manual_seed(0)
    backend = get_backend()
    print(f"kmatrix bench butterfly: float32, torch threads = {torch.get_num_threads()}, "
          f"backend = {backend}, median of {args.repeats} repeats (each ≥ 50 ms of calls)\n")  # fmt: skip
    (headers, rows), fw = forward_table(sizes, args.repeats, gen)
    print(
        "Forward (no grad); kernel = raw butterfly_multiply (one butterfly); BB* 1 call = the "
        "raw kernel on KMatrix(w=1)'s two factors in one fused call; B = Butterfly, KM = KMatrix"
    )
    print(format_table(headers, rows))
    kl: dict = {}
    if not args.skip_klinear:
        (headers, rows), kl = klinear_table(sizes, args.repeats, gen)
        print("\nKLinear(n, n) vs nn.Linear(n, n): forward (no grad), forward+backward, memory")
        print(format_table(headers, rows))
    fb: dict = {}
    if not args.skip_fallback:
        n, batch = (int(v) for v in args.fallback_size.split(":"))
        (headers, rows), fb = fallback_table(n, batch, args.repeats, gen)
        print(f"\nKLinear({n}, {n}) at batch {batch} on each backend (fused kernel, blocked "
              "plain-PyTorch fallback 'torch', per-stage 'reference')")  # fmt: skip
        print(format_table(headers, rows))
    lines = _targets(fw, kl, fb)
    if not args.skip_issue12:
        lines += _issue12(args, sizes12, size_thr, size_prec, small_calls, fb, gen)
    if lines:
        print("\nTargets (issues 3 and 12; same-run ratios):")
        print("\n".join(lines))
    return 0


def _issue12(args, sizes12, size_thr, size_prec, small_calls, fb, gen) -> list[str]:
    """Print the issue-12 tables; return their target lines."""
    r = args.repeats
    print("\nIssue 12 — fused Butterfly(n) vs rfft and dense F.linear, forward (no grad) and "
          "forward+backward, ms (median)")  # fmt: skip
    (headers, rows), fused = fused_table(sizes12, r, gen)
    print(format_table(headers, rows))
    n, batch = size_thr
    print(f"\nIssue 12 — threads: Butterfly({n}) at batch {batch}")
    (headers, rows), thr = threads_table(n, batch, r, gen)
    print(format_table(headers, rows))
    n, batch = size_prec
    print(f"\nIssue 12 — half precision: Butterfly({n}) at batch {batch} (backend "
          f"{get_backend()}; the kernel's dtypes run it, others the blocked path)")  # fmt: skip
    (headers, rows), prec = precision_table(n, batch, r, gen)
    print(format_table(headers, rows))
    print(f"\nIssue 12 — small calls: per-call time over {small_calls} calls (median of "
          f"{max(r, 3)} repeats)")  # fmt: skip
    (headers, rows), small = small_call_table(SMALL_N, small_calls, max(r, 3), gen)
    print(format_table(headers, rows))
    print("\nIssue 12 — GPU")
    print("\n".join("  " + line for line in gpu_rows(args)))
    return _targets_12(fused, thr, prec, small, fb)
