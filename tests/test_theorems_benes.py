"""Theorem 5.6 (benes), the closure constructions (kmatrix_sum, kmatrix_product), horizontal
step matrices and KMatrix.compact: every output's dense form against its input, on fresh random
instances. Dense forms come from the kernel (``to_dense``) and, independently, from the explicit
product of the factor matrices (``kmatrix_reference``, float64/complex128).

Tolerances: permutations and 0/1 constructions are compared bitwise (every twiddle is 0/1, each
output entry is one input entry times ones); sums/products of random K-matrices to 1e-12
normwise (the merged matrix applies the same stages, only the summation order of a sum differs).
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import kmatrix
from kmatrix import KMatrix, Permutation
from kmatrix.testing.zoo.butterfly import kmatrix_reference
from kmatrix.theorems._tw import identity_twiddle, kmatrix_of
from kmatrix.theorems.benes import benes_twiddle


def _rng(gen):
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=gen)))


def _perm_dense(p):
    n = len(p)
    out = np.zeros((n, n))
    out[np.arange(n), p] = 1
    return out


def _is_switch(tw):
    straight = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=tw.dtype)
    cross = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=tw.dtype)
    return bool(((tw == straight).all(-1).all(-1) | (tw == cross).all(-1).all(-1)).all())


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 8, 16, 31, 64, 100, 256, 1000, 1024, 4096])
def test_benes_random_permutations(n, gen):
    p = _rng(gen).permutation(n)
    K = kmatrix.benes(p, dtype=torch.float64)
    assert K.width == 1 and K.expansion == 1 and K.shape == (n, n)
    assert _is_switch(K.twiddle.detach())
    assert np.array_equal(K.to_dense().detach().numpy(), _perm_dense(p))
    x = torch.randn(3, n, dtype=torch.float64, generator=gen)
    assert torch.equal(K(x), Permutation(p, dtype=torch.float64)(x))  # bitwise
    if n <= 64:
        assert np.array_equal(kmatrix_reference(K).real.numpy(), _perm_dense(p))


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 70).flatmap(lambda n: st.permutations(range(n))))
def test_benes_hypothesis(p):
    K = kmatrix.benes(list(p))
    assert np.array_equal(K.to_dense().detach().double().numpy(), _perm_dense(list(p)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex64, torch.complex128])
def test_benes_dtype_and_tensor_input(dtype, gen):
    p = torch.randperm(37, generator=gen)
    K = kmatrix.benes(p, dtype=dtype)
    assert K.dtype == dtype
    x = torch.randn(2, 37, dtype=dtype, generator=gen)
    assert torch.equal(K(x), x[:, p])


@pytest.mark.parametrize("n", [2, 8, 64, 512])
def test_benes_reverse_order(n, gen):
    """P = Y·X with X ∈ B (strides 1 … N/2) applied first, Y ∈ B'^* after (bit-reversed Beneš)."""
    p = _rng(gen).permutation(n)
    xy = benes_twiddle(p, reverse=True)
    tw = identity_twiddle(2, n)
    tw[0, 1], tw[1, 0] = xy[0], xy[1]
    K = kmatrix_of(tw, n, n, torch.float64)
    assert np.array_equal(K.to_dense().detach().numpy(), _perm_dense(p))


@pytest.mark.slow
def test_benes_large_is_fast(gen):
    import time

    p = _rng(gen).permutation(1 << 16)
    t = time.perf_counter()
    K = kmatrix.benes(p)
    assert time.perf_counter() - t < 2.0 * 3  # 2 s target; margin for a shared CPU
    x = torch.randn(2, 1 << 16, generator=gen)
    assert torch.equal(K(x), x[:, torch.from_numpy(p)])


@pytest.mark.parametrize(
    "perm,err,match",
    [
        ([0, 1, 1], ValueError, "1 appears 2 times"),
        ([0, 3, 1], ValueError, "out of range"),
        ([-1, 0], ValueError, "out of range"),
        ([0.0, 1.0], TypeError, "integer"),
        ([], ValueError, "empty"),
        ([[0, 1], [1, 0]], ValueError, "1-d"),
        (np.array([True, False]), TypeError, "integer"),
        ("ab", TypeError, "integer"),
    ],
)
def test_benes_bad_input(perm, err, match):
    with pytest.raises(err, match=match):
        kmatrix.benes(perm)


