"""LDR: reconstruction formulas vs an independent dense solve of the displacement equation.

References: scipy.linalg.solve_sylvester(L, −R, G Hᵀ) (Sylvester) and the Kronecker system
(I − Rᵀ ⊗ L) vec W = vec(G Hᵀ) (Stein), in complex128, on dense operators built here from the
NOTES.md definitions. Tolerance 1e-10 relative (Frobenius) in double precision: the operators in
these tests are well conditioned (spectra separated by ≥ 0.1), both the solve and the FFT /
kernel products are backward stable, so errors are ~1e-14; 1e-10 leaves a wide margin while
still catching any wrong sign, shift direction or transposition (those give O(1) errors).
"""

import itertools

import numpy as np
import pytest
import scipy.linalg
import torch

import kmatrix
from kmatrix import merge
from kmatrix.families import LDR, Hankel, Toeplitz, _ldr_ops
from kmatrix.families._fft import fast_len, fft_flops, pointwise_flops
from kmatrix.testing.battery import random_tensor
from kmatrix.testing.zoo.ldr import _dense_operator

TOL = 1e-10
SHIFTS = ["Z", "Zt", ("Zf", 1.0), ("Zft", -1.0), ("Zf", 0.5 - 2j), ("Zft", 3.0)]


def _ref(G, H, L, R, form):
    m, n = G.shape[0], H.shape[0]
    Lm, Rm = _dense_operator(L, m), _dense_operator(R, n)
    Q = G.detach().to(torch.complex128).numpy() @ H.detach().to(torch.complex128).numpy().T
    if form == "sylvester":
        W = scipy.linalg.solve_sylvester(Lm, -Rm, Q)
    else:
        W = np.linalg.solve(np.eye(m * n) - np.kron(Rm.T, Lm), Q.reshape(-1, order="F")).reshape(m, n, order="F")
    return torch.from_numpy(W)


def _rel(a, b):
    a, b = a.detach().to(torch.complex128), b.to(torch.complex128)
    return float((a - b).norm() / b.norm())


def _diag(k, dtype, gen, lo=0.3, hi=2.5):
    rdt = dtype.to_real() if dtype.is_complex else dtype
    mod = lo + (hi - lo) * torch.rand(k, dtype=rdt, generator=gen)
    sign = torch.where(torch.rand(k, dtype=rdt, generator=gen) < 0.5, -1.0, 1.0).to(rdt)
    d = mod * sign
    if dtype.is_complex:
        d = torch.polar(mod, 2 * torch.pi * torch.rand(k, dtype=rdt, generator=gen))
    return ("D", d)


def _check(M, gen):
    G, H = M.generators()
    W = _ref(G, H, M.L, M.R, M.form)
    m, n = M.shape
    assert _rel(M.to_dense(), W) <= TOL
    x = random_tensor((3, n), M.dtype, gen)
    y = random_tensor((2, m), M.dtype, gen)
    assert _rel(M(x), x.to(torch.complex128) @ W.T) <= TOL
    assert _rel(M.T(y), y.to(torch.complex128) @ W) <= TOL
    assert _rel(M.H(y), y.to(torch.complex128) @ W.conj()) <= TOL
    with torch.no_grad():  # the inference path (tiled W for two diagonals) agrees too
        assert _rel(M(x), x.to(torch.complex128) @ W.T) <= TOL


