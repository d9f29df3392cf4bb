"""numpy / scipy interop (issue 11, "Interop that fails today"): np.asarray(W) is the dense matrix,
W / c works, W @ ndarray raises a clear TypeError, and kmatrix.aslinearoperator(W) drives scipy's
cg, gmres and svds on structured matrices, checked against scipy on the dense matrix.

Tolerances: the solvers are run to rtol 1e-12 on well-conditioned float64/complex128 systems
(condition number ≤ ~10), so 1e-9 relative error leaves a wide margin; svds (ARPACK) is compared
with numpy's dense SVD at 1e-9 relative."""

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse.linalg as spla
import torch

import kmatrix
from kmatrix.testing import random_tensor


def _spd_toeplitz(n, dtype, gen):
    """Hermitian Toeplitz, strictly diagonally dominant: c[0] = 1 + Σ|c[1:]| (so SPD)."""
    c = random_tensor((n,), dtype, gen) / n
    c[0] = 1 + c[1:].abs().sum()
    return kmatrix.Toeplitz(c)  # r = conj(c): Hermitian


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_asarray_division_and_ndarray_errors(dtype, gen):
    T = kmatrix.Toeplitz(random_tensor((6,), dtype, gen), None)
    A = np.asarray(T)
    want = np.complex128 if dtype.is_complex else np.float64
    assert isinstance(A, np.ndarray) and A.dtype == want and A.shape == (6, 6)
    np.testing.assert_allclose(A, scipy.linalg.toeplitz(T.c.detach().numpy()), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(np.asarray(T / 2), A / 2, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(np.asarray(T / torch.tensor(4.0)), A / 4, rtol=1e-14, atol=1e-15)
    with pytest.raises(ZeroDivisionError):
        T / 0
    X = np.ones((6, 2))
    for f in (lambda: T @ X, lambda: X @ T, lambda: T + X, lambda: T * X):
        with pytest.raises(TypeError, match="torch.from_numpy"):
            f()
    # numpy scalars scale lazily (no dense conversion by numpy)
    S = np.float64(3.0) * T
    assert isinstance(S, kmatrix.StructuredMatrix)
    np.testing.assert_allclose(np.asarray(S), 3 * A, rtol=1e-14, atol=1e-14)


def test_asarray_of_a_trained_matrix_is_detached(gen):
    K = kmatrix.KMatrix(8, dtype=torch.float32, generator=gen)
    assert K.to_dense().requires_grad  # the graph is kept by to_dense ...
    A = np.asarray(K)  # ... and dropped by numpy conversion
    assert A.dtype == np.float32
    np.testing.assert_allclose(A, K.to_dense().detach().numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_linear_operator_products(dtype, gen):
    M = kmatrix.KMatrix(12, 7, width=2, dtype=dtype, generator=gen)
    L = kmatrix.aslinearoperator(M)
    D = np.asarray(M)
    assert L.shape == (7, 12) and L.dtype == D.dtype
    x = random_tensor((12,), dtype, gen).numpy()
    y = random_tensor((7,), dtype, gen).numpy()
    X = random_tensor((12, 3), dtype, gen).numpy()
    assert _rel(L.matvec(x), D @ x) < 1e-12
    assert _rel(L.matmat(X), D @ X) < 1e-12
    assert _rel(L.rmatvec(y), D.conj().T @ y) < 1e-12  # scipy's rmatvec is the adjoint
    assert _rel(L.H.matvec(y), D.conj().T @ y) < 1e-12
    assert _rel(L.rmatmat(X[:7]), D.conj().T @ X[:7]) < 1e-12
    assert _rel(L @ x, D @ x) < 1e-12


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_cg_and_gmres(dtype, gen):
    n = 64
    T = _spd_toeplitz(n, dtype, gen)
    A = np.asarray(T)
    b = random_tensor((n,), dtype, gen).numpy()
    exact = scipy.linalg.solve(A, b)
    x, info = spla.cg(kmatrix.aslinearoperator(T), b, rtol=1e-12, maxiter=500)
    assert info == 0 and _rel(x, exact) < 1e-9
    # gmres on a non-symmetric, well-conditioned matrix: identity-dominant Toeplitz + low rank
    c, r = random_tensor((n,), dtype, gen) / (2 * n), random_tensor((n,), dtype, gen) / (2 * n)
    c[0] = r[0] = 1.0
    M = kmatrix.Toeplitz(c, r) + kmatrix.LowRank(random_tensor((n, 1), dtype, gen) / n, random_tensor((1, n), dtype, gen))
    B = np.asarray(M)
    x, info = spla.gmres(kmatrix.aslinearoperator(M), b, rtol=1e-12, restart=n, maxiter=10)
    assert info == 0 and _rel(x, scipy.linalg.solve(B, b)) < 1e-9


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_svds(dtype, gen):
    M = kmatrix.Circulant(random_tensor((40,), dtype, gen)) @ kmatrix.Diagonal(random_tensor((40,), dtype, gen))
    D = np.asarray(M)
    s_dense = np.linalg.svd(D, compute_uv=False)
    s = spla.svds(kmatrix.aslinearoperator(M), k=4, return_singular_vectors=False, tol=1e-14)
    np.testing.assert_allclose(np.sort(s)[::-1], s_dense[:4], rtol=1e-9)


def test_linear_operator_dtype_rule(gen):
    M = kmatrix.Dense(random_tensor((4, 4), torch.float32, gen))
    L = kmatrix.aslinearoperator(M)
    assert L.dtype == np.float32
    assert L.matvec(np.ones(4, dtype=np.float32)).dtype == np.float32
    z = L.matvec(np.ones(4, dtype=np.complex64))  # real operator on complex data
    assert z.dtype == np.complex64
    with pytest.raises(TypeError, match="float64"):
        L.matvec(np.ones(4))  # float64 data would be rounded to float32
    with pytest.raises(TypeError, match="StructuredMatrix"):
        kmatrix.aslinearoperator(np.eye(3))
