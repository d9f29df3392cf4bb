"""Sparse (listing representation, Def 2.3 / §4.2) and SparseProduct (§4.6).

Products are compared with the dense float64/complex128 definition (built by scipy's COO
assembly or by hand). Tolerance: each output is a sum of at most a few dozen products, so the
float64 error is a few ulps; we allow 1e-12 relative (normwise), float32 2e-6.
"""

import numpy as np
import pytest
import scipy.sparse
import torch

from kmatrix import Diagonal, Permutation, Sparse, SparseProduct, merge
from kmatrix.kernels.sparse import CSR_MIN_BATCH, listing_matmul
from kmatrix.testing.battery import normwise_error, random_tensor

SIZES = (1, 2, 7, 64, 1024)


def rand_sparse(m, n, s, dtype, g):
    rows = torch.randint(0, m, (s,), generator=g)
    cols = torch.randint(0, n, (s,), generator=g)
    return Sparse(rows, cols, random_tensor((s,), dtype, g), (m, n))


def coo_dense(S):
    v = S.values.detach().to(torch.complex128).numpy()
    return torch.from_numpy(scipy.sparse.coo_matrix((v, (S.rows.numpy(), S.cols.numpy())), shape=S.shape).toarray())


# ---------------------------------------------------------------------- constructor and counts
def test_constructor_keeps_dtype_and_exact_values():
    vals = torch.tensor([0.1, -2.5, 1e-300], dtype=torch.float64)
    S = Sparse([0, 1, 1], [2, 0, 1], vals, (2, 3))
    assert S.shape == (2, 3) and S.dtype == torch.float64 and S.nnz == 3 and S.num_params == 3
    assert torch.equal(S.values.detach(), vals)  # exact copies
    assert S.values.data_ptr() != vals.data_ptr()  # a copy, not an alias
    assert S.rows.dtype == torch.int64 and not S.rows.requires_grad
    assert [n for n, _ in S.named_parameters()] == ["values"]
    expected = torch.tensor([[0, 0, 0.1], [-2.5, 1e-300, 0]], dtype=torch.float64)
    assert torch.equal(S.to_dense().detach(), expected)
    C = Sparse([0], [0], torch.tensor([1 + 2j], dtype=torch.complex128), (1, 1))
    assert C.dtype == torch.complex128 and C.num_real_params == 2


def test_integer_values_need_dtype():
    with pytest.raises(TypeError, match="values"):
        Sparse([0], [0], [3], (1, 1))
    S = Sparse([0], [0], [3], (1, 1), dtype=torch.float64)
    assert S.dtype == torch.float64 and S.values.item() == 3.0


def test_duplicates_are_summed():
    S = Sparse([0, 0, 1, 0], [1, 1, 0, 1], torch.tensor([1.0, 2.0, 5.0, 4.0], dtype=torch.float64), (2, 2))
    D = torch.tensor([[0.0, 7.0], [5.0, 0.0]], dtype=torch.float64)
    assert torch.equal(S.to_dense().detach(), D)
    x = torch.tensor([3.0, -1.0], dtype=torch.float64)
    assert torch.equal(S(x).detach(), D @ x)
    C = S.coalesced_copy()
    assert C.nnz == 2 and torch.equal(C.to_dense().detach(), D)
    assert S.nnz == 4  # stored entries, what the product costs
    assert C.values is not S.values and C.values.requires_grad and C.values.is_leaf  # new leaves
    C.values.sum().backward()
    assert S.values.grad is None  # the copy is detached from S, as its name says


def test_empty_listing_is_the_zero_matrix():
    S = Sparse([], [], torch.empty(0, dtype=torch.float64), (3, 2))
    assert S.nnz == 0 and S.flops == 0
    x = torch.randn(4, 2, dtype=torch.float64)
    assert torch.equal(S(x), torch.zeros(4, 3, dtype=torch.float64))


