"""Projection onto K-matrices (BB*)^w_e (survey Definition 5.4; Open Question 6.2).

No closed form is known (the survey's open question: an "SVD for K-matrices"). We initialise
from the butterfly projections (:mod:`kmatrix.project.butterfly`) and refine:

1. Initialisations of the first factor B₁B₁'^* of a width-w K-matrix of size N (M
   zero-padded to N×N), every other factor the identity: B₁ = the hierarchical butterfly
   factorization of M (B₁'^* = I), or B₁'^* = the transpose of the factorization of Mᵀ (a
   decreasing-stride butterfly, B₁ = I), each with the left-to-right and the balanced order
   (``order="auto"``) or the given one. The one with the smallest error is kept.
2. Refinement of all 4wN log2 N twiddles on f(θ) = ‖S K_θ Sᵀ − M‖_F² / ‖M‖_F² (the corner
   against M; the padded part of K is free): ``adam_steps`` of Adam, then up to ``lbfgs_steps``
   iterations of L-BFGS with a strong-Wolfe line search (complex twiddles optimised through
   their real view). Each evaluation forms the corner densely, O(w n N log N).
3. The best θ seen is returned, so the result is never worse than the initialisation (the
   report's details give both errors). Monarch projections are not used as initialisations: a
   Monarch matrix is not a K-matrix of the same width in general.

A heuristic (``optimal`` False); its error is ≤ the butterfly projection's for every w ≥ 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call

from ..families._twiddle import transpose_twiddle
from ..families.kaleidoscope import KMatrix
from ._common import check_int_range, lbfgs_keep_best
from .butterfly import ORDERS, butterfly_twiddle

__all__ = ["project_kmatrix"]


def _loss_fn(K: KMatrix, M: torch.Tensor, complex_: bool):
    _m, n = M.shape
    eye = torch.eye(n, dtype=M.dtype, device=M.device)
    scale = float((M.abs() ** 2).sum()) or 1.0

    def loss(theta):
        tw = torch.view_as_complex(theta) if complex_ else theta
        D = functional_call(K, {"twiddle": tw}, (eye,)).transpose(0, 1)
        return ((D - M).abs() ** 2).sum() / scale

    return loss


def project_kmatrix(
    M: torch.Tensor,
    width: int = 1,
    expansion: int = 1,
    order: str = "auto",
    adam_steps: int = 200,
    lbfgs_steps: int = 100,
    lr: float = 1e-2,
):
    """K-matrix of the given width / expansion close to M; returns (KMatrix, False, details)."""
    m, n = M.shape
    w = check_int_range(width, "width", 1, 64)
    e = check_int_range(expansion, "expansion", 1, 64)
    adam_steps = check_int_range(adam_steps, "adam_steps", 0, 10**6)
    lbfgs_steps = check_int_range(lbfgs_steps, "lbfgs_steps", 0, 10**6)
    if order not in ORDERS:
        raise ValueError(f"order: expected one of {ORDERS}, got {order!r}")
    if not (float(lr) > 0):
        raise ValueError(f"lr: expected a positive learning rate, got {lr}")
    K = KMatrix(n, m, width=w, expansion=e, init="identity", dtype=M.dtype, device=M.device)
    N = K.size
    Mp = F.pad(M, (0, N - n, 0, N - m))
    base = K.twiddle.detach().clone()
    orders = ("left-to-right", "balanced") if order == "auto" else (order,)
    candidates = []
    for o in orders:
        cand_b = base.clone()
        cand_b[0, 1] = butterfly_twiddle(Mp, o)
        cand_bs = base.clone()
        cand_bs[0, 0] = transpose_twiddle(butterfly_twiddle(Mp.transpose(0, 1).contiguous(), o), (0,))
        candidates += [("butterfly B", cand_b), ("butterfly B*", cand_bs)]
    complex_ = M.is_complex()
    loss = _loss_fn(K, M, complex_)

    def as_theta(tw):
        return (torch.view_as_real(tw) if complex_ else tw).detach().clone().contiguous()

    with torch.no_grad():
        inits = [(float(loss(as_theta(c))), name, c) for name, c in candidates]
    init_loss, init_name, init_tw = min(inits, key=lambda t: t[0])
    best = [init_loss, as_theta(init_tw)]
    theta = as_theta(init_tw).requires_grad_(True)

    def consider(value: float):
        if value < best[0]:
            best[0], best[1] = value, theta.detach().clone()

    if adam_steps:
        opt = torch.optim.Adam([theta], lr=float(lr))
        for _ in range(adam_steps):
            opt.zero_grad()
            f = loss(theta)
            consider(float(f.detach()))
            f.backward()
            opt.step()
        with torch.no_grad():
            consider(float(loss(theta)))
    if lbfgs_steps:
        with torch.no_grad():
            theta.copy_(best[1])
        lbfgs_keep_best(theta, loss, lbfgs_steps, best)
    tw = torch.view_as_complex(best[1]) if complex_ else best[1]
    W = KMatrix(n, m, width=w, expansion=e, init=tw)
    padded = (N, N) != (m, n)
    return W, False, {
        "init": init_name,
        "init_error": init_loss**0.5,
        "refined_error": best[0] ** 0.5,
        "_padded_shape": (N, N) if padded else None,
    }
