"""Special constructions (fft2d, circular_conv2d, fastfood, acdc, haar) against numpy/scipy and
direct references, and the ``kmatrix verify`` table. Tolerance 1e-12 relative to the largest
entry: every construction is a product of ≤ 2·6·log2 N stages of double-precision twiddles
holding roots of unity / DCT factors, each adding ≲ 2ε."""

import numpy as np
import pytest
import scipy.fft as sf
import scipy.linalg as sl
import torch

import kmatrix
from kmatrix.theorems import special


def _rng(gen):
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=gen)))


def _rel(K, ref):
    D = K.to_dense().detach().to(torch.complex128).numpy()
    return np.abs(D - ref).max() / np.abs(ref).max()


@pytest.mark.parametrize("n1,n2", [(1, 1), (2, 1), (4, 8), (16, 16), (3, 5), (6, 4), (1, 7)])
def test_fft2d(n1, n2, gen):
    K = kmatrix.fft2d(n1, n2)
    ref = np.kron(sf.fft(np.eye(n1), axis=0), sf.fft(np.eye(n2), axis=0))
    assert _rel(K, ref) <= 1e-12
    if n1 & (n1 - 1) == 0 and n2 & (n2 - 1) == 0:
        assert K.width == 1 and K.expansion == 1
    else:
        assert K.width <= 4
    x = torch.randn(2, n1 * n2, dtype=torch.complex128, generator=gen)
    y = torch.fft.fft2(x.reshape(2, n1, n2)).reshape(2, -1)
    assert (K(x) - y).norm() <= 1e-12 * y.norm()


def _conv_ref(k):
    co, ci, n1, n2 = k.shape
    ref = np.zeros((co * n1 * n2, ci * n1 * n2), dtype=k.dtype)
    for c in range(ci):
        for i1 in range(n1):
            for i2 in range(n2):
                ref[:, c * n1 * n2 + i1 * n2 + i2] = np.roll(
                    k[:, c], (i1, i2), axis=(1, 2)
                ).reshape(-1)
    return ref


@pytest.mark.parametrize(
    "shape", [(1, 1, 4, 4), (2, 3, 4, 8), (3, 2, 3, 5), (5, 6, 2, 4), (1, 1, 1, 3)]
)
def test_circular_conv2d(shape, gen):
    rng = _rng(gen)
    k = rng.standard_normal(shape)
    K = kmatrix.circular_conv2d(k)
    assert _rel(K, _conv_ref(k)) <= 1e-12
    # against scipy.signal-free direct evaluation on a random input
    co, ci, n1, n2 = shape
    x = rng.standard_normal((ci, n1, n2))
    y = np.real(np.fft.ifft2((np.fft.fft2(k) * np.fft.fft2(x)[None]).sum(1)))
    got = (
        K(torch.from_numpy(x.reshape(1, -1)).to(torch.complex128))
        .detach()
        .numpy()
        .reshape(co, n1, n2)
    )
    assert np.abs(got - y).max() <= 1e-12 * np.abs(y).max()
    kc = k + 1j * rng.standard_normal(shape)
    assert _rel(kmatrix.circular_conv2d(torch.from_numpy(kc)), _conv_ref(kc)) <= 1e-12


@pytest.mark.parametrize("n", [2, 8, 64])
def test_fastfood(n, gen):
    rng = _rng(gen)
    s, g, b = rng.standard_normal(n), rng.standard_normal(n), rng.choice([-1.0, 1.0], n)
    p = rng.permutation(n)
    K = kmatrix.fastfood(s, g, p, b)
    P = np.zeros((n, n))
    P[np.arange(n), p] = 1
    H = sl.hadamard(n)
    ref = np.diag(s) @ H @ np.diag(g) @ P @ H @ np.diag(b)
    assert K.width == 2 and K.dtype == torch.float64
    assert _rel(K, ref) <= 1e-12


@pytest.mark.parametrize("n", [1, 2, 8, 32, 6, 12])
def test_acdc(n, gen):
    rng = _rng(gen)
    a, d = rng.standard_normal(n), rng.standard_normal(n)
    C = sf.dct(np.eye(n), norm="ortho", axis=0)
    K = kmatrix.acdc(a, d)
    assert _rel(K, np.diag(a) @ C @ np.diag(d) @ C.T) <= 1e-12
    if n & (n - 1) == 0:
        assert K.width <= 4


