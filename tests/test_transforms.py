"""Exact constructions (kmatrix.transforms) against scipy / numpy / torch references.

Small sizes (including non-powers of two) compare the whole dense matrix; n = 1024 and 4096
compare products on random vectors with the reference transform of those vectors. Requirement:
≤ 1e-10 relative error (Frobenius / 2-norm) in float64 / complex128. Observed errors are
~1e-15·log2 N (the twiddles are rounded roots of unity, each product adds ~ε per stage), so
1e-10 leaves a margin of ~10^4. Single precision: 1e-5 (ε = 6e-8, ≤ 48 stages).
"""

import numpy as np
import pytest
import scipy.fft as sfft
import scipy.linalg as sla
import torch

import kmatrix
from kmatrix import KMatrix, Product, RealPart
from kmatrix.transforms import (
    circulant,
    convolution,
    dct,
    dft,
    dst,
    hadamard,
    identity,
    idft,
    toeplitz,
)

SMALL = [1, 2, 3, 4, 5, 8, 12, 16, 31, 64]
TOL = 1e-10


def _dense(M) -> np.ndarray:
    return M.to_dense().detach().to(torch.complex128).numpy()


def _rel(a, b) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _vectors(n, k=3, complex_=False, seed=0):
    rng = np.random.default_rng(seed + n)
    x = rng.standard_normal((k, n))
    if complex_:
        x = x + 1j * rng.standard_normal((k, n))
    return x


def _apply(M, x: np.ndarray) -> np.ndarray:
    dtype = torch.complex128 if np.iscomplexobj(x) else torch.float64
    with torch.no_grad():
        return M(torch.from_numpy(x).to(dtype)).numpy()


# ------------------------------------------------------------------------- Fourier
@pytest.mark.parametrize("n", SMALL)
def test_dft_idft_dense(n):
    eye = np.eye(n)
    F = dft(n, dtype=torch.complex128)
    assert _rel(_dense(F), np.fft.fft(eye, axis=0)) <= TOL
    Fi = idft(n, dtype=torch.complex128)
    assert _rel(_dense(Fi), np.fft.ifft(eye, axis=0)) <= TOL


@pytest.mark.parametrize("n", [1024, 4096, 1000])
def test_dft_idft_large(n):
    x = _vectors(n, complex_=True)
    xt = torch.from_numpy(x)
    assert _rel(_apply(dft(n, dtype=torch.complex128), x), torch.fft.fft(xt).numpy()) <= TOL
    assert _rel(_apply(idft(n, dtype=torch.complex128), x), torch.fft.ifft(xt).numpy()) <= TOL


def test_dft_widths():
    """Power of two: width 1 (the DFT is built in BB* itself, no bit-reversal factor), expansion
    1. Otherwise Bluestein: width 2, expansion 2."""
    for n in (2, 8, 256, 4096):
        F = dft(n)
        assert isinstance(F, KMatrix) and (F.width, F.expansion, F.size) == (1, 1, n)
        assert F.num_params == 4 * n * int(np.log2(n))
    for n in (3, 12, 1000):
        F = dft(n)
        assert isinstance(F, KMatrix) and (F.width, F.expansion) == (2, 2)
        assert F.size >= 2 * n - 1
    assert idft(64).width == 1 and idft(6).width == 2


def test_dft_dtypes():
    assert dft(8).dtype == torch.complex64  # complex counterpart of the default float32
    assert dft(8, dtype=torch.float64).dtype == torch.complex128
    F = dft(64, dtype=torch.complex64)
    x = torch.randn(3, 64, dtype=torch.complex64)
    y = F(x)
    assert y.dtype == torch.complex64
    ref = torch.fft.fft(x.to(torch.complex128))
    assert float((y.detach().to(torch.complex128) - ref).norm() / ref.norm()) <= 1e-5


# ------------------------------------------------------------------------- Hadamard, identity
@pytest.mark.parametrize("n", [1, 2, 4, 32, 256])
def test_hadamard(n):
    H = hadamard(n, dtype=torch.float64)
    assert isinstance(H, KMatrix) and H.width == 1 and H.expansion == 1
    assert np.array_equal(_dense(H).real, sla.hadamard(n))


def _walsh_hadamard(x: np.ndarray) -> np.ndarray:
    """Sylvester H_n x via its Kronecker structure: H_2 along each of the log2 n binary axes."""
    k, n = x.shape
    levels = n.bit_length() - 1
    y = x.reshape((k,) + (2,) * levels)
    for axis in range(1, levels + 1):
        a, b = np.take(y, 0, axis=axis), np.take(y, 1, axis=axis)
        y = np.stack([a + b, a - b], axis=axis)
    return y.reshape(k, n)


def test_hadamard_large():
    n = 4096
    x = _vectors(n)
    ref = _walsh_hadamard(x)
    assert np.allclose(_walsh_hadamard(np.eye(16)), sla.hadamard(16))
    assert _rel(_apply(hadamard(n, dtype=torch.float64), x), ref) <= TOL


