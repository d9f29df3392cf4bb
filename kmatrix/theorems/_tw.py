"""Twiddle-array helpers of the constructions (numpy, float64/complex128).

A K-matrix's θ is a twiddle array (w, 2, L, N/2, 2, 2) (layout of :class:`kmatrix.KMatrix`):
``tw[f, 0, k]`` is stage k of factor f's B'^* part (stride N/2^(k+1)), ``tw[f, 1, k]`` stage k of
its B part (stride 2^k); factor 0 meets the vector first. Pair p of a stage of stride s acts on
positions (i, i + s) with i = (p // s)·2s + p mod s. The constructions build these arrays
exactly (0/1 switches, the input's own values) and turn them into a KMatrix once.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.validation import complex_dtype_of
from ..families.kaleidoscope import KMatrix, expansion_for

__all__ = [
    "identity_twiddle",
    "kmatrix_of",
    "lift",
    "pair_low",
    "pair_of",
    "twiddle_of",
]


def identity_twiddle(width: int, n: int, dtype=np.float64) -> np.ndarray:
    """Every 2×2 block the identity: the twiddle of I_N, width ``width``, size N = n."""
    levels = n.bit_length() - 1
    tw = np.zeros((width, 2, levels, n // 2, 2, 2), dtype=dtype)
    tw[..., 0, 0] = 1
    tw[..., 1, 1] = 1
    return tw


def pair_low(n: int, stride: int, pairs=None) -> np.ndarray:
    """Lower position i = (p // s)·2s + p mod s of each pair p (all N/2 pairs by default)."""
    p = np.arange(n // 2) if pairs is None else np.asarray(pairs)
    return (p // stride) * 2 * stride + p % stride


def pair_of(positions, stride: int) -> np.ndarray:
    """Pair index p holding position i at stride s (inverse of :func:`pair_low`)."""
    i = np.asarray(positions)
    return (i // (2 * stride)) * stride + i % stride


def lift(tw: np.ndarray, n_new: int) -> np.ndarray:
    """The twiddle of diag(E, I) of size ``n_new`` (a power of two ≥ N) for E of size N: the
    corner (hence the K-matrix's value) is unchanged. B'^* gains its a = log2(n_new/N) new
    (largest-stride) stages first, B gains them last; each old stage keeps its pairs
    (p < N/2 has the same positions at both sizes), the new pairs are identities."""
    n = 2 * tw.shape[3]
    if n_new == n:
        return tw
    a = (n_new.bit_length() - 1) - (n.bit_length() - 1)
    w, _, levels = tw.shape[:3]
    out = identity_twiddle(w, n_new, tw.dtype)
    out[:, 0, a:, : n // 2] = tw[:, 0]
    out[:, 1, :levels, : n // 2] = tw[:, 1]
    return out


def twiddle_of(K: KMatrix) -> np.ndarray:
    """A KMatrix's current θ as a float64 / complex128 numpy array (a copy; exact)."""
    t = K.twiddle.detach().cpu()
    t = t.to(torch.complex128 if t.is_complex() else torch.float64)
    return t.numpy().copy()


def kmatrix_of(tw: np.ndarray, in_size: int, out_size: int, dtype: torch.dtype) -> KMatrix:
    """A new KMatrix (new parameters) with twiddle ``tw`` and corner ``out_size × in_size`` in
    ``dtype``; complex twiddles make a complex matrix of ``dtype``'s precision."""
    n = 2 * tw.shape[3]
    t = torch.from_numpy(np.ascontiguousarray(tw))
    if np.iscomplexobj(tw) and not dtype.is_complex:
        dtype = complex_dtype_of(dtype)
    t = t.to(dtype)
    e = expansion_for(in_size, out_size, n)
    return KMatrix(in_size, out_size, width=tw.shape[0], expansion=e, init=t)
