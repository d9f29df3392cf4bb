"""Theorem 5.6: every permutation is in BB* (a Beneš network), routed by the looping algorithm.

A K-matrix factor B·B'^* of size N = 2^L applies the strides N/2, …, 2, 1 (B'^*) then 1, 2, …,
N/2 (B): exactly the stages of a Beneš network. Recursively, its first and last stages (stride
h = N/2) are switches on the pairs (i, i + h), and between them the two halves [0, h) and
[h, N) are independent Beneš networks of size h. To route (P x)[i] = x[perm[i]] each input j
gets a colour c(j) ∈ {0 (top half), 1 (bottom half)} with

* c(j) ≠ c(j ⊕ h)                (the two inputs of an input switch use different halves),
* c(perm[i]) ≠ c(perm[i ⊕ h])    (the two outputs of an output switch come from different halves).

These constraints form disjoint even cycles (the *looping algorithm*); the map
σ(j) = perm[perm⁻¹(j ⊕ h) ⊕ h] walks a cycle two steps at a time, so c is constant on the orbits
of σ and opposite on the orbits of j and j ⊕ h. We colour an orbit 0 when its smallest element
is smaller than its partner orbit's. The minima are found for all 2^ℓ sub-networks of level ℓ at
once by pointer doubling (min(m, m∘σ), σ ← σ∘σ; ⌈log2 M⌉ + 1 rounds for sub-networks of size
M), so level ℓ costs O(N log(N/2^ℓ)) vectorised work and the whole routing O(N log² N) array
operations (each a numpy pass; n = 2^16 routes in well under a second). Every 2×2 block is
exactly [[1, 0], [0, 1]] (straight) or [[0, 1], [1, 0]] (cross), so the product is bitwise exact.

``reverse=True`` routes through B (strides 1 … N/2) *then* B'^* (strides N/2 … 1): the same
network after relabelling positions by bit reversal (a stage of stride 2^k becomes one of stride
2^(L−1−k)), used by Theorem 5.7's sparse construction to fit a permutation between a B'^* and a B.
"""

from __future__ import annotations

import numpy as np
import torch

from ..families._twiddle import padded_size
from ..families.kaleidoscope import KMatrix
from ..transforms._common import resolve_dtype
from ._tw import kmatrix_of, pair_low, pair_of

__all__ = ["benes", "benes_twiddle", "check_permutation", "complete_partial_permutation"]


def check_permutation(perm, name: str = "perm") -> np.ndarray:
    """``perm`` as an int64 numpy array, checked: 1-d, non-empty, integer, a permutation of
    0 … n−1 (the error names a repeated or out-of-range entry)."""
    if isinstance(perm, torch.Tensor):
        arr = perm.detach().cpu().numpy()
    else:
        if isinstance(perm, (list, tuple)) and len(perm) == 0:
            raise ValueError(
                f"{name}: expected a non-empty permutation of 0..n-1, got an empty sequence"
            )
        try:
            arr = np.asarray(perm)
        except Exception as exc:  # pragma: no cover - numpy's own message is kept
            raise TypeError(
                f"{name}: expected a sequence of integers, got {type(perm).__name__}"
            ) from exc
    if arr.dtype == bool or arr.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected integer entries, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d permutation, got shape {arr.shape}")
    n = arr.shape[0]
    if n == 0:
        raise ValueError(f"{name}: expected a non-empty permutation of 0..n-1, got an empty array")
    arr = arr.astype(np.int64)
    bad = (arr < 0) | (arr >= n)
    if bad.any():
        raise ValueError(
            f"{name}: entry {int(arr[bad][0])} is out of range for a permutation of 0..{n - 1}"
        )
    counts = np.bincount(arr, minlength=n)
    if (counts != 1).any():
        rep = int(np.flatnonzero(counts > 1)[0])
        raise ValueError(f"{name}: not a permutation, {rep} appears {int(counts[rep])} times")
    return arr