@pytest.mark.parametrize(
    "args,exc,match",
    [
        (([0, 1], [0], [1.0, 2.0], (2, 2)), ValueError, "equal lengths"),
        (([0, 2], [0, 1], [1.0, 2.0], (2, 2)), ValueError, r"rows: expected indices in \[0, 2\)"),
        (([0, 1], [0, -1], [1.0, 2.0], (2, 2)), ValueError, "cols: expected indices"),
        (([0], [0], [1.0], (0, 2)), ValueError, "shape"),
        (([0], [0], [1.0], (2,)), TypeError, "shape"),
        (([0], [0], [1.0], (2.0, 2)), TypeError, "shape"),
        (([0], [0], [float("nan")], (2, 2)), ValueError, "values: expected finite"),
        (([0.0], [0], [1.0], (2, 2)), TypeError, "rows: expected integer"),
        (([0], [True], [1.0], (2, 2)), TypeError, "cols: expected integer"),
        (([0], [0], [[1.0]], (2, 2)), ValueError, "values: expected a 1-d"),
        (([[0]], [0], [1.0], (2, 2)), ValueError, "rows: expected a 1-d"),
    ],
)
def test_bad_input(args, exc, match):
    with pytest.raises(exc, match=match):
        Sparse(*args)


def test_flops_formula():
    # rows 0, 0, 2 -> r = 2 nonempty rows, nnz = 3
    S = Sparse([0, 0, 2], [0, 1, 1], torch.tensor([1.0, 2.0, 3.0]), (3, 2))
    assert S.flops == 2 * 3 - 2
    assert S.to(torch.complex64).flops == 8 * 3 - 2 * 2
    # from a full dense m×n matrix the count is the dense one: m(2n−1), and 8mn − 2m over ℂ
    M = torch.randn(5, 4, dtype=torch.float64) + 3
    assert Sparse.from_dense(M).flops == 5 * (2 * 4 - 1)
    assert Sparse.from_dense(M.to(torch.complex128)).flops == 8 * 20 - 2 * 5


# ---------------------------------------------------------------------- from_dense
@pytest.mark.parametrize("n", (1, 2, 7, 64))
@pytest.mark.parametrize("dtype", (torch.float64, torch.complex128))
def test_from_dense_round_trip(n, dtype, gen):
    M = random_tensor((n + 1, n), dtype, gen)
    M = M * (torch.rand(n + 1, n, generator=gen) < 0.3)
    S = Sparse.from_dense(M)
    assert S.dtype == dtype and S.shape == (n + 1, n)
    assert S.nnz == int((M != 0).sum())
    assert torch.equal(S.to_dense().detach(), M)  # exact: each entry stored once


def test_from_dense_tol_and_bad_input():
    M = torch.tensor([[1.0, 1e-3], [0.0, -0.5]], dtype=torch.float64)
    S = Sparse.from_dense(M, tol=1e-2)
    assert S.nnz == 2 and torch.equal(S.to_dense().detach(), torch.tensor([[1.0, 0.0], [0.0, -0.5]], dtype=torch.float64))
    with pytest.raises(ValueError, match="tol"):
        Sparse.from_dense(M, tol=-1.0)
    with pytest.raises(ValueError, match="M: expected a 2-d"):
        Sparse.from_dense(torch.ones(3))
    with pytest.raises(ValueError, match="M: expected finite"):
        Sparse.from_dense(torch.tensor([[float("inf")]]))
    with pytest.raises(TypeError, match="M"):
        Sparse.from_dense(torch.ones(2, 2, dtype=torch.int64))


# ---------------------------------------------------------------------- products and gradients
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", (torch.float32, torch.float64, torch.complex128))
def test_product_matches_dense(n, dtype, gen):
    S = rand_sparse(n + 3, n, 4 * n, dtype, gen)
    ref = coo_dense(S)
    tol = 2e-6 if dtype == torch.float32 else 1e-12
    x = random_tensor((9, n), dtype, gen)  # ≥ CSR_MIN_BATCH rows: the CSR path
    assert normwise_error(S(x), x.to(torch.complex128) @ ref.T, ref, x) <= tol
    assert normwise_error(S(x[:2]), x[:2].to(torch.complex128) @ ref.T, ref, x[:2]) <= tol
    y = random_tensor((9, n + 3), dtype, gen)
    assert normwise_error(S.T(y), y.to(torch.complex128) @ ref, ref, y) <= tol
    assert normwise_error(S.H(y), y.to(torch.complex128) @ ref.conj(), ref, y) <= tol


