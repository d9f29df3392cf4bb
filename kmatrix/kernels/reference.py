"""Plain-PyTorch butterfly multiply: one batched 2×2 contraction per stage.

Cost: L stages × N/2 pairs × (4 multiplies + 2 adds) per row = 3 N log2 N real flops (real
twiddles). Reads and writes the whole activation once per stage, so it is memory-bound; it is
the reference the fused kernels are tested against, not the fast path.
"""

from __future__ import annotations

import torch


def butterfly_multiply_reference(
    twiddle: torch.Tensor, x: torch.Tensor, increasing_stride: bool = True
) -> torch.Tensor:
    """y = B x for the butterfly B given by ``twiddle`` (S, L, N/2, 2, 2); x (B, S, N).

    Both have the same dtype, or x is complex and twiddle real of the same precision.

    Examples
    --------
    The plain-PyTorch path agrees with the fused kernel:

    >>> tw = torch.randn(1, 3, 4, 2, 2, dtype=torch.float64)
    >>> x = torch.randn(2, 1, 8, dtype=torch.float64)
    >>> torch.allclose(kmatrix.kernels.butterfly_multiply_reference(tw, x),
    ...                kmatrix.kernels.butterfly_multiply(tw, x))
    True
    """
    S, L = twiddle.shape[:2]
    b, n = x.shape[0], x.shape[-1]
    if x.is_complex() and not twiddle.is_complex():
        twiddle = twiddle.to(x.dtype)  # real blocks act on real and imaginary parts alike
    for k in range(L):
        s = 1 << k if increasing_stride else n >> (k + 1)
        xv = x.reshape(b, S, n // (2 * s), 2, s)
        t = twiddle[:, k].reshape(S, n // (2 * s), s, 2, 2)
        x = torch.einsum("sgrac,bsgcr->bsgar", t, xv).reshape(b, S, n)
    return x


def butterfly_multiply_reference_backward(
    twiddle: torch.Tensor, x: torch.Tensor, grad: torch.Tensor, increasing_stride: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """(grad_twiddle, grad_x) of y = B x for the upstream gradient ``grad``, in plain PyTorch
    without autograd (torch's complex convention: grad_x = Bᴴ grad; the gradient of the 2×2
    block of stage k, pair p is Σ_batch g_pair · x_pairᴴ with g the gradient at the stage's
    output and x its input; its real part for real twiddles).

    Stores the L stage inputs (memory O(batch·N·log2 N)): the fallback of the fused op on
    devices without a kernel, not the fast path.
    """
    S, L = twiddle.shape[:2]
    b, n = x.shape[0], x.shape[-1]
    tw = twiddle.to(x.dtype) if (x.is_complex() and not twiddle.is_complex()) else twiddle
    inputs = []
    for k in range(L):
        inputs.append(x)
        s = 1 << k if increasing_stride else n >> (k + 1)
        xv = x.reshape(b, S, n // (2 * s), 2, s)
        t = tw[:, k].reshape(S, n // (2 * s), s, 2, 2)
        x = torch.einsum("sgrac,bsgcr->bsgar", t, xv).reshape(b, S, n)
    g = grad
    grad_tw = torch.zeros_like(tw)
    for k in reversed(range(L)):
        s = 1 << k if increasing_stride else n >> (k + 1)
        gv = g.reshape(b, S, n // (2 * s), 2, s)
        xv = inputs[k].reshape(b, S, n // (2 * s), 2, s)
        t = tw[:, k].reshape(S, n // (2 * s), s, 2, 2)
        grad_tw[:, k] = torch.einsum("bsgar,bsgcr->sgrac", gv, xv.conj()).reshape(S, n // 2, 2, 2)
        g = torch.einsum("sgrac,bsgar->bsgcr", t.conj(), gv).reshape(b, S, n)
    if twiddle.is_complex() or not grad_tw.is_complex():
        return grad_tw, g
    return grad_tw.real.contiguous(), g
