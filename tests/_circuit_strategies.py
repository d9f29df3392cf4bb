"""Hypothesis strategies and independent references for the circuit tests.

* ``random_circuits``: random straight-line programs (linear or not) with exact rational
  constants, optionally *reduced* (every node reaches an output);
* ``dense_rational(c)``: an exact matrix of a linear circuit computed independently of
  ``kmatrix.circuits.evaluate`` (symbolic rows propagated gate by gate);
* ``float_error_bound``: a running forward-error bound (standard model |δ| ≤ u = 2⁻⁵³ per
  operation, propagated in exact arithmetic from the exact node values), used as the tolerance
  between float64 evaluation and exact evaluation — sound, so a failure is a real discrepancy.
"""

from __future__ import annotations

from fractions import Fraction

from hypothesis import strategies as st

from kmatrix.circuits import Circuit

U = Fraction(1, 2**53)

small_fractions = st.fractions(min_value=-3, max_value=3, max_denominator=4)
dyadic = st.builds(lambda a, k: Fraction(a, 2**k), st.integers(-8, 8), st.integers(0, 2))


@st.composite
def random_circuits(draw, linear=False, max_inputs=4, max_gates=10, allow_div=True, reduced=False, coefs=None):
    coefs = small_fractions if coefs is None else coefs
    n = draw(st.integers(1, max_inputs))
    c = Circuit(n)
    for _ in range(draw(st.integers(1, max_gates))):
        N = c.num_nodes
        ops = ["lin"] if linear else (["lin", "lin", "mul", "div"] if allow_div else ["lin", "lin", "mul"])
        op = draw(st.sampled_from(ops))
        a = draw(st.integers(0, N - 1))
        b = draw(st.integers(0, N - 1))
        if op == "lin":
            if draw(st.integers(0, 5)) == 0:
                c.lin(draw(coefs), a)
            else:
                c.lin(draw(coefs), a, draw(coefs), b)
        elif op == "mul":
            c.mul(a, b)
        else:
            c.div(a, b)
    N = c.num_nodes
    outs = draw(st.lists(st.integers(0, N - 1), min_size=1, max_size=3))
    if reduced:
        used = [False] * N
        for i in range(n, N):
            g = c.node(i)
            used[g.a] = True
            if g.b is not None:
                used[g.b] = True
        outs = outs + [i for i in range(N) if not used[i] and i not in outs]
    for o in outs:
        c.output(o)
    return c


def exact_values(c: Circuit, x: list) -> list | None:
    """All node values over ℚ, or None on a division by zero (independent of kmatrix)."""
    v = [Fraction(t) for t in x]
    for i in range(c.n_inputs, c.num_nodes):
        g = c.node(i)
        if g.op == "lin":
            t = Fraction(g.alpha) * v[g.a]
            v.append(t if g.b is None else t + Fraction(g.beta) * v[g.b])
        elif g.op == "mul":
            v.append(v[g.a] * v[g.b])
        elif g.op == "div":
            if v[g.b] == 0:
                return None
            v.append(v[g.a] / v[g.b])
        else:
            v.append(Fraction(g.alpha))
    return v


def float_error_bound(c: Circuit, x: list) -> list[Fraction] | None:
    """Bounds e_i ≥ |fl64(node i) − node i| for float64 evaluation at the (float-exact) point x,
    following the order of operations of kmatrix's torch evaluation (α·a + β·b, a·b, a/b).
    None when a divisor's bound does not exclude 0."""
    v = exact_values(c, x)
    if v is None:
        return None
    e = [Fraction(0)] * c.n_inputs
    for i in range(c.n_inputs, c.num_nodes):
        g = c.node(i)
        if g.op == "lin":
            terms = [(g.alpha, g.a)] + ([(g.beta, g.b)] if g.b is not None else [])
            err, mag = Fraction(0), Fraction(0)
            for coef, k in terms:
                al = Fraction(coef)
                ea = abs(Fraction(float(al)) - al)
                m1 = (abs(al) + ea) * (abs(v[k]) + e[k])
                err += abs(al) * e[k] + ea * abs(v[k]) + ea * e[k] + U * m1
                mag += m1 * (1 + U)
            e.append(err + (U * mag if len(terms) == 2 else 0))
        elif g.op == "mul":
            a, b, ea, eb = abs(v[g.a]), abs(v[g.b]), e[g.a], e[g.b]
            e.append(a * eb + b * ea + ea * eb + U * (a + ea) * (b + eb))
        elif g.op == "div":
            a, b, ea, eb = abs(v[g.a]), abs(v[g.b]), e[g.a], e[g.b]
            if eb >= b:
                return None
            e.append((ea * b + a * eb) / (b * (b - eb)) + U * (a + ea) / (b - eb))
        else:
            al = Fraction(g.alpha)
            e.append(abs(Fraction(float(al)) - al))
    return e


def dense_rational(c: Circuit) -> list[list[Fraction]]:
    """W of a linear circuit by propagating each node's row vector (independent of kmatrix)."""
    n = c.n_inputs
    rows = [[Fraction(int(i == j)) for j in range(n)] for i in range(n)]
    for i in range(n, c.num_nodes):
        g = c.node(i)
        r = [Fraction(g.alpha) * t for t in rows[g.a]]
        if g.b is not None:
            r = [p + Fraction(g.beta) * q for p, q in zip(r, rows[g.b])]
        rows.append(r)
    return [rows[o] for o in c.outputs]


def gf_image(q: Fraction, p: int) -> int | None:
    """The image of a rational in GF(p) (None when p divides the denominator)."""
    if q.denominator % p == 0:
        return None
    return q.numerator * pow(q.denominator, -1, p) % p
