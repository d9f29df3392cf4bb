"""Shared pieces of the accuracy benchmarks: high-precision references on sampled outputs.

The error of a product y = W x is measured normwise against the *magnitude* of the sum,
‖ŷ_S − y_S‖ / ‖(|W| |x|)_S‖ on a random sample S of output entries, with y_S computed by
mpmath at ``dps`` decimal digits from the exact binary values of the float64 inputs (so the
error is the algorithm's, not the rounding of the nodes). |W||x| is a sum of non-negative
terms, computed in float64 without cancellation. Sampling keeps the reference affordable at
n = 2^14 (the full product would need n² high-precision operations).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np

__all__ = ["fmt_err", "mp_context", "relative_error", "to_mp"]


def mp_context(dps: int):
    """A private mpmath context at ``dps`` digits (does not touch the global one)."""
    ctx = mpmath.MPContext()
    ctx.dps = dps
    return ctx


def to_mp(ctx, v) -> list:
    """numpy array (real or complex, float64) → list of exact mpmath numbers."""
    if np.iscomplexobj(v):
        return [ctx.mpc(complex(z)) for z in v]
    return [ctx.mpf(float(z)) for z in v]


def relative_error(approx: np.ndarray, ref: np.ndarray, scale: np.ndarray) -> float:
    """‖approx − ref‖₂ / ‖scale‖₂ (inf/nan when the approximation overflowed)."""
    approx = np.asarray(approx, dtype=np.complex128)
    if not np.all(np.isfinite(approx)):
        return float("nan")
    num = np.linalg.norm(approx - np.asarray(ref, dtype=np.complex128))
    den = np.linalg.norm(scale)
    return float(num / den) if den > 0 else float(num)


def fmt_err(e: float) -> str:
    if math.isnan(e):
        return "nan"
    if e == float("inf"):
        return "inf"
    return f"{e:.1e}"


def study_main(argv, *, prog: str, doc: str, cases, measure, symbol: str) -> int:
    """The shared command line of the accuracy studies: sizes × node cases, each measured by
    ``measure(case, n, rows, dps, seed)`` (one table row), with a progress bar."""
    import argparse

    from tqdm import tqdm

    from ._timing import format_table

    p = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    p.add_argument("--log2", type=int, nargs="+", default=list(range(6, 15)), help="sizes n = 2^k (default 6..14)")
    p.add_argument("--sizes", type=int, nargs="+", default=None,
                   help="explicit sizes n (any positive integers; replaces --log2)")
    p.add_argument("--cases", nargs="+", default=list(cases), choices=cases)
    p.add_argument("--rows", type=int, default=64, help="sampled outputs of the product and of its transpose")
    p.add_argument("--dps", type=int, default=50, help="mpmath digits of the reference")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    sizes = args.sizes if args.sizes is not None else [1 << k for k in args.log2]
    if any(n < 1 for n in sizes) or any(k < 0 for k in args.log2):
        p.error("sizes: expected positive sizes n (and --log2 exponents >= 0)")
    jobs = [(c, n) for c in args.cases for n in sizes]
    out = [measure(case, n, args.rows, args.dps, args.seed)
           for case, n in tqdm(jobs, desc=f"{prog.split()[-1]}", unit="case")]
    headers = ["nodes", "n", "growth G", f"fast {symbol}x", f"direct {symbol}x",
               f"fast {symbol}^T y", f"direct {symbol}^T y", "auto"]
    print(f"error ||y_hat - y|| / || |{symbol}| |x| || on sampled outputs, float64/complex128, m = n")
    print(format_table(headers, out))
    return 0
