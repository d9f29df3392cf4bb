"""Monarch: the block structure of the definition, counts, bad input. (Products, transposes,
gradients and save/load against the explicit P L Pᵀ R reference are in the shared battery.)"""

import pytest
import torch

import kmatrix
from kmatrix.testing.zoo.monarch import monarch_reference


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("n,m,k,r", [(16, 16, 4, 1), (10, 7, 3, 1), (12, 20, 4, 2)])
def test_blocks_have_rank_r(n, m, k, r, dtype, gen):
    """Every l×p block (rows a·k + c, columns i·p + j) of the padded matrix has rank ≤ r and
    equals Σ_ρ L[c, :, i·r + ρ] ⊗ R[i, c·r + ρ, :] (the entry formula of the module docstring)."""
    M = kmatrix.Monarch(n, m, nblocks=k, rank=r, dtype=dtype, generator=gen)
    p, l = M.in_block, M.out_block
    full = kmatrix.Monarch(k * p, k * l, nblocks=k, rank=r, init=(M.L, M.R)).to_dense().detach()
    assert torch.allclose(full[:m, :n], M.to_dense().detach())
    for c in range(k):
        for i in range(k):
            block = full[c::k, i * p:(i + 1) * p]
            expect = M.L.detach()[c, :, i * r:(i + 1) * r] @ M.R.detach()[i, c * r:(c + 1) * r, :]
            torch.testing.assert_close(block, expect, rtol=1e-12, atol=1e-12)
            assert torch.linalg.matrix_rank(block) <= r


def test_default_blocks_square(gen):
    M = kmatrix.Monarch(64, generator=gen)
    assert M.nblocks == 8 and M.in_block == 8 and M.out_block == 8 and M.padded_shape == (64, 64)
    assert M.num_params == 2 * 64 * 8  # 2 n^{3/2}
    assert kmatrix.Monarch(10).nblocks == 2  # divisor of 10 closest to √10 ≈ 3.2
    assert kmatrix.Monarch(32).nblocks == 4 and kmatrix.Monarch(32, 48).nblocks == 8
    assert kmatrix.Monarch(7).nblocks == 3  # no divisor near √7: ⌈√7⌉, padded to 9
    assert kmatrix.Monarch(7).padded_shape == (9, 9)


@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64])
def test_counts(dtype, gen):
    M = kmatrix.Monarch(30, 17, nblocks=4, rank=3, dtype=dtype, generator=gen)
    k, r, p, l = 4, 3, 8, 5
    assert M.num_params == k * r * k * p + k * l * k * r
    if dtype.is_complex:
        assert M.flops == k * k * r * (8 * p - 2) + k * l * (8 * k * r - 2)
    else:
        assert M.flops == k * k * r * (2 * p - 1) + k * l * (2 * k * r - 1)


def test_explicit_factors_kept_exactly(gen):
    L = torch.randn(3, 2, 3, dtype=torch.float64, generator=gen)
    R = torch.randn(3, 3, 3, dtype=torch.float64, generator=gen)
    M = kmatrix.Monarch(9, 6, nblocks=3, init=(L, R))
    assert M.dtype == torch.float64 and torch.equal(M.L.detach(), L) and torch.equal(M.R.detach(), R)
    ref = monarch_reference(M)
    torch.testing.assert_close(M.to_dense().to(torch.complex128), ref, rtol=0, atol=1e-13)


def test_complex_scalar_promotes(gen):
    M = kmatrix.Monarch(9, dtype=torch.float64, generator=gen)
    S = kmatrix.merge(1j * M)  # the operator shares θ; merge makes the complex Monarch
    assert isinstance(S, kmatrix.Monarch) and S.is_complex and isinstance(1j * M, kmatrix.Scaled)
    torch.testing.assert_close(S.to_dense(), 1j * M.to_dense().detach().to(torch.complex128))


def test_bad_input(gen):
    with pytest.raises(ValueError, match="in_size"):
        kmatrix.Monarch(0)
    with pytest.raises(TypeError, match="out_size"):
        kmatrix.Monarch(4, 2.5)
    with pytest.raises(ValueError, match="nblocks"):
        kmatrix.Monarch(4, nblocks=5)
    with pytest.raises(ValueError, match="rank"):
        kmatrix.Monarch(4, rank=0)
    with pytest.raises(ValueError, match="init"):
        kmatrix.Monarch(4, init="identity")
    with pytest.raises(ValueError, match=r"init\[0\]"):
        kmatrix.Monarch(4, nblocks=2, init=(torch.zeros(2, 2, 3), torch.zeros(2, 2, 2)))
    with pytest.raises(ValueError, match=r"init\[1\]"):
        kmatrix.Monarch(4, nblocks=2, init=(torch.zeros(2, 2, 2), torch.zeros(2, 2, 3)))
    with pytest.raises(ValueError, match="finite"):
        kmatrix.Monarch(4, nblocks=2, init=(torch.full((2, 2, 2), float("nan")), torch.zeros(2, 2, 2)))
    with pytest.raises(TypeError, match="init"):
        kmatrix.Monarch(4, init=torch.zeros(3))
    M = kmatrix.Monarch(4, generator=gen)
    with pytest.raises(ValueError, match="last dimension 4"):
        M(torch.randn(3, 5))
