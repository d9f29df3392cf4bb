"""Horizontal step matrices and the one-butterfly scatters behind Theorem 5.7.

Definition (survey §5.3.1, Kaleidoscope paper): H is a *horizontal step matrix* when every
column has at most one nonzero and, for any two neighbouring nonzero columns j₁ < j₂ (nonzero
rows r₁, r₂), 0 ≤ r₂ − r₁ ≤ j₂ − j₁ (the nonzero moves down by at most as many rows as columns).

Why H ∈ 𝓑 (one increasing-stride butterfly B = B_N ⋯ B_2, stride 1 applied first): after the
stages of strides 1, …, 2^(k−1), column j can sit at the position whose low k bits are those of
its target row f(j) and whose high bits are j's own; the stage of stride 2^k then sets bit k.
Two columns meet exactly when they lie in one aligned block of 2^k columns and their rows agree
mod 2^k; a butterfly can route every column to its row iff any two columns that meet have the
same row (merged signals cannot be separated). For a horizontal step matrix two columns of one
aligned block are < 2^k apart, so their rows differ by < 2^k: agreeing mod 2^k means equal. The
value H[f(j), j] is applied by the first stage (where column j is still alone); every later
block entry is 0 or 1. O(N log N).

The transpose of a one-butterfly scatter is a one-*decreasing*-butterfly gather (y_u = v_u ·
x_{c(u)}): the stages reversed with transposed blocks. Sparse matrices use both.
"""

from __future__ import annotations

import numpy as np
import torch

from ..families._twiddle import padded_size
from ..families.butterfly import Butterfly

__all__ = [
    "gather_twiddle",
    "horizontal_step_to_butterfly",
    "is_horizontal_step",
    "scatter_twiddle",
]


def scatter_twiddle(target: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Stages (L, N/2, 2, 2), strides 1, 2, …, N/2, of the N×N matrix with column j equal to
    values[j]·e_{target[j]} (target[j] = −1: a zero column). Raises ValueError when two columns
    that the butterfly merges have different rows (module docstring)."""
    n = target.shape[0]
    levels = n.bit_length() - 1
    dt = np.complex128 if np.iscomplexobj(values) else np.float64
    tw = np.zeros((levels, n // 2, 2, 2), dtype=dt)
    live = np.flatnonzero(target >= 0)
    f = target[live]
    vals = np.zeros(n, dtype=dt)
    vals[live] = values[live]
    for k in range(levels):
        s = 1 << k
        pos = ((live >> k) << k) | (f & (s - 1))
        fpos = np.full(n, -1, dtype=np.int64)
        fpos[pos] = f
        if (fpos[pos] != f).any():
            j = int(live[np.flatnonzero(fpos[pos] != f)[0]])
            raise ValueError(
                f"column {j} (row {int(target[j])}) meets a column with another row after the "
                f"stride-{s // 2 if s > 1 else 1} stage: not a product of one butterfly"
            )
        p = np.arange(n // 2)
        lo = (p // s) * 2 * s + p % s
        for col, i in ((0, lo), (1, lo + s)):
            present = fpos[i] >= 0
            bit = (fpos[i] >> k) & 1
            scale = vals[i] if k == 0 else np.ones(n // 2, dtype=dt)
            tw[k, :, 0, col] = np.where(present & (bit == 0), scale, 0)
            tw[k, :, 1, col] = np.where(present & (bit == 1), scale, 0)
    return tw


def gather_twiddle(source: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Stages (L, N/2, 2, 2), strides N/2, …, 1, of the N×N matrix with row u equal to
    values[u]·e_{source[u]}ᵀ (source[u] = −1: a zero row): the transpose of
    :func:`scatter_twiddle`."""
    return np.swapaxes(scatter_twiddle(source, values)[::-1], -1, -2).copy()


def _nonzero_pattern(M, name: str):
    """(rows, cols, values, shape, dtype) of the nonzeros of a 2-d matrix-like."""
    from ..families._coo import coo_of

    return coo_of(M, name)


def is_horizontal_step(M) -> bool:
    """True when M (a 2-d tensor/array, ``torch.sparse``, ``scipy.sparse`` or ``kmatrix.Sparse``)
    is a horizontal step matrix (``help("kmatrix.theorems.step")``): at most one nonzero per column,
    and between neighbouring nonzero columns j₁ < j₂ the row moves down by 0 … j₂ − j₁.

    Examples
    --------
    >>> H = torch.tensor([[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 3.0, 0.0], [0.0, 0.0, 0.0, 4.0]])
    >>> kmatrix.is_horizontal_step(H), kmatrix.is_horizontal_step(H.flip(0))
    (True, False)
    """
    rows, cols, _, _, _ = _nonzero_pattern(M, "M")
    if len(cols) == 0:
        return True
    if len(np.unique(cols)) != len(cols):
        return False
    order = np.argsort(cols)
    r, c = rows[order], cols[order]
    dr, dc = np.diff(r), np.diff(c)
    return bool(((dr >= 0) & (dr <= dc)).all())


def horizontal_step_to_butterfly(H, dtype: torch.dtype | None = None) -> Butterfly:
    """A horizontal step matrix H (m×n) as a :class:`kmatrix.Butterfly` with increasing strides
    (one B ∈ 𝓑, size N = 2^⌈log2 max(m, n)⌉), whose corner equals H exactly: the first stage
    carries H's values, every other block entry is 0 or 1 (``help("kmatrix.theorems.step")``). New
    parameters, in H's dtype (or ``dtype``). ValueError when H is not a horizontal step matrix.

    Examples
    --------
    >>> H = torch.tensor([[1.0, 2.0, 0.0, 0.0], [0.0, 0.0, 3.0, 0.0], [0.0, 0.0, 0.0, 4.0]], dtype=torch.float64)
    >>> B = kmatrix.horizontal_step_to_butterfly(H)
    >>> type(B).__name__, torch.equal(B.to_dense(), H)
    ('Butterfly', True)
    """
    rows, cols, vals, (m, n), dt = _nonzero_pattern(H, "H")
    if not is_horizontal_step(H):
        raise ValueError(
            "H: not a horizontal step matrix (a column with two nonzeros, or neighbouring "
            "nonzero columns j1 < j2 whose rows do not satisfy 0 <= r2 - r1 <= j2 - j1)"
        )
    N = padded_size(max(m, n))
    target = np.full(N, -1, dtype=np.int64)
    target[cols] = rows
    v = np.zeros(N, dtype=vals.dtype)
    v[cols] = vals
    tw = scatter_twiddle(target, v)
    dtype = dt if dtype is None else dtype
    t = torch.from_numpy(tw)
    if t.is_complex() and not dtype.is_complex:
        raise TypeError(f"dtype: H has complex values, got real dtype {dtype}")
    return Butterfly(n, m, increasing_stride=True, init=t.to(dtype))
