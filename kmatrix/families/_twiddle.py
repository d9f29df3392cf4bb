"""Twiddle helpers shared by Butterfly and KMatrix (survey §5.2–5.3, Definitions 5.1–5.4).

A *stage* is one butterfly factor matrix B_k^(N) of Definition 5.2 (block size k = 2s, stride
s): N/2 independent 2×2 blocks. Pair p acts on (x_i, x_{i+s}) with i = (p // s)·2s + p mod s and
``[y_i, y_{i+s}] = t[p] @ [x_i, x_{i+s}]``, i.e. t[p] = [[D1[j], D2[j]], [D3[j], D4[j]]] with
j = p mod s in Definition 5.1's notation. A twiddle tensor (..., L, N/2, 2, 2) lists L = log2 N
stages in the order they are applied.
"""

from __future__ import annotations

import math

import torch

from ..core.validation import as_tensor, check_finite

__all__ = [
    "INITS",
    "make_twiddle",
    "padded_size",
    "set_twiddle_",
    "stage_factor_dense",
    "transpose_twiddle",
]

INITS = ("random", "orthogonal", "unitary", "identity")


def padded_size(n: int) -> int:
    """Smallest power of two ≥ n, and at least 2 (so every matrix has at least one stage)."""
    return max(2, 1 << max(0, (int(n) - 1).bit_length()))


def _resolve_dtype(dtype: torch.dtype | None) -> torch.dtype:
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if not isinstance(dtype, torch.dtype) or not (dtype.is_floating_point or dtype.is_complex):
        raise TypeError(f"dtype: expected a floating-point or complex torch.dtype, got {dtype!r}")
    return dtype


def make_twiddle(
    init,
    shape: tuple[int, ...],
    dtype: torch.dtype | None,
    device=None,
    generator: torch.Generator | None = None,
    stage_gain: float = 1.0,
) -> torch.Tensor:
    """Twiddles of ``shape`` (..., L_total stages flattened anywhere, N/2, 2, 2).

    ``init``:

    * ``"random"``: each 2×2 block has independent columns drawn uniformly on the unit sphere
      (a Gaussian column normalised; complex: on the complex unit sphere). For any x a stage
      then keeps E‖Tx‖² = ‖x‖² exactly (‖Tx‖² = ‖x‖² + 2 Σ_pairs Re(conj(x_i) x_{i+s} ⟨t_1,
      t_2⟩) and the column inner products have mean 0), so the variance is preserved through
      any product; unlike i.i.d. N(0, 1/2) entries (same expectation, but random column norms
      make the gain of a deep product log-normal: a width-4 K-matrix of size 64 typically
      shrinks the variance 100×), the typical gain stays near 1. All blocks are then multiplied
      by ``stage_gain``: a product of K stages has E‖y‖² = stage_gain^(2K) ‖x‖² (the families
      pass stage_gain = (N / in)^(1/(2K)) so that a corner keeps the per-coordinate variance:
      Var(y_i) = Var(x_j) for i.i.d. inputs).
    * ``"orthogonal"`` / ``"unitary"`` (synonyms): each 2×2 block a rotation
      [[cos a, −sin a], [sin a, cos a]] with a uniform on [0, 2π) (real dtype) or a Haar-random
      2×2 unitary (complex dtype), so every stage and every product is orthogonal/unitary.
    * ``"identity"``: every block the 2×2 identity.
    * a tensor / array: used as given (validated shape; its dtype kept when ``dtype`` is None).
    """
    if isinstance(init, str):
        dtype = _resolve_dtype(dtype)
        if init not in INITS:
            raise ValueError(f"init: expected one of {INITS} or a twiddle tensor, got {init!r}")
        blocks = shape[:-2]
        if init == "identity":
            eye = torch.eye(2, dtype=dtype, device=device)
            return eye.expand(*blocks, 2, 2).clone()
        if init == "random":
            tw = torch.randn(shape, dtype=dtype, device=device, generator=generator)
            tw = tw / tw.norm(dim=-2, keepdim=True).clamp_min(torch.finfo(tw.real.dtype).tiny)
            return tw * stage_gain if stage_gain != 1.0 else tw
        # orthogonal / unitary
        real = dtype.to_real() if dtype.is_complex else dtype
        if not dtype.is_complex:
            a = torch.rand(blocks, dtype=real, device=device, generator=generator) * (2 * math.pi)
            c, s = torch.cos(a), torch.sin(a)
            return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)
        g = torch.randn((*blocks, 2, 2), dtype=dtype, device=device, generator=generator)
        q, r = torch.linalg.qr(g)
        d = torch.diagonal(r, dim1=-2, dim2=-1)
        phase = d / d.abs().clamp_min(torch.finfo(real).tiny)
        return (q * phase.unsqueeze(-2)).contiguous()  # QR returns column-major blocks
    tw = as_tensor(init, "init", dtype=dtype)
    if tuple(tw.shape) != tuple(shape):
        raise ValueError(f"init: expected a twiddle tensor of shape {tuple(shape)}, got {tuple(tw.shape)}")
    check_finite(tw, "init")
    if device is not None:
        tw = tw.to(device)
    return tw.detach().clone()


