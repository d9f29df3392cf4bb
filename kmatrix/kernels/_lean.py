"""The lean eager path: the compiled kernel for calls that need no gradient, in a few µs.

A product that records no autograd graph (``torch.no_grad()``, inference, or inputs that do
not require grad) needs none of the dispatch layers — autograd Function, custom op, dtype
promotion, per-call argument checks — so :func:`forward` goes straight to the kernel when every
condition below holds, and returns None (the caller takes the general path) otherwise:

* x non-empty; both arguments exact ``torch.Tensor`` (the twiddle may be an ``nn.Parameter``) on CPU, same dtype (float32, float64, complex64,
  complex128), contiguous, no lazy conjugate/negative bit, x non-empty;
* no gradient to record (grad mode off, or neither argument requires grad); CPU autocast off
  (under autocast the general path casts the product like ``F.linear``);
* a plain eager call (:func:`kmatrix._torch_compat.plain_eager`: nothing tracing, no
  torch.func transform, no dispatch or torch-function mode);
* the default backend (:func:`kmatrix.kernels.get_backend`) is ``"fused"`` and the kernel
  is available.

Checks are cached, not skipped: the first call with a given (twiddle shape, x's stack and
size, stride orders, dtype) validates them with the same function as the general path
(:func:`kmatrix.kernels._check`) and stores the ctypes arguments; later calls with the same
key only run the per-call conditions above (attribute reads, about 1 µs). The key holds every
shape the kernel reads, so a cached entry can never let a wrong size through.

Cost: O(1) Python work plus one ctypes call; the kernel itself is the same as the general path
(3·N·log2 N flops per row and factor for real data). Results are identical to the general
path's bit for bit (same kernel, same arguments).
"""

from __future__ import annotations

import ctypes

import torch
from torch import Tensor

from .._torch_compat import PLAIN_TYPES, plain_eager
from . import cpu

__all__ = ["forward"]

_SUFFIX = {
    torch.float32: "f32",
    torch.float64: "f64",
    torch.complex64: "c64",
    torch.complex128: "c128",
}
# (twiddle shape, S, N, increasing, dtype) -> (kernel fn, stride orders, x/y strides, L, F)
_plans: dict = {}
#: False unless the default backend is "fused" (kept in step by kmatrix.kernels.set_backend)
enabled = True
_PLANS_MAX = 256
# torch functions called on every product, bound once (a module attribute lookup each saved)
_grad_enabled = torch.is_grad_enabled
_autocast_enabled = torch.is_autocast_enabled
_empty_like = torch.empty_like
_num_threads = torch.get_num_threads


