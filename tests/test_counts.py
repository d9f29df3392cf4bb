"""num_params and flops of the classical families against the formulas in their docstrings
(the cases the per-family test files do not already pin down): exact integer equalities, so a
changed formula or a miscounted parameter fails."""

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

F64, C128 = torch.float64, torch.complex128


def r(*shape, dtype=F64):
    return torch.randn(*shape, dtype=torch.float64).to(dtype)


@pytest.mark.parametrize("dtype", [F64, C128])
def test_num_params_as_specified(dtype):
    m, n, k, s = 5, 7, 2, 4
    real = 1 if dtype == F64 else 2
    sp = Sparse([0, 1, 4, 4], [0, 2, 6, 1], r(s, dtype=dtype), (m, n))
    counts = {
        "Dense (mn)": (Dense(r(m, n, dtype=dtype)), m * n),
        "LowRank (r(m + n))": (LowRank(r(m, k, dtype=dtype), r(k, n, dtype=dtype)), k * (m + n)),
        "Sparse (s)": (sp, s),
        "SparsePlusLowRank (s + r(m + n))": (SparsePlusLowRank(sp, LowRank(r(m, k, dtype=dtype), r(k, n, dtype=dtype))),
                                             s + k * (m + n)),
        "Diagonal (n)": (Diagonal(r(n, dtype=dtype)), n),
        "Vandermonde (m nodes)": (Vandermonde(r(m, dtype=dtype), n), m),
        "Cauchy (m + n)": (Cauchy(torch.arange(m).to(dtype), torch.arange(n).to(dtype) + 0.5), m + n),
        "Toeplitz (m + n − 1)": (Toeplitz(torch.zeros(m, dtype=dtype), r(n, dtype=dtype) * 0), m + n - 1),
        "Hankel (m + n − 1)": (Hankel(torch.zeros(m, dtype=dtype), torch.zeros(n, dtype=dtype)), m + n - 1),
        "Circulant (n)": (Circulant(r(n, dtype=dtype)), n),
        "LDR (r(m + n))": (LDR(r(m, k, dtype=dtype), r(n, k, dtype=dtype), ("D", torch.arange(m) + 0.5),
                               ("D", torch.arange(n) + 10.0)), k * (m + n)),
        "SparseProduct (Σ nnz)": (SparseProduct([sp, Sparse([0, 6, 6], [1, 0, 2], r(3, dtype=dtype), (n, 3))]), s + 3),
    }
    for name, (M, expected) in counts.items():
        assert M.num_params == expected, name
        assert M.num_real_params == real * expected, name
    for M in (Permutation([2, 0, 1]), Fourier(8)):
        assert M.num_params == 0 and M.num_real_params == 0


def test_flops_small_families():
    n = 9
    assert Diagonal(r(n)).flops == n  # one multiplication per entry
    assert Diagonal(r(n, dtype=C128)).flops == 6 * n  # one complex multiplication = 6 real flops
    assert Permutation(torch.randperm(n)).flops == 0  # data movement only
    assert Permutation(torch.randperm(n), dtype=C128).flops == 0


def test_flops_direct_products():
    m, n = 6, 11
    # Vandermonde direct: m(2n − 1) for the dot products + m(n − 1) for the powers (real)
    assert Vandermonde(r(m), n, method="direct").flops == m * (2 * n - 1) + m * (n - 1)
    # Cauchy direct: subtraction, reciprocal, multiply-add per entry: m(4n − 1) (real)
    assert Cauchy(torch.arange(m, dtype=F64), torch.arange(n, dtype=F64) + 0.5).flops == m * (4 * n - 1)
    # a product of compositions: Σ of the factors (the SparseProduct / Product rule)
    a, b = Sparse([0, 0, 1], [0, 1, 1], r(3), (2, 2)), Sparse([0, 1], [1, 0], r(2), (2, 2))
    assert SparseProduct([a, b]).flops == (2 * 3 - 2) + (2 * 2 - 2)


def test_flops_scale_as_claimed():
    """Doubling n from 2^12 to 2^13 multiplies the flops of the O(n log n) families by
    2·13/12 ≈ 2.17 (≤ 2.3 allowed: padding lengths are powers of two here) and those of LowRank
    (fixed rank) by 2, where the dense count grows 4-fold; each is below the dense n(2n − 1)."""

    def families(n):
        return {
            "Fourier": Fourier(n),
            "Toeplitz": Toeplitz(r(n)),
            "Hankel": Hankel(r(n)),
            "Circulant": Circulant(r(n)),
            "LDR Toeplitz-like r=2": LDR.toeplitz_like(r(n, 2), r(n, 2)),
            "LowRank r=4": LowRank(r(n, 4), r(4, n)),
        }

    n = 1 << 12
    small, large = families(n), families(2 * n)
    for name in small:
        assert large[name].flops <= 2.3 * small[name].flops, name
        assert large[name].flops < (2 * n) * (4 * n - 1), name