def set_twiddle_(param: torch.Tensor, value) -> None:
    """Copy ``value`` into the twiddle parameter exactly (no autograd record): same shape
    required, a complex value into a real matrix refused (it would drop imaginary parts)."""
    t = as_tensor(value, "twiddle")
    if tuple(t.shape) != tuple(param.shape):
        raise ValueError(f"twiddle: expected shape {tuple(param.shape)}, got {tuple(t.shape)}")
    if t.is_complex() and not param.is_complex():
        raise TypeError(
            f"twiddle: complex values cannot be stored in a real matrix (dtype {param.dtype}); "
            "convert the matrix first with .to(torch.complex128)"
        )
    check_finite(t, "twiddle")
    with torch.no_grad():
        param.copy_(t)


def transpose_twiddle(tw: torch.Tensor, stage_dims: tuple[int, ...], conj: bool = False) -> torch.Tensor:
    """Twiddles of the transpose (or conjugate transpose with ``conj``) of a stage sequence.

    (T_{L−1} ⋯ T_0)ᵀ = T_0ᵀ ⋯ T_{L−1}ᵀ: the stages in reverse order (flip ``stage_dims``, the
    dimensions that enumerate stages in application order), each block transposed. A stage
    keeps its stride, so an increasing-stride sequence becomes a decreasing-stride one.
    """
    out = tw.flip(stage_dims).transpose(-1, -2)
    if conj and out.is_complex():
        out = out.conj()
    return out.contiguous()


def stage_factor_dense(t: torch.Tensor, stride: int) -> torch.Tensor:
    """The N×N butterfly factor matrix of one stage (Definition 5.2, block size 2·stride), for
    pictures and small checks; ``t`` has shape (N/2, 2, 2)."""
    half = t.shape[0]
    n = 2 * half
    p = torch.arange(half, device=t.device)
    i = (p // stride) * 2 * stride + p % stride
    j = i + stride
    out = torch.zeros(n, n, dtype=t.dtype, device=t.device)
    out[i, i] = t[:, 0, 0]
    out[i, j] = t[:, 0, 1]
    out[j, i] = t[:, 1, 0]
    out[j, j] = t[:, 1, 1]
    return out


class TwiddleParameter:
    """Mixin for families whose θ is one twiddle tensor ``self.twiddle`` (Butterfly, KMatrix):
    its shape and an exact in-place setter for the routing compilers of the roadmap."""

    @property
    def twiddle_shape(self) -> tuple[int, ...]:
        return tuple(self.twiddle.shape)

    def set_twiddle(self, value):
        """Overwrite θ exactly with ``value`` (shape :attr:`twiddle_shape`; e.g. 0/1 switches
        from a routing compiler), in place and outside autograd; returns ``self``."""
        set_twiddle_(self.twiddle, value)
        return self
