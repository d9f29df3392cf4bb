"""Theorem 5.7: a matrix with s nonzeros is in (BB*)^{4⌈s/n⌉}_4, constructively.

Split the nonzeros into k = ⌈s/N⌉ pieces of at most N (N = 2^⌈log2 max(m, n)⌉, at least 2),
write each piece as S = P₁·H·P₂·V·P₃ and sum the pieces with :func:`kmatrix.kmatrix_sum`.

Piece factorisation (slots u = 0 … N−1 hold the piece's nonzeros):

* P₃ (permutation): column c → its rank among the piece's distinct columns (unused columns
  fill the other ranks in increasing order). Avoided (P₃ = I) when V can read the columns
  themselves: slots *spread* as u_t = (c_t − c_0) + (t − rank_t + rank_0), so that consecutive
  slots are at least as far apart as their columns (a horizontal step pattern with the actual
  columns), whenever the last slot fits in N — always when s + span(columns) − #columns < N —
  or contiguous slots when one butterfly happens to route them;
* V (one decreasing butterfly, Vᵀ horizontal step): slot u, in column-sorted order, copies
  its column (spread slots) or the column's rank (ranks non-decreasing, steps of 0 or 1);
* P₂ (permutation): the V slot of each nonzero → its H slot;
* H (one increasing butterfly, horizontal step): slot q, in row-sorted order, adds value·x into
  its row (spread slots) or its row's rank;
* P₁ (permutation): row rank → row (avoided in the same way: spread slots on the row side).

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


def _side(order: np.ndarray, labels: np.ndarray, N: int):
    """Slots for one side of a piece (columns for V, rows for H), entries taken in ``order``
    (sorted by label). Returns (slot of each entry, label per slot (−1: empty), the distinct
    labels when the slots hold ranks, else None). Tried in turn: (1) *spread* slots u_t = (ℓ_t − ℓ_0) + (t − rank_t + rank_0), the
    actual labels: consecutive slots then differ by at least their labels' difference, a
    horizontal step pattern, routable by one butterfly, if the last slot fits (u < N); (2)
    contiguous slots with the actual labels, if one butterfly routes them; (3) contiguous slots
    with the labels' ranks (always routable) and the permutation rank ↔ label."""
    s = len(order)
    lab = labels[order]
    uniq, rank = np.unique(lab, return_inverse=True)
    t = np.arange(s)
    spread = (lab - lab[0]) + (t - rank)
    candidates = []
    if spread[-1] < N:
        candidates.append(spread)
    candidates.append(t)
    for slots in candidates:
        src = np.full(N, -1, dtype=np.int64)
        src[slots] = lab
        try:
            scatter_twiddle(src, np.ones(N))  # the routability test (gather = its transpose)
        except ValueError:
            continue
        out = np.empty(s, dtype=np.int64)
        out[order] = slots
        return out, src, None
    src = np.full(N, -1, dtype=np.int64)
    src[t] = rank
    out = np.empty(s, dtype=np.int64)
    out[order] = t
    return out, src, uniq


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
    u, src, ucols = _side(order_c, cols, N)
    q, tgt, urows = _side(order_r, rows, N)
    factors = []
    if ucols is not None:  # P3: x'[rank] = x[col]
        factors.append(
            benes_twiddle(complete_partial_permutation(N, np.arange(len(ucols)), ucols))[0]
        )
    V = gather_twiddle(src, np.ones(N))
    hv = np.zeros(N, dtype=dt)
    hv[q] = vals
    H = scatter_twiddle(tgt, hv)
    perm2 = complete_partial_permutation(N, q, u)  # z'[q(e)] = z[u(e)]
    if np.array_equal(perm2, np.arange(N)):
        factors.append(np.stack([V, H]))
    else:
        xy = benes_twiddle(perm2, reverse=True)
        factors.append(np.stack([V, xy[0]]))
        factors.append(np.stack([xy[1], H]))
    if urows is not None:  # P1: y[row] = w[rank]
        factors.append(
            benes_twiddle(complete_partial_permutation(N, urows, np.arange(len(urows))))[0]
        )
    return np.stack([f.astype(dt) for f in factors])


def theorem_5_7_bound(s: int, m: int, n: int) -> tuple[int, int]:
    """(width, expansion) that Theorem 5.7 guarantees for an m×n matrix with s nonzeros:
    (4⌈s/max(m, n)⌉, 4), at least width 1.

    Examples
    --------
    >>> kmatrix.theorems.theorem_5_7_bound(48, 16, 16)      # s = 48 nonzeros in a 16×16 matrix
    (12, 4)
    """
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

    Examples
    --------
    A 16×16 matrix with s = 48 nonzeros: Theorem 5.7 allows width 4⌈s/n⌉ = 12 and expansion 4.

    >>> M = torch.zeros(16, 16, dtype=torch.float64)
    >>> idx = torch.randperm(256)[:48]
    >>> M.view(-1)[idx] = torch.randn(48, dtype=torch.float64)
    >>> K = kmatrix.sparse_to_kmatrix(M)
    >>> K.width <= 12 and K.expansion <= 4, torch.allclose(K.to_dense(), M)
    (True, True)
    >>> kmatrix.theorems.theorem_5_7_bound(48, 16, 16)
    (12, 4)
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
