"""Butterfly multiply kernels behind one dispatch point.

``butterfly_multiply(twiddle, x, increasing_stride)`` is the only entry the families call.
Layout (public, shared by Butterfly and KMatrix):

* ``twiddle``: (S, L, N/2, 2, 2) — S independent stacked matrices, L = log2 N stages;
  stage 0 is applied first.
* ``x``: (B, S, N) -> output (B, S, N).
* at stage k the stride is s = 2^k (``increasing_stride=True``) or N / 2^(k+1) (False);
  pair p acts on (x_i, x_{i+s}) with i = (p // s)·2s + p mod s, and
  [y_i, y_{i+s}] = twiddle[., k, p] @ [x_i, x_{i+s}].

Backends (:func:`set_backend`, or ``backend=`` per call, or ``$KMATRIX_BUTTERFLY_BACKEND``):

* ``"fused"`` (default): the ``torch.library`` custom op ``torch.ops.kmatrix.butterfly_multiply``
  (:mod:`.op`) — on CPU the compiled kernel of :mod:`.cpu` (all L stages fused on a tile of batch
  rows held in cache, backward by recomputation: autograd saves only ``twiddle`` and ``x``;
  forward products of at least :func:`kmatrix.kernels.cpu.normalized_min_rows` rows per stack
  index run normalised stages, two multiply-adds per 2×2 block instead of four products);
  where the kernel cannot run (CUDA, no compiler) the ``"torch"`` path below. bfloat16 and
  float16 data run the kernel too (float32 twiddles and arithmetic inside, one rounding on
  store).
  One autograd definition (:class:`~kmatrix.kernels.op.ButterflyMultiply`, also registered as
  the op's autograd); plain eager CPU calls (no torch.compile/export tracing, no torch.func
  transform, no dispatch mode) call the same kernel without the op machinery, and calls that
  record no gradient skip every dispatch layer (a few µs per call at n = 256). Export:
  ``torch.export`` keeps the op; :func:`decompositions` (also registered in torch's global
  table, which ``torch.onnx.export`` uses) rewrites it into the ``"torch"`` path's aten ops.
* ``"torch"``: :func:`~kmatrix.kernels.blocked.chain_blocked`, plain PyTorch with the stages
  grouped into radix-2^r blocks (r ≤ 5), one batched matmul per block — the fast fallback,
  differentiable by autograd and traceable by torch.compile/export (a K-matrix BB* at N = 1024
  is 3 matmuls; measured 9× the fused kernel forward, 4× forward+backward at (1024, 1024) on 2
  shared cores, varying 2–3× between runs, against 57–165× for the per-stage reference).
* ``"reference"``: :func:`butterfly_multiply_reference`, plain PyTorch (one batched 2×2
  contraction per stage, autograd stores every stage's activation): the simple oracle the
  other paths are tested against.
* ``"triton"``: the Triton kernels of :mod:`.triton` (optional dependency ``kmatrix[gpu]``;
  CUDA tensors, or CPU tensors under ``TRITON_INTERPRET=1``): all stages of the chain fused on
  a register-resident tile, backward by recomputation. float32/float16/bfloat16/complex64 with
  float32 arithmetic; float64/complex128 (and rows above ``triton.MAX_ROW``) take the
  ``"torch"`` path. ``"fused"`` picks it automatically for CUDA tensors when triton imports
  (eager calls; under torch.compile / export / torch.func the custom op runs, whose CUDA
  implementation is still the ``"torch"`` path), except where the ``"torch"`` path measured
  faster on an H200: N > 2048 when a gradient is recorded, N > 8192 otherwise
  (:func:`.triton.cuda_prefers_torch`).

Cost: L·N/2 2×2 blocks per row and stack index, 6 real flops each for real data
(3·N·log2 N per row), 4× that for complex twiddles.
"""

from __future__ import annotations

import os

import torch

from .._torch_compat import apply_function, plain_eager
from . import _lean, cpu  # noqa: F401 (kmatrix.kernels.cpu: the kernel module)
from . import triton as triton_kernels
from ._shapes import chain_shape
from .blocked import chain_blocked
from .op import ButterflyMultiply, _use_kernel, decompositions, reference_chain
from .reference import butterfly_multiply_reference