# ---------------------------------------------------------------------------------------------
# sums and products
# ---------------------------------------------------------------------------------------------
def _dense(K):
    return K.to_dense().detach().to(torch.complex128)


SUM_CASES = [
    [(5, 7, 1, 1)],
    [(5, 7, 1, 1), (5, 7, 2, 2)],
    [(6, 6, 2, 1), (6, 6, 1, 1), (6, 6, 3, 2)],
    [(9, 3, 1, 1)] * 4,
    [(4, 4, 1, 1), (4, 4, 2, 1), (4, 4, 1, 2), (4, 4, 1, 1), (4, 4, 2, 1), (4, 4, 1, 1)],
]


@pytest.mark.parametrize("layout", ["auto", "sequential", "stacked"])
@pytest.mark.parametrize("case", range(len(SUM_CASES)))
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_kmatrix_sum(case, layout, dtype, gen):
    terms = [
        KMatrix(i, o, width=w, expansion=e, dtype=dtype, generator=gen)
        for i, o, w, e in SUM_CASES[case]
    ]
    S = kmatrix.kmatrix_sum(*terms, layout=layout)
    ref = sum(_dense(t) for t in terms)
    assert S.dtype == dtype and S.shape == terms[0].shape
    assert (_dense(S) - ref).norm() <= 1e-12 * ref.norm()
    if case == 1:  # the explicit factor product is slow; once per layout/dtype
        assert (kmatrix_reference(S) - ref).norm() <= 1e-12 * ref.norm()
    k, e = len(terms), max(t.expansion for t in terms)
    n_max = max(t.size for t in terms)
    if k == 1:
        assert S.width == terms[0].width
    elif layout == "sequential" or (layout == "auto" and k > 4):
        assert S.width == sum(t.width for t in terms) and S.size == 4 * n_max  # the closure lemma
    else:
        assert (
            S.width == max(t.width for t in terms) and S.size == (1 << (k - 1).bit_length()) * n_max
        )
    assert (
        S.width <= sum(t.width for t in terms) and S.size <= 4 * n_max
        if k <= 4 or layout != "stacked"
        else True
    )
    # new parameters: changing S leaves the terms alone
    assert S.twiddle.data_ptr() not in {t.twiddle.data_ptr() for t in terms}
    del e


def test_kmatrix_sum_coefficients(gen):
    A = KMatrix(6, 5, width=2, dtype=torch.float64, generator=gen)
    B = KMatrix(6, 5, width=1, expansion=2, dtype=torch.float64, generator=gen)
    S = kmatrix.kmatrix_sum(A, B, coefficients=[2.5, -1j])
    assert S.is_complex
    ref = 2.5 * _dense(A) - 1j * _dense(B)
    assert (_dense(S) - ref).norm() <= 1e-12 * ref.norm()


def test_kmatrix_sum_exact_for_permutations(gen):
    rng = _rng(gen)
    ps = [rng.permutation(13) for _ in range(6)]
    S = kmatrix.kmatrix_sum(*[kmatrix.benes(p, dtype=torch.float64) for p in ps])
    assert np.array_equal(S.to_dense().detach().numpy(), sum(_perm_dense(p) for p in ps))


def test_kmatrix_product(gen):
    A = KMatrix(5, 7, width=1, dtype=torch.float64, generator=gen)
    B = KMatrix(4, 5, width=2, expansion=3, dtype=torch.float64, generator=gen)
    C = KMatrix(9, 4, width=1, dtype=torch.complex128, generator=gen)
    P = kmatrix.kmatrix_product(A, B, C)
    ref = _dense(A) @ _dense(B) @ _dense(C)
    assert P.width == 4 and P.size == max(A.size, B.size, C.size) and P.dtype == torch.complex128
    assert (_dense(P) - ref).norm() <= 1e-12 * ref.norm()
    assert (kmatrix_reference(P) - ref).norm() <= 1e-12 * ref.norm()


