"""Theorem 5.7: a matrix with s nonzeros is in (BB*)^{4⌈s/n⌉}_4, constructively.

Split the nonzeros into k = ⌈s/N⌉ pieces of at most N (N = 2^⌈log2 max(m, n)⌉, at least 2),
write each piece as S = P₁·H·P₂·V·P₃ and sum the pieces with :func:`kmatrix.kmatrix_sum`.

Piece factorisation (slots u = 0 … N−1 hold the piece's nonzeros):

* P₃ (permutation): column c → its rank among the piece's distinct columns (unused columns
  fill the other ranks in increasing order; P₃ = I and V reads the columns themselves when one
  butterfly can route that, e.g. contiguous columns);
* V (one decreasing butterfly, Vᵀ horizontal step): slot u, in column-sorted order, copies
  the rank of its column (ranks non-decreasing in u, steps of 0 or 1);
* P₂ (permutation): column-sorted slot order → row-sorted slot order;
* H (one increasing butterfly, horizontal step): slot q, in row-sorted order, adds value·x into
  the rank of its row;
* P₁ (permutation): row rank → row (P₁ = I when H can write the rows themselves).

In Beneš order (B'^* then B in each factor): [P₃'^*, P₃] [V, X] [Y, H] [P₁'^*, P₁] with
P₂ = Y·X routed through B *then* B'^* (:func:`kmatrix.theorems.benes.benes_twiddle` with
``reverse=True``): **width ≤ 4 per piece**, the theorem's bound. Better where the pattern allows:
P₃ / P₁ are dropped when V / H route the columns / rows themselves, [V, X][Y, H] becomes
the single factor [V, H] when P₂ = I (the two slot orders agree, e.g. diagonal or banded
monotone patterns), and a piece with distinct rows and distinct columns (a scaled partial
permutation, e.g. a diagonal or a permutation) is one Beneš factor with its values folded into
the first stage: width 1. The values sit in one stage, every other block entry is 0 or 1, so
the K-matrix's entries are the input's entries exactly (bitwise).

Pieces: k = 1 needs no sum (expansion 1, better than the theorem's 4); k ≤ 4 pieces are stacked
(width ≤ 4, expansion ≤ 4); k > 4 use the sequential closure lemma (width Σ ≤ 4k, expansion 4).
Cost O(s log² N) vectorised work (the Beneš routing dominates).
"""

from __future__ import annotations

import numpy as np
import torch

from ..families._coo import coo_of
from ..families._twiddle import padded_size
from ..families.kaleidoscope import KMatrix
from ._tw import identity_twiddle, kmatrix_of
from .benes import benes_twiddle, complete_partial_permutation
from .step import gather_twiddle, scatter_twiddle
from .sums import LAYOUTS, sum_twiddle

__all__ = ["piece_twiddle", "sparse_to_kmatrix", "sparse_twiddle", "theorem_5_7_bound"]


def _scale_columns(tw: np.ndarray, d: np.ndarray) -> np.ndarray:
    """tw ← tw · diag(d): the first stage applied (stride N/2) gets its columns scaled."""
    half = tw.shape[3]
    if np.iscomplexobj(d) and not np.iscomplexobj(tw):
        tw = tw.astype(np.complex128)
    tw[0, 0, 0, :, :, 0] *= d[:half, None]
    tw[0, 0, 0, :, :, 1] *= d[half:, None]
    return tw


