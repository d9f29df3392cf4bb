"""Exact constructions of classical transforms as K-matrices (survey §5; NOTES.md).

Each function takes ``dtype=`` (the precision it is built in; twiddles computed in
float64/complex128, then rounded once) and returns a StructuredMatrix equal to its reference to
≤ 1e-10 relative in float64/complex128:

=================  =================================================  ========================
function           returns                                            reference
=================  =================================================  ========================
dft(n)             KMatrix, width 1 (n = 2^k) / 2 (Bluestein)         torch.fft.fft
idft(n)            KMatrix, same                                      torch.fft.ifft
hadamard(n)        KMatrix, width 1                                   scipy.linalg.hadamard
identity(n)        KMatrix, width 1                                   torch.eye
dct(n), dst(n)     Product[RealPart(KMatrix), Permutation] (Makhoul)  scipy.fft.dct/dst ortho
circulant(c)       KMatrix width 2 (complex) / RealPart of it (real)  scipy.linalg.circulant
toeplitz(c, r)     KMatrix width 2, expansion ≤ 2 / RealPart          scipy.linalg.toeplitz
convolution(k, n)  KMatrix width 2, expansion 1 / RealPart            numpy.convolve
=================  =================================================  ========================
"""

from .elementary import hadamard, identity
from .fourier import dft, idft
from .toeplitz import circulant, convolution, toeplitz
from .trig import dct, dst

__all__ = ["circulant", "convolution", "dct", "dft", "dst", "hadamard", "identity", "idft", "toeplitz"]
