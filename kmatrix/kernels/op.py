"""``torch.ops.kmatrix.butterfly_multiply``: the fused kernel as a ``torch.library`` custom op.

* ``kmatrix::butterfly_multiply(twiddle, x, increasing) -> y`` with y = B_{F-1} ⋯ B_0 x per
  stack index: ``twiddle`` (F, S, L, N/2, 2, 2) holds F butterfly factors, ``increasing`` their
  F stride orders (layout in :mod:`kmatrix.kernels`); F = 1 is a single butterfly. CPU tensors of float32/float64/complex64/complex128
  and bfloat16/float16 (float32 arithmetic inside, twiddle gradient rounded once to the
  twiddle's dtype) run the compiled kernel (:mod:`kmatrix.kernels.cpu`); other devices or dtypes, or a machine
  without a C++ compiler, run the blocked plain-PyTorch path (:mod:`.blocked`) inside the op
  (the place where a GPU kernel will be registered).
* ``kmatrix::butterfly_multiply_backward(twiddle, x, grad, increasing)
  -> (grad_twiddle, grad_x)``: reverse mode, torch's complex convention
  (grad_x = Bᴴ grad, grad of each 2×2 block = Σ_batch grad_pair · x_pairᴴ, real part for real
  twiddles). It recomputes the per-stage activations from x tile by tile, so autograd saves only
  ``twiddle`` and ``x``: extra memory O(batch·N), not O(batch·N·log2 N).

Both ops have fake (meta) implementations, so torch.compile / export trace through them, and
vmap rules (a vmapped x folds into the batch, a vmapped twiddle into the stack dimension).
The ops are public (``torch.ops.kmatrix.*``) and trust nothing: every call (real and fake
implementation) checks its arguments with :func:`check_op_args` — tensors, twiddle shape
(F, S, L, N/2, 2, 2) against x (B, S, N) with N = 2^L, F stride orders, twiddle dtype equal to
x's or, for complex x, its real counterpart (no promotion here: call
:func:`kmatrix.kernels.butterfly_multiply` for that), grad of x's shape and dtype, one device —
and raises TypeError/ValueError naming the argument. Non-contiguous or conjugated-view
arguments are accepted (the kernel reads strides; lazy views are materialised).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .._torch_compat import apply_function, plain_eager, register_global_decomposition
from . import cpu
from ._shapes import chain_shape
from .blocked import chain_blocked
from .reference import butterfly_multiply_reference, butterfly_multiply_reference_backward

__all__ = [
    "ButterflyMultiply",
    "butterfly_multiply_backward_op",
    "butterfly_multiply_op",
    "check_op_args",
    "decompositions",
]

_KERNEL_DTYPES = (
    torch.float32,
    torch.float64,
    torch.complex64,
    torch.complex128,
    torch.bfloat16,
    torch.float16,
)
_HALF = (torch.bfloat16, torch.float16)


def _kernel_twiddle(twiddle: Tensor) -> Tensor:
    """The twiddle as the kernel takes it: half precision widened to float32 (exact; the kernel
    reads half-precision x with float32 twiddles and computes in float32)."""
    return twiddle.float() if twiddle.dtype in _HALF else twiddle


def _plain(t: Tensor) -> Tensor:
    """Materialise lazy conjugate/negative views (the kernel reads raw memory)."""
    return t.resolve_conj().resolve_neg()


def check_op_args(twiddle, x, increasing, grad=None) -> None:
    """Validate the arguments of ``kmatrix::butterfly_multiply`` (and ``_backward`` with
    ``grad``); TypeError/ValueError naming the offending argument."""
    for name, t in (("twiddle", twiddle), ("x", x), ("grad", grad)):
        if name == "grad" and t is None:
            continue
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: expected a tensor, got {type(t).__name__}")
        if not (t.is_floating_point() or t.is_complex()):
            raise TypeError(f"{name}: expected a floating-point or complex tensor, got {t.dtype}")
        if t.layout != torch.strided:
            raise ValueError(f"{name}: expected a dense (strided) tensor, got layout {t.layout}")
    chain_shape(twiddle, x, single=False)  # sizes may be symbolic under torch.compile
    if not (twiddle.dtype == x.dtype or (x.is_complex() and twiddle.dtype == x.dtype.to_real())):
        raise TypeError(
            f"twiddle: dtype {twiddle.dtype} does not fit x of dtype {x.dtype} (expected "
            f"{x.dtype}{' or ' + str(x.dtype.to_real()) if x.is_complex() else ''}; "
            "kmatrix.kernels.butterfly_multiply promotes mixed dtypes)"
        )
    if twiddle.device != x.device:
        raise ValueError(f"twiddle: on {twiddle.device}, expected x's device {x.device}")
    check_orders_and_grad(twiddle, x, increasing, grad)


def check_orders_and_grad(twiddle: Tensor, x: Tensor, increasing, grad=None) -> None:
    """The checks every backend's entry shares: ``increasing`` one bool per factor
    (twiddle.shape[0]), and ``grad`` (when given) of x's shape, dtype and device."""
    if not isinstance(increasing, (list, tuple)) or not all(
        isinstance(v, bool) for v in increasing
    ):
        raise TypeError(f"increasing: expected a list of bools, got {increasing!r}")
    if len(increasing) != twiddle.shape[0]:
        raise ValueError(
            f"increasing: expected {twiddle.shape[0]} stride orders (one per factor), "
            f"got {len(increasing)}"
        )
    if grad is not None and (
        grad.shape != x.shape or grad.dtype != x.dtype or grad.device != x.device
    ):
        raise ValueError(
            f"grad: expected shape {tuple(x.shape)}, dtype {x.dtype} on {x.device} (those "
            f"of x), got {tuple(grad.shape)}, {grad.dtype} on {grad.device}"
        )


