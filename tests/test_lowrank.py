"""LowRank (Def 2.2) and SparsePlusLowRank (§4.3).

Products are compared with the dense float64/complex128 product of the stored factors. A rank-r
product does r + m inner products of length ≤ max(n, r); the float64 error is a few ulps times
that length, so we allow 1e-12 normwise (float32: 2e-6). The truncated SVD is checked against
Eckart–Young (spectral error = σ_{r+1}) to 1e-10 relative to σ_1 (LAPACK's SVD is backward
stable to ~n·ε‖M‖).
"""

import numpy as np
import pytest
import torch

from kmatrix import Dense, Diagonal, LowRank, Product, Sparse, SparsePlusLowRank, merge
from kmatrix.testing.battery import normwise_error, random_tensor

SIZES = (1, 2, 7, 64, 1024)
WIDE = torch.complex128


def rand_lr(m, n, r, dtype, g):
    return LowRank(random_tensor((m, r), dtype, g), random_tensor((r, n), dtype, g))


def rand_sparse(m, n, s, dtype, g):
    return Sparse(torch.randint(0, m, (s,), generator=g), torch.randint(0, n, (s,), generator=g),
                  random_tensor((s,), dtype, g), (m, n))


def dense_of(M):
    return M.to_dense().detach().to(WIDE)


# ---------------------------------------------------------------------- LowRank: construction
def test_constructor_counts_and_dtypes(gen):
    L = random_tensor((5, 2), torch.float64, gen)
    R = random_tensor((2, 3), torch.float64, gen)
    W = LowRank(L, R)
    assert W.shape == (5, 3) and W.rank == 2 and W.dtype == torch.float64
    assert W.num_params == 2 * (5 + 3) and W.num_real_params == 16
    assert torch.equal(W.L.detach(), L) and W.L.data_ptr() != L.data_ptr()
    assert torch.equal(W.to_dense().detach(), L @ R)
    C = LowRank(L, random_tensor((2, 3), torch.complex128, gen))
    assert C.dtype == torch.complex128 and C.num_real_params == 32
    I = LowRank([[1], [2]], [[3, 4]], dtype=torch.float64)
    assert torch.equal(I.to_dense().detach(), torch.tensor([[3.0, 4.0], [6.0, 8.0]], dtype=torch.float64))


@pytest.mark.parametrize(
    "L,R,exc,match",
    [
        (torch.ones(3, 2), torch.ones(3, 4), ValueError, "L, R: expected L of shape"),
        (torch.ones(3), torch.ones(1, 4), ValueError, "L: expected a 2-d"),
        (torch.ones(3, 1), torch.ones(4), ValueError, "R: expected a 2-d"),
        (torch.full((3, 1), float("nan")), torch.ones(1, 4), ValueError, "L: expected finite"),
        (torch.ones(3, 1), torch.full((1, 4), float("inf")), ValueError, "R: expected finite"),
        (torch.ones(3, 1, dtype=torch.int64), torch.ones(1, 4), TypeError, "L: expected a floating"),
        (torch.ones(3, 0), torch.ones(0, 4), ValueError, "L: expected a non-empty"),
    ],
)
def test_bad_input(L, R, exc, match):
    with pytest.raises(exc, match=match):
        LowRank(L, R)


def test_flops_formula():
    W = LowRank(torch.ones(5, 2), torch.ones(2, 3))
    assert W.flops == 2 * (2 * 3 - 1) + 5 * (2 * 2 - 1)
    assert W.to(torch.complex64).flops == 2 * (8 * 3 - 2) + 5 * (8 * 2 - 2)


# ---------------------------------------------------------------------- LowRank: from_dense
@pytest.mark.parametrize("n", (1, 2, 7, 64))
@pytest.mark.parametrize("dtype", (torch.float64, torch.complex128))
def test_from_dense_recovers_low_rank_matrix(n, dtype, gen):
    r = min(3, n)
    M = random_tensor((n + 2, r), dtype, gen) @ random_tensor((r, n), dtype, gen)
    W = LowRank.from_dense(M, r)
    assert W.rank == r and W.dtype == dtype and W.shape == (n + 2, n)
    assert (dense_of(W) - M.to(WIDE)).norm() <= 1e-12 * M.norm()


