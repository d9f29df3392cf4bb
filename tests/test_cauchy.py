"""Cauchy: fast (N(s)/T(s) by subproduct trees) and direct paths against 1/(s_i − t_j).

Errors are normwise against the magnitude of the sum, ‖ŷ − y‖ / ‖|C| |x|‖ (the measure of
``kmatrix bench cauchy_accuracy``). Tolerances: the direct path has error ≲ n·ε (1e-13 for
n ≤ 1000); the exact fast path is accurate only on FFT-like circle nodes (growth indicator
G ≲ 100: error ≲ G·log2(n)·ε, 1e-12) and on well-separated real nodes at n ≤ 8 (1e-11).
"""

import math

import pytest
import torch

import kmatrix
from kmatrix.families import cauchy as cmod
from kmatrix.families.cauchy import Cauchy, CauchyPlan


def _ref(s, t):
    s = s.detach().to(torch.complex128)
    t = t.detach().to(torch.complex128)
    return 1.0 / (s[:, None] - t[None, :])


def _err(y_hat, C, x):
    x = x.to(torch.complex128)
    scale = x.abs() @ C.abs().T
    return float((y_hat.detach().to(torch.complex128) - x @ C.T).norm() / scale.norm())


def _cplx(shape, gen):
    return torch.complex(torch.randn(shape, generator=gen, dtype=torch.float64),
                         torch.randn(shape, generator=gen, dtype=torch.float64))


def _circle(k, radius, gen):
    u = torch.rand((), generator=gen, dtype=torch.float64)
    return torch.polar(torch.full((k,), radius, dtype=torch.float64),
                       2 * math.pi * (torch.arange(k, dtype=torch.float64) + u) / k)


SHAPES = [(1, 1), (1, 6), (6, 1), (7, 13), (13, 7), (32, 32), (100, 37), (37, 100), (200, 600)]


@pytest.mark.parametrize("m,n", SHAPES)
def test_fast_and_direct_on_circle_nodes(m, n, gen):
    s, t = _circle(m, 0.8, gen), _circle(n, 1.0, gen)
    C = _ref(s, t)
    x, y = _cplx((3, n), gen), _cplx((2, m), gen)
    for method, tol in (("fast", 1e-12), ("direct", 1e-13)):
        M = Cauchy(s, t, method=method)
        assert _err(M(x), C, x) <= tol
        assert _err(M.T(y), C.T, y) <= tol  # Cᵀ = −Cauchy(t, s)
        assert _err(M.H(y), C.conj().T, y) <= tol


@pytest.mark.parametrize("m,n", [(1, 3), (5, 7), (8, 4), (6, 6)])
@pytest.mark.filterwarnings("ignore::kmatrix.AccuracyWarning")  # G ~ 1e12 over-estimates here
def test_fast_small_real(m, n, gen):
    s = torch.linspace(-1, 1, m, dtype=torch.float64) + 0.05 * torch.rand(m, generator=gen, dtype=torch.float64)
    t = torch.linspace(-1, 1, n, dtype=torch.float64) + 0.5 / n + 3.0
    C = _ref(s, t)
    M = Cauchy(s, t, method="fast")
    x = torch.randn(3, n, generator=gen, dtype=torch.float64)
    y = torch.randn(3, m, generator=gen, dtype=torch.float64)
    assert _err(M(x), C, x) <= 1e-11
    assert _err(M.T(y), C.T, y) <= 1e-11


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_direct_random_nodes_and_chunking(dtype, gen, monkeypatch):
    m, n = 70, 90
    s = torch.rand(m, generator=gen, dtype=torch.float64) * 2 - 1
    t = torch.rand(n, generator=gen, dtype=torch.float64) * 2 - 1
    if dtype.is_complex:
        s = s + 1j * torch.rand(m, generator=gen, dtype=torch.float64)
        t = t - 1j * torch.rand(n, generator=gen, dtype=torch.float64)
    C = _ref(s, t)
    M = Cauchy(s, t)
    assert M.resolve_method() == "direct"
    x = torch.randn(2, n, generator=gen, dtype=torch.float64).to(dtype)
    y = torch.randn(2, m, generator=gen, dtype=torch.float64).to(dtype)
    assert _err(M(x), C, x) <= 1e-13 and _err(M.T(y), C.T, y) <= 1e-13
    monkeypatch.setattr(cmod, "DIRECT_CHUNK_ELEMS", 4 * m)  # many column blocks
    assert _err(M(x), C, x) <= 1e-13 and _err(M.T(y), C.T, y) <= 1e-13


def test_fast_with_zero_among_the_points(gen):
    # n = 5 is padded to 8 poles (copies of t_j with weight 0, cancelling in N/T); 0 is an s_i
    s = torch.tensor([0.0, 0.5j, -0.5, 0.25 + 0.25j, 0.3], dtype=torch.complex128)
    t = 2 * _circle(5, 1.0, gen)
    x = _cplx((2, 5), gen)
    assert _err(Cauchy(s, t, method="fast")(x), _ref(s, t), x) <= 1e-12


