"""Theorem 5.5 (circuit_to_kmatrix), the converse of Theorem 4.5 (Circuit.from_sparse_factors)
and Theorem 2.9 (Circuit.linearize), on the library's circuits and random ones (hypothesis).

References are independent of the code under test: ``dense_rational`` (symbolic rows propagated
gate by gate over ℚ) and numpy. Tolerances: circuit_to_kmatrix 1e-12 normwise (the K-matrix
re-associates the layer products; d ≤ 8 layers of ≤ 2-term rows here); exact (Fractions,
GF(p)) for the circuit-to-circuit constructions.
"""

import random
from fractions import Fraction

import numpy as np
import pytest
import torch
from _circuit_strategies import dense_rational, random_circuits
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kmatrix
from kmatrix import circuits as C
from kmatrix.circuits import FRACTION, GF, Circuit


def _dense_ref(c):
    return torch.tensor(
        [[complex(v) for v in row] for row in dense_rational(c)], dtype=torch.complex128
    )


def _check_kmatrix(c, K):
    W = c.to_dense().to(torch.complex128)
    D = K.to_dense().detach().to(torch.complex128)
    assert K.shape == (c.n_outputs, c.n_inputs)
    assert (D - W).norm() <= 1e-12 * max(W.norm(), 1e-300)
    assert K.width <= 4 * c.depth  # Theorem 5.5: width O(d)
    assert K.size <= 4 * c.num_nodes  # expansion O(s/n): N ≤ 4·(nodes incl. inputs)
    assert K.num_params == 4 * K.width * K.size * K.levels


def _toeplitz(r, n):
    col = list(r.standard_normal(n))
    return C.toeplitz(col, [col[0], *r.standard_normal(n - 1)])


def _rng(gen):
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=gen)))


@pytest.mark.parametrize(
    "make",
    [
        lambda r: C.fft(2),
        lambda r: C.fft(8),
        lambda r: C.fft(32),
        lambda r: C.hadamard(16),
        lambda r: C.prefix_sums(13),
        lambda r: C.prefix_sums(16, method="sequential"),
        lambda r: _toeplitz(r, 8),
        lambda r: _toeplitz(r, 5),
        lambda r: C.from_matrix(np.where(r.random((9, 7)) < 0.3, r.standard_normal((9, 7)), 0.0)),
        lambda r: C.from_matrix(
            np.where(r.random((6, 6)) < 0.4, r.standard_normal((6, 6)) + 1j, 0.0)
        ),
    ],
)
def test_circuit_to_kmatrix_library(make, gen):
    c = make(_rng(gen))
    K = kmatrix.circuit_to_kmatrix(c)
    _check_kmatrix(c, K)
    assert K.dtype == (torch.complex128 if c.to_dense().is_complex() else torch.float64)
    x = torch.randn(3, c.n_inputs, dtype=K.dtype, generator=gen)
    ref = c(x)
    assert (K(x) - ref).norm() <= 1e-12 * ref.norm()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_circuits(linear=True, max_inputs=5, max_gates=14))
def test_circuit_to_kmatrix_random(c):
    K = kmatrix.circuit_to_kmatrix(c)
    W = _dense_ref(c)
    D = K.to_dense().detach().to(torch.complex128)
    assert (D - W).norm() <= 1e-12 * max(float(W.norm()), 1.0)
    assert K.width <= 4 * c.depth and K.size <= 4 * c.num_nodes


def test_circuit_to_kmatrix_bad_input():
    with pytest.raises(ValueError, match="linear"):
        kmatrix.circuit_to_kmatrix(C.polynomial_multiply(2))
    with pytest.raises(TypeError, match="GF"):
        kmatrix.circuit_to_kmatrix(C.fft(4, field=GF(17)))
    c = Circuit(2)
    c.lin(1, 0, 1, 1)
    with pytest.raises(ValueError, match="no outputs"):
        kmatrix.circuit_to_kmatrix(c)
    with pytest.raises(TypeError, match="Circuit"):
        kmatrix.circuit_to_kmatrix(np.eye(3))
    with pytest.raises(TypeError, match="complex"):
        kmatrix.circuit_to_kmatrix(C.fft(4), dtype=torch.float64)


