"""Toeplitz, Hankel, Circulant: fast FFT products vs scipy.linalg's dense definitions.

Tolerance: normwise ‖ŷ − y‖ / (‖W‖_F ‖x‖) ≤ 1e-12 in float64/complex128 and 2e-5 in float32: an
FFT convolution is backward stable with error ~ log2(N)·ε (N ≤ 2^12 here: ~ 3e-15 in double),
so both bounds leave a margin of more than 100.
"""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

import kmatrix
from kmatrix import merge
from kmatrix.families import Circulant, Hankel, Toeplitz
from kmatrix.families._fft import fast_len, fft_flops, pointwise_flops
from kmatrix.testing.battery import normwise_error, random_tensor

DT = [torch.float64, torch.complex128, torch.float32]
TOL = {torch.float64: 1e-12, torch.complex128: 1e-12, torch.float32: 2e-5, torch.complex64: 2e-5}
SHAPES = [(1, 1), (1, 6), (6, 1), (5, 8), (11, 3), (64, 64), (100, 37), (1000, 513)]


def _np(t):
    return t.detach().to(torch.complex128).numpy()


def _check_products(M, ref, gen):
    ref = torch.from_numpy(np.ascontiguousarray(ref))
    m, n = M.shape
    tol = TOL[M.dtype]
    x = random_tensor((3, n), M.dtype, gen)
    y = random_tensor((2, m), M.dtype, gen)
    assert normwise_error(M(x), x.to(ref.dtype) @ ref.T, ref, x) <= tol
    assert normwise_error(M.T(y), y.to(ref.dtype) @ ref, ref, y) <= tol
    assert normwise_error(M.H(y), y.to(ref.dtype) @ ref.conj(), ref, y) <= tol
    assert torch.allclose(M.to_dense().detach().to(ref.dtype), ref, rtol=0, atol=tol * (1 + ref.abs().max()))


@pytest.mark.parametrize("dtype", DT)
@pytest.mark.parametrize("m,n", SHAPES)
def test_toeplitz_matches_scipy(m, n, dtype, gen):
    c = random_tensor((m,), dtype, gen)
    r = random_tensor((n,), dtype, gen)
    r[0] = c[0]
    T = Toeplitz(c, r)
    assert T.shape == (m, n) and T.dtype == dtype
    _check_products(T, scipy.linalg.toeplitz(_np(c), _np(r)), gen)
    assert torch.equal(T.c.detach(), c) and torch.equal(T.r.detach(), r)


@pytest.mark.parametrize("dtype", DT)
@pytest.mark.parametrize("m,n", SHAPES)
def test_hankel_matches_scipy(m, n, dtype, gen):
    c = random_tensor((m,), dtype, gen)
    r = random_tensor((n,), dtype, gen)
    r[0] = c[-1]
    H = Hankel(c, r)
    assert H.shape == (m, n)
    _check_products(H, scipy.linalg.hankel(_np(c), _np(r)), gen)
    assert torch.equal(H.c.detach(), c) and torch.equal(H.r.detach(), r)


@pytest.mark.parametrize("dtype", DT)
@pytest.mark.parametrize("n", [1, 2, 7, 64, 97, 1000])
def test_circulant_matches_scipy(n, dtype, gen):
    c = random_tensor((n,), dtype, gen)
    C = Circulant(c)
    _check_products(C, scipy.linalg.circulant(_np(c)), gen)


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_r_none_follows_scipy(dtype, gen):
    c = random_tensor((6,), dtype, gen)
    # Toeplitz: r = conj(c) with the corner from c (Hermitian when c[0] is real)
    ref = scipy.linalg.toeplitz(_np(c))
    assert np.abs(Toeplitz(c).to_dense().detach().numpy() - ref).max() == 0
    # Hankel: zeros below the anti-diagonal
    ref = scipy.linalg.hankel(_np(c))
    assert np.abs(Hankel(c).to_dense().detach().numpy() - ref).max() == 0


def test_conflicting_corner_raises():
    with pytest.raises(ValueError, match=r"r: r\[0\] = 9.0 conflicts with c\[0\] = 1.0"):
        Toeplitz([1.0, 2.0, 3.0], [9.0, 4.0])
    with pytest.raises(ValueError, match=r"r: r\[0\] = 1.0 conflicts with c\[-1\] = 3.0"):
        Hankel([1.0, 2.0, 3.0], [1.0, 4.0])
    # matching corners are accepted; dtype promotion happens before the comparison
    Toeplitz(torch.tensor([1.5, 2.0], dtype=torch.float32), torch.tensor([1.5, 4.0], dtype=torch.float64))
    Hankel([1.0, 2.0, 3.0], [3.0, 4.0])


