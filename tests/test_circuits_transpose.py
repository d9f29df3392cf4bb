"""Transposition principle (Theorem 3.10) and circuits → sparse factors (Theorem 4.5).

Exact checks use Fraction / GF(p) (equality). Float checks (complex128 random coefficients,
library circuits) use 1e-12·(1 + ‖W‖_max)·(1 + depth): each entry of W is a sum of path products
accumulated through ≤ depth roundings, and the same holds for the transposed circuit.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
from _circuit_strategies import dense_rational, gf_image, random_circuits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kmatrix
from kmatrix.circuits import GF, Circuit, fft, hadamard, prefix_sums, toeplitz
from kmatrix.circuits.sparse_factors import sparse_factor_triplets

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
P = 1_000_003
METHODS = ["reverse", "baur-strassen"]


def _T(W):
    return [list(r) for r in zip(*W)]


@SETTINGS
@given(random_circuits(linear=True, max_gates=12))
def test_transpose_exact(c):
    W = dense_rational(c)
    for method in METHODS:
        t = c.transpose(method)
        assert t.is_linear and t.n_inputs == c.n_outputs and t.n_outputs == c.n_inputs
        assert t.to_dense("fraction") == _T(W)
        assert t.to_dense(GF(P)) == [[gf_image(q, P) for q in r] for r in _T(W)]
        # transposing twice gives W back
        assert t.transpose(method).to_dense("fraction") == W


@SETTINGS
@given(random_circuits(linear=True, max_gates=12, reduced=True))
def test_reversal_counts_on_reduced_circuits(c):
    assert c.is_reduced
    n, m = c.n_inputs, c.n_outputs
    k, t = c.counts(), c.transpose("reverse").counts()
    assert t["const_mults"] == k["const_mults"]
    assert t["additions"] == k["additions"] + m - n


@SETTINGS
@given(random_circuits(linear=True, max_gates=12))
def test_reversal_counts_at_most_on_any_circuit(c):
    n, m = c.n_inputs, c.n_outputs
    n_used = sum(c.live()[:n])  # an unused input x_j gives the output 0 = 0·y0: no addition
    k = c.counts()
    for method in METHODS:
        t = c.transpose(method).counts()
        if method == "reverse":
            assert t["const_mults"] <= k["const_mults"]
            assert t["additions"] <= k["additions"] + m - n_used  # dead gates only remove work
        # Baur–Strassen: one addition per extra contribution (lin operands + m seeds) and at
        # most one unary gate per output: size ≤ edges + m + n = O(s + n)
        assert t["size"] <= k["edges"] + m + n


@SETTINGS
@given(random_circuits(linear=True, max_gates=12, coefs=st.complex_numbers(max_magnitude=3, allow_nan=False, allow_infinity=False)))
def test_transpose_float_complex(c):
    W = c.to_dense(dtype=torch.complex128)
    tol = 1e-12 * (1 + W.abs().max().item()) * (1 + c.depth) * (1 + c.size)
    for method in METHODS:
        Wt = c.transpose(method).to_dense(dtype=torch.complex128)
        assert torch.allclose(Wt, W.T, atol=tol, rtol=0)  # the transpose, not the conjugate
        y = torch.randn(4, c.n_outputs, dtype=torch.complex128)
        assert torch.allclose(c.transpose(method)(y), y @ W, atol=tol * (1 + y.abs().max().item()) * c.n_outputs, rtol=0)


@pytest.mark.parametrize("c", [fft(16), hadamard(8), prefix_sums(9), toeplitz([1, 2, 3, 4, 5], [1, -1, 7])], ids=str)
def test_transpose_library(c):
    W = c.to_dense()
    for method in METHODS:
        t = c.transpose(method)
        assert torch.allclose(t.to_dense(), W.T, atol=1e-12 * (1 + c.depth) * (1 + W.abs().max().item()), rtol=0)
        assert t.size <= c.counts()["edges"] + c.n_inputs + c.n_outputs
    if c.is_reduced:
        k, t = c.counts(), c.transpose().counts()
        assert (t["const_mults"], t["additions"]) == (k["const_mults"], k["additions"] + c.n_outputs - c.n_inputs)


def test_transpose_gf_circuit():
    c = fft(16, field=GF(97))
    for method in METHODS:
        assert c.transpose(method).to_dense() == _T(c.to_dense())  # the NTT matrix is symmetric too


def test_transpose_non_reduced_examples():
    # an unused input gives a zero output 0·y0; a dead gate disappears
    c = Circuit.from_gates(3, [("lin", 2, 0, 3, 1), ("lin", 5, 0)], [3])
    assert not c.is_reduced
    for method in METHODS:
        t = c.transpose(method)
        assert t.to_dense("fraction") == [[2], [3], [0]]
        assert t.counts()["const_mults"] <= 2


# ---------------------------------------------------------------------------- Theorem 4.5
def _exact_product(trip):
    """Multiply the (rows, cols, values, shape) factors exactly (Fraction), last one first."""
    rows, cols, vals, (mm, nn) = trip[-1]
    M = [[Fraction(0)] * nn for _ in range(mm)]
    for r, c_, v in zip(rows, cols, vals):
        M[r][c_] += Fraction(v)
    for rows, cols, vals, (mm, kk) in reversed(trip[:-1]):
        out = [[Fraction(0)] * len(M[0]) for _ in range(mm)]
        for r, c_, v in zip(rows, cols, vals):
            for j, q in enumerate(M[c_]):
                if q:
                    out[r][j] += Fraction(v) * q
        M = out
    return M


@SETTINGS
@given(random_circuits(linear=True, max_gates=12))
def test_sparse_factors_exact_and_structure(c):
    trip = sparse_factor_triplets(c)
    s, d, n, m = c.num_nodes, c.depth, c.n_inputs, c.n_outputs
    sp = 1 << (s - 1).bit_length()
    assert sp >= s and sp < 2 * s
    assert len(trip) == d + 2  # P, W_d … W_1, E
    assert _exact_product(trip) == dense_rational(c)
    assert trip[0][3] == (m, sp) and trip[-1][3] == (sp, n)
    assert all(t[3] == (sp, sp) for t in trip[1:-1])
    # copy rows only for the nodes read after layer k (by a later gate or as an output),
    # computed here from the gate list independently of the library's bookkeeping
    z, layers = n, c.layers()
    later = [set() for _ in layers]  # later[k] = nodes read by layers k+2, k+3, … or outputs
    reads = [{c.node(g).a for g in L} | {c.node(g).b for g in L if c.node(g).b is not None} for L in layers]
    acc = set(c.outputs)
    for k in range(len(layers) - 1, -1, -1):
        later[k] = set(acc)
        acc |= reads[k]
    for k, layer in enumerate(layers):
        W_k = trip[len(trip) - 2 - k]
        edges = sum(1 if c.node(g).b is None else 2 for g in layer)
        copies = {v for v in later[k] if c.node_depth(v) <= k}  # known before layer k + 1
        assert len(W_k[0]) == len(copies) + edges <= z + edges <= 2 * s
        assert max(W_k[0]) == z + len(layer) - 1  # zero rows after the layer
        z += len(layer)
    F = c.to_sparse_factors()
    assert isinstance(F, kmatrix.SparseProduct) and all(isinstance(f, kmatrix.Sparse) for f in F.factors)
    W = c.to_dense()
    assert torch.allclose(F.to_dense(), W, atol=1e-12 * (1 + W.abs().max().item()) * (1 + d), rtol=0)


@pytest.mark.parametrize("c", [fft(8), hadamard(16), toeplitz([1, 2, 3], [1, 4, 5, 6])], ids=str)
def test_sparse_factors_library(c):
    F = c.to_sparse_factors()
    W = c.to_dense()
    assert F.to_dense().dtype == W.dtype
    assert torch.allclose(F.to_dense(), W, atol=1e-12 * (1 + c.depth), rtol=0)
    x = torch.randn(3, c.n_inputs, dtype=W.dtype)
    assert torch.allclose(F(x), c(x), atol=1e-12 * (1 + c.depth) * c.n_inputs, rtol=0)
    assert len(F.factors) == c.depth + 2
    assert all(k <= 2 * c.num_nodes for k in F.nnz_per_factor)


def test_sparse_factors_depth_zero_and_errors():
    c = Circuit(3)  # a permutation with repeats: outputs x2, x0, x2 (no gates)
    for o in (2, 0, 2):
        c.output(o)
    F = c.to_sparse_factors()
    assert len(F.factors) == 2
    assert torch.equal(F.to_dense(), torch.tensor([[0.0, 0, 1], [1, 0, 0], [0, 0, 1]], dtype=torch.float64))
    with pytest.raises(TypeError, match="GF"):
        fft(4, field=GF(5)).to_sparse_factors()
    with pytest.raises(ValueError, match="linear circuit"):
        Circuit.from_gates(2, [("mul", 0, 1)], [2]).to_sparse_factors()
    with pytest.raises(ValueError, match="linear circuit"):
        sparse_factor_triplets(Circuit.from_gates(1, [("const", 2)], [1]))  # affine, not linear
