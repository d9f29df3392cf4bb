"""Low-rank matrices W = L R (survey Def 2.2, §4.1).

W ∈ F^{m×n} has rank ≤ r iff W = L R with L ∈ F^{m×r}, R ∈ F^{r×n}. θ = all entries of L and R:
``num_params`` = r(m + n). Product x ↦ L (R x): O(r(m + n)); the transpose y ↦ Rᵀ(Lᵀ y) costs
the same. ``LowRank.from_dense(M, r)`` keeps the r leading singular triplets (truncated SVD,
optimal in spectral and Frobenius norm by Eckart–Young), split evenly: L = U_r Σ_r^{1/2},
R = Σ_r^{1/2} V_rᴴ.

flops: R x is r inner products of length n, r(2n − 1) over ℝ; L(Rx) is m inner products of
length r, m(2r − 1): flops = r(2n − 1) + m(2r − 1). Over ℂ (multiplication 6 real flops, addition
2): r(8n − 2) + m(8r − 2).

Composition (``kmatrix.merge``; the operators themselves keep the generic Product / Sum sharing
θ): A @ LowRank and LowRank @ B become LowRank: L R B = L (Bᵀ Rᵀ)ᵀ needs r products by Bᵀ
(no dense B), and A L R = (A L) R needs r products by A. The rule is taken only when it is cheap,
i.e. when the merged LowRank's flops do not exceed those of the factored product
(flops(A or B) + flops(LR)); otherwise the generic Product is kept. LowRank @ LowRank keeps the
smaller rank; LowRank + LowRank concatenates: [L₁ L₂][R₁; R₂], rank r₁ + r₂. Merged results hold
new parameters built from the operands' current values.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.compose import register_rule
from ..core.structured import StructuredMatrix
from ..core.validation import as_tensor, check_finite, check_positive_int

__all__ = ["LowRank"]


def _lowrank_flops(m: int, n: int, r: int, is_complex: bool) -> int:
    if is_complex:
        return r * (8 * n - 2) + m * (8 * r - 2)
    return r * (2 * n - 1) + m * (2 * r - 1)


class LowRank(StructuredMatrix):
    """W = L R with L of shape (m, r) and R of shape (r, n).

    ``L`` and ``R`` are copied into the parameters ``L`` and ``R`` (promoted to a common dtype, or
    ``dtype``); ``rank`` = r (the inner dimension, an upper bound on the true rank).
    ``num_params`` = r(m + n); flops = r(2n − 1) + m(2r − 1) over ℝ, r(8n − 2) + m(8r − 2) over ℂ.

    Examples
    --------
    >>> L = kmatrix.LowRank(torch.ones(4, 1), torch.tensor([[0.0, 1.0, 2.0]]))
    >>> L.shape, L.num_params
    ((4, 3), 7)
    >>> L(torch.ones(3)).tolist()
    [3.0, 3.0, 3.0, 3.0]

    The best rank-r approximation of a dense matrix (truncated SVD):

    >>> M = torch.randn(6, 2, dtype=torch.float64) @ torch.randn(2, 5, dtype=torch.float64)
    >>> bool((kmatrix.LowRank.from_dense(M, rank=2).to_dense() - M).abs().max() < 1e-12)
    True
    """

    def __init__(self, L, R, dtype: torch.dtype | None = None):
        L = as_tensor(L, "L", dtype=dtype, ndim=2)
        R = as_tensor(R, "R", dtype=dtype, ndim=2)
        if L.shape[1] != R.shape[0]:
            raise ValueError(
                f"L, R: expected L of shape (m, r) and R of shape (r, n), got {tuple(L.shape)} and {tuple(R.shape)}"
            )
        check_finite(L, "L")
        check_finite(R, "R")
        dt = torch.promote_types(L.dtype, R.dtype)
        super().__init__((L.shape[0], R.shape[1]), dt, L.device)
        self.L = nn.Parameter(L.to(dt).clone())
        self.R = nn.Parameter(R.to(device=L.device, dtype=dt).clone())

    @classmethod
    def from_dense(cls, M, rank: int, dtype: torch.dtype | None = None) -> LowRank:
        """Best rank-``rank`` approximation of M (truncated SVD): ‖M − LR‖₂ = σ_{rank+1}."""
        M = as_tensor(M, "M", dtype=dtype, ndim=2)
        check_finite(M, "M")
        r = check_positive_int(rank, "rank")
        if r > min(M.shape):
            raise ValueError(f"rank: expected 1 ≤ rank ≤ min(m, n) = {min(M.shape)}, got {r}")
        U, S, Vh = torch.linalg.svd(M, full_matrices=False)
        root = S[:r].sqrt().to(M.dtype)
        return cls(U[:, :r] * root, root[:, None] * Vh[:r])

    @property
    def rank(self) -> int:
        return int(self.L.shape[1])

    @property
    def flops(self) -> int:
        m, n = self.shape
        return _lowrank_flops(m, n, self.rank, self.is_complex)

    def _matvec(self, x):
        return (x @ self.R.transpose(0, 1)) @ self.L.transpose(0, 1)

    def _rmatvec(self, y):
        return (y @ self.L) @ self.R

    def to_dense(self):
        return self.L @ self.R

    def _merge_scale(self, scalar):
        return LowRank(self.L.detach() * scalar, self.R.detach())

    def _config(self):
        return {"L": self.L.detach(), "R": self.R.detach()}

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rank={self.rank}"


# ---------------------------------------------------------------------- composition rules
@register_rule("matmul", LowRank, LowRank)
def _lr_lr(a: LowRank, b: LowRank) -> LowRank:
    """L₁ R₁ L₂ R₂: the r₁×r₂ core R₁L₂ is folded into the side with the larger rank."""
    dt = torch.promote_types(a.dtype, b.dtype)
    L1, R1, L2, R2 = (t.detach().to(dt) for t in (a.L, a.R, b.L, b.R))
    core = R1 @ L2
    if a.rank <= b.rank:
        return LowRank(L1, core @ R2)
    return LowRank(L1 @ core, R2)


def _cheaper(m: int, n: int, r: int, a: StructuredMatrix, b: StructuredMatrix) -> bool:
    """Whether a merged m×n rank-r LowRank costs no more flops than a and b applied in turn."""
    try:
        factored = a.flops + b.flops
    except NotImplementedError:  # a family without a flops count: keep it factored
        return False
    return _lowrank_flops(m, n, r, a.is_complex or b.is_complex) <= factored


@register_rule("matmul", LowRank, StructuredMatrix)
def _lr_any(a: LowRank, b: StructuredMatrix):
    """L R B = L (Bᵀ Rᵀ)ᵀ: r products by Bᵀ; taken when no more flops than L·R·B factored."""
    if not _cheaper(a.shape[0], b.shape[1], a.rank, a, b):
        return None
    with torch.no_grad():
        new_R = b.T(a.R.detach())  # rows of R B = Bᵀ (rows of R)
    return LowRank(a.L.detach(), new_R)


@register_rule("matmul", StructuredMatrix, LowRank)
def _any_lr(a: StructuredMatrix, b: LowRank):
    """A L R = (A L) R: r products by A; taken when no more flops than A·L·R factored."""
    if not _cheaper(a.shape[0], b.shape[1], b.rank, a, b):
        return None
    with torch.no_grad():
        new_L = a(b.L.detach().transpose(0, 1)).transpose(0, 1)  # columns of A L = A (columns of L)
    return LowRank(new_L, b.R.detach())


@register_rule("add", LowRank, LowRank)
def _lr_add(a: LowRank, b: LowRank) -> LowRank:
    """L₁R₁ + L₂R₂ = [L₁ L₂] [R₁; R₂] (rank r₁ + r₂)."""
    dt = torch.promote_types(a.dtype, b.dtype)
    L = torch.cat([a.L.detach().to(dt), b.L.detach().to(dt)], dim=1)
    R = torch.cat([a.R.detach().to(dt), b.R.detach().to(dt)], dim=0)
    return LowRank(L, R)