# ---------------------------------------------------------------------------------------------
# circuit -> sparse factors -> circuit
# ---------------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_circuits(linear=True, max_inputs=5, max_gates=14))
def test_from_sparse_factors_round_trip_exact(c):
    trips = C.sparse_factor_triplets(c)
    F = Circuit.from_sparse_factors(trips)
    assert F.is_linear
    assert F.to_dense(field=FRACTION) == dense_rational(c)
    assert F.size <= sum(len(t[0]) for t in trips)  # ≤ total nnz
    assert F.depth <= c.depth  # rows have ≤ 2 nonzeros: one level per layer


@pytest.mark.parametrize(
    "c", [C.fft(16), C.hadamard(8), C.prefix_sums(9), C.toeplitz([1.0, 2.5, 3.0], [1.0, -4.0])]
)
def test_from_sparse_factors_library(c):
    SP = c.to_sparse_factors()
    F = Circuit.from_sparse_factors(SP)
    assert torch.allclose(F.to_dense(), c.to_dense(), rtol=0, atol=1e-12)
    assert F.depth == c.depth and F.size <= sum(f.nnz for f in SP.factors)


def test_from_sparse_factors_general(gen):
    """Arbitrary sparse factors (rows with many nonzeros), every accepted input type."""
    import scipy.sparse as sps

    rng = _rng(gen)
    A = np.where(rng.random((5, 7)) < 0.5, rng.standard_normal((5, 7)), 0.0)
    B = np.where(rng.random((7, 4)) < 0.5, rng.standard_normal((7, 4)), 0.0)
    for fa, fb in [
        (A, B),
        (sps.csr_matrix(A), torch.from_numpy(B)),
        (kmatrix.Sparse.from_dense(A), B),
    ]:
        F = Circuit.from_sparse_factors([fa, fb])
        assert np.allclose(F.to_dense().numpy(), A @ B, rtol=0, atol=1e-12)
        assert F.size <= np.count_nonzero(A) + np.count_nonzero(B)
    # over GF(p): exact residues
    p = 101
    tr = [([0, 0, 1], [0, 1, 1], [3, 5, 7], (2, 2))]
    F = Circuit.from_sparse_factors(tr, field=GF(p))
    assert F.to_dense() == [[3, 5], [0, 7]]
    with pytest.raises(ValueError, match="chain"):
        Circuit.from_sparse_factors([A, A])
    with pytest.raises(TypeError, match="non-empty list"):
        Circuit.from_sparse_factors([])


# ---------------------------------------------------------------------------------------------
# Theorem 2.9: linearize
# ---------------------------------------------------------------------------------------------
def obfuscate(c: Circuit, rng: random.Random, field=None, zero_divisors=True) -> Circuit:
    """A non-linear circuit computing the same linear map as the linear ``c``: every lin gate's
    value g is rebuilt as (g + k)(h + 1) − g·h − k·h − k or (g·u)/u with u = x_i + k (k = 0
    sometimes, so a divisor vanishes at 0 and linearize must shift the point)."""
    d = Circuit(c.n_inputs, field=field)
    w = list(d.x)
    for i in range(c.n_inputs, c.num_nodes):
        g = c.node(i)
        v = w[g.a] * g.alpha if g.b is None else w[g.a] * g.alpha + w[g.b] * g.beta
        choice = rng.randrange(3)
        k = rng.randint(-3, 3)
        if choice == 0:
            h = w[rng.randrange(len(w))]
            v = (v + k) * (h + 1) - v * h - h * k - k
        elif choice == 1:
            u = d.x[rng.randrange(c.n_inputs)] + (
                0 if zero_divisors and rng.random() < 0.5 else k or 1
            )
            v = (v * u) / u
        w.append(v)
    for o in c.outputs:
        d.output(w[o])
    return d


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_circuits(linear=True, max_inputs=4, max_gates=10), st.integers(0, 2**32))
def test_linearize_random_exact(c, seed):
    d = obfuscate(c, random.Random(seed))
    L = d.linearize(seed=seed)
    assert L.is_linear and L.n_inputs == c.n_inputs and L.n_outputs == c.n_outputs
    assert L.to_dense(field=FRACTION) == dense_rational(c)
    assert L.size <= d.size + L.n_outputs  # O(s): at most one gate per gate (+ scaled outputs)