@pytest.mark.parametrize("form", ["sylvester", "stein"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_every_operator_pair_matches_dense_solve(form, dtype, gen):
    """All 7×7 kinds of (L, R) (5 shifts with various φ, diagonals), square and rectangular."""
    checked = 0
    for m, n in [(1, 1), (5, 5), (6, 3), (3, 7), (16, 16)]:
        lefts = [s for s in SHIFTS if dtype.is_complex or not isinstance(s[1] if isinstance(s, tuple) else 0, complex)]
        for L, R in itertools.product(lefts + [_diag(m, dtype, gen)], lefts + [_diag(n, dtype, gen)]):
            both_shift = L[0] != "D" and R[0] != "D"
            if both_shift and m != n:
                with pytest.raises(ValueError, match="two shift operators need a square matrix"):
                    LDR(random_tensor((m, 2), dtype, gen), random_tensor((n, 2), dtype, gen), L, R, form)
                continue
            try:
                M = LDR(random_tensor((m, 2), dtype, gen), random_tensor((n, 2), dtype, gen), L, R, form)
            except ValueError as exc:  # singular pairs: equal φ (Sylvester), φ_L φ_R = 1 (Stein)
                assert "singular" in str(exc) and both_shift
                continue
            _check(M, gen)
            checked += 1
    assert checked > 100


@pytest.mark.parametrize("kind", ["shift-diag", "diag-shift", "diag-diag"])
@pytest.mark.parametrize("form", ["sylvester", "stein"])
def test_kernel_tiles_and_their_backward(kind, form, gen, monkeypatch):
    """Force tiny tiles (several full tiles and a partial one) and check products and gradients
    (the backward recomputes the tiles; gradcheck compares it with finite differences)."""
    monkeypatch.setattr(_ldr_ops, "TILE_ENTRIES", 8)
    dt = torch.complex128
    m, n = 6, 5
    L = ("Zf", 0.5) if kind == "shift-diag" else _diag(m, dt, gen, 0.2, 0.7)
    R = ("Zft", 1j) if kind == "diag-shift" else _diag(n, dt, gen, 1.5, 3.0)
    if form == "stein" and kind == "diag-diag":
        R = _diag(n, dt, gen, 0.1, 0.9)
    M = LDR(random_tensor((m, 2), dt, gen), random_tensor((n, 2), dt, gen), L, R, form)
    _check(M, gen)
    x = random_tensor((2, n), dt, gen).requires_grad_(True)
    G = M.gen_G.detach().clone().requires_grad_(True)
    H = M.gen_H.detach().clone().requires_grad_(True)

    def f(x, G, H):
        return torch.func.functional_call(M, {"gen_G": G, "gen_H": H}, (x,))

    assert torch.autograd.gradcheck(f, (x, G, H), eps=1e-6, atol=1e-6, rtol=1e-5)
    if (kind, form) in (("diag-diag", "sylvester"), ("shift-diag", "stein")):
        assert torch.autograd.gradgradcheck(f, (x, G, H), eps=1e-6, atol=1e-6, rtol=1e-5)


def _np_rank(E, tol=1e-9):
    s = np.linalg.svd(E.detach().to(torch.complex128).numpy(), compute_uv=False)
    return int((s > tol * max(s[0], 1e-300)).sum())


@pytest.mark.parametrize("n", [1, 2, 8, 33])
def test_displacement_ranks_of_classical_matrices(n, gen):
    c, r = random_tensor((n,), torch.float64, gen), random_tensor((n,), torch.float64, gen)
    r[0] = c[0]
    T = torch.from_numpy(scipy.linalg.toeplitz(c.numpy(), r.numpy()))
    H = torch.from_numpy(scipy.linalg.hankel(c.numpy(), torch.cat([c[-1:], r[1:]]).numpy()))
    a = torch.linspace(0.5, 1.5, n, dtype=torch.float64) * (-1) ** torch.arange(n)
    V = torch.from_numpy(np.vander(a.numpy(), n, increasing=True))
    s = torch.randn(n, dtype=torch.float64, generator=gen)
    t = torch.randn(n + 2, dtype=torch.float64, generator=gen) + 10
    C = 1 / (s[:, None] - t[None, :])
    assert _np_rank(LDR.displacement(T, ("Zf", 1.0), ("Zf", -1.0))) <= 2
    assert _np_rank(LDR.displacement(H, ("Zf", 1.0), ("Zft", -1.0))) <= 2
    assert _np_rank(LDR.displacement(V, ("D", a), "Zt")) == 1
    assert _np_rank(LDR.displacement(V, ("D", a), "Z", form="stein")) == 1
    assert _np_rank(LDR.displacement(C, ("D", s), ("D", t))) == 1
    assert torch.allclose(LDR.displacement(C, ("D", s), ("D", t)), torch.ones(n, n + 2, dtype=torch.float64))
    if n == 8:  # (larger n: the Vandermonde's own conditioning blurs the numerical rank)
        # NOTES.md: with Z instead of Zᵀ the Vandermonde displacement has full rank
        assert _np_rank(LDR.displacement(V, ("D", a), "Z")) == n


def test_displacement_matches_dense_operators(gen):
    W = random_tensor((6, 4), torch.complex128, gen)
    for L, R in [("Z", ("Zf", 2.0)), (("Zft", -1j), "Zt"), (_diag(6, torch.complex128, gen), ("Zft", 0.5))]:
        Lm = torch.from_numpy(_dense_operator(L, 6))
        Rm = torch.from_numpy(_dense_operator(R, 4))
        assert torch.allclose(LDR.displacement(W, L, R), Lm @ W - W @ Rm, atol=1e-14)
        assert torch.allclose(LDR.displacement(W, L, R, "stein"), W - Lm @ W @ Rm, atol=1e-14)
        assert torch.allclose(LDR.operator_matrix(L, 6, torch.complex128), Lm)


@pytest.mark.parametrize("n", [1, 6, 64])
def test_from_dense_recovers_classical_matrices(n, gen):
    c, r = random_tensor((n,), torch.float64, gen), random_tensor((n,), torch.float64, gen)
    r[0] = c[0]
    T = Toeplitz(c, r).to_dense().detach()
    M = LDR.from_dense(T, ("Zf", 1.0), ("Zf", -1.0))
    assert M.rank <= 2 and _rel(M.to_dense(), T) <= 1e-12
    Hk = Hankel(c, torch.cat([c[-1:], r[1:]])).to_dense().detach()
    M = LDR.from_dense(Hk, ("Zf", 1.0), ("Zft", -1.0))
    assert M.rank <= 2 and _rel(M.to_dense(), Hk) <= 1e-12
    a = torch.linspace(0.6, 1.3, n, dtype=torch.float64)
    V = torch.from_numpy(np.vander(a.numpy(), n, increasing=True))
    # Stein (D_a, Z): generators 1 and e_0, kernel a_i^j — accurate at every n. Sylvester
    # (D_a, Zᵀ): generator a^n spans 0.6^64 ≈ 6e-15 … 1.3^64 ≈ 2e7, so the SVD returns the small
    # entries with absolute (not relative) accuracy and the kernel a^{-1-j} amplifies that error:
    # only ~1e-7 at n = 64 (the representation's conditioning, documented in vandermonde_like).
    for L, R, form, tol in [(("D", a), "Zt", "sylvester", 1e-11 if n <= 8 else 1e-6), (("D", a), "Z", "stein", 1e-11)]:
        M = LDR.from_dense(V, L, R, form)
        assert M.rank == 1 and _rel(M.to_dense(), V) <= tol
    # a random LDR of rank 3 comes back with rank 3; rank=1 gives the best rank-1 displacement
    if n >= 6:
        s = _diag(n, torch.complex128, gen)
        A = LDR(random_tensor((n, 3), torch.complex128, gen), random_tensor((n, 3), torch.complex128, gen),
                s, ("Zf", 1j), "stein")
        W = A.to_dense().detach()
        B = LDR.from_dense(W, s, ("Zf", 1j), "stein")
        assert B.rank == 3 and _rel(B.to_dense(), W) <= 1e-11
        E = LDR.displacement(W, s, ("Zf", 1j), "stein")
        sv = torch.linalg.svdvals(E)
        B1 = LDR.from_dense(W, s, ("Zf", 1j), "stein", rank=1)
        E1 = LDR.displacement(B1.to_dense().detach(), s, ("Zf", 1j), "stein")
        assert abs(float((E1 - E).norm()) - float(sv[1:].norm())) <= 1e-10 * float(sv[0])


def test_presets_reproduce_the_classical_matrices(gen):
    n = 12
    a = torch.linspace(-1.4, 1.4, n + 1, dtype=torch.float64)[torch.arange(n + 1) != n // 2][:n]
    V = torch.from_numpy(np.vander(a.numpy(), n, increasing=True))
    e_last, e_first = torch.zeros(n, 1, dtype=torch.float64), torch.zeros(n, 1, dtype=torch.float64)
    e_last[-1], e_first[0] = 1, 1
    assert _rel(LDR.vandermonde_like(a[:, None] ** n, e_last, a).to_dense(), V) <= 1e-12
    assert _rel(LDR.vandermonde_like(torch.ones(n, 1, dtype=torch.float64), e_first, a, form="stein").to_dense(), V) <= 1e-12
    s, t = torch.randn(n, dtype=torch.float64, generator=gen), torch.randn(n + 1, dtype=torch.float64, generator=gen) + 9
    C = LDR.cauchy_like(torch.ones(n, 1), torch.ones(n + 1, 1), s, t, dtype=torch.float64)
    assert _rel(C.to_dense(), 1 / (s[:, None] - t[None, :])) <= 1e-13
    T = LDR.toeplitz_like(random_tensor((n, 2), torch.float64, gen), random_tensor((n, 2), torch.float64, gen))
    assert T.L == ("Zf", 1.0) and T.R == ("Zf", -1.0) and T.rank == 2
    assert _np_rank(LDR.displacement(T.to_dense().detach(), ("Zf", 1.0), ("Zf", -1.0))) == 2
    Hl = LDR.hankel_like(random_tensor((n, 2), torch.float64, gen), random_tensor((n, 2), torch.float64, gen))
    assert Hl.L == ("Zf", 1.0) and Hl.R == ("Zft", -1.0) and Hl.form == "sylvester"


def test_singular_operators_raise():
    G, H = torch.randn(4, 1, dtype=torch.float64), torch.randn(4, 1, dtype=torch.float64)
    with pytest.raises(ValueError, match="singular"):
        LDR(G, H, "Z", "Zt")  # both nilpotent: eigenvalue 0 shared
    with pytest.raises(ValueError, match="singular"):
        LDR(G, H, ("Zf", 1.0), ("Zft", 1.0))
    with pytest.raises(ValueError, match="singular.*= 1"):
        LDR(G, H, ("Zf", 2.0), ("Zft", 0.5), form="stein")
    with pytest.raises(ValueError, match="share an eigenvalue"):
        LDR(G, H, ("D", torch.tensor([3.0, 0.0, 1.0, 2.0])), "Zt")  # node 0 vs Zᵀ's eigenvalue 0
    with pytest.raises(ValueError, match="share an eigenvalue"):
        LDR(G, H, ("Zf", 1.0), ("D", torch.tensor([3.0, 0.5, 1j, 2.0])))  # 1j is a 4th root of 1
    with pytest.raises(ValueError, match=r"λ_2\(L\) = .* and μ_1\(R\)"):
        LDR.cauchy_like(G, H, torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([9.0, 3.0, 8.0, 7.0]))
    with pytest.raises(ValueError, match="stein displacement operator is singular"):
        LDR(G, H, ("D", torch.tensor([1.0, 2.0, 3.0, 4.0])), ("D", torch.tensor([9.0, 0.25, 8.0, 7.0])), form="stein")
    with pytest.raises(ValueError, match="stein displacement operator is singular"):
        LDR(G, H, ("D", torch.tensor([1.0, 2.0, 3.0, 4.0])), ("Zf", 0.5**4), form="stein")  # 2 · 0.5 = 1
    # nearby but distinct spectra are accepted
    LDR(G, H, ("D", torch.tensor([3.0, 1e-6, 1.0, 2.0])), "Zt")
    LDR(G, H, ("Zf", 1.0), ("Zft", 1.0 + 1e-9))


def test_bad_input():
    G, H = torch.randn(4, 2, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    d4, d5 = ("D", torch.arange(1.0, 5.0)), ("D", torch.arange(10.0, 15.0))
    with pytest.raises(ValueError, match="G: expected a 2-d"):
        LDR(torch.randn(4), H, d4, d5)
    with pytest.raises(ValueError, match="H: expected 2 columns"):
        LDR(G, torch.randn(5, 3), d4, d5)
    with pytest.raises(ValueError, match="L: expected a diagonal of length 4"):
        LDR(G, H, d5, d5)
    with pytest.raises(ValueError, match="R: unknown operator 'Y'"):
        LDR(G, H, d4, "Y")
    with pytest.raises(ValueError, match="L: unknown operator tag 'Q'"):
        LDR(G, H, ("Q", 1.0), d5)
    with pytest.raises(TypeError, match="R: expected an operator spec"):
        LDR(G, H, d4, 3.0)
    with pytest.raises(ValueError, match="L: expected a finite f"):
        LDR(G, H, ("Zf", float("nan")), d5)
    with pytest.raises(TypeError, match="L: expected a real or complex number f"):
        LDR(G, H, ("Zf", "one"), d5)
    with pytest.raises(ValueError, match="form: expected 'sylvester' or 'stein'"):
        LDR(G, H, d4, d5, form="lyapunov")
    with pytest.raises(TypeError, match="G: expected a floating-point"):
        LDR(torch.ones(4, 2, dtype=torch.int64), H, d4, d5)
    with pytest.raises(ValueError, match="H: expected finite"):
        LDR(G, torch.full((5, 2), float("nan")), d4, d5)
    with pytest.raises(ValueError, match="R: expected finite"):
        LDR(G, H, d4, ("D", torch.tensor([1.0, 2, 3, 4, float("inf")])))
    with pytest.raises(TypeError, match="dtype: operators with complex f need a complex dtype"):
        LDR(G, H, ("Zf", 1j), d5, dtype=torch.float64)
    with pytest.raises(ValueError, match="G: expected a non-empty"):
        LDR(torch.ones(0, 2), H, "Z", d5)
    with pytest.raises(ValueError, match="rank: expected a positive integer"):
        LDR.from_dense(torch.eye(4, dtype=torch.float64), ("Zf", 1.0), ("Zf", -1.0), rank=0)
    with pytest.raises(ValueError, match="M: expected a 2-d"):
        LDR.from_dense(torch.ones(4, dtype=torch.float64), ("Zf", 1.0), ("Zf", -1.0))


def test_specs_are_canonical_and_serialisable(gen, tmp_path):
    G, H = random_tensor((5, 2), torch.float64, gen), random_tensor((5, 2), torch.float64, gen)
    M = LDR(G, H, ("Zf", 0), np.linspace(1, 2, 5) + 3, form="Stein")
    assert M.L == "Zt" and M.R[0] == "D" and M.form == "stein" and M.dtype == torch.float64
    assert LDR(G, H, ("Zft", 0.0), ("Zf", 2)).L == "Z"
    path = tmp_path / "ldr.kmx"
    kmatrix.save(M, path)
    M2 = kmatrix.load(path)
    assert M2.L == "Zt" and torch.equal(M2.R_diag, M.R_diag) and torch.equal(M2.to_dense(), M.to_dense())
    assert "form=stein" in repr(M) and "rank=2" in repr(M)


def test_num_params_and_flops():
    n, r = 64, 3
    G, H = torch.randn(n, r, dtype=torch.float64), torch.randn(n, r, dtype=torch.float64)
    M = LDR.toeplitz_like(G, H)
    assert M.num_params == r * 2 * n and M.num_real_params == 2 * r * n
    N = fast_len(2 * n - 1)
    F, P, Ns = fft_flops(N, True), pointwise_flops(N, True), N // 2 + 1
    right = (2 * r + 1) * F + r * P + r * (n - 1) * 2
    middle = r * n
    left = (2 * r + 1) * F + r * P + (r - 1) * Ns + (n - 1) * 2
    assert M.flops == round(right + middle + left)
    Mc = LDR.toeplitz_like(G.to(torch.complex128), H)
    assert Mc.num_params == 2 * r * n and Mc.num_real_params == 4 * r * n
    # two shifts: O(r n log n); a diagonal operator: O(r m n)
    big = LDR.toeplitz_like(torch.randn(4 * n, r), torch.randn(4 * n, r))
    assert big.flops < 6 * M.flops
    s, t = torch.arange(1.0, n + 1), torch.arange(1.0, n + 1) + 0.5
    C = LDR.cauchy_like(torch.randn(n, r), torch.randn(n, r), s, t)
    assert C.flops == r * n + r * (n * n + n * (n - 1)) + r * n + (r - 1) * n


def test_add_rule_and_scaling(gen):
    s = _diag(6, torch.float64, gen)
    A = LDR(random_tensor((6, 2), torch.float64, gen), random_tensor((5, 2), torch.float64, gen), s, "Z")
    B = LDR(random_tensor((6, 1), torch.float64, gen), random_tensor((5, 1), torch.float64, gen), s, "Z")
    S = merge(A + B)
    assert isinstance(S, LDR) and S.rank == 3
    assert _rel(S.to_dense(), A.to_dense().detach() + B.to_dense().detach()) <= 1e-13
    other = LDR(random_tensor((6, 1), torch.float64, gen), random_tensor((5, 1), torch.float64, gen), s, "Zt")
    assert not isinstance(merge(A + other), LDR)  # different operators: generic Sum
    assert isinstance(merge(2.5 * A), LDR) and _rel(merge(2.5 * A).to_dense(), 2.5 * A.to_dense().detach()) <= 1e-14


def test_large_toeplitz_like_product_accuracy(gen):
    """n = 2048: the O(r n log n) product of the generators recovered from a Toeplitz matrix
    agrees with the Toeplitz FFT product (normwise 1e-12: both are FFT-based, errors ~1e-15)."""
    n = 2048
    c, r = random_tensor((n,), torch.float64, gen), random_tensor((n,), torch.float64, gen)
    r[0] = c[0]
    T = Toeplitz(c, r)
    # generators of T for (Z_1, Z_{-1}) in closed form: Z_1 T − T Z_{−1} is zero except the first
    # row and the last column, so it is e_0 u0ᵀ + v e_{n-1}ᵀ with u0, v read off the residual
    E = LDR.displacement(T.to_dense().detach(), ("Zf", 1.0), ("Zf", -1.0))
    G = torch.stack([torch.eye(n, dtype=torch.float64)[0], E[:, -1]], dim=1)
    row = E[0].clone()
    row[-1] = 0
    H = torch.stack([row, torch.eye(n, dtype=torch.float64)[-1]], dim=1)
    M = LDR.toeplitz_like(G, H)
    x = random_tensor((4, n), torch.float64, gen)
    with torch.no_grad():
        y, y_ref = M(x), T(x)
    assert float((y - y_ref).norm() / (T.to_dense().detach().norm() * x.norm())) <= 1e-12