@pytest.mark.parametrize("dtype", (torch.float64, torch.complex128))
def test_from_dense_is_eckart_young_optimal(dtype, gen):
    M = random_tensor((20, 12), dtype, gen)
    sv = np.linalg.svd(M.numpy(), compute_uv=False)
    for r in (1, 4, 11, 12):
        W = LowRank.from_dense(M, r)
        err = np.linalg.norm((M - W.to_dense().detach()).numpy(), 2)
        expected = sv[r] if r < len(sv) else 0.0
        assert abs(err - expected) <= 1e-10 * sv[0]


def test_from_dense_bad_rank():
    M = torch.randn(4, 3, dtype=torch.float64)
    for bad, exc in [(0, ValueError), (4, ValueError), (-1, ValueError), (2.0, TypeError), (True, TypeError)]:
        with pytest.raises(exc, match="rank"):
            LowRank.from_dense(M, bad)
    with pytest.raises(ValueError, match="M: expected finite"):
        LowRank.from_dense(torch.tensor([[float("nan"), 1.0]]), 1)


# ---------------------------------------------------------------------- LowRank: products
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", (torch.float32, torch.float64, torch.complex128))
def test_product_matches_dense(n, dtype, gen):
    W = rand_lr(n + 1, n, 4, dtype, gen)
    ref = W.L.detach().to(WIDE) @ W.R.detach().to(WIDE)
    tol = 2e-6 if dtype == torch.float32 else 1e-12
    x = random_tensor((3, n), dtype, gen)
    assert normwise_error(W(x), x.to(WIDE) @ ref.T, ref, x) <= tol
    y = random_tensor((3, n + 1), dtype, gen)
    assert normwise_error(W.T(y), y.to(WIDE) @ ref, ref, y) <= tol
    assert normwise_error(W.H(y), y.to(WIDE) @ ref.conj(), ref, y) <= tol


def test_gradients_reach_L_R_and_x(gen):
    W = rand_lr(5, 4, 2, torch.complex128, gen)
    x = random_tensor((3, 4), torch.complex128, gen).requires_grad_(True)
    L, R = (W.L.detach().clone().requires_grad_(True), W.R.detach().clone().requires_grad_(True))
    assert torch.autograd.gradcheck(lambda x, L, R: (x @ R.T) @ L.T, (x, L, R))
    W(x).abs().sum().backward()
    assert W.L.grad is not None and W.R.grad is not None and x.grad is not None


# ---------------------------------------------------------------------- LowRank: composition
def test_lowrank_absorbs_neighbours(gen):
    W = rand_lr(6, 5, 2, torch.float64, gen)
    D = Dense(random_tensor((5, 4), torch.float64, gen))
    d = Diagonal(random_tensor((6,), torch.float64, gen))
    S = rand_sparse(7, 6, 10, torch.float64, gen)
    for C, R in [(merge(W @ D), dense_of(W) @ dense_of(D)), (merge(d @ W), dense_of(d) @ dense_of(W)),
                 (merge(S @ W), dense_of(S) @ dense_of(W)), (merge(W @ W.T), dense_of(W) @ dense_of(W).T)]:
        assert isinstance(C, LowRank) and C.rank == 2
        assert (dense_of(C) - R).norm() <= 1e-12 * R.norm()


def test_lowrank_times_lowrank_keeps_smaller_rank(gen):
    A = rand_lr(6, 5, 4, torch.float64, gen)
    B = rand_lr(5, 7, 2, torch.complex128, gen)
    E = rand_lr(7, 3, 5, torch.float64, gen)
    for C, R in [(merge(A @ B), dense_of(A) @ dense_of(B)), (merge(B @ E), dense_of(B) @ dense_of(E))]:
        assert isinstance(C, LowRank) and C.rank == 2 and C.dtype == torch.complex128
        assert (dense_of(C) - R).norm() <= 1e-12 * R.norm()


def test_lowrank_sum_concatenates(gen):
    A = rand_lr(6, 5, 2, torch.float64, gen)
    B = rand_lr(6, 5, 3, torch.float64, gen)
    C = merge(A + B)
    assert isinstance(C, LowRank) and C.rank == 5
    assert (dense_of(C) - dense_of(A) - dense_of(B)).norm() <= 1e-13 * dense_of(C).norm()
    assert isinstance(merge(2.0 * A), LowRank) and torch.allclose(dense_of(merge(2.0 * A)), 2 * dense_of(A))


