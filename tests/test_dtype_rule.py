"""The dtype rule across the classical families (issue 2): constructors build in the dtype of the
tensors they are given or in ``dtype=``; ``.to(dtype)`` changes the precision within the field
(the battery checks the products after it); half precision works for the FFT-based families
(their transforms run in single precision, torch has no half FFT on CPU)."""

import copy

import pytest
import torch

from kmatrix import (
    LDR,
    Cauchy,
    Circulant,
    Dense,
    Diagonal,
    Fourier,
    Hankel,
    LowRank,
    Permutation,
    Sparse,
    SparsePlusLowRank,
    SparseProduct,
    Toeplitz,
    Vandermonde,
)


def _build(dt=None, values=None):
    """One small instance per family, from tensors of dtype ``values`` (or ``dt`` via dtype=)."""
    vt = values or torch.float64

    def r(*shape):
        return torch.randn(*shape, dtype=torch.float64).to(vt)

    def ar(k, shift):
        return (torch.arange(k, dtype=torch.float64) + shift).to(vt)

    sp = Sparse([0, 2], [1, 3], r(2), (3, 4), dtype=dt)
    return {
        "Dense": Dense(r(3, 4), dtype=dt),
        "LowRank": LowRank(r(3, 2), r(2, 4), dtype=dt),
        "Sparse": sp,
        "SparsePlusLowRank": SparsePlusLowRank(sp, LowRank(r(3, 2), r(2, 4), dtype=dt)),
        "Diagonal": Diagonal(r(4), dtype=dt),
        "Vandermonde": Vandermonde(r(3), 4, dtype=dt),
        "Cauchy": Cauchy(ar(3, 0.5), ar(4, 10.0), dtype=dt),
        "Toeplitz": Toeplitz(r(3), dtype=dt),
        "Hankel": Hankel(r(3), dtype=dt),
        "Circulant": Circulant(r(4), dtype=dt),
        "LDR": LDR.toeplitz_like(r(4, 2), r(4, 2), dtype=dt),
        "LDR Cauchy-like": LDR.cauchy_like(r(3, 1), r(4, 1), ar(3, 0.5), ar(4, 10.0), dtype=dt),
        "SparseProduct": SparseProduct([Sparse([0], [1], r(1), (3, 2), dtype=dt), Sparse([1], [3], r(1), (2, 4), dtype=dt)]),
    }


@pytest.mark.parametrize("values", [torch.float64, torch.float32, torch.complex128, torch.complex64])
def test_constructors_keep_the_dtype_given(values):
    for name, M in _build(values=values).items():
        assert M.dtype == values, name
        assert all(p.dtype == values for p in M.parameters()), name
        assert M(torch.randn(2, M.shape[1], dtype=values)).dtype == values, name


@pytest.mark.parametrize("dt", [torch.float32, torch.complex128])
def test_dtype_argument(dt):
    for name, M in _build(dt=dt).items():
        assert M.dtype == dt, name
    assert Permutation([1, 0], dtype=dt).dtype == dt
    assert Fourier(4, dtype=dt).dtype == (torch.complex64 if dt == torch.float32 else dt)  # always complex


def test_to_keeps_the_field():
    for name, M in _build(values=torch.complex128).items():
        assert copy.deepcopy(M).to(torch.float32).dtype == torch.complex64, name  # never truncated to real
    for name, M in _build().items():
        assert copy.deepcopy(M).to(torch.float32).dtype == torch.float32, name
    assert Fourier(8).to(torch.float64).dtype == torch.complex128


@pytest.mark.parametrize("dt,tol", [(torch.float16, 4e-3), (torch.bfloat16, 3e-2)])
def test_half_precision_fft_families(dt, tol):
    """Toeplitz, Hankel, Circulant, LDR in half precision: outputs in that dtype, normwise error
    vs float64 within a few units of its roundoff (fp16 4.9e-4, bf16 3.9e-3; ×8 margin for the
    three transforms and the sums)."""
    gen = torch.Generator().manual_seed(0)
    for name in ("Toeplitz", "Hankel", "Circulant", "LDR", "LDR Cauchy-like"):
        torch.manual_seed(1)
        M = _build(dt=dt)[name]
        x = torch.randn(3, M.shape[1], generator=gen).to(dt)  # a float32 input would raise
        y, yt = M(x), M.T(torch.ones(2, M.shape[0], dtype=dt))
        assert y.dtype == dt and yt.dtype == dt, name
        ref = copy.deepcopy(M).to(torch.float64)(x.double())
        assert float((y.detach().double() - ref.detach()).norm() / ref.detach().norm()) <= tol, name


def test_views_of_parameter_free_families_compute_in_input_precision(gen):
    """F, F.T and F.H (and P, P.T) take a higher-precision input alike (the views follow their
    base), checked against the DFT matrix built by torch.fft in complex128."""
    n = 8
    F = Fourier(n, dtype=torch.complex64)
    x = torch.complex(torch.randn(n, generator=gen, dtype=torch.float64),
                      torch.randn(n, generator=gen, dtype=torch.float64))
    ref = torch.fft.fft(torch.eye(n, dtype=torch.complex128), dim=0)
    for M, R in ((F, ref), (F.T, ref.T), (F.H, ref.conj().T)):
        y = M(x)
        assert y.dtype == torch.complex128
        assert (y - R @ x).abs().max() <= 1e-12
    perm = torch.randperm(n, generator=gen)
    P = Permutation(perm)
    v = torch.randn(n, generator=gen, dtype=torch.float64)
    w = P.T(v)
    assert w.dtype == torch.float64
    assert torch.equal(w[perm], v)  # (Pᵀ v)[perm[i]] = v[i]
