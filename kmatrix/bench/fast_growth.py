"""``kmatrix bench fast_growth``: does the growth indicator G flag meaningless fast products?

For ``--sets`` random node sets per family (Vandermonde V and Cauchy C), n drawn log-uniformly
in [2^3, 2^10.5], five kinds of nodes in turn — random on a circle of random radius 0.5–1.1,
random real in [−r, r], jittered roots of unity, complex Gaussian, scaled Chebyshev — the fast
(subproduct-tree) product of 4 random vectors is compared with the direct O(mn) product
(float64/complex128; its own error is ~1e-16, so only errors ≥ ~1e-14 are resolved): error
‖ŷ_fast − y_direct‖ / ‖|W| |x|‖ against G (``Plan.growth`` / ``CauchyPlan.growth``). Printed:
the worst error with G ≤ the warning line ``FAST_WARN_GROWTH`` and the smallest G among the
errors ≥ 1e-3 — the measurement behind ``method="fast"``'s AccuracyWarning.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch

from ..families import _polynomial as poly
from ..families._fast_accuracy import FAST_WARN_GROWTH
from ..families.cauchy import CauchyPlan, _KernelMatvec
from ..families.vandermonde import _DirectMatvec

KINDS = ("circle", "real", "jittered roots", "gaussian", "chebyshev")


def make_nodes(kind: int, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == 0:
        return np.exp(2j * np.pi * rng.random(n)) * rng.uniform(0.5, 1.1)
    if kind == 1:
        return rng.uniform(-1, 1, n) * rng.uniform(0.3, 3)
    if kind == 2:
        return np.exp(2j * np.pi * (np.arange(n) + rng.normal(0, rng.uniform(0, 0.5), n)) / n)
    if kind == 3:
        return (rng.standard_normal(n) + 1j * rng.standard_normal(n)) * rng.uniform(0.2, 2)
    return np.cos(np.pi * (np.arange(n) + 0.5) / n) * rng.uniform(0.5, 2)


def measure(family: str, kind: int, n: int, rng: np.random.Generator) -> tuple[float, float]:
    """(G, error of the fast product against the direct one) for one random node set."""
    a = torch.from_numpy(make_nodes(kind, n, rng))
    x = torch.from_numpy(rng.standard_normal((4, n))).to(a.dtype)
    with torch.no_grad():
        if family == "V":
            plan = poly.Plan(a, n)
            G = plan.growth()
            fast, direct = poly.multipoint_evaluate(a, x, plan), _DirectMatvec.apply(a, x)
            absW = a.abs()[:, None] ** torch.arange(n, dtype=torch.float64)[None]
        else:
            b = torch.from_numpy(make_nodes(kind, n, rng)).to(a.dtype)
            plan = CauchyPlan(a, b)
            G = plan.growth()
            fast, direct = plan.apply(x), _KernelMatvec.apply(a, b, x, 1)
            absW = 1 / (a[:, None] - b[None]).abs()
        scale = absW @ x.abs().T.to(absW.dtype)
    if not bool(torch.isfinite(fast).all()):
        return G, math.inf
    return G, float((fast - direct).norm() / scale.norm())


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    from ._timing import format_table

    p = argparse.ArgumentParser(prog="kmatrix bench fast_growth", description=__doc__.split("\n\n")[0])
    p.add_argument("--sets", type=int, default=60, help="random node sets per family (default 60)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    if args.sets < 1:
        p.error(f"--sets: expected a positive count, got {args.sets}")
    rng = np.random.default_rng(args.seed)
    rows = []
    for family in ("V", "C"):
        for k in tqdm(range(args.sets), desc=f"fast_growth {family}", unit="set"):
            n = int(2 ** rng.uniform(3, 10.5))
            G, err = measure(family, k % len(KINDS), n, rng)
            rows.append([family, KINDS[k % len(KINDS)], n, G, err])
    rows.sort(key=lambda r: r[3])
    print(format_table(["family", "nodes", "n", "growth G", "fast error"],
                       [[f, kd, n, f"{G:.1e}", f"{e:.1e}"] for f, kd, n, G, e in rows]))
    below = [e for *_, G, e in rows if G <= FAST_WARN_GROWTH]
    bad = [G for *_, G, e in rows if e >= 1e-3]
    print(f"\nG <= {FAST_WARN_GROWTH:.0e} (no warning): {len(below)} sets, worst error "
          f"{max(below, default=0.0):.1e}; errors >= 1e-3: {len(bad)} sets, smallest G "
          f"{min(bad, default=math.inf):.1e}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
