"""KMatrix (BB*)^w_e (survey Definition 5.4): dense reconstruction against the explicit product
of factor matrices (Definitions 5.1–5.2, float64/complex128, independent of the kernel), sizes
N = 2^⌈log2(e·max(in, out))⌉, counts, native transposes, KMatrix @ KMatrix, initialisations,
exact twiddles and bad input.

Tolerance 1e-12 normwise in double precision: 2w·log2 N ≤ 48 stages here, each adding ≲ 2ε per
entry, with a margin of ~100.
"""

import numpy as np
import pytest
import torch

import kmatrix
from kmatrix import KMatrix, merge
from kmatrix.core.compose import Product
from kmatrix.families import kaleidoscope as kaleidoscope_module
from kmatrix.testing.battery import normwise_error, random_tensor
from kmatrix.testing.zoo.butterfly import apply_stages_reference, kmatrix_reference

WIDE = torch.complex128


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize(
    "in_size,out_size,width,expansion",
    [(8, 8, 1, 1), (16, 16, 2, 1), (5, 7, 1, 2), (12, 3, 3, 1), (1, 1, 1, 1), (9, 9, 2, 4)],
)
def test_dense_matches_factor_product(in_size, out_size, width, expansion, dtype, gen):
    K = KMatrix(in_size, out_size, width=width, expansion=expansion, dtype=dtype, generator=gen)
    N = max(2, 1 << (expansion * max(in_size, out_size) - 1).bit_length())
    assert K.size == N and K.width == width and K.expansion == expansion
    assert K.twiddle.shape == (width, 2, K.levels, N // 2, 2, 2)
    ref = kmatrix_reference(K)
    assert (K.to_dense().detach().to(WIDE) - ref).norm() <= 1e-12 * ref.norm()
    x = random_tensor((4, in_size), dtype, gen)
    assert normwise_error(K(x), x.to(WIDE) @ ref.T, ref, x) <= 1e-12


@pytest.mark.parametrize("n", [1024, 4096])
def test_large_size_product(n, gen):
    """At n = 4096 (N = 4096, width 2) against applying each BB* factor's reference stages to
    the vectors one at a time (a 4096² dense reference per factor would be too slow)."""
    K = KMatrix(n, n - 5, width=2, dtype=torch.float64, generator=gen)
    x = random_tensor((3, n), torch.float64, gen)
    tw = K.twiddle.detach().numpy()
    v = x.numpy().T
    for i in range(2):
        v = apply_stages_reference(tw[i, 0], v, False)
        v = apply_stages_reference(tw[i, 1], v, True)
    y_ref = v[: n - 5].T
    assert np.linalg.norm(K(x).detach().numpy() - y_ref) <= 1e-12 * np.linalg.norm(y_ref)


@pytest.mark.parametrize("w,n", [(1, 8), (2, 100), (3, 1024)])
def test_counts(w, n):
    K = KMatrix(n, width=w)
    N, L = K.size, K.levels
    assert K.num_params == 4 * w * N * L  # the survey's 4·w·(ne)·log2(ne) with N for ne
    assert K.flops == 2 * w * L * 3 * N
    Kc = KMatrix(n, width=w, dtype=torch.complex128)
    assert Kc.num_params == 4 * w * N * L and Kc.flops == 2 * w * L * 14 * N


def test_transpose_relation(gen):
    """(M_w ⋯ M_1)ᵀ is the K-matrix whose twiddle is flipped along (factor, part, stage) with
    transposed blocks; .T / .H share θ."""
    K = KMatrix(11, 6, width=2, dtype=torch.complex128, generator=gen)
    tw = K.twiddle.detach()
    KT = KMatrix(6, 11, width=2, init=tw.flip((0, 1, 2)).transpose(-1, -2))
    D = K.to_dense().detach()
    assert torch.allclose(KT.to_dense().detach(), D.T, atol=1e-13)
    assert torch.allclose(K.T.to_dense().detach(), D.T, atol=1e-13)
    assert torch.allclose(K.H.to_dense().detach(), D.conj().T, atol=1e-13)
    assert any(p is K.twiddle for p in K.H.parameters())


def test_transpose_runs_kernel_forward_on_reversed_stages(monkeypatch, gen):
    """.T / .H run the fused kernel's forward once on the reversed, (conjugate-)transposed
    stages — the native transpose, not autograd through the forward product."""
    calls = []
    real = kaleidoscope_module.butterfly_multiply

    def spy(tw, x, increasing):
        calls.append((tw.detach().clone(), list(increasing), torch.is_grad_enabled()))
        return real(tw, x, increasing)

    monkeypatch.setattr(kaleidoscope_module, "butterfly_multiply", spy)
    K = KMatrix(8, 6, width=2, dtype=torch.complex128, generator=gen)
    y = torch.randn(3, 6, dtype=torch.complex128, generator=gen)
    D = K.to_dense().detach()
    calls.clear()
    with torch.no_grad():
        outs = {"T": K.T(y), "H": K.H(y)}
    assert len(calls) == 2 and all(inc == [False, True] * 2 for _, inc, _ in calls)
    flipped = K.twiddle.detach().flip((0, 1, 2)).transpose(-1, -2).reshape(4, 1, 3, 4, 2, 2)
    assert torch.equal(calls[0][0], flipped) and torch.equal(calls[1][0], flipped.conj())
    assert torch.allclose(outs["T"], y @ D, atol=1e-12)
    assert torch.allclose(outs["H"], y @ D.conj(), atol=1e-12)


@pytest.mark.parametrize("shapes", [((8, 8), (8, 8)), ((6, 5), (7, 6)), ((3, 5), (6, 3))])
def test_matmul_rule_sums_widths(shapes, gen):
    (ia, oa), (ib, ob) = shapes  # A: oa × ia, B: ob × ib, ia == ob
    A = KMatrix(ia, oa, width=1, dtype=torch.float64, generator=gen)
    B = KMatrix(ib, ob, width=2, dtype=torch.float64, generator=gen)
    assert A.size == B.size
    C = merge(A @ B)
    assert isinstance(C, KMatrix) and C.width == 3 and C.size == A.size and C.shape == (oa, ib)
    ref = A.to_dense().detach() @ B.to_dense().detach()
    assert torch.allclose(C.to_dense().detach(), ref, atol=1e-12)


def test_matmul_rule_dtype_and_fallback(gen):
    A = KMatrix(8, dtype=torch.complex128, generator=gen)
    B = KMatrix(8, dtype=torch.float64, generator=gen)
    C = merge(A @ B)
    assert isinstance(C, KMatrix) and C.dtype == torch.complex128
    assert torch.allclose(C.to_dense().detach(), A.to_dense().detach() @ B.to_dense().detach().to(WIDE), atol=1e-12)
    D = KMatrix(8, expansion=2, dtype=torch.float64, generator=gen)  # N = 16 != 8
    P = merge(B @ D)
    assert isinstance(P, Product)
    assert torch.allclose(P.to_dense().detach(), B.to_dense().detach() @ D.to_dense().detach(), atol=1e-12)


def test_inits(gen):
    n = 16
    I = KMatrix(n, 9, width=2, init="identity", dtype=torch.float64)
    assert torch.equal(I.to_dense().detach(), torch.eye(n, dtype=torch.float64)[:9])
    for dtype in (torch.float64, torch.complex128):
        Q = KMatrix(n, width=3, init="orthogonal", dtype=dtype, generator=gen).to_dense().detach()
        assert torch.allclose(Q.conj().T @ Q, torch.eye(n, dtype=dtype), atol=1e-12)
    # deep products stay stable with orthogonal blocks: norms kept exactly at width 16
    x = torch.randn(5, 64, dtype=torch.float64, generator=gen)
    K = KMatrix(64, width=16, init="orthogonal", dtype=torch.float64, generator=gen)
    assert torch.allclose(K(x).detach().norm(dim=1), x.norm(dim=1), rtol=1e-12)


@pytest.mark.parametrize("width", [1, 2])
def test_random_init_preserves_variance(width):
    """Var(y_i) = Var(x_j) in expectation; averaged over 30 matrices within 20%."""
    g = torch.Generator().manual_seed(2)
    for shape in [(128, 128), (100, 60)]:
        x = torch.randn(64, shape[0], dtype=torch.float64, generator=g)
        ratios = []
        for _ in range(30):
            K = KMatrix(*shape, width=width, dtype=torch.float64, generator=g)
            with torch.no_grad():
                ratios.append(float(K(x).pow(2).mean() / x.pow(2).mean()))
        assert abs(np.mean(ratios) - 1) < 0.2, np.mean(ratios)


def test_explicit_twiddles_exact():
    """Beneš switches: a B* half of swaps at the first stage (stride N/2) and identities
    elsewhere is the permutation i -> i xor N/2, exactly; float64 / complex128 kept bit-exact."""
    n = 8
    tw = torch.eye(2, dtype=torch.float64).expand(1, 2, 3, 4, 2, 2).clone()
    tw[0, 0, 0] = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    K = KMatrix(n, init=tw)
    assert K.dtype == torch.float64 and torch.equal(K.twiddle.detach(), tw)
    perm = torch.arange(n) ^ (n // 2)
    assert torch.equal(K.to_dense().detach(), torch.eye(n, dtype=torch.float64)[perm])
    tc = torch.randn(2, 2, 3, 4, 2, 2, dtype=torch.complex128)
    Kc = KMatrix(n, width=2, init=tc)
    assert Kc.dtype == torch.complex128 and torch.equal(Kc.twiddle.detach(), tc)
    with torch.no_grad():
        Kc.twiddle.copy_(torch.eye(2, dtype=torch.complex128).expand(2, 2, 3, 4, 2, 2))
    assert torch.equal(Kc.to_dense().detach(), torch.eye(n, dtype=torch.complex128))


def test_scale(gen):
    K = KMatrix(6, 5, width=2, dtype=torch.float64, generator=gen)
    C = merge(-1.5 * K)
    assert isinstance(C, KMatrix) and C.width == 2
    assert torch.allclose(C.to_dense(), -1.5 * K.to_dense())


def test_gradients_reach_twiddles(gen):
    K = KMatrix(10, 7, width=2, dtype=torch.float64, generator=gen)
    x = torch.randn(3, 10, dtype=torch.float64, generator=gen)
    K(x).pow(2).sum().backward()
    assert K.twiddle.grad is not None and K.twiddle.grad.abs().sum() > 0


def test_bad_input():
    with pytest.raises(ValueError, match="in_size"):
        KMatrix(0)
    with pytest.raises(ValueError, match="out_size"):
        KMatrix(4, -1)
    with pytest.raises(ValueError, match="width"):
        KMatrix(4, width=0)
    with pytest.raises(ValueError, match="expansion"):
        KMatrix(4, expansion=0)
    with pytest.raises(TypeError, match="expansion"):
        KMatrix(4, expansion=1.5)
    with pytest.raises(TypeError, match="width"):
        KMatrix(4, width=None)
    with pytest.raises(ValueError, match=r"init: expected a twiddle tensor of shape \(1, 2, 2, 2, 2, 2\)"):
        KMatrix(4, init=torch.randn(2, 2, 2, 2, 2))
    with pytest.raises(ValueError, match=r"shape \(2, 2, 3, 4, 2, 2\)"):
        KMatrix(8, width=2, init=torch.randn(1, 2, 3, 4, 2, 2))
    with pytest.raises(ValueError, match="init: expected one of"):
        KMatrix(4, init="normal")


def test_exported():
    assert kmatrix.KMatrix is KMatrix


def test_set_twiddle_exact_and_validated():
    K = KMatrix(8, dtype=torch.float64)
    switches = torch.randint(0, 2, K.twiddle_shape).to(torch.float64)
    assert K.set_twiddle(switches) is K
    assert torch.equal(K.twiddle.detach(), switches) and K.twiddle.requires_grad
    with pytest.raises(ValueError, match=r"twiddle: expected shape \(1, 2, 3, 4, 2, 2\)"):
        K.set_twiddle(torch.zeros(1, 2, 3, 4, 2))
    with pytest.raises(TypeError, match="twiddle: complex values"):
        K.set_twiddle(torch.zeros(K.twiddle_shape, dtype=torch.complex128))
    with pytest.raises(ValueError, match="twiddle: expected finite"):
        K.set_twiddle(torch.full(K.twiddle_shape, float("inf"), dtype=torch.float64))
    B = kmatrix.Butterfly(8, dtype=torch.complex128)
    t = torch.randn(B.twiddle_shape, dtype=torch.complex128)
    B.set_twiddle(t)
    assert torch.equal(B.twiddle.detach(), t)