def _haar_ref(n):
    M = np.zeros((n, n))
    for j in range(n):
        a = np.eye(n)[j]
        out = []
        while len(a) > 1:
            out.insert(0, (a[0::2] - a[1::2]) / np.sqrt(2))
            a = (a[0::2] + a[1::2]) / np.sqrt(2)
        M[:, j] = np.concatenate([a, *out])
    return M


@pytest.mark.parametrize("n", [2, 4, 16, 128])
def test_haar(n):
    K = kmatrix.haar(n)
    ref = _haar_ref(n)
    assert K.width == 2 and K.dtype == torch.float64
    assert np.abs(K.to_dense().detach().numpy() - ref).max() <= 1e-14
    assert np.allclose(ref @ ref.T, np.eye(n))  # the reference is orthonormal


def test_kron_twiddle_random(gen):
    A = kmatrix.KMatrix(4, width=2, dtype=torch.float64, generator=gen)
    B = kmatrix.KMatrix(8, width=1, dtype=torch.float64, generator=gen)
    from kmatrix.theorems._tw import kmatrix_of, twiddle_of

    K = kmatrix_of(special.kron_twiddle(twiddle_of(A), twiddle_of(B)), 32, 32, torch.float64)
    ref = np.kron(A.to_dense().detach().numpy(), B.to_dense().detach().numpy())
    assert np.abs(K.to_dense().detach().numpy() - ref).max() <= 1e-12 * np.abs(ref).max()


def test_special_bad_input():
    with pytest.raises(ValueError, match="n1"):
        kmatrix.fft2d(0, 3)
    with pytest.raises(ValueError, match="shape"):
        kmatrix.circular_conv2d(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="finite"):
        kmatrix.circular_conv2d(np.full((1, 1, 2, 2), np.nan))
    with pytest.raises(TypeError, match="floating"):
        kmatrix.circular_conv2d(np.ones((1, 1, 2, 2), dtype=int))
    with pytest.raises(ValueError, match="power of two"):
        kmatrix.fastfood(np.ones(6), np.ones(6), np.arange(6), np.ones(6))
    with pytest.raises(ValueError, match="length 4"):
        kmatrix.fastfood(np.ones(4), np.ones(3), np.arange(4), np.ones(4))
    with pytest.raises(ValueError, match="appears 2 times"):
        kmatrix.fastfood(np.ones(4), np.ones(4), [0, 0, 1, 2], np.ones(4))
    with pytest.raises(ValueError, match="length 3"):
        kmatrix.acdc(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="power of two"):
        kmatrix.haar(6)


def test_verify_cli_quick(capsys):
    from kmatrix.cli.main import main

    assert main(["verify", "--only", "benes", "sums", "linearize"]) == 0
    out = capsys.readouterr().out
    assert "verify: all" in out and "5.6 benes" in out and "2.9 linearize" in out
    with pytest.raises(SystemExit, match="unknown check groups"):
        main(["verify", "--only", "nothing"])


@pytest.mark.slow
def test_verify_cli_table(capsys):
    from kmatrix.cli.main import main

    assert main(["verify"]) == 0
    out = capsys.readouterr().out
    assert "verify: all" in out and "checks passed" in out
    for name in (
        "5.6 benes",
        "5.7 sparse",
        "5.5 circuit",
        "2.9 linearize",
        "4.5 converse",
        "fastfood",
    ):
        assert name in out


def test_verify_reports_failure(monkeypatch, capsys):
    """A wrong construction must fail the verdict (the check can fail)."""
    import sys

    from kmatrix.cli.main import main

    benes_mod = sys.modules["kmatrix.theorems.benes"]

    real = benes_mod.benes_twiddle

    def broken(perm, reverse=False):
        tw = real(perm, reverse).copy()
        blocks = tw.reshape(-1, 2, 2)
        blocks[0] = blocks[0][:, ::-1].copy()  # one switch set the wrong way
        return tw

    monkeypatch.setattr(benes_mod, "benes_twiddle", broken)
    assert main(["verify", "--only", "benes"]) == 1
    assert "FAILED" in capsys.readouterr().out


def test_bench_theorems_quick(capsys):
    from kmatrix.cli.main import main

    assert main(["bench", "theorems", "--quick"]) == 0
    out = capsys.readouterr().out
    for title in ("Theorem 5.6", "Theorem 5.7", "Theorem 5.5", "Theorem 2.9"):
        assert title in out
