"""Bad input, family by family: every constructor raises ValueError / TypeError whose message
names the argument (issue 2, "Bad input"): mismatched shapes, empty inputs, NaN / infinite
parameters, integer dtypes, Cauchy with s_i = t_j or repeated nodes, conflicting Toeplitz /
Hankel corners, LDR operators with shared eigenvalues (Sylvester) or λμ = 1 (Stein).

Each case is (family, what, constructor call, exception type, regex the message must match);
the regex always starts with the argument's name, so a deep torch error cannot pass.
"""

import math

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

NAN, INF = float("nan"), float("inf")
F64 = torch.float64


def v(*vals, dtype=F64):
    return torch.tensor(vals, dtype=dtype)


def ones(*shape, dtype=F64):
    return torch.ones(*shape, dtype=dtype)


def _sp(shape=(2, 2)):
    return Sparse([0], [0], [1.0], shape)


def _lr(m=2, n=2):
    return LowRank(ones(m, 1), ones(1, n))


ZF1, ZFM1 = ("Zf", 1.0), ("Zf", -1.0)

CASES = [
    # Dense
    ("Dense", "integer dtype", lambda: Dense(torch.ones(2, 3, dtype=torch.int64)), TypeError, r"^W: .*floating-point"),
    ("Dense", "bool dtype", lambda: Dense(torch.ones(2, 2, dtype=torch.bool)), TypeError, r"^W: "),
    ("Dense", "integer dtype=", lambda: Dense(ones(2, 2), dtype=torch.int32), TypeError, r"^dtype: "),
    ("Dense", "not 2-d", lambda: Dense(ones(3)), ValueError, r"^W: expected a 2-d"),
    ("Dense", "empty", lambda: Dense(ones(0, 3)), ValueError, r"^W: expected a non-empty"),
    ("Dense", "NaN", lambda: Dense(v(NAN, 1.0)[None]), ValueError, r"^W: expected finite"),
    ("Dense", "None", lambda: Dense(None), TypeError, r"^W: "),
    # LowRank
    ("LowRank", "mismatched shapes", lambda: LowRank(ones(3, 2), ones(3, 4)), ValueError, r"^L, R: .*\(3, 2\)"),
    ("LowRank", "empty rank", lambda: LowRank(ones(3, 0), ones(0, 4)), ValueError, r"^L: expected a non-empty"),
    ("LowRank", "NaN", lambda: LowRank(ones(3, 2), torch.full((2, 4), NAN)), ValueError, r"^R: expected finite"),
    ("LowRank", "integer dtype", lambda: LowRank(ones(3, 2, dtype=torch.int64), ones(2, 4)), TypeError, r"^L: "),
    ("LowRank", "not 2-d", lambda: LowRank(ones(3), ones(2, 4)), ValueError, r"^L: expected a 2-d"),
    ("LowRank", "from_dense rank 0", lambda: LowRank.from_dense(ones(3, 3), 0), ValueError, r"^rank: "),
    ("LowRank", "from_dense rank > min(m, n)", lambda: LowRank.from_dense(ones(3, 3), 4), ValueError, r"^rank: "),
    ("LowRank", "from_dense float rank", lambda: LowRank.from_dense(ones(3, 3), 1.5), TypeError, r"^rank: "),
    ("LowRank", "from_dense NaN", lambda: LowRank.from_dense(torch.full((3, 3), NAN), 1), ValueError, r"^M: "),
    # Sparse
    ("Sparse", "mismatched lengths", lambda: Sparse([0, 1], [0], [1.0, 2.0], (2, 2)), ValueError, r"^rows, cols, values: "),
    ("Sparse", "row out of range", lambda: Sparse([0, 2], [0, 1], [1.0, 2.0], (2, 2)), ValueError, r"^rows: .*\[0, 2\)"),
    ("Sparse", "negative column", lambda: Sparse([0, 1], [0, -1], [1.0, 2.0], (2, 2)), ValueError, r"^cols: "),
    ("Sparse", "float indices", lambda: Sparse([0.0, 1.0], [0, 1], [1.0, 2.0], (2, 2)), TypeError, r"^rows: .*integer"),
    ("Sparse", "integer values", lambda: Sparse([0, 1], [0, 1], [1, 2], (2, 2)), TypeError, r"^values: "),
    ("Sparse", "NaN values", lambda: Sparse([0, 1], [0, 1], [NAN, 2.0], (2, 2)), ValueError, r"^values: expected finite"),
    ("Sparse", "shape not a pair", lambda: Sparse([0], [0], [1.0], (2,)), TypeError, r"^shape: "),
    ("Sparse", "empty shape", lambda: Sparse([], [], [], (0, 2)), ValueError, r"^shape: "),
    ("Sparse", "2-d values", lambda: Sparse([0, 1], [0, 1], [[1.0, 2.0]], (2, 2)), ValueError, r"^values: expected a 1-d"),
    ("Sparse", "from_dense negative tol", lambda: Sparse.from_dense(ones(2, 2), tol=-1.0), ValueError, r"^tol: "),
    # SparsePlusLowRank
    ("SparsePlusLowRank", "dense sparse part", lambda: SparsePlusLowRank(ones(2, 2), _lr()), TypeError, r"^sparse: "),
    ("SparsePlusLowRank", "swapped parts", lambda: SparsePlusLowRank(_lr(), _sp()), TypeError, r"^sparse: "),
    ("SparsePlusLowRank", "dense low-rank part", lambda: SparsePlusLowRank(_sp(), ones(2, 2)), TypeError, r"^lowrank: "),
    ("SparsePlusLowRank", "mismatched shapes", lambda: SparsePlusLowRank(_sp((3, 2)), _lr()), ValueError, r"^sparse, lowrank: "),
    # Diagonal
    ("Diagonal", "not 1-d", lambda: Diagonal(ones(2, 2)), ValueError, r"^d: expected a 1-d"),
    ("Diagonal", "scalar", lambda: Diagonal(torch.tensor(1.0)), ValueError, r"^d: expected a 1-d"),
    ("Diagonal", "empty", lambda: Diagonal(ones(0)), ValueError, r"^d: expected a non-empty"),
    ("Diagonal", "NaN", lambda: Diagonal(v(NAN, 1.0)), ValueError, r"^d: expected finite"),
    ("Diagonal", "integer dtype", lambda: Diagonal(torch.arange(3)), TypeError, r"^d: "),
    ("Diagonal", "complex into real dtype=", lambda: Diagonal(v(1j, dtype=torch.complex64), dtype=torch.float32),
     TypeError, r"^d: complex"),
    # Permutation
    ("Permutation", "repeated index", lambda: Permutation([0, 0, 1]), ValueError, r"^perm: .*permutation"),
    ("Permutation", "index out of range", lambda: Permutation([0, 3, 1]), ValueError, r"^perm: "),
    ("Permutation", "negative index", lambda: Permutation([-1, 0]), ValueError, r"^perm: "),
    ("Permutation", "float indices", lambda: Permutation([0.0, 1.0]), TypeError, r"^perm: .*integer"),
    ("Permutation", "empty list", lambda: Permutation([]), ValueError, r"^perm: .*non-empty"),
    ("Permutation", "empty tensor", lambda: Permutation(torch.zeros(0, dtype=torch.int64)), ValueError, r"^perm: "),
    ("Permutation", "not 1-d", lambda: Permutation([[0, 1]]), ValueError, r"^perm: expected a 1-d"),
    ("Permutation", "integer dtype=", lambda: Permutation([1, 0], dtype=torch.int64), TypeError, r"^dtype: "),
    # Fourier
    ("Fourier", "n = 0", lambda: Fourier(0), ValueError, r"^n: "),
    ("Fourier", "float n", lambda: Fourier(4.0), TypeError, r"^n: "),
    ("Fourier", "unknown norm", lambda: Fourier(4, norm="forward"), ValueError, r"^norm: "),
    ("Fourier", "integer dtype=", lambda: Fourier(4, dtype=torch.int32), TypeError, r"^dtype: "),
    # Vandermonde (repeated nodes are allowed by design: see the class docstring)
    ("Vandermonde", "n = 0", lambda: Vandermonde(v(1.0, 2.0), 0), ValueError, r"^n: "),
    ("Vandermonde", "integer nodes", lambda: Vandermonde(torch.arange(3), 3), TypeError, r"^nodes: "),
    ("Vandermonde", "NaN node", lambda: Vandermonde(v(NAN, 1.0), 3), ValueError, r"^nodes: expected finite"),
    ("Vandermonde", "infinite node", lambda: Vandermonde(v(INF, 1.0), 3), ValueError, r"^nodes: expected finite"),
    ("Vandermonde", "empty nodes", lambda: Vandermonde(ones(0), 3), ValueError, r"^nodes: expected a non-empty"),
    ("Vandermonde", "2-d nodes", lambda: Vandermonde(ones(2, 2), 3), ValueError, r"^nodes: expected a 1-d"),
    ("Vandermonde", "unknown method", lambda: Vandermonde(v(1.0, 2.0), 3, method="x"), ValueError, r"^method: "),
    # Cauchy
    ("Cauchy", "s_i = t_j", lambda: Cauchy(v(1.0, 2.0), v(3.0, 2.0)), ValueError, r"^s, t: .*s\[1\] == t\[1\]"),
    ("Cauchy", "s_i = t_j (complex)", lambda: Cauchy(v(1 + 1j, 2, dtype=torch.complex128), v(1 + 1j, 5, dtype=torch.complex128)),
     ValueError, r"^s, t: "),
    ("Cauchy", "s_i = t_j across dtypes", lambda: Cauchy(v(1.0, 2.0), v(1, 5, dtype=torch.complex128)), ValueError, r"^s, t: "),
    ("Cauchy", "0.0 = -0.0", lambda: Cauchy(v(0.0, 1.0), v(-0.0, 4.0)), ValueError, r"^s, t: "),
    ("Cauchy", "repeated s", lambda: Cauchy(v(1.0, 1.0), v(3.0, 4.0)), ValueError, r"^s: expected distinct.*s\[0\] == s\[1\]"),
    ("Cauchy", "repeated t", lambda: Cauchy(v(1.0, 2.0), v(3.0, 3.0)), ValueError, r"^t: expected distinct"),
    ("Cauchy", "NaN", lambda: Cauchy(v(NAN, 2.0), v(3.0, 4.0)), ValueError, r"^s: expected finite"),
    ("Cauchy", "integer s", lambda: Cauchy(torch.arange(2), v(3.0, 4.0)), TypeError, r"^s: "),
    ("Cauchy", "empty t", lambda: Cauchy(v(1.0, 2.0), ones(0)), ValueError, r"^t: expected a non-empty"),
    ("Cauchy", "2-d s", lambda: Cauchy(ones(2, 2), v(3.0, 4.0)), ValueError, r"^s: expected a 1-d"),
    ("Cauchy", "unknown method", lambda: Cauchy(v(1.0, 2.0), v(3.0, 4.0), method="bad"), ValueError, r"^method: "),
    # Toeplitz / Hankel / Circulant
    ("Toeplitz", "conflicting corner", lambda: Toeplitz(v(1.0, 2.0), v(3.0, 4.0)), ValueError, r"^r: r\[0\] = 3.0 conflicts"),
    ("Toeplitz", "NaN", lambda: Toeplitz(v(NAN, 2.0)), ValueError, r"^c: expected finite"),
    ("Toeplitz", "NaN in r", lambda: Toeplitz(v(1.0, 2.0), v(1.0, NAN)), ValueError, r"^r: expected finite"),
    ("Toeplitz", "empty c", lambda: Toeplitz(ones(0)), ValueError, r"^c: expected a non-empty"),
    ("Toeplitz", "empty r", lambda: Toeplitz(v(1.0), ones(0)), ValueError, r"^r: expected a non-empty"),
    ("Toeplitz", "integer c", lambda: Toeplitz(torch.arange(3)), TypeError, r"^c: "),
    ("Toeplitz", "2-d c", lambda: Toeplitz(ones(2, 2)), ValueError, r"^c: expected a 1-d"),
    ("Hankel", "conflicting corner", lambda: Hankel(v(1.0, 2.0), v(3.0, 4.0)), ValueError, r"^r: r\[0\] = 3.0 conflicts with c\[-1\]"),
    ("Hankel", "integer r", lambda: Hankel(v(1.0, 2.0), torch.tensor([2, 3])), TypeError, r"^r: "),
    ("Hankel", "empty c", lambda: Hankel(ones(0)), ValueError, r"^c: expected a non-empty"),
    ("Hankel", "infinite", lambda: Hankel(v(1.0, INF)), ValueError, r"^c: expected finite"),
    ("Circulant", "empty", lambda: Circulant(ones(0)), ValueError, r"^c: expected a non-empty"),
    ("Circulant", "integer", lambda: Circulant(torch.arange(3)), TypeError, r"^c: "),
    ("Circulant", "NaN", lambda: Circulant(v(NAN, 1.0)), ValueError, r"^c: expected finite"),
    ("Circulant", "2-d", lambda: Circulant(ones(2, 2)), ValueError, r"^c: expected a 1-d"),
    # LDR
    ("LDR", "Sylvester (Z, Z): shared eigenvalue 0", lambda: LDR(ones(3, 1), ones(3, 1), "Z", "Z"), ValueError, r"^L, R: .*singular"),
    ("LDR", "Sylvester (Z, Zᵀ)", lambda: LDR(ones(3, 1), ones(3, 1), "Z", "Zt"), ValueError, r"^L, R: "),
    ("LDR", "Sylvester (Z_1, Z_1)", lambda: LDR(ones(3, 1), ones(3, 1), ZF1, ZF1), ValueError, r"^L, R: "),
    ("LDR", "Sylvester (D, D) shared", lambda: LDR(ones(3, 1), ones(3, 1), ("D", v(1.0, 2.0, 3.0)), ("D", v(3.0, 4.0, 5.0))),
     ValueError, r"^L, R: L and R share an eigenvalue"),
    ("LDR", "Sylvester (D, Z_1): d_i a root of 1", lambda: LDR(ones(3, 1), ones(3, 1), ("D", v(1.0, 2.0, 3.0)), ZF1),
     ValueError, r"^L, R: .*share an eigenvalue"),
    ("LDR", "Sylvester (D_ω, Z_1), complex root", lambda: LDR(ones(3, 1), ones(3, 1),
     ("D", v(complex(math.cos(2 * math.pi / 3), math.sin(2 * math.pi / 3)), 2, 3, dtype=torch.complex128)), ZF1),
     ValueError, r"^L, R: "),
    ("LDR", "Vandermonde-like with node 0", lambda: LDR.vandermonde_like(ones(3, 1), ones(3, 1), v(0.0, 1.0, 2.0)),
     ValueError, r"^L, R: "),
    ("LDR", "Stein (D, D) with λμ = 1", lambda: LDR(ones(3, 1), ones(3, 1), ("D", v(2.0, 3.0, 4.0)), ("D", v(0.5, 5.0, 6.0)),
     form="stein"), ValueError, r"^L, R: .*stein"),
    ("LDR", "Stein (Z_2, Z_1/2)", lambda: LDR(ones(3, 1), ones(3, 1), ("Zf", 2.0), ("Zf", 0.5), form="stein"),
     ValueError, r"^L, R: .*stein"),
    ("LDR", "two shifts, m ≠ n", lambda: LDR(ones(3, 1), ones(4, 1), ZF1, ZFM1), ValueError, r"^L, R: .*square"),
    ("LDR", "generator ranks differ", lambda: LDR(ones(3, 1), ones(3, 2), ZF1, ZFM1), ValueError, r"^H: expected 1 columns"),
    ("LDR", "NaN generator", lambda: LDR(torch.full((3, 1), NAN), ones(3, 1), ZF1, ZFM1), ValueError, r"^G: expected finite"),
    ("LDR", "integer generator", lambda: LDR(ones(3, 1, dtype=torch.int64), ones(3, 1), ZF1, ZFM1), TypeError, r"^G: "),
    ("LDR", "empty generators", lambda: LDR(ones(3, 0), ones(3, 0), ZF1, ZFM1), ValueError, r"^G: expected a non-empty"),
    ("LDR", "1-d generator", lambda: LDR(ones(3), ones(3, 1), ZF1, ZFM1), ValueError, r"^G: expected a 2-d"),
    ("LDR", "unknown operator", lambda: LDR(ones(3, 1), ones(3, 1), "Q", ZFM1), ValueError, r"^L: unknown operator"),
    ("LDR", "operator None", lambda: LDR(ones(3, 1), ones(3, 1), None, ZFM1), TypeError, r"^L: "),
    ("LDR", "unknown form", lambda: LDR(ones(3, 1), ones(3, 1), ZF1, ZFM1, form="x"), ValueError, r"^form: "),
    ("LDR", "diagonal of wrong length", lambda: LDR(ones(3, 1), ones(3, 1), ("D", v(1.0, 2.0)), ZFM1), ValueError, r"^L: .*length 3"),
    ("LDR", "NaN diagonal", lambda: LDR(ones(3, 1), ones(3, 1), ZF1, ("D", v(NAN, 2.0, 3.0))), ValueError, r"^R: expected finite"),
    ("LDR", "integer diagonal", lambda: LDR(ones(3, 1), ones(3, 1), ("D", torch.tensor([5, 6, 7])), ZFM1), TypeError, r"^L: "),
    ("LDR", "NaN f", lambda: LDR(ones(3, 1), ones(3, 1), ("Zf", NAN), ZFM1), ValueError, r"^L: expected a finite f"),
    ("LDR", "string f", lambda: LDR(ones(3, 1), ones(3, 1), ZF1, ("Zft", "a")), TypeError, r"^R: "),
    ("LDR", "complex f with real dtype=", lambda: LDR(ones(3, 1), ones(3, 1), ("Zf", 1j), ZFM1, dtype=F64), TypeError, r"^dtype: "),
    ("LDR", "displacement: integer W", lambda: LDR.displacement(ones(3, 3, dtype=torch.int64), "Zt", "Z"), TypeError, r"^W: "),
    ("LDR", "from_dense rank 0", lambda: LDR.from_dense(ones(3, 3), ZF1, ZFM1, rank=0), ValueError, r"^rank: "),
    # SparseProduct
    ("SparseProduct", "no factors", lambda: SparseProduct([]), ValueError, r"^factors: expected at least one"),
    ("SparseProduct", "inner dimensions differ", lambda: SparseProduct([_sp((2, 3)), _sp((2, 2))]), ValueError,
     r"^factors: factor 0 has shape \(2, 3\)"),
    ("SparseProduct", "non-Sparse factor", lambda: SparseProduct([Dense(ones(2, 2))]), TypeError, r"^factors: .*factor 0 is Dense"),
    ("SparseProduct", "a bare Sparse", lambda: SparseProduct(_sp()), TypeError, r"^factors: expected a list"),
]


