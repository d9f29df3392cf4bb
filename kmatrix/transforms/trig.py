"""The type-II discrete cosine and sine transforms (orthonormal) as structured composites.

NOTES.md: the 8-point DCT-II fits neither real nor complex BB* by least squares, so we do not
claim a K-matrix; Makhoul's reduction gives an exact composite instead. With the permutation
(P x)_j = x[perm[j]], perm = (0, 2, 4, …, …, 5, 3, 1) (evens ascending, then odds descending),

    DCT-II = Re(D F_n) P,     D = diag(2 f_k e^{−ιπk/(2n)}),

f_0 = √(1/(4n)), f_k = √(1/(2n)) (scipy's norm="ortho"). DST-II = J · DCT-II · diag((−1)^j)
(J the reversal), and since Re(M) = Re(conj M) the reversal folds into the diagonals:
DST-II = Re(D' F_n Ω) P with D'_k = conj(D_{n−1−k}), Ω = diag(ω^j (−1)^{perm[j]}).
Cost: one complex K-matrix product (width 1 for n a power of two) plus an O(n) gather.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.compose import Product
from ..core.validation import complex_dtype_of, real_dtype_of
from ..families.permutation import Permutation
from ..families.real_part import RealPart
from ._build import dft_any_twiddle, kmatrix_from, scale_input, scale_output
from ._common import check_size, resolve_dtype

__all__ = ["dct", "dst"]


def _makhoul_perm(n: int) -> np.ndarray:
    perm = np.empty(n, dtype=np.int64)
    evens = np.arange(0, n, 2)
    odds = np.arange(1, n, 2)
    perm[: len(evens)] = evens
    perm[len(evens):] = odds[::-1]
    return perm


def _dct_diag(n: int) -> np.ndarray:
    k = np.arange(n)
    f = np.full(n, np.sqrt(1.0 / (2 * n)))
    f[0] = np.sqrt(1.0 / (4 * n))
    return 2 * f * np.exp(-1j * np.pi * k / (2 * n))


def _pad(d: np.ndarray, N: int) -> np.ndarray:
    out = np.zeros(N, dtype=np.complex128)
    out[: len(d)] = d
    return out


def _compose(tw: np.ndarray, n: int, perm: np.ndarray, dtype: torch.dtype) -> Product:
    real = real_dtype_of(dtype)
    K = kmatrix_from(tw, n, n, complex_dtype_of(real))
    return Product([RealPart(K), Permutation(torch.from_numpy(perm), dtype=real)])


def dct(n: int, dtype: torch.dtype | None = None) -> Product:
    """Orthonormal DCT-II: y_k = 2 f_k Σ_j x_j cos(πk(2j+1)/(2n)) (= ``scipy.fft.dct(x,
    norm="ortho")``).

    Returns a real ``Product([RealPart(K), Permutation])`` (precision of ``dtype``; default:
    torch's default dtype) with K a complex :class:`~kmatrix.KMatrix` equal to D·F_n — width 1,
    expansion 1 for n a power of two, else width 2, expansion 2 (Bluestein) — and the
    permutation Makhoul's even/odd reordering.

    Examples
    --------
    Equal to ``scipy.fft.dct(x, norm="ortho")`` (type II):

    >>> import scipy.fft
    >>> C = kmatrix.transforms.dct(8, dtype=torch.float64)
    >>> x = torch.randn(8, dtype=torch.float64)
    >>> bool(abs(C(x).detach().numpy() - scipy.fft.dct(x.numpy(), norm="ortho")).max() < 1e-12)
    True
    """
    n = check_size(n)
    dtype = resolve_dtype(dtype)
    tw, N = dft_any_twiddle(n)
    scale_output(tw, _pad(_dct_diag(n), N))
    return _compose(tw, n, _makhoul_perm(n), dtype)


def dst(n: int, dtype: torch.dtype | None = None) -> Product:
    """Orthonormal DST-II: y_k = 2 f_k Σ_j x_j sin(π(k+1)(2j+1)/(2n)), f_{n−1} = √(1/(4n)),
    else √(1/(2n)) (= ``scipy.fft.dst(x, norm="ortho")``).

    Returns a real ``Product([RealPart(K), Permutation])`` like :func:`dct` (same widths and
    expansions), K = D'·F_n·Ω with the reversal and the signs folded into the diagonals.

    Examples
    --------
    Equal to ``scipy.fft.dst(x, norm="ortho")`` (type II):

    >>> import scipy.fft
    >>> S = kmatrix.transforms.dst(8, dtype=torch.float64)
    >>> x = torch.randn(8, dtype=torch.float64)
    >>> bool(abs(S(x).detach().numpy() - scipy.fft.dst(x.numpy(), norm="ortho")).max() < 1e-12)
    True
    """
    n = check_size(n)
    dtype = resolve_dtype(dtype)
    tw, N = dft_any_twiddle(n)
    perm = _makhoul_perm(n)
    d = _dct_diag(n)
    scale_output(tw, _pad(np.conj(d[::-1]), N))
    j = np.arange(n)
    omega = np.exp(-2j * np.pi * j / n) * np.where(perm % 2 == 0, 1.0, -1.0)
    scale_input(tw, _pad(omega, N))
    return _compose(tw, n, perm, dtype)
