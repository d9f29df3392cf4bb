"""Butterfly (survey Definitions 5.1–5.3): dense reconstruction against an explicit product of
the factor matrices B_k^(N) built in float64/complex128 from the definitions (independent of the
kernel), the recursive form of Definition 5.3, native transposes, stacking, initialisations,
counts and bad input.

Tolerances: products are compared normwise, ‖ŷ − y‖ / (‖W‖_F ‖x‖); a product of log2 N stages of
2×2 blocks has error ≲ log2 N · ε per entry, so 1e-12 in float64 (ε = 1.1e-16, log2 N ≤ 12,
margin ~100) and 2e-5 in float32.
"""

import numpy as np
import pytest
import torch

import kmatrix
from kmatrix import Butterfly, merge
from kmatrix.families import butterfly as butterfly_module
from kmatrix.testing.battery import normwise_error, random_tensor
from kmatrix.testing.zoo.butterfly import (
    apply_stages_reference,
    butterfly_factor_reference,
    butterfly_reference,
)

WIDE = torch.complex128


def _ref(B):
    tw = B.twiddle.detach()
    return butterfly_reference(tw, B.increasing_stride)[: B.out_size, : B.in_size]


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("increasing", [True, False])
@pytest.mark.parametrize("shape", [(8, 8), (16, 16), (5, 7), (13, 3), (1, 1), (2, 9)])
def test_dense_matches_factor_product(shape, increasing, dtype, gen):
    in_size, out_size = shape
    B = Butterfly(in_size, out_size, increasing_stride=increasing, dtype=dtype, generator=gen)
    ref = _ref(B)
    n = B.size
    assert n == max(2, 1 << (max(shape) - 1).bit_length())
    assert B.shape == (out_size, in_size) and B.twiddle.shape == (B.levels, n // 2, 2, 2)
    dense = B.to_dense().detach().to(WIDE)
    assert (dense - ref).norm() <= 1e-12 * ref.norm()
    x = random_tensor((3, in_size), dtype, gen)
    assert normwise_error(B(x), x.to(WIDE) @ ref.T, ref, x) <= 1e-12


def test_factor_reference_is_definition_5_2():
    """B_4^(8) from pair-indexed twiddles: block-diagonal with 2 factors [[D1, D2], [D3, D4]]."""
    t = torch.arange(16 * 1.0).reshape(4, 2, 2)
    M = butterfly_factor_reference(t, 4)
    # factor 0 uses pairs 0, 1 (rows/cols 0..3); pair 1 acts on (x_1, x_3)
    assert M[1, 1] == t[1, 0, 0] and M[1, 3] == t[1, 0, 1] and M[3, 1] == t[1, 1, 0] and M[3, 3] == t[1, 1, 1]
    # factor 1 uses pairs 2, 3 (rows/cols 4..7); pair 2 acts on (x_4, x_6)
    assert M[4, 4] == t[2, 0, 0] and M[4, 6] == t[2, 0, 1] and M[6, 4] == t[2, 1, 0]
    assert M[0:4, 4:8].abs().sum() == 0 and M[0, 1] == 0


@pytest.mark.parametrize("n", [4, 16, 64])
def test_recursive_form_of_definition_5_3(n, gen):
    """B^(N) = B_N^(N) · diag(B_1^(N/2), B_2^(N/2)): the first L − 1 stages restricted to the
    top / bottom half are two independent butterflies of size N/2."""
    B = Butterfly(n, dtype=torch.float64, generator=gen)
    tw = B.twiddle.detach()
    quarter = n // 4
    top = Butterfly(n // 2, init=tw[:-1, :quarter], dtype=torch.float64)
    bottom = Butterfly(n // 2, init=tw[:-1, quarter:], dtype=torch.float64)
    outer = butterfly_factor_reference(tw[-1], n)
    expected = outer @ torch.block_diag(top.to_dense(), bottom.to_dense()).detach().to(WIDE)
    assert (B.to_dense().detach().to(WIDE) - expected).norm() <= 1e-12 * expected.norm()


@pytest.mark.parametrize("n", [1024, 4096])
@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_large_sizes_against_sparse_factors(n, dtype, gen):
    for increasing in (True, False):
        B = Butterfly(n, n - 3, increasing_stride=increasing, dtype=dtype, generator=gen)
        x = random_tensor((4, n), dtype, gen)
        tw = B.twiddle.detach().numpy()
        y_ref = apply_stages_reference(tw, x.numpy().T, increasing)[: n - 3].T
        y = B(x).detach().numpy()
        assert np.linalg.norm(y - y_ref) <= 1e-12 * np.linalg.norm(y_ref)


def test_transpose_is_reversed_decreasing_butterfly(gen):
    """Bᵀ (increasing) = the decreasing-stride butterfly with stages reversed and blocks
    transposed; Bᴴ additionally conjugated. Both share θ."""
    B = Butterfly(16, 11, dtype=torch.complex128, generator=gen)
    tw = B.twiddle.detach()
    BT = Butterfly(11, 16, increasing_stride=False, init=tw.flip(0).transpose(-1, -2))
    BH = Butterfly(11, 16, increasing_stride=False, init=tw.flip(0).transpose(-1, -2).conj())
    D = B.to_dense().detach()
    assert torch.allclose(BT.to_dense().detach(), D.T, atol=1e-13)
    assert torch.allclose(BH.to_dense().detach(), D.conj().T, atol=1e-13)
    assert torch.allclose(B.T.to_dense().detach(), D.T, atol=1e-13)
    assert torch.allclose(B.H.to_dense().detach(), D.conj().T, atol=1e-13)
    assert any(p is B.twiddle for p in B.T.parameters())


def test_transpose_calls_kernel_with_reversed_stages(monkeypatch, gen):
    """.T runs the butterfly kernel itself (stages reversed, stride order flipped), not
    autograd through the forward."""
    calls = []
    real = butterfly_module.butterfly_multiply

    def spy(tw, x, increasing):
        calls.append((tw.detach().clone(), increasing))
        return real(tw, x, increasing)

    monkeypatch.setattr(butterfly_module, "butterfly_multiply", spy)
    B = Butterfly(8, dtype=torch.float64, generator=gen)
    y = torch.randn(2, 8, dtype=torch.float64, generator=gen)
    with torch.no_grad():
        B.T(y)
    assert len(calls) == 1
    tw, increasing = calls[0]
    assert increasing is False
    assert torch.equal(tw[0], B.twiddle.detach().flip(0).transpose(-1, -2))


def test_gradient_of_transpose_reaches_twiddle(gen):
    B = Butterfly(8, 6, dtype=torch.float64, generator=gen)
    y = torch.randn(3, 6, dtype=torch.float64, generator=gen)
    w = torch.randn(3, 8, dtype=torch.float64, generator=gen)
    (B.T(y) * w).sum().backward()
    g = B.twiddle.grad.clone()
    # same gradient from the dense formula: d/dθ Σ w ⊙ (yᵀ-products) = d/dθ Σ y ⊙ (W w)
    B.twiddle.grad = None
    (B(w) * y).sum().backward()
    assert torch.allclose(g, B.twiddle.grad, atol=1e-12)


def test_stacked(gen):
    S, n_in, n_out = 3, 6, 5
    B = Butterfly(n_in, n_out, nstack=S, dtype=torch.float64, generator=gen)
    assert B.twiddle.shape == (S, 3, 4, 2, 2) and B.shape == (S * n_out, S * n_in)
    x = torch.randn(4, 2, S, n_in, dtype=torch.float64, generator=gen)
    y = B.forward_stacked(x)
    assert y.shape == (4, 2, S, n_out)
    for s in range(S):
        single = Butterfly(n_in, n_out, init=B.twiddle.detach()[s])
        assert torch.allclose(y[..., s, :], single(x[..., s, :]), atol=1e-13)
    assert torch.allclose(B(x.flatten(-2)), y.flatten(-2))
    assert B.num_params == S * 2 * 8 * 3 and B.flops == S * 3 * 3 * 8
    with pytest.raises(ValueError, match="x: expected shape"):
        B.forward_stacked(torch.randn(2, S + 1, n_in))


@pytest.mark.parametrize("n", [2, 8, 100, 1024])
def test_counts(n):
    B = Butterfly(n)
    N = B.size
    L = int(np.log2(N))
    assert B.num_params == 2 * N * L  # N/2 blocks × 4 entries × log2 N stages
    assert B.flops == L * 3 * N  # per stage N/2 × (4 mul + 2 add)
    Bc = Butterfly(n, dtype=torch.complex64)
    assert Bc.num_params == 2 * N * L and Bc.num_real_params == 4 * N * L
    assert Bc.flops == L * 14 * N  # per block 4 complex mul (6) + 2 complex add (2) = 28


def test_inits(gen):
    n = 32
    I = Butterfly(n, 20, init="identity", dtype=torch.float64)
    assert torch.equal(I.to_dense().detach(), torch.eye(n, dtype=torch.float64)[:20])
    Q = Butterfly(n, init="orthogonal", dtype=torch.float64, generator=gen).to_dense().detach()
    assert torch.allclose(Q.T @ Q, torch.eye(n, dtype=torch.float64), atol=1e-13)
    t = Butterfly(n, init="orthogonal", dtype=torch.float64, generator=gen).twiddle.detach()
    assert torch.allclose(torch.linalg.det(t), torch.ones((), dtype=torch.float64))  # rotations
    U = Butterfly(n, init="unitary", dtype=torch.complex128, generator=gen).to_dense().detach()
    assert torch.allclose(U.conj().T @ U, torch.eye(n, dtype=torch.complex128), atol=1e-13)


def test_random_init_preserves_variance():
    """E‖Bx‖² = ‖x‖² for square B (each block's columns are unit vectors); for a corner the
    per-coordinate variance is kept: E|y_i|² = E|x_j|². Averaged over 40 matrices the ratio is
    within 15% of 1 (its standard deviation over matrices is ~0.1 at n = 256)."""
    g = torch.Generator().manual_seed(1)
    for shape in [(256, 256), (200, 100)]:
        x = torch.randn(64, shape[0], dtype=torch.float64, generator=g)
        ratios = []
        for _ in range(40):
            B = Butterfly(*shape, dtype=torch.float64, generator=g)
            with torch.no_grad():
                ratios.append(float(B(x).pow(2).mean() / x.pow(2).mean()))
        assert abs(np.mean(ratios) - 1) < 0.15, np.mean(ratios)


def test_explicit_twiddles_kept_exactly():
    # 0/1 switches: every block a swap -> each stage flips one index bit -> the reversal i -> N-1-i
    n = 16
    swap = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64).expand(4, 8, 2, 2).clone()
    B = Butterfly(n, init=swap)
    assert B.dtype == torch.float64 and torch.equal(B.twiddle.detach(), swap)
    assert torch.equal(B.to_dense().detach(), torch.eye(n, dtype=torch.float64).flip(0))
    tw = torch.randn(4, 8, 2, 2, dtype=torch.complex128)
    Bc = Butterfly(n, init=tw)
    assert Bc.dtype == torch.complex128 and torch.equal(Bc.twiddle.detach(), tw)
    Bs = Butterfly(n, init=tw, dtype=torch.complex64)
    assert Bs.dtype == torch.complex64
    # settable in place
    with torch.no_grad():
        B.twiddle.copy_(torch.eye(2, dtype=torch.float64).expand(4, 8, 2, 2))
    assert torch.equal(B.to_dense().detach(), torch.eye(n, dtype=torch.float64))


def test_scale_and_complex_input(gen):
    B = Butterfly(8, 6, dtype=torch.float64, generator=gen)
    C = merge(2.5 * B)
    assert isinstance(C, Butterfly)
    assert torch.allclose(C.to_dense(), 2.5 * B.to_dense())
    Cc = merge((1 + 2j) * B)
    assert Cc.is_complex and isinstance(Cc, Butterfly) and torch.allclose(Cc.to_dense(), (1 + 2j) * B.to_dense().to(torch.complex128))
    z = random_tensor((3, 8), torch.complex128, gen)
    assert torch.allclose(B(z), z @ B.to_dense().detach().T.to(torch.complex128), atol=1e-13)


def test_bad_input():
    with pytest.raises(ValueError, match="in_size"):
        Butterfly(0)
    with pytest.raises(ValueError, match="in_size"):
        Butterfly(-4)
    with pytest.raises(TypeError, match="in_size"):
        Butterfly(4.0)
    with pytest.raises(ValueError, match="out_size"):
        Butterfly(4, 0)
    with pytest.raises(ValueError, match="nstack"):
        Butterfly(4, nstack=0)
    with pytest.raises(TypeError, match="increasing_stride"):
        Butterfly(4, increasing_stride="yes")
    with pytest.raises(ValueError, match="init: expected one of"):
        Butterfly(4, init="gaussian")
    with pytest.raises(ValueError, match=r"init: expected a twiddle tensor of shape \(2, 2, 2, 2\)"):
        Butterfly(4, init=torch.randn(3, 2, 2, 2))
    with pytest.raises(ValueError, match=r"shape \(2, 2, 2, 2, 2\)"):
        Butterfly(4, nstack=2, init=torch.randn(2, 2, 2, 2))
    with pytest.raises(ValueError, match="init: expected finite"):
        Butterfly(4, init=torch.full((2, 2, 2, 2), float("nan")))
    with pytest.raises(TypeError, match="dtype"):
        Butterfly(4, dtype=torch.int64)
    with pytest.raises(TypeError, match="init: complex values"):
        Butterfly(4, init=torch.randn(2, 2, 2, 2, dtype=torch.complex64), dtype=torch.float32)


def test_exported():
    assert kmatrix.Butterfly is Butterfly
