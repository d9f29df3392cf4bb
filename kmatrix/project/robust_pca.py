"""Sparse + low rank by robust PCA: principal component pursuit (Candès, Li, Ma, Wright,
"Robust principal component analysis?", J. ACM 2011), survey §4.3.

    minimise ‖L‖_* + λ‖S‖_1  subject to  L + S = M,   λ = 1/√max(m, n) by default,

solved by the inexact augmented Lagrangian method (ADMM; Lin, Chen, Ma 2010): alternately
L ← SVT_{1/μ}(M − S + Y/μ) (singular value thresholding), S ← shrink_{λ/μ}(M − L + Y/μ)
(entrywise soft thresholding, modulus for complex entries), Y ← Y + μ(M − L − S), with μ
increased geometrically; stop when ‖M − L − S‖_F ≤ tol‖M‖_F. Under the paper's incoherence and
random-support conditions (rank ≤ ρ_r n / log² n, a fraction ρ_s of corrupted entries) PCP
recovers L₀ and S₀ exactly.

ADMM converges only linearly, so a *polish* follows: with the rank r of L and the support Ω of S
fixed, alternating projections L ← best rank-r(M − S), S ← P_Ω(M − L) (each a Frobenius
projection, so ‖M − L − S‖ never increases) reach the planted pair to rounding. Optional caps
``rank`` / ``nnz`` keep at most that many singular triplets / largest entries (then the result
is an approximation within that budget). Cost per iteration: one SVD, O(mn·min(m, n)).
Not a Frobenius projection in general (the family is not convex): ``optimal`` is False.
"""

from __future__ import annotations

import math

import torch

from ..families.lowrank import LowRank
from ..families.sparse import Sparse
from ..families.sparse_plus_lowrank import SparsePlusLowRank
from ._common import check_int_range

__all__ = ["principal_component_pursuit", "project_sparse_lowrank"]


def _shrink(X: torch.Tensor, tau: float) -> torch.Tensor:
    a = X.abs()
    return X * (torch.clamp(a - tau, min=0) / a.clamp_min(torch.finfo(a.dtype).tiny))


def _svt(X: torch.Tensor, tau: float) -> torch.Tensor:
    U, s, Vh = torch.linalg.svd(X, full_matrices=False)
    s = torch.clamp(s - tau, min=0)
    k = int((s > 0).sum())
    return (U[:, :k] * s[:k].to(X.dtype)) @ Vh[:k]


def principal_component_pursuit(M: torch.Tensor, lam: float, tol: float, max_iter: int):
    """(L, S, iterations) by the inexact ALM described in the module docstring."""
    norm_f = float(M.norm())
    if norm_f == 0:
        return torch.zeros_like(M), torch.zeros_like(M), 0
    norm2 = float(torch.linalg.matrix_norm(M, ord=2))
    Y = M / max(norm2, float(M.abs().max()) / lam)
    mu, mu_max, rho = 1.25 / norm2, 1.25e7 / norm2, 1.5
    S = torch.zeros_like(M)
    L = S
    for it in range(1, max_iter + 1):
        L = _svt(M - S + Y / mu, 1 / mu)
        S = _shrink(M - L + Y / mu, lam / mu)
        Z = M - L - S
        Y = Y + mu * Z
        mu = min(mu * rho, mu_max)
        if float(Z.norm()) <= tol * norm_f:
            return L, S, it
    return L, S, max_iter


def _best_rank(X: torch.Tensor, r: int):
    U, s, Vh = torch.linalg.svd(X, full_matrices=False)
    root = s[:r].sqrt().to(X.dtype)
    return U[:, :r] * root, root[:, None] * Vh[:r]


def project_sparse_lowrank(
    M: torch.Tensor,
    lam: float | None = None,
    rank: int | None = None,
    nnz: int | None = None,
    tol: float = 1e-9,
    max_iter: int = 500,
    polish_iter: int = 200,
):
    """Robust PCA of M; returns (SparsePlusLowRank, False, details)."""
    m, n = M.shape
    lam = 1 / math.sqrt(max(m, n)) if lam is None else float(lam)
    if not (lam > 0 and math.isfinite(lam)):
        raise ValueError(f"lam: expected a positive finite number, got {lam}")
    if not (0 < float(tol) < 1):
        raise ValueError(f"tol: expected 0 < tol < 1, got {tol}")
    max_iter = check_int_range(max_iter, "max_iter", 1, 10**6)
    L, S, iters = principal_component_pursuit(M, lam, float(tol), max_iter)
    s = torch.linalg.svdvals(L)
    r = int((s > s[0] * 1e-10).sum()) if float(s[0]) > 0 else 0
    if rank is not None:
        r = min(r, check_int_range(rank, "rank", 1, min(m, n)))
    r = max(r, 1)
    flat = S.reshape(-1)
    support = torch.nonzero(flat.abs() > 0).reshape(-1)
    if nnz is not None:
        s_max = check_int_range(nnz, "nnz", 0, m * n)
        if support.numel() > s_max:
            support = torch.topk(flat.abs(), s_max).indices.sort().values
    # polish: alternating Frobenius projections with rank r and support fixed
    mask = torch.zeros(m * n, dtype=torch.bool, device=M.device)
    mask[support] = True
    mask = mask.reshape(m, n)
    S = torch.where(mask, S, torch.zeros_like(S))
    norm_f = float(M.norm()) or 1.0
    prev = math.inf
    for _ in range(polish_iter):
        Lf, Rf = _best_rank(M - S, r)
        Lm = Lf @ Rf
        S = torch.where(mask, M - Lm, torch.zeros_like(M))
        res = float((M - Lm - S).norm()) / norm_f
        if res <= 1e-15 or res > prev * (1 - 1e-3):
            break
        prev = res
    Lf, Rf = _best_rank(M - S, r)
    W = SparsePlusLowRank(
        Sparse(support // n, support % n, S.reshape(-1)[support], (m, n)),
        LowRank(Lf, Rf),
    )
    return W, False, {"lam": lam, "admm_iterations": iters, "rank": r, "nnz": int(support.numel())}
