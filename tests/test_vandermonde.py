"""Vandermonde: fast (subproduct/remainder tree) and direct paths against numpy.vander.

Errors are normwise against the magnitude of the sum, ‖ŷ − y‖ / ‖|V| |x|‖ (the measure of
``kmatrix bench vandermonde_accuracy``). Tolerances: the direct path is backward stable with
error ≲ n·ε (n ≤ 1000 here: 1e-13 leaves a margin of ~5); the fast path on roots-of-unity-like
nodes has growth indicator G ≤ ~100 and error ≲ G·log2(n)·ε (1e-12); on real nodes the fast
path is only tested at n ≤ 16, where G ≤ ~1e3 (1e-11).
"""

import math

import numpy as np
import pytest
import torch

import kmatrix
from kmatrix.families import _polynomial as poly
from kmatrix.families import vandermonde as vmod
from kmatrix.families.vandermonde import Vandermonde


def _ref(a, n):
    return torch.from_numpy(np.vander(a.detach().to(torch.complex128).numpy(), n, increasing=True))


def _err(y_hat, V, x):
    """‖ŷ − V x‖ / ‖|V| |x|‖ over a batch x (B, n)."""
    x = x.to(torch.complex128)
    y = x @ V.T
    scale = x.abs() @ V.abs().T
    return float((y_hat.detach().to(torch.complex128) - y).norm() / scale.norm())


def _circle_nodes(m, gen, radius_jitter=0.01):
    r = 1 - radius_jitter * torch.rand(m, generator=gen, dtype=torch.float64)
    phi = 2 * math.pi * (torch.arange(m, dtype=torch.float64) + torch.rand((), generator=gen, dtype=torch.float64)) / m
    return torch.polar(r, phi)


def _cplx(shape, gen):
    return torch.complex(torch.randn(shape, generator=gen, dtype=torch.float64),
                         torch.randn(shape, generator=gen, dtype=torch.float64))


SHAPES = [(1, 1), (1, 9), (9, 1), (7, 13), (13, 7), (32, 32), (100, 37), (37, 100), (300, 1000), (1000, 300)]


@pytest.mark.parametrize("m,n", SHAPES)
def test_fast_and_direct_on_unit_circle(m, n, gen):
    a = _circle_nodes(m, gen)
    V = _ref(a, n)
    x = _cplx((3, n), gen)
    y = _cplx((2, m), gen)
    for method, tol in (("fast", 1e-12), ("direct", 1e-13)):
        M = Vandermonde(a, n, method=method)
        assert M.resolve_method() == method
        assert _err(M(x), V, x) <= tol
        # transposes: Vᵀ y (bilinear) and Vᴴ y
        assert _err(M.T(y), V.T, y) <= tol
        assert _err(M.H(y), V.conj().T, y) <= tol


@pytest.mark.parametrize("m,n", [(1, 4), (5, 7), (9, 4), (16, 16), (13, 11)])
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_fast_small_real_and_complex(m, n, dtype, gen):
    a = torch.rand(m, generator=gen, dtype=torch.float64) * 2 - 1
    if dtype.is_complex:
        a = a * torch.exp(2j * math.pi * torch.rand(m, generator=gen, dtype=torch.float64))
    V = _ref(a, n)
    M = Vandermonde(a, n, method="fast")
    x = torch.randn(4, n, generator=gen, dtype=torch.float64).to(dtype)
    y = torch.randn(4, m, generator=gen, dtype=torch.float64).to(dtype)
    assert _err(M(x), V, x) <= 1e-11
    assert _err(M.T(y), V.T, y) <= 1e-11


@pytest.mark.parametrize("m,n", [(7, 13), (64, 50), (200, 300)])
def test_direct_real_nodes_and_chunking(m, n, gen, monkeypatch):
    a = torch.rand(m, generator=gen, dtype=torch.float64) * 2 - 1
    V = _ref(a, n)
    x = torch.randn(3, n, generator=gen, dtype=torch.float64)
    y = torch.randn(3, m, generator=gen, dtype=torch.float64)
    M = Vandermonde(a, n)
    assert M.resolve_method() == "direct"
    ref_y, ref_u = M(x), M.T(y)
    assert _err(ref_y, V, x) <= 1e-13 and _err(ref_u, V.T, y) <= 1e-13
    # tiny chunks (several column blocks, block starts by repeated multiplication): same result
    monkeypatch.setattr(vmod, "DIRECT_CHUNK_ELEMS", 3 * m)
    assert _err(M(x), V, x) <= 1e-13
    assert _err(M.T(y), V.T, y) <= 1e-13


def test_real_matrix_complex_input(gen):
    a = torch.rand(12, generator=gen, dtype=torch.float64) * 2 - 1
    x = _cplx((2, 10), gen)
    for method in ("fast", "direct"):
        assert _err(Vandermonde(a, 10, method=method)(x), _ref(a, 10), x) <= 1e-12