__all__ = [
    "BACKENDS",
    "butterfly_multiply",
    "butterfly_multiply_reference",
    "decompositions",
    "get_backend",
    "set_backend",
]

BACKENDS = ("fused", "torch", "reference", "triton")
_REAL_OF = {
    torch.complex32: torch.float16,
    torch.complex64: torch.float32,
    torch.complex128: torch.float64,
}
_backend = os.environ.get("KMATRIX_BUTTERFLY_BACKEND", "fused")
if _backend not in BACKENDS:  # pragma: no cover - environment misconfiguration
    raise ValueError(f"KMATRIX_BUTTERFLY_BACKEND: expected one of {BACKENDS}, got {_backend!r}")
_lean.enabled = _backend == "fused"


def set_backend(name: str) -> str:
    """Select the default backend (``"fused"``, ``"torch"``, ``"reference"`` or ``"triton"``);
    returns the previous one. ``"triton"`` raises RuntimeError when triton is not importable.

    Examples
    --------
    >>> previous = kmatrix.kernels.set_backend("reference")
    >>> kmatrix.kernels.get_backend()
    'reference'
    >>> _ = kmatrix.kernels.set_backend(previous)
    """
    global _backend
    if name not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {name!r}")
    if name == "triton" and not triton_kernels.available():  # --- triton backend (issue 12)
        raise RuntimeError(f"backend 'triton': {triton_kernels.unavailable_reason()}")
    previous, _backend = _backend, name
    _lean.enabled = name == "fused"
    return previous


def get_backend() -> str:
    """The default backend used when ``butterfly_multiply`` gets no ``backend=``.

    Examples
    --------
    >>> kmatrix.kernels.get_backend() in kmatrix.kernels.BACKENDS
    True
    """
    return _backend


def _autocast_dtype(device_type: str) -> torch.dtype | None:
    """The autocast dtype when autocast is enabled for ``device_type``, else None."""
    if torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return None


def _check(twiddle: torch.Tensor, x: torch.Tensor, increasing_stride) -> list[bool]:
    """Validate the arguments; return the stride order of each factor."""
    if not isinstance(twiddle, torch.Tensor):
        raise TypeError(f"twiddle: expected a tensor, got {type(twiddle).__name__}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x: expected a tensor, got {type(x).__name__}")
    for name, t in (("twiddle", twiddle), ("x", x)):
        if not (t.is_floating_point() or t.is_complex()):
            raise TypeError(
                f"{name}: expected a floating-point or complex tensor, got dtype {t.dtype}"
            )
    factors = chain_shape(twiddle, x)[3]
    if twiddle.device != x.device:
        raise ValueError(
            f"twiddle and x: expected the same device, got {twiddle.device} and {x.device}"
        )
    if isinstance(increasing_stride, (bool, int)) and not isinstance(increasing_stride, float):
        return [bool(increasing_stride)] * (1 if factors is None else factors)
    if factors is None:
        raise TypeError(
            f"increasing_stride: expected a bool for a single butterfly, got {increasing_stride!r}"
        )
    incs = [bool(v) for v in increasing_stride]
    if len(incs) != factors:
        raise ValueError(
            f"increasing_stride: expected {factors} stride orders (one per factor), got {len(incs)}"
        )
    return incs