def _use_kernel(twiddle: Tensor, x: Tensor) -> bool:
    """Whether the compiled CPU kernel takes this product. While torch.compile traces, the
    library is not loaded here (loading takes a lock dynamo cannot trace, and would break a
    fullgraph compile): the custom op is chosen and decides at run time, falling back to the
    blocked path itself when the kernel is unavailable."""
    return (
        x.device.type == "cpu"
        and twiddle.device.type == "cpu"
        and twiddle.dtype in _KERNEL_DTYPES
        and x.dtype in _KERNEL_DTYPES
        and (torch.compiler.is_compiling() or cpu.available())
    )


def reference_chain(twiddle: Tensor, x: Tensor, increasing: list[bool]) -> Tensor:
    """Plain-PyTorch y = B_{F-1} ⋯ B_0 x (autograd-tracked)."""
    for f in range(twiddle.shape[0]):
        x = butterfly_multiply_reference(twiddle[f], x, increasing[f])
    return x


def reference_chain_backward(
    twiddle: Tensor, x: Tensor, grad: Tensor, increasing: list[bool]
) -> tuple[Tensor, Tensor]:
    """(grad_twiddle, grad_x) of :func:`reference_chain`, without autograd."""
    inputs = []
    for f in range(twiddle.shape[0]):
        inputs.append(x)
        x = butterfly_multiply_reference(twiddle[f], x, increasing[f])
    grads = []
    for f in reversed(range(twiddle.shape[0])):
        gt, grad = butterfly_multiply_reference_backward(twiddle[f], inputs[f], grad, increasing[f])
        grads.append(gt)
    gtw = torch.stack(grads[::-1]) if grads else torch.zeros_like(twiddle)
    return gtw, grad


@torch.library.custom_op("kmatrix::butterfly_multiply", mutates_args=())
def butterfly_multiply_op(twiddle: Tensor, x: Tensor, increasing: list[bool]) -> Tensor:
    """y = B_{F-1} ⋯ B_0 x (see module docstring); a new contiguous (B, S, N) tensor."""
    check_op_args(twiddle, x, increasing)
    if _use_kernel(twiddle, x):
        return cpu.forward(_plain(_kernel_twiddle(twiddle)), _plain(x), increasing)
    return chain_blocked(_plain(twiddle), _plain(x), increasing)


