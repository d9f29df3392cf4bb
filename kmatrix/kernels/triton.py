"""The butterfly multiply as Triton kernels (GPU; CPU only under ``TRITON_INTERPRET=1``).

Backend ``"triton"`` of :func:`kmatrix.kernels.butterfly_multiply`, and the automatic choice of
the default backend for CUDA tensors when ``triton`` is importable. ``triton`` is an optional
dependency (``pip install kmatrix[gpu]``): it is imported on first use, never at import time.

Layout as in :mod:`kmatrix.kernels`: ``twiddle`` (F, S, L, N/2, 2, 2) holds F butterfly factors
(a K-matrix (BB*)^w is F = 2w), ``x`` (B, S, N), ``increasing`` the F stride orders; y = B_{F-1}
⋯ B_0 x per stack index. The F·L stages of the chain are fused in one launch:

* forward: program (tile, s) loads a tile of BB batch rows of stack index s into registers
  (float32; BB·N·c_x ≤ :data:`FORWARD_TILE` values), applies the T = F·L stages and stores
  the tile once. Stage t (factor f = t // L, level k = t mod L, stride 2^k or N/2^(k+1))
  views the tile as (BB, N/(2·stride), 2, stride), moves the pair axis last and splits it:
  lo, hi = the (x_i, x_{i+stride}) pairs, pair index
  p = group·stride + r; y_lo = a·lo + b·hi, y_hi = c·lo + d·hi with (a, b, c, d) =
  twiddle[f, s, k, p]; then joins back. N, L, T, the strides (``INC``, a bitmask of the F
  stride orders) and BB are compile-time constants, so all indexing is static. Memory traffic:
  x read once, y written once, the twiddle read once per tile (T·N/2·4 entries).
* backward (recomputation; autograd saves only ``twiddle`` and ``x``): a grid of P ≤ #tiles
  programs per stack index, each looping over its tiles: (1) recompute the forward on the tile
  up to the last stage's input, writing the other T - 1 stage inputs to the program's own
  scratch slot ((T-1)·BB·N float32, reused for every tile of the program); (2) walk the stages backwards with the upstream gradient g in
  registers: the block gradient Σ_rows g_pair · x_pairᴴ (torch's complex convention; its real
  part for real twiddles) is summed over the tile's rows and added (``atomic_add``, no
  contention: the slot is the program's) to the program's float32 twiddle-gradient slot, then
  g ← B_tᴴ g; (3) store grad_x. The P slots are summed afterwards. Transient memory
  P·S·T·N·(BB·c_x + 2·c_t)·4 bytes (c = 2 for complex, else 1), P chosen so that this stays
  within a budget (:data:`SCRATCH_BYTES`; on a GPU min(4 GiB, memory/16)) and at most 4
  programs per SM: independent of the batch. The scratch mostly misses L2 at large N: the
  backward moves about 2·T·N·4 bytes per row more than its inputs and outputs (checkpointing
  every few stages would cut this; not done).

Dtypes: x float32 / float16 / bfloat16 / complex64 (as interleaved real/imag via
``torch.view_as_real``), twiddle of x's dtype or, for complex64 x, float32; arithmetic and
accumulation in float32, outputs in the input dtypes. float64 / complex128 / complex32 are not
handled here: :func:`kmatrix.kernels.butterfly_multiply` sends them to the ``"torch"`` path
(:func:`~kmatrix.kernels.blocked.chain_blocked`), as it does for rows too large for one program
(N·c_x > :data:`MAX_ROW`, the row must fit in registers / shared memory).

Cost: 3·N·log2 N real flops per row and factor for real twiddles, 4× for complex, plus on a GPU
one register shuffle (layout conversion through shared memory) per stage.

:func:`forward` and :func:`backward` check every argument (type, dtype, device, shape,
contiguity, conjugate bit) and raise TypeError/ValueError naming it before any launch: compiled
code never trusts its caller. :class:`TritonButterflyMultiply` is the autograd.Function of the
backend (double backward goes through the differentiable reference path, as for the fused CPU
kernel).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import sys

import torch
from torch import Tensor

from ._shapes import chain_shape
from .op import ButterflyMultiplyBackward, chain_grads, check_orders_and_grad

__all__ = [
    "MAX_ROW",
    "MAX_STACK",
    "SCRATCH_BYTES",
    "TritonButterflyMultiply",
    "available",
    "backward",
    "forward",
    "interpreting",
    "supports",
    "unavailable_reason",
]

#: Largest row (N real entries, or N complex as 2N) one program holds (registers / shared memory).
MAX_ROW = 32768
#: Largest stack S (the second launch-grid dimension, limited to 65535 by CUDA).
MAX_STACK = 65535
#: Target float32 values per tile (rows per tile = this / (N·c_x), a power of two ≥ 1; c_x = 2
#: for complex x). Chosen from a sweep on an H200 (benchmarks/triton_sweep.py, float32, F = 2,
#: batch 16384, medians of 5): forward 32768 values with 16 warps took 0.177 ms at N = 1024
#: (4096 values / 8 warps, the earlier default: 0.376 ms) and 1.46 ms at N = 4096 (7.53 ms);
#: backward 8192 values with 4 warps 1.95 ms at N = 1024 (2048 / 4 warps: 4.76 ms) and 19.6 ms
#: at N = 4096 (36.2 ms). Other N were not swept.
FORWARD_TILE = 32768
BACKWARD_TILE = 8192
#: Automatic choice for CUDA tensors (backend "fused"): the "torch" path (batched matmuls,
#: cuBLAS) where it measured faster on the H200: forward+backward above N = 2048 (N = 4096,
#: batch 16384: 10.9 ms against 21 ms for the triton kernels at their best launch shapes;
#: N = 1024: 5.2 ms against 2.1 ms, so triton; N = 2048 not measured) and forward from N = 16384
#: (10.7 ms against 40.9 ms, measured with the earlier 4096-value tiles only).
CUDA_TRITON_MAX_N_GRAD = 2048
CUDA_TRITON_MAX_N = 8192
#: Budget of the backward's transient scratch (stage inputs + per-program gradient slots) on
#: CPU (interpreter); on a GPU min(4 GiB, 1/16 of its memory), enough for 4 programs per SM at
#: N = 16384 on an 80 GB device.
SCRATCH_BYTES = 512 * 2**20
_X_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.complex64)


@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """None when ``triton`` imports, else why not (the ImportError's text)."""
    try:
        import triton.language  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - ImportError, or a broken install failing otherwise
        return f"triton is not importable ({type(exc).__name__}: {exc}); pip install 'kmatrix[gpu]'"
    return None


def available() -> bool:
    """True when ``triton`` imports (it is never imported before this is asked)."""
    return unavailable_reason() is None


def interpreting() -> bool:
    """True when ``$TRITON_INTERPRET`` is set: the kernels then run in triton's interpreter (on
    CPU tensors, slowly, via numpy; triton reads the variable again at every launch)."""
    return os.environ.get("TRITON_INTERPRET", "0").lower() in ("1", "true", "on", "yes")


def device_problem(device: torch.device) -> str | None:
    """None when kernels can run on ``device``, else the reason."""
    if device.type == "cuda":
        return None
    if device.type == "cpu" and interpreting():
        return None
    if device.type == "cpu":
        return (
            "the triton backend runs on CUDA tensors; got CPU tensors (set TRITON_INTERPRET=1 "
            "before triton is imported to run the kernels on CPU, slowly, for testing)"
        )
    return f"the triton backend runs on CUDA tensors, got device {device}"


def supports(twiddle: Tensor, x: Tensor) -> bool:
    """True when the kernels handle these (already validated) arguments: triton importable,
    device usable, x's dtype in float32/float16/bfloat16/complex64 and the row small enough."""
    if x.dtype not in _X_DTYPES or not available() or device_problem(x.device) is not None:
        return False
    n = x.shape[-1]
    return n * (2 if x.is_complex() else 1) <= MAX_ROW and x.shape[1] <= MAX_STACK


def _plain(t: Tensor) -> Tensor:
    return t.resolve_conj().resolve_neg()


def _check(twiddle, x, increasing, grad=None) -> None:
    """TypeError/ValueError naming the argument unless the kernels can take these as they are."""
    for name, t in (("twiddle", twiddle), ("x", x), ("grad", grad)):
        if name == "grad" and t is None:
            continue
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: expected a tensor, got {type(t).__name__}")
        if t.layout != torch.strided:
            raise ValueError(f"{name}: expected a dense (strided) tensor, got layout {t.layout}")
        if not t.is_contiguous():
            raise ValueError(f"{name}: the triton kernels need a contiguous tensor")
        if t.is_conj() or t.is_neg():
            raise ValueError(f"{name}: lazy conjugate/negative view; call resolve_conj() first")
    if x.dtype not in _X_DTYPES:
        raise TypeError(
            f"x: the triton kernels take float32, float16, bfloat16 or complex64, got {x.dtype} "
            "(kmatrix.kernels.butterfly_multiply sends other dtypes to the 'torch' path)"
        )
    real = x.dtype.to_real() if x.is_complex() else x.dtype
    if twiddle.dtype not in ((x.dtype, real) if x.is_complex() else (x.dtype,)):
        raise TypeError(f"twiddle: dtype {twiddle.dtype} does not fit x of dtype {x.dtype}")
    if x.dim() == 3:  # this backend's limits first: they say more than a twiddle mismatch
        _, S, N = x.shape
        if N * (2 if x.is_complex() else 1) > MAX_ROW:
            raise ValueError(f"x: rows of {N} entries exceed one program's capacity (MAX_ROW)")
        if S > MAX_STACK:
            raise ValueError(f"x: a stack of {S} exceeds the launch grid's limit {MAX_STACK}")
    chain_shape(twiddle, x, single=False)
    if twiddle.device != x.device:
        raise ValueError(f"twiddle: on {twiddle.device}, expected x's device {x.device}")
    problem = device_problem(x.device)
    if problem is not None:
        raise ValueError(f"x: {problem}")
    check_orders_and_grad(twiddle, x, increasing, grad)
    reason = unavailable_reason()
    if reason is not None:
        raise RuntimeError(reason)


def _kernels(interpret: bool):
    """The (forward, backward) kernels of ``_triton_kernels.py`` for this mode (imports triton
    on first use). Triton fixes compiled vs interpreted when a kernel is defined, so the file is
    loaded once per mode, as its own module, with ``$TRITON_INTERPRET`` set accordingly."""
    name = f"{__package__}._triton_kernels_{'interpreted' if interpret else 'compiled'}"
    module = sys.modules.get(name)
    if module is None:
        path = os.path.join(os.path.dirname(__file__), "_triton_kernels.py")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        saved = os.environ.get("TRITON_INTERPRET")
        os.environ["TRITON_INTERPRET"] = "1" if interpret else "0"
        try:
            spec.loader.exec_module(module)
        finally:
            if saved is None:
                del os.environ["TRITON_INTERPRET"]
            else:
                os.environ["TRITON_INTERPRET"] = saved
        if module.triton is None or module.INTERPRET != interpret:  # pragma: no cover
            raise RuntimeError(f"the triton kernels could not be defined (interpret={interpret})")
        sys.modules[name] = module
    return module.forward_kernel, module.backward_kernel


def _launch_shape(
    batch: int, n: int, complex_x: bool, elems: int, backward: bool = False
) -> tuple[int, int]:
    """(rows per tile BB, num_warps): at most ``elems`` float32 values per tile (at least one
    row). Warps as measured best on an H200 (see :data:`FORWARD_TILE`): backward tiles of
    ≤ 8192 values 4 warps (16 above, unmeasured), forward tiles 8 warps up to 16384 values and
    16 above (4 up to 2048)."""
    width = n * (2 if complex_x else 1)
    bb = 1
    while bb * 2 * width <= elems and bb < batch:
        bb *= 2
    size = bb * width
    if backward:
        warps = 4 if size <= 8192 else 16
    else:
        warps = 4 if size <= 2048 else 8 if size <= 16384 else 16
    return bb, warps


def cuda_prefers_torch(n: int, grad: bool) -> bool:
    """True where the automatic CUDA choice runs the "torch" path instead of these kernels
    (measured faster there; see :data:`CUDA_TRITON_MAX_N_GRAD`)."""
    return n > (CUDA_TRITON_MAX_N_GRAD if grad else CUDA_TRITON_MAX_N)


def _mask(increasing) -> int:
    return sum(1 << f for f, up in enumerate(increasing) if up)


def _flat(t: Tensor) -> Tensor:
    return torch.view_as_real(t) if t.is_complex() else t


def forward(twiddle: Tensor, x: Tensor, increasing) -> Tensor:
    """y = B_{F-1} ⋯ B_0 x (layout in the module docstring), one kernel launch; checks its
    arguments first (contiguous, no lazy conjugate, supported dtype and device)."""
    _check(twiddle, x, increasing)
    B, S, N = x.shape
    T = twiddle.shape[0] * twiddle.shape[2]
    if T == 0 or B == 0 or S == 0:
        return x.clone()
    y = torch.empty_like(x)
    bb, warps = _launch_shape(B, N, x.is_complex(), FORWARD_TILE)
    fwd, _ = _kernels(interpreting())
    grid = (triton_cdiv(B, bb), S)
    with _on(x.device):
        fwd[grid](
            _flat(twiddle), _flat(x), _flat(y), B, S,
            N=N, L=twiddle.shape[2], T=T, INC=_mask(increasing), BB=bb,
            XC=x.is_complex(), TC=twiddle.is_complex(), num_warps=warps,
        )  # fmt: skip
    return y


def _on(device: torch.device):
    """Launch on the tensors' GPU (triton launches on the current device)."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def triton_cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _programs(device: torch.device, tiles: int, stack: int, per_program: int) -> int:
    """Programs per stack index in the backward: ≤ tiles, about 4 per SM, within the budget."""
    budget = SCRATCH_BYTES
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        target = 4 * props.multi_processor_count
        budget = min(4 * 2**30, props.total_memory // 16)
    else:  # the interpreter runs programs one after another: few, each looping over tiles
        target = 2
    return max(1, min(tiles, -(-target // max(stack, 1)), budget // max(1, per_program)))


def backward(twiddle: Tensor, x: Tensor, grad: Tensor, increasing) -> tuple[Tensor, Tensor]:
    """(grad_twiddle, grad_x) of y = B_{F-1} ⋯ B_0 x for the upstream ``grad`` (torch's complex
    convention), by recomputation from ``x``; one kernel launch plus a sum over the programs'
    twiddle-gradient slots. Checks its arguments first."""
    _check(twiddle, x, increasing, grad)
    B, S, N = x.shape
    F, L = twiddle.shape[0], twiddle.shape[2]
    T = F * L
    if T == 0 or B == 0 or S == 0:
        return torch.zeros_like(twiddle), grad.clone()
    cx, ct = (2 if x.is_complex() else 1), (2 if twiddle.is_complex() else 1)
    bb, warps = _launch_shape(B, N, x.is_complex(), BACKWARD_TILE, backward=True)
    tiles = triton_cdiv(B, bb)
    per_program = S * T * N * (bb * cx + 2 * ct) * 4
    P = _programs(x.device, tiles, S, per_program)
    scratch = torch.empty(P * S * T * bb * N * cx, dtype=torch.float32, device=x.device)
    # (T stage slots allocated, T - 1 used: keeps the kernel's slot arithmetic uniform)
    slots = torch.zeros((P, *twiddle.shape), dtype=torch.float32, device=x.device)
    if twiddle.is_complex():
        slots = torch.zeros((P, *twiddle.shape, 2), dtype=torch.float32, device=x.device)
    gx = torch.empty_like(x)
    _, bwd = _kernels(interpreting())
    with _on(x.device):
        bwd[(P, S)](
            _flat(twiddle), _flat(x), _flat(grad), _flat(gx), slots, scratch, B, S, tiles,
            N=N, L=L, T=T, INC=_mask(increasing), BB=bb,
            XC=x.is_complex(), TC=twiddle.is_complex(), num_warps=warps,
        )  # fmt: skip
    gt = slots.sum(0)
    if twiddle.is_complex():
        gt = torch.view_as_complex(gt)
    return gt.to(twiddle.dtype), gx


class TritonButterflyMultiply(torch.autograd.Function):
    """The ``"triton"`` backend: forward kernel, backward kernel by recomputation (saves only
    ``twiddle`` and ``x``). ``apply(twiddle (F, S, L, N/2, 2, 2), x (B, S, N), increasing)``.
    Under ``create_graph=True`` the backward is the differentiable custom-op backward (whose own
    derivative is the reference path), so higher-order gradients stay correct."""

    @staticmethod
    def forward(ctx, twiddle: Tensor, x: Tensor, increasing) -> Tensor:
        twiddle = _plain(twiddle).contiguous()
        x = _plain(x).contiguous()
        increasing = [bool(v) for v in increasing]
        y = forward(twiddle, x, increasing)
        ctx.save_for_backward(twiddle, x)
        ctx.increasing = increasing
        return y

    @staticmethod
    def backward(ctx, grad: Tensor):
        def grads(twiddle, x):
            g = _plain(grad).contiguous()
            if torch.is_grad_enabled():  # create_graph=True: keep the backward differentiable
                return ButterflyMultiplyBackward.apply(twiddle, x, g, ctx.increasing)
            return backward(twiddle, x, g, ctx.increasing)

        return chain_grads(ctx, grads)
