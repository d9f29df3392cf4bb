"""Diagonal matrices D = diag(d) (the survey's notation, §1): D[i, i] = d[i], zero elsewhere.

θ = d (n scalars, ``num_params`` = n). Product (D x)[i] = d[i]·x[i]: O(n), flops n over ℝ and 6n
over ℂ (one complex multiplication each). D is symmetric (Dᵀ = D, shares θ); Dᴴ = diag(conj d).
Under ``kmatrix.merge`` (new parameters) Diagonal @ Diagonal and Diagonal + Diagonal become one
Diagonal, and a Diagonal next to a Dense or Sparse matrix is absorbed into it (rows or columns
scaled); the operators themselves keep the factors (shared θ)."""

from __future__ import annotations

import torch
from torch import nn

from ..core.compose import register_rule
from ..core.structured import StructuredMatrix
from ..core.validation import as_tensor, check_finite

__all__ = ["Diagonal"]


class Diagonal(StructuredMatrix):
    """D[i, i] = d[i]. flops = n over ℝ, 6n over ℂ (one complex multiply each).

    Examples
    --------
    >>> D = kmatrix.Diagonal(torch.tensor([1.0, 2.0, 3.0]))
    >>> D(torch.tensor([1.0, 1.0, 1.0])).tolist()
    [1.0, 2.0, 3.0]
    >>> D.num_params, D.flops
    (3, 3)
    >>> kmatrix.merge(D @ D).diag.tolist()        # one Diagonal, new parameters
    [1.0, 4.0, 9.0]
    """

    def __init__(self, d, dtype: torch.dtype | None = None):
        d = as_tensor(d, "d", dtype=dtype, ndim=1)
        check_finite(d, "d")
        super().__init__((d.shape[0], d.shape[0]), d.dtype, d.device)
        self.diag = nn.Parameter(d.clone())

    @property
    def flops(self) -> int:
        return self.shape[0] * (6 if self.is_complex else 1)

    def _matvec(self, x):
        return x * self.diag

    def _rmatvec(self, y):
        return y * self.diag

    def _transpose(self):
        return self

    def to_dense(self):
        return torch.diag(self.diag)

    def _merge_scale(self, scalar):
        return Diagonal(self.diag.detach() * scalar)

    def _config(self):
        return {"d": self.diag.detach()}


@register_rule("matmul", Diagonal, Diagonal)
def _diag_diag(a, b):
    return Diagonal(a.diag.detach() * b.diag.detach())


@register_rule("add", Diagonal, Diagonal)
def _diag_add(a, b):
    return Diagonal(a.diag.detach() + b.diag.detach())
