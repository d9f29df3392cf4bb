"""Hadamard and identity matrices as K-matrices."""

from __future__ import annotations

import torch

from ..families.kaleidoscope import KMatrix
from ._common import check_size, resolve_dtype

__all__ = ["hadamard", "identity"]


def hadamard(n: int, dtype: torch.dtype | None = None) -> KMatrix:
    """The Sylvester–Hadamard matrix H_n = H_2^{⊗ log2 n} (= ``scipy.linalg.hadamard(n)``), n a
    power of two.

    Returns a :class:`~kmatrix.KMatrix` of **width 1, expansion 1** in ``dtype`` (default:
    torch's default dtype; real or complex): the B* half has every block [[1, 1], [1, −1]]
    (stride N/2^(k+1) carries tensor factor k), the B half is the identity. Exact (entries ±1).

    Examples
    --------
    >>> H = kmatrix.transforms.hadamard(4, dtype=torch.float64)
    >>> H.to_dense().tolist()
    [[1.0, 1.0, 1.0, 1.0], [1.0, -1.0, 1.0, -1.0], [1.0, 1.0, -1.0, -1.0], [1.0, -1.0, -1.0, 1.0]]
    """
    n = check_size(n)
    if n & (n - 1):
        raise ValueError(f"n: expected a power of two for the Hadamard matrix, got {n}")
    dtype = resolve_dtype(dtype)
    K = KMatrix(n, width=1, init="identity", dtype=dtype)
    if K.size == n:  # n ≥ 2 (n = 1: the 1×1 corner of the identity is H_1 = [1])
        tw = K.twiddle.detach().clone()
        tw[0, 0] = torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=dtype)
        K.set_twiddle(tw)
    return K


def identity(n: int, dtype: torch.dtype | None = None) -> KMatrix:
    """I_n. Returns a :class:`~kmatrix.KMatrix` of **width 1, expansion 1** (every block the
    2×2 identity; N = 2^⌈log2 n⌉) in ``dtype`` (default: torch's default dtype).

    Examples
    --------
    >>> I = kmatrix.transforms.identity(5, dtype=torch.float64)
    >>> I.shape, torch.equal(I.to_dense(), torch.eye(5, dtype=torch.float64))
    ((5, 5), True)
    """
    n = check_size(n)
    return KMatrix(n, width=1, init="identity", dtype=resolve_dtype(dtype))
