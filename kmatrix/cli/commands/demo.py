"""``kmatrix demo``: the tour a new user runs first, on embedded defaults (≤ 3 min on 2 cores;
``--quick`` ≤ 30 s), writing its files into ./kmatrix-demo/ (or ``--out DIR``):

1. learn: the DFT (n = 256; 32 with ``--quick``) learned from samples by a width-1 complex
   K-matrix (survey Definition 3.2 and Algorithm 1's question, answered by Adam on unitary
   blocks then L-BFGS), with a live progress bar; ``learn_dft.png`` shows the error falling.
2. atlas: a small expressivity atlas (dft, hadamard, convolution × every learnable family at
   matched budgets): ``atlas.csv`` and ``atlas.png``.
3. families / transforms / circuits: the checks below.

``--only SECTION[,SECTION]`` runs some sections (learn, atlas, families, transforms, circuits).

Families: each zoo family (one configuration per family: the entries with ``bench=True``) is built at a useful size (n = 1024 by default) in float64, its fast product is
checked against the dense definition computed independently (scipy / numpy / explicit formula),
and a table reports family, shape, parameters, flops per matvec, time of the fast product
relative to the dense one, and the normwise error ‖ŷ − y‖ / (‖W‖_F ‖x‖).
"""

from __future__ import annotations

import time

from .._args import int_at_least


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


def _learn(args) -> tuple[bool, list[str]]:
    """The DFT learned from samples by a width-1 complex K-matrix; error curve as PNG."""
    import os

    from ...learn import recover
    from ...learn.report import history_curve, plot_curves

    n = 32 if args.quick else args.learn_n
    print(f"Learning the {n}-point DFT from random samples with a width-1 complex K-matrix "
          f"(BB*, {4 * n * (n.bit_length() - 1)} parameters): Adam on unitary 2x2 blocks, then L-BFGS")
    rec = recover("dft", "kmatrix", n, width=1, restarts=3, success=1e-6, seed=args.seed,
                  max_time=20.0 if args.quick else 150.0, progress=None, init="random")
    print(f"({rec.samples} random samples)")
    errs = ", ".join(f"{e:.1e}" for e in rec.errors)
    ok = rec.error <= 1e-6
    print(f"relative error ||W - F||_F / ||F||_F = {rec.error:.2e} after {rec.restarts} restart(s) ({errs}) "
          f"in {rec.total_time:.1f} s: {'recovered' if ok else 'NOT recovered'} (goal 1e-6)")
    # the default start with n samples: least squares, projected onto BB*, then L-BFGS
    proj = recover("dft", "kmatrix", n, width=1, restarts=1, seed=args.seed, samples=n, init="project",
                   max_time=20.0, progress=False)
    print(f"with {n} samples and the projected start (init='project', the default from n samples): "
          f"error {proj.error:.2e} in {proj.total_time:.2f} s")
    files = []
    try:
        path = os.path.join(args.out, "learn_dft.png")
        t, e = history_curve(rec.histories)
        plot_curves(path, [("K-matrix (BB*, width 1)", t, e)], f"learning the DFT from samples, n = {n}")
        files.append(path)
    except ImportError:
        print("(matplotlib is not installed: no PNG; pip install 'kmatrix[plot]')")
    return ok, files


def _atlas(args) -> tuple[bool, list[str]]:
    """A small atlas: 3 targets × every learnable family at matched budgets."""
    import math
    import os

    from ...learn.atlas import atlas
    from ...learn.report import plot_atlas, write_csv
    from .atlas import summary_lines

    n = 16 if args.quick else 32
    budgets = ["4n log n"] if args.quick else ["n log n", "4n log n", "n^2"]
    rows = atlas(["dft", "hadamard", "convolution"], None, n, budgets=budgets, restarts=1,
                 unitary_steps=200 if args.quick else 400, steps=100, lbfgs_steps=100, seed=args.seed,
                 max_time_per_fit=1.0 if args.quick else 3.0, progress=None)
    print(f"Expressivity atlas, n = {n} (best family per budget; relative error):")
    for line in summary_lines(rows):
        print(line)
    files = [os.path.join(args.out, "atlas.csv")]
    write_csv(files[0], rows)
    try:
        plot_atlas(rows, os.path.join(args.out, "atlas.png"))
        files.append(os.path.join(args.out, "atlas.png"))
    except ImportError:
        print("(matplotlib is not installed: no PNG; pip install 'kmatrix[plot]')")
    ok = all(math.isfinite(r["error"]) for r in rows)
    return ok, files


SECTIONS = ("learn", "atlas", "families", "transforms", "circuits")


def _run(args) -> int:
    import os

    import torch

    only = SECTIONS if args.only is None else [s.strip() for s in args.only.split(",") if s.strip()]
    bad = [s for s in only if s not in SECTIONS]
    if bad or not only:
        raise SystemExit(f"kmatrix demo: --only: unknown section {', '.join(bad) or '(empty)'}; choose from {', '.join(SECTIONS)}")
    if args.n < 8:
        raise SystemExit(f"kmatrix demo: --n: expected an integer ≥ 8, got {args.n}")
    if args.quick and args.n == 1024:
        args.n = 128
    os.makedirs(args.out, exist_ok=True)
    prev = torch.get_num_threads()
    t0 = time.perf_counter()
    ok, files = True, []
    try:
        for name in only:
            print(f"== {name} ==")
            if name == "learn":
                part, f = _learn(args)
            elif name == "atlas":
                part, f = _atlas(args)
            else:
                part, f = {"families": _families, "transforms": _transforms, "circuits": _circuits}[name](args), []
            ok &= bool(part)
            files += f
            print()
    finally:
        torch.set_num_threads(prev)
    print(f"demo finished in {time.perf_counter() - t0:.1f} s: {'all checks passed' if ok else 'SOME CHECKS FAILED'}")
    if files:
        print("files written:")
        for f in files:
            print(f"  {f}")
    return 0 if ok else 1


def register(sub) -> None:
    p = sub.add_parser("demo", help="the tour: learn the DFT from samples, a small atlas, family checks",
                       epilog="example: kmatrix demo --quick --out /tmp/kmatrix-demo")
    p.add_argument("--n", type=int_at_least(8), default=1024,
                   help="matrix size of the family checks, at least 8 (default 1024)")
    p.add_argument("--learn-n", type=int_at_least(8), default=256, help="size of the learned DFT (default 256)")
    p.add_argument("--batch", type=int_at_least(1), default=16, help="number of vectors (default 16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="kmatrix-demo", help="folder for the PNG and CSV files (default ./kmatrix-demo)")
    p.add_argument("--only", default=None, help="comma-separated sections: " + ", ".join(SECTIONS))
    p.add_argument("--quick", action="store_true", help="small sizes, ≤ 30 s (smoke test)")
    p.set_defaults(func=_run)
