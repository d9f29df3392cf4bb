"""Closure of the kaleidoscope hierarchy under products and sums (Kaleidoscope paper, appendix;
used by Theorems 5.5 and 5.7): merged K-matrices with **new parameters** (copies of the operands'
current θ; ``A @ B`` and ``A + B`` stay lazy and share θ).

* Product: A ∈ (BB*)^{w_A}_{e_A}, B ∈ (BB*)^{w_B}_{e_B} ⇒ AB ∈ (BB*)^{w_A + w_B} at the larger
  size N = max(N_A, N_B): the smaller operand is lifted to diag(E, I) (its corner is unchanged),
  the factors are concatenated, and the truncation S_Aᵀ S_A between them (zeroing coordinates
  ≥ the inner size k) is folded into the first stage of A's first factor (column scaling).
* Sum (the closure lemma): A_1 + … + A_k with A_t ∈ (BB*)^{w_t}_{e} lies in
  (BB*)^{w_1 + … + w_k}_{4e}. Construction ("sequential", size 4N, four blocks of N): block 0
  accumulates, block 1 keeps x, block 2 is scratch. Term t's first factor spends its two
  largest-stride B'^* stages (strides 2N, N) copying x into block 2 (term 0 also moves x from
  block 0 to block 1), its own stages act on block 2 only, and its last factor's largest-stride
  B stage adds block 2 into block 0. Widths add, expansion ×4, whatever k.
  "stacked" layout: the terms side by side in M = 2^⌈log2 k⌉ blocks of a factor of size M·N,
  x copied to every block by the first log2 M stages of factor 0 and the blocks summed by the
  last log2 M stages of the last factor: width max_t w_t, expansion ×M. ``layout="auto"``
  stacks k ≤ 4 terms (then both width ≤ Σ w_t and expansion ≤ 4e: at least as good as the lemma
  on both counts, and fewer parameters) and goes sequential for k > 4 (expansion stays 4e).

Every switch added is 0/1, so sums and products of exact K-matrices stay exact (each output
coordinate of a sum is acc + block 2 with acc starting at 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..families.kaleidoscope import KMatrix
from ._tw import identity_twiddle, kmatrix_of, lift, twiddle_of

__all__ = ["kmatrix_product", "kmatrix_sum", "product_twiddle", "sum_twiddle"]

LAYOUTS = ("auto", "sequential", "stacked")


def _size(tw: np.ndarray) -> int:
    return 2 * tw.shape[3]


def _common_dtype(tws: Sequence[np.ndarray]):
    return np.complex128 if any(np.iscomplexobj(t) for t in tws) else np.float64


def product_twiddle(items: Sequence[tuple[np.ndarray, int, int]]) -> tuple[np.ndarray, int, int]:
    """Items (tw, in_size, out_size) in matrix order A, B, C, … (the product A·B·C⋯, the last
    applied first) → (tw, in_size, out_size) of the merged K-matrix (widths add)."""
    n = max(_size(t) for t, _, _ in items)
    dt = _common_dtype([t for t, _, _ in items])
    parts = []
    for j, (tw, k_in, k_out) in enumerate(reversed(items)):  # application order
        t = lift(tw.astype(dt), n).copy()
        if j > 0 and k_in < n:  # S_ᵀS between the previous factor and this one
            mask = (np.arange(n) < k_in).astype(dt)
            half = n // 2
            t[0, 0, 0, :, :, 0] *= mask[:half, None]
            t[0, 0, 0, :, :, 1] *= mask[half:, None]
        parts.append(t)
    return np.concatenate(parts, axis=0), items[-1][1], items[0][2]


def _check_kmatrices(mats, name: str) -> list[KMatrix]:
    if len(mats) == 1 and isinstance(mats[0], (list, tuple)):
        mats = tuple(mats[0])
    if not mats:
        raise ValueError(f"{name}: expected at least one KMatrix")
    for i, m in enumerate(mats):
        if not isinstance(m, KMatrix):
            raise TypeError(
                f"{name}: argument {i} is a {type(m).__name__}, expected a kmatrix.KMatrix"
            )
    return list(mats)


def _dtype_of(mats: Sequence[KMatrix], extra=None) -> torch.dtype:
    dt = mats[0].dtype
    for m in mats[1:]:
        dt = torch.promote_types(dt, m.dtype)
    if extra is not None and extra.is_complex and not dt.is_complex:
        dt = torch.promote_types(dt, torch.complex64)
    return dt


def kmatrix_product(*mats: KMatrix) -> KMatrix:
    """A₁ @ A₂ @ … @ A_k as **one new KMatrix** (new parameters: the operands' current twiddles
    copied exactly) of width w₁ + … + w_k at the largest size N among the operands (module
    docstring). Shapes must chain: A_i.in_size == A_{i+1}.out_size. Exact: the merged matrix
    applies the same stages to the same numbers.

    Examples
    --------
    >>> A = kmatrix.KMatrix(8, dtype=torch.float64)
    >>> B = kmatrix.KMatrix(8, width=2, dtype=torch.float64)
    >>> P = kmatrix.kmatrix_product(A, B)
    >>> P.width, torch.allclose(P.to_dense(), A.to_dense() @ B.to_dense())
    (3, True)
    """
    mats = _check_kmatrices(mats, "mats")
    for i in range(len(mats) - 1):
        if mats[i].in_size != mats[i + 1].out_size:
            raise ValueError(
                f"mats: shapes do not chain, argument {i} is {tuple(mats[i].shape)} and argument "
                f"{i + 1} is {tuple(mats[i + 1].shape)}"
            )
    tw, k_in, k_out = product_twiddle([(twiddle_of(m), m.in_size, m.out_size) for m in mats])
    return kmatrix_of(tw, k_in, k_out, _dtype_of(mats))


def _place(out, f, part, stage, pairs, value):
    out[f, part, stage, pairs] = value


def sum_twiddle(tws: Sequence[np.ndarray], layout: str = "auto") -> np.ndarray:
    """Twiddle of T_1 + … + T_k (same corner, twiddles ``tws``, any widths and sizes): see the
    module docstring for the layouts."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {LAYOUTS}, got {layout!r}")
    k = len(tws)
    dt = _common_dtype(tws)
    n = max(_size(t) for t in tws)
    tws = [lift(t.astype(dt), n) for t in tws]
    if k == 1:
        return tws[0].copy()
    if layout == "auto":
        layout = "stacked" if k <= 4 else "sequential"
    half = n // 2
    levels = n.bit_length() - 1
    copy = np.array([[1, 0], [1, 0]], dtype=dt)
    add = np.array([[1, 1], [0, 0]], dtype=dt)
    if layout == "sequential":
        total = sum(t.shape[0] for t in tws)
        out = identity_twiddle(total, 4 * n, dt)
        blk = slice(n, n + half)  # block 2's pairs in a within-block stage
        f0 = 0
        for t, tw in enumerate(tws):
            w = tw.shape[0]
            out[f0 : f0 + w, 0, 2:, blk] = tw[:, 0]
            out[f0 : f0 + w, 1, :levels, blk] = tw[:, 1]
            if t == 0:  # x: block 0 -> blocks 0 and 2, then block 0 -> block 1
                out[f0, 0, 0, :n] = copy
                out[f0, 0, 1, :n] = np.array([[0, 0], [1, 0]], dtype=dt)
            else:  # x: block 1 -> blocks 1 and 3, then block 3 -> block 2
                out[f0, 0, 0, n:] = copy
                out[f0, 0, 1, n:] = np.array([[0, 1], [0, 0]], dtype=dt)
            out[f0 + w - 1, 1, levels + 1, :n] = add  # block 0 += block 2
            f0 += w
        return out
    # stacked
    a = (k - 1).bit_length()
    m = 1 << a
    width = max(t.shape[0] for t in tws)
    out = identity_twiddle(width, m * n, dt)
    for t in range(m):
        blk = slice(t * half, (t + 1) * half)
        if t < k:
            w = tws[t].shape[0]
            out[:w, 0, a:, blk] = tws[t][:, 0]
            out[:w, 1, :levels, blk] = tws[t][:, 1]
        else:  # an unused block must contribute 0
            out[0, 0, a, blk] = 0
    out[0, 0, :a] = copy
    out[width - 1, 1, levels:] = add
    return out


