"""Half precision in the fused CPU kernel: bfloat16 / float16 data, complex32, autocast.

The kernel converts each tile to float32 when it loads it, runs every stage of every factor in
float32 and rounds once when it stores (twiddle gradients: summed in float32, rounded once to
the twiddle's dtype). References are float64 products of the *same* (already rounded) half
inputs, so the only error is that final rounding plus float32 arithmetic:

* one rounding to nearest: |fl(y_i) − y_i| ≤ u·|y_i| per entry, hence ‖fl(y) − y‖ ≤ u·‖y‖ with
  the unit roundoff u = 2^-8 (bfloat16: 8 significant bits) or 2^-11 (float16: 11 bits);
* the float32 arithmetic before it: ≲ F·L·2^-24 relative for twiddle entries of variance 1/2
  (norms stay of order one), i.e. ≤ 1e-5 here.

So outputs and gradients must be within u + 1e-5 (normwise). Measured ≈ 0.45·u (the RMS of a
rounding error is u/√3 of the value). A kernel that rounded to half precision after every
stage would be ≈ √(F·L)·0.45·u and fail for F·L ≥ 6. Twiddle gradients returned in float32
(float32 twiddles with half data) carry only float32 error: 1e-4 as in test_kernels.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import kmatrix
from kmatrix import kernels
from kmatrix.kernels import butterfly_multiply, cpu, op
from kmatrix.kernels.op import ButterflyMultiply, reference_chain, reference_chain_backward

ROOT = Path(__file__).resolve().parents[1]
HALF = [torch.bfloat16, torch.float16]
UNIT = {torch.bfloat16: 2.0**-8, torch.float16: 2.0**-11}


def tol(dtype) -> float:
    return UNIT[dtype] + 1e-5


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().to(torch.complex128), b.detach().to(torch.complex128)
    nb = b.norm().item()
    return (a - b).norm().item() / (nb if nb > 0 else 1.0)


@pytest.fixture(autouse=True)
def _kernel_only(monkeypatch):
    """Fused backend, and the plain-PyTorch fallback made to fail: these tests must run the
    compiled kernel, not silently the blocked path."""
    if not cpu.available():  # pragma: no cover - test_kernels asserts the kernel builds
        pytest.skip("the fused kernel is not available on this machine")
    previous = kernels.set_backend("fused")

    def no_fallback(*args, **kwargs):
        raise AssertionError("half precision fell back to the plain-PyTorch blocked path")

    monkeypatch.setattr(kernels, "chain_blocked", no_fallback)
    monkeypatch.setattr(op, "chain_blocked", no_fallback)
    yield
    kernels.set_backend(previous)


def rand_tw(F, S, L, dtype, gen):
    half = (1 << L) // 2
    return (torch.randn(F, S, L, half, 2, 2, generator=gen) / 2**0.5).to(dtype)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize(
    "B, S, L, F", [(300, 1, 10, 1), (37, 2, 5, 2), (64, 3, 3, 3), (5, 1, 1, 1), (50, 1, 6, 4)]
)
@pytest.mark.parametrize("path", ["eager", "op"])
def test_half_matches_float64_reference(dtype, B, S, L, F, path, gen):
    tw = rand_tw(F, S, L, dtype, gen).requires_grad_(True)
    x = torch.randn(B, S, 1 << L, generator=gen).to(dtype).requires_grad_(True)
    incs = [bool(v) for v in torch.randint(0, 2, (F,), generator=gen)]
    if path == "eager":
        y = butterfly_multiply(tw, x, incs)
    else:
        y = ButterflyMultiply.apply(tw, x, incs)
    g = torch.randn(y.shape, generator=gen).to(dtype)
    y.backward(g)
    assert y.dtype == x.grad.dtype == tw.grad.dtype == dtype
    t64 = tw.detach().double().requires_grad_(True)
    x64 = x.detach().double().requires_grad_(True)
    ref = reference_chain(t64, x64, incs)
    ref.backward(g.double())
    assert rel(y, ref) <= tol(dtype)
    assert rel(x.grad, x64.grad) <= tol(dtype)
    assert rel(tw.grad, t64.grad) <= tol(dtype)
    with torch.no_grad():  # the no-autograd fast path
        assert torch.equal(butterfly_multiply(tw, x, incs), y)


@pytest.mark.parametrize("dtype", HALF)
def test_half_data_with_float32_twiddle_at_the_kernel_entry(dtype, gen):
    # cpu.forward/backward take float32 twiddles with half data; gradients of the twiddle are
    # returned in float32 (summed in float32), of x in x's dtype. Strided and transposed
    # layouts take the scalar gather/scatter.
    F, S, L, B = 2, 2, 7, 45
    tw = rand_tw(F, S, L, torch.float32, gen)
    base = torch.randn(S, B, 2 << L, generator=gen).to(dtype)
    x = base.transpose(0, 1)[:, :, ::2]  # (B, S, N), element stride 2, batch stride 2N
    g = torch.randn(1 << L, B, S, generator=gen).to(dtype).permute(1, 2, 0)
    incs = [True, False]
    y = cpu.forward(tw, x, incs)
    gt, gx = cpu.backward(tw, x, g, incs)
    assert y.dtype == gx.dtype == dtype and gt.dtype == torch.float32
    ref = reference_chain(tw.double(), x.double(), incs)
    rgt, rgx = reference_chain_backward(tw.double(), x.double(), g.double(), incs)
    assert rel(y, ref) <= tol(dtype)
    assert rel(gx, rgx) <= tol(dtype)
    assert rel(gt, rgt) <= 1e-4
    assert torch.equal(cpu.forward(tw, x.contiguous(), incs), y)


@pytest.mark.parametrize("dtype", HALF)
@pytest.mark.parametrize("N", [2, 64])
def test_half_rounding_matches_torch(dtype, N, gen):
    # y = c·x through a first stage diag(c) and identity stages: the kernel's float32 product
    # rounded to half must equal torch's rounding of the same float32 product — normal,
    # subnormal and (N = 2, float16) overflowing values, both signs (N = 2: scalar conversions,
    # N = 64: vector conversions; there inputs are kept from overflowing, since the identity
    # stages after the first would turn 0·inf into NaN).
    L = N.bit_length() - 1
    finfo = torch.finfo(dtype)
    mags = torch.logspace(-9 if dtype == torch.float16 else -38, 4.5, 4096).to(torch.float64)
    signs = torch.where(torch.rand(4096, generator=gen) < 0.5, -1.0, 1.0)
    values = (mags * signs)[torch.randperm(4096, generator=gen)]
    for c in (1.0, 3.0, 1 / 3, 1e-3, 7e3):
        x = (values / (max(1.0, c) if N > 2 else 1.0)).clamp(-finfo.max, finfo.max).to(dtype)
        x = x[: x.numel() // N * N].view(-1, 1, N)
        tw = torch.zeros(1, 1, L, N // 2, 2, 2)
        tw[..., 0, 0] = tw[..., 1, 1] = 1.0
        tw[0, 0, 0, :, 0, 0] = tw[0, 0, 0, :, 1, 1] = c
        y = cpu.forward(tw, x, [True])
        expected = (x.float() * torch.tensor(c, dtype=torch.float32)).to(dtype)
        assert torch.equal(y, expected), c
    if N == 2 and dtype == torch.float16:
        assert torch.isinf(expected).any()  # overflow was exercised
    nan = torch.full((4, 1, N), float("nan")).to(dtype)
    assert torch.isnan(cpu.forward(tw, nan, [True])).all()


@pytest.mark.filterwarnings("ignore:ComplexHalf support is experimental")
def test_complex32_runs_in_complex64(gen):
    # torch has no complex-half arithmetic on CPU: complex32 is computed in complex64 and the
    # result cast back (one rounding to float16 parts: tolerance u_fp16 + 1e-5, gradients too).
    c32 = torch.complex32
    tw = (torch.randn(1, 4, 8, 2, 2, dtype=torch.complex64, generator=gen) / 2**0.5).to(c32)
    x = torch.randn(9, 1, 16, dtype=torch.complex64, generator=gen).to(c32)
    for t in (tw, torch.view_as_real(tw.to(torch.complex64))[..., 0].to(torch.float16)):
        t = t.clone().requires_grad_(True)
        y = butterfly_multiply(t, x, False)
        assert y.dtype == c32
        wide = torch.complex128 if t.is_complex() else torch.float64
        t128 = t.detach().to(wide).requires_grad_(True)
        ref = kmatrix.kernels.butterfly_multiply_reference(t128, x.to(torch.complex128), False)
        assert rel(y, ref) <= tol(torch.float16)
        torch.view_as_real(y.to(torch.complex64)).sum().backward()
        torch.view_as_real(ref).sum().backward()
        assert t.grad.dtype == t.dtype
        assert rel(t.grad.to(torch.complex64), t128.grad) <= tol(torch.float16)


def test_autocast_casts_like_linear(gen):
    # Under torch.autocast("cpu") the product is a linear map like F.linear: float32 (and other
    # non-double real) operands are cast to the autocast dtype, the kernel runs on them (float32
    # inside) and the result has that dtype; gradients reach the float32 leaves in float32.
    # float64 and complex operands are left alone.
    tw = rand_tw(2, 1, 6, torch.float32, gen).requires_grad_(True)
    x = torch.randn(33, 1, 64, generator=gen).requires_grad_(True)
    incs = [False, True]
    for low in HALF:
        tw.grad = x.grad = None
        with torch.autocast("cpu", dtype=low):
            y = butterfly_multiply(tw, x, incs)
        assert y.dtype == low
        g = torch.randn(y.shape, generator=gen).to(low)
        y.backward(g)
        assert tw.grad.dtype == x.grad.dtype == torch.float32
        t64 = tw.detach().to(low).double().requires_grad_(True)
        x64 = x.detach().to(low).double().requires_grad_(True)
        ref = reference_chain(t64, x64, incs)
        ref.backward(g.double())
        assert rel(y, ref) <= tol(low)
        assert rel(x.grad, x64.grad) <= tol(low)
        assert rel(tw.grad, t64.grad) <= tol(low)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert butterfly_multiply(tw.double(), x.double(), incs).dtype == torch.float64
        xc = torch.randn(3, 1, 64, dtype=torch.complex64, generator=gen)
        assert butterfly_multiply(tw, xc, incs).dtype == torch.complex64
        layer = kmatrix.nn.KLinear(64, 64)
        out = layer(torch.randn(5, 64, generator=gen))
        assert torch.isfinite(out).all()


def test_half_memory_is_batch_independent_scratch(gen):
    # The half path keeps the recomputing backward: autograd saves only twiddle and x.
    tw = rand_tw(1, 1, 8, torch.bfloat16, gen).requires_grad_(True)
    x = torch.randn(64, 1, 256, generator=gen).to(torch.bfloat16).requires_grad_(True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(
        lambda t: saved.append(t.numel()) or t, lambda t: t
    ):
        butterfly_multiply(tw, x, True)
    assert sorted(saved) == sorted([tw.numel(), x.numel()])


HALF_BAD_ARGS = textwrap.dedent(
    """
    import json, torch
    from kmatrix.kernels import cpu, butterfly_multiply
    from kmatrix.kernels.op import reference_chain
    OP = torch.ops.kmatrix.butterfly_multiply
    OP_BWD = torch.ops.kmatrix.butterfly_multiply_backward
    BF, F16, F32, F64 = torch.bfloat16, torch.float16, torch.float32, torch.float64
    tw = lambda shape=(1, 2, 3, 4, 2, 2), d=F32: (torch.randn(shape) / 2 ** 0.5).to(d)
    xs = lambda shape=(5, 2, 8), d=BF: torch.randn(shape).to(d)
    cases = {
        "cpu.forward tw bf16": (lambda: cpu.forward(tw(d=BF), xs(), [True]), "twiddle"),
        "cpu.forward tw f64 / x bf16": (lambda: cpu.forward(tw(d=F64), xs(), [True]), "x"),
        "cpu.forward tw f32 / x int16": (
            lambda: cpu.forward(tw(), torch.ones(5, 2, 8, dtype=torch.int16), [True]), "x"),
        "cpu.forward x f16 N=6": (lambda: cpu.forward(tw(), xs((5, 2, 6), F16), [True]), "x"),
        "cpu.forward x bf16 short twiddle": (
            lambda: cpu.forward(tw((1, 2, 2, 4, 2, 2)), xs(), [True]), "twiddle"),
        "cpu.forward x bf16 on meta": (lambda: cpu.forward(tw(), xs().to("meta"), [True]), "x"),
        "cpu.forward x f16 stride orders": (
            lambda: cpu.forward(tw(), xs(d=F16), [True, False]), "increasing"),
        "cpu.backward grad f16 / x bf16": (
            lambda: cpu.backward(tw(), xs(), xs(d=F16), [True]), "grad"),
        "cpu.backward grad f32 / x bf16": (
            lambda: cpu.backward(tw(), xs(), xs(d=F32), [True]), "grad"),
        "cpu.backward grad short / x f16": (
            lambda: cpu.backward(tw(), xs(d=F16), xs((4, 2, 8), F16), [True]), "grad"),
        "op tw bf16 / x f16": (lambda: OP(tw(d=BF), xs(d=F16), [True]), "twiddle"),
        "op tw f32 / x bf16": (lambda: OP(tw(), xs(), [True]), "twiddle"),
        "op bwd grad f16 / x bf16": (
            lambda: OP_BWD(tw(d=BF), xs(), xs(d=F16), [True]), "grad"),
        "op bwd short twiddle bf16": (
            lambda: OP_BWD(tw((1, 2, 2, 4, 2, 2), BF), xs(), xs(), [True]), "twiddle"),
    }
    for name, (f, arg) in cases.items():
        try:
            f()
        except Exception as exc:
            ok = arg in str(exc)
            print(json.dumps({"case": name, "ok": ok, "detail": str(exc)[:200]}), flush=True)
        else:
            print(json.dumps({"case": name, "ok": False, "detail": "no error"}), flush=True)
    # valid unusual layouts run and match the reference
    t = tw()
    x = torch.randn(8, 2, 5).to(BF).transpose(0, 2)
    y = OP(t.to(BF), x, [True])
    ref = reference_chain(t.to(BF).double(), x.double(), [True])
    err = ((y.double() - ref).norm() / ref.norm()).item()
    print(json.dumps({"case": "op strided bf16 x", "ok": err < 2 ** -8, "detail": str(err)}))
    """
)


def test_half_wrong_arguments_raise_in_a_child_process():
    # Every half-precision entry into compiled code with wrong dtypes, shapes, devices or stride
    # orders raises a Python error naming the argument; run in a child so that a crash is a
    # failed test (with its signal), not a dead runner.
    env = {"PYTHONPATH": str(ROOT)}
    import os

    proc = subprocess.run(
        [sys.executable, "-c", HALF_BAD_ARGS],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, f"child died ({proc.returncode}): {proc.stderr[-2000:]}"
    reports = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(reports) == 15
    bad = [f"{r['case']}: {r['detail']}" for r in reports if not r["ok"]]
    assert not bad, "\n".join(bad)