@pytest.mark.parametrize("method", ["fast", "direct"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_gradcheck(method, dtype, gen):
    m, n = 6, 5
    a = torch.rand(m, generator=gen, dtype=torch.float64) * 1.6 - 0.8
    if dtype.is_complex:
        a = a * torch.exp(2j * math.pi * torch.rand(m, generator=gen, dtype=torch.float64))
    a = a.requires_grad_(True)
    x = torch.randn(2, n, generator=gen, dtype=torch.float64).to(dtype).requires_grad_(True)
    y = torch.randn(2, m, generator=gen, dtype=torch.float64).to(dtype).requires_grad_(True)
    if method == "fast":
        def f(a, x):
            return poly.multipoint_evaluate(a, x)

        def fT(a, y):
            return poly.transposed_multipoint_evaluate(a, y, n)
    else:
        def f(a, x):
            return vmod._DirectMatvec.apply(a, x)

        def fT(a, y):
            return vmod._DirectRmatvec.apply(a, y, n)
    assert torch.autograd.gradcheck(f, (a, x))
    assert torch.autograd.gradcheck(fT, (a, y))
    # the direct path's custom backward is itself differentiable
    if method == "direct":
        assert torch.autograd.gradgradcheck(f, (a, x))


def test_gradient_through_module_reaches_nodes(gen):
    a = _circle_nodes(8, gen)
    M = Vandermonde(a, 8, method="fast")
    x = _cplx((3, 8), gen)
    M(x).abs().pow(2).sum().backward()
    g_fast = M.nodes.grad.clone()
    D = Vandermonde(a, 8, method="direct")
    D(x).abs().pow(2).sum().backward()
    assert torch.allclose(g_fast, D.nodes.grad, rtol=1e-10, atol=1e-10)


def test_auto_is_the_direct_path():
    # "auto" must stay within 10x of the direct path's error; the fast path is 10-50x less
    # accurate even on roots of unity (tests/test_fast_accuracy.py), so auto is the direct path
    n = 1024
    k = torch.arange(n, dtype=torch.float64)
    roots = torch.polar(torch.ones(n, dtype=torch.float64), 2 * math.pi * k / n)
    cheb = torch.cos(math.pi * (k + 0.5) / n)
    assert Vandermonde(roots, n).resolve_method() == "direct"
    assert Vandermonde(roots, n).growth() <= 3
    assert Vandermonde(cheb, n).resolve_method() == "direct"
    assert Vandermonde(cheb, n).growth() > 1e10
    assert Vandermonde(cheb, n, method="fast").resolve_method() == "fast"
    x = torch.randn(1, n, dtype=torch.float64)
    for a in (roots, cheb):
        assert _err(Vandermonde(a, n)(x), _ref(a, n), x) <= 1e-15

def test_plan_cache_follows_in_place_updates(gen):
    a = _circle_nodes(16, gen)
    M = Vandermonde(a, 16, method="fast")
    x = _cplx((2, 16), gen)
    with torch.no_grad():
        y1 = M(x)
        assert torch.equal(M(x), y1)  # cached plan: identical result
        M.nodes.mul_(0.9)
        assert _err(M(x), _ref(M.nodes, 16), x) <= 1e-12


def test_repeated_nodes_are_allowed(gen):
    a = torch.tensor([0.5, -0.25, 0.5, 0.75], dtype=torch.float64)
    x = torch.randn(2, 6, generator=gen, dtype=torch.float64)
    for method in ("fast", "direct"):
        assert _err(Vandermonde(a, 6, method=method)(x), _ref(a, 6), x) <= 1e-14


def test_flops_counted_from_implementation():
    n = 1 << 12
    roots = torch.polar(torch.ones(n, dtype=torch.float64), 2 * math.pi * torch.arange(n, dtype=torch.float64) / n)
    fast = Vandermonde(roots, n, method="fast")
    direct = Vandermonde(roots, n, method="direct")
    assert fast.flops == vmod.fast_flops(n, n, True)
    assert direct.flops == n * (8 * n - 2) + 6 * n * (n - 1)
    # the instrumented count is c·n·log2²(n) with c stable across sizes (≈ 70 over ℂ)
    c = [vmod.fast_flops(1 << k, 1 << k, True) / ((1 << k) * k * k) for k in (8, 10, 12)]
    assert max(c) / min(c) < 1.5 and 30 < c[-1] < 120
    assert fast.flops < direct.flops / 5
    # the tally matches a counted run of the actual product
    with torch.no_grad(), poly.FlopCounter() as fc:
        poly.multipoint_evaluate(roots[:300], torch.zeros(1, 500, dtype=torch.complex128))
    assert fc.flops == vmod.fast_flops(300, 500, True)
    assert Vandermonde(torch.rand(5, dtype=torch.float64), 7, method="direct").flops == 5 * 13 + 5 * 6


def test_to_dense_and_save_load(tmp_path, gen):
    a = _circle_nodes(5, gen)
    M = Vandermonde(a, 7, method="fast")
    assert torch.allclose(M.to_dense().detach(), _ref(a, 7), atol=1e-14)
    kmatrix.save(M, tmp_path / "v.kmx")
    M2 = kmatrix.load(tmp_path / "v.kmx")
    assert isinstance(M2, Vandermonde) and M2.method == "fast" and M2.shape == (5, 7)
    assert "method=fast" in repr(M)


def test_bad_input():
    with pytest.raises(ValueError, match="nodes: expected finite"):
        Vandermonde(torch.tensor([0.1, float("nan")]), 3)
    with pytest.raises(TypeError, match="nodes: expected a floating-point or complex"):
        Vandermonde(torch.tensor([1, 2, 3]), 3)
    with pytest.raises(ValueError, match="n: expected a positive integer"):
        Vandermonde(torch.rand(3), 0)
    with pytest.raises(ValueError, match="n: expected a positive integer"):
        Vandermonde(torch.rand(3), -2)
    with pytest.raises(TypeError, match="n: expected a positive integer"):
        Vandermonde(torch.rand(3), 2.5)
    with pytest.raises(ValueError, match="nodes: expected a 1-d tensor"):
        Vandermonde(torch.rand(3, 2), 3)
    with pytest.raises(ValueError, match="nodes: expected a non-empty"):
        Vandermonde(torch.zeros(0), 3)
    with pytest.raises(ValueError, match="method: expected one of"):
        Vandermonde(torch.rand(3), 3, method="exact")
    M = Vandermonde(torch.rand(3, dtype=torch.float64), 4)
    with pytest.raises(ValueError, match="x: expected last dimension 4"):
        M(torch.rand(2, 3, dtype=torch.float64))
