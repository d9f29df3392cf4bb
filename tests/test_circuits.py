"""Circuit IR, builder, evaluation (torch / Fraction / GF(p)) and the library's sizes.

Tolerances: float64 vs exact comparisons use a rigorous running forward-error bound
(``_circuit_strategies.float_error_bound``, u = 2⁻⁵³ per operation), so they are as tight as the
arithmetic allows; library transforms vs numpy/scipy references in float64 use
1e-12·n (entries of modulus ≤ 1, log n rounding steps per output, n-term reference sums).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import scipy.linalg
import torch
from _circuit_strategies import (
    dense_rational,
    exact_values,
    float_error_bound,
    gf_image,
    random_circuits,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import kmatrix
from kmatrix.circuits import (
    GF,
    Circuit,
    fft,
    from_matrix,
    hadamard,
    horner,
    is_prime,
    polynomial_multiply,
    prefix_sums,
    toeplitz,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
P = 1_000_003  # a prime


# ---------------------------------------------------------------------------- builder and IR
def test_builder_folds_constants_into_gates():
    c = Circuit(n_inputs=4)
    y = 2 * c.x[0] + c.x[1]
    assert c.size == 1 and c.node(4) == ("lin", 0, 1, 2, 1)
    z = (3 * y) * Fraction(1, 2) - c.x[2] / 4  # scaling folds into the next gate
    assert c.size == 2 and c.node(5).alpha == Fraction(3, 2) and c.node(5).beta == Fraction(-1, 4)
    c.output(y)  # coefficient 1: no gate
    assert c.size == 2
    c.output(-z)  # a scaled value that is an output costs one unary gate
    assert c.size == 3 and c.node(6) == ("lin", 5, None, -1, None)
    c.output(c.x[3])  # an input as output: free
    c.output(c.x[0] * c.x[1])  # product gate
    assert c.size == 4 and not c.is_linear
    assert c.outputs == (4, 6, 3, 7)
    assert c.depth == 3 and c.layers() == [[4, 7], [5], [6]]
    lines = c.gate_list()
    assert lines[0].startswith("g4 = 2·x0 + x1") and lines[-1] == "outputs: y0 = g4, y1 = g6, y2 = x3, y3 = g7"


def test_builder_integer_powers():
    # w ** k by repeated squaring: ⌊log₂ k⌋ + popcount(k) − 1 products; w ** −k one quotient more
    for k in range(-4, 14):
        c = Circuit(1)
        c.output((2 * c.x[0]) ** k)
        t = Fraction(-3, 5)
        assert c.evaluate([t], field="fraction") == [(2 * t) ** k]
        K = abs(k)
        want = 0 if K == 0 else K.bit_length() - 1 + K.bit_count() - 1
        assert c.counts()["mul"] == want and c.counts()["div"] == (k < 0)
    with pytest.raises(TypeError, match="integer power"):
        Circuit(1).x[0] ** 0.5


def test_builder_affine_constants_make_constant_nodes():
    c = Circuit(1)
    c.output(c.x[0] + 3)
    assert c.size == 1 and c.node(1).op == "const" and not c.is_linear
    assert c.evaluate([[2]], field="fraction") == [[5]]
    c2 = Circuit(1)
    c2.output(1 / c2.x[0])
    assert c2.evaluate([Fraction(4)], field="fraction") == [Fraction(1, 4)]


def test_counts_and_reduced():
    c = Circuit.from_gates(3, [("lin", 2, 0, -1, 1), ("lin", 1, 3, 5, 2), ("lin", 7, 0)], [4])
    k = c.counts()
    assert (k["size"], k["additions"], k["const_mults"], k["edges"]) == (3, 2, 3, 5)
    assert not c.is_reduced  # node 5 = 7·x0 is dead
    pr = c.prune()
    assert pr.size == 2 and pr.is_reduced and pr.to_dense("fraction") == c.to_dense("fraction")


# ---------------------------------------------------------------------------- bad input
def test_gate_referring_to_later_or_missing_node():
    with pytest.raises(ValueError, match=r"gates\[0\].*node 5 does not exist"):
        Circuit.from_gates(2, [("lin", 1, 0, 1, 5)], [2])
    with pytest.raises(ValueError, match=r"gates\[1\].*node 3 does not exist"):
        Circuit.from_gates(2, [("lin", 1, 0, 1, 1), ("mul", 3, 0)], [2])  # itself: not earlier
    with pytest.raises(ValueError, match="negative"):
        Circuit(2).mul(-1, 0)
    with pytest.raises(ValueError, match=r"outputs\[0\].*node 9"):
        Circuit.from_gates(2, [], [9])
    with pytest.raises(IndexError, match=r"x\[2\].*2 inputs"):
        Circuit(2).x[2]
    with pytest.raises(ValueError, match="unknown gate form"):
        Circuit.from_gates(2, [("pow", 0, 1)], [0])
    with pytest.raises(ValueError, match="n_inputs"):
        Circuit(0)


def test_division_by_exact_zero_constant():
    c = Circuit(2)
    for bad in (0, Fraction(0), 0.0):
        with pytest.raises(ValueError, match="division by an exact zero constant"):
            c.x[0] / bad
    with pytest.raises(ValueError, match="division by an exact zero constant"):
        c.x[0] / (c.x[1] * 0)
    k = c.const(0)
    with pytest.raises(ValueError, match="division by an exact zero constant"):
        c.div(0, k)
    with pytest.raises(ValueError, match="division by an exact zero constant"):
        Circuit.from_gates(1, [("const", 0), ("div", 0, 1)], [2])


def test_wrong_number_of_inputs():
    c = hadamard(4)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 4\)"):
        c.evaluate(torch.randn(3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 4\)"):
        c.evaluate([1, 2, 3], field="fraction")
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 4\)"):
        c.gradient(torch.randn(4, dtype=torch.float64)[:3], torch.randn(4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"seed.*\(\.\.\., 4\)"):
        c.gradient(torch.randn(4, dtype=torch.float64), torch.randn(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="seed: required"):
        c.gradient(torch.randn(4, dtype=torch.float64))
    with pytest.raises(TypeError, match="torch.Tensor"):
        c.evaluate([1, 2, 3, 4])


def test_gf_requires_prime():
    for p in (4, 1, 0, -7, 91, 561):  # 561 = 3·11·17 (Carmichael)
        with pytest.raises(ValueError, match="not prime"):
            GF(p)
    with pytest.raises(TypeError, match="prime integer"):
        GF("7")
    assert [q for q in range(60) if is_prime(q)] == [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59]
    assert is_prime(2**61 - 1) and not is_prime(2**61 + 1)
    with pytest.raises(ValueError, match=r"only if n divides p - 1"):
        fft(8, field=GF(11))


def test_exact_field_rejects_irrational_and_complex_constants():
    with pytest.raises(ValueError, match="complex"):
        fft(4).evaluate([1, 0, 0, 0], field="fraction")
    with pytest.raises(ValueError, match="complex"):
        fft(4).to_dense(field=GF(P))
    c = from_matrix([[0.1, 1.0], [2.0, math.sqrt(2)]])
    with pytest.raises(ValueError, match="non-integral float"):
        c.to_dense("fraction")
    with pytest.raises(ValueError, match="non-integral float"):
        c.evaluate([1, 1], field=GF(7))
    assert from_matrix([[2.0, -1.0]]).to_dense("fraction") == [[2, -1]]  # integral floats are exact
    with pytest.raises(ValueError, match="field"):
        fft(4).evaluate([1, 0, 0, 0], field="reals")
    with pytest.raises(ValueError, match="GF\\(17\\)"):
        fft(4, field=GF(17)).evaluate([1, 0, 0, 0], field=GF(13))
    # a GF circuit evaluates exactly; integer-valued tensors are accepted as data
    assert fft(4, field=GF(17)).evaluate(torch.ones(4)) == [4, 0, 0, 0]
    with pytest.raises(ValueError, match="non-integral float"):
        fft(4, field=GF(17)).evaluate(torch.full((4,), 0.5))


def test_nonlinear_refused_where_linearity_is_needed():
    k = polynomial_multiply(2)
    for f in (k.to_dense, k.transpose, lambda: k.transpose("baur-strassen"), k.to_sparse_factors):
        with pytest.raises(ValueError, match="linear circuit"):
            f()
    with pytest.raises(ValueError, match="method"):
        hadamard(2).transpose("conjugate")


# ---------------------------------------------------------------------------- library formulas
@pytest.mark.parametrize("n", [1, 2, 4, 8, 32, 128])
def test_fft_size_depth_and_values(n):
    c = fft(n)
    k = int(math.log2(n))
    assert (c.size, c.depth, c.is_linear) == (n * k, k, True)
    ref = torch.from_numpy(np.fft.fft(np.eye(n), axis=0))
    assert (c.to_dense() - ref).abs().max() <= 1e-12 * n
    x = torch.randn(5, n, dtype=torch.complex128)
    assert torch.allclose(c(x), torch.fft.fft(x), atol=1e-12 * n, rtol=0)


@pytest.mark.parametrize("p,n", [(17, 16), (97, 32), (7681, 256), (998244353, 64), (5, 4)])
def test_ntt_over_gf(p, n):
    c = fft(n, field=GF(p))
    k = int(math.log2(n))
    assert (c.size, c.depth) == (n * k, k)
    w = GF(p).root_of_unity(n)
    assert pow(w, n, p) == 1 and all(pow(w, j, p) != 1 for j in range(1, n))
    if n <= 32:
        assert c.to_dense() == [[pow(w, i * j, p) for j in range(n)] for i in range(n)]
    x = [(7 * j + 3) % p for j in range(n)]
    assert c.evaluate(x) == [sum(pow(w, i * j, p) * x[j] for j in range(n)) % p for i in range(n)]


@pytest.mark.parametrize("n", [1, 2, 8, 64])
def test_hadamard(n):
    c = hadamard(n)
    k = int(math.log2(n))
    assert (c.size, c.depth) == (n * k, k)
    assert c.to_dense("fraction") == scipy.linalg.hadamard(n).tolist()


def _sklansky_size(n):
    return 0 if n == 1 else _sklansky_size((n + 1) // 2) + _sklansky_size(n // 2) + n // 2


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 64])
def test_prefix_sums(n):
    c = prefix_sums(n)
    s = prefix_sums(n, "sequential")
    assert (c.size, c.depth) == (_sklansky_size(n), math.ceil(math.log2(n)))
    if n & (n - 1) == 0:
        assert c.size == n * int(math.log2(n)) // 2
    assert (s.size, s.depth) == (n - 1, n - 1)
    ref = np.tril(np.ones((n, n), dtype=int)).tolist()
    assert c.to_dense("fraction") == ref and s.to_dense("fraction") == ref
    with pytest.raises(ValueError, match="method"):
        prefix_sums(4, "kogge")


@pytest.mark.parametrize("n", [1, 2, 4, 8, 16])
def test_karatsuba(n):
    c = polynomial_multiply(n)
    k = int(math.log2(n))
    assert (c.size, c.depth, c.counts()["mul"]) == (7 * 3**k - 8 * n + 2, 3 * k + 1, 3**k)
    rng = np.random.default_rng(n)
    a = [Fraction(int(t), 3) for t in rng.integers(-9, 10, n)]
    b = [Fraction(int(t), 5) for t in rng.integers(-9, 10, n)]
    ref = np.convolve(np.array(a, dtype=object), np.array(b, dtype=object)).tolist()
    assert c.evaluate(a + b, field="fraction") == ref
    x = torch.randn(3, 2 * n, dtype=torch.float64)
    want = torch.stack([torch.from_numpy(np.convolve(r[:n].numpy(), r[n:].numpy())) for r in x])
    assert torch.allclose(c(x), want, atol=1e-12 * n, rtol=0)
    with pytest.raises(ValueError, match="power of two"):
        polynomial_multiply(3)


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_horner(n):
    c = horner(n)
    assert (c.size, c.depth, c.n_outputs, c.is_linear) == (2 * (n - 1), 2 * (n - 1), 1, n == 1)
    coef = [Fraction(j + 1, 2 + j) for j in range(n)]
    t = Fraction(-3, 7)
    assert c.evaluate(coef + [t], field="fraction") == [sum(cj * t**j for j, cj in enumerate(coef))]


@pytest.mark.parametrize("n", [1, 2, 4, 8, 16])
def test_toeplitz_square(n):
    rng = np.random.default_rng(n)
    col = [Fraction(int(a), int(b)) for a, b in zip(rng.integers(1, 10**6, n), rng.integers(1, 99, n))]
    row = [col[0]] + [Fraction(int(a), 7) for a in rng.integers(1, 10**6, n - 1)]
    c = toeplitz(col, row)
    k = int(math.log2(n))
    assert (c.size, c.depth) == ((3 ** (k + 1) - 3 * n, 2 * k) if n > 1 else (1, 1))
    assert c.to_dense("fraction") == scipy.linalg.toeplitz(np.array(col, dtype=object), np.array(row, dtype=object)).tolist()


@pytest.mark.parametrize("m,n", [(3, 5), (5, 3), (1, 4), (6, 6)])
def test_toeplitz_rectangular(m, n):
    col = [Fraction(i * i + 1, 3) for i in range(m)]
    row = [col[0]] + [Fraction(-(j + 2), 5) for j in range(1, n)]
    c = toeplitz(col, row)
    N = 1 << (max(m, n) - 1).bit_length()
    assert c.size <= 3 ** (int(math.log2(N)) + 1) - 3 * N
    assert c.to_dense("fraction") == scipy.linalg.toeplitz(np.array(col, dtype=object), np.array(row, dtype=object)).tolist()
    W = torch.from_numpy(scipy.linalg.toeplitz(np.array(col, float), np.array(row, float)))
    assert torch.allclose(c.to_dense(), W, atol=1e-12 * N, rtol=0)
    with pytest.raises(ValueError, match=r"r\[0\] == c\[0\]"):
        toeplitz([1, 2], [3, 4])


@pytest.mark.parametrize("m,n", [(1, 1), (3, 2), (4, 7), (5, 16)])
def test_from_matrix(m, n):
    rng = np.random.default_rng(m * n)
    W = [[Fraction(int(a), int(b)) for a, b in zip(rng.integers(1, 50, n), rng.integers(1, 9, n))] for _ in range(m)]
    c = from_matrix(W)
    ones = sum(1 for r in W if n == 1 and r[0] == 1)
    assert c.size == (m * (n - 1) if n > 1 else m - ones) and c.depth == math.ceil(math.log2(n)) + (n == 1 and ones < m)
    assert c.to_dense("fraction") == W  # constants stay exact
    Wt = torch.randn(m, n, dtype=torch.complex128)
    assert torch.allclose(from_matrix(Wt).to_dense(), Wt, atol=1e-15, rtol=0)
    Z = [[0] * n for _ in range(m)]
    assert from_matrix(Z).to_dense("fraction") == Z  # zero rows: the gate 0·x0
    # numpy arrays: integer entries stay exact, float entries evaluate in float64
    A = rng.integers(-9, 10, (m, n))
    cA = Circuit.from_matrix(A)
    assert cA.to_dense("fraction") == A.tolist() and cA.depth <= max(1, math.ceil(math.log2(n)))
    assert cA.size <= m * max(n - 1, 1)
    Af = rng.standard_normal((m, n))
    assert torch.allclose(Circuit.from_matrix(Af).to_dense(), torch.from_numpy(Af), atol=1e-15 * n, rtol=0)


def test_torch_dtypes_and_autograd():
    c = hadamard(8)
    x32 = torch.randn(2, 3, 8)
    y = c(x32)
    assert y.dtype == torch.float32 and y.shape == (2, 3, 8)
    assert torch.allclose(y, x32 @ torch.from_numpy(scipy.linalg.hadamard(8)).float().T, atol=1e-5)
    assert c(torch.arange(8)).dtype == torch.float64  # integer input → float64
    assert c(x32, dtype=torch.complex128).dtype == torch.complex128
    assert fft(4)(torch.randn(4, dtype=torch.float64)).dtype == torch.complex128
    with pytest.raises(TypeError, match="complex constants"):
        fft(4)(torch.randn(4), dtype=torch.float32)
    x = torch.randn(8, dtype=torch.float64, requires_grad=True)
    # the no-graph path (one preallocated buffer) and the autograd path (concatenation) agree
    for circ in (c, horner(5), polynomial_multiply(4)):
        z = torch.randn(3, circ.n_inputs, dtype=torch.float64)
        assert torch.equal(circ(z), circ(z.clone().requires_grad_()).detach())
    (c(x) ** 2).sum().backward()  # autograd flows through the layer-vectorised evaluation
    H = torch.from_numpy(scipy.linalg.hadamard(8)).double()
    assert torch.allclose(x.grad, 2 * H.T @ (H @ x.detach()), atol=1e-12)


def test_kmatrix_exports_circuits():
    assert kmatrix.circuits.fft is fft


# ---------------------------------------------------------------------------- property tests
@SETTINGS
@given(random_circuits(), st.data())
def test_evaluation_agrees_fraction_gf_torch(c, data):
    x = data.draw(st.lists(st.fractions(-4, 4, max_denominator=8), min_size=c.n_inputs, max_size=c.n_inputs))
    v = exact_values(c, x)
    assume(v is not None)
    want = [v[o] for o in c.outputs]
    assert c.evaluate(x, field="fraction") == want
    # GF(p): the image of every exact value, when no denominator vanishes mod p
    try:
        got = c.evaluate(x, field=GF(P))
    except ZeroDivisionError:
        assume(False)
    imgs = [gf_image(q, P) for q in want]
    if None not in imgs:
        assert got == imgs
    # torch float64 within the rigorous forward-error bound (inputs with denominators 2^k are
    # exact in float64; others carry their rounding error into the bound)
    xd = [Fraction(float(t)) for t in x]
    e = float_error_bound(c, xd)
    assume(e is not None)
    vd = exact_values(c, xd)
    y = c(torch.tensor([float(t) for t in x], dtype=torch.float64))
    for k, o in enumerate(c.outputs):
        assert abs(Fraction(y[k].item()) - vd[o]) <= e[o], (k, float(vd[o]), float(e[o]))


@SETTINGS
@given(random_circuits(linear=True, max_gates=12))
def test_linear_to_dense_exact_and_float(c):
    W = dense_rational(c)
    assert c.to_dense("fraction") == W
    assert c.to_dense(GF(P)) == [[gf_image(q, P) for q in r] for r in W]
    Wf = c.to_dense()
    assert Wf.dtype == torch.float64
    ref = torch.tensor([[float(q) for q in r] for r in W], dtype=torch.float64)
    scale = 1 + ref.abs().max().item()
    assert torch.allclose(Wf, ref, atol=1e-13 * scale * (1 + c.depth), rtol=0)


@SETTINGS
@given(random_circuits(max_gates=8, allow_div=False), st.integers(1, 5))
def test_batched_equals_per_sample(c, B):
    x = torch.randint(-3, 4, (B, c.n_inputs)).double() / 2
    y = c(x)
    assert y.shape == (B, c.n_outputs)
    for b in range(B):
        assert torch.equal(y[b], c(x[b]))
