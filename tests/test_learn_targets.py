"""kmatrix.learn targets, families and recover (small, fast cases; the n = 256 recoveries are
in the slow tests). Targets are checked against formulas written out here, independently of
the scipy / torch calls that build them; tolerances 1e-12 (float64 rounding of O(n) sums)."""

import math

import numpy as np
import pytest
import torch

import kmatrix
from kmatrix.learn import FAMILIES, make_family, make_target, recover

N = 8


def _explicit(name, n):
    j = np.arange(n)
    jk = np.outer(j, j)
    if name == "dft":
        return np.exp(-2j * np.pi * jk / n) / math.sqrt(n)
    if name == "idft":
        return np.exp(2j * np.pi * jk / n) / math.sqrt(n)
    if name == "dct":
        f = np.where(j == 0, math.sqrt(1 / (4 * n)), math.sqrt(1 / (2 * n)))
        return 2 * f[:, None] * np.cos(np.pi * j[:, None] * (2 * j[None, :] + 1) / (2 * n))
    if name == "dst":
        f = np.where(j == n - 1, math.sqrt(1 / (4 * n)), math.sqrt(1 / (2 * n)))
        return 2 * f[:, None] * np.sin(np.pi * (j[:, None] + 1) * (2 * j[None, :] + 1) / (2 * n))
    if name == "hadamard":
        return np.array([[(-1) ** int(a & b).bit_count() for b in j] for a in j]) / math.sqrt(n)
    if name == "hartley":
        a = 2 * np.pi * jk / n
        return (np.cos(a) + np.sin(a)) / math.sqrt(n)
    raise KeyError(name)


@pytest.mark.parametrize("name", ["dft", "idft", "dct", "dst", "hadamard", "hartley"])
def test_transform_targets_match_their_formulas(name):
    T = make_target(name, N).numpy()
    np.testing.assert_allclose(T, _explicit(name, N), rtol=0, atol=1e-12)
    np.testing.assert_allclose(T.conj().T @ T, np.eye(N), atol=1e-12)  # all orthonormal/unitary


def test_random_and_structured_targets(gen):
    n = 16
    P = make_target("permutation", n, gen)
    assert torch.equal(P.sum(0), torch.ones(n, dtype=P.dtype)) and torch.equal(P.sum(1), torch.ones(n, dtype=P.dtype))
    C = make_target("convolution", n, gen)
    c = C[:, 0]
    for i in range(n):  # circulant: C[i, j] = c[(i − j) mod n]
        for k in range(n):
            assert C[i, k] == c[(i - k) % n]
    assert float(c.norm()) == pytest.approx(1.0)
    Tz = make_target("toeplitz", n, gen)
    assert all(torch.allclose(torch.diagonal(Tz, d), torch.diagonal(Tz, d)[0].expand(n - abs(d))) for d in range(-n + 1, n))
    R = make_target("lowrank", n, gen)
    assert int(torch.linalg.matrix_rank(R)) == int(math.log2(n))
    Lg = make_target("legendre", n, gen)
    torch.testing.assert_close(Lg @ Lg.T, torch.eye(n, dtype=torch.float64), rtol=0, atol=1e-12)
    # row i is √w_j p̃_i(x_j): row 1 ∝ √w_j x_j with p̃_1 = √(3/2) x
    x, w = np.polynomial.legendre.leggauss(n)
    np.testing.assert_allclose(Lg[1].numpy(), np.sqrt(w) * np.sqrt(1.5) * x, atol=1e-12)
    assert make_target("randn", n, gen).shape == (n, n)


def test_target_bad_input():
    with pytest.raises(ValueError, match="target: expected one of"):
        make_target("fourier", 8)
    with pytest.raises(ValueError, match="n: the hadamard target needs a power of two"):
        make_target("hadamard", 12)
    with pytest.raises(ValueError, match="n: expected an integer"):
        make_target("dft", 1)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_families_respect_budgets(name, gen):
    n = 16
    default = make_family(name, n, generator=gen)
    assert isinstance(default, kmatrix.StructuredMatrix) and default.shape == (n, n)
    for budget in (2 * n * 4, 4 * n * 4, n * n):
        M = make_family(name, n, budget=budget, generator=gen)
        if M is not None:
            assert M.num_params <= budget, (name, budget, M.num_params)
            assert M.shape == (n, n) and torch.isfinite(M.to_dense()).all()
    Mc = make_family(name, n, budget=n * n, dtype=torch.complex128, generator=gen)
    assert Mc is None or (Mc.is_complex and Mc.num_params <= n * n)


def test_family_bad_input(gen):
    with pytest.raises(ValueError, match="family: expected one of"):
        make_family("monarch2", 8)
    with pytest.raises(ValueError, match="width: only the kmatrix family"):
        make_family("dense", 8, width=2)
    with pytest.raises(ValueError, match="budget: expected a positive integer"):
        make_family("dense", 8, budget=0)
    with pytest.raises(ValueError, match="budget: 3 parameters are too few for the dense family"):
        recover("dft", "dense", 8, budget=3, restarts=1)
    with pytest.raises(ValueError, match="the dft target is complex"):
        recover("dft", "kmatrix", 8, complex_family=False, restarts=1)
    with pytest.raises(ValueError, match="target: expected one of"):
        recover("fft", "kmatrix", 8)


def test_unitary_init_twiddles_are_contiguous(gen):
    K = kmatrix.KMatrix(8, init="unitary", dtype=torch.complex128, generator=gen)
    B = kmatrix.Butterfly(8, init="unitary", dtype=torch.complex128, generator=gen)
    assert K.twiddle.is_contiguous() and B.twiddle.is_contiguous()  # torch's L-BFGS views grads


def test_recover_dft_small():
    """The unitary-phase recipe finds the 8-point DFT in a width-1 complex K-matrix."""
    r = recover("dft", "kmatrix", 8, width=1, restarts=4, progress=False, init="random")
    assert r.error <= 1e-9, r.errors
    assert r.model.width == 1 and r.model.is_complex
    assert r.samples == 16  # max(16, min(n, ⌈2·(real params)/(2n)⌉)) for complex samples
    torch.testing.assert_close(r.model.to_dense().detach(), make_target("dft", 8), rtol=0, atol=1e-8)


def test_recover_convex_family_and_realpart():
    r = recover("toeplitz", "toeplitz", 16, restarts=1, progress=False)
    assert r.error <= 1e-9
    r2 = recover("dct", "dense", 8, real_part=True, restarts=1, progress=False)
    assert r2.error <= 1e-7 and isinstance(r2.model, kmatrix.RealPart)
