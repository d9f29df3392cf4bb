"""Issue 11, "Gradients and shared parameters" and "Silent numerical traps" (mixed precision):
each case the review reproduced, as a test that failed before the fix.

* operators cut the graph (2*T, -T, T + T, Toeplitz + Dense, LowRank @ X, Circulant @ Circulant,
  KMatrix @ KMatrix built new parameters from detached values): now gradients reach the operands,
  and ``kmatrix.merge`` is the explicit call that makes new parameters;
* KMatrix(init="unitary") had a non-contiguous twiddle, so torch.optim.LBFGS failed;
* derived caches went stale after ``.data.copy_`` (Vandermonde nodes, Cauchy s, LDR diagonals,
  Sparse indices);
* a float64 input to a float32 matrix was rounded silently.

References are dense float64/complex128 products of the operands' current values; tolerances
1e-10 (products of a few O(1) entries at n ≤ 16) unless stated."""

import pytest
import torch

import kmatrix
from kmatrix import (
    LDR,
    Butterfly,
    Cauchy,
    Circulant,
    Dense,
    Fourier,
    KMatrix,
    LowRank,
    Permutation,
    Sparse,
    Toeplitz,
    Vandermonde,
)
from kmatrix.families._twiddle import INITS
from kmatrix.testing import random_tensor

F64, C128 = torch.float64, torch.complex128


def _toeplitz(n, gen, dtype=F64):
    c, r = random_tensor((n,), dtype, gen), random_tensor((n,), dtype, gen)
    r[0] = c[0]
    return Toeplitz(c, r)


def _grads(C, *operands, gen):
    x = random_tensor((3, C.shape[1]), C.dtype, gen)
    params = [p for M in operands for p in M.parameters()]
    loss = C(x).abs().pow(2).sum()
    return x, torch.autograd.grad(loss, params, allow_unused=True)


def _assert_grads_match(C, dense_of_operands, operands, gen):
    """Gradients through C equal those through the dense expression of the operands."""
    x, got = _grads(C, *operands, gen=gen)
    params = [p for M in operands for p in M.parameters()]
    D = dense_of_operands()
    want = torch.autograd.grad((x.to(D.dtype) @ D.T).abs().pow(2).sum(), params, allow_unused=True)
    for g, w in zip(got, want):
        assert g is not None, "an operand parameter got no gradient"
        torch.testing.assert_close(g, w.to(g.dtype), rtol=1e-10, atol=1e-10)


def test_issue_cases_keep_gradients(gen):
    n = 8
    T, T2 = _toeplitz(n, gen), _toeplitz(n, gen)
    D = Dense(random_tensor((n, n), F64, gen))
    L = LowRank(random_tensor((n, 2), F64, gen), random_tensor((2, n), F64, gen))
    X = kmatrix.Diagonal(random_tensor((n,), F64, gen))
    C1, C2 = Circulant(random_tensor((n,), F64, gen)), Circulant(random_tensor((n,), F64, gen))
    K1 = KMatrix(n, width=1, dtype=F64, generator=gen)
    K2 = KMatrix(n, width=2, dtype=F64, generator=gen)
    d = lambda M: M.to_dense()
    cases = [
        (2 * T, lambda: 2 * d(T), (T,)),
        (-T, lambda: -d(T), (T,)),
        (T / 3, lambda: d(T) / 3, (T,)),
        (T + T2, lambda: d(T) + d(T2), (T, T2)),
        (T - T2, lambda: d(T) - d(T2), (T, T2)),
        (T + D, lambda: d(T) + d(D), (T, D)),
        (L @ X, lambda: d(L) @ d(X), (L, X)),
        (X @ L, lambda: d(X) @ d(L), (X, L)),
        (L + L, lambda: 2 * d(L), (L,)),
        (C1 @ C2, lambda: d(C1) @ d(C2), (C1, C2)),
        (K1 @ K2, lambda: d(K1) @ d(K2), (K1, K2)),
        (2.5 * (K1 @ K2) - T, lambda: 2.5 * d(K1) @ d(K2) - d(T), (K1, K2, T)),
    ]
    for C, dense, ops in cases:
        _assert_grads_match(C, dense, ops, gen)


def test_merge_makes_new_parameters(gen):
    K1 = KMatrix(8, width=1, dtype=F64, generator=gen)
    K2 = KMatrix(8, width=2, dtype=F64, generator=gen)
    C = K1 @ K2
    M = kmatrix.merge(C)
    assert isinstance(M, KMatrix) and M.width == 3 and M.merged() is M
    assert {id(p) for p in M.parameters()}.isdisjoint(id(p) for p in C.parameters())
    torch.testing.assert_close(M.to_dense(), C.to_dense().detach(), rtol=0, atol=1e-12)
    K = kmatrix.families.kaleidoscope.merged_kmatrix_product(K1, K2)
    torch.testing.assert_close(K.to_dense(), M.to_dense(), rtol=0, atol=0)
    with pytest.raises(ValueError, match="same size N"):
        kmatrix.families.kaleidoscope.merged_kmatrix_product(K1, KMatrix(8, expansion=2, dtype=F64))
    # nested: scalings, sums and transposes merge recursively
    T = _toeplitz(6, gen)
    S = kmatrix.merge((2 * T + T.T.T) - 0.5 * T)
    assert isinstance(S, Toeplitz)
    torch.testing.assert_close(S.to_dense(), 2.5 * T.to_dense().detach(), rtol=1e-13, atol=1e-13)
    with pytest.raises(TypeError, match="StructuredMatrix"):
        kmatrix.merge(torch.eye(3))


