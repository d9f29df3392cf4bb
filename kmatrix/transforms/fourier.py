"""The discrete Fourier transform and its inverse as K-matrices (survey §5.1, Figure 3)."""

from __future__ import annotations

import numpy as np
import torch

from ..core.validation import complex_dtype_of
from ..families.kaleidoscope import KMatrix
from ._build import dft_any_twiddle, kmatrix_from
from ._common import check_size, resolve_dtype

__all__ = ["dft", "idft"]


def dft(n: int, dtype: torch.dtype | None = None) -> KMatrix:
    """F_n[k, j] = ω^{jk}, ω = e^{−2πι/n} (= ``torch.fft.fft`` on the last dimension).

    Returns a complex :class:`~kmatrix.KMatrix` in ``dtype`` (complex; a real dtype selects the
    complex dtype of its precision; default: complex counterpart of torch's default dtype):

    * n a power of two: **width 1, expansion 1** — the DFT is built exactly in BB* itself (one
      factor B·B*, Beneš order), better than the survey's Figure 3 butterfly × bit-reversal
      (width 2): the bit reversal is routed through the Beneš switches while the FFT's
      Hadamard stages are spread over both halves.
    * other n: Bluestein's chirp identity F_n = A T A, T the corner of a circulant of size
      N = 2^⌈log2(2n − 1)⌉: **width 2, expansion 2**.

    Accuracy: normwise ~1e-15·log2 N in complex128 (the twiddles are the roots of unity).

    Examples
    --------
    >>> F = kmatrix.transforms.dft(16, dtype=torch.complex128)
    >>> F.width, F.expansion
    (1, 1)
    >>> x = torch.randn(3, 16, dtype=torch.complex128)
    >>> bool((F(x) - torch.fft.fft(x)).abs().max() < 1e-12)
    True
    >>> kmatrix.transforms.dft(6).width           # Bluestein for n not a power of two
    2
    """
    n = check_size(n)
    dtype = complex_dtype_of(resolve_dtype(dtype))
    tw, _ = dft_any_twiddle(n)
    return kmatrix_from(tw, n, n, dtype)


def idft(n: int, dtype: torch.dtype | None = None) -> KMatrix:
    """F_n⁻¹ = conj(F_n)/n (= ``torch.fft.ifft``, including the 1/n).

    Returns a complex :class:`~kmatrix.KMatrix` in ``dtype`` (as :func:`dft`: a real dtype
    selects the complex dtype of its precision) of the same width and expansion as :func:`dft`
    (width 1 / expansion 1 for n a power of two, else width 2 / expansion 2): the conjugated
    twiddles with 1/n folded into the first stage.

    Examples
    --------
    >>> G = kmatrix.transforms.idft(8, dtype=torch.complex128)
    >>> x = torch.randn(8, dtype=torch.complex128)
    >>> bool((G(x) - torch.fft.ifft(x)).abs().max() < 1e-12)
    True
    """
    n = check_size(n)
    dtype = complex_dtype_of(resolve_dtype(dtype))
    tw, _ = dft_any_twiddle(n)
    tw = np.conj(tw)
    tw[0, 0, 0] /= n
    return kmatrix_from(tw, n, n, dtype)