@butterfly_multiply_op.register_fake
def _(twiddle: Tensor, x: Tensor, increasing: list[bool]) -> Tensor:
    check_op_args(twiddle, x, increasing)
    return x.new_empty(x.shape)


@torch.library.custom_op("kmatrix::butterfly_multiply_backward", mutates_args=())
def butterfly_multiply_backward_op(
    twiddle: Tensor, x: Tensor, grad: Tensor, increasing: list[bool]
) -> tuple[Tensor, Tensor]:
    """(grad_twiddle, grad_x) for y = B_{F-1} ⋯ B_0 x and upstream ``grad`` (shape of x)."""
    check_op_args(twiddle, x, increasing, grad)
    if _use_kernel(twiddle, x) and grad.dtype == x.dtype:
        gt, gx = cpu.backward(_plain(_kernel_twiddle(twiddle)), _plain(x), _plain(grad), increasing)
        return gt.to(twiddle.dtype), gx
    gt, gx = reference_chain_backward(twiddle, x, grad, increasing)
    return gt, (gx.clone() if gx is grad else gx)  # no stages: never return an input


@butterfly_multiply_backward_op.register_fake
def _(twiddle: Tensor, x: Tensor, grad: Tensor, increasing: list[bool]) -> tuple[Tensor, Tensor]:
    check_op_args(twiddle, x, increasing, grad)
    return twiddle.new_empty(twiddle.shape), x.new_empty(x.shape)


class ButterflyMultiply(torch.autograd.Function):
    """The one autograd definition of the fused backend: y = B_{F-1} ⋯ B_0 x.

    * forward: the compiled kernel called directly on a plain eager call (nothing tracing, no
      torch.func transform, no dispatch mode: ``plain_eager`` in ``kmatrix/_torch_compat.py``),
      otherwise the custom op ``torch.ops.kmatrix.butterfly_multiply``, which is what
      torch.compile, torch.export, fake tensors and vmap see;
    * saves ``twiddle`` and ``x`` only (the kernel recomputes the stage activations);
    * backward: :class:`ButterflyMultiplyBackward` (the fused backward kernel; its own
      derivative, for double backward, differentiates the reference path twice).

    The same ``setup_context``/``backward`` are registered as the custom op's autograd
    (``torch.library.register_autograd``), so calling ``torch.ops.kmatrix.butterfly_multiply``
    directly differentiates identically. ``kmatrix.kernels.butterfly_multiply`` applies this
    Function rather than the op because a custom op's registered autograd does not compose with
    torch.func transforms (torch 2.13: grad/vjp/jacrev raise "must override the setup_context
    staticmethod"); an ``autograd.Function`` with ``setup_context`` does."""

    generate_vmap_rule = True

    @staticmethod
    def forward(twiddle: Tensor, x: Tensor, increasing: list[bool]) -> Tensor:
        """y = B_{F-1} ⋯ B_0 x (kernel directly, or the custom op)."""
        if plain_eager(twiddle, x) and _use_kernel(twiddle, x):
            return cpu.forward(_plain(_kernel_twiddle(twiddle)), _plain(x), increasing)
        return torch.ops.kmatrix.butterfly_multiply(twiddle, x, increasing)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        """Save ``twiddle`` and ``x`` (nothing of size batch·N·log2 N)."""
        twiddle, x, increasing = inputs
        ctx.save_for_backward(twiddle, x)
        ctx.increasing = list(increasing)

    @staticmethod
    def backward(ctx, grad: Tensor):
        """(grad_twiddle, grad_x, None) through :class:`ButterflyMultiplyBackward`."""

        def grads(twiddle, x):
            args = (twiddle, x, grad.contiguous(), ctx.increasing)
            if plain_eager(*args[:3]):
                return apply_function(ButterflyMultiplyBackward, *args)
            return ButterflyMultiplyBackward.apply(*args)

        return chain_grads(ctx, grads)


