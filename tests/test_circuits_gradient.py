"""Baur–Strassen (Theorem 3.6, Algorithm 2) and Lemma 3.5.

Exactness: on circuits without division, with dyadic inputs and constants (denominators 2^k) and
node values below 2^40 with denominators ≤ 2^12, every float64 operation is exact, so the torch
reverse pass, torch.autograd and the exact Fraction gradient must agree *exactly*. With division
the exact paths (Fraction, GF(p), the gradient circuit evaluated over ℚ) must agree exactly and
the float path within 1e-9 relative to the size of the gradient under conditioning guards
(|values| ≤ 10³, |divisors| ≥ 10⁻¹, ≤ 10 gates). Over ℂ: J^T s = conj(autograd with
grad_outputs = conj(s)) (NOTES.md), compared at 1e-12·n (FFT twiddles, log n levels).
"""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
from _circuit_strategies import dyadic, exact_values, gf_image, random_circuits
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import kmatrix
from kmatrix.circuits import (
    GF,
    Circuit,
    fft,
    hadamard,
    horner,
    polynomial_multiply,
    prefix_sums,
    toeplitz,
)
from kmatrix.circuits.gradient import loss_gradient

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
P = 1_000_003


def _exact_gradient_reference(c: Circuit, x, s):
    """∇⟨s, f⟩ by forward-mode over ℚ: n forward passes with dual numbers (independent of the
    reverse pass under test)."""
    n = c.n_inputs
    out = []
    for j in range(n):
        v = [Fraction(t) for t in x]
        dv = [Fraction(int(i == j)) for i in range(n)]
        for i in range(n, c.num_nodes):
            g = c.node(i)
            if g.op == "lin":
                val = Fraction(g.alpha) * v[g.a] + (Fraction(g.beta) * v[g.b] if g.b is not None else 0)
                der = Fraction(g.alpha) * dv[g.a] + (Fraction(g.beta) * dv[g.b] if g.b is not None else 0)
            elif g.op == "mul":
                val, der = v[g.a] * v[g.b], dv[g.a] * v[g.b] + v[g.a] * dv[g.b]
            elif g.op == "div":
                val = v[g.a] / v[g.b]
                der = (dv[g.a] - val * dv[g.b]) / v[g.b]
            else:
                val, der = Fraction(g.alpha), Fraction(0)
            v.append(val)
            dv.append(der)
        out.append(sum(Fraction(sk) * dv[o] for sk, o in zip(s, c.outputs)))
    return out


def _float_exact(values) -> bool:
    return all(abs(q) < 2**40 and q.denominator <= 2**12 and (q.denominator & (q.denominator - 1)) == 0 for q in values)


@SETTINGS
@given(random_circuits(allow_div=False, coefs=dyadic, max_gates=10), st.data())
def test_gradient_polynomial_circuits_exact_everywhere(c, data):
    n, m = c.n_inputs, c.n_outputs
    x = data.draw(st.lists(dyadic, min_size=n, max_size=n))
    s = data.draw(st.lists(dyadic, min_size=m, max_size=m))
    ref = _exact_gradient_reference(c, x, s)
    assert c.gradient(x, s, field="fraction") == ref
    assert c.gradient_circuit().evaluate(x + s, field="fraction") == ref
    v = exact_values(c, x)
    assume(_float_exact(v) and _float_exact(ref))
    xt = torch.tensor([float(t) for t in x], dtype=torch.float64, requires_grad=True)
    st_ = torch.tensor([float(t) for t in s], dtype=torch.float64)
    (auto,) = torch.autograd.grad(c(xt), xt, st_, allow_unused=True)
    auto = torch.zeros(n, dtype=torch.float64) if auto is None else auto
    ours = c.gradient(xt.detach(), st_)
    want = torch.tensor([float(q) for q in ref], dtype=torch.float64)
    assert torch.equal(ours, want) and torch.equal(auto, want)


