"""Monarch matrices M = P L Pᵀ R (Dao et al., "Monarch: expressive structured matrices for
efficient and accurate training", ICML 2022), as the upper-left corner of a padded matrix.

With k = ``nblocks``, the input (zero-padded to n' = k·p, p = ⌈n/k⌉) is read as a k×p array
x[i, j] (flat index i·p + j). R is block-diagonal with k blocks R_i of shape (k·r)×p; its output
is read as z[i, c, ρ] (c < k, ρ < r). Pᵀ is the reshape permutation (i, c) → (c, i). L is
block-diagonal with k blocks L_c of shape l×(k·r), l = ⌈m/k⌉; its output is y[c, a], and P
(c, a) → (a, c) gives the flat output index a·k + c, truncated to m. Entrywise:

    M[a·k + c, i·p + j] = Σ_ρ L[c, a, i·r + ρ] · R[i, c·r + ρ, j],

so the l×p block (c, i) of M, rows {a·k + c}, columns {i·p + j}, has rank ≤ r — and every
matrix with all such blocks of rank ≤ r is a Monarch matrix (which is what makes the Frobenius
projection a blockwise truncated SVD, ``kmatrix.project(M, "monarch")``). For square n = k²,
r = 1 this is the paper's Monarch with √n blocks of size √n.

θ = L (k, l, k·r) and R (k, k·r, p): ``num_params`` = k·r·(k·p + k·l) ≈ 2 r n^{3/2} for square
n and k = √n. Product: two batched matmuls, O(k·r·(n' + m')) = O(r n^{3/2}); ``flops`` =
k·k·r·(2p − 1) + k·l·(2k·r − 1) over ℝ and k·k·r·(8p − 2) + k·l·(8k·r − 2) over ℂ.
``.T`` / ``.H`` multiply natively by the two transposed (conjugate-transposed) batched matmuls in
reverse order, sharing θ.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..core.structured import StructuredMatrix
from ..core.validation import as_tensor, check_finite, check_positive_int

__all__ = ["Monarch", "default_nblocks", "monarch_flops"]


def monarch_flops(k: int, r: int, p: int, l: int, is_complex: bool) -> int:
    """Real flops of one product: k blocks (k·r)×p, then k blocks l×(k·r)."""
    if is_complex:
        return k * k * r * (8 * p - 2) + k * l * (8 * k * r - 2)
    return k * k * r * (2 * p - 1) + k * l * (2 * k * r - 1)


def default_nblocks(m: int, n: int) -> int:
    """The divisor d of gcd(m, n) closest to √max(m, n) (the smaller one on ties) when
    √max/2 ≤ d ≤ 2√max, so that no padding is needed; otherwise ⌈√max(m, n)⌉."""
    root = math.sqrt(max(m, n))
    g = math.gcd(m, n)
    divisors = [d for d in range(1, g + 1) if g % d == 0 and root / 2 <= d <= 2 * root]
    if divisors:
        return min(divisors, key=lambda d: (abs(d - root), d))
    return math.isqrt(max(m, n) - 1) + 1


def _randn(shape, dtype, device, generator, std):
    if dtype.is_complex:
        real = dtype.to_real()
        re = torch.randn(shape, dtype=real, device=device, generator=generator)
        im = torch.randn(shape, dtype=real, device=device, generator=generator)
        return torch.complex(re, im) * (std / math.sqrt(2))
    return torch.randn(shape, dtype=dtype, device=device, generator=generator) * std


class Monarch(StructuredMatrix):
    """A Monarch matrix P L Pᵀ R (``help("kmatrix.families.monarch")``), ``out_size × in_size``.

    Parameters
    ----------
    in_size, out_size : int
        Shape out_size × in_size (``out_size`` defaults to ``in_size``). Sizes that ``nblocks``
        does not divide are zero-padded to n' = k⌈n/k⌉ (input) and truncated (output).
    nblocks : int or None
        k, the number of blocks of each factor, 1 ≤ k ≤ max(in_size, out_size). Default
        (:func:`default_nblocks`): the divisor of both sizes closest to √max(in_size, out_size)
        if one lies within a factor 2 of it (no padding; the paper's √n blocks of size √n for
        square n = k²), else ⌈√max(in_size, out_size)⌉.
    rank : int
        r ≥ 1, the rank of each l×p block (the paper's Monarch is r = 1).
    init : str or (L, R)
        ``"random"`` (Gaussian entries of variance 1/p in R and 1/(k·r) in L, so E‖Mx‖² ≈ ‖x‖²·m'/n'),
        or a pair of tensors (L of shape :attr:`L_shape`, R of shape :attr:`R_shape`), kept
        exactly (their dtype kept unless ``dtype`` is given).
    dtype : torch.dtype
        Real or complex precision (default: torch's default dtype, or that of explicit factors).
    generator : torch.Generator, optional
        Random source of ``init="random"``.

    Attributes: ``nblocks`` (k), ``rank`` (r), ``in_block`` (p), ``out_block`` (l),
    ``padded_shape`` (m', n'), parameters ``L`` (k, l, k·r) and ``R`` (k, k·r, p).

    Examples
    --------
    >>> M = kmatrix.Monarch(16)                    # 4 blocks of 4×4 on each side
    >>> M.shape, M.num_params                     # 2·n^{3/2} = 128
    ((16, 16), 128)
    >>> x = torch.randn(3, 16)
    >>> torch.allclose(M(x), x @ M.to_dense().T, atol=1e-5)
    True
    """

    def __init__(
        self,
        in_size: int,
        out_size: int | None = None,
        nblocks: int | None = None,
        rank: int = 1,
        init="random",
        dtype: torch.dtype | None = None,
        device=None,
        generator: torch.Generator | None = None,
    ):
        n = check_positive_int(in_size, "in_size")
        m = n if out_size is None else check_positive_int(out_size, "out_size")
        if nblocks is None:
            k = default_nblocks(m, n)
        else:
            k = check_positive_int(nblocks, "nblocks")
            if k > max(m, n):
                raise ValueError(f"nblocks: expected 1 ≤ nblocks ≤ max(in_size, out_size) = {max(m, n)}, got {k}")
        r = check_positive_int(rank, "rank")
        p, l = -(-n // k), -(-m // k)
        self.nblocks, self.rank, self.in_block, self.out_block = k, r, p, l
        L_shape, R_shape = (k, l, k * r), (k, k * r, p)
        if isinstance(init, str):
            if init != "random":
                raise ValueError(f"init: expected 'random' or a pair of tensors (L, R), got {init!r}")
            dt = torch.get_default_dtype() if dtype is None else dtype
            if not (dt.is_floating_point or dt.is_complex):
                raise TypeError(f"dtype: expected a floating-point or complex dtype, got {dt}")
            R = _randn(R_shape, dt, device, generator, 1 / math.sqrt(p))
            L = _randn(L_shape, dt, device, generator, 1 / math.sqrt(k * r))
        else:
            if not isinstance(init, (tuple, list)) or len(init) != 2:
                raise TypeError(f"init: expected 'random' or a pair of tensors (L, R), got {type(init).__name__}")
            L = as_tensor(init[0], "init[0] (L)", dtype=dtype)
            R = as_tensor(init[1], "init[1] (R)", dtype=dtype)
            if tuple(L.shape) != L_shape:
                raise ValueError(f"init[0] (L): expected shape {L_shape}, got {tuple(L.shape)}")
            if tuple(R.shape) != R_shape:
                raise ValueError(f"init[1] (R): expected shape {R_shape}, got {tuple(R.shape)}")
            check_finite(L, "init[0] (L)")
            check_finite(R, "init[1] (R)")
            dt = torch.promote_types(L.dtype, R.dtype)
            L = L.to(dtype=dt, device=L.device if device is None else device)
            R = R.to(dtype=dt, device=L.device)
        super().__init__((m, n), L.dtype, L.device)
        self.L = nn.Parameter(L.detach().clone())
        self.R = nn.Parameter(R.detach().clone())

    # ------------------------------------------------------------------ attributes
    @property
    def L_shape(self) -> tuple[int, int, int]:
        return tuple(self.L.shape)

    @property
    def R_shape(self) -> tuple[int, int, int]:
        return tuple(self.R.shape)

    @property
    def padded_shape(self) -> tuple[int, int]:
        return (self.nblocks * self.out_block, self.nblocks * self.in_block)

    @property
    def flops(self) -> int:
        return monarch_flops(self.nblocks, self.rank, self.in_block, self.out_block, self.is_complex)

    # ------------------------------------------------------------------ products
    def _matvec(self, x):
        k, r, p, l = self.nblocks, self.rank, self.in_block, self.out_block
        m, n = self.shape
        b = x.shape[0]
        if k * p > n:
            x = F.pad(x, (0, k * p - n))
        z = torch.bmm(x.reshape(b, k, p).transpose(0, 1), self.R.transpose(1, 2))  # (k_i, B, k·r)
        z = z.reshape(k, b, k, r).permute(2, 1, 0, 3).reshape(k, b, k * r)  # Pᵀ: (c, B, (i, ρ))
        y = torch.bmm(z, self.L.transpose(1, 2))  # (k_c, B, l)
        y = y.permute(1, 2, 0).reshape(b, l * k)  # P: flat index a·k + c
        return y[:, :m] if l * k > m else y

    def _adjoint_apply(self, y, conj: bool):
        """Mᵀ y (or Mᴴ y): Rᵀ P Lᵀ Pᵀ applied to y (B, m) by the transposed batched matmuls."""
        k, r, p, l = self.nblocks, self.rank, self.in_block, self.out_block
        m, n = self.shape
        b = y.shape[0]
        L, R = (self.L.conj(), self.R.conj()) if conj and self.is_complex else (self.L, self.R)
        if l * k > m:
            y = F.pad(y, (0, l * k - m))
        y = y.reshape(b, l, k).permute(2, 0, 1)  # (k_c, B, l)
        z = torch.bmm(y, L)  # (k_c, B, k·r) indexed (c, B, (i, ρ))
        z = z.reshape(k, b, k, r).permute(2, 1, 0, 3).reshape(k, b, k * r)  # (k_i, B, (c, ρ))
        x = torch.bmm(z, R)  # (k_i, B, p)
        x = x.transpose(0, 1).reshape(b, k * p)
        return x[:, :n] if k * p > n else x

    def _rmatvec(self, y):
        return self._adjoint_apply(y, conj=False)

    def _hmatvec(self, y):
        return self._adjoint_apply(y, conj=True)

    # ------------------------------------------------------------------ structure
    def _merge_scale(self, scalar):
        L = self.L.detach()
        if isinstance(scalar, complex) and not L.is_complex():
            L = L.to(torch.promote_types(L.dtype, torch.complex64))
        return Monarch(*self._sizes(), init=(L * scalar, self.R.detach().to(L.dtype)))

    def _sizes(self):
        return (self.shape[1], self.shape[0], self.nblocks, self.rank)

    def _config(self):
        return {
            "in_size": self.shape[1],
            "out_size": self.shape[0],
            "nblocks": self.nblocks,
            "rank": self.rank,
            "init": (self.L.detach(), self.R.detach()),
            "dtype": self.dtype,
        }

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, nblocks={self.nblocks}, rank={self.rank}, padded_shape={self.padded_shape}"