def chain_grads(ctx, grads):
    """The backward of a Function ``(twiddle, x, increasing) -> y`` that saved (twiddle, x):
    ``grads(twiddle, x) -> (grad_twiddle, grad_x)`` runs only when either is needed, and each
    is returned only where its input needs it: (grad_twiddle | None, grad_x | None, None)."""
    need_tw, need_x = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
    if not (need_tw or need_x):
        return None, None, None
    gt, gx = grads(*ctx.saved_tensors)
    return (gt if need_tw else None), (gx if need_x else None), None


class ButterflyMultiplyBackward(torch.autograd.Function):
    """The backward node of :class:`ButterflyMultiply`: (grad_twiddle, grad_x) by the fused
    backward kernel (direct call on a plain eager call, else the custom op
    ``torch.ops.kmatrix.butterfly_multiply_backward``). Its own derivative — needed only for
    higher-order gradients (double backward, Hessian-vector products) — differentiates the
    reference path twice: correct, not fast. Also registered as that op's autograd."""

    generate_vmap_rule = True

    @staticmethod
    def forward(twiddle: Tensor, x: Tensor, grad: Tensor, increasing: list[bool]):
        """(grad_twiddle, grad_x) by the fused backward kernel (directly, or the custom op)."""
        if plain_eager(twiddle, x, grad) and _use_kernel(twiddle, x) and grad.dtype == x.dtype:
            tw = _plain(_kernel_twiddle(twiddle))
            gt, gx = cpu.backward(tw, _plain(x), _plain(grad), increasing)
            return gt.to(twiddle.dtype), gx
        return torch.ops.kmatrix.butterfly_multiply_backward(twiddle, x, grad, increasing)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        """Save ``twiddle``, ``x`` and the upstream ``grad``."""
        twiddle, x, grad, increasing = inputs
        ctx.save_for_backward(twiddle, x, grad)
        ctx.increasing = list(increasing)

    @staticmethod
    def backward(ctx, ggt: Tensor, ggx: Tensor):
        """Second-order terms: the vjp of the reference path's first-order vjp."""
        twiddle, x, grad = ctx.saved_tensors
        increasing = ctx.increasing

        def first_order(t, v, g):  # (grad_twiddle, grad_x) of the reference path
            return torch.func.vjp(lambda t_, v_: reference_chain(t_, v_, increasing), t, v)[1](g)

        # the vjp of the first-order vjp (torch.func, not requires_grad_/autograd.grad: so it
        # also runs under torch.func transforms, e.g. jacrev(jacrev(f)))
        _, pullback = torch.func.vjp(first_order, twiddle, x, grad)
        zeros = (torch.zeros_like(twiddle), torch.zeros_like(x))
        cot = tuple(z if c is None else c for c, z in zip((ggt, ggx), zeros))
        return (*pullback(cot), None)


torch.library.register_autograd(
    "kmatrix::butterfly_multiply",
    ButterflyMultiply.backward,
    setup_context=ButterflyMultiply.setup_context,
)
torch.library.register_autograd(
    "kmatrix::butterfly_multiply_backward",
    ButterflyMultiplyBackward.backward,
    setup_context=ButterflyMultiplyBackward.setup_context,
)


# ----------------------------------------------------------------------------------------- vmap
def _fold(twiddle: Tensor, tdim, x: Tensor, xdim, size: int):
    """Fold the vmapped dimension: x's into the batch, twiddle's (if any) into the stack."""
    if tdim is None:
        x = x.movedim(xdim, 0)  # (V, B, S, N)
        return twiddle, x.reshape(-1, *x.shape[2:]), "batch"
    twiddle = twiddle.movedim(tdim, 1)  # (F, V, S, L, N/2, 2, 2)
    if xdim is None:
        x = x.unsqueeze(0).expand(size, *x.shape)
    else:
        x = x.movedim(xdim, 0)
    vb, b, s, n = x.shape
    x = x.permute(1, 0, 2, 3).reshape(b, vb * s, n)
    f = twiddle.shape[0]
    return twiddle.reshape(f, -1, *twiddle.shape[3:]), x.contiguous(), "stack"