@SETTINGS
@given(random_circuits(max_gates=10), st.data())
def test_gradient_with_division_exact_and_float(c, data):
    n, m = c.n_inputs, c.n_outputs
    x = data.draw(st.lists(st.fractions(-4, 4, max_denominator=6), min_size=n, max_size=n))
    s = data.draw(st.lists(st.fractions(-2, 2, max_denominator=3), min_size=m, max_size=m))
    v = exact_values(c, x)
    assume(v is not None)
    ref = _exact_gradient_reference(c, x, s)
    assert c.gradient(x, s, field="fraction") == ref
    gc = c.gradient_circuit()
    assert gc.evaluate(x + s, field="fraction") == ref
    assert gc.size <= 5 * c.size + n + m  # Theorem 3.6's bound with the constants of gradient.py
    try:
        g = c.gradient(x, s, field=GF(P))
    except ZeroDivisionError:
        assume(False)
    imgs = [gf_image(q, P) for q in ref]
    if None not in imgs:
        assert g == imgs
    # float path under conditioning guards
    divisors = [v[c.node(i).b] for i in range(n, c.num_nodes) if c.node(i).op == "div"]
    assume(all(abs(q) <= 1000 for q in v) and all(abs(q) >= Fraction(1, 10) for q in divisors))
    xt = torch.tensor([float(t) for t in x], dtype=torch.float64, requires_grad=True)
    st_ = torch.tensor([float(t) for t in s], dtype=torch.float64)
    (auto,) = torch.autograd.grad(c(xt), xt, st_, allow_unused=True)
    auto = torch.zeros(n, dtype=torch.float64) if auto is None else auto
    ours = c.gradient(xt.detach(), st_)
    want = torch.tensor([float(q) for q in ref], dtype=torch.float64)
    tol = 1e-9 * (1 + want.abs().max().item())
    assert (ours - want).abs().max() <= tol and (auto - want).abs().max() <= tol


@pytest.mark.parametrize("c", [fft(16), fft(2), hadamard(8), toeplitz([1, 2, 3], [1, 5j, 2 - 1j])], ids=str)
def test_gradient_complex_is_holomorphic(c):
    n, m = c.n_inputs, c.n_outputs
    x = torch.randn(3, n, dtype=torch.complex128, requires_grad=True)
    s = torch.randn(3, m, dtype=torch.complex128)
    (auto,) = torch.autograd.grad(c(x), x, s.conj())
    ours = c.gradient(x.detach(), s)
    assert torch.allclose(ours, auto.conj(), atol=1e-12 * n, rtol=0)
    W = c.to_dense(dtype=torch.complex128)
    assert torch.allclose(ours, s @ W, atol=1e-12 * n, rtol=0)  # J^T s = (sᵀ W)ᵀ, no conjugate
    assert torch.allclose(c.gradient_circuit()(torch.cat([x.detach(), s], -1)), ours, atol=1e-12 * n, rtol=0)


def test_gradient_complex_nonlinear():
    c = polynomial_multiply(4)
    x = torch.randn(5, 8, dtype=torch.complex128, requires_grad=True)
    s = torch.randn(5, 7, dtype=torch.complex128)
    (auto,) = torch.autograd.grad(c(x), x, s.conj())
    assert torch.allclose(c.gradient(x.detach(), s), auto.conj(), atol=1e-12, rtol=0)
    h = horner(6)  # single output: seed may be omitted
    z = torch.randn(4, 7, dtype=torch.complex128, requires_grad=True)
    (auto,) = torch.autograd.grad(h(z), z, torch.ones(4, 1, dtype=torch.complex128))
    assert torch.allclose(h.gradient(z.detach()), auto.conj(), atol=1e-12, rtol=0)


