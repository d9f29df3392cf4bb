"""``kmatrix bench cauchy_accuracy``: normwise accuracy of C x and Cᵀ y, fast vs direct.

For m = n = 2^6 … 2^14 and four node sets — interleaved points on the unit circle
(s_i = ω^i, t_j = ω^{j+½}, ω = e^{2πι/n}), random points on the circle, interleaved Chebyshev
points in [−1, 1] (the even and odd members of cos(π(k+½)/2n)) and uniform random points in
[−1, 1] — in float64/complex128 with x, y ~ N(0, 1): the error ‖ŷ − y‖ / ‖|C| |x|‖ of the
exact fast algorithm (N(s)/T(s) by subproduct trees) and of the direct O(mn) product against
mpmath at ``--dps`` digits on ``--rows`` sampled entries of C x and of Cᵀ y, with the fast
path's growth indicator G (``CauchyPlan.growth``) and the path ``method="auto"`` takes.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..families.cauchy import Cauchy, CauchyPlan, _KernelMatvec
from ._accuracy import fmt_err, mp_context, relative_error, study_main, to_mp

CASES = ("interleaved |z|=1", "random |z|=1", "interleaved [-1,1]", "random [-1,1]")


def make_nodes(case: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    k = np.arange(n)
    if case == "interleaved |z|=1":
        return np.exp(2j * np.pi * k / n), np.exp(2j * np.pi * (k + 0.5) / n)
    if case == "random |z|=1":
        return np.exp(2j * np.pi * rng.random(n)), np.exp(2j * np.pi * rng.random(n))
    if case == "interleaved [-1,1]":
        c = np.cos(np.pi * (np.arange(2 * n) + 0.5) / (2 * n))
        return c[0::2].copy(), c[1::2].copy()
    if case == "random [-1,1]":
        return rng.uniform(-1.0, 1.0, n), rng.uniform(-1.0, 1.0, n)
    raise ValueError(f"case: expected one of {CASES}, got {case!r}")


def reference(s: np.ndarray, t: np.ndarray, x: np.ndarray, rows: np.ndarray, dps: int) -> np.ndarray:
    """(C x)[rows], C[i, j] = 1/(s_i − t_j), in mpmath."""
    ctx = mp_context(dps)
    tm, xm = to_mp(ctx, t), to_mp(ctx, x)
    out = []
    for i in rows:
        si = to_mp(ctx, s[i : i + 1])[0]
        out.append(complex(ctx.fsum(xj / (si - tj) for xj, tj in zip(xm, tm))))
    return np.array(out)


def _randn(n, cplx, rng):
    if cplx:
        return (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / math.sqrt(2)
    return rng.standard_normal(n)


def measure(case: str, n: int, rows: int, dps: int, seed: int) -> list[object]:
    rng = np.random.default_rng(seed)
    s, t = make_nodes(case, n, rng)
    cplx = np.iscomplexobj(s)
    x, y = _randn(n, cplx, rng), _randn(n, cplx, rng)
    st, tt, xt, yt = (torch.from_numpy(np.ascontiguousarray(v)) for v in (s, t, x, y))
    with torch.no_grad():
        plan = CauchyPlan(st, tt)
        G = plan.growth()
        fast = plan.apply(xt[None])[0].numpy()
        fastT = -CauchyPlan(tt, st).apply(yt[None])[0].numpy()
        direct = _KernelMatvec.apply(st, tt, xt[None], 1)[0].numpy()
        directT = -_KernelMatvec.apply(tt, st, yt[None], 1)[0].numpy()
        auto = Cauchy(st, tt).resolve_method()
    S = np.sort(rng.choice(n, size=min(rows, n), replace=False))
    ref = reference(s, t, x, S, dps)
    scale = (1.0 / np.abs(s[S][:, None] - t[None, :])) @ np.abs(x)
    J = np.sort(rng.choice(n, size=min(rows, n), replace=False))
    refT = -reference(t, s, y, J, dps)  # Cᵀ = −C(t, s)
    scaleT = (1.0 / np.abs(t[J][:, None] - s[None, :])) @ np.abs(y)
    return [
        case, n, f"{G:.1e}",
        fmt_err(relative_error(fast[S], ref, scale)), fmt_err(relative_error(direct[S], ref, scale)),
        fmt_err(relative_error(fastT[J], refT, scaleT)), fmt_err(relative_error(directT[J], refT, scaleT)),
        auto,
    ]


def main(argv: list[str] | None = None) -> int:
    return study_main(argv, prog="kmatrix bench cauchy_accuracy", doc=__doc__, cases=CASES,
                      measure=measure, symbol="C")


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