@pytest.mark.parametrize("p", [1_000_003, (1 << 61) - 1])
def test_linearize_gf(p, gen):
    rng = random.Random(int(torch.randint(0, 2**31, (1,), generator=gen)))
    lin = Circuit(3, field=GF(p))
    lin.output(lin.x[0] * 5 + lin.x[1] * (p - 2))
    lin.output(lin.x[2] * 7 + lin.x[0])
    d = obfuscate(lin, rng, field=GF(p))
    L = d.linearize(seed=1)
    assert L.to_dense() == lin.to_dense()


def test_linearize_float_and_complex(gen):
    rng = random.Random(int(torch.randint(0, 2**31, (1,), generator=gen)))
    for coef in (0.3, 0.25 + 1.5j):
        c = Circuit(3)
        c.output(c.x[0] * coef + c.x[1] * 2.5)
        c.output(c.x[2] * -1.75 + c.x[0] * coef)
        L = obfuscate(c, rng).linearize(seed=3)
        # Floating linearization carries each gate's constant and linear parts through the
        # obfuscation's random products and quotients: the linear part comes out of sums that
        # cancel, so a few digits go (measured worst over 240 draws: 4.7e-11 on entries ~2.5).
        assert torch.allclose(L.to_dense(), c.to_dense(), rtol=0, atol=1e-9)


@pytest.mark.parametrize("n", [2, 4, 8])
def test_linearize_karatsuba_one_operand_fixed(n, gen):
    """Karatsuba's a·b with b fixed is the linear map a ↦ T_b a (a Toeplitz band): exact."""
    rng = _rng(gen)
    b = [Fraction(int(v), int(q)) for v, q in zip(rng.integers(-9, 10, n), rng.integers(1, 5, n))]
    kara = C.polynomial_multiply(n)
    fixed = C.fix_inputs(kara, {n + i: b[i] for i in range(n)})
    L = fixed.linearize()
    T = [[b[i - j] if 0 <= i - j < n else 0 for j in range(n)] for i in range(2 * n - 1)]
    assert L.to_dense(field=FRACTION) == T
    assert L.size <= fixed.size + L.n_outputs
    # and the float version against numpy.convolve
    bf = rng.standard_normal(n)
    Lf = C.fix_inputs(kara, {n + i: float(bf[i]) for i in range(n)}).linearize()
    a = rng.standard_normal(n)
    assert np.allclose(Lf.to_dense().numpy() @ a, np.convolve(a, bf), rtol=0, atol=1e-12)


def test_linearize_bad_input():
    c = Circuit(2)
    c.output(c.x[0] + 1)  # affine
    with pytest.raises(ValueError, match="not compute a linear map"):
        c.linearize(seed=0)
    c = Circuit(2)
    c.output(c.x[0] * c.x[1])  # bilinear
    with pytest.raises(ValueError, match="not compute a linear map"):
        c.linearize(seed=0)
    c = Circuit(2)
    c.output(c.x[0] / (c.x[1] - c.x[1]))  # divides by the zero function
    with pytest.raises(ValueError, match="divisor is zero"):
        c.linearize(seed=0)
    with pytest.raises(ValueError, match="no outputs"):
        Circuit(2).linearize()
    with pytest.raises(TypeError, match="Circuit"):
        C.linearize(np.eye(2))
    with pytest.raises(ValueError, match="input index"):
        C.fix_inputs(C.polynomial_multiply(2), {7: 1})


@pytest.mark.parametrize("n", [1, 3, 8])
def test_linearize_horner_t_fixed(n):
    """Horner's p(t) with t fixed is the row (1, t, …, t^{n−1}): exact over ℚ."""
    t = Fraction(-2, 3)
    L = C.fix_inputs(C.horner(n), {n: t}).linearize()
    assert L.to_dense(field=FRACTION) == [[t**i for i in range(n)]]


def test_outputs_are_learnable_kmatrices(gen):
    """A construction's output is an ordinary KMatrix: gradients for x and θ (gradcheck)."""
    rng = _rng(gen)
    A = np.where(rng.random((6, 5)) < 0.4, rng.standard_normal((6, 5)), 0.0)
    K = kmatrix.sparse_to_kmatrix(A)
    x = torch.randn(2, 5, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, tw: torch.func.functional_call(K, {"twiddle": tw}, (x,)),
        (x, K.twiddle.detach().clone().requires_grad_()),
    )
    Kc = kmatrix.circuit_to_kmatrix(C.fft(4))
    xc = torch.randn(1, 4, dtype=torch.complex128, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(Kc, (xc,))
