"""The Triton butterfly kernels (``backend="triton"``) against the float64 reference.

Where to run. With a CUDA device (and ``TRITON_INTERPRET`` unset) the kernels are compiled and
run on the GPU. Otherwise they run in triton's interpreter on CPU tensors: an autouse fixture
sets ``TRITON_INTERPRET=1`` while each test of this module runs (kmatrix loads the kernels once
per mode; triton reads the variable when a kernel is defined and at launches), so other modules
never see it, whenever triton was first imported. Skipped when triton is not
importable. Cases are tiny: the interpreter executes every program in Python (numpy).

Reference: :func:`butterfly_multiply_reference` chained over the factors, computed in float64 /
complex128 from the same (rounded) inputs, differentiated by autograd (that path is gradchecked
in tests/test_kernels.py; the kernels themselves have no float64 mode to gradcheck).

Tolerances (normwise relative ‖a − b‖/‖b‖):

* float32 / complex64: ≤ 1e-5 for y and grad_x, ≤ 1e-4 for grad_twiddle (sums over the batch), as
  in tests/test_kernels.py: T ≤ 16 stages of 2×2 blocks with entries of variance 1/2 (norms of
  order one), error of order T·2^-24 ≈ 1e-6.
* bfloat16 / float16: arithmetic and accumulation are float32 (error ≈ T·2^-24, negligible), so
  the only error is the final rounding of each output entry to the half type: at most u per
  entry on a GPU (round to nearest; u = 2^-8 for bfloat16, 2^-11 for float16), at most eps = 2u
  in the interpreter (which converts float32 → bfloat16 by truncation). Hence ≤ u (GPU) or 2u
  (interpreter) + 1e-5, whatever the depth. A kernel rounding to half after every stage would
  fail the width-2 K-matrix case (T = 24 stages): simulated, 1.7–3.6u with rounding to nearest
  and ≈ 16u with truncation (biased, it grows like T), 5 draws each.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest
import torch

if importlib.util.find_spec("triton") is None:  # pragma: no cover - depends on the install
    pytest.skip("triton is not installed (pip install 'kmatrix[gpu]')", allow_module_level=True)

import kmatrix.kernels as K
from kmatrix.kernels import triton as tk
from kmatrix.kernels.reference import butterfly_multiply_reference

ON_GPU = torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET", "0") != "1"
DEVICE = torch.device("cuda" if ON_GPU else "cpu")

KINDS = {  # name: (twiddle dtype, x dtype)
    "f32": (torch.float32, torch.float32),
    "c64": (torch.complex64, torch.complex64),
    "c64-real-twiddle": (torch.float32, torch.complex64),
}
HALF_U = {torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11}  # unit roundoff


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().cpu().to(torch.complex128), b.detach().cpu().to(torch.complex128)
    nb = b.norm().item()
    return (a - b).norm().item() / (nb if nb > 0 else 1.0)


def wide(t: torch.Tensor) -> torch.Tensor:
    return t.detach().cpu().to(torch.complex128 if t.is_complex() else torch.float64)


def reference(tw6, x, gy, incs):
    """(y, grad_twiddle, grad_x) in float64/complex128 by autograd through the reference."""
    tw = wide(tw6).requires_grad_(True)
    xx = wide(x).requires_grad_(True)
    y = xx
    for f, inc in enumerate(incs):
        y = butterfly_multiply_reference(tw[f], y, inc)
    gt, gx = torch.autograd.grad(y, (tw, xx), wide(gy))
    return y.detach(), gt, gx


def sample(F, S, N, B, tdtype, xdtype, gen):
    L = N.bit_length() - 1
    tw = torch.randn(F, S, L, N // 2, 2, 2, dtype=tdtype, generator=gen) / 2**0.5
    x = torch.randn(B, S, N, dtype=xdtype, generator=gen)
    gy = torch.randn(B, S, N, dtype=xdtype, generator=gen)
    return tw.to(DEVICE), x.to(DEVICE), gy.to(DEVICE)


@pytest.fixture(autouse=True)
def _interpreter_env(monkeypatch):
    if not ON_GPU:
        monkeypatch.setenv("TRITON_INTERPRET", "1")


@pytest.fixture
def gen():
    return torch.Generator().manual_seed(torch.randint(0, 2**31, ()).item())


@pytest.fixture
def small_tiles(monkeypatch):
    """Tiles of 1–2 rows: several tiles per launch and, in the backward, programs that loop
    over several tiles (and a last tile with masked rows)."""
    monkeypatch.setattr(tk, "FORWARD_TILE", 64)
    monkeypatch.setattr(tk, "BACKWARD_TILE", 64)


CASES = [  # (N, S, B, stride orders of the factors)
    (2, 1, 3, [True]),
    (4, 2, 5, [False]),
    (16, 3, 7, [True]),
    (16, 1, 5, [False, True]),  # a K-matrix BB*: decreasing then increasing, one launch
    (64, 1, 3, [True, False]),
    (256, 1, 3, [False]),
]


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"N{c[0]}-S{c[1]}-B{c[2]}-F{len(c[3])}")
def test_matches_float64_reference(case, kind, gen, small_tiles):
    N, S, B, incs = case
    tdtype, xdtype = KINDS[kind]
    tw, x, gy = sample(len(incs), S, N, B, tdtype, xdtype, gen)
    y = tk.forward(tw, x, incs)
    gt, gx = tk.backward(tw, x, gy, incs)
    ry, rgt, rgx = reference(tw, x, gy, incs)
    assert y.dtype == x.dtype and gx.dtype == x.dtype and gt.dtype == tw.dtype
    assert rel(y, ry) <= 1e-5
    assert rel(gx, rgx) <= 1e-5
    assert rel(gt, rgt) <= 1e-4


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("N,incs", [(16, [True]), (64, [False]), (64, [False, True] * 2)])
def test_half_precision_rounds_only_the_output(dtype, N, incs, gen):
    tw, x, gy = sample(len(incs), 2, N, 9, torch.float32, torch.float32, gen)
    tw, x, gy = tw.to(dtype), x.to(dtype), gy.to(dtype)
    y = tk.forward(tw, x, incs)
    gt, gx = tk.backward(tw, x, gy, incs)
    ry, rgt, rgx = reference(tw, x, gy, incs)
    tol = (1 if ON_GPU else 2) * HALF_U[dtype] + 1e-5
    assert y.dtype == dtype and gx.dtype == dtype and gt.dtype == dtype
    assert rel(y, ry) <= tol
    assert rel(gx, rgx) <= tol
    assert rel(gt, rgt) <= tol


def test_backward_program_loop_and_tile_sizes(monkeypatch, gen):
    # Several tiles per backward program (P = 2 programs under the interpreter) at several tile
    # heights, batch not a multiple of any of them: the same gradients.
    tw, x, gy = sample(2, 2, 16, 11, torch.float32, torch.float32, gen)
    _, rgt, rgx = reference(tw, x, gy, [False, True])
    for elems in (16, 64):  # 1 and 4 rows per tile
        monkeypatch.setattr(tk, "BACKWARD_TILE", elems)
        gt, gx = tk.backward(tw, x, gy, [False, True])
        assert rel(gx, rgx) <= 1e-5 and rel(gt, rgt) <= 1e-4, elems


def test_backend_autograd_saves_only_inputs(gen):
    tw, x, gy = sample(2, 1, 16, 5, torch.complex64, torch.complex64, gen)
    tw.requires_grad_(True)
    x.requires_grad_(True)
    saved = []

    def pack(t):
        saved.append(t.shape)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = K.butterfly_multiply(tw, x, [False, True], backend="triton")
    assert type(y.grad_fn).__name__ == "TritonButterflyMultiplyBackward"
    assert sorted(saved) == sorted([tw.shape, x.shape])  # twiddle and x, no activations
    gt, gx = torch.autograd.grad(y, (tw, x), gy)
    ry, rgt, rgx = reference(tw, x, gy, [False, True])
    assert rel(y, ry) <= 1e-5 and rel(gx, rgx) <= 1e-5 and rel(gt, rgt) <= 1e-4


def test_backend_promotes_conjugates_and_strides(gen):
    # Public entry: a (S, L, N/2, 2, 2) twiddle, a conjugated non-contiguous x, mixed dtypes.
    tw, x, _ = sample(1, 2, 8, 6, torch.float32, torch.complex64, gen)
    xt = x.transpose(0, 1).contiguous().transpose(0, 1).conj()  # lazy conj, non-contiguous
    y = K.butterfly_multiply(tw[0], xt, False, backend="triton")
    ry = butterfly_multiply_reference(wide(tw[0]), wide(xt.resolve_conj()), False)
    assert rel(y, ry) <= 1e-5
    y16 = K.butterfly_multiply(tw[0].half(), x.real.contiguous(), backend="triton")  # -> f32
    assert y16.dtype == torch.float32


def test_double_backward_stays_differentiable(gen):
    tw, x, gy = sample(1, 1, 8, 3, torch.float32, torch.float32, gen)
    tw.requires_grad_(True)
    x.requires_grad_(True)
    y = K.butterfly_multiply(tw, x, [True], backend="triton")
    (gx,) = torch.autograd.grad(y, x, gy, create_graph=True)
    (h,) = torch.autograd.grad(gx.square().sum(), tw)
    tw64, x64 = wide(tw).requires_grad_(True), wide(x).requires_grad_(True)
    y64 = butterfly_multiply_reference(tw64[0], x64, True)
    (gx64,) = torch.autograd.grad(y64, x64, wide(gy), create_graph=True)
    (h64,) = torch.autograd.grad(gx64.square().sum(), tw64)
    assert rel(h, h64) <= 1e-4


def test_float64_falls_back_to_torch_path(gen):
    tw, x, _ = sample(1, 1, 16, 4, torch.float64, torch.float64, gen)
    y = K.butterfly_multiply(tw.requires_grad_(True), x, [True], backend="triton")
    assert "Triton" not in type(y.grad_fn).__name__
    ry = butterfly_multiply_reference(tw[0].detach(), x, True)
    assert rel(y, ry) <= 1e-12


def test_set_backend_and_automatic_choice(gen):
    previous = K.set_backend("triton")
    try:
        assert K.get_backend() == "triton"
        tw, x, _ = sample(1, 1, 8, 3, torch.float32, torch.float32, gen)
        y = K.butterfly_multiply(tw.requires_grad_(True), x, [True])
        assert type(y.grad_fn).__name__ == "TritonButterflyMultiplyBackward"
    finally:
        K.set_backend(previous)
    cpu_tw = torch.randn(1, 1, 3, 4, 2, 2, requires_grad=True)
    y = K.butterfly_multiply(cpu_tw, torch.randn(2, 1, 8), [True], backend="fused")
    assert "Triton" not in type(y.grad_fn).__name__  # CPU "fused": the compiled C++ kernel
    if ON_GPU:  # CUDA "fused": the triton kernel
        y = K.butterfly_multiply(cpu_tw.cuda(), torch.randn(2, 1, 8, device="cuda"), [True])
        assert type(y.grad_fn).__name__ == "TritonButterflyMultiplyBackward"


def test_bad_input_names_the_argument(monkeypatch, gen):
    tw, x, gy = sample(1, 1, 8, 4, torch.float32, torch.float32, gen)
    with pytest.raises(ValueError, match="x: the triton kernels need a contiguous"):
        tk.forward(tw, x.transpose(0, 2).contiguous().transpose(0, 2), [True])
    with pytest.raises(TypeError, match="x: the triton kernels take"):
        tk.forward(tw.double(), x.double(), [True])
    with pytest.raises(TypeError, match="twiddle: dtype"):
        tk.forward(tw.half(), x, [True])
    with pytest.raises(ValueError, match="twiddle: expected shape"):
        tk.forward(tw[:, :, :2], x, [True])
    with pytest.raises(ValueError, match="x: expected shape"):
        tk.forward(tw, x[0], [True])
    with pytest.raises(ValueError, match="increasing: expected 1"):
        tk.forward(tw, x, [True, False])
    with pytest.raises(TypeError, match="increasing: expected a list of bools"):
        tk.forward(tw, x, [1])
    with pytest.raises(ValueError, match="grad: expected shape"):
        tk.backward(tw, x, gy[:2], [True])
    with pytest.raises(ValueError, match="x: lazy conjugate"):
        tk.forward(tw.to(torch.complex64), x.to(torch.complex64).conj(), [True])
    with pytest.raises(TypeError, match="x: expected a tensor"):
        tk.forward(tw, x.tolist(), [True])
    with pytest.raises(ValueError, match="x: rows of"):
        tk.forward(tw, torch.zeros(1, 1, 2 * tk.MAX_ROW, device=DEVICE), [True])
    big_s = tk.MAX_STACK + 1  # the second grid dimension: an error, and the torch path
    tw_s, x_s = torch.zeros(1, big_s, 1, 1, 2, 2), torch.zeros(1, big_s, 2)
    with pytest.raises(ValueError, match="x: a stack of"):
        tk.forward(tw_s.to(DEVICE), x_s.to(DEVICE), [True])
    assert not tk.supports(tw_s.to(DEVICE), x_s.to(DEVICE))
    if not ON_GPU:  # CPU tensors without the interpreter: a clear error, not a crash
        monkeypatch.setattr(tk, "interpreting", lambda: False)
        with pytest.raises(ValueError, match="x: the triton backend runs on CUDA tensors"):
            tk.forward(tw, x, [True])
        with pytest.raises(ValueError, match="backend 'triton': .*CUDA"):
            K.butterfly_multiply(tw, x, [True], backend="triton")


def test_kmatrix_works_without_triton():
    # A fresh interpreter where `import triton` fails: kmatrix imports and computes, triton is
    # never imported, and asking for the backend names the problem.
    code = (
        "import sys; sys.modules['triton'] = None\n"
        "import torch, kmatrix, kmatrix.kernels as K\n"
        "assert 'kmatrix.kernels._triton_kernels' not in sys.modules\n"
        "y = K.butterfly_multiply(torch.randn(1, 2, 2, 2, 2), torch.randn(3, 1, 4))\n"
        "assert y.shape == (3, 1, 4)\n"
        "try:\n"
        "    K.set_backend('triton')\n"
        "except RuntimeError as e:\n"
        "    print('ERR', e)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(K.__file__)), *sys.path])
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "ERR backend 'triton': triton is not importable" in out.stdout


def test_bench_device_cuda(monkeypatch, capsys):
    # Without a GPU `--device cuda` is a usage error naming the problem; the GPU table's code
    # itself runs as a dry run on CPU (tiny sizes, wall-clock "events"), printing both tables.
    import time

    from kmatrix.bench import _butterfly_gpu as gpu
    from kmatrix.bench import butterfly

    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            butterfly.main(["--device", "cuda"])
        assert "--device cuda: no CUDA device" in capsys.readouterr().err

    class Event:
        def __init__(self, enable_timing=False):
            self.t = 0.0

        def record(self):
            self.t = time.perf_counter()

        def elapsed_time(self, other):
            return (other.t - self.t) * 1e3

    monkeypatch.setattr(gpu, "DEVICE", "cpu")
    monkeypatch.setattr(gpu, "COPY_NUMEL", 2**16)
    monkeypatch.setattr(torch.cuda, "Event", Event)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda: None)
    assert gpu.main(1, ns=[16], batches=[3], compile_jobs=0) == 0
    out = capsys.readouterr().out
    assert "16x3" in out and "monarch/BB*" in out and "Lin/KL f+b" in out
    if ON_GPU:  # the precompile task compiled for and run on the GPU
        monkeypatch.setattr(gpu, "DEVICE", "cuda")
    else:  # CPU tensors: the interpreter
        monkeypatch.setenv("TRITON_INTERPRET", "1")
    for task in (("fwd", 16, 1), ("bwd", 16, 2)):  # what the parallel precompile runs
        assert gpu._compile_task(task)[:3] == task


@pytest.mark.parametrize("backward", [False, True])
@pytest.mark.parametrize("complex_x", [False, True])
def test_launch_shape_fits_the_tile(backward, complex_x):
    # Rows per tile: the largest power of two with rows·N·c_x ≤ the tile's values (c_x = 2 for
    # complex x), at least 1, at most the batch (a power of two ≥ it); warps from the measured
    # table in kmatrix.kernels.triton.
    elems = tk.BACKWARD_TILE if backward else tk.FORWARD_TILE
    c = 2 if complex_x else 1
    for n in (2, 16, 1024, 4096, 16384):
        for batch in (1, 3, 256, 100000):
            bb, warps = tk._launch_shape(batch, n, complex_x, elems, backward=backward)
            assert bb >= 1 and bb & (bb - 1) == 0
            if bb > 1:
                assert bb * n * c <= elems and bb < 2 * batch
            assert (2 * bb * n * c > elems) or bb >= batch
            assert warps in (4, 8, 16)


def test_cuda_choice_thresholds():
    # The automatic CUDA choice runs the "torch" path exactly above the measured crossovers.
    assert not tk.cuda_prefers_torch(tk.CUDA_TRITON_MAX_N_GRAD, grad=True)
    assert tk.cuda_prefers_torch(2 * tk.CUDA_TRITON_MAX_N_GRAD, grad=True)
    assert not tk.cuda_prefers_torch(tk.CUDA_TRITON_MAX_N, grad=False)
    assert tk.cuda_prefers_torch(2 * tk.CUDA_TRITON_MAX_N, grad=False)


def test_torch_func_takes_the_traceable_path(gen):
    # Under a torch.func transform the triton autograd.Function is not used (functorch would not
    # see through it); the "torch" path gives the same gradient.
    tw, x, gy = sample(1, 1, 8, 3, torch.float32, torch.float32, gen)

    def loss(t):
        return (K.butterfly_multiply(t, x, [True], backend="triton") * gy).sum()

    g = torch.func.grad(loss)(tw)
    _, rgt, _ = reference(tw, x, gy, [True])
    assert rel(g, rgt) <= 1e-5