@pytest.mark.parametrize("n", [1, 3, 8, 100])
def test_identity(n):
    I = identity(n, dtype=torch.float64)
    assert isinstance(I, KMatrix) and I.width == 1
    assert np.array_equal(_dense(I).real, np.eye(n))


@pytest.mark.parametrize("n", [4096, 3000])
def test_identity_large(n):
    x = _vectors(n)
    I = identity(n, dtype=torch.float64)
    assert (I.width, I.expansion, I.size) == (1, 1, 4096)
    assert np.array_equal(_apply(I, x), x)


# ------------------------------------------------------------------------- DCT / DST
@pytest.mark.parametrize("n", SMALL)
def test_dct_dst_dense(n):
    eye = np.eye(n)
    C = dct(n, dtype=torch.float64)
    S = dst(n, dtype=torch.float64)
    for M in (C, S):
        assert isinstance(M, Product) and M.dtype == torch.float64 and not M.is_complex
        assert isinstance(M.factors[0], RealPart) and isinstance(M.factors[0].base, KMatrix)
    assert _rel(_dense(C).real, sfft.dct(eye, axis=0, norm="ortho")) <= TOL
    assert _rel(_dense(S).real, sfft.dst(eye, axis=0, norm="ortho")) <= TOL
    # the transposes are the inverse transforms (orthonormal): native through RealPart / KMatrix
    assert _rel(_dense(C.T).real, sfft.idct(eye, axis=0, norm="ortho")) <= TOL
    assert _rel(_dense(S.T).real, sfft.idst(eye, axis=0, norm="ortho")) <= TOL


@pytest.mark.parametrize("n", [1024, 4096, 600])
def test_dct_dst_large(n):
    x = _vectors(n)
    assert _rel(_apply(dct(n, dtype=torch.float64), x), sfft.dct(x, norm="ortho")) <= TOL
    assert _rel(_apply(dst(n, dtype=torch.float64), x), sfft.dst(x, norm="ortho")) <= TOL


def test_dct_widths_and_precision():
    assert dct(64).factors[0].base.width == 1 and dct(64).factors[0].base.expansion == 1
    assert dct(10).factors[0].base.width == 2
    C = dct(32, dtype=torch.float32)
    assert C.dtype == torch.float32 and C.factors[0].base.dtype == torch.complex64
    x = torch.randn(4, 32)
    ref = sfft.dct(x.double().numpy(), norm="ortho")
    assert _rel(C(x).detach().double().numpy(), ref) <= 1e-5


# ------------------------------------------------------------------------- circulant / Toeplitz
@pytest.mark.parametrize("n", SMALL)
def test_circulant_dense(n):
    rng = np.random.default_rng(n)
    c = rng.standard_normal(n)
    C = circulant(c)
    assert isinstance(C, RealPart) and C.dtype == torch.float64 and C.base.width == 2
    assert C.base.expansion == (1 if n & (n - 1) == 0 else 2)
    assert _rel(_dense(C).real, sla.circulant(c)) <= TOL
    cz = c + 1j * rng.standard_normal(n)
    Cz = circulant(cz)
    assert isinstance(Cz, KMatrix) and Cz.dtype == torch.complex128
    assert _rel(_dense(Cz), sla.circulant(cz)) <= TOL


@pytest.mark.parametrize("n", [1024, 4096, 3000])
def test_circulant_large(n):
    rng = np.random.default_rng(1)
    c = rng.standard_normal(n)
    x = _vectors(n)
    ref = np.real(np.fft.ifft(np.fft.fft(c) * np.fft.fft(x, axis=1), axis=1))
    assert _rel(_apply(circulant(c), x), ref) <= TOL


@pytest.mark.parametrize("m,k", [(1, 1), (4, 4), (5, 3), (3, 7), (16, 16), (33, 20)])
def test_toeplitz_dense(m, k):
    rng = np.random.default_rng(m * 100 + k)
    c, r = rng.standard_normal(m), rng.standard_normal(k)
    T = toeplitz(c, r)
    assert T.shape == (m, k) and isinstance(T, RealPart) and T.base.width == 2
    assert _rel(_dense(T).real, sla.toeplitz(c, r)) <= TOL
    cz = c + 1j * rng.standard_normal(m)
    rz = r + 1j * rng.standard_normal(k)
    assert _rel(_dense(toeplitz(cz, rz)), sla.toeplitz(cz, rz)) <= TOL
    # r omitted: Hermitian Toeplitz, like scipy
    assert _rel(_dense(toeplitz(cz)), sla.toeplitz(cz)) <= TOL