def butterfly_multiply(
    twiddle: torch.Tensor,
    x: torch.Tensor,
    increasing_stride=True,
    *,
    backend: str | None = None,
) -> torch.Tensor:
    """y = B x for the stacked butterfly ``twiddle`` (S, L, N/2, 2, 2) and ``x`` (B, S, N).

    A product of F butterflies, y = B_{F-1} ⋯ B_1 B_0 x, is one call with ``twiddle`` of shape
    (F, S, L, N/2, 2, 2) (factor 0 applied first) and ``increasing_stride`` a sequence of F
    bools (or one bool for all): the fused kernel then streams x through all F factors tile by
    tile — one read and one write of the batch instead of F of each, and no intermediate
    outputs (a K-matrix (BB*)^w is F = 2w factors: strides decreasing, increasing, ...).

    Dtypes promote as in ``torch.promote_types``; real twiddles meeting complex x stay real
    (the kernel applies them to the real and imaginary parts), complex twiddles make x complex.
    Half precision: bfloat16/float16 run the fused CPU kernel — each tile is converted to
    float32 when loaded, all stages of all factors run in float32, the result is rounded once
    to the half dtype (twiddle gradients: summed in float32, rounded once). complex32 (complex
    half; torch has no complex-half arithmetic on CPU) is computed in complex64 and the result
    cast back to complex32. Under ``torch.autocast`` for x's device the product is treated
    like ``torch.nn.functional.linear``: real floating-point operands other than float64 are
    cast to the autocast dtype (twiddle included, so its gradient passes through that dtype)
    and the result has that dtype; float64 and complex operands are left alone.
    Differentiable in both arguments (torch's complex convention). ``backend`` overrides
    :func:`get_backend` for this call.

    Examples
    --------
    One butterfly (S = 1 stack) of size N = 4: L = 2 stages of N/2 = 2 blocks, identity blocks.

    >>> tw = torch.eye(2).expand(1, 2, 2, 2, 2).contiguous()
    >>> x = torch.randn(5, 1, 4)
    >>> torch.equal(kmatrix.kernels.butterfly_multiply(tw, x), x)
    True
    """
    if backend is None and isinstance(increasing_stride, (bool, tuple, list)):
        # no gradient to record, plain eager CPU call: the kernel without dispatch layers
        key = increasing_stride if isinstance(increasing_stride, bool) else tuple(increasing_stride)
        y = _lean.forward(twiddle, x, key)
        if y is not None:
            return y
    if torch.jit.is_tracing():
        raise RuntimeError(
            "kmatrix: torch.jit.trace cannot record the butterfly op (TorchScript's tracer does "
            "not support its bool[] argument); export with torch.export.export (and, for "
            "plain aten ops, .run_decompositions(kmatrix.kernels.decompositions())) or "
            "torch.onnx.export(..., dynamo=True)"
        )
    incs = _check(twiddle, x, increasing_stride)
    name = _backend if backend is None else backend
    if name not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {name!r}")
    dtype = torch.promote_types(twiddle.dtype, x.dtype)
    low = _autocast_dtype(x.device.type)
    if low is not None and dtype.is_floating_point and dtype != torch.float64:
        dtype = low  # autocast: a linear map, cast like torch.nn.functional.linear
    if dtype == torch.complex32:  # no complex-half arithmetic in torch: run in complex64
        wide = torch.complex64 if twiddle.is_complex() else torch.float32
        y = butterfly_multiply(
            twiddle.to(wide), x.to(torch.complex64), increasing_stride, backend=name
        )
        return y.to(torch.complex32)
    tw_dtype = dtype if (twiddle.is_complex() or not dtype.is_complex) else _REAL_OF[dtype]
    twiddle = twiddle.to(tw_dtype)
    x = x.to(dtype)
    tw6 = twiddle if twiddle.dim() == 6 else twiddle.unsqueeze(0)
    if name == "reference":
        return reference_chain(tw6, x, incs)
    # --- triton backend (issue 12): explicit, or "fused" on CUDA when triton imports ---------
    if name == "triton" or (name == "fused" and x.device.type == "cuda"):
        if name == "triton":
            if not triton_kernels.available():
                raise RuntimeError(f"backend 'triton': {triton_kernels.unavailable_reason()}")
            problem = triton_kernels.device_problem(x.device)
            if problem is not None:
                raise ValueError(f"backend 'triton': {problem}")
        auto_torch = name == "fused" and triton_kernels.cuda_prefers_torch(
            x.shape[-1], torch.is_grad_enabled() and (tw6.requires_grad or x.requires_grad)
        )  # sizes where cuBLAS batched matmuls measured faster (triton.CUDA_TRITON_MAX_N*)
        if auto_torch:
            return chain_blocked(tw6, x, incs)
        if triton_kernels.supports(tw6, x) and plain_eager(tw6, x):
            return triton_kernels.TritonButterflyMultiply.apply(tw6, x, incs)
        if name == "triton":  # float64/complex128, huge rows, tracing: the plain-PyTorch path
            return chain_blocked(tw6, x, incs)
    # --- end triton backend --------------------------------------------------------------------
    if name == "torch" or not _use_kernel(tw6, x):
        return chain_blocked(tw6, x, incs)
    if plain_eager(tw6, x):
        return apply_function(ButterflyMultiply, tw6, x, incs)
    return ButterflyMultiply.apply(tw6, x, incs)
