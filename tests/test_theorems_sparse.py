"""Theorem 5.7 (sparse_to_kmatrix): every output equals its input bitwise (each entry of the
K-matrix is one stored value times 0/1 switches), with width ≤ 4⌈s/n⌉ and expansion ≤ 4, on fresh
random matrices with s = 0, 1, n, 3n, n²/4 nonzeros, real and complex, square and rectangular,
from every accepted input type."""

import numpy as np
import pytest
import scipy.sparse as sps
import torch

import kmatrix
from kmatrix.theorems.sparse import theorem_5_7_bound


def _rng(gen):
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=gen)))


def _random_sparse(m, n, s, rng, complex_):
    A = np.zeros((m, n), dtype=complex if complex_ else float)
    idx = rng.choice(m * n, size=min(s, m * n), replace=False)
    vals = rng.standard_normal(len(idx))
    if complex_:
        vals = vals + 1j * rng.standard_normal(len(idx))
    A.flat[idx] = vals
    return A


def _check(K, A):
    m, n = A.shape
    s = int(np.count_nonzero(A))
    assert K.shape == (m, n)
    assert np.array_equal(K.to_dense().detach().numpy(), A)  # bitwise
    bw, be = theorem_5_7_bound(s, m, n)
    assert K.width <= bw and K.expansion <= be
    return K


@pytest.mark.parametrize(
    "m,n", [(1, 1), (2, 2), (8, 8), (16, 16), (7, 13), (13, 7), (64, 64), (50, 50)]
)
@pytest.mark.parametrize("kind", ["0", "1", "n", "3n", "n2/4"])
@pytest.mark.parametrize("complex_", [False, True])
def test_sparse_to_kmatrix_random(m, n, kind, complex_, gen):
    k = max(m, n)
    s = {"0": 0, "1": 1, "n": k, "3n": 3 * k, "n2/4": m * n // 4}[kind]
    A = _random_sparse(m, n, s, _rng(gen), complex_)
    K = _check(kmatrix.sparse_to_kmatrix(torch.from_numpy(A)), A)
    assert K.dtype == (torch.complex128 if complex_ else torch.float64)
    if np.count_nonzero(A) <= kmatrix.KMatrix(n, m).size:
        assert K.expansion == 1  # one piece needs no sum


@pytest.mark.parametrize("layout", ["sequential", "stacked"])
def test_layouts(layout, gen):
    A = _random_sparse(16, 16, 80, _rng(gen), False)
    K = kmatrix.sparse_to_kmatrix(A, layout=layout)
    assert np.array_equal(K.to_dense().detach().numpy(), A)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_input_types(gen):
    rng = _rng(gen)
    A = _random_sparse(12, 9, 30, rng, False)
    r, c = np.nonzero(A)
    inputs = [
        A,
        torch.from_numpy(A),
        torch.from_numpy(A).to_sparse(),
        torch.from_numpy(A).to_sparse_csr(),
        sps.csr_matrix(A),
        sps.coo_matrix(A),
        kmatrix.Sparse(r, c, A[r, c], A.shape),
    ]
    for S in inputs:
        _check(kmatrix.sparse_to_kmatrix(S), A)
    # float32 stays float32
    K = kmatrix.sparse_to_kmatrix(torch.from_numpy(A).float())
    assert K.dtype == torch.float32
    assert torch.equal(K.to_dense().detach(), torch.from_numpy(A).float())
    # duplicates in a listing are summed, as Sparse does
    S = kmatrix.Sparse([0, 0, 1], [1, 1, 0], [1.5, 2.0, -1.0], (2, 2))
    assert torch.equal(kmatrix.sparse_to_kmatrix(S).to_dense().detach(), S.to_dense().detach())


def test_structured_patterns_use_fewer_factors(gen):
    rng = _rng(gen)
    n = 64
    D = np.diag(rng.standard_normal(n))
    assert _check(kmatrix.sparse_to_kmatrix(D), D).width == 1
    P = np.zeros((n, n))
    P[np.arange(n), rng.permutation(n)] = rng.standard_normal(n)
    assert _check(kmatrix.sparse_to_kmatrix(P), P).width == 1
    band = np.diag(rng.standard_normal(n)) + np.diag(rng.standard_normal(n - 1), 1)  # 2n-1 nnz
    Kb = _check(kmatrix.sparse_to_kmatrix(band), band)
    assert Kb.width <= 2 and Kb.expansion <= 2


def test_product_with_vectors_uses_the_kernel(gen):
    A = _random_sparse(30, 20, 70, _rng(gen), True)
    K = kmatrix.sparse_to_kmatrix(A)
    x = torch.randn(4, 20, dtype=torch.complex128, generator=gen)
    ref = x @ torch.from_numpy(A).T
    assert (K(x) - ref).norm() <= 1e-12 * ref.norm()


@pytest.mark.slow
def test_sparse_large(gen):
    n = 1 << 12
    rng = _rng(gen)
    r = rng.integers(0, n, 4 * n)
    c = rng.integers(0, n, 4 * n)
    S = sps.coo_matrix((rng.standard_normal(4 * n), (r, c)), shape=(n, n)).tocsr()
    K = kmatrix.sparse_to_kmatrix(S)
    assert K.width <= 16 and K.expansion <= 4
    x = torch.randn(2, n, dtype=torch.float64, generator=gen)
    ref = torch.from_numpy(S @ x.numpy().T).T
    assert (K(x) - ref).norm() <= 1e-12 * ref.norm()


@pytest.mark.parametrize(
    "S,err,match",
    [
        (np.zeros((0, 3)), ValueError, "non-empty"),
        (np.array([[1.0, np.nan]]), ValueError, "finite"),
        (np.array([[1.0, np.inf]]), ValueError, "finite"),
        (sps.csr_matrix(np.array([[1.0, np.inf]])), ValueError, "finite"),
        (np.array([[1, 2]]), TypeError, "floating-point"),
        (np.ones(3), ValueError, "2-d"),
        ("abc", TypeError, "numeric"),
    ],
)
def test_bad_input(S, err, match):
    with pytest.raises(err, match=match):
        kmatrix.sparse_to_kmatrix(S)


def test_bad_layout_and_dtype():
    with pytest.raises(ValueError, match="layout"):
        kmatrix.sparse_to_kmatrix(np.eye(2), layout="x")
    with pytest.raises(TypeError, match="complex"):
        kmatrix.sparse_to_kmatrix(np.eye(2) * 1j, dtype=torch.float64)