def kmatrix_sum(*terms: KMatrix, coefficients=None, layout: str = "auto") -> KMatrix:
    """c₁A₁ + … + c_kA_k as **one new KMatrix** (new parameters: the terms' current twiddles
    copied exactly; ``A + B`` stays a lazy Sum sharing θ).

    Closure lemma (Kaleidoscope paper, appendix; the form Theorem 5.7 uses): terms in
    (BB*)^{w_t}_{e} sum to a matrix in (BB*)^{Σ w_t}_{4e}. ``layout``: ``"sequential"`` (exactly
    that: width Σ w_t, size 4N), ``"stacked"`` (width max w_t, size 2^⌈log2 k⌉·N) or
    ``"auto"`` (stacked for k ≤ 4, which meets the lemma's width and expansion and has fewer
    parameters; sequential beyond). N is the largest term size. All terms must have the same
    shape. ``coefficients``: optional scalars folded into each term's first stage (a complex
    one makes the result complex). Exact in float64/complex128 (0/1 switches; each entry is a
    sum of the terms' entries computed as 0 + t₁ + t₂ …).

    Examples
    --------
    >>> A = kmatrix.KMatrix(8, dtype=torch.float64)
    >>> B = kmatrix.KMatrix(8, dtype=torch.float64)
    >>> S = kmatrix.kmatrix_sum(A, B, coefficients=[1.0, -2.0])
    >>> torch.allclose(S.to_dense(), A.to_dense() - 2 * B.to_dense())
    True
    """
    terms = _check_kmatrices(terms, "terms")
    shape = tuple(terms[0].shape)
    for i, t in enumerate(terms):
        if tuple(t.shape) != shape:
            raise ValueError(f"terms: term {i} has shape {tuple(t.shape)}, term 0 has {shape}")
    tws = [twiddle_of(t) for t in terms]
    extra = None
    if coefficients is not None:
        coefs = list(coefficients)
        if len(coefs) != len(terms):
            raise ValueError(f"coefficients: expected {len(terms)} scalars, got {len(coefs)}")
        for i, c in enumerate(coefs):
            if (
                isinstance(c, bool)
                or not isinstance(c, (int, float, complex, np.number))
                or not np.isfinite(c)
            ):
                raise TypeError(f"coefficients: entry {i} must be a finite number, got {c!r}")
        if any(isinstance(c, complex) or np.iscomplexobj(c) for c in coefs):
            extra = torch.complex128
            tws = [t.astype(np.complex128) for t in tws]
        for t, c in zip(tws, coefs):
            t[0, 0, 0] *= c
    tw = sum_twiddle(tws, layout)
    return kmatrix_of(tw, terms[0].in_size, terms[0].out_size, _dtype_of(terms, extra))
