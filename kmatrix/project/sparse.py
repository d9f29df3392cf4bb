"""Projection onto s-sparse matrices (survey Def 2.3, §4.2): keep the s largest entries.

``‖M − X‖_F² = Σ_{(i,j)∉supp X} |M_ij|² + Σ_{supp} |M_ij − X_ij|²``, minimised over
``|supp X| ≤ s`` by the s entries of largest modulus (ties broken by position) with X = M there. Cost
O(mn) (``torch.topk``).
"""

from __future__ import annotations

import torch

from ..families.sparse import Sparse
from ._common import check_int_range

__all__ = ["project_sparse", "top_s"]


def top_s(M: torch.Tensor, nnz: int) -> Sparse:
    m, n = M.shape
    flat = M.reshape(-1)
    idx = torch.topk(flat.abs(), nnz, sorted=False).indices.sort().values
    return Sparse(idx // n, idx % n, flat[idx], (m, n))


def project_sparse(M: torch.Tensor, nnz: int = 1):
    """The ``nnz`` largest-modulus entries of M (optimal); returns (Sparse, True, details)."""
    s = check_int_range(nnz, "nnz", 0, M.numel())
    return top_s(M, s), True, {}