def test_learnable_tensor_scale_keeps_its_gradient(gen):
    T = _toeplitz(5, gen)
    c = torch.tensor(1.5, dtype=F64, requires_grad=True)
    for C, dc in ((c * T, 1.0), (T / c, -1 / 1.5**2)):
        x = random_tensor((2, 5), F64, gen)
        (g,) = torch.autograd.grad(C(x).sum(), [c])
        torch.testing.assert_close(g, dc * T(x).sum().detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("init", INITS)
@pytest.mark.parametrize("dtype", [F64, C128])
def test_every_init_is_contiguous_and_lbfgs_steps(init, dtype, gen):
    for M in (KMatrix(6, 5, width=2, init=init, dtype=dtype, generator=gen),
              Butterfly(6, 5, init=init, dtype=dtype, generator=gen)):
        assert M.twiddle.is_contiguous(), f"{type(M).__name__} init={init}"
        if dtype.is_complex:
            continue  # LBFGS is real-only; complex parameters are covered by the battery's real views
        opt = torch.optim.LBFGS(M.parameters(), max_iter=3)
        x, t = random_tensor((4, 6), dtype, gen), random_tensor((4, 5), dtype, gen)  # shape (5, 6)

        def closure():  # called within this iteration only
            opt.zero_grad()  # noqa: B023
            loss = (M(x) - t).pow(2).sum()  # noqa: B023
            loss.backward()
            return loss

        assert torch.isfinite(opt.step(closure))


def _no_grad_product(M, x):
    with torch.no_grad():
        return M(x)


def test_caches_follow_writes_through_data(gen):
    n = 16
    x = random_tensor((9, n), C128, gen)  # 9 rows: Sparse's CSR path (≥ 8 rows) uses its layout
    k = torch.arange(n, dtype=F64)
    roots = torch.polar(torch.ones(n, dtype=F64), 2 * torch.pi * k / n)
    V = Vandermonde(roots, n, method="fast")
    _no_grad_product(V, x)
    V.nodes.data.copy_(roots * 0.9)
    ref = (0.9 * roots)[:, None] ** k[None, :]
    torch.testing.assert_close(_no_grad_product(V, x), x @ ref.T, rtol=1e-10, atol=1e-10)

    s, t = roots, torch.polar(torch.ones(n, dtype=F64), 2 * torch.pi * (k + 0.5) / n)
    C = Cauchy(s, t, method="fast")
    _no_grad_product(C, x)
    C.s.data.copy_(1.1 * s)
    torch.testing.assert_close(_no_grad_product(C, x), x @ (1 / (1.1 * s[:, None] - t[None, :])).T,
                               rtol=1e-9, atol=1e-9)

    a = torch.linspace(1, 2, n, dtype=F64)
    L = LDR.cauchy_like(random_tensor((n, 2), F64, gen), random_tensor((n, 2), F64, gen), a, -a)
    dense0 = L.to_dense().detach()
    _no_grad_product(L, x.real.contiguous())
    L.L_diag.data.copy_(a + 0.5)
    G, H = L.gen_G.detach(), L.gen_H.detach()
    want = (G @ H.T) / ((a + 0.5)[:, None] + a[None, :])  # (a+½)ᵢ W − W(−a) = G Hᵀ
    assert not torch.allclose(want, dense0)
    torch.testing.assert_close(_no_grad_product(L, x.real.contiguous()), x.real @ want.T, rtol=1e-10, atol=1e-10)

    rows, cols = torch.randint(0, n, (40,), generator=gen), torch.randint(0, n, (40,), generator=gen)
    S = Sparse(rows, cols, random_tensor((40,), F64, gen), (n, n))
    _no_grad_product(S, x.real.contiguous())
    S.cols.data.copy_(torch.flip(cols, [0]))
    want = torch.zeros(n, n, dtype=F64).index_put((rows, torch.flip(cols, [0])), S.values.detach(), accumulate=True)
    torch.testing.assert_close(_no_grad_product(S, x.real.contiguous()), x.real @ want.T, rtol=1e-12, atol=1e-12)


def test_no_silent_downcast(gen):
    T = _toeplitz(6, gen, torch.float32)
    for x in (torch.randn(2, 6, dtype=F64), torch.randn(2, 6, dtype=C128)):
        with pytest.raises(TypeError, match=r"float32.*" + str(x.dtype).replace("torch.", "") + r".*M\.to\(torch\.float64\)"):
            T(x)
        with pytest.raises(TypeError, match="x.to"):
            (T @ T.T)(x)  # inside a composition too
    Tc = _toeplitz(6, gen, torch.complex64)
    with pytest.raises(TypeError, match="complex128"):
        Tc(torch.randn(2, 6, dtype=C128))
    # the fixes work; same precision (real matrix, complex input) and lower precision are fine
    assert T.to(F64)(torch.randn(2, 6, dtype=F64)).dtype == F64
    T32 = _toeplitz(6, gen, torch.float32)
    assert T32(torch.randn(2, 6, dtype=torch.complex64)).dtype == torch.complex64
    assert T32(torch.randn(2, 6, dtype=torch.float16)).dtype == torch.float32
    # parameter-free families compute in the input's precision
    P = Permutation(torch.randperm(6, generator=gen), dtype=torch.float32)
    x = torch.randn(2, 6, dtype=F64) * (1 + 1e-12)
    assert torch.equal(P(x), x[:, P.perm])
    F = Fourier(6, dtype=torch.complex64)
    z = torch.randn(2, 6, dtype=C128)
    torch.testing.assert_close(F(z), torch.fft.fft(z), rtol=1e-14, atol=1e-13)
