"""Products of sparse matrices (survey §4.6): W = S_1 S_2 ⋯ S_K, each S_k in the listing
representation (``Sparse``).

By Theorem 4.5 (De Sa et al.; see NOTES.md) every linear map computed by a circuit of s gates
and depth d is such a product of d+1 O(s)-sparse factors, so this family is as expressive as
linear arithmetic circuits; it fails only the Efficient-Gradient property, because the
locations of each factor are fixed (§4.6).

Product: x ↦ S_1(S_2(⋯(S_K x))), S_K applied first, one O(nnz_k) sparse product per factor:
O(Σ_k nnz_k) in all. θ = the values of all factors (shared with the ``Sparse`` objects given).
flops = Σ_k flops(S_k) (each 2·nnz_k − r_k over ℝ, 8·nnz_k − 2r_k over ℂ, r_k the nonempty rows
of S_k). Transpose natively: Wᵀ = S_Kᵀ ⋯ S_1ᵀ, a SparseProduct of the factors' native
transposes (sharing their values).

``SparseProduct`` is a ``Product`` whose factors are all ``Sparse``; a generic Product that
contains it splices its factors in, as for any Product.
"""

from __future__ import annotations

import torch

from ..core.compose import Product, register_rule
from .sparse import Sparse

__all__ = ["SparseProduct"]


class SparseProduct(Product):
    """W = S_1 S_2 ⋯ S_K for ``factors = [S_1, …, S_K]`` (``Sparse`` matrices with chained
    shapes: S_k.shape[1] == S_{k+1}.shape[0]); nested SparseProducts are flattened.

    Attributes: ``factors`` (an ``nn.ModuleList`` of the Sparse factors, the objects given —
    parameters are shared, not copied), ``nnz_per_factor``, ``nnz`` (their sum).

    Examples
    --------
    The factors are listed left to right: SparseProduct([A, B]) is A @ B.

    >>> A = kmatrix.Sparse.from_dense(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))
    >>> B = kmatrix.Sparse.from_dense(torch.tensor([[2.0, 0.0], [0.0, 3.0]]))
    >>> P = kmatrix.SparseProduct([A, B])
    >>> P.to_dense().tolist(), P.num_params
    ([[0.0, 3.0], [2.0, 0.0]], 4)
    """

    def __init__(self, factors):
        if isinstance(factors, Sparse) or not isinstance(factors, (list, tuple)):
            raise TypeError(f"factors: expected a list of Sparse matrices, got {type(factors).__name__}")
        flat: list[Sparse] = []
        for k, f in enumerate(factors):
            if isinstance(f, SparseProduct):
                flat.extend(f.factors)
            elif isinstance(f, Sparse):
                flat.append(f)
            else:
                raise TypeError(f"factors: expected Sparse entries, factor {k} is {type(f).__name__}")
        if not flat:
            raise ValueError("factors: expected at least one Sparse matrix")
        for k in range(len(flat) - 1):
            if flat[k].shape[1] != flat[k + 1].shape[0]:
                raise ValueError(
                    f"factors: factor {k} has shape {flat[k].shape} and factor {k + 1} has shape "
                    f"{flat[k + 1].shape}: inner dimensions differ"
                )
        super().__init__(flat)

    @property
    def nnz_per_factor(self) -> list[int]:
        return [f.nnz for f in self.factors]

    @property
    def nnz(self) -> int:
        return sum(self.nnz_per_factor)

    def to_dense(self):
        """W through the factors, one unit vector per row or column: the rows e_iᵀ W (the
        transposed product applied to I_m) when m ≤ n, else the columns W e_j —
        O(min(m, n) · Σ_k (nnz_k + rows_k)) time and O(min(m, n) · max_k size_k) memory, never
        a dense intermediate factor (a 20000-factor circuit product has 32768 × 32768 factors).
        Differentiable in the values like the product itself."""
        m, n = self.shape
        if m <= n:
            return self.T(torch.eye(m, dtype=self.dtype, device=self.device))
        return self(torch.eye(n, dtype=self.dtype, device=self.device)).transpose(0, 1)

    def _transpose(self):
        return SparseProduct([f.T for f in reversed(self.factors)])

    def _merge_scale(self, scalar):
        # c·S_1 ⋯ S_K = (c·S_1) S_2 ⋯ S_K: a new first factor, the others shared.
        return SparseProduct([self.factors[0]._merge_scale(scalar), *self.factors[1:]])

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, nnz_per_factor={self.nnz_per_factor}"


# ---------------------------------------------------------------------- composition rules
# A product of sparse matrices is kept factored: multiplying the factors out can fill in up to
# nnz_1·nnz_2 entries (an n×1 times a 1×n factor gives n²), while the factored product costs
# exactly nnz_1 + nnz_2. The result shares the operands' values (like a generic Product).


@register_rule("matmul", Sparse, Sparse, shares=True)
def _sparse_sparse(a, b):
    return SparseProduct([a, b])


@register_rule("matmul", SparseProduct, Sparse, shares=True)
def _sp_sparse(a, b):
    return SparseProduct([*a.factors, b])


@register_rule("matmul", Sparse, SparseProduct, shares=True)
def _sparse_sp(a, b):
    return SparseProduct([a, *b.factors])


@register_rule("matmul", SparseProduct, SparseProduct, shares=True)
def _sp_sp(a, b):
    return SparseProduct([*a.factors, *b.factors])
