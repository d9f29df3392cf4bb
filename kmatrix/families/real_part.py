"""RealPart: Re(A) for a complex structured matrix A, as a real structured matrix.

Several real transforms (DCT, DST, real circulant / Toeplitz / convolution) are exactly the real
part of a complex K-matrix (Makhoul's DCT, the circulant diagonalised by the DFT). For a real
vector x, Re(A) x = Re(A x): one complex product, whose imaginary part is dropped. Cost:
flops(A) (the input promoted to complex). Re(A)ᵀ = Re(Aᵀ), native through A's own transpose.
"""

from __future__ import annotations

import torch

from ..core.compose import merge, scale
from ..core.structured import StructuredMatrix
from ..core.validation import complex_dtype_of, real_dtype_of

__all__ = ["RealPart"]


class RealPart(StructuredMatrix):
    """Re(A) (entrywise real part) of a structured matrix ``base`` (θ = base's parameters,
    shared). Real field: its dtype is the real dtype of base's precision; base stays complex
    under ``.to()`` / ``.double()`` / ``.float()`` (only its precision follows). A real input x
    gives Re(A x); a complex input is handled by the dtype rule (real and imaginary parts).

    Examples
    --------
    The real part of the DFT matrix, a cosine matrix:

    >>> R = kmatrix.RealPart(kmatrix.Fourier(4, dtype=torch.complex128))
    >>> R.dtype, R.to_dense().tolist()
    (torch.float64, [[1.0, 1.0, 1.0, 1.0], [1.0, 0.0, -1.0, 0.0], [1.0, -1.0, 1.0, -1.0], [1.0, 0.0, -1.0, 0.0]])
    """

    field = "real"

    def __init__(self, base: StructuredMatrix):
        if not isinstance(base, StructuredMatrix):
            raise TypeError(f"base: expected a StructuredMatrix, got {type(base).__name__}")
        super().__init__(base.shape, real_dtype_of(base.dtype), base.device)
        self.base = base

    @property
    def flops(self) -> int:
        return self.base.flops

    def _apply(self, fn, recurse=True):
        # A dtype conversion (``.to(float32)``, ``.double()``) must change the precision of the
        # complex base, never drop its imaginary part: probe what ``fn`` does to a real tensor.
        def keep_complex(t):
            if t.is_complex():
                probe = fn(torch.empty(0, dtype=t.real.dtype, device=t.device))
                if probe.dtype != t.real.dtype and not probe.is_complex():
                    return t.to(device=probe.device, dtype=complex_dtype_of(probe.dtype))
            return fn(t)

        return super()._apply(keep_complex, recurse)

    def _matvec(self, x):
        y = self.base._apply_rows(x, self.base._matvec)
        return y.real if y.is_complex() else y

    def _rmatvec(self, y):
        x = self.base._apply_rows(y, self.base._rmatvec)
        return x.real if x.is_complex() else x

    def to_dense(self):
        d = self.base.to_dense()
        return d.real if d.is_complex() else d

    def _merge_scale(self, scalar):
        if isinstance(scalar, complex):
            return None
        return RealPart(merge(scale(self.base, scalar)))

    def _merged(self):
        base = self.base._merged()
        return self if base is self.base else RealPart(base)

    def _config(self):
        return {"base": self.base}