def test_sum_product_bad_input(gen):
    A = KMatrix(4, 4, generator=gen)
    with pytest.raises(TypeError, match="expected a kmatrix.KMatrix"):
        kmatrix.kmatrix_sum(A, torch.eye(4))
    with pytest.raises(ValueError, match="shape"):
        kmatrix.kmatrix_sum(A, KMatrix(5, 4, generator=gen))
    with pytest.raises(ValueError, match="at least one"):
        kmatrix.kmatrix_sum()
    with pytest.raises(ValueError, match="layout"):
        kmatrix.kmatrix_sum(A, A, layout="diagonal")
    with pytest.raises(ValueError, match="coefficients"):
        kmatrix.kmatrix_sum(A, A, coefficients=[1.0])
    with pytest.raises(TypeError, match="finite number"):
        kmatrix.kmatrix_sum(A, A, coefficients=[1.0, float("nan")])
    with pytest.raises(ValueError, match="do not chain"):
        kmatrix.kmatrix_product(A, KMatrix(3, 5, generator=gen))


def test_compact_drops_identity_factors(gen):
    A = KMatrix(8, 8, width=1, dtype=torch.float64, generator=gen)
    eye = KMatrix(8, 8, width=2, init="identity", dtype=torch.float64)
    P = kmatrix.kmatrix_product(eye, A, eye)
    C = P.compact()
    assert P.width == 5 and C.width == 1
    assert torch.equal(C.to_dense(), A.to_dense())
    # a corner: the truncation folded into a factor makes it a projection, which is kept
    A6 = KMatrix(6, 6, width=1, dtype=torch.float64, generator=gen)
    e6 = KMatrix(6, 6, width=2, init="identity", dtype=torch.float64)
    C6 = kmatrix.kmatrix_product(e6, A6, e6).compact()
    assert C6.width == 2 and torch.equal(C6.to_dense(), A6.to_dense())
    I = eye.compact()
    assert I.width == 1 and torch.equal(I.to_dense(), torch.eye(8, dtype=torch.float64))


# ---------------------------------------------------------------------------------------------
# horizontal step matrices
# ---------------------------------------------------------------------------------------------
def _random_step(m, n, rng, complex_=False):
    """A random horizontal step matrix: nonzero columns with row increments 0 … gap."""
    H = np.zeros((m, n), dtype=complex if complex_ else float)
    cols = np.sort(rng.choice(n, size=rng.integers(1, n + 1), replace=False))
    r = int(rng.integers(0, m))
    prev = cols[0]
    for j in cols:
        r = min(m - 1, r + int(rng.integers(0, j - prev + 1)))
        prev = j
        v = rng.standard_normal() + (1j * rng.standard_normal() if complex_ else 0)
        H[r, j] = v
    return H


@pytest.mark.parametrize("m,n", [(1, 1), (4, 4), (8, 8), (5, 12), (12, 5), (64, 64), (100, 37)])
@pytest.mark.parametrize("complex_", [False, True])
def test_horizontal_step_to_butterfly(m, n, complex_, gen):
    rng = _rng(gen)
    for _ in range(5):
        H = _random_step(m, n, rng, complex_)
        assert kmatrix.is_horizontal_step(H)
        B = kmatrix.horizontal_step_to_butterfly(torch.from_numpy(H))
        assert isinstance(B, kmatrix.Butterfly) and B.increasing_stride and B.shape == (m, n)
        assert np.array_equal(B.to_dense().detach().numpy(), H)


def test_is_horizontal_step_examples():
    assert kmatrix.is_horizontal_step(np.eye(4))
    assert kmatrix.is_horizontal_step(np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]]))
    assert not kmatrix.is_horizontal_step(np.array([[0.0, 1.0], [1.0, 0.0]]))  # moves up
    assert not kmatrix.is_horizontal_step(
        np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])
    )  # jumps 2 in 1
    assert not kmatrix.is_horizontal_step(np.array([[1.0], [1.0]]))  # two nonzeros in a column
    with pytest.raises(ValueError, match="not a horizontal step"):
        kmatrix.horizontal_step_to_butterfly(np.array([[0.0, 1.0], [1.0, 0.0]]))
    with pytest.raises(ValueError, match="finite"):
        kmatrix.is_horizontal_step(np.array([[np.nan]]))
