"""Projection onto rank ≤ r: the truncated SVD (survey Def 2.2, §4.1).

Eckart–Young–Mirsky: M_r = U_r Σ_r V_rᴴ minimises ‖M − X‖_F over rank(X) ≤ r, with error
‖M − M_r‖_F² = Σ_{i>r} σ_i². Cost: one SVD, O(mn·min(m, n)).
"""

from __future__ import annotations

import torch

from ..families.lowrank import LowRank
from ._common import check_int_range

__all__ = ["project_lowrank"]


def project_lowrank(M: torch.Tensor, rank: int = 1):
    """Best rank-``rank`` approximation (optimal); returns (LowRank, True, details)."""
    r = check_int_range(rank, "rank", 1, min(M.shape))
    U, S, Vh = torch.linalg.svd(M, full_matrices=False)
    root = S[:r].sqrt().to(M.dtype)
    W = LowRank(U[:, :r] * root, root[:, None] * Vh[:r])
    return W, True, {"sigma_r+1": float(S[r]) if r < S.numel() else 0.0}