@pytest.mark.parametrize("family,what,build,exc,pattern", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_constructor_rejects(family, what, build, exc, pattern):
    with pytest.raises(exc, match=pattern):
        build()


def test_every_classical_family_is_covered():
    families = {c[0] for c in CASES}
    expected = {"Dense", "LowRank", "Sparse", "SparsePlusLowRank", "Diagonal", "Permutation", "Fourier", "Vandermonde",
                "Cauchy", "Toeplitz", "Hankel", "Circulant", "LDR", "SparseProduct"}
    assert expected <= families
    for fam in expected:  # every family rejects at least one malformed value and one wrong type or shape
        kinds = {c[3] for c in CASES if c[0] == fam}
        assert ValueError in kinds or TypeError in kinds


def test_valid_neighbours_are_accepted():
    """The boundaries of the checks above: the closest valid inputs construct (so the checks do
    not over-reject)."""
    assert Toeplitz(v(1.0, 2.0), v(1.0, 4.0)).shape == (2, 2)
    assert Hankel(v(1.0, 2.0), v(2.0, 4.0)).shape == (2, 2)
    assert Cauchy(v(0.0, 1.0), v(0.5, 4.0)).shape == (2, 2)
    assert Vandermonde(v(1.0, 1.0), 3).shape == (2, 3)  # repeated nodes: allowed (documented)
    assert Sparse([], [], [], (2, 3)).nnz == 0  # the zero matrix
    assert Diagonal(torch.arange(3), dtype=F64).dtype == F64  # integer values with an explicit dtype
    assert LDR(ones(3, 1), ones(3, 1), "Z", "Z", form="stein").shape == (3, 3)  # λμ = 0 ≠ 1
    assert LDR(ones(3, 1), ones(3, 1), ("D", v(1.0, 1.0, 3.0)), ("D", v(4.0, 5.0, 6.0))).shape == (3, 3)
