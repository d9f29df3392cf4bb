"""``kmatrix bench projection``: butterfly projection, kmatrix against pyfaust.

Projects, in one run, with ``kmatrix.project(M, "butterfly")`` (hierarchical factorization,
``order="auto"``; the order kept is shown) and with ``pyfaust.fact.butterfly`` (FAµST, its default balanced-tree
order): the DFT (both with the bit-reversal permutation), the Hadamard matrix, a random
butterfly, a random butterfly + 1 % and + 10 % Gaussian noise (relative Frobenius norm), and a
Gaussian matrix, at n = 256, 1024, 2048. Prints the relative Frobenius error
‖W − M‖_F / ‖M‖_F, the median wall time and the median CPU time (process, all threads) of
each, and the ratios ours / pyfaust — on a shared machine the CPU ratio is the steadier one.

Threads: pyfaust's butterfly factorization does its work on one thread here (measured: the same
CPU time under OMP_NUM_THREADS=1 and 2, and CPU time ≤ wall time), so the benchmark runs torch on
one thread too (``--threads``, default 1; restored afterwards).

pyfaust is an optional benchmark dependency only (``pip install pyfaust``); without it its
columns are left empty and an install hint is printed. The table of K-matrix error vs width
(w = 1, 2, 4, ``--widths``) runs at a small size (``--width-n``) since every refinement step
forms the matrix densely; ``--plot FILE.png`` draws it.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import torch

from ..core.files import atomic_savefig

MATRICES = ("dft", "hadamard", "butterfly", "butterfly+1%", "butterfly+10%", "gaussian")


def make_matrix(name: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, str | None]:
    """(M as float64 / complex128 numpy array, permutation to use or None)."""
    if name == "dft":
        return np.fft.fft(np.eye(n), axis=0), "bitrev"
    if name == "hadamard":
        import scipy.linalg

        return scipy.linalg.hadamard(n).astype(np.float64), None
    if name.startswith("butterfly"):
        from ..families.butterfly import Butterfly

        g = torch.Generator().manual_seed(int(rng.integers(2**31)))
        B = Butterfly(n, dtype=torch.float64, generator=g).to_dense().detach().numpy()
        if "+" in name:
            level = float(name.split("+")[1].rstrip("%")) / 100
            G = rng.standard_normal((n, n))
            B = B + level * np.linalg.norm(B) / np.linalg.norm(G) * G
        return B, None
    if name == "gaussian":
        return rng.standard_normal((n, n)), None
    raise ValueError(f"matrix: unknown test matrix {name!r}")


def _rel(D: np.ndarray, M: np.ndarray) -> float:
    return float(np.linalg.norm(D - M) / np.linalg.norm(M))


def run_ours(M: np.ndarray, perm, repeats: int):
    from ..project import project

    times, cpus, err, order = [], [], None, None
    for _ in range(repeats):
        _W, rep = project(M, "butterfly", perm=perm)
        times.append(rep.time)
        cpus.append(rep.cpu_time)
        err, order = rep.rel_error, rep.details["order"]
    return err, statistics.median(times), statistics.median(cpus), order


def run_pyfaust(M: np.ndarray, perm, repeats: int):
    import pyfaust.fact

    times, cpus, err = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        F = pyfaust.fact.butterfly(M, type="bbtree", perm=perm)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
        err = _rel(F.toarray(), M)
    return err, statistics.median(times), statistics.median(cpus)


def _have_pyfaust() -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pyfaust.fact  # noqa: F401
        return True
    except ImportError:
        return False


def width_table(n: int, widths: list[int], rng: np.random.Generator, steps: tuple[int, int]):
    """rows [matrix, butterfly error, K-matrix error for each width]."""
    from ..project import project

    rows = []
    for name in MATRICES:
        M, _perm = make_matrix(name, n, rng)
        _, rb = project(M, "butterfly")
        errs = [project(M, "kmatrix", width=w, adam_steps=steps[0], lbfgs_steps=steps[1])[1].rel_error for w in widths]
        rows.append([name, rb.rel_error, *errs])
    return rows


def plot_widths(rows, widths, n, path):
    from .._optional import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for row in rows:
        ax.plot(widths, [max(e, 1e-17) for e in row[2:]], marker="o", label=row[0])
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(widths, [str(w) for w in widths])
    ax.set_xlabel("K-matrix width w")
    ax.set_ylabel("relative Frobenius error")
    ax.set_title(f"kmatrix.project(M, 'kmatrix', width=w), n = {n}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic_savefig(fig, path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="kmatrix bench projection", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 1024, 2048])
    ap.add_argument("--matrices", nargs="+", default=list(MATRICES), choices=MATRICES)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per method (median)")
    ap.add_argument("--widths", type=int, nargs="*", default=[1, 2, 4], help="K-matrix widths (empty: skip)")
    ap.add_argument("--width-n", type=int, default=64, help="size of the width study")
    ap.add_argument("--steps", type=int, nargs=2, default=[200, 100], metavar=("ADAM", "LBFGS"))
    ap.add_argument("--plot", help="PNG file for the error-vs-width figure")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (pyfaust's butterfly uses one)")
    args = ap.parse_args(argv)
    if args.threads < 1:
        raise SystemExit(f"kmatrix bench projection: --threads must be ≥ 1, got {args.threads}")
    saved = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _run(args)
    finally:
        torch.set_num_threads(saved)


def _run(args) -> int:
    from tqdm import tqdm

    from ._timing import format_table

    for n in args.sizes + ([args.width_n] if args.widths else []):
        if n < 2 or n & (n - 1):
            raise SystemExit(f"kmatrix bench projection: sizes must be powers of two ≥ 2, got {n}")
    rng = np.random.default_rng(args.seed)
    have = _have_pyfaust()
    if not have:
        print("pyfaust not installed: its columns are empty (pip install pyfaust)")
    jobs = [(n, name) for n in args.sizes for name in args.matrices]
    rows = []
    for n, name in tqdm(jobs, desc="projection", unit="matrix", disable=None):
        M, perm = make_matrix(name, n, rng)
        e_ours, t_ours, c_ours, order = run_ours(M, perm, args.repeats)
        if have:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                e_pf, t_pf, c_pf = run_pyfaust(M, perm, args.repeats)
            ok_err = "yes" if e_ours <= max(e_pf * (1 + 1e-9), 1e-12) else "NO"
            rows.append([name, n, order, e_ours, e_pf, t_ours, t_pf, t_ours / t_pf, c_ours, c_pf,
                         c_ours / max(c_pf, 1e-9), ok_err, f"{(e_ours - e_pf) / e_pf:+.1e}"])
        else:
            rows.append([name, n, order, e_ours, "", t_ours, "", "", c_ours, "", "", "", ""])
    print(f"\nbutterfly projection (relative Frobenius error; median wall and CPU seconds; "
          f"{args.threads} torch thread(s); shared machine, noisy)")
    print(format_table(["matrix", "n", "order", "err kmatrix", "err pyfaust", "t kmatrix", "t pyfaust", "t ratio",
                        "cpu kmatrix", "cpu pyfaust", "cpu ratio", "err ≤", "Δerr/err"], rows))
    if have:
        big = [r for r in rows if r[1] >= 1024]
        if big:
            print(f"ratio kmatrix / pyfaust at n ≥ 1024: wall max {max(r[7] for r in big):.2f}, "
                  f"CPU max {max(r[10] for r in big):.2f} (target ≤ 0.5)")
        print(f"error ≤ pyfaust on {sum(r[11] == 'yes' for r in rows)} of {len(rows)} matrices")
    if args.widths:
        wrows = width_table(args.width_n, args.widths, rng, tuple(args.steps))
        print(f"\nK-matrix projection error vs width, n = {args.width_n} (Adam {args.steps[0]} + L-BFGS {args.steps[1]} steps)")
        print(format_table(["matrix", "butterfly", *[f"w = {w}" for w in args.widths]], wrows))
        if args.plot:
            plot_widths(wrows, args.widths, args.width_n, args.plot)
            print(f"wrote {args.plot}")
    return 0