def test_toeplitz_large_and_expansion():
    n = 4096
    rng = np.random.default_rng(3)
    c, r = rng.standard_normal(n), rng.standard_normal(n)
    T = toeplitz(c, r)
    assert T.base.expansion == 2 and T.base.size == 2 * n
    x = _vectors(n, k=2)
    ref = x @ sla.toeplitz(c, r).T
    assert _rel(_apply(T, x), ref) <= TOL
    # a narrow band needs no expansion: a 12×12 band fits a circulant of size 16 = 2^⌈log2 12⌉
    band_c = np.zeros(12)
    band_c[:3] = [1.0, 2.0, 3.0]
    band_r = np.zeros(12)
    band_r[1] = 4.0
    Tb = toeplitz(band_c, band_r)
    assert Tb.base.expansion == 1
    assert _rel(_dense(Tb).real, sla.toeplitz(band_c, band_r)) <= TOL
    # ... while the same band at 16×16 needs N = 32 (offsets 15 and -15 share a circulant slot)
    band16_c, band16_r = np.pad(band_c, (0, 4)), np.pad(band_r, (0, 4))
    T16 = toeplitz(band16_c, band16_r)
    assert T16.base.size == 32
    assert _rel(_dense(T16).real, sla.toeplitz(band16_c, band16_r)) <= TOL


@pytest.mark.parametrize("n,k", [(1, 1), (5, 3), (8, 8), (10, 1), (4096, 7), (1000, 33)])
def test_convolution(n, k):
    rng = np.random.default_rng(n + k)
    kern = rng.standard_normal(k)
    M = convolution(kern, n)
    assert M.shape == (n + k - 1, n) and isinstance(M, RealPart)
    assert M.base.width == 2 and M.base.expansion == 1
    x = _vectors(n, k=2)
    ref = np.stack([np.convolve(kern, v) for v in x])
    assert _rel(_apply(M, x), ref) <= TOL
    kz = kern + 1j * rng.standard_normal(k)
    Mz = convolution(kz, n)
    assert isinstance(Mz, KMatrix)
    assert _rel(_apply(Mz, x.astype(np.complex128)), np.stack([np.convolve(kz, v) for v in x])) <= TOL


def test_real_transforms_promote_to_complex_dtype():
    c = np.arange(1.0, 9.0)
    C = circulant(c, dtype=torch.complex128)
    assert isinstance(C, KMatrix) and C.dtype == torch.complex128
    assert _rel(_dense(C), sla.circulant(c)) <= TOL
    C32 = circulant(torch.tensor(c, dtype=torch.float32))
    assert C32.dtype == torch.float32


def test_transforms_are_trainable():
    """The constructions are ordinary K-matrices: a gradient step moves them away from the
    transform (the exact twiddles are just an initial point)."""
    F = dft(16, dtype=torch.complex128)
    x = torch.randn(4, 16, dtype=torch.complex128)
    F(x).abs().pow(2).sum().backward()
    assert F.twiddle.grad is not None and F.twiddle.grad.abs().sum() > 0


def test_save_load_round_trip(tmp_path):
    for M in (dct(12, dtype=torch.float64), circulant(np.arange(1.0, 6.0)), dft(8, dtype=torch.complex128)):
        path = tmp_path / "t.kmx"
        kmatrix.save(M, path)
        M2 = kmatrix.load(path)
        assert np.array_equal(_dense(M2), _dense(M))


def test_bad_input():
    with pytest.raises(ValueError, match="n: expected a positive integer"):
        dft(0)
    with pytest.raises(TypeError, match="n: expected a positive integer"):
        idft(2.0)
    with pytest.raises(ValueError, match="n: expected a power of two"):
        hadamard(6)
    with pytest.raises(ValueError, match="n"):
        dct(-1)
    with pytest.raises(ValueError, match="n"):
        convolution([1.0, 2.0], 0)
    with pytest.raises(TypeError, match="c: complex values"):
        circulant(np.array([1.0 + 1j, 2.0]), dtype=torch.float64)
    with pytest.raises(ValueError, match="c: expected a 1-d"):
        toeplitz(np.ones((2, 2)))
    with pytest.raises(ValueError, match="kernel: expected a non-empty"):
        convolution([], 4)
    with pytest.raises(ValueError, match="c: expected finite"):
        circulant([1.0, float("nan")])
    with pytest.raises(TypeError, match="dtype"):
        dft(8, dtype=torch.int32)


def test_toeplitz_band_sweep():
    """Every shape up to 9×9 with random trailing zeros in c and r (the size N depends on where
    the last nonzeros are): exact against scipy."""
    rng = np.random.default_rng(7)
    for m in range(1, 10):
        for k in range(1, 10):
            c = rng.standard_normal(m) * (np.arange(m) < rng.integers(1, m + 1))
            r = rng.standard_normal(k) * (np.arange(k) < rng.integers(1, k + 1))
            T = toeplitz(c, r, dtype=torch.float64)
            assert _rel(_dense(T).real, sla.toeplitz(c, r)) <= TOL, (m, k)