def test_gradient_circuit_size_bound_and_shape():
    for c in (fft(16), hadamard(16), prefix_sums(16), polynomial_multiply(8), horner(9), toeplitz(list(range(1, 9)), [1, *range(20, 27)])):
        g = c.gradient_circuit()
        n, m = c.n_inputs, c.n_outputs
        assert g.n_inputs == n + m and g.n_outputs == n
        # forward copies ≤ s, 2 gates per mul/div, accumulation ≤ (2s + m) − 1 per summed node,
        # one unary gate per output: ≤ 5s + n + m (the measured c is far lower; see bench)
        assert g.size <= 5 * c.size + n + m
        if c.is_linear:
            assert g.is_linear and g.size <= 2 * c.size + n + m


def test_gradient_exact_gf_single_output():
    h = horner(4)
    x = [3, 1, 4, 1, 5]
    p = 101
    ref = _exact_gradient_reference(h, x, [1])
    assert h.gradient(x, field=GF(p)) == [q % p for q in ref]
    assert h.gradient([x, x], field="fraction") == [ref, ref]  # batch of points


# ---------------------------------------------------------------------------- Lemma 3.5
def _loss(W, x, y, g):
    return ((y - g(W(x))) ** 2).sum()


@pytest.mark.parametrize("make", ["dense", "diag_perm", "toeplitz"])
@pytest.mark.parametrize("act", ["identity", "tanh"])
def test_loss_gradient_matches_autograd(make, act, gen):
    n, L = 6, 9
    if make == "dense":
        W = kmatrix.Dense(torch.randn(4, n, dtype=torch.float64, generator=gen))
    elif make == "diag_perm":
        W = kmatrix.Diagonal(torch.randn(n, dtype=torch.float64, generator=gen)) @ kmatrix.Permutation(
            torch.randperm(n, generator=gen), dtype=torch.float64
        )
    else:
        c = torch.randn(n, dtype=torch.float64, generator=gen)
        r = torch.cat([c[:1], torch.randn(n - 1, dtype=torch.float64, generator=gen)])
        W = kmatrix.Toeplitz(c, r)
    x = torch.randn(L, n, dtype=torch.float64, generator=gen)
    y = torch.randn(L, W.shape[0], dtype=torch.float64, generator=gen)
    if act == "identity":
        g, gp, kw = (lambda u: u), None, {}
    else:
        g, gp = torch.tanh, (lambda u: 1 - torch.tanh(u) ** 2)
        kw = {"g": g, "g_prime": gp}
    grads = loss_gradient(W, x, y, **kw)
    params = list(W.parameters())
    auto = torch.autograd.grad(_loss(W, x, y, g), params)
    assert len(grads) == len(params)
    for a, b in zip(grads, auto):
        assert torch.allclose(a, b, atol=1e-10 * (1 + b.abs().max().item()), rtol=0)  # float64, ~100 terms


def test_loss_gradient_bad_input():
    W = kmatrix.Dense(torch.randn(3, 4, dtype=torch.float64))
    x, y = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="g_prime"):
        loss_gradient(W, x, y, g=torch.tanh)
    with pytest.raises(ValueError, match="y: expected shape"):
        loss_gradient(W, x, y[:, :2])
    with pytest.raises(TypeError, match="complex"):
        loss_gradient(W, x.to(torch.complex128), y)
    with pytest.raises(TypeError, match="nn.Module"):
        loss_gradient(lambda t: t, x, y)


def test_gradient_circuit_of_division_by_a_zero_valued_gate():
    # node 2 = 0·x0 + 0·x1 is identically 0 (legal: only a *constant* 0 divisor is refused);
    # the gradient circuit must still build, and evaluating it divides by zero like C itself
    c = Circuit.from_gates(2, [("lin", 0, 0, 0, 1), ("div", 0, 2), ("lin", 1, 3, 1, 1)], [4])
    g = c.gradient_circuit()
    assert g.n_inputs == 3
    with pytest.raises(ZeroDivisionError):
        c.evaluate([1, 2], field="fraction")
    with pytest.raises(ZeroDivisionError):
        g.evaluate([1, 2, 1], field="fraction")
    assert not torch.isfinite(g(torch.tensor([1.0, 2.0, 1.0], dtype=torch.float64))).all()
