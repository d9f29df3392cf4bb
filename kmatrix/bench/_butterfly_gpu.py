"""``kmatrix bench butterfly --device cuda``: the Triton butterfly kernels on a GPU.

Measured in one run, float32, medians of repeats timed with CUDA events (each repeat: enough
back-to-back calls for ≥ 20 ms between two events, after warm-up; ``torch.cuda.synchronize``
before reading them):

1. Forward at n ∈ {1024, …, 16384}, batch ∈ {256, …, 16384} on the same x (batch, n): the raw
   ``butterfly_multiply`` of one butterfly (F = 1) and of BB* (F = 2, one fused launch) on the
   triton kernel (``backend="triton"``), BB* on the plain-torch path (``backend="torch"``, the
   automatic choice's alternative), ``torch.fft.rfft(x)``, a dense ``F.linear(x, W)`` (n×n) and a
   two-bmm Monarch (block-diagonal R of √n blocks, permutation, block-diagonal L; n = m1·m2).
   Achieved bandwidth of the kernel = (bytes of x read + y written) / time, as a fraction of
   the device's peak, *measured* here as the rate of a large device-to-device copy (1 GiB
   read + 1 GiB written); rfft's counts its real input and complex output. The twiddle
   (re-read per tile, mostly from L2) is not counted: the fraction is a lower bound.
2. ``KLinear(n, n)`` (the automatic choice for CUDA tensors: triton, or the torch path where it
   measured faster, :func:`kmatrix.kernels.triton.cuda_prefers_torch`) vs ``nn.Linear(n, n)``:
   forward (no grad) and forward+backward (x and parameters require grad).

Each size takes one compilation per kernel configuration (seconds each, cached on disk by
triton); the first call at a size is excluded from timing (warm-up).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from ..kernels import butterfly_multiply
from ._timing import format_table

DEVICE = "cuda"  # a module constant so that a CPU dry run of the table code can replace it
KERNEL = "triton"  # the B / BB* columns: the kernel itself, whatever the automatic choice
COPY_NUMEL = 2**28  # float32 entries of the peak-bandwidth copy (1 GiB)
NS = [1024, 2048, 4096, 8192, 16384]
BATCHES = [256, 1024, 4096, 8192, 16384]  # 8192: the KLinear target


def cuda_problem() -> str | None:
    """None when a CUDA device and triton are usable, else what is missing."""
    if not torch.cuda.is_available():
        return "no CUDA device is available (torch.cuda.is_available() is False)"
    from ..kernels import triton as tk

    return tk.unavailable_reason()


def _compile_task(task: tuple[str, int, int]) -> tuple[str, int, int, float]:
    """Run one kernel configuration once on tiny data (compiles it into triton's disk cache)."""
    kind, n, factors = task
    from ..kernels import triton as tk

    L = n.bit_length() - 1
    tw = torch.zeros(factors, 1, L, n // 2, 2, 2, device=DEVICE)
    # 256 rows: the tile height of every batch >= 256, and a tile count divisible by 16 (triton
    # specialises integer arguments on divisibility by 16, so fewer rows would compile another
    # variant of the backward than the benchmark batches use)
    x = torch.zeros(256, 1, n, device=DEVICE)
    incs = [True] if factors == 1 else [False, True] * (factors // 2)
    t0 = time.perf_counter()
    if kind == "fwd":
        tk.forward(tw, x, incs)
    else:
        tk.backward(tw, x, x, incs)
    torch.cuda.synchronize()
    return kind, n, factors, time.perf_counter() - t0


def precompile(ns, jobs: int | None = None) -> None:
    """Compile the configurations the tables use, in parallel processes (triton compiles each
    (n, factors, kind) once, single-threaded, tens of seconds for the large backward kernels;
    the disk cache then serves this process)."""
    from ..kernels import triton as tk

    # the backward kernel runs only where the automatic choice takes triton with a gradient
    tasks = [("bwd", n, 2) for n in sorted(ns, reverse=True) if not tk.cuda_prefers_torch(n, True)]
    tasks += [(k, n, f) for n in sorted(ns, reverse=True) for k, f in (("fwd", 2), ("fwd", 1))]
    jobs = jobs or max(1, min(len(tasks), (os.cpu_count() or 2) - 1))
    t0 = time.perf_counter()
    print(f"compiling {len(tasks)} kernel configurations in {jobs} processes ...", flush=True)
    with multiprocessing.get_context("spawn").Pool(jobs) as pool:
        done = pool.map(_compile_task, tasks, chunksize=1)
    slowest = max(done, key=lambda d: d[3])
    print(f"compiled in {time.perf_counter() - t0:.0f} s (slowest: {slowest[0]} n={slowest[1]} "
          f"F={slowest[2]}, {slowest[3]:.0f} s)\n", flush=True)  # fmt: skip


def cuda_time(fn, repeats: int, min_time: float = 0.02) -> float:
    """Median seconds per call of ``fn`` on the current CUDA stream (CUDA events)."""
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    once = max(start.elapsed_time(end) / 1e3, 1e-6)
    loops = max(1, min(1000, math.ceil(min_time / once)))
    samples = []
    for _ in range(repeats):
        start.record()
        for _ in range(loops):
            fn()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end) / 1e3 / loops)
    return statistics.median(samples)


def peak_bandwidth(repeats: int) -> float:
    """Bytes/s of a 1 GiB device-to-device copy (read + write counted): the measured peak."""
    src = torch.empty(COPY_NUMEL, dtype=torch.float32, device=DEVICE)
    dst = torch.empty_like(src)
    t = cuda_time(lambda: dst.copy_(src), repeats)
    return 2 * src.numel() * 4 / t


def _monarch(n: int, gen: torch.Generator):
    """Two-bmm Monarch on n = m1·m2: block-diagonal R (m1 blocks m2×m2), a transpose of the
    (m1, m2) grid, block-diagonal L (m2 blocks m1×m1); x (b, n) -> (b, n)."""
    m1 = 1 << ((n.bit_length() - 1) // 2)
    m2 = n // m1
    R = (torch.randn(m1, m2, m2, generator=gen) / math.sqrt(m2)).to(DEVICE)
    Lb = (torch.randn(m2, m1, m1, generator=gen) / math.sqrt(m1)).to(DEVICE)

    def apply(x):
        b = x.shape[0]
        h = torch.bmm(x.view(b, m1, m2).transpose(0, 1), R)  # (m1, b, m2): blocks of R
        y = torch.bmm(h.permute(2, 1, 0), Lb)  # (m2, b, m1): blocks of L on the transpose
        return y.permute(1, 0, 2).reshape(b, n)

    return apply


def forward_table(repeats: int, peak: float, gen: torch.Generator, ns, batches):
    from .. import KMatrix

    rows = []
    for n in ns:
        L = n.bit_length() - 1
        tw1 = (torch.randn(1, 1, L, n // 2, 2, 2, generator=gen) / math.sqrt(2)).to(DEVICE)
        km = KMatrix(n, width=1, generator=gen).to(DEVICE)
        tw2 = km.twiddle.detach().reshape(2, 1, L, n // 2, 2, 2).contiguous()
        W = (torch.randn(n, n, generator=gen) / math.sqrt(n)).to(DEVICE)
        monarch = _monarch(n, gen)
        for b in batches:
            x = torch.randn(b, n, device=DEVICE)
            x3 = x.unsqueeze(1)
            with torch.no_grad():
                t = {
                    "B": cuda_time(lambda: butterfly_multiply(tw1, x3, [True], backend=KERNEL), repeats),  # noqa: B023
                    "BB*": cuda_time(lambda: butterfly_multiply(tw2, x3, [False, True], backend=KERNEL), repeats),  # noqa: B023
                    "BB* torch": cuda_time(
                        lambda: butterfly_multiply(tw2, x3, [False, True], backend="torch"), repeats  # noqa: B023
                    ),
                    "rfft": cuda_time(lambda: torch.fft.rfft(x), repeats),  # noqa: B023
                    "dense": cuda_time(lambda: F.linear(x, W), repeats),  # noqa: B023
                    "monarch": cuda_time(lambda: monarch(x), repeats),  # noqa: B023
                }  # fmt: skip
            io = 2 * b * n * 4
            rfft_io = b * n * 4 + b * (n // 2 + 1) * 8
            rows.append([
                f"{n}x{b}", *(t[k] * 1e3 for k in ("B", "BB*", "BB* torch", "rfft", "dense", "monarch")),
                t["B"] / t["rfft"], t["dense"] / t["B"], t["monarch"] / t["BB*"],
                io / t["B"] / peak, io / t["BB*"] / peak, rfft_io / t["rfft"] / peak,
            ])  # fmt: skip
    headers = [
        "n x batch", "B ms", "BB* ms", "BB* torch ms", "rfft ms", "dense ms", "monarch ms", "B/rfft",
        "dense/B", "monarch/BB*", "B bw frac", "BB* bw frac", "rfft bw frac",
    ]  # fmt: skip
    return headers, rows


def klinear_table(repeats: int, gen: torch.Generator, ns, batches):
    from ..nn import KLinear

    rows = []
    for n in ns:
        kl = KLinear(n, n, generator=gen).to(DEVICE)
        lin = nn.Linear(n, n).to(DEVICE)
        for b in batches:
            x = torch.randn(b, n, device=DEVICE)
            xg = x.clone().requires_grad_(True)
            t = {}
            for name, layer in (("kl", kl), ("lin", lin)):
                with torch.no_grad():
                    t[name + "_f"] = cuda_time(lambda: layer(x), repeats)  # noqa: B023
                t[name + "_fb"] = cuda_time(lambda: layer(xg).sum().backward(), repeats)  # noqa: B023
            rows.append([
                f"{n}x{b}", t["kl_f"] * 1e3, t["lin_f"] * 1e3, t["lin_f"] / t["kl_f"],
                t["kl_fb"] * 1e3, t["lin_fb"] * 1e3, t["lin_fb"] / t["kl_fb"],
            ])  # fmt: skip
    headers = ["n x batch", "KL fwd ms", "Lin fwd ms", "Lin/KL", "KL f+b ms", "Lin f+b ms",
               "Lin/KL f+b"]  # fmt: skip
    return headers, rows


def main(
    repeats: int, ns=None, batches=None, skip_klinear: bool = False, compile_jobs: int | None = None
) -> int:
    from ..kernels import get_backend

    ns = NS if ns is None else ns
    batches = BATCHES if batches is None else batches
    gen = torch.Generator().manual_seed(0)
    name = torch.cuda.get_device_name() if DEVICE == "cuda" else DEVICE
    if compile_jobs != 0:
        precompile(ns, compile_jobs)
    peak = peak_bandwidth(repeats)
    print(f"kmatrix bench butterfly --device cuda: {name}, float32, backend {get_backend()} "
          f"(triton for CUDA tensors), median of {repeats} repeats (CUDA events, ≥ 20 ms each)")  # fmt: skip
    print(f"measured peak bandwidth (1 GiB device copy, read + write): {peak / 1e9:.0f} GB/s\n")
    headers, rows = forward_table(repeats, peak, gen, ns, batches)
    print("Forward (no grad): B = butterfly_multiply one butterfly, BB* = two factors in one "
          "launch (KMatrix w=1), both on the triton kernel; BB* torch = the same on the plain-torch "
          "path (batched matmuls); bw frac = (x + y bytes) / time / measured peak")  # fmt: skip
    print(format_table(headers, rows), flush=True)
    if not skip_klinear:
        headers, rows = klinear_table(repeats, gen, ns, batches)
        print("\nKLinear(n, n) vs nn.Linear(n, n): forward (no grad), forward+backward "
              "(KLinear on the automatic choice: triton, or the torch path where it measured faster)")
        print(format_table(headers, rows))
    return 0