def _plan(twiddle: Tensor, x: Tensor, S: int, N: int, increasing, factors: int | None):
    key = (twiddle.shape, S, N, increasing, factors, x.dtype)
    plan = _plans.get(key)
    if plan is not None:
        return plan
    lib = cpu._load()
    if lib is None or S == 0 or N == 0:
        return None
    from . import _check  # the general path's validator (the package imports this module)

    L = N.bit_length() - 1
    probe = x.new_empty((1, S, N))  # the validator's view of x: (batch, S, N)
    if factors is None:  # a direct call: the twiddle's own shape must be valid
        incs = _check(twiddle, probe, increasing)
    else:  # a family's own layout of F·S·L·N/2·4 entries, viewed as (F, S, L, N/2, 2, 2)
        if N & (N - 1) or twiddle.numel() != factors * S * L * (N // 2) * 4:
            return None
        incs = _check(twiddle.reshape(factors, S, L, N // 2, 2, 2), probe, list(increasing))
    F = len(incs)
    fn = getattr(lib, "kmx_fwd_" + _SUFFIX[x.dtype])
    scalars = 2 if x.is_complex() else 1  # the kernel's strides count real scalars
    strides = (ctypes.c_int64 * 5)(S * N * scalars, 0, N * scalars, scalars, 1)
    incs_c = (ctypes.c_int * max(1, F))(*map(int, incs))
    plan = (fn, incs_c, strides, L, F)
    if len(_plans) >= _PLANS_MAX:
        _plans.clear()
    _plans[key] = plan
    return plan


def forward(twiddle: Tensor, x: Tensor, increasing, factors: int | None = None) -> Tensor | None:
    """y = B_{F-1} ⋯ B_0 x by the kernel, or None when a condition of the module docstring
    fails (the caller then runs the general path).

    ``factors=None``: the arguments of :func:`kmatrix.kernels.butterfly_multiply` — twiddle
    (S, L, N/2, 2, 2) or (F, S, L, N/2, 2, 2), ``increasing`` a bool or a tuple of F bools.
    ``factors=F`` (a family's own layout): twiddle any shape of F·S·L·N/2·4 contiguous entries
    read as (F, S, L, N/2, 2, 2) (e.g. KMatrix's (w, 2, L, N/2, 2, 2) with F = 2w),
    ``increasing`` a tuple of F bools. x: (B, S, N). Invalid arguments raise like the general
    path (same validator, run once per new shape)."""
    if x.dim() != 3:
        return None
    return _run(twiddle, x, x.shape[1], x.shape[2], increasing, factors)  # (B, S, N) as given


def forward_rows(twiddle: Tensor, x: Tensor, stack: int, n: int, increasing, factors: int):
    """:func:`forward` for x of any shape (..., stack·n) read as (B, stack, n) rows, without
    reshaping (a family whose input needs no padding): y has x's shape. None as in
    :func:`forward`."""
    if x.dim() == 0 or x.shape[-1] != stack * n:
        return None
    return _run(twiddle, x, stack, n, increasing, factors)


def forward_padded(twiddle: Tensor, x: Tensor, stack: int, k_in: int, n: int, k_out: int,
                   increasing, factors: int) -> Tensor | None:
    """:func:`forward` for a family whose square n×n matrices act on inputs of k_in ≤ n entries
    (zero-padded) and keep the first k_out ≤ n outputs: x of shape (..., stack·k_in) -> y of
    shape (..., stack·k_out). None as in :func:`forward`."""
    x3 = x.reshape(-1, stack, k_in)
    if k_in < n:
        x3 = torch.nn.functional.pad(x3, (0, n - k_in))
    y = forward(twiddle, x3, increasing, factors)
    if y is None:
        return None
    if k_out < n:
        y = y[..., :k_out]
    return y.reshape(*x.shape[:-1], stack * k_out)


def _run(twiddle: Tensor, x: Tensor, S: int, N: int, increasing, factors) -> Tensor | None:
    # the per-call conditions of the module docstring, cheapest and most selective first
    if not (
        enabled
        and type(x) is Tensor
        and type(twiddle) in PLAIN_TYPES
        and x.dtype == twiddle.dtype
        and x.is_cpu
        and twiddle.is_cpu
        and x.is_contiguous()
        and twiddle.is_contiguous()
        and not (_grad_enabled() and (x.requires_grad or twiddle.requires_grad))
        and not (x.is_conj() or twiddle.is_conj() or x.is_neg() or twiddle.is_neg())
        and not _autocast_enabled("cpu")  # autocast casts the product like F.linear
        and plain_eager()
    ):
        return None
    # the plan of this key (its dtype is one of _SUFFIX: _plan returns None for any other)
    plan = _plans.get((twiddle.shape, S, N, increasing, factors, x.dtype))
    if plan is None:
        if x.dtype not in _SUFFIX:
            return None
        plan = _plan(twiddle, x, S, N, increasing, factors)
        if plan is None:
            return None
    fn, incs_c, strides, L, F = plan
    numel = x.numel()
    if numel == 0:
        return None
    B = numel // (S * N)
    y = _empty_like(x)
    if L == 0 or F == 0:
        return y.copy_(x)
    code = fn(twiddle.data_ptr(), x.data_ptr(), y.data_ptr(), B, S, L, F, incs_c, strides, strides,
              _num_threads())  # fmt: skip
    if code:
        cpu._raise_on(code, f"forward, x of shape {tuple(x.shape)}")
    return y