def complete_partial_permutation(n: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """A permutation ``perm`` of 0 … n−1 with perm[rows[t]] = cols[t] (rows and cols each
    distinct): the free rows take the unused columns in increasing order."""
    perm = np.full(n, -1, dtype=np.int64)
    perm[rows] = cols
    used = np.zeros(n, dtype=bool)
    used[cols] = True
    perm[perm < 0] = np.flatnonzero(~used)
    return perm


def _route(perm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Looping algorithm on a permutation of N = 2^L points: (cross_in, cross_out), bool arrays
    (L, N/2); cross_in[ℓ] are the switches of B'^* stage ℓ (stride N/2^(ℓ+1)), cross_out[k] those
    of B stage k (stride 2^k)."""
    n = perm.shape[0]
    levels = n.bit_length() - 1
    cross_in = np.zeros((levels, n // 2), dtype=bool)
    cross_out = np.zeros((levels, n // 2), dtype=bool)
    P = perm.copy()
    idx = np.arange(n)
    for lev in range(levels):
        h = n >> (lev + 1)
        inv = np.empty(n, dtype=np.int64)
        inv[P] = idx
        sigma = P[inv[idx ^ h] ^ h]
        m = idx.copy()
        f = sigma
        for _ in range((2 * h).bit_length()):
            m = np.minimum(m, m[f])
            f = f[f]
        c = (m > m[idx ^ h]).astype(np.int64)  # 0: top half, 1: bottom half
        low = pair_low(n, h)
        cross_in[lev] = c[low] == 1
        cp = c[P]  # half each output's value travels through
        cross_out[levels - 1 - lev] = cp[low] == 1
        q = (idx & ~h) | (cp * h)  # sub-network position of output i
        newP = np.empty(n, dtype=np.int64)
        newP[q] = (P & ~h) | (cp * h)
        P = newP
    return cross_in, cross_out


def _switch_blocks(cross: np.ndarray) -> np.ndarray:
    c = cross.astype(np.float64)
    out = np.empty(cross.shape + (2, 2))
    out[..., 0, 0] = 1 - c
    out[..., 0, 1] = c
    out[..., 1, 0] = c
    out[..., 1, 1] = 1 - c
    return out


def _bitrev(n: int) -> np.ndarray:
    levels = n.bit_length() - 1
    idx = np.arange(n)
    out = np.zeros(n, dtype=np.int64)
    for b in range(levels):
        out |= ((idx >> b) & 1) << (levels - 1 - b)
    return out


def benes_twiddle(perm: np.ndarray, reverse: bool = False) -> np.ndarray:
    """Switch twiddles for (P x)[i] = x[perm[i]], perm a permutation of N = 2^L ≥ 2 points.

    ``reverse=False``: shape (1, 2, L, N/2, 2, 2), one K-matrix factor B·B'^*.
    ``reverse=True``: shape (2, L, N/2, 2, 2): [B stages (strides 1 … N/2), B'^* stages
    (strides N/2 … 1)] in application order, i.e. P = Y·X with X ∈ B applied first.
    """
    n = perm.shape[0]
    levels = n.bit_length() - 1
    if not reverse:
        cin, cout = _route(perm)
        tw = np.empty((1, 2, levels, n // 2, 2, 2))
        tw[0, 0] = _switch_blocks(cin)
        tw[0, 1] = _switch_blocks(cout)
        return tw
    r = _bitrev(n)
    cin, cout = _route(r[perm[r]])  # the permutation in bit-reversed coordinates
    out = np.empty((2, levels, n // 2, 2, 2))
    # relabelled stage of stride 2^k' (pairs p') -> original stride 2^(L-1-k'), pair of r(low')
    for part, cross, stride_of in ((0, cin, lambda k: n >> (k + 1)), (1, cout, lambda k: 1 << k)):
        for k in range(levels):
            s_rel = stride_of(k)
            s_orig = n // (2 * s_rel)
            p_orig = pair_of(r[pair_low(n, s_rel)], s_orig)
            stage = np.empty(n // 2, dtype=bool)
            stage[p_orig] = cross[k]
            # relabelled B'^* (strides N/2 … 1) = original strides 1 … N/2: the B part, first
            dst_part = 0 if part == 0 else 1
            out[dst_part, k] = _switch_blocks(stage)
    return out


def benes(perm, dtype: torch.dtype | None = None) -> KMatrix:
    """The permutation matrix (P x)[i] = x[perm[i]] (as :class:`kmatrix.Permutation`) as a
    KMatrix of **width 1, expansion 1**: one factor B·B'^* whose 2×2 blocks are all exactly
    [[1, 0], [0, 1]] or [[0, 1], [1, 0]] (Theorem 5.6; routing by the looping algorithm of
    Beneš networks, O(N log² N) vectorised work).

    Any n ≥ 1: perm is extended by the identity on n … N−1, N = 2^⌈log2 n⌉ (at least 2), and the
    KMatrix is the n×n corner. ``dtype``: the matrix's precision (default torch's default dtype;
    every entry is 0 or 1, so the result is exact in any dtype). New parameters.

    Raises ``TypeError`` for non-integer entries and ``ValueError`` naming a repeated or
    out-of-range entry.

    Examples
    --------
    >>> perm = torch.tensor([3, 0, 2, 1, 7, 5, 4, 6])
    >>> K = kmatrix.benes(perm, dtype=torch.float64)
    >>> K.width, K.expansion
    (1, 1)
    >>> torch.equal(K.to_dense(), kmatrix.Permutation(perm, dtype=torch.float64).to_dense())
    True
    """
    perm = check_permutation(perm)
    dtype = resolve_dtype(dtype)
    n = perm.shape[0]
    N = padded_size(n)
    full = np.concatenate([perm, np.arange(n, N)])
    return kmatrix_of(benes_twiddle(full), n, n, dtype)