def test_bad_input():
    with pytest.raises(ValueError, match="c: expected a non-empty"):
        Toeplitz([], [1.0])
    with pytest.raises(ValueError, match="r: expected a non-empty"):
        Hankel([1.0], [])
    with pytest.raises(ValueError, match="c: expected a 1-d"):
        Circulant(torch.ones(2, 2))
    with pytest.raises(TypeError, match="c: expected a floating-point"):
        Toeplitz(torch.tensor([1, 2]))
    with pytest.raises(ValueError, match="r: expected finite"):
        Toeplitz([1.0, 2.0], [1.0, float("nan")])
    with pytest.raises(ValueError, match="c: expected finite"):
        Circulant([1.0, float("inf")])
    # integer input is fine when a dtype is given
    assert Toeplitz(torch.tensor([1, 2]), dtype=torch.float64).dtype == torch.float64


@pytest.mark.parametrize("cls", ["Toeplitz", "Hankel"])
def test_num_params_and_flops(cls):
    for m, n in [(1, 1), (7, 3), (300, 500)]:
        for dtype, real in [(torch.float64, True), (torch.complex128, False)]:
            c = torch.ones(m, dtype=dtype)
            r = torch.ones(n, dtype=dtype)
            M = getattr(kmatrix, cls)(c, r)
            assert M.num_params == m + n - 1
            assert M.num_real_params == (m + n - 1) * (1 if real else 2)
            N = fast_len(m + n - 1)
            assert N >= m + n - 1
            half = N // 2 + 1
            expected = 3 * (5 * N * math.log2(N) if N > 1 else 0) / (2 if real else 1) + 6 * (half if real else N)
            assert M.flops == math.ceil(expected)
    C = Circulant(torch.ones(1000, dtype=torch.complex128))
    assert C.num_params == 1000
    assert C.flops == math.ceil(3 * fft_flops(1000, False) + pointwise_flops(1000, False))


def test_fast_len_is_smallest_5_smooth():
    def smooth(k):
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        return k == 1

    for n in list(range(1, 200)) + [1025, 4097, 16383]:
        N = fast_len(n)
        assert N >= n and smooth(N)
        assert not any(smooth(k) for k in range(n, N))


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("m,n", [(1, 1), (1, 3), (4, 2), (3, 5)])
def test_gradcheck_small_and_degenerate(m, n, dtype, gen):
    c = random_tensor((m,), dtype, gen)
    r = random_tensor((n,), dtype, gen)
    r[0] = c[0]
    T = Toeplitz(c, r)
    x = random_tensor((2, n), dtype, gen).requires_grad_(True)
    vals = T.vals.detach().clone().requires_grad_(True)

    def f(x, v):
        return torch.func.functional_call(T, {"vals": v}, (x,))

    assert torch.autograd.gradcheck(f, (x, vals), eps=1e-6, atol=1e-5, rtol=1e-4)
    H = Hankel(c, torch.cat([c[-1:], r[1:]]))
    y = random_tensor((2, m), dtype, gen).requires_grad_(True)

    def fH(y, v):
        return torch.func.functional_call(H.T, {"base.vals": v}, (y,))

    assert torch.autograd.gradcheck(fH, (y, H.vals.detach().clone().requires_grad_(True)), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_composition_rules_stay_in_family(gen):
    a = random_tensor((9,), torch.float64, gen)
    b = random_tensor((9,), torch.complex128, gen)
    A, B = Circulant(a), Circulant(b)
    P = merge(A @ B)
    assert isinstance(P, Circulant)
    ref = scipy.linalg.circulant(_np(a)) @ scipy.linalg.circulant(_np(b))
    assert np.abs(P.to_dense().detach().numpy() - ref).max() < 1e-12 * np.abs(ref).max()
    assert isinstance(merge(A + B), Circulant) and isinstance(merge(2 * A), Circulant)
    c, r = random_tensor((5,), torch.float64, gen), random_tensor((7,), torch.float64, gen)
    r[0] = c[0]
    T = Toeplitz(c, r)
    S = merge(T + (-0.5) * T)
    assert isinstance(S, Toeplitz)
    assert torch.allclose(S.to_dense(), 0.5 * T.to_dense())
    r[0] = c[-1]
    H = Hankel(c, r)
    assert isinstance(merge(H + H), Hankel) and torch.allclose(merge(H + H).to_dense(), 2 * H.to_dense())


def test_transpose_shares_theta(gen):
    c, r = random_tensor((4,), torch.float64, gen), random_tensor((6,), torch.float64, gen)
    r[0] = c[0]
    T = Toeplitz(c, r)
    assert T.T.base is T  # a view, not a copy: gradients through T.T reach T.vals
    loss = T.T(torch.randn(4, dtype=torch.float64, generator=gen)).sum()
    loss.backward()
    assert T.vals.grad is not None and T.vals.grad.abs().sum() > 0
    # Toeplitz(c, r)ᵀ == Toeplitz(r, c)
    assert torch.equal(T.T.to_dense(), Toeplitz(r, c).to_dense())
