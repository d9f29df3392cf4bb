"""Sparse + low rank (survey §4.3): W = S + L R.

The class of the matrix-rigidity problem (Valiant) and of robust PCA (Candès et al. [12]):
S is s-sparse in the listing representation (``Sparse``), L R has rank ≤ r (``LowRank``).
θ = the values of S and the entries of L and R (the two children are submodules; the objects
given are kept, not copied, so their parameters are shared). Product: S x + L(R x), O(s + r(m+n)).

flops = flops(S) + flops(LR) + m (the final additions; 2m over ℂ), i.e. over ℝ
2·nnz − r_S + r(2n − 1) + m(2r − 1) + m with r_S the nonempty rows of S.

Composition: Sparse + LowRank (either order) gives a SparsePlusLowRank sharing both operands
(the operator itself). ``kmatrix.merge`` of a sum with a Sparse, a LowRank or another
SparsePlusLowRank merges like with like (Sparse + Sparse coalesced, LowRank + LowRank
concatenated: new parameters from current values) and keeps the untouched part shared; merged
c·W scales both parts.
"""

from __future__ import annotations

import torch

from ..core.compose import merge, register_rule
from ..core.structured import StructuredMatrix
from .lowrank import LowRank
from .sparse import Sparse

__all__ = ["SparsePlusLowRank"]


class SparsePlusLowRank(StructuredMatrix):
    """W = sparse + lowrank for a ``Sparse`` and a ``LowRank`` of the same shape.

    Attributes: ``sparse``, ``lowrank`` (the submodules), ``nnz``, ``rank``. The dtype is the
    promotion of the two children's dtypes (a real child meets a complex input by the real/imag
    split of the core).

    Examples
    --------
    >>> S = kmatrix.Sparse(torch.tensor([0, 1]), torch.tensor([1, 0]), torch.tensor([5.0, -1.0]), (2, 2))
    >>> L = kmatrix.LowRank(torch.ones(2, 1), torch.ones(1, 2))
    >>> W = kmatrix.SparsePlusLowRank(S, L)
    >>> W.to_dense().tolist(), W.num_params
    ([[1.0, 6.0], [0.0, 1.0]], 6)
    """

    def __init__(self, sparse: Sparse, lowrank: LowRank):
        if not isinstance(sparse, Sparse):
            raise TypeError(f"sparse: expected a Sparse matrix, got {type(sparse).__name__}")
        if not isinstance(lowrank, LowRank):
            raise TypeError(f"lowrank: expected a LowRank matrix, got {type(lowrank).__name__}")
        if sparse.shape != lowrank.shape:
            raise ValueError(f"sparse, lowrank: shapes differ: {sparse.shape} and {lowrank.shape}")
        super().__init__(sparse.shape, torch.promote_types(sparse.dtype, lowrank.dtype), sparse.device)
        self.sparse = sparse
        self.lowrank = lowrank

    @property
    def dtype(self):
        return torch.promote_types(self.sparse.dtype, self.lowrank.dtype)

    @property
    def nnz(self) -> int:
        return self.sparse.nnz

    @property
    def rank(self) -> int:
        return self.lowrank.rank

    @property
    def flops(self) -> int:
        adds = self.shape[0] * (2 if self.is_complex else 1)
        return self.sparse.flops + self.lowrank.flops + adds

    def _matvec(self, x):
        s, lr = self.sparse, self.lowrank
        return s._apply_rows(x, s._matvec) + lr._apply_rows(x, lr._matvec)

    def _rmatvec(self, y):
        s, lr = self.sparse, self.lowrank
        return s._apply_rows(y, s._rmatvec) + lr._apply_rows(y, lr._rmatvec)

    def to_dense(self):
        return self.sparse.to_dense().to(self.dtype) + self.lowrank.to_dense().to(self.dtype)

    def _merge_scale(self, scalar):
        return SparsePlusLowRank(self.sparse._merge_scale(scalar), self.lowrank._merge_scale(scalar))

    def _config(self):
        return {"sparse": self.sparse, "lowrank": self.lowrank}

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, nnz={self.nnz}, rank={self.rank}"


# ---------------------------------------------------------------------- composition rules
@register_rule("add", Sparse, LowRank, shares=True)
def _s_lr(a, b):
    return SparsePlusLowRank(a, b)


@register_rule("add", LowRank, Sparse, shares=True)
def _lr_s(a, b):
    return SparsePlusLowRank(b, a)


# Merging rules (kmatrix.merge): like parts merged (new parameters), the other part shared.
@register_rule("add", SparsePlusLowRank, SparsePlusLowRank)
def _splr_splr(a, b):
    return SparsePlusLowRank(merge(a.sparse + b.sparse), merge(a.lowrank + b.lowrank))


@register_rule("add", SparsePlusLowRank, Sparse)
def _splr_s(a, b):
    return SparsePlusLowRank(merge(a.sparse + b), a.lowrank)


@register_rule("add", Sparse, SparsePlusLowRank)
def _s_splr(a, b):
    return SparsePlusLowRank(merge(a + b.sparse), b.lowrank)


@register_rule("add", SparsePlusLowRank, LowRank)
def _splr_lr(a, b):
    return SparsePlusLowRank(a.sparse, merge(a.lowrank + b))


@register_rule("add", LowRank, SparsePlusLowRank)
def _lr_splr(a, b):
    return SparsePlusLowRank(b.sparse, merge(a + b.lowrank))