@pytest.mark.parametrize("method", ["fast", "direct"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_gradcheck(method, dtype, gen):
    m, n = 5, 4
    if dtype.is_complex:
        s, t = _circle(m, 0.8, gen), _circle(n, 1.0, gen)
    else:
        s = torch.linspace(-1, 1, m, dtype=torch.float64) + 0.05 * torch.rand(m, generator=gen, dtype=torch.float64)
        t = torch.linspace(2, 3, n, dtype=torch.float64)
    s, t = s.requires_grad_(True), t.requires_grad_(True)
    x = torch.randn(2, n, generator=gen, dtype=torch.float64).to(dtype).requires_grad_(True)
    y = torch.randn(2, m, generator=gen, dtype=torch.float64).to(dtype).requires_grad_(True)
    if method == "fast":
        def f(s, t, x):
            return CauchyPlan(s, t).apply(x)

        def fT(s, t, y):
            return -CauchyPlan(t, s).apply(y)
    else:
        def f(s, t, x):
            return cmod._KernelMatvec.apply(s, t, x, 1)

        def fT(s, t, y):
            return -cmod._KernelMatvec.apply(t, s, y, 1)
    assert torch.autograd.gradcheck(f, (s, t, x))
    assert torch.autograd.gradcheck(fT, (s, t, y))
    if method == "direct":
        assert torch.autograd.gradgradcheck(f, (s, t, x))


def test_auto_is_the_direct_path(gen):
    # "auto" must stay within 10x of the direct path's error; the fast path is 13-1000x less
    # accurate on every measured case with n >= 256 (tests/test_fast_accuracy.py), so auto is
    # the direct path even on the best nodes (interleaved roots of unity, G = 2)
    n = 1024
    s = _circle(n, 1.0, gen)
    t = s * torch.polar(torch.tensor(1.0, dtype=torch.float64), torch.tensor(math.pi / n, dtype=torch.float64))
    M = Cauchy(s, t)
    assert M.resolve_method() == "direct" and M.growth() <= 10
    assert Cauchy(s, t, method="fast").resolve_method() == "fast"
    x = _cplx((1, n), gen)
    assert _err(M(x), _ref(s, t), x) <= 1e-15


def test_flops():
    n = 1 << 10
    s = torch.rand(n, dtype=torch.float64)
    t = s + 2.0
    assert Cauchy(s, t).flops == n * (4 * n - 1)
    assert Cauchy(s.to(torch.complex128), t.to(torch.complex128)).flops == 15 * n * n - 2 * n
    f = Cauchy(s, t, method="fast").flops
    assert f == cmod.fast_flops(n, n, False)
    # counted from the implementation: c·n·log2²(n) with a stable constant c
    c = [cmod.fast_flops(1 << k, 1 << k, False) / ((1 << k) * k * k) for k in (6, 8, 10)]
    assert max(c) / min(c) < 1.5


def test_native_transpose_shares_parameters_and_save_load(tmp_path, gen):
    s, t = _circle(6, 0.8, gen), _circle(4, 1.0, gen)
    M = Cauchy(s, t)
    assert {id(p) for p in M.T.parameters()} == {id(M.s), id(M.t)}
    assert torch.allclose(M.T.to_dense().detach(), -_ref(t, s), atol=1e-14)
    kmatrix.save(M, tmp_path / "c.kmx")
    M2 = kmatrix.load(tmp_path / "c.kmx")
    assert isinstance(M2, Cauchy) and torch.equal(M2.to_dense(), M.to_dense())


def test_bad_input():
    with pytest.raises(ValueError, match=r"s: expected distinct entries, but s\[0\] == s\[2\]"):
        Cauchy(torch.tensor([1.0, 2.0, 1.0]), torch.tensor([0.0]))
    with pytest.raises(ValueError, match=r"t: expected distinct entries, but t\[1\] == t\[2\]"):
        Cauchy(torch.tensor([1.0]), torch.tensor([0.0, 3.0, 3.0]))
    with pytest.raises(ValueError, match=r"s\[1\] == t\[0\]"):
        Cauchy(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 5.0]))
    with pytest.raises(ValueError, match=r"s\[0\] == t\[1\]"):
        Cauchy(torch.tensor([1j, 2.0]), torch.tensor([0.0, 1j]))
    with pytest.raises(ValueError, match="s: expected finite"):
        Cauchy(torch.tensor([float("nan"), 1.0]), torch.tensor([0.0]))
    with pytest.raises(ValueError, match="t: expected finite"):
        Cauchy(torch.tensor([1.0]), torch.tensor([float("inf")]))
    with pytest.raises(TypeError, match="s: expected a floating-point or complex"):
        Cauchy(torch.tensor([1, 2]), torch.tensor([0.5]))
    with pytest.raises(ValueError, match="t: expected a 1-d tensor"):
        Cauchy(torch.tensor([1.0]), torch.zeros(2, 2) + 5)
    with pytest.raises(ValueError, match="t: expected a non-empty"):
        Cauchy(torch.tensor([1.0]), torch.zeros(0))
    with pytest.raises(ValueError, match="method: expected one of"):
        Cauchy(torch.tensor([1.0]), torch.tensor([0.0]), method="fmm")
