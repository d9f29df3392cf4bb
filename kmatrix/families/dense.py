"""Dense: the unstructured baseline (survey §2.2). θ = all mn entries; product O(mn)."""

from __future__ import annotations

import torch
from torch import nn

from ..core.compose import register_rule
from ..core.structured import StructuredMatrix
from ..core.validation import as_tensor, check_finite
from .diagonal import Diagonal
from .permutation import Permutation

__all__ = ["Dense", "dense_flops"]


def dense_flops(m: int, n: int, is_complex: bool = False) -> int:
    """Real flops of one dense m×n matrix-vector product: m(2n−1) over ℝ, m(8n−2) over ℂ."""
    return m * (8 * n - 2) if is_complex else m * (2 * n - 1)


class Dense(StructuredMatrix):
    """W given by all its entries. ``num_params`` = mn; flops = m(2n−1) over ℝ and m(8n−2) over
    ℂ (a complex multiply is 4 real multiplies + 2 additions, a complex addition 2 additions:
    per row n multiplies and n−1 additions).

    Composition: the operators keep the operands (shared θ); ``kmatrix.merge`` turns Dense +
    anything and Dense @ Dense into one Dense, and absorbs a Diagonal or a Permutation next to
    a Dense into it (rows/columns scaled or permuted: same cost, one factor), with new
    parameters.

    Examples
    --------
    >>> W = kmatrix.Dense(torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))
    >>> W.shape, W.num_params
    ((3, 2), 6)
    >>> W(torch.tensor([1.0, 1.0])).tolist()
    [3.0, 7.0, 11.0]
    """

    def __init__(self, W, dtype: torch.dtype | None = None):
        W = as_tensor(W, "W", dtype=dtype, ndim=2)
        check_finite(W, "W")
        super().__init__(tuple(W.shape), W.dtype, W.device)
        self.weight = nn.Parameter(W.clone())

    @property
    def flops(self) -> int:
        return dense_flops(*self.shape, self.is_complex)

    def _matvec(self, x):
        return x @ self.weight.transpose(0, 1)

    def _rmatvec(self, y):
        return y @ self.weight

    def to_dense(self):
        return self.weight

    def _merge_scale(self, scalar):
        return Dense(self.weight.detach() * scalar)

    def _config(self):
        return {"W": self.weight.detach()}


@register_rule("add", Dense, StructuredMatrix)
def _dense_add(a, b):
    return Dense(a.weight.detach() + b.to_dense().detach())


@register_rule("add", StructuredMatrix, Dense)
def _add_dense(a, b):
    return Dense(a.to_dense().detach() + b.weight.detach())


@register_rule("matmul", Dense, Dense)
def _dense_matmul(a, b):
    return Dense(a.weight.detach() @ b.weight.detach())


def _promoted(a, b):
    return torch.promote_types(a.dtype, b.dtype)


@register_rule("matmul", Dense, Diagonal)
def _dense_diag(a, b):
    """W diag(d): column j scaled by d[j]."""
    dt = _promoted(a, b)
    return Dense(a.weight.detach().to(dt) * b.diag.detach().to(dt)[None, :])


@register_rule("matmul", Diagonal, Dense)
def _diag_dense(a, b):
    """diag(d) W: row i scaled by d[i]."""
    dt = _promoted(a, b)
    return Dense(a.diag.detach().to(dt)[:, None] * b.weight.detach().to(dt))


@register_rule("matmul", Permutation, Dense)
def _perm_dense(a, b):
    """(P W)[i, :] = W[perm[i], :]."""
    return Dense(b.weight.detach()[a.perm].to(_promoted(a, b)))


@register_rule("matmul", Dense, Permutation)
def _dense_perm(a, b):
    """(W P)[:, j] = W[:, perm⁻¹[j]] (P[i, perm[i]] = 1)."""
    return Dense(a.weight.detach()[:, b.inverse_perm].to(_promoted(a, b)))
