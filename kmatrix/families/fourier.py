"""The discrete Fourier transform (survey Def 2.4): F[i, j] = ω^{ij}, ω = e^{−2πι/n}.

Indices start at 0 and the sign is negative (NOTES.md: the survey's unrolled sum has a sign
typo), so F x = ``torch.fft.fft(x)``. With ``norm="ortho"`` the matrix is F/√n, which is unitary.
No parameters; always complex (``field = "complex"``: ``Fourier(n).to(torch.float32)`` computes in
complex64, ``.to(torch.complex128)`` in complex128).

Product: ``torch.fft.fft`` (pocketfft on CPU, cuFFT on GPU): O(n log n) for every n ≥ 1 —
mixed-radix for smooth n, Bluestein's chirp-z for large prime factors.
Transpose: F is symmetric, Fᵀ = F (``W.T`` is W itself).
Adjoint: Fᴴ = conj(F) = n·F⁻¹, the unnormalised inverse FFT (``torch.fft.ifft(y, norm="forward")``);
with ``norm="ortho"`` Fᴴ = F⁻¹ = ``ifft(y, norm="ortho")``.

flops: the convention of the radix-2 Cooley–Tukey count. Each of the log2 n stages does n/2
butterflies of one complex multiplication (6 real flops) and two complex additions (4): 10 per
butterfly, 5 n log2 n in all (trivial twiddles counted as full multiplications, as is usual). For
other n we report the same formula ⌈5 n log2 n⌉ as a nominal count (the split-radix / mixed-radix /
Bluestein algorithms used by the backend differ by a constant factor); n = 1 costs 0.
``norm="ortho"`` adds the scaling by 1/√n: 2n real multiplications.
"""

from __future__ import annotations

import math

import torch

from ..core.compose import register_rule
from ..core.structured import StructuredMatrix
from ..core.validation import check_positive_int
from .permutation import Permutation

__all__ = ["Fourier"]

_NORMS = {None: "backward", "backward": "backward", "ortho": "ortho"}


class Fourier(StructuredMatrix):
    """The n×n DFT matrix F[i, j] = exp(−2πι·ij/n) (``norm=None``) or F/√n (``norm="ortho"``).

    ``dtype`` sets the precision (a real dtype gives its complex counterpart); default: the complex
    counterpart of torch's default dtype. num_params = 0; flops = ⌈5 n log2 n⌉ (+2n for ortho).

    Examples
    --------
    F x is ``torch.fft.fft(x)`` (negative sign in the exponent):

    >>> F = kmatrix.Fourier(8, dtype=torch.complex128)
    >>> x = torch.randn(3, 8, dtype=torch.complex128)
    >>> bool((F(x) - torch.fft.fft(x)).abs().max() < 1e-12), F.num_params
    (True, 0)
    >>> torch.allclose(F.H(F(x)), 8 * x)      # Fᴴ F = n I
    True
    """

    field = "complex"
    computes_in_input_precision = True  # no parameters: a float64 input gets a complex128 FFT

    def __init__(self, n: int, norm: str | None = None, dtype: torch.dtype | None = None, device=None):
        n = check_positive_int(n, "n")
        if norm not in _NORMS:
            raise ValueError(f"norm: expected None, 'backward' or 'ortho', got {norm!r}")
        super().__init__((n, n), dtype, device)
        self.n = n
        self.norm = None if norm in (None, "backward") else "ortho"

    @property
    def flops(self) -> int:
        n = self.n
        base = 0 if n == 1 else math.ceil(5 * n * math.log2(n))
        return base + (2 * n if self.norm == "ortho" else 0)

    def _matvec(self, x):
        return torch.fft.fft(x, dim=-1, norm=_NORMS[self.norm])

    def _rmatvec(self, y):
        return self._matvec(y)  # F is symmetric

    def _hmatvec(self, y):
        # conj(F) y = n·ifft(y) (unnormalised inverse); ortho: conj(F/√n) y = ifft_ortho(y)
        return torch.fft.ifft(y, dim=-1, norm="forward" if self.norm is None else "ortho")

    def _transpose(self):
        return self

    def to_dense(self):
        return self._matvec(torch.eye(self.n, dtype=self.dtype, device=self.device))

    def _config(self):
        return {"n": self.n, "norm": self.norm, "dtype": self.dtype}

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, norm={self.norm!r}"


@register_rule("matmul", Fourier, Fourier, shares=True)  # no parameters
def _fourier_squared(a: Fourier, b: Fourier):
    """F² = n·J with J the index reversal (J x)[i] = x[−i mod n]: Σ_j ω^{ij} ω^{jk} = n·[i + k ≡ 0].
    With both factors orthonormal F² = J exactly (a Permutation, 0 flops); the scale of a mixed or
    unnormalised pair is n^{1/2} or n (a Scaled Permutation)."""
    n = a.n
    dt = torch.promote_types(a.dtype, b.dtype)
    J = Permutation((-torch.arange(n)) % n, dtype=dt)
    unnormalised = (a.norm is None) + (b.norm is None)
    if unnormalised == 0:
        return J
    return (n if unnormalised == 2 else math.sqrt(n)) * J