@pytest.mark.parametrize("dtype", (torch.float32, torch.complex128))
def test_csr_path_matches_index_add_reference(dtype, gen):
    assert CSR_MIN_BATCH <= 9  # the batch below takes the CSR path
    S = rand_sparse(300, 200, 900, dtype, gen)
    x = random_tensor((9, 200), dtype, gen)
    tol = 1e-6 if dtype == torch.float32 else 1e-14
    assert torch.allclose(S(x), S._matvec_reference(x), rtol=tol, atol=tol)
    y = random_tensor((9, 300), dtype, gen)
    assert torch.allclose(S.T(y), S.T._matvec_reference(y), rtol=tol, atol=tol)


def test_layout_follows_load_state_dict_and_copies(gen):
    A = rand_sparse(5, 4, 8, torch.float64, gen)
    B = rand_sparse(5, 4, 8, torch.float64, gen)
    x = random_tensor((CSR_MIN_BATCH, 4), torch.float64, gen)  # the CSR path uses the layout
    A(x)  # builds A's cached layout
    A.load_state_dict(B.state_dict())  # new locations copied into A's buffers
    assert torch.allclose(A(x), B(x), rtol=1e-14, atol=1e-14)
    assert torch.allclose(A.T(B(x)), B.T(B(x)), rtol=1e-14, atol=1e-14)
    C = A.to(torch.complex128)
    assert torch.allclose(C(x.to(torch.complex128)), B(x).to(torch.complex128), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("batch", (3, 9))  # index_add path and CSR path
@pytest.mark.parametrize("dtype", (torch.float64, torch.complex128))
def test_gradcheck_and_gradgradcheck_values_and_x(dtype, batch, gen):
    S = rand_sparse(6, 5, 12, dtype, gen)  # duplicates likely: 12 entries in 30 places
    fwd, bwd = S._layouts()
    x = random_tensor((batch, 5), dtype, gen).requires_grad_(True)
    v = S.values.detach().clone().requires_grad_(True)

    def f(x, v):
        return listing_matmul(v, x, S.rows, S.cols, fwd, bwd)

    assert torch.autograd.gradcheck(f, (x, v))
    assert torch.autograd.gradgradcheck(f, (x, v))
    # through the module: gradients reach the values, never the fixed locations
    S(x.detach()).abs().sum().backward()
    assert S.values.grad is not None and S.values.grad.abs().sum() > 0


def test_transpose_is_native_and_shares_values(gen):
    S = rand_sparse(4, 3, 6, torch.float64, gen)
    T = S.T
    assert isinstance(T, Sparse) and T.shape == (3, 4)
    assert T.values is S.values
    assert torch.equal(T.to_dense(), S.to_dense().T)
    assert torch.equal(T.T.to_dense(), S.to_dense())


# ---------------------------------------------------------------------- composition rules
def test_sparse_plus_sparse_is_coalesced_sparse(gen):
    A = Sparse([0, 1], [0, 1], torch.tensor([1.0, 2.0], dtype=torch.float64), (2, 2))
    B = Sparse([1, 0], [1, 1], torch.tensor([3.0, 4.0], dtype=torch.float64), (2, 2))
    C = merge(A + B)
    assert isinstance(C, Sparse) and C.nnz == 3
    assert torch.equal(C.to_dense(), A.to_dense() + B.to_dense())
    R = merge(rand_sparse(5, 4, 9, torch.float64, gen) + rand_sparse(5, 4, 9, torch.complex128, gen))
    assert isinstance(R, Sparse) and R.dtype == torch.complex128


def test_scalar_times_sparse(gen):
    S = rand_sparse(4, 4, 7, torch.float64, gen)
    C = merge(2.5 * S)
    assert isinstance(C, Sparse) and C.nnz == S.nnz
    assert torch.allclose(C.to_dense(), 2.5 * S.to_dense())


def test_diagonal_and_permutation_are_absorbed(gen):
    S = rand_sparse(5, 4, 9, torch.float64, gen)
    dl = Diagonal(torch.randn(5, dtype=torch.float64, generator=gen))
    dr = Diagonal(torch.randn(4, dtype=torch.float64, generator=gen))
    pl = Permutation(torch.randperm(5, generator=gen))
    pr = Permutation(torch.randperm(4, generator=gen))
    D = S.to_dense().detach()
    for C, R in [
        (merge(dl @ S), dl.to_dense() @ D),
        (merge(S @ dr), D @ dr.to_dense()),
        (pl @ S, pl.to_dense().double() @ D),
        (S @ pr, D @ pr.to_dense().double()),
    ]:
        assert isinstance(C, Sparse) and C.nnz == S.nnz
        assert torch.allclose(C.to_dense().detach(), R.detach(), rtol=1e-14, atol=1e-14)


def test_sparse_products_stay_factored_and_flatten(gen):
    A = rand_sparse(3, 5, 6, torch.float64, gen)
    B = rand_sparse(5, 4, 7, torch.float64, gen)
    C = rand_sparse(4, 2, 5, torch.float64, gen)
    AB = A @ B
    assert isinstance(AB, SparseProduct) and AB.factors[0] is A and AB.factors[1] is B
    ABC = AB @ C
    assert isinstance(ABC, SparseProduct) and ABC.nnz_per_factor == [6, 7, 5]
    A_BC = A @ (B @ C)
    assert isinstance(A_BC, SparseProduct) and len(A_BC.factors) == 3
    assert isinstance(AB @ (C @ C.T), SparseProduct) and len((AB @ (C @ C.T)).factors) == 4
    R = A.to_dense() @ B.to_dense() @ C.to_dense()
    assert torch.allclose(ABC.to_dense(), R, rtol=1e-13, atol=1e-13)


# ---------------------------------------------------------------------- SparseProduct
def test_sparse_product_basics(gen):
    fs = [rand_sparse(6, 8, 10, torch.float64, gen), rand_sparse(8, 8, 12, torch.float64, gen),
          rand_sparse(8, 3, 5, torch.complex128, gen)]
    P = SparseProduct(fs)
    assert P.shape == (6, 3) and P.dtype == torch.complex128
    assert P.nnz_per_factor == [10, 12, 5] and P.nnz == 27
    assert P.num_params == 27 and P.num_real_params == 10 + 12 + 10
    assert P.flops == sum(f.flops for f in fs)
    assert all(a is b for a, b in zip(P.factors, fs))  # shared, not copied
    ref = coo_dense(fs[0]) @ coo_dense(fs[1]) @ coo_dense(fs[2])
    x = random_tensor((4, 3), torch.complex128, gen)
    assert normwise_error(P(x), x @ ref.T, ref, x) <= 1e-12


@pytest.mark.parametrize("n", SIZES)
def test_sparse_product_matches_dense_and_transposes_natively(n, gen):
    fs = [rand_sparse(n, n, 3 * n, torch.float64, gen) for _ in range(3)]
    P = SparseProduct(fs)
    ref = coo_dense(fs[0]) @ coo_dense(fs[1]) @ coo_dense(fs[2])
    x = random_tensor((2, n), torch.float64, gen)
    assert normwise_error(P(x), x.to(torch.complex128) @ ref.T, ref, x) <= 1e-12
    T = P.T
    assert isinstance(T, SparseProduct)
    assert all(t.values is f.values for t, f in zip(T.factors, reversed(fs)))
    assert normwise_error(T(x), x.to(torch.complex128) @ ref, ref, x) <= 1e-12


def test_sparse_product_gradients_reach_every_factor(gen):
    fs = [rand_sparse(4, 4, 6, torch.float64, gen) for _ in range(3)]
    P = SparseProduct(fs)
    P(random_tensor((2, 4), torch.float64, gen)).sum().backward()
    assert all(f.values.grad is not None for f in fs)


def test_sparse_product_bad_input(gen):
    A = rand_sparse(3, 4, 5, torch.float64, gen)
    with pytest.raises(ValueError, match="factors: factor 0 has shape"):
        SparseProduct([A, A])
    with pytest.raises(ValueError, match="at least one"):
        SparseProduct([])
    with pytest.raises(TypeError, match="factor 1 is Diagonal"):
        SparseProduct([A, Diagonal(torch.ones(4))])
    with pytest.raises(TypeError, match="list of Sparse"):
        SparseProduct(A)


def test_scipy_listing_round_trip(gen):
    """A listing taken from scipy (CSR -> COO) gives the same matrix."""
    M = scipy.sparse.random(9, 7, density=0.3, format="csr", random_state=int(torch.randint(0, 2**31 - 1, (), generator=gen)))
    coo = M.tocoo()
    S = Sparse(coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data, M.shape)
    assert S.dtype == torch.float64
    assert np.array_equal(S.to_dense().detach().numpy(), M.toarray())
