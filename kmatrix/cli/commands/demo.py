"""``kmatrix demo``: a tour of the families on embedded defaults.

Each zoo family (one configuration per family: the entries with ``bench=True``) is built at a useful size (n = 1024 by default) in float64, its fast product is
checked against the dense definition computed independently (scipy / numpy / explicit formula),
and a table reports family, shape, parameters, flops per matvec, time of the fast product
relative to the dense one, and the normwise error ‖ŷ − y‖ / (‖W‖_F ‖x‖).
"""

from __future__ import annotations

from .._args import int_at_least

import time


def _families(args) -> bool:
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from ...bench._timing import format_table, median_time
    from ...families.dense import dense_flops
    from ...testing import ZOO
    from ...testing.battery import normwise_error, random_tensor

    gen = torch.Generator().manual_seed(args.seed)
    rows, worst = [], 0.0
    t0 = time.perf_counter()
    for entry in tqdm([e for e in ZOO if e.bench], desc="demo", unit="family"):
        M = entry.make(args.n, torch.float64, gen)
        ref = entry.reference(M)
        ref = ref.to(torch.complex128) if M.is_complex else (ref.real if ref.is_complex() else ref).double()
        x = random_tensor((args.batch, M.shape[1]), M.dtype, gen)
        with torch.no_grad():
            y = M(x)
            err = normwise_error(y, x.to(ref.dtype) @ ref.T, ref, x)
            W = ref.to(M.dtype)
            t_fast = median_time(lambda M=M, x=x: M(x), repeats=5, min_time=0.01)
            t_dense = median_time(lambda x=x, W=W: F.linear(x, W), repeats=5, min_time=0.01)
        worst = max(worst, err / entry.tolerance(M.dtype))
        rows.append([entry.name, f"{M.shape[0]}x{M.shape[1]}", M.num_params, M.flops,
                     dense_flops(*M.shape, M.is_complex), t_fast / t_dense, err])
    print(format_table(["family", "shape", "params", "flops/matvec", "dense flops", "time vs dense", "error"], rows))
    print(f"\nfloat64, batch {args.batch}; 'time vs dense' = fast / dense (below 1: faster); "
          f"error = ||y_fast - y_ref|| / (||W||_F ||x||) against an independent dense reference. "
          f"{len(rows)} families in {time.perf_counter() - t0:.1f} s.")
    if worst > 1:
        print("FAILED: some family exceeded its tolerance")
        return False
    print("all fast products agree with their dense definitions")
    return True


def _transforms(args) -> bool:
    """Exact K-matrix constructions (survey §5) against numpy / scipy / torch references."""
    import numpy as np
    import scipy.fft
    import scipy.linalg
    import torch

    from ... import transforms
    from ...bench._timing import format_table

    n = 1 << max(3, (args.n - 1).bit_length() - 2)  # a power of two near n/4: dense checks stay cheap
    g = torch.Generator().manual_seed(args.seed)
    c = torch.randn(n, dtype=torch.float64, generator=g)
    r = torch.randn(n, dtype=torch.float64, generator=g)
    r[0] = c[0]
    k = torch.randn(5, dtype=torch.float64, generator=g)
    eye = np.eye(n)
    cases = [
        ("dft", transforms.dft(n, dtype=torch.complex128), np.fft.fft(eye, axis=0)),
        ("idft", transforms.idft(n, dtype=torch.complex128), np.fft.ifft(eye, axis=0)),
        ("hadamard", transforms.hadamard(n, dtype=torch.float64), scipy.linalg.hadamard(n)),
        ("dct-II", transforms.dct(n, dtype=torch.float64), scipy.fft.dct(eye, norm="ortho", axis=0)),
        ("dst-II", transforms.dst(n, dtype=torch.float64), scipy.fft.dst(eye, norm="ortho", axis=0)),
        ("circulant", transforms.circulant(c), scipy.linalg.circulant(c.numpy())),
        ("toeplitz", transforms.toeplitz(c, r), scipy.linalg.toeplitz(c.numpy(), r.numpy())),
        ("convolution", transforms.convolution(k, n), np.stack([np.convolve(k.numpy(), e) for e in eye], axis=1)),
    ]
    rows, ok = [], True
    for name, M, ref in cases:
        ref = torch.as_tensor(ref).to(torch.complex128)
        err = float((M.to_dense().detach().to(torch.complex128) - ref).norm() / ref.norm())
        ok &= err <= 1e-10
        inner = next((m for m in M.modules() if hasattr(m, "width")), None)
        shape = "x".join(map(str, M.shape))
        width = f"{inner.width}, {inner.expansion}" if inner is not None else "-"
        rows.append([name, shape, type(M).__name__, width, M.num_params, M.flops, err])
    print(format_table(["transform", "shape", "class", "width, expansion", "params", "flops", "rel. error"], rows))
    print("exact constructions of kmatrix.transforms vs numpy/scipy (float64/complex128; tolerance 1e-10)")
    return ok


def _circuits(args) -> bool:
    """Circuits (§2.5, §3, §4.6): sizes, Baur–Strassen, transposition, sparse factors."""
    import torch

    from ... import circuits
    from ...bench._timing import format_table

    rows, ok = [], True
    for name, c in [("fft(16)", circuits.fft(16)), ("hadamard(16)", circuits.hadamard(16)),
                    ("prefix_sums(16)", circuits.prefix_sums(16)), ("horner(8)", circuits.horner(8)),
                    ("polynomial_multiply(8)", circuits.polynomial_multiply(8))]:
        grad = c.gradient_circuit().size
        if c.is_linear:
            t_rev = c.transpose(method="reverse")
            t_bs = c.transpose(method="baur-strassen")
            W = c.to_dense()
            ok &= bool(torch.allclose(t_rev.to_dense(), W.T, atol=1e-12))
            S = c.to_sparse_factors()
            ok &= bool(torch.allclose(S.to_dense().to(W.dtype), W, atol=1e-12))
            extra = [t_rev.size, t_bs.size, "/".join(map(str, S.nnz_per_factor))]
        else:
            extra = ["-", "-", "-"]
        rows.append([name, c.size, c.depth, "yes" if c.is_linear else "no", grad, f"{grad / c.size:.2f}", *extra])
    print(format_table(["circuit", "size", "depth", "linear", "grad size", "grad/size",
                        "transpose (reverse)", "transpose (B-S)", "sparse factors nnz"], rows))
    print("Baur-Strassen gradient circuits, both transposition methods and Theorem 4.5's sparse factors "
          "(checked against the dense matrix)")
    return ok


def _run(args) -> int:
    ok = _families(args)
    print()
    ok &= _transforms(args)
    print()
    ok &= _circuits(args)
    return 0 if ok else 1


def register(sub) -> None:
    p = sub.add_parser("demo", help="tour of the structured families (checks and timings)",
                       epilog="example: kmatrix demo --n 256 --batch 4")
    p.add_argument("--n", type=int_at_least(8), default=1024, help="matrix size, at least 8 (default 1024)")
    p.add_argument("--batch", type=int_at_least(1), default=16, help="number of vectors (default 16)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_run)
