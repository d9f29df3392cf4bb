"""FFT helpers shared by the convolution-type families (Toeplitz, Hankel, Circulant, LDR).

Flop convention (used by every ``flops`` formula built on these helpers): a complex FFT of length
N costs 5·N·log2(N) real flops (the radix-2 count, also used for other lengths as the usual
model); a real-input FFT (rfft) or its inverse (irfft) costs half, 2.5·N·log2(N). A pointwise
product of spectra costs 6 real flops per complex multiplication (4 multiplications and
2 additions): 6N for a full complex spectrum, 6(⌊N/2⌋ + 1) for the half spectrum of a real one.
"""

from __future__ import annotations

import math

import torch

__all__ = ["fast_len", "fft_flops", "inverse_spectrum", "pointwise_flops", "spectrum"]


def fast_len(n: int) -> int:
    """Smallest 5-smooth integer (2^a·3^b·5^c) ≥ n: lengths pocketfft and cuFFT handle with
    radix-2/3/5 passes only, so padding to it never costs more than padding to a power of two."""
    n = max(int(n), 1)
    best = 1 << (n - 1).bit_length()  # next power of two: an upper bound
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            # smallest power of two q with p35·q ≥ n
            q = p35
            while q < n:
                q *= 2
            best = min(best, q)
            p35 *= 3
        p5 *= 5
    return best


def fft_flops(N: int, real: bool) -> float:
    """5·N·log2(N) real flops for a complex FFT of length N, half that for a real one."""
    if N <= 1:
        return 0.0
    c = 5.0 * N * math.log2(N)
    return c / 2 if real else c


def pointwise_flops(N: int, real: bool) -> int:
    """Flops of one pointwise product of two length-N spectra (half spectrum when real)."""
    return 6 * (N // 2 + 1) if real else 6 * N


#: torch has no CPU FFT (and cuFFT only powers of two) for half precision: the transforms of
#: float16 / bfloat16 data run in single precision and the callers cast the result back.
_FFT_DTYPE = {torch.float16: torch.float32, torch.bfloat16: torch.float32, torch.complex32: torch.complex64}


def spectrum(x: torch.Tensor, N: int, real: bool) -> torch.Tensor:
    """The length-N DFT of x (zero-padded) on the last dimension: rfft when ``real``. Half
    precision input is transformed in single precision (``_FFT_DTYPE``)."""
    x = x.to(_FFT_DTYPE.get(x.dtype, x.dtype))
    return torch.fft.rfft(x, n=N) if real else torch.fft.fft(x, n=N)


def inverse_spectrum(X: torch.Tensor, N: int, real: bool) -> torch.Tensor:
    """Inverse of :func:`spectrum`: a length-N signal (real when ``real``)."""
    return torch.fft.irfft(X, n=N) if real else torch.fft.ifft(X, n=N)
