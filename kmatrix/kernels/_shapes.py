"""The shape check every entry of the butterfly kernels shares.

A product y = B_{F-1} ⋯ B_1 B_0 x of F butterflies (layout in :mod:`kmatrix.kernels`) takes
x of shape (batch, S, N) with N = 2^L and twiddle (F, S, L, N/2, 2, 2); one butterfly may
also be given as twiddle (S, L, N/2, 2, 2). The public dispatch point
(:func:`kmatrix.kernels.butterfly_multiply`), the custom op (:mod:`.op`), the compiled CPU
kernel's boundary (:mod:`.cpu`) and the Triton launcher (:mod:`.triton`) all validate with
:func:`chain_shape`, so they accept the same shapes and name the same argument when one is
wrong. What differs between them (dtypes, devices, contiguity, size limits) stays with each.
"""

from __future__ import annotations

from torch import Tensor

__all__ = ["chain_shape"]


def chain_shape(twiddle: Tensor, x: Tensor, *, single: bool = True):
    """(S, N, L, F) of the product of ``twiddle`` and ``x``, or ValueError naming the argument.

    x must be (batch, S, N) with N a power of two, twiddle (F, S, L, N/2, 2, 2) with L = log2 N,
    or with ``single=True`` also (S, L, N/2, 2, 2) (one butterfly: F is then None). Sizes may be
    symbolic (torch.compile, export): they are compared, never bit-twiddled, and the
    power-of-two test on N runs on plain ints only (symbolically, a wrong N fails the twiddle
    comparison N == 2^L instead). O(1)."""
    if x.dim() != 3:
        raise ValueError(f"x: expected shape (batch, stack, N), got {tuple(x.shape)}")
    _, S, N = x.shape
    plain = isinstance(N, int)
    if plain and (N < 1 or N & (N - 1)):
        raise ValueError(f"x: the last dimension N must be a power of two, got {N}")
    dims = twiddle.dim()
    if dims == 6 or (single and dims == 5):
        F = twiddle.shape[0] if dims == 6 else None
        s, L, half, two_a, two_b = twiddle.shape[dims - 5 :]
        if s == S and two_a == 2 and two_b == 2 and N == 2**L and half == N // 2:
            return S, N, L, F
    if plain:
        expected = (S, N.bit_length() - 1, N // 2, 2, 2)
        stacked = f"(factors, {', '.join(map(str, expected))})"
        shape = f"(stack, log2 N, N/2, 2, 2) = {expected}, or {stacked}," if single else stacked
    else:
        shape = "(F, S, L, N/2, 2, 2) with N = 2^L"
    raise ValueError(
        f"twiddle: expected shape {shape} for x of shape {tuple(x.shape)} (batch, stack, N), "
        f"got {tuple(twiddle.shape)}"
    )
