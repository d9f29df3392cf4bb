"""Launch shapes of the Triton butterfly kernels on a GPU: time per (tile size, warps).

    PYTHONPATH=. python benchmarks/triton_sweep.py [--ns 1024 4096] [--batch 16384] [--compile-only]

For each n, float32, F = 2 factors (a K-matrix of width 1, one launch): the forward and the
backward kernel at every tile size (float32 values per tile component, rows per tile =
tile / n) and ``num_warps`` in the grids below, each configuration compiled first in parallel
processes (triton's disk cache then serves the timing process), then timed with CUDA events
(median of 5 repeats, each ≥ 20 ms). Prints one line per configuration with its time and
achieved bandwidth (x read + y written, and for the backward also g read, as a fraction of a
measured 1 GiB device copy), marks the best, and the configuration kmatrix uses by default
(:func:`kmatrix.kernels.triton._launch_shape`). A measurement to choose those defaults from,
not part of the test suite (CI has no GPU).
"""

from __future__ import annotations

import argparse
import multiprocessing
import time

import torch

from kmatrix.kernels.triton import _launch_shape as DEFAULT_SHAPE

FWD_TILES = [8192, 16384, 32768]  # around the default (kmatrix.kernels.triton.FORWARD_TILE)
BWD_TILES = [4096, 8192, 16384]  # around BACKWARD_TILE
WARPS = [4, 8, 16]


def _patch(tk, elems: int, warps: int) -> None:
    """Make the kernels use tiles of ``elems`` values and ``warps`` warps (the rows per tile
    still from kmatrix's own rule, :data:`DEFAULT_SHAPE`)."""

    def shape(batch, n, complex_x, _elems, backward=False):
        return DEFAULT_SHAPE(batch, n, complex_x, elems, backward)[0], warps

    tk._launch_shape = shape


def _compile(task):
    kind, n, elems, warps, _batch = task
    from kmatrix.kernels import triton as tk

    _patch(tk, elems, warps)
    L = n.bit_length() - 1
    tw = torch.zeros(2, 1, L, n // 2, 2, 2, device="cuda")
    x = torch.zeros(256, 1, n, device="cuda")
    t0 = time.perf_counter()
    try:
        if kind == "fwd":
            tk.forward(tw, x, [False, True])
        else:
            tk.backward(tw, x, x, [False, True])
        torch.cuda.synchronize()
    except Exception as exc:  # noqa: BLE001 - a configuration the compiler refuses: reported
        return task, f"{type(exc).__name__}: {str(exc)[:200]}"
    return task, f"{time.perf_counter() - t0:.0f} s"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ns", type=int, nargs="+", default=[1024, 4096])
    p.add_argument("--batch", type=int, default=16384)
    p.add_argument("--jobs", type=int, default=14)
    p.add_argument("--compile-only", action="store_true", help="fill triton's cache, time nothing")
    p.add_argument("--fwd-tiles", type=int, nargs="*", default=FWD_TILES)
    p.add_argument("--bwd-tiles", type=int, nargs="*", default=BWD_TILES)
    p.add_argument("--warps", type=int, nargs="+", default=WARPS, help="num_warps, forward")
    p.add_argument("--bwd-warps", type=int, nargs="+", default=WARPS, help="num_warps, backward")
    p.add_argument(
        "--blocked",
        action="store_true",
        help="also time the plain-torch 'torch' backend (batched matmuls) on the GPU",
    )
    a = p.parse_args()
    from kmatrix.bench._butterfly_gpu import cuda_time, peak_bandwidth
    from kmatrix.kernels import triton as tk

    tasks = []
    for n in a.ns:
        for kind, tiles in (("fwd", a.fwd_tiles), ("bwd", a.bwd_tiles)):
            heights = set()  # one tile size per distinct tile height
            for elems in tiles:
                bb = max(1, elems // n)
                if bb not in heights:
                    heights.add(bb)
                    warps = a.warps if kind == "fwd" else a.bwd_warps
                    tasks += [(kind, n, elems, w, a.batch) for w in warps]
    t0 = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(a.jobs) as pool:
        compiled = dict(pool.map(_compile, tasks, chunksize=1))
    print(f"compiled {len(tasks)} configurations in {time.perf_counter() - t0:.0f} s", flush=True)
    if a.compile_only:
        return 0
    peak = peak_bandwidth(5)
    print(f"measured peak bandwidth: {peak / 1e9:.0f} GB/s")
    gen = torch.Generator(device="cuda").manual_seed(0)
    for n in a.ns:
        L = n.bit_length() - 1
        tw = torch.randn(2, 1, L, n // 2, 2, 2, device="cuda", generator=gen) / 2**0.5
        x = torch.randn(a.batch, 1, n, device="cuda", generator=gen)
        g = torch.randn_like(x)
        if a.blocked:
            from kmatrix.kernels import butterfly_multiply

            twg = tw.clone().requires_grad_(True)
            xg = x.clone().requires_grad_(True)
            for backend in ("torch", "triton"):

                def fwd(b=backend, tw=tw, x=x):
                    return butterfly_multiply(tw, x, [False, True], backend=b)

                def fwd_bwd(b=backend, tw=twg, x=xg, g=g):
                    butterfly_multiply(tw, x, [False, True], backend=b).backward(g)

                with torch.no_grad():
                    tf = cuda_time(fwd, 5)
                tfb = cuda_time(fwd_bwd, 5)
                print(f"backend {backend:6s} n={n:5d} batch={a.batch}: fwd {tf * 1e3:8.3f} ms, "
                      f"fwd+bwd {tfb * 1e3:8.3f} ms", flush=True)  # fmt: skip
        for kind, tiles in (("fwd", a.fwd_tiles), ("bwd", a.bwd_tiles)):
            rows = []
            for elems in tiles:
                for w in a.warps if kind == "fwd" else a.bwd_warps:
                    task = (kind, n, elems, w, a.batch)
                    if task not in compiled:
                        continue
                    if not compiled[task].endswith(" s"):
                        print(f"{kind} n={n} tile={elems} warps={w}: {compiled[task]}")
                        continue
                    _patch(tk, elems, w)
                    if kind == "fwd":
                        t = cuda_time(lambda: tk.forward(tw, x, [False, True]), 5)  # noqa: B023
                        io = 2 * x.numel() * 4
                    else:
                        t = cuda_time(lambda: tk.backward(tw, x, g, [False, True]), 5)  # noqa: B023
                        io = 3 * x.numel() * 4
                    bb, _ = tk._launch_shape(a.batch, n, False, elems)
                    rows.append((t, elems, w, bb, io / t / peak))
            tk._launch_shape = DEFAULT_SHAPE
            dbb, dw = DEFAULT_SHAPE(a.batch, n, False,
                                    tk.FORWARD_TILE if kind == "fwd" else tk.BACKWARD_TILE,
                                    backward=kind == "bwd")  # fmt: skip
            best = min(rows)[0] if rows else None
            for t, elems, w, bb, frac in rows:
                mark = (" <- best" if t == best else "") + (
                    " (default)" if (bb, w) == (dbb, dw) else "")  # fmt: skip
                print(f"{kind} n={n:5d} batch={a.batch} tile={elems:5d} rows={bb:3d} warps={w:2d}: "
                      f"{t * 1e3:8.3f} ms  bw frac {frac:.2f}{mark}", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
