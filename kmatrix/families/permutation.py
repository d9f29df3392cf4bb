"""Permutation matrices: (P x)[i] = x[perm[i]], i.e. P[i, perm[i]] = 1. No parameters; O(n)
data movement and 0 flops (``num_params`` = 0). Pᵀ = P⁻¹ (the inverse permutation), P₁P₂ is the
permutation ``p2[p1]``. Every permutation of n = 2^k points is in BB* (survey Thm 5.6, via the
Beneš network; see NOTES.md)."""

from __future__ import annotations

import torch

from ..core.compose import register_rule
from ..core.structured import StructuredMatrix
from ..core.validation import as_tensor

__all__ = ["Permutation"]


def _check_perm(perm: torch.Tensor, inverse: torch.Tensor | None = None) -> None:
    """perm is a permutation of 0..n−1 (and ``inverse`` its inverse, when given); the
    constructor and ``_check_parameters`` (after load) both run this."""
    n = perm.shape[0]
    if perm.ndim != 1 or perm.dtype != torch.int64 or not torch.equal(
        torch.sort(perm).values, torch.arange(n, device=perm.device)
    ):
        raise ValueError(f"perm: expected a permutation of 0..{n - 1}, got {perm.tolist()[:16]}")
    if inverse is not None and (
        inverse.shape != perm.shape or inverse.dtype != torch.int64
        or not torch.equal(inverse[perm], torch.arange(n, device=perm.device))
    ):
        raise ValueError("inverse_perm: expected the inverse of perm (inverse_perm[perm[i]] == i)")


class Permutation(StructuredMatrix):
    """The permutation matrix with (P x)[i] = x[perm[i]]. Pᵀ = P⁻¹ is the inverse permutation;
    P₁ @ P₂ is the permutation ``p2[p1]``. ``dtype`` only sets the precision of products.

    Examples
    --------
    (P x)[i] = x[perm[i]]; Pᵀ is the inverse permutation.

    >>> P = kmatrix.Permutation(torch.tensor([2, 0, 1]))
    >>> x = torch.tensor([10.0, 20.0, 30.0])
    >>> P(x).tolist(), P.T(x).tolist()
    ([30.0, 10.0, 20.0], [20.0, 30.0, 10.0])
    >>> P.num_params
    0
    """

    computes_in_input_precision = True  # no parameters: nothing to round an input to

    def __init__(self, perm, dtype: torch.dtype | None = None):
        if isinstance(perm, (list, tuple)) and len(perm) == 0:  # np.asarray([]) would be float64
            raise ValueError("perm: expected a non-empty permutation of 0..n-1, got an empty sequence")
        perm = as_tensor(perm, "perm", integer=True, ndim=1)
        _check_perm(perm)
        n = perm.shape[0]
        super().__init__((n, n), dtype, perm.device)
        self.register_buffer("perm", perm.clone())
        self.register_buffer("inverse_perm", torch.argsort(perm))

    def _check_parameters(self):
        _check_perm(self.perm, self.inverse_perm)

    @property
    def flops(self) -> int:
        return 0

    def _matvec(self, x):
        return x[:, self.perm]

    def _rmatvec(self, y):
        return y[:, self.inverse_perm]

    def _transpose(self):
        return Permutation(self.inverse_perm, dtype=self.dtype)

    def to_dense(self):
        n = self.shape[0]
        out = torch.zeros(n, n, dtype=self.dtype, device=self.device)
        out[torch.arange(n, device=self.device), self.perm] = 1
        return out

    def _config(self):
        return {"perm": self.perm, "dtype": self.dtype}


@register_rule("matmul", Permutation, Permutation, shares=True)  # no parameters to share
def _perm_perm(a, b):
    return Permutation(b.perm[a.perm], dtype=torch.promote_types(a.dtype, b.dtype))