def test_merge_declined_when_not_cheaper(gen):
    # 2×2 rank-2 times a 2×1000 sparse matrix of 3 entries: the merged LowRank would cost
    # 2·(2·1000 − 1) + ... flops, far more than the two factors applied in turn.
    W = rand_lr(2, 2, 2, torch.float64, gen)
    S = Sparse([0, 1, 1], [0, 10, 999], torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), (2, 1000))
    C = W @ S
    assert isinstance(C, Product) and not isinstance(C, LowRank)
    assert (dense_of(C) - dense_of(W) @ dense_of(S)).norm() <= 1e-13 * dense_of(C).norm()


# ---------------------------------------------------------------------- SparsePlusLowRank
def test_splr_basics(gen):
    S = rand_sparse(6, 5, 9, torch.float64, gen)
    W = rand_lr(6, 5, 2, torch.complex128, gen)
    M = SparsePlusLowRank(S, W)
    assert M.sparse is S and M.lowrank is W and M.nnz == 9 and M.rank == 2
    assert M.dtype == torch.complex128 and M.num_params == 9 + 2 * 11
    assert M.flops == S.flops + W.flops + 2 * 6


def test_splr_flops_real(gen):
    S = rand_sparse(6, 5, 9, torch.float64, gen)
    W = rand_lr(6, 5, 2, torch.float64, gen)
    assert SparsePlusLowRank(S, W).flops == S.flops + (2 * (2 * 5 - 1) + 6 * (2 * 2 - 1)) + 6


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", (torch.float64, torch.complex128))
def test_splr_product_matches_dense(n, dtype, gen):
    M = SparsePlusLowRank(rand_sparse(n + 1, n, 3 * n, dtype, gen), rand_lr(n + 1, n, 3, dtype, gen))
    ref = dense_of(M.sparse) + dense_of(M.lowrank)
    x = random_tensor((2, n), dtype, gen)
    assert normwise_error(M(x), x.to(WIDE) @ ref.T, ref, x) <= 1e-12
    y = random_tensor((2, n + 1), dtype, gen)
    assert normwise_error(M.T(y), y.to(WIDE) @ ref, ref, y) <= 1e-12
    assert normwise_error(M.H(y), y.to(WIDE) @ ref.conj(), ref, y) <= 1e-12


def test_splr_gradients_reach_both_parts(gen):
    M = SparsePlusLowRank(rand_sparse(4, 3, 5, torch.float64, gen), rand_lr(4, 3, 2, torch.float64, gen))
    M(random_tensor((2, 3), torch.float64, gen)).sum().backward()
    assert all(p.grad is not None for p in M.parameters())


def test_splr_bad_input(gen):
    S = rand_sparse(4, 3, 5, torch.float64, gen)
    W = rand_lr(4, 3, 2, torch.float64, gen)
    with pytest.raises(TypeError, match="sparse: expected a Sparse"):
        SparsePlusLowRank(W, W)
    with pytest.raises(TypeError, match="lowrank: expected a LowRank"):
        SparsePlusLowRank(S, S)
    with pytest.raises(ValueError, match="shapes differ"):
        SparsePlusLowRank(S, rand_lr(3, 4, 2, torch.float64, gen))


def test_splr_composition_rules(gen):
    S = rand_sparse(5, 4, 6, torch.float64, gen)
    W = rand_lr(5, 4, 2, torch.float64, gen)
    for C in (S + W, W + S):
        assert isinstance(C, SparsePlusLowRank) and C.sparse is S and C.lowrank is W
    M = S + W
    S2 = rand_sparse(5, 4, 6, torch.float64, gen)
    W2 = rand_lr(5, 4, 3, torch.float64, gen)
    cases = [
        (merge(M + S2), dense_of(M) + dense_of(S2), 2),
        (merge(S2 + M), dense_of(M) + dense_of(S2), 2),
        (merge(M + W2), dense_of(M) + dense_of(W2), 5),
        (merge(W2 + M), dense_of(M) + dense_of(W2), 5),
        (merge(M + M), 2 * dense_of(M), 4),
        (merge(3.0 * M), 3 * dense_of(M), 2),
    ]
    for C, R, rank in cases:
        assert isinstance(C, SparsePlusLowRank) and C.rank == rank
        assert (dense_of(C) - R).norm() <= 1e-13 * R.norm()
    assert merge(M + S2).lowrank is W  # the untouched part is shared
