"""Toeplitz, Hankel and circulant matrices (survey §4.4–4.5), products by FFT.

Definitions (those of ``scipy.linalg.toeplitz`` / ``hankel`` / ``circulant``, indices from 0):

* ``Toeplitz(c, r)``: m×n, m = len(c), n = len(r), first column c, first row r,
  T[i, j] = c[i − j] for i ≥ j and r[j − i] for j > i. ``r=None`` means r = conj(c) (square;
  Hermitian when c[0] is real), as in scipy.
* ``Hankel(c, r)``: m×n, first column c, *last* row r, H[i, j] = h[i + j] with
  h = (c[0], …, c[m−1], r[1], …, r[n−1]). ``r=None`` means zeros below the anti-diagonal
  (square), as in scipy.
* ``Circulant(c)``: n×n, first column c, C[i, j] = c[(i − j) mod n].

Unlike scipy, a conflicting corner raises instead of being silently dropped: the corner entry is
shared by c and r, so a given r must have r[0] == c[0] (Toeplitz) or r[0] == c[−1] (Hankel),
compared exactly after casting both to the matrix dtype.

θ = the free values, stored once: ``vals`` of length m + n − 1 (so ``num_params`` = m + n − 1;
the corner is not double counted) for Toeplitz (scipy's order: vals = (r[n−1], …, r[1], c[0], …,
c[m−1]), T[i, j] = vals[n − 1 + i − j]) and Hankel (vals = h, H[i, j] = h[i + j]); ``col`` of length
n for Circulant. ``.c`` and ``.r`` give the column/row views back.

Products (circulant embedding): with N = ``fast_len(m + n − 1)`` (the smallest 2^a·3^b·5^c
≥ m + n − 1), T x is the first m entries of the length-N circular convolution of
v = (c[0], …, c[m−1], 0, …, 0, r[n−1], …, r[1]) with x zero-padded; H x is entries n−1 … n+m−2 of
the circular convolution of (h, 0, …) with the reversed x; C x is the length-n circular
convolution of c with x (N = n, any length: pocketfft/cuFFT stay O(n log n) for all n).
Real matrices use rfft/irfft, complex ones fft/ifft. Transposes are native, on the same θ:
Toeplitz(c, r)ᵀ = Toeplitz(r, c) (vals reversed), Hankelᵀ is the n×m Hankel of the same h,
Circulant(c)ᵀ = Circulant((c[0], c[n−1], …, c[1])). ``.T`` is a view sharing θ whose product
is that native one.

flops of one matrix-vector product (FFT convention of :mod:`kmatrix.families._fft`: a complex FFT
of length N costs 5 N log2 N real flops, a real one half): three transforms (θ's embedding, x,
the inverse) and one pointwise product, 3·F(N) + P(N) with F(N) = 5 N log2 N over ℂ and
2.5 N log2 N over ℝ, P(N) = 6N over ℂ and 6(⌊N/2⌋ + 1) over ℝ. In a batch of B vectors θ's
transform is shared, so the cost per vector tends to 2·F(N) + P(N).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..core.compose import register_rule
from ..core.structured import StructuredMatrix
from ..core.validation import as_tensor, check_finite
from ._fft import fast_len, fft_flops, inverse_spectrum, pointwise_flops, spectrum

__all__ = ["Circulant", "Hankel", "Toeplitz"]


def _vector(value, name: str, dtype):
    t = as_tensor(value, name, dtype=dtype, ndim=1)
    check_finite(t, name)
    return t


def _pair(c, r, dtype):
    """c and r as 1-d tensors of one common dtype (``dtype`` if given, else promoted)."""
    c = _vector(c, "c", dtype)
    r = _vector(r, "r", dtype)
    common = dtype if dtype is not None else torch.promote_types(c.dtype, r.dtype)
    return c.to(common), r.to(common)


def _check_corner(c0: torch.Tensor, r0: torch.Tensor, what: str) -> None:
    if not bool(c0 == r0):
        raise ValueError(
            f"r: r[0] = {r0.item()} conflicts with {what} = {c0.item()}; both name the same corner "
            f"entry of the matrix (pass r with r[0] == {what}, or r=None)"
        )


def _conv_flops(N: int, real: bool) -> int:
    return math.ceil(3 * fft_flops(N, real) + pointwise_flops(N, real))


def _toeplitz_apply(vals: torch.Tensor, m: int, n: int, x: torch.Tensor) -> torch.Tensor:
    """T x for the m×n Toeplitz T[i, j] = vals[n − 1 + i − j]; x: (B, n) -> (B, m)."""
    N = fast_len(m + n - 1)
    real = not (vals.is_complex() or x.is_complex())
    v = torch.cat([vals[n - 1 :], vals.new_zeros(N - (m + n - 1)), vals[: n - 1]])
    y = inverse_spectrum(spectrum(v, N, real) * spectrum(x, N, real), N, real)
    return y[..., :m].to(torch.promote_types(vals.dtype, x.dtype))  # back to half precision


def _hankel_apply(h: torch.Tensor, m: int, n: int, x: torch.Tensor) -> torch.Tensor:
    """H x for the m×n Hankel H[i, j] = h[i + j]; x: (B, n) -> (B, m)."""
    N = fast_len(m + n - 1)
    real = not (h.is_complex() or x.is_complex())
    y = inverse_spectrum(spectrum(h, N, real) * spectrum(x.flip(-1), N, real), N, real)
    return y[..., n - 1 : n - 1 + m].to(torch.promote_types(h.dtype, x.dtype))


def _circulant_apply(col: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """C x for C[i, j] = col[(i − j) mod n]; x: (B, n) -> (B, n)."""
    n = col.shape[0]
    real = not (col.is_complex() or x.is_complex())
    y = inverse_spectrum(spectrum(col, n, real) * spectrum(x, n, real), n, real)
    return y.to(torch.promote_types(col.dtype, x.dtype))


class Toeplitz(StructuredMatrix):
    """T[i, j] = c[i − j] (i ≥ j), r[j − i] (j > i): first column c, first row r (scipy's
    ``toeplitz``), m×n with m = len(c), n = len(r); ``r=None`` gives r = conj(c).

    A given r with r[0] ≠ c[0] raises ValueError (scipy drops r[0] silently). θ = ``vals``
    (m + n − 1 scalars, T[i, j] = vals[n − 1 + i − j]). Product O((m + n) log(m + n)) by circulant
    embedding of length N = fast_len(m + n − 1); flops = 3·F(N) + P(N)
    (``help("kmatrix.families.toeplitz")``: F(N) = 5 N log2 N over ℂ, half over ℝ; P(N) = 6N over ℂ,
    6(⌊N/2⌋+1) over ℝ). Tᵀ = Toeplitz(r, c) on the same θ (vals reversed).

    Examples
    --------
    T[i, j] = c[i − j] below the diagonal, r[j − i] above (scipy's convention; c[0] == r[0]):

    >>> T = kmatrix.Toeplitz(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1.0, 4.0, 5.0]))
    >>> T.to_dense().tolist()
    [[1.0, 4.0, 5.0], [2.0, 1.0, 4.0], [3.0, 2.0, 1.0]]
    >>> T(torch.tensor([1.0, 0.0, 0.0])).tolist()
    [1.0, 2.0, 3.0]
    """

    def __init__(self, c, r=None, dtype: torch.dtype | None = None):
        if r is None:
            c = _vector(c, "c", dtype)
            r = c.conj().resolve_conj()
            r = torch.cat([c[:1], r[1:]])  # scipy: the corner comes from c
        else:
            c, r = _pair(c, r, dtype)
            _check_corner(c[0], r[0], "c[0]")
        m, n = c.shape[0], r.shape[0]
        super().__init__((m, n), c.dtype, c.device)
        self.vals = nn.Parameter(torch.cat([r[1:].flip(0), c]).clone())

    @property
    def c(self) -> torch.Tensor:
        """First column (a view of θ)."""
        return self.vals[self.shape[1] - 1 :]

    @property
    def r(self) -> torch.Tensor:
        """First row (derived from θ)."""
        return self.vals[: self.shape[1]].flip(0)

    @property
    def flops(self) -> int:
        m, n = self.shape
        return _conv_flops(fast_len(m + n - 1), not self.is_complex)

    def _matvec(self, x):
        m, n = self.shape
        return _toeplitz_apply(self.vals, m, n, x)

    def _rmatvec(self, y):
        m, n = self.shape
        return _toeplitz_apply(self.vals.flip(0), n, m, y)

    def to_dense(self):
        m, n = self.shape
        idx = (n - 1) + torch.arange(m, device=self.device)[:, None] - torch.arange(n, device=self.device)[None, :]
        return self.vals[idx]

    def _merge_scale(self, scalar):
        return Toeplitz(self.c.detach() * scalar, self.r.detach() * scalar)

    def _config(self):
        return {"c": self.c.detach(), "r": self.r.detach()}


class Hankel(StructuredMatrix):
    """H[i, j] = h[i + j], h = (c, r[1:]): first column c, last row r (scipy's ``hankel``),
    m×n with m = len(c), n = len(r); ``r=None`` gives zeros below the anti-diagonal.

    A given r with r[0] ≠ c[−1] raises ValueError. θ = ``vals`` = h (m + n − 1 scalars).
    Product O((m + n) log(m + n)) by a length-N = fast_len(m + n − 1) circular convolution of h
    with the reversed x; flops = 3·F(N) + P(N) (``help("kmatrix.families.toeplitz")``). Hᵀ is the
    n×m Hankel of the same h.

    Examples
    --------
    H[i, j] = c[i + j] for i + j < m, r[i + j − m + 1] beyond (c[−1] == r[0]):

    >>> H = kmatrix.Hankel(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([3.0, 4.0, 5.0]))
    >>> H.to_dense().tolist()
    [[1.0, 2.0, 3.0], [2.0, 3.0, 4.0], [3.0, 4.0, 5.0]]
    """

    def __init__(self, c, r=None, dtype: torch.dtype | None = None):
        if r is None:
            c = _vector(c, "c", dtype)
            r = torch.cat([c[-1:], c.new_zeros(c.shape[0] - 1)])
        else:
            c, r = _pair(c, r, dtype)
            _check_corner(c[-1], r[0], "c[-1]")
        m, n = c.shape[0], r.shape[0]
        super().__init__((m, n), c.dtype, c.device)
        self.vals = nn.Parameter(torch.cat([c, r[1:]]).clone())

    @property
    def c(self) -> torch.Tensor:
        """First column (a view of θ)."""
        return self.vals[: self.shape[0]]

    @property
    def r(self) -> torch.Tensor:
        """Last row (a view of θ)."""
        return self.vals[self.shape[0] - 1 :]

    @property
    def flops(self) -> int:
        m, n = self.shape
        return _conv_flops(fast_len(m + n - 1), not self.is_complex)

    def _matvec(self, x):
        m, n = self.shape
        return _hankel_apply(self.vals, m, n, x)

    def _rmatvec(self, y):
        m, n = self.shape
        return _hankel_apply(self.vals, n, m, y)

    def to_dense(self):
        m, n = self.shape
        idx = torch.arange(m, device=self.device)[:, None] + torch.arange(n, device=self.device)[None, :]
        return self.vals[idx]

    def _merge_scale(self, scalar):
        return Hankel(self.c.detach() * scalar, self.r.detach() * scalar)

    def _config(self):
        return {"c": self.c.detach(), "r": self.r.detach()}


class Circulant(StructuredMatrix):
    """C[i, j] = c[(i − j) mod n] (scipy's ``circulant``): n×n, first column c.

    θ = ``col`` = c (n scalars). Product O(n log n): C x = ifft(fft(c) · fft(x)) at length n;
    flops = 3·F(n) + P(n) (``help("kmatrix.families.toeplitz")``). Cᵀ = Circulant((c[0], c[n−1], …,
    c[1])) on the same θ. ``kmatrix.merge`` makes ``Circulant @ Circulant`` and ``+`` one circulant
    (new θ).

    Examples
    --------
    C[i, j] = c[(i − j) mod n]; the product is a circular convolution with c:

    >>> C = kmatrix.Circulant(torch.tensor([1.0, 2.0, 3.0]))
    >>> C.to_dense().tolist()
    [[1.0, 3.0, 2.0], [2.0, 1.0, 3.0], [3.0, 2.0, 1.0]]
    """

    def __init__(self, c, dtype: torch.dtype | None = None):
        c = _vector(c, "c", dtype)
        n = c.shape[0]
        super().__init__((n, n), c.dtype, c.device)
        self.col = nn.Parameter(c.clone())

    @property
    def c(self) -> torch.Tensor:
        return self.col

    @property
    def flops(self) -> int:
        return _conv_flops(self.shape[0], not self.is_complex)

    def _matvec(self, x):
        return _circulant_apply(self.col, x)

    def _rmatvec(self, y):
        return _circulant_apply(torch.roll(self.col.flip(0), 1), y)

    def to_dense(self):
        n = self.shape[0]
        idx = (torch.arange(n, device=self.device)[:, None] - torch.arange(n, device=self.device)[None, :]) % n
        return self.col[idx]

    def _merge_scale(self, scalar):
        return Circulant(self.col.detach() * scalar)

    def _config(self):
        return {"c": self.col.detach()}


@register_rule("add", Toeplitz, Toeplitz)
def _toeplitz_add(a, b):
    return Toeplitz(a.c.detach() + b.c.detach(), a.r.detach() + b.r.detach())


@register_rule("add", Hankel, Hankel)
def _hankel_add(a, b):
    return Hankel(a.c.detach() + b.c.detach(), a.r.detach() + b.r.detach())


@register_rule("add", Circulant, Circulant)
def _circulant_add(a, b):
    return Circulant(a.col.detach() + b.col.detach())


@register_rule("matmul", Circulant, Circulant)
def _circulant_matmul(a, b):
    # circulants commute and multiply by circular convolution of their first columns
    return Circulant(_circulant_apply(a.col.detach(), b.col.detach()[None, :])[0])
