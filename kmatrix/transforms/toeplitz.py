"""Circulant, Toeplitz and convolution matrices as K-matrices (width 2): a circulant is
diagonalised by the DFT, C = F⁻¹ diag(F c) F, and F, F⁻¹ ∈ BB*; a Toeplitz matrix is the
upper-left corner of a circulant of twice its size (the expansion)."""

from __future__ import annotations

import numpy as np
import torch

from ..core.structured import StructuredMatrix
from ..core.validation import complex_dtype_of
from ..families.real_part import RealPart
from ._build import circulant_twiddle, kmatrix_from, toeplitz_column
from ._common import check_size, values_and_dtype

__all__ = ["circulant", "convolution", "toeplitz"]


def _finish(col: np.ndarray, in_size: int, out_size: int, dtype: torch.dtype) -> StructuredMatrix:
    K = kmatrix_from(circulant_twiddle(col), in_size, out_size, complex_dtype_of(dtype))
    return K if dtype.is_complex else RealPart(K)


def circulant(c, dtype: torch.dtype | None = None) -> StructuredMatrix:
    """C[i, j] = c[(i − j) mod n] (= ``scipy.linalg.circulant(c)``), c of length n.

    Returns, in ``dtype`` (default: c's dtype; a complex c needs a complex dtype):

    * complex dtype: a :class:`~kmatrix.KMatrix` of **width 2** — C = (1/N) Fᴴ diag(F c) F —
      with **expansion 1** when n is a power of two, else the n×n corner of a circulant of size
      N = 2^⌈log2(2n − 1)⌉ holding C as a Toeplitz matrix (**expansion 2**);
    * real dtype: ``RealPart`` of that complex K-matrix (a real StructuredMatrix, Re taken
      after the complex product; exact since C is real).

    Examples
    --------
    >>> C = kmatrix.transforms.circulant(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64))
    >>> [[round(v, 10) for v in row] for row in C.to_dense().tolist()]
    [[1.0, 4.0, 3.0, 2.0], [2.0, 1.0, 4.0, 3.0], [3.0, 2.0, 1.0, 4.0], [4.0, 3.0, 2.0, 1.0]]
    """
    v, dtype = values_and_dtype(c, "c", dtype)
    n = v.shape[0]
    c_np = v.numpy()
    if n & (n - 1) == 0 and n >= 2:
        col = c_np.copy()
    else:
        r = np.concatenate([c_np[:1], c_np[1:][::-1]])
        col = toeplitz_column(c_np, r)
    return _finish(col, n, n, dtype)


def toeplitz(c, r=None, dtype: torch.dtype | None = None) -> StructuredMatrix:
    """T[i, j] = c[i − j] for i ≥ j, r[j − i] for j > i (= ``scipy.linalg.toeplitz(c, r)``:
    shape len(c) × len(r), r[0] ignored, r defaults to conj(c)).

    Returns, in ``dtype`` (default: promoted dtype of c and r): the corner of a circulant of
    size N = 2^⌈log2 max(m, k, m' + k − 1, m + k' − 1)⌉ (m', k' the lengths of c and r up to
    their last nonzero: N = 2^⌈log2(m + k − 1)⌉ for a full Toeplitz matrix), i.e. a :class:`~kmatrix.KMatrix` of **width 2** and the smallest power-of-two
    expansion giving that N (typically 2; 1 when the band is narrow enough) for a complex
    dtype, ``RealPart`` of it for a real dtype.

    Examples
    --------
    >>> c = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    >>> r = torch.tensor([1.0, 4.0, 5.0], dtype=torch.float64)
    >>> T = kmatrix.transforms.toeplitz(c, r)
    >>> [[round(v, 10) for v in row] for row in T.to_dense().tolist()]
    [[1.0, 4.0, 5.0], [2.0, 1.0, 4.0], [3.0, 2.0, 1.0]]
    """
    cv, c_dtype = values_and_dtype(c, "c", dtype)
    if r is None:
        rv, r_dtype = cv.conj().resolve_conj(), c_dtype
    else:
        rv, r_dtype = values_and_dtype(r, "r", dtype)
    if dtype is None:
        dtype = torch.promote_types(c_dtype, r_dtype)
    col = toeplitz_column(cv.numpy(), rv.numpy())
    return _finish(col, rv.shape[0], cv.shape[0], dtype)


def convolution(kernel, n: int, dtype: torch.dtype | None = None) -> StructuredMatrix:
    """The full linear convolution x ↦ kernel * x as an (n + k − 1) × n matrix (k = len(kernel);
    ``M @ x == numpy.convolve(kernel, x)``): the Toeplitz matrix with first column
    (kernel, 0, …) and first row (kernel[0], 0, …).

    Returns the corner of a circulant of size N = 2^⌈log2(n + k − 1)⌉: a
    :class:`~kmatrix.KMatrix` of **width 2, expansion 1** for a complex dtype, ``RealPart`` of
    it for a real dtype (default: the kernel's dtype).

    Examples
    --------
    The full linear convolution with a kernel, as ``numpy.convolve``:

    >>> K = kmatrix.transforms.convolution(torch.tensor([1.0, -1.0], dtype=torch.float64), 4)
    >>> K.shape
    (5, 4)
    >>> [round(v, 10) for v in K(torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)).tolist()]
    [1.0, 1.0, 1.0, 1.0, -4.0]
    """
    n = check_size(n)
    kv, dtype = values_and_dtype(kernel, "kernel", dtype)
    k = kv.shape[0]
    c = np.zeros(n + k - 1, dtype=np.complex128)
    c[:k] = kv.numpy()
    r = np.zeros(n, dtype=np.complex128)
    r[0] = c[0]
    col = toeplitz_column(c, r)
    return _finish(col, n, n + k - 1, dtype)


