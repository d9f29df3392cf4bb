"""Issue 8: the generic projected start of ``recover`` — the hierarchical BB* factorization
(``kmatrix.project.kaleidoscope.hierarchical_twiddle``) checked against dense references built
here (stage matrices written out entry by entry, scipy's circulant, torch.fft), and
``recover(init=...)`` at small n (the n = 256 figures are the slow test in
test_learn_registry_table.py)."""

import pytest
import scipy.linalg
import torch

import kmatrix
from kmatrix.learn import make_target, recover
from kmatrix.project.kaleidoscope import hierarchical_twiddle

# float64: a product of 2 log2 N unitary 2×2 stages reproduces a unit-scale matrix to ~1e-15
# (measured ≤ 4e-15 up to N = 256); 1e-12 leaves three decades of margin and still fails on
# any wrong block
EXACT = 1e-12


def naive_dense(tw: torch.Tensor) -> torch.Tensor:
    """The width-1 K-matrix of twiddles (1, 2, L, N/2, 2, 2) as a dense product of its stage
    matrices, each filled entry by entry (part 0: strides N/2 … 1, applied first; part 1:
    strides 1 … N/2; pair p acts on (j, j + s), j = (p // s)·2s + p mod s)."""
    _, _, L, half, _, _ = tw.shape
    N = 2 * half
    M = torch.eye(N, dtype=tw.dtype)
    for part, strides in ((0, [N >> (k + 1) for k in range(L)]), (1, [1 << k for k in range(L)])):
        for k, s in enumerate(strides):
            S = torch.zeros(N, N, dtype=tw.dtype)
            for p in range(half):
                j = (p // s) * 2 * s + p % s
                for a, ia in enumerate((j, j + s)):
                    for b, ib in enumerate((j, j + s)):
                        S[ia, ib] = tw[0, part, k, p, a, b]
            M = S @ M
    return M


def rel(A, B) -> float:
    return float((A - B).norm() / B.norm())


def planted(N, dtype, g):
    """A random U₁ D U₂: Haar-like unitary (orthogonal) blocks everywhere, and row gains in
    [0.5, 1.5) on the middle (stride-1) blocks."""
    L = N.bit_length() - 1
    A = torch.randn(1, 2, L, N // 2, 2, 2, generator=g, dtype=torch.float64)
    if dtype.is_complex:
        A = A + 1j * torch.randn(A.shape, generator=g, dtype=torch.float64)
    Q = torch.linalg.qr(A)[0]
    Q[0, 0, L - 1] = (torch.rand(N // 2, 2, 1, generator=g, dtype=torch.float64) + 0.5) * Q[0, 0, L - 1]
    return Q


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("N", [2, 4, 16, 32])
def test_hierarchical_recovers_planted_members(N, dtype, gen):
    for _ in range(2):
        M = naive_dense(planted(N, dtype, gen))
        tw, off = hierarchical_twiddle(M, gen)
        assert tw.shape == (1, 2, max(1, N.bit_length() - 1), N // 2, 2, 2) and tw.dtype == dtype
        assert len(off) == N.bit_length() - 2 if N > 2 else off == []
        assert rel(naive_dense(tw), M) <= EXACT
        assert all(o <= 1e-20 for o in off)  # every level split exactly
        # the KMatrix with these twiddles is the same matrix (kernel path against the naive one)
        assert rel(kmatrix.KMatrix(N, init=tw).to_dense().detach(), M) <= EXACT


def test_hierarchical_recovers_permutation_circulant_dft(gen):
    n = 32
    perm = torch.randperm(n, generator=gen)
    P = torch.eye(n, dtype=torch.float64)[perm]
    for M in (P, P.to(torch.complex128)):  # real: orthogonal (switch) blocks; complex: unitary
        tw, _ = hierarchical_twiddle(M, gen)
        assert tw.dtype == M.dtype and rel(naive_dense(tw), M) <= EXACT
    c = torch.randn(n, dtype=torch.float64, generator=gen)
    C = torch.from_numpy(scipy.linalg.circulant(c.numpy())).to(torch.complex128)
    tw, _ = hierarchical_twiddle(C, gen)
    assert rel(naive_dense(tw), C) <= EXACT
    F = torch.fft.fft(torch.eye(n, dtype=torch.complex128), dim=0)
    assert rel(naive_dense(hierarchical_twiddle(F, gen)[0]), F) <= EXACT
    # a real circulant is not a real U₁ D U₂ (it needs complex blocks): a projection, error > 0
    tw, off = hierarchical_twiddle(C.real.contiguous(), gen)
    assert rel(naive_dense(tw), C.real) > 1e-3 and max(off) > 1e-6


def test_hierarchical_is_a_projection_on_any_matrix(gen):
    M = torch.randn(16, 16, dtype=torch.complex128, generator=gen)
    tw, off = hierarchical_twiddle(M, gen)
    err = rel(naive_dense(tw), M)
    assert 0.05 < err < 1.0 and all(0 < o < 1 for o in off)  # not a member; better than W = 0
    # and kmatrix.project keeps the better of it and the butterfly starts
    P = torch.eye(16, dtype=torch.float64)[torch.randperm(16, generator=gen)]
    W, report = kmatrix.project(P, "kmatrix", adam_steps=0, lbfgs_steps=0)
    assert isinstance(W, kmatrix.KMatrix) and W.width == 1
    assert report.rel_error <= EXACT and report.details["init"] == "hierarchical BB*"


def test_hierarchical_bad_input():
    with pytest.raises(ValueError, match="M: expected a square"):
        hierarchical_twiddle(torch.zeros(4, 8))
    with pytest.raises(ValueError, match="M: expected a size N that is a power of two"):
        hierarchical_twiddle(torch.zeros(6, 6))
    with pytest.raises(TypeError, match="M: expected a floating-point or complex"):
        hierarchical_twiddle(torch.zeros(4, 4, dtype=torch.int64))
    with pytest.raises(ValueError, match="refine"):
        hierarchical_twiddle(torch.eye(4), refine=0)


@pytest.mark.parametrize("target", ["permutation", "convolution"])
def test_recover_projected_start_small(target):
    n = 32
    r = recover(target, "kmatrix", n, complex_family=True, samples=2 * n, restarts=2, progress=False)
    assert r.inits == ["project"] and r.restarts == 1 and r.error <= 1e-10, r.errors
    T = make_target(target, n, torch.Generator().manual_seed(0))  # the seed recover used
    assert rel(r.model.to_dense().detach(), T.to(torch.complex128)) <= 1e-10


def test_recover_init_options():
    n = 16
    # a real family learns a real permutation (switch blocks), n not a power of two included
    for m in (16, 12):
        r = recover("permutation", "kmatrix", m, samples=2 * m, restarts=1, init="project", progress=False)
        assert not r.model.is_complex and r.error <= 1e-10, (m, r.errors)
    # auto: too few samples (or width 2) -> random starts; project then refuses
    r = recover("permutation", "kmatrix", n, samples=8, restarts=1, unitary_steps=5, steps=5,
                lbfgs_steps=5, progress=False)
    assert r.inits == ["random"]
    r = recover("permutation", "kmatrix", n, width=2, samples=2 * n, restarts=1, unitary_steps=5, steps=5,
                lbfgs_steps=5, progress=False)
    assert r.inits == ["random"]
    r = recover("permutation", "kmatrix", n, width=2, samples=2 * n, restarts=2, init="project", progress=False)
    assert r.inits[0] == "project" and r.model.width == 2 and r.error <= 1e-10
    with pytest.raises(ValueError, match="init: 'project' needs"):
        recover("permutation", "kmatrix", n, samples=8, init="project")
    with pytest.raises(ValueError, match="init: 'project' needs"):
        recover("dct", "kmatrix", n, real_part=True, samples=2 * n, init="project")
    with pytest.raises(ValueError, match="init: 'project' needs"):
        recover("dft", "dense", n, samples=2 * n, init="project")
    with pytest.raises(ValueError, match="init: expected one of"):
        recover("dft", "kmatrix", n, init="spectral")


def test_recover_defaults_take_the_projected_start():
    # With nothing but the target, family and size, a width-1 K-matrix gets n samples (a
    # full-rank set) and the projected first restart: a random permutation at n = 64 comes out
    # exact. Independent check: the learned dense matrix is a permutation matrix (one entry 1
    # per row and column, the rest 0, to 1e-10). Width 2 keeps the "twice the unknowns" sample
    # rule and random starts.
    r = recover("permutation", "kmatrix", 64, width=1, restarts=1, progress=False)
    assert r.samples == 64 and r.inits == ["project"]
    W = r.model.to_dense()
    ones = (W - 1).abs() <= 1e-10
    assert (ones.sum(0) == 1).all() and (ones.sum(1) == 1).all()
    assert W.masked_fill(ones, 0).abs().max().item() <= 1e-10
    r2 = recover("permutation", "kmatrix", 64, width=2, restarts=1, unitary_steps=2, steps=2,
                 lbfgs_steps=2, progress=False)
    assert r2.inits == ["random"]
