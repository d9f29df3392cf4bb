"""kmatrix.project: exact recovery of planted members (float64, ≤ 1e-12: the methods are
backward stable SVD / averaging / rank-1 steps, errors ~1e-15·log n), optimality against
closed forms computed independently (numpy / scipy loops), refinement never worse than its
initialisation, padding reported, bad input."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

import kmatrix
from kmatrix.project import METHODS, ProjectionReport
from kmatrix.project.butterfly import bit_reversal
from kmatrix.testing.battery import random_tensor

EXACT = 1e-12
DTYPES = [torch.float64, torch.complex128]


def _err(W, M):
    return float((W.to_dense().detach().to(torch.complex128) - M.to(torch.complex128)).norm() / M.norm())


# ---------------------------------------------------------------- low rank / sparse
@pytest.mark.parametrize("dtype", DTYPES)
def test_lowrank_eckart_young(dtype, gen):
    M = random_tensor((30, 20), dtype, gen)
    s = np.linalg.svd(M.numpy(), compute_uv=False)
    for r in (1, 5, 20):
        W, rep = kmatrix.project(M, "lowrank", rank=r)
        assert rep.optimal and isinstance(W, kmatrix.LowRank) and W.rank == r
        expect = math.sqrt((s[r:] ** 2).sum() / (s**2).sum())
        assert abs(rep.rel_error - expect) <= 1e-12
    planted = random_tensor((30, 3), dtype, gen) @ random_tensor((3, 20), dtype, gen)
    assert kmatrix.project(planted, "lowrank", rank=3)[1].rel_error <= EXACT


@pytest.mark.parametrize("dtype", DTYPES)
def test_sparse_top_s(dtype, gen):
    M = random_tensor((12, 9), dtype, gen)
    a = np.sort(np.abs(M.numpy()).ravel())
    for s in (0, 1, 40, 108):
        W, rep = kmatrix.project(M, "sparse", nnz=s)
        assert rep.optimal and W.nnz == s
        expect = math.sqrt((a[: a.size - s] ** 2).sum() / (a**2).sum())
        assert abs(rep.rel_error - expect) <= 1e-12
    planted = torch.where(torch.rand(12, 9, generator=gen) < 0.2, M, torch.zeros_like(M))
    k = int((planted != 0).sum())
    assert kmatrix.project(planted, "sparse", nnz=k)[1].rel_error == 0.0


# ---------------------------------------------------------------- Toeplitz family
def _diag_average_error(M, key):
    """‖M‖² − Σ_d |Σ_{(i,j)∈d} M_ij|² / |d|, by explicit loops over the classes."""
    sums, counts = {}, {}
    m, n = M.shape
    for i in range(m):
        for j in range(n):
            d = key(i, j)
            sums[d] = sums.get(d, 0) + M[i, j]
            counts[d] = counts.get(d, 0) + 1
    tot = (np.abs(M) ** 2).sum()
    res = tot - sum(abs(sums[d]) ** 2 / counts[d] for d in sums)
    return math.sqrt(max(res, 0) / tot)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7, 7), (5, 9), (10, 4)])
def test_toeplitz_hankel_diagonal_average(shape, dtype, gen):
    M = random_tensor(shape, dtype, gen)
    Mn = M.numpy()
    W, rep = kmatrix.project(M, "toeplitz")
    assert rep.optimal and isinstance(W, kmatrix.Toeplitz)
    assert abs(rep.rel_error - _diag_average_error(Mn, lambda i, j: i - j)) <= 1e-12
    W, rep = kmatrix.project(M, "hankel")
    assert rep.optimal and isinstance(W, kmatrix.Hankel)
    assert abs(rep.rel_error - _diag_average_error(Mn, lambda i, j: i + j)) <= 1e-12
    # planted members come back exactly (scipy builds them)
    c, r = random_tensor((shape[0],), dtype, gen).numpy(), random_tensor((shape[1],), dtype, gen).numpy()
    r[0] = c[0]
    T = torch.from_numpy(scipy.linalg.toeplitz(c, r))
    assert kmatrix.project(T, "toeplitz")[1].rel_error <= EXACT
    r[0] = c[-1]
    H = torch.from_numpy(scipy.linalg.hankel(c, r))
    assert kmatrix.project(H, "hankel")[1].rel_error <= EXACT


@pytest.mark.parametrize("dtype", DTYPES)
def test_circulant_wrapped_average(dtype, gen):
    n = 8
    M = random_tensor((n, n), dtype, gen)
    W, rep = kmatrix.project(M, "circulant")
    assert rep.optimal and isinstance(W, kmatrix.Circulant)
    assert abs(rep.rel_error - _diag_average_error(M.numpy(), lambda i, j: (i - j) % n)) <= 1e-12
    C = torch.from_numpy(scipy.linalg.circulant(random_tensor((n,), dtype, gen).numpy()))
    assert kmatrix.project(C, "circulant")[1].rel_error <= EXACT


# ---------------------------------------------------------------- Monarch
def _monarch_blockwise_error(M, k, r):
    """Σ over the k² blocks {a·k + c} × {i·p + j} of the zero-padded M of the tail σ², by loops."""
    m, n = M.shape
    p, l = -(-n // k), -(-m // k)
    Mp = np.zeros((k * l, k * p), dtype=M.dtype)
    Mp[:m, :n] = M
    tail = 0.0
    for c in range(k):
        for i in range(k):
            block = Mp[[a * k + c for a in range(l)]][:, i * p:(i + 1) * p]
            s = np.linalg.svd(block, compute_uv=False)
            tail += (s[r:] ** 2).sum()
    return math.sqrt(tail / (np.abs(M) ** 2).sum())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,m,k,r", [(16, 16, 4, 1), (36, 36, None, 1), (12, 20, 4, 2), (10, 7, 3, 1)])
def test_monarch_exact_and_optimal(n, m, k, r, dtype, gen):
    planted = kmatrix.Monarch(n, m, nblocks=k, rank=r, dtype=dtype, generator=gen)
    D = planted.to_dense().detach()
    W, rep = kmatrix.project(D, "monarch", nblocks=k, rank=r)
    assert isinstance(W, kmatrix.Monarch) and rep.optimal and rep.rel_error <= EXACT
    assert rep.padded == (planted.padded_shape != (m, n))
    M = random_tensor((m, n), dtype, gen)
    W, rep = kmatrix.project(M, "monarch", nblocks=k, rank=r)
    assert abs(rep.rel_error - _monarch_blockwise_error(M.numpy(), W.nblocks, r)) <= 1e-12


# ---------------------------------------------------------------- butterfly
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ["left-to-right", "right-to-left", "balanced"])
def test_butterfly_exact_recovery(order, dtype, gen):
    for n in (2, 8, 64, 256):
        B = kmatrix.Butterfly(n, dtype=dtype, generator=gen)
        W, rep = kmatrix.project(B.to_dense().detach(), "butterfly", order=order)
        assert isinstance(W, kmatrix.Butterfly) and not rep.padded
        assert rep.rel_error <= EXACT, (n, rep.rel_error)


@pytest.mark.parametrize("perm", ["bitrev", "search"])
def test_butterfly_dft_with_permutation(perm):
    for n in (16, 128):
        F = torch.fft.fft(torch.eye(n, dtype=torch.complex128), dim=0)
        _W, rep = kmatrix.project(F, "butterfly", perm=perm)
        assert rep.rel_error <= EXACT, (n, rep.rel_error)
        assert rep.details["perm"] == perm
    # without the permutation the DFT is far from a butterfly
    assert kmatrix.project(F, "butterfly")[1].rel_error > 0.1


def test_butterfly_search_finds_bit_reversal_and_hadamard_needs_none(gen):
    n = 64
    F = torch.fft.fft(torch.eye(n, dtype=torch.complex128), dim=0)
    from kmatrix.project.butterfly import search_permutation

    assert torch.equal(search_permutation(F), bit_reversal(n))
    H = torch.from_numpy(scipy.linalg.hadamard(n).astype(np.float64))
    assert kmatrix.project(H, "butterfly")[1].rel_error <= EXACT
    # a planted butterfly with a hidden column permutation is found by the search
    B = kmatrix.Butterfly(n, dtype=torch.float64, generator=gen).to_dense().detach()
    pi = torch.randperm(n, generator=gen)
    _W, rep = kmatrix.project(B[:, pi], "butterfly", perm="search")
    assert rep.rel_error <= EXACT


def test_butterfly_explicit_permutation(gen):
    n = 32
    B = kmatrix.Butterfly(n, dtype=torch.float64, generator=gen).to_dense().detach()
    pi = torch.randperm(n, generator=gen)
    inv = torch.argsort(pi)
    _W, rep = kmatrix.project(B[:, inv], "butterfly", perm=pi.numpy())
    assert rep.rel_error <= EXACT and rep.details["perm"] == "given"


def test_butterfly_auto_order_keeps_the_better(gen):
    n = 64
    B = kmatrix.Butterfly(n, dtype=torch.float64, generator=gen).to_dense().detach()
    for level in (0.01, 0.1):
        G = torch.randn(n, n, dtype=torch.float64, generator=gen)
        M = B + level * B.norm() / G.norm() * G
        errs = {o: kmatrix.project(M, "butterfly", order=o)[1].rel_error for o in ("left-to-right", "balanced")}
        _, rep = kmatrix.project(M, "butterfly")
        assert rep.rel_error == pytest.approx(min(errs.values()), rel=1e-12)
        assert rep.details["order"] == min(errs, key=errs.get)


# The fast path (closed-form 2×2 eigenvectors, Gram squaring, the dense product assembled from
# the tree) against the slow exact one (LAPACK SVD of every block, Butterfly.to_dense): float64 /
# complex128 noisy butterflies have well-separated top singular values, so the two agree to
# rounding (1e-10 relative leaves room for the conditioning of the deeper levels).
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("order", ["left-to-right", "right-to-left", "balanced"])
def test_butterfly_fast_path_matches_exact_svd(order, dtype, gen):
    from kmatrix.project.butterfly import butterfly_twiddle

    for n in (4, 32, 64, 256):
        B = kmatrix.Butterfly(n, dtype=dtype, generator=gen).to_dense().detach()
        G = random_tensor((n, n), dtype, gen)
        M = B + 0.1 * B.norm() / G.norm() * G
        tw, D = butterfly_twiddle(M, order, dense=True)
        tw_ref = butterfly_twiddle(M, order, exact=True)
        D_ref = kmatrix.Butterfly(n, n, init=tw_ref).to_dense().detach()
        D_tw = kmatrix.Butterfly(n, n, init=tw).to_dense().detach()
        assert float((D_tw - D_ref).norm() / D_ref.norm()) <= 1e-10, (n, order)
        assert float((D - D_tw).norm() / D_tw.norm()) <= 1e-13, (n, order)  # assembled = stages


def test_top_eigvec_against_eigh(gen):
    from kmatrix.project.butterfly import _top_eigvec

    for dtype in DTYPES:
        for k in (2, 3, 8, 32):
            A = random_tensor((200, k + 3, k), dtype, gen)
            A[:50] = A[:50, :, :1] @ A[:50, :1, :]  # rank one: stops after one squaring
            A[50:60] = 0  # zero blocks: e₀
            G = A.mH @ A
            v = _top_eigvec(G)
            lam, V = torch.linalg.eigh(G)
            # Rayleigh quotient = λ_max (the rank-1 error depends only on it) to rounding
            rq = torch.einsum("bi,bij,bj->b", v.conj(), G, v).real
            assert torch.allclose(rq, lam[:, -1], rtol=1e-12, atol=1e-12 * float(lam.max()))
            assert torch.allclose(v.norm(dim=-1), torch.ones(200, dtype=torch.float64), atol=1e-14)
            # where the gap is clear the vector itself is the eigenvector (up to a phase)
            clear = (lam[:, -2] < 0.9 * lam[:, -1]) & (lam[:, -1] > 0)
            overlap = (V[:, :, -1].conj() * v).sum(-1).abs()
            assert torch.allclose(overlap[clear], torch.ones(int(clear.sum()), dtype=torch.float64), atol=1e-10)
            assert torch.equal(v[50:60].abs(), torch.eye(k, dtype=torch.float64)[0].expand(10, k).to(v.dtype).abs())


def test_balanced_tree_is_faust_bbtree():
    from kmatrix.project.butterfly import _bbtree_slots, _plan

    for L in range(1, 20):
        slots = _bbtree_slots(L)
        assert sum(slots) == L and len(slots) & (len(slots) - 1) == 0 and set(slots) <= {1, 2}
    assert _plan(8, _bbtree_slots(8))[0] == 4  # powers of two: halves
    assert _plan(10, _bbtree_slots(10)) == (4, (2, 2, 1, 1), (1, 1, 1, 1))  # 6 | 4, then 4 | 2
    assert _plan(11, _bbtree_slots(11))[0] == 4  # 7 | 4


@pytest.mark.parametrize("n", [32, 64, 128, 512, 1024])
def test_balanced_matches_pyfaust_bbtree(n, gen):
    """Same tree and exact rank-1 blocks as FAµST: the errors agree to rounding (the optional
    peer; skipped without pyfaust)."""
    pytest.importorskip("pyfaust")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pyfaust.fact
    B = kmatrix.Butterfly(n, dtype=torch.float64, generator=gen).to_dense().detach()
    G = random_tensor((n, n), torch.float64, gen)
    M = (B + 0.1 * B.norm() / G.norm() * G).numpy()
    ref = np.linalg.norm(pyfaust.fact.butterfly(M, type="bbtree").toarray() - M) / np.linalg.norm(M)
    _, rep = kmatrix.project(M, "butterfly", order="balanced")
    assert rep.rel_error == pytest.approx(ref, rel=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_butterfly_refine_never_worse(dtype, gen):
    for shape in ((32, 32), (12, 10)):
        n = max(shape[0], 16)
        B = kmatrix.Butterfly(n, dtype=dtype, generator=gen).to_dense().detach()[: shape[0], : shape[1]]
        G = random_tensor(shape, dtype, gen)
        M = B + 0.1 * B.norm() / G.norm() * G
        _, rep0 = kmatrix.project(M, "butterfly")
        W, rep = kmatrix.project(M, "butterfly", refine=15)
        d = rep.details
        assert d["factorization_error"] == pytest.approx(rep0.rel_error, rel=1e-9)
        assert d["refined_error"] <= d["factorization_error"]
        # 15 steps do move it: over 240 draws (seeds 0-59, both dtypes and shapes) the ratio
        # refined / factorization error ranged 0.946-0.99962 (a 0.999 bound failed ~1 % of draws)
        assert d["refined_error"] < (1 - 1e-5) * d["factorization_error"]
        assert rep.rel_error == pytest.approx(d["refined_error"], rel=1e-9)
        assert rep.rel_error == pytest.approx(_err(W, M), rel=1e-9)
    with pytest.raises(ValueError, match="refine"):
        kmatrix.project(M, "butterfly", refine=-1)


def test_butterfly_padding_reported(gen):
    M = random_tensor((12, 10), torch.float64, gen)
    W, rep = kmatrix.project(M, "butterfly")
    assert W.shape == (12, 10) and rep.padded and rep.padded_shape == (16, 16)
    assert rep.rel_error == pytest.approx(_err(W, M), rel=1e-12)


# ---------------------------------------------------------------- sparse + low rank
@pytest.mark.parametrize("dtype", DTYPES)
def test_robust_pca_planted(dtype, gen):
    """Candès et al.'s regime: rank 2 ≪ n, 5 % corrupted entries at random positions; L₀, S₀
    recovered to 1e-9 (ADMM stops at tol = 1e-9; the polish brings it to rounding)."""
    n = 60
    L0 = random_tensor((n, 2), dtype, gen) @ random_tensor((2, n), dtype, gen)
    mask = torch.rand(n, n, generator=gen) < 0.05
    S0 = torch.where(mask, 10 * random_tensor((n, n), dtype, gen), torch.zeros((), dtype=dtype))
    W, rep = kmatrix.project(L0 + S0, "sparse+lowrank")
    assert isinstance(W, kmatrix.SparsePlusLowRank) and not rep.optimal
    assert rep.details["rank"] == 2 and rep.details["nnz"] == int(mask.sum())
    assert _err(W.lowrank, L0) <= 1e-9 and _err(W.sparse, S0) <= 1e-9
    assert rep.details["lam"] == pytest.approx(1 / math.sqrt(n))


# ---------------------------------------------------------------- K-matrices
@pytest.mark.parametrize("dtype", DTYPES)
def test_kmatrix_refinement_never_worse(dtype, gen):
    M = random_tensor((16, 16), dtype, gen)
    _, rep_b = kmatrix.project(M, "butterfly")
    for w in (1, 2):
        W, rep = kmatrix.project(M, "kmatrix", width=w, adam_steps=30, lbfgs_steps=30)
        assert isinstance(W, kmatrix.KMatrix) and W.width == w
        assert rep.details["refined_error"] <= rep.details["init_error"]
        assert rep.rel_error <= rep.details["init_error"] + 1e-12
        assert rep.rel_error <= rep_b.rel_error + 1e-12
        assert rep.rel_error == pytest.approx(rep.details["refined_error"], rel=1e-9)
    # a huge learning rate makes Adam diverge: the initialisation is still returned intact
    _, rep = kmatrix.project(M, "kmatrix", lr=1e6, adam_steps=5, lbfgs_steps=0)
    assert rep.rel_error == pytest.approx(rep.details["init_error"], rel=1e-9)


def test_kmatrix_exact_on_butterflies(gen):
    n = 32
    B = kmatrix.Butterfly(n, dtype=torch.float64, generator=gen).to_dense().detach()
    _W, rep = kmatrix.project(B, "kmatrix", adam_steps=0, lbfgs_steps=0)
    assert rep.rel_error <= EXACT and rep.details["init"] == "butterfly B"
    Bs = kmatrix.Butterfly(n, increasing_stride=False, dtype=torch.float64, generator=gen).to_dense().detach()
    _W, rep = kmatrix.project(Bs, "kmatrix", adam_steps=0, lbfgs_steps=0)
    assert rep.rel_error <= EXACT and rep.details["init"] == "butterfly B*"


def test_kmatrix_padding(gen):
    M = random_tensor((6, 5), torch.float64, gen)
    W, rep = kmatrix.project(M, "kmatrix", adam_steps=5, lbfgs_steps=5)
    assert W.shape == (6, 5) and rep.padded and rep.padded_shape == (8, 8)


# ---------------------------------------------------------------- precision, inputs, report
@pytest.mark.parametrize("family", sorted(METHODS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64])
def test_result_in_input_precision(family, dtype, gen):
    M = random_tensor((16, 16), dtype, gen)
    kw = {"adam_steps": 3, "lbfgs_steps": 3} if family == "kmatrix" else {}
    W, rep = kmatrix.project(M.numpy(), family, **kw)
    assert W.dtype == dtype and W.shape == (16, 16)
    assert isinstance(rep, ProjectionReport) and rep.family == family and rep.num_params == W.num_params
    assert rep.time >= 0 and 0 <= rep.rel_error <= 1.5
    assert family in str(rep)


def test_monarch_padding_reported(gen):
    M = random_tensor((10, 10), torch.float64, gen)
    W, rep = kmatrix.project(M, "monarch", nblocks=3)
    assert rep.padded and rep.padded_shape == (12, 12) and W.shape == (10, 10)
    W, rep = kmatrix.project(M[:9, :9], "monarch", nblocks=3)
    assert not rep.padded and rep.padded_shape is None


def test_bad_input(gen):
    M = random_tensor((8, 8), torch.float64, gen)
    for bad in (float("nan"), float("inf")):
        X = M.clone()
        X[2, 3] = bad
        with pytest.raises(ValueError, match="finite"):
            kmatrix.project(X, "lowrank")
    with pytest.raises(ValueError, match="2-d"):
        kmatrix.project(M[0], "toeplitz")
    with pytest.raises(TypeError, match="dtype"):
        kmatrix.project(M.to(torch.int64), "toeplitz")
    with pytest.raises(TypeError, match="dtype"):
        kmatrix.project(M.half(), "toeplitz")
    with pytest.raises(TypeError, match="M: expected"):
        kmatrix.project([[1.0, 2.0]], "toeplitz")
    with pytest.raises(ValueError, match="family"):
        kmatrix.project(M, "fourier")
    with pytest.raises(TypeError, match="rnak"):
        kmatrix.project(M, "lowrank", rnak=2)
    with pytest.raises(ValueError, match="square"):
        kmatrix.project(M[:, :5], "circulant")
    for r in (0, 9):
        with pytest.raises(ValueError, match="rank"):
            kmatrix.project(M, "lowrank", rank=r)
    with pytest.raises(TypeError, match="rank"):
        kmatrix.project(M, "lowrank", rank=1.5)
    for s in (-1, 65):
        with pytest.raises(ValueError, match="nnz"):
            kmatrix.project(M, "sparse", nnz=s)
    with pytest.raises(ValueError, match="rank"):
        kmatrix.project(M, "monarch", nblocks=2, rank=5)
    with pytest.raises(ValueError, match="nblocks"):
        kmatrix.project(M, "monarch", nblocks=9)
    with pytest.raises(ValueError, match="width"):
        kmatrix.project(M, "kmatrix", width=0)
    with pytest.raises(ValueError, match="order"):
        kmatrix.project(M, "butterfly", order="random")
    with pytest.raises(ValueError, match="perm"):
        kmatrix.project(M, "butterfly", perm="reverse")
    with pytest.raises(ValueError, match="perm"):
        kmatrix.project(M, "butterfly", perm=[0, 0, 1, 2, 3, 4, 5, 6])
    with pytest.raises(ValueError, match="perm"):
        kmatrix.project(M[:, :6], "butterfly", perm="bitrev")
    with pytest.raises(ValueError, match="lam"):
        kmatrix.project(M, "sparse+lowrank", lam=-1.0)


def test_callable_package():
    """kmatrix.project is callable and still a package whose modules import with ``as``."""
    import kmatrix.project.butterfly as pb

    assert callable(kmatrix.project) and kmatrix.project.project is not None
    assert pb.project_butterfly is kmatrix.project.METHODS["butterfly"]