def piece_twiddle(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, N: int) -> np.ndarray:
    """Twiddle (w ≤ 4, 2, L, N/2, 2, 2) of the N×N matrix with the s ≤ N nonzeros
    (rows, cols, vals), distinct positions (module docstring)."""
    s = len(rows)
    dt = np.complex128 if np.iscomplexobj(vals) else np.float64
    if s == 0:
        tw = identity_twiddle(1, N, dt)
        tw[0, 0, 0] = 0
        return tw
    if len(np.unique(rows)) == s and len(np.unique(cols)) == s:  # scaled partial permutation
        perm = complete_partial_permutation(N, rows, cols)
        d = np.zeros(N, dtype=dt)
        d[cols] = vals
        return _scale_columns(benes_twiddle(perm).astype(dt), d)
    order_c = np.lexsort((rows, cols))  # column-sorted slots
    order_r = np.lexsort((cols, rows))  # row-sorted slots
    ucols, crank = np.unique(cols, return_inverse=True)
    urows, rrank = np.unique(rows, return_inverse=True)
    # V and H on the actual columns / rows when one butterfly can route them (then P3 / P1 = I),
    # else on the ranks (always possible: a horizontal step matrix) with P3 / P1 around them
    factors = []
    src = np.full(N, -1, dtype=np.int64)
    try:
        src[:s] = cols[order_c]
        V = gather_twiddle(src, np.ones(N))
    except ValueError:
        src[:s] = crank[order_c]
        V = gather_twiddle(src, np.ones(N))
        perm3 = complete_partial_permutation(N, np.arange(len(ucols)), ucols)  # x'[rank] = x[col]
        factors.append(benes_twiddle(perm3)[0])
    tgt = np.full(N, -1, dtype=np.int64)
    hv = np.zeros(N, dtype=dt)
    hv[:s] = vals[order_r]
    last = []
    try:
        tgt[:s] = rows[order_r]
        H = scatter_twiddle(tgt, hv)
    except ValueError:
        tgt[:s] = rrank[order_r]
        H = scatter_twiddle(tgt, hv)
        perm1 = complete_partial_permutation(N, urows, np.arange(len(urows)))  # y[row] = w[rank]
        last.append(benes_twiddle(perm1)[0])
    pos_c = np.empty(s, dtype=np.int64)
    pos_c[order_c] = np.arange(s)
    pos_r = np.empty(s, dtype=np.int64)
    pos_r[order_r] = np.arange(s)
    perm2 = np.arange(N)
    perm2[pos_r] = pos_c  # z'[q] = z[u]
    if np.array_equal(perm2, np.arange(N)):
        factors.append(np.stack([V, H]))
    else:
        xy = benes_twiddle(perm2, reverse=True)
        factors.append(np.stack([V, xy[0]]))
        factors.append(np.stack([xy[1], H]))
    factors.extend(last)
    return np.stack([f.astype(dt) for f in factors])


def theorem_5_7_bound(s: int, m: int, n: int) -> tuple[int, int]:
    """(width, expansion) that Theorem 5.7 guarantees for an m×n matrix with s nonzeros:
    (4⌈s/max(m, n)⌉, 4), at least width 1."""
    k = max(m, n)
    return max(1, 4 * -(-s // k)), 4


def sparse_to_kmatrix(S, layout: str = "auto", dtype: torch.dtype | None = None) -> KMatrix:
    """An m×n matrix with s nonzeros (dense tensor or array, ``torch.sparse``, ``scipy.sparse``
    or ``kmatrix.Sparse``) as a KMatrix whose dense form equals S exactly (Theorem 5.7; module
    docstring): width ≤ 4⌈s/N⌉ ≤ 4⌈s/max(m, n)⌉ and expansion ≤ 4, often much less (width 1
    for scaled permutations and diagonals, expansion 1 when s ≤ N).

    ``layout``: how the ⌈s/N⌉ pieces are summed (:func:`kmatrix.kmatrix_sum`; ``"auto"``
    stacks up to 4 pieces and goes sequential beyond, so the expansion never exceeds 4).
    ``dtype``: default S's own dtype (float64 stays float64). New parameters. Errors: TypeError
    for integer or non-numeric entries, ValueError for an empty matrix or NaN/infinity.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {LAYOUTS}, got {layout!r}")
    rows, cols, vals, (m, n), dt = coo_of(S, "S")
    dtype = dt if dtype is None else dtype
    if np.iscomplexobj(vals) and not dtype.is_complex:
        raise TypeError(f"dtype: S has complex values, got real dtype {dtype}")
    return kmatrix_of(sparse_twiddle(rows, cols, vals, (m, n), layout), n, m, dtype)


def sparse_twiddle(rows, cols, vals, shape: tuple[int, int], layout: str = "auto") -> np.ndarray:
    """Twiddle of the m×n matrix with the distinct nonzeros (rows, cols, vals): ⌈s/N⌉ pieces of
    :func:`piece_twiddle` in row-major order, summed by :func:`~kmatrix.theorems.sums.sum_twiddle`."""
    m, n = shape
    N = padded_size(max(m, n))
    s = len(rows)
    order = np.lexsort((cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    k = max(1, -(-s // N))
    pieces = [
        piece_twiddle(
            rows[i * N : (i + 1) * N], cols[i * N : (i + 1) * N], vals[i * N : (i + 1) * N], N
        )
        for i in range(k)
    ]
    return sum_twiddle(pieces, layout)
