"""Projection onto Toeplitz, Hankel and circulant matrices (survey §4.5): diagonal averages.

Each family is a linear subspace spanned by the 0/1 indicators E_d of its (anti-, wrapped)
diagonals; the E_d have disjoint supports, hence are orthogonal, so the orthogonal (Frobenius)
projection is ``X = Σ_d (⟨M, E_d⟩ / |E_d|) E_d``: every diagonal replaced by its mean. The error
is ``‖M − X‖_F² = ‖M‖_F² − Σ_d |Σ_{(i,j)∈d} M_ij|² / |d|`` (the diagonal-average formula).
Cost O(mn).
"""

from __future__ import annotations

import torch

from ..families.toeplitz import Circulant, Hankel, Toeplitz

__all__ = ["diagonal_means", "project_circulant", "project_hankel", "project_toeplitz"]


def diagonal_means(M: torch.Tensor, key: torch.Tensor, count: int) -> torch.Tensor:
    """Mean of M over each class ``key[i, j]`` ∈ [0, count)."""
    k = key.reshape(-1)
    sums = torch.zeros(count, dtype=M.dtype, device=M.device).index_add_(0, k, M.reshape(-1))
    sizes = torch.bincount(k, minlength=count).to(M.real.dtype if M.is_complex() else M.dtype)
    return sums / sizes


def _grid(M):
    m, n = M.shape
    i = torch.arange(m, device=M.device)[:, None]
    j = torch.arange(n, device=M.device)[None, :]
    return m, n, i, j


def project_toeplitz(M: torch.Tensor):
    """T[i, j] = mean of M along the diagonal i − j (optimal)."""
    m, n, i, j = _grid(M)
    vals = diagonal_means(M, (i - j + n - 1).expand(m, n), m + n - 1)  # vals[n − 1 + i − j]
    return Toeplitz(vals[n - 1:], vals[: n].flip(0)), True, {}


def project_hankel(M: torch.Tensor):
    """H[i, j] = mean of M along the anti-diagonal i + j (optimal)."""
    m, n, i, j = _grid(M)
    h = diagonal_means(M, (i + j).expand(m, n), m + n - 1)
    return Hankel(h[:m], h[m - 1:]), True, {}


def project_circulant(M: torch.Tensor):
    """C[i, j] = mean of M along the wrapped diagonal (i − j) mod n (optimal; M square)."""
    m, n, i, j = _grid(M)
    if m != n:
        raise ValueError(f"M: the circulant family needs a square matrix, got shape {(m, n)}")
    c = diagonal_means(M, ((i - j) % n).expand(m, n), n)
    return Circulant(c), True, {}
