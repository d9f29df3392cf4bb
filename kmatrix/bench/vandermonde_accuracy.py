"""``kmatrix bench vandermonde_accuracy``: normwise accuracy of V x and Vᵀ y, fast vs direct.

For m = n = 2^6 … 2^14 nodes and four node sets — the n-th roots of unity, random points on
the unit circle, Chebyshev nodes cos(π(k+½)/n) and uniform random points in [−1, 1] — in
float64/complex128 with x, y ~ N(0, 1) (complex normal for complex nodes): the error
‖ŷ − y‖ / ‖|V| |x|‖ of the fast path (subproduct/remainder tree) and of the direct O(mn)
path, against mpmath at ``--dps`` digits on ``--rows`` random output rows of V x (Horner in
high precision) and on two blocks of 8 consecutive entries of Vᵀ y (one random, one at the
end, where the powers are largest). Also printed: the fast path's growth indicator G
(``Plan.growth``) and the path ``method="auto"`` takes. A nan is an overflow of the fast path.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..families import _polynomial as poly
from ..families.vandermonde import Vandermonde, _DirectMatvec, _DirectRmatvec
from ._accuracy import fmt_err, mp_context, relative_error, study_main, to_mp

CASES = ("roots of unity", "random |z|=1", "Chebyshev [-1,1]", "random [-1,1]")


def make_nodes(case: str, n: int, rng: np.random.Generator) -> np.ndarray:
    k = np.arange(n)
    if case == "roots of unity":
        return np.exp(2j * np.pi * k / n)
    if case == "random |z|=1":
        return np.exp(2j * np.pi * rng.random(n))
    if case == "Chebyshev [-1,1]":
        return np.cos(np.pi * (k + 0.5) / n)
    if case == "random [-1,1]":
        return rng.uniform(-1.0, 1.0, n)
    raise ValueError(f"case: expected one of {CASES}, got {case!r}")


def _randn(shape, cplx: bool, rng) -> np.ndarray:
    if cplx:
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / math.sqrt(2)
    return rng.standard_normal(shape)


def reference_rows(a: np.ndarray, x: np.ndarray, rows: np.ndarray, dps: int) -> np.ndarray:
    """(V x)[rows] by Horner in mpmath."""
    ctx = mp_context(dps)
    xs = to_mp(ctx, x)[::-1]
    out = []
    for i in rows:
        ai = to_mp(ctx, a[i : i + 1])[0]
        acc = ctx.mpf(0)
        for c in xs:
            acc = acc * ai + c
        out.append(complex(acc))
    return np.array(out)


def reference_cols(a: np.ndarray, y: np.ndarray, cols: np.ndarray, dps: int) -> np.ndarray:
    """(Vᵀ y)[cols] for ``cols`` made of runs of consecutive indices, in mpmath."""
    ctx = mp_context(dps)
    am, ym = to_mp(ctx, a), to_mp(ctx, y)
    out = np.zeros(len(cols), dtype=np.complex128)
    acc = [ctx.mpf(0)] * len(cols)
    for ai, yi in zip(am, ym):
        prev, p = None, None
        for k, j in enumerate(cols):
            p = ai ** int(j) if prev is None or j != prev + 1 else p * ai
            prev = j
            acc[k] += yi * p
    for k in range(len(cols)):
        out[k] = complex(acc[k])
    return out


def measure(case: str, n: int, rows: int, dps: int, seed: int) -> list[object]:
    rng = np.random.default_rng(seed)
    a = make_nodes(case, n, rng)
    cplx = np.iscomplexobj(a)
    x, y = _randn(n, cplx, rng), _randn(n, cplx, rng)
    at, xt, yt = (torch.from_numpy(np.ascontiguousarray(v)) for v in (a, x, y))
    with torch.no_grad():
        plan = poly.Plan(at, n)
        G = plan.growth()
        fast = poly.multipoint_evaluate(at, xt[None], plan)[0].numpy()
        fastT = poly.transposed_multipoint_evaluate(at, yt[None], n, plan)[0].numpy()
        direct = _DirectMatvec.apply(at, xt[None])[0].numpy()
        directT = _DirectRmatvec.apply(at, yt[None], n)[0].numpy()
        auto = Vandermonde(at, n).resolve_method()
    S = np.sort(rng.choice(n, size=min(rows, n), replace=False))
    ref = reference_rows(a, x, S, dps)
    absV = np.abs(a[S])[:, None] ** np.arange(n)[None, :]
    scale = absV @ np.abs(x)
    j0 = int(rng.integers(0, max(1, n - 16)))
    J = np.unique(np.concatenate([np.arange(j0, min(j0 + 8, n)), np.arange(max(0, n - 8), n)]))
    refT = reference_cols(a, y, J, dps)
    scaleT = (np.abs(a)[:, None] ** J[None, :]).T @ np.abs(y)
    return [
        case, n, f"{G:.1e}",
        fmt_err(relative_error(fast[S], ref, scale)), fmt_err(relative_error(direct[S], ref, scale)),
        fmt_err(relative_error(fastT[J], refT, scaleT)), fmt_err(relative_error(directT[J], refT, scaleT)),
        auto,
    ]


def main(argv: list[str] | None = None) -> int:
    return study_main(argv, prog="kmatrix bench vandermonde_accuracy", doc=__doc__, cases=CASES,
                      measure=measure, symbol="V")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
