"""Fourier (Def 2.4): F[i, j] = exp(−2πι·ij/n), the matrix of torch.fft.fft.

References: the explicit formula in complex128 (exponent ij reduced mod n in integers) and
torch.fft.fft itself. The FFT is backward stable with normwise error ~ log2(n)·ε, so complex128
results are checked to 1e-13 normwise (≈ 100 ulps at n = 1024) and complex64 to 5e-6.
"""

import math

import numpy as np
import pytest
import torch

from kmatrix import Fourier, Permutation, Scaled
from kmatrix.testing.battery import normwise_error, random_tensor

SIZES = (1, 2, 7, 64, 97, 1000, 1024)
WIDE = torch.complex128


def dft(n, ortho=False):
    i = np.arange(n)
    F = np.exp(-2j * np.pi * (np.outer(i, i) % n) / n)
    return torch.from_numpy(F / np.sqrt(n) if ortho else F)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", (torch.complex64, torch.complex128))
def test_matches_definition_and_torch_fft(n, dtype, gen):
    F = Fourier(n, dtype=dtype)
    tol = 5e-6 if dtype == torch.complex64 else 1e-13
    x = random_tensor((3, n), dtype, gen)
    ref = dft(n)
    assert normwise_error(F(x), x.to(WIDE) @ ref.T, ref, x) <= tol
    assert torch.equal(F(x), torch.fft.fft(x))
    if n <= 64:
        assert (F.to_dense().to(WIDE) - ref).norm() <= tol * ref.norm()


@pytest.mark.parametrize("n", SIZES)
def test_ortho_is_unitary(n, gen):
    F = Fourier(n, norm="ortho", dtype=torch.complex128)
    x = random_tensor((4, n), torch.complex128, gen)
    y = F(x)
    assert torch.allclose(y.norm(dim=-1), x.norm(dim=-1), rtol=1e-13)
    assert normwise_error(F.H(y), x, torch.eye(1), x) <= 1e-13  # Fᴴ F = I
    assert normwise_error(F(x), torch.fft.fft(x, norm="ortho"), torch.eye(1), x) <= 1e-15
    if n <= 64:
        D = F.to_dense()
        assert (D @ D.conj().T - torch.eye(n, dtype=WIDE)).abs().max() <= 1e-13


@pytest.mark.parametrize("n", (1, 2, 7, 64, 1024))
def test_transpose_and_adjoint(n, gen):
    F = Fourier(n, dtype=torch.complex128)
    assert F.T is F
    ref = dft(n)
    y = random_tensor((2, n), torch.complex128, gen)
    assert normwise_error(F.H(y), y @ ref.conj(), ref, y) <= 1e-13
    # Fᴴ F = n I for the unnormalised transform
    x = random_tensor((2, n), torch.complex128, gen)
    assert normwise_error(F.H(F(x)), n * x, ref, x) <= 1e-13 * math.sqrt(n)


def test_dtype_field_rule():
    assert Fourier(8, dtype=torch.float64).dtype == torch.complex128
    assert Fourier(8, dtype=torch.float32).dtype == torch.complex64
    F = Fourier(8, dtype=torch.complex64)
    assert F.to(torch.complex128).dtype == torch.complex128
    assert F.to(torch.float32).dtype == torch.complex64
    assert F.to(torch.float64).dtype == torch.complex128


def test_to_complex128_computes_in_double(gen):
    n = 1024
    F = Fourier(n, dtype=torch.complex64).to(torch.complex128)
    x = random_tensor((2, n), torch.complex128, gen)
    y = F(x)
    assert y.dtype == torch.complex128
    ref = dft(n)
    assert normwise_error(y, x @ ref.T, ref, x) <= 1e-13  # far below complex64's ~1e-7


def test_real_input_is_promoted(gen):
    F = Fourier(7, dtype=torch.complex128)
    x = torch.randn(3, 7, dtype=torch.float64, generator=gen)
    assert torch.equal(F(x), torch.fft.fft(x.to(torch.complex128)))


def test_counts_and_flops():
    assert Fourier(16).num_params == 0 and Fourier(16).num_real_params == 0
    assert Fourier(1).flops == 0
    assert Fourier(8).flops == 5 * 8 * 3
    assert Fourier(1024).flops == 5 * 1024 * 10
    assert Fourier(1024, norm="ortho").flops == 5 * 1024 * 10 + 2 * 1024
    assert Fourier(7).flops == math.ceil(5 * 7 * math.log2(7))


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"n": 0}, ValueError, "n: expected a positive integer"),
        ({"n": -3}, ValueError, "n: expected a positive integer"),
        ({"n": 2.0}, TypeError, "n: expected a positive integer"),
        ({"n": True}, TypeError, "n: expected a positive integer"),
        ({"n": 4, "norm": "forward"}, ValueError, "norm"),
        ({"n": 4, "dtype": torch.int64}, TypeError, "dtype"),
    ],
)
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        Fourier(**kwargs)


def test_gradcheck_x(gen):
    F = Fourier(7, dtype=torch.complex128)
    x = random_tensor((2, 7), torch.complex128, gen).requires_grad_(True)
    assert torch.autograd.gradcheck(F, (x,))
    assert torch.autograd.gradcheck(F.H, (x,))


@pytest.mark.parametrize("n", (1, 2, 7, 16))
def test_fourier_squared_is_reversal(n, gen):
    F = Fourier(n, dtype=torch.complex128)
    G = Fourier(n, norm="ortho", dtype=torch.complex128)
    ref, refo = dft(n), dft(n, ortho=True)
    for C, R in [(F @ F, ref @ ref), (G @ G, refo @ refo), (F @ G, ref @ refo), (G @ F, refo @ ref)]:
        assert isinstance(C, (Permutation, Scaled))
        assert (C.to_dense().to(WIDE) - R).abs().max() <= 1e-12 * n
    assert isinstance(G @ G, Permutation) and (G @ G).flops == 0