def _unfold(y: Tensor, how: str, size: int) -> Tensor:
    if how == "batch":
        return y.reshape(size, -1, *y.shape[1:])
    b, vs, n = y.shape
    return y.reshape(b, size, vs // size, n).permute(1, 0, 2, 3)


@torch.library.register_vmap("kmatrix::butterfly_multiply")
def _vmap_forward(info, in_dims, twiddle, x, increasing):
    tdim, xdim, _ = in_dims
    tw, xf, how = _fold(twiddle, tdim, x, xdim, info.batch_size)
    y = torch.ops.kmatrix.butterfly_multiply(tw, xf, increasing)
    return _unfold(y, how, info.batch_size), 0


def _lead(t: Tensor, dim, size: int) -> Tensor:
    """The vmapped dimension of ``t`` moved to the front (broadcast when ``t`` is unbatched)."""
    return t.unsqueeze(0).expand(size, *t.shape) if dim is None else t.movedim(dim, 0)


@torch.library.register_vmap("kmatrix::butterfly_multiply_backward")
def _vmap_backward(info, in_dims, twiddle, x, grad, increasing):
    tdim, xdim, gdim, _ = in_dims
    size = info.batch_size
    # Every slice gets its own stack copy of the twiddle (so each slice's twiddle gradient is
    # its own sum over its batch), then all slices fold into the stack dimension.
    twiddle = _lead(twiddle, tdim, size)
    x = _lead(x, xdim, size)
    grad = _lead(grad, gdim, size)
    tw, xf, _ = _fold(twiddle, 0, x, 0, size)
    _, gf, _ = _fold(twiddle, 0, grad, 0, size)
    gt, gx = torch.ops.kmatrix.butterfly_multiply_backward(tw, xf, gf, increasing)
    f = gt.shape[0]
    gt = gt.reshape(f, size, -1, *gt.shape[2:]).movedim(1, 0)  # (V, F, S, ...)
    return (gt, _unfold(gx, "stack", size)), (0, 0)


# ------------------------------------------------------------------------- decomposition
def _decompose(twiddle: Tensor, x: Tensor, increasing: list[bool]) -> Tensor:
    """``kmatrix::butterfly_multiply`` in plain aten ops: the blocked path (:mod:`.blocked`)."""
    return chain_blocked(twiddle, x, list(increasing))


def decompositions() -> dict:
    """``{torch.ops.kmatrix.butterfly_multiply.default: plain-PyTorch implementation}``, for
    ``ExportedProgram.run_decompositions``: the exported graph then holds only aten ops
    (batched matmuls, gathers, permutes: :func:`~kmatrix.kernels.blocked.chain_blocked`), as
    ONNX, ExecuTorch or AOTInductor need.

    Examples
    --------
    >>> layer = kmatrix.nn.KLinear(16, 8)
    >>> ep = torch.export.export(layer, (torch.randn(2, 16),))
    >>> ep = ep.run_decompositions(kmatrix.kernels.decompositions())
    >>> any("kmatrix" in str(n.target) for n in ep.graph.nodes)
    False
    """
    return {torch.ops.kmatrix.butterfly_multiply.default: _decompose}


# torch.onnx.export(..., dynamo=True) decomposes with torch's global table: registering there
# makes it export the blocked path without being told (where the table is not available,
# decompose first: torch.onnx.export(ep.run_decompositions(decompositions()), ...)).
register_global_decomposition(torch.ops.kmatrix.butterfly_multiply.default, _decompose)
