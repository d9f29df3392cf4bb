"""The butterfly multiply kernels: fused custom op vs plain-PyTorch reference vs dense definition.

Tolerances (normwise relative, ‖a − b‖ / ‖b‖): the fused kernel and the reference round
differently (fused multiply-adds, another summation order for twiddle gradients, which sum over
the batch), each with error of order L·eps, L ≤ 10 stages of 2×2 blocks whose random entries
have variance 1/2 (so norms stay of order one through the stages). Hence ≤ 1e-5 in float32
(eps 6e-8) and ≤ 1e-12 in float64 (eps 1e-16) for outputs and input gradients, ≤ 1e-4 for
float32 twiddle gradients (sums of up to B products per entry).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmatrix.kernels import (
    butterfly_multiply,
    butterfly_multiply_reference,
    cpu,
    get_backend,
    set_backend,
)
from kmatrix.kernels.op import ButterflyMultiply
from kmatrix.kernels.reference import butterfly_multiply_reference_backward

DTYPES = {
    "f32": (torch.float32, torch.float32),
    "f64": (torch.float64, torch.float64),
    "c64": (torch.complex64, torch.complex64),
    "c128": (torch.complex128, torch.complex128),
    "c64-real-twiddle": (torch.float32, torch.complex64),
    "c128-real-twiddle": (torch.float64, torch.complex128),
}
TOL = {torch.float32: 1e-5, torch.float64: 1e-12}
TOL_TWIDDLE = {torch.float32: 1e-4, torch.float64: 1e-12}


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.to(torch.complex128), b.to(torch.complex128)
    nb = b.norm().item()
    return (a - b).norm().item() / (nb if nb > 0 else 1.0)


def op_path(twiddle, x, increasing):
    """The custom-op path (what torch.compile / export / torch.func use), single factor."""
    return ButterflyMultiply.apply(twiddle.unsqueeze(0), x, [increasing])


def rand_twiddle(s, L, dtype, gen):
    return torch.randn(s, L, (1 << L) // 2, 2, 2, dtype=dtype, generator=gen) / 2**0.5


def dense_butterfly(twiddle: torch.Tensor, increasing: bool) -> torch.Tensor:
    """The dense (S, N, N) matrices of the definition, in complex128, built entry by entry."""
    S, L = twiddle.shape[:2]
    n = 1 << L
    t = twiddle.to(torch.complex128)
    out = []
    for s in range(S):
        M = torch.eye(n, dtype=torch.complex128)
        for k in range(L):
            stride = 1 << k if increasing else n >> (k + 1)
            F = torch.zeros(n, n, dtype=torch.complex128)
            for p in range(n // 2):
                i = (p // stride) * 2 * stride + p % stride
                j = i + stride
                F[i, i], F[i, j] = t[s, k, p, 0, 0], t[s, k, p, 0, 1]
                F[j, i], F[j, j] = t[s, k, p, 1, 0], t[s, k, p, 1, 1]
            M = F @ M
        out.append(M)
    return torch.stack(out)


@pytest.fixture(autouse=True)
def _fused_backend():
    previous = set_backend("fused")
    yield
    set_backend(previous)


def test_compiled_kernel_is_available():
    # The machine has a C++ compiler (CI too): the fused path must not silently fall back.
    assert cpu.available(), "the fused CPU kernel failed to build"


@pytest.mark.parametrize("increasing", [True, False])
@pytest.mark.parametrize("kind", ["f64", "c128", "c128-real-twiddle"])
def test_matches_dense_definition(kind, increasing, gen):
    tdt, xdt = DTYPES[kind]
    for L in (1, 2, 3, 5):
        n = 1 << L
        tw = rand_twiddle(2, L, tdt, gen)
        x = torch.randn(7, 2, n, dtype=xdt, generator=gen)
        D = dense_butterfly(tw, increasing)
        expected = torch.einsum("sij,bsj->bsi", D, x.to(torch.complex128))
        for backend in ("fused", "reference"):
            y = butterfly_multiply(tw, x, increasing, backend=backend)
            assert y.dtype == xdt
            assert rel(y, expected) <= 1e-13, (backend, L)


def _outputs_and_grads(paths, tw, x, g):
    """{name: (y, grad_twiddle, grad_x)} of each path f(twiddle, x) for the upstream gradient g."""
    results = {}
    for name, f in paths.items():
        t = tw.clone().requires_grad_(True)
        xx = x.clone().requires_grad_(True)
        y = f(t, xx)
        gt, gx = torch.autograd.grad(y, (t, xx), g, allow_unused=True, materialize_grads=True)
        results[name] = (y.detach(), gt, gx)
    return results


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    L=st.integers(0, 10),
    S=st.integers(1, 3),
    B=st.sampled_from([0, 1, 2, 3, 7, 15, 16, 17, 31, 33, 40]),
    kind=st.sampled_from(sorted(DTYPES)),
    increasing=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_fused_matches_reference(L, S, B, kind, increasing, seed):
    if B * S << L > 40 * 1024:  # keep each example small
        B = max(1, (40 * 1024 >> L) // S)
    gen = torch.Generator().manual_seed(seed)
    tdt, xdt = DTYPES[kind]
    n = 1 << L
    tw = rand_twiddle(S, L, tdt, gen)
    x = torch.randn(B, S, n, dtype=xdt, generator=gen)
    g = torch.randn(B, S, n, dtype=xdt, generator=gen)
    real = tdt.to_real() if tdt.is_complex else tdt

    paths = {
        "fused": lambda t, xx: butterfly_multiply(t, xx, increasing),  # eager fast path
        "op": lambda t, xx: op_path(t, xx, increasing),  # custom-op path
        "reference": lambda t, xx: butterfly_multiply_reference(t, xx, increasing),
    }
    results = _outputs_and_grads(paths, tw, x, g)
    yr, gtr, gxr = results["reference"]
    # the explicit (autograd-free) reference backward, used by the op off-CPU
    gt2, gx2 = butterfly_multiply_reference_backward(tw, x, g, increasing)
    assert gt2.dtype == tdt and rel(gt2, gtr) <= TOL[real] and rel(gx2, gxr) <= TOL[real]
    for name in ("fused", "op"):
        yf, gtf, gxf = results[name]
        assert yf.shape == (B, S, n) and yf.dtype == xdt and gtf.dtype == tdt
        assert rel(yf, yr) <= TOL[real], name
        assert rel(gxf, gxr) <= TOL[real], name
        assert rel(gtf, gtr) <= TOL_TWIDDLE[real], name


def test_multithreaded_tiles_agree(gen):
    # Enough rows for several tiles per thread, odd batch (partial last tile), two threads.
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for L, B in ((10, 37), (6, 133)):
            tw = rand_twiddle(2, L, torch.float64, gen)
            x = torch.randn(B, 2, 1 << L, dtype=torch.float64, generator=gen)
            g = torch.randn_like(x)
            for inc in (True, False):
                assert (
                    rel(cpu.forward(tw, x, inc), butterfly_multiply_reference(tw, x, inc)) <= 1e-12
                )
                gt, gx = cpu.backward(tw, x, g, inc)
                t = tw.clone().requires_grad_(True)
                xx = x.clone().requires_grad_(True)
                gtr, gxr = torch.autograd.grad(butterfly_multiply_reference(t, xx, inc), (t, xx), g)
                assert rel(gx, gxr) <= 1e-12 and rel(gt, gtr) <= 1e-12
    finally:
        torch.set_num_threads(previous)


@pytest.mark.parametrize("increasing", [True, False])
@pytest.mark.parametrize("kind", ["f64", "c128", "c128-real-twiddle"])
def test_gradcheck(kind, increasing, gen):
    tdt, xdt = DTYPES[kind]
    for S, L, B in ((1, 1, 2), (2, 3, 3), (1, 4, 5)):
        tw = rand_twiddle(S, L, tdt, gen).requires_grad_(True)
        x = torch.randn(B, S, 1 << L, dtype=xdt, generator=gen).requires_grad_(True)
        assert torch.autograd.gradcheck(
            lambda t, xx: butterfly_multiply(t, xx, increasing), (tw, x)
        )
        assert torch.autograd.gradcheck(lambda t, xx: op_path(t, xx, increasing), (tw, x))


def test_gradgradcheck(gen):
    # Higher-order derivatives go through the reference path (correct, not fast).
    for dt in (torch.float64, torch.complex128):
        tw = rand_twiddle(1, 3, dt, gen).requires_grad_(True)
        x = torch.randn(3, 1, 8, dtype=dt, generator=gen).requires_grad_(True)
        assert torch.autograd.gradgradcheck(lambda t, xx: butterfly_multiply(t, xx, False), (tw, x))


def test_mixed_precision_promotes(gen):
    tw = rand_twiddle(1, 4, torch.float32, gen)
    x = torch.randn(5, 1, 16, dtype=torch.complex128, generator=gen)
    y = butterfly_multiply(tw, x)
    assert y.dtype == torch.complex128
    assert rel(y, butterfly_multiply_reference(tw.double(), x)) <= 1e-13
    twc = rand_twiddle(1, 4, torch.complex64, gen)
    xr = torch.randn(5, 1, 16, dtype=torch.float32, generator=gen)
    y = butterfly_multiply(twc, xr, False)
    assert y.dtype == torch.complex64
    assert rel(y, butterfly_multiply_reference(twc, xr.to(torch.complex64), False)) <= 1e-5


def test_strided_conjugated_and_expanded_inputs(gen):
    tw = rand_twiddle(2, 5, torch.complex128, gen)
    base = torch.randn(9, 2, 64, dtype=torch.complex128, generator=gen)
    cases = {
        "strided": base[:, :, ::2],
        "conj-view": base[:, :, :32].conj(),
        "expanded": base[:1, :, :32].expand(9, 2, 32),
        "transposed-batch": torch.randn(2, 9, 32, dtype=torch.complex128, generator=gen).transpose(
            0, 1
        ),
    }
    for name, x in cases.items():
        expected = butterfly_multiply_reference(tw, x.resolve_conj().contiguous(), True)
        assert rel(butterfly_multiply(tw, x), expected) <= 1e-13, name
        assert (
            rel(
                butterfly_multiply(tw.real.contiguous(), x),
                butterfly_multiply_reference(tw.real, x.resolve_conj()),
            )
            <= 1e-13
        )


def test_edge_sizes(gen):
    tw0 = torch.zeros(1, 0, 0, 2, 2)
    x1 = torch.randn(4, 1, 1, generator=gen)
    assert torch.equal(butterfly_multiply(tw0, x1), x1)  # N = 1: no stages, identity
    tw = rand_twiddle(2, 3, torch.float32, gen).requires_grad_(True)
    empty = torch.randn(0, 2, 8, requires_grad=True)
    y = butterfly_multiply(tw, empty)
    assert y.shape == (0, 2, 8)
    y.sum().backward()
    assert torch.count_nonzero(tw.grad) == 0


def test_backward_saves_only_inputs(gen):
    """Memory of the backward: autograd keeps x and the twiddle, nothing of size B·N·log2 N."""
    L, B = 8, 64
    tw = rand_twiddle(1, L, torch.float32, gen).requires_grad_(True)
    x = torch.randn(B, 1, 1 << L, generator=gen).requires_grad_(True)
    saved = []

    def pack(t):
        saved.append(t.numel())
        return t

    for f in (butterfly_multiply, op_path):  # eager fast path and op path
        saved.clear()
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            y = f(tw, x, True)
        assert sorted(saved) == sorted([tw.numel(), x.numel()])
    # The reference path, for contrast, stores one activation per stage.
    saved.clear()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        butterfly_multiply(tw, x, True, backend="reference")
    assert sum(saved) >= L * x.numel()
    y.backward(torch.randn_like(y))
    assert tw.grad is not None and x.grad is not None


def test_opcheck(gen):
    for tdt, xdt in (DTYPES["f32"], DTYPES["c128"], DTYPES["c64-real-twiddle"]):
        for incs in ([True], [False], [False, True]):  # one factor, and a B·B* chain
            tw = torch.stack([rand_twiddle(2, 3, tdt, gen) for _ in incs]).requires_grad_(True)
            x = torch.randn(5, 2, 8, dtype=xdt, generator=gen).requires_grad_(True)
            torch.library.opcheck(torch.ops.kmatrix.butterfly_multiply.default, (tw, x, incs))
            g = torch.randn(5, 2, 8, dtype=xdt, generator=gen)
            torch.library.opcheck(
                torch.ops.kmatrix.butterfly_multiply_backward.default,
                (tw.detach(), x.detach(), g, incs),
                test_utils=("test_schema", "test_faketensor", "test_aot_dispatch_dynamic"),
            )


def test_torch_compile_fullgraph(gen):
    tw = rand_twiddle(1, 4, torch.float32, gen).requires_grad_(True)
    x = torch.randn(7, 1, 16, generator=gen)

    def f(t, xx):
        return butterfly_multiply(t, xx, True).sin().sum()

    compiled = torch.compile(f, fullgraph=True, backend="aot_eager")
    v = compiled(tw, x)
    (g,) = torch.autograd.grad(v, tw)
    v_ref = f(tw, x)
    (g_ref,) = torch.autograd.grad(v_ref, tw)
    assert rel(v.detach(), v_ref.detach()) <= 1e-6 and rel(g, g_ref) <= 1e-5


def test_export_keeps_custom_op(gen):
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.t = torch.nn.Parameter(rand_twiddle(1, 4, torch.float32, gen))

        def forward(self, x):
            return butterfly_multiply(self.t, x, False)

    m = M()
    x = torch.randn(3, 1, 16, generator=gen)
    ep = torch.export.export(m, (x,))
    assert "kmatrix.butterfly_multiply" in str(ep.graph)
    assert rel(ep.module()(x), m(x).detach()) == 0


def test_torch_func_vmap_and_grad(gen):
    tw = rand_twiddle(3, 4, torch.float64, gen)
    x = torch.randn(3, 5, 1, 16, dtype=torch.float64, generator=gen).expand(3, 5, 3, 16)[:, :, :1]
    tw1 = tw.reshape(3, 1, 4, 8, 2, 2)
    y = torch.func.vmap(lambda t, xx: butterfly_multiply(t, xx, False))(tw1, x)
    expected = torch.stack([butterfly_multiply_reference(tw1[i], x[i], False) for i in range(3)])
    assert rel(y, expected) <= 1e-13
    y = torch.func.vmap(lambda xx: butterfly_multiply(tw1[0], xx, True))(x)
    expected = torch.stack([butterfly_multiply_reference(tw1[0], x[i], True) for i in range(3)])
    assert rel(y, expected) <= 1e-13

    def loss(t, xx):
        return butterfly_multiply(t, xx, True).pow(2).sum()

    g = torch.func.vmap(torch.func.grad(loss))(tw1, x)
    refs = []
    for i in range(3):
        t = tw1[i].clone().requires_grad_(True)
        refs.append(
            torch.autograd.grad(butterfly_multiply_reference(t, x[i], True).pow(2).sum(), t)[0]
        )
    assert rel(g, torch.stack(refs)) <= 1e-12


def test_backend_selection(gen):
    tw = rand_twiddle(1, 3, torch.float64, gen)
    x = torch.randn(4, 1, 8, dtype=torch.float64, generator=gen)
    assert get_backend() == "fused"
    previous = set_backend("reference")
    try:
        assert previous == "fused" and get_backend() == "reference"
        y = butterfly_multiply(tw.requires_grad_(True), x)
        assert "ButterflyMultiply" not in type(y.grad_fn).__name__  # plain PyTorch graph
        assert rel(y.detach(), butterfly_multiply(tw, x, backend="fused").detach()) <= 1e-13
    finally:
        set_backend(previous)
    with pytest.raises(ValueError, match="backend"):
        set_backend("nope")
    with pytest.raises(ValueError, match="backend"):
        butterfly_multiply(tw, x, backend="nope")


def test_bad_input(gen):
    tw = rand_twiddle(1, 3, torch.float32, gen)
    x = torch.randn(4, 1, 8, generator=gen)
    with pytest.raises(ValueError, match="x: expected shape"):
        butterfly_multiply(tw, x[0])
    with pytest.raises(ValueError, match="power of two"):
        butterfly_multiply(tw, torch.randn(4, 1, 6, generator=gen))
    with pytest.raises(ValueError, match="twiddle: expected shape"):
        butterfly_multiply(tw[:, :2], x)
    with pytest.raises(ValueError, match="twiddle: expected shape"):
        butterfly_multiply(tw, torch.randn(4, 2, 8, generator=gen))
    with pytest.raises(TypeError, match="x: expected a floating-point"):
        butterfly_multiply(tw, torch.ones(4, 1, 8, dtype=torch.int64))
    with pytest.raises(TypeError, match="twiddle: expected a tensor"):
        butterfly_multiply(tw.tolist(), x)


def test_autograd_function_matches_op(gen):
    # The autograd.Function wrapper and the op's registered autograd give the same gradients.
    tw = rand_twiddle(2, 5, torch.complex64, gen).requires_grad_(True)
    x = torch.randn(9, 2, 32, dtype=torch.complex64, generator=gen).requires_grad_(True)
    g = torch.randn(9, 2, 32, dtype=torch.complex64, generator=gen)
    a = torch.autograd.grad(op_path(tw, x, True), (tw, x), g)
    b = torch.autograd.grad(torch.ops.kmatrix.butterfly_multiply(tw[None], x, [True]), (tw, x), g)
    assert all(torch.equal(u, v) for u, v in zip(a, b))


def test_fallback_without_compiler(monkeypatch, gen):
    # A machine without a C++ compiler: one RuntimeWarning, then the reference path (correct).
    monkeypatch.setattr(cpu, "_compiler", lambda: None)
    monkeypatch.setattr(cpu, "_lib", None)
    monkeypatch.setattr(cpu, "_failed", None)
    tw = rand_twiddle(1, 4, torch.float64, gen).requires_grad_(True)
    x = torch.randn(5, 1, 16, dtype=torch.float64, generator=gen)
    with pytest.warns(RuntimeWarning, match="fused butterfly kernel unavailable"):
        assert not cpu.available()
    y = butterfly_multiply(tw, x, False)
    assert rel(y.detach(), butterfly_multiply_reference(tw.detach(), x, False)) <= 1e-13
    (g,) = torch.autograd.grad(y.sum(), tw)
    t = tw.detach().clone().requires_grad_(True)
    (g_ref,) = torch.autograd.grad(butterfly_multiply_reference(t, x, False).sum(), t)
    assert rel(g, g_ref) <= 1e-13


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    L=st.integers(0, 8),
    S=st.integers(1, 2),
    B=st.sampled_from([0, 1, 5, 16, 33]),
    incs=st.lists(st.booleans(), min_size=1, max_size=4),
    kind=st.sampled_from(sorted(DTYPES)),
    seed=st.integers(0, 2**31 - 1),
)
def test_fused_chain_matches_reference(L, S, B, incs, kind, seed):
    # A product of F butterflies in one call (the K-matrix case) = F single calls.
    gen = torch.Generator().manual_seed(seed)
    tdt, xdt = DTYPES[kind]
    real = tdt.to_real() if tdt.is_complex else tdt
    tw = torch.stack([rand_twiddle(S, L, tdt, gen) for _ in incs])
    x = torch.randn(B, S, 1 << L, dtype=xdt, generator=gen)
    g = torch.randn(B, S, 1 << L, dtype=xdt, generator=gen)

    def sequential(t, xx):
        for f, inc in enumerate(incs):
            xx = butterfly_multiply_reference(t[f], xx, inc)
        return xx

    paths = {
        "fused": lambda t, xx: butterfly_multiply(t, xx, incs),
        "op": lambda t, xx: ButterflyMultiply.apply(t, xx, incs),
        "reference": sequential,
    }
    results = _outputs_and_grads(paths, tw, x, g)
    yr, gtr, gxr = results["reference"]
    for name in ("fused", "op"):
        yf, gtf, gxf = results[name]
        assert rel(yf, yr) <= TOL[real], name
        assert rel(gxf, gxr) <= TOL[real], name
        assert rel(gtf, gtr) <= TOL_TWIDDLE[real], name


@pytest.mark.parametrize("kind", ["f64", "c128", "c128-real-twiddle"])
def test_chain_gradcheck_and_saved_tensors(kind, gen):
    tdt, xdt = DTYPES[kind]
    incs = [False, True, False]
    tw = torch.stack([rand_twiddle(2, 3, tdt, gen) for _ in incs]).requires_grad_(True)
    x = torch.randn(3, 2, 8, dtype=xdt, generator=gen).requires_grad_(True)
    for f in (butterfly_multiply, ButterflyMultiply.apply):
        assert torch.autograd.gradcheck(lambda t, xx, f=f: f(t, xx, incs), (tw, x))
        saved: list[int] = []

        def pack(t, saved=saved):
            saved.append(t.numel())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            f(tw, x, incs)
        assert sorted(saved) == sorted([tw.numel(), x.numel()])


def test_chain_vmap_over_twiddles(gen):
    incs = [False, True]
    tw = torch.stack(
        [torch.stack([rand_twiddle(1, 4, torch.float64, gen) for _ in incs]) for _ in range(3)]
    )
    x = torch.randn(5, 1, 16, dtype=torch.float64, generator=gen)
    y = torch.func.vmap(lambda t: butterfly_multiply(t, x, incs))(tw)
    expected = torch.stack(
        [butterfly_multiply(tw[i], x, incs, backend="reference") for i in range(3)]
    )
    assert rel(y, expected) <= 1e-13
    g = torch.func.vmap(torch.func.grad(lambda t: butterfly_multiply(t, x, incs).pow(2).sum()))(tw)
    refs = []
    for i in range(3):
        t = tw[i].clone().requires_grad_(True)
        y_i = butterfly_multiply(t, x, incs, backend="reference").pow(2).sum()
        refs.append(torch.autograd.grad(y_i, t)[0])
    assert rel(g, torch.stack(refs)) <= 1e-12


def test_chain_bad_input(gen):
    tw = torch.stack([rand_twiddle(1, 3, torch.float32, gen) for _ in range(2)])
    x = torch.randn(4, 1, 8, generator=gen)
    with pytest.raises(ValueError, match="increasing_stride: expected 2 stride orders"):
        butterfly_multiply(tw, x, [True])
    with pytest.raises(TypeError, match="increasing_stride: expected a bool"):
        butterfly_multiply(tw[0], x, [True])
    with pytest.raises(ValueError, match="twiddle: expected shape"):
        butterfly_multiply(tw[:, :, :2], x, [True, False])


def test_chain_shape_is_the_one_shape_check_of_every_entry(gen):
    """kernels._shapes.chain_shape: (S, N, L, F) for the shapes of the module docstring, the
    same ValueError (naming the argument) from the public entry, the op, the CPU kernel's
    boundary and (without triton's own limits) the triton launcher."""
    from kmatrix.kernels import cpu, op
    from kmatrix.kernels._shapes import chain_shape

    x = torch.randn(3, 2, 8, generator=gen)
    one = torch.randn(2, 3, 4, 2, 2, generator=gen)
    assert chain_shape(one, x) == (2, 8, 3, None)
    assert chain_shape(one.expand(5, *one.shape), x, single=False) == (2, 8, 3, 5)
    with pytest.raises(ValueError, match=r"twiddle: expected shape \(factors, 2, 3, 4, 2, 2\)"):
        chain_shape(one, x, single=False)  # the op and triton take only the stacked form
    bad = torch.randn(2, 2, 4, 2, 2, generator=gen)  # L = 2 for N = 8
    wrong_n = torch.randn(3, 2, 6, generator=gen)
    entries = [
        lambda t, v: butterfly_multiply(t, v, True),
        lambda t, v: op.check_op_args(t.unsqueeze(0), v, [True]),
        lambda t, v: cpu.forward(t, v, True),
    ]
    for call in entries:
        with pytest.raises(ValueError, match=r"twiddle: expected shape .*2, 3, 4, 2, 2\)"):
            call(bad, x)
        with pytest.raises(ValueError, match="x: the last dimension N must be a power of two"):
            call(one, wrong_n)
