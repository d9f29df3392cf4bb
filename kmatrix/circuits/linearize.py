"""Theorem 2.9 made constructive: a circuit with products and quotients that computes a linear
map x ↦ W x becomes a *linear* circuit of size O(s) for the same W (Strassen's argument).

Every node g of the circuit is a rational function of x. Expand it around a point a:
g(a + y) = c_g + L_g(y) + (terms of degree ≥ 2 in y), with c_g = g(a) a constant and L_g a
linear form. The pairs (c_g, L_g) follow the gates:

* input x_j:    c = a_j,                  L = y_j;
* constant k:   c = k,                    L = 0;
* α·X + β·Y:    c = α c_X + β c_Y,        L = α L_X + β L_Y;
* X·Y:          c = c_X c_Y,              L = c_Y L_X + c_X L_Y;
* X/Y:          c = c_X / c_Y,            L = (1/c_Y) L_X − (c_X/c_Y²) L_Y      (needs c_Y ≠ 0).

The c's are field constants computed once; each L is **one** lin gate α·L_X + β·L_Y of the new
circuit (or none: a zero form, a copy, or a scaled copy folded into its consumer), so the linear
circuit has at most s gates plus one unary gate per scaled or zero output. If f(x) = W x then
f(a + y) = W a + W y, so the outputs' linear parts are exactly W y: the linear circuit computes
W whatever the point a. The point is a = 0 unless some divisor's constant part vanishes there,
then random points (integers over ℚ / ℝ / ℂ, residues over GF(p); a divisor that is not the zero
function is non-zero at a random point with high probability for large fields, by
Schwartz–Zippel). The result is checked: f(b) = W b at a fresh random point b, exactly over ℚ
and GF(p) (so an affine or non-linear circuit raises ``ValueError``), to 1e-9 relative in
floating point.

Constant arithmetic is the circuit's own (exact ``int`` / ``Fraction``, ``float``, ``complex``,
or residues mod p), so the linear circuit is exact whenever the input circuit's constants are.
"""

from __future__ import annotations

import random
from typing import Any

from .circuit import CONST, DIV, IN, LIN, MUL, Circuit, Wire

__all__ = ["fix_inputs", "linearize"]


def _values(c: Circuit, point: list) -> list | None:
    """All node values at ``point`` in the circuit's constant arithmetic; None when a divisor
    is exactly zero."""
    v: list[Any] = list(point)
    for i in range(c.n_inputs, c.num_nodes):
        op, a, b, al, be = c._op[i], c._a[i], c._b[i], c._alpha[i], c._beta[i]
        if op == LIN:
            t = c._cmul(al, v[a])
            v.append(t if b is None else c._cadd(t, c._cmul(be, v[b])))
        elif op == MUL:
            v.append(c._cmul(v[a], v[b]))
        elif op == DIV:
            if c._is_zero(v[b]):
                return None
            v.append(c._cmul(v[a], c._cinv(v[b])))
        else:  # CONST
            v.append(al)
    return v


def _random_point(c: Circuit, rng: random.Random) -> list:
    if c.field is not None:
        return [rng.randrange(c.field.p) for _ in range(c.n_inputs)]
    return [rng.randint(-(10**6), 10**6) for _ in range(c.n_inputs)]


def _close(u, v) -> bool:
    if (
        isinstance(u, float)
        or isinstance(v, float)
        or isinstance(u, complex)
        or isinstance(v, complex)
    ):
        return abs(complex(u) - complex(v)) <= 1e-9 * max(1.0, abs(complex(u)), abs(complex(v)))
    return u == v


def linearize(circuit: Circuit, seed: int | None = None, tries: int = 20) -> Circuit:
    """The linear circuit (Definition 2.8) of the linear map that ``circuit`` computes
    (Theorem 2.9): at most ``circuit.size`` gates plus one per scaled or zero output, same
    inputs, outputs and field.

    ``seed``: the random points (when a divisor vanishes at 0, and the final check), drawn from
    ``random.Random(seed)``; ``tries`` points at most. ValueError when the circuit has no
    outputs, when every point tried divides by zero, or when it does not compute a linear map
    (f(b) ≠ W b at a random point b).

    Examples
    --------
    >>> from kmatrix import circuits
    >>> h = circuits.fix_inputs(circuits.horner(3), {3: 2})
    >>> h.is_linear                               # products by the fixed z remain product gates
    False
    >>> lin = circuits.linearize(h)
    >>> lin.is_linear, lin.to_dense(field="fraction") == [[1, 2, 4]]
    (True, True)
    """
    if not isinstance(circuit, Circuit):
        raise TypeError(
            f"circuit: expected a kmatrix.circuits.Circuit, got {type(circuit).__name__}"
        )
    if circuit.n_outputs == 0:
        raise ValueError("circuit: it has no outputs (call circuit.output(...))")
    rng = random.Random(seed)
    zero = 0
    point = [zero] * circuit.n_inputs
    consts = _values(circuit, point)
    for _ in range(tries):
        if consts is not None:
            break
        point = _random_point(circuit, rng)
        consts = _values(circuit, point)
    if consts is None:
        raise ValueError(
            f"circuit: a divisor is zero at every one of {tries + 1} points tried (is it the zero function?)"
        )
    c = circuit
    out = Circuit(c.n_inputs, field=c.field)
    out.name = f"linearize({c.name})"
    lin: list[Wire] = []
    zero_w = Wire(out, None, 0)
    for i in range(c.num_nodes):
        op, a, b, al, be = c._op[i], c._a[i], c._b[i], c._alpha[i], c._beta[i]
        if op == IN:
            lin.append(out.x[i])
        elif op == CONST:
            lin.append(zero_w)
        elif op == LIN:
            w = lin[a] * al
            lin.append(w if b is None else w + lin[b] * be)
        elif op == MUL:
            lin.append(lin[a] * consts[b] + lin[b] * consts[a])
        else:  # DIV
            inv = c._cinv(consts[b])
            lin.append(lin[a] * inv + lin[b] * c._cmul(c._cmul(consts[a], inv), -inv))
    for o in c._outputs:
        out.output(lin[o])
    # check f(b) = W b at a fresh point (a divisor may vanish there: try a few)
    for _ in range(tries):
        b = _random_point(c, rng)
        fb = _values(c, b)
        if fb is None:
            continue
        wb = _values(out, b)
        for k, o in enumerate(c._outputs):
            if not _close(fb[o], wb[out._outputs[k]]):
                raise ValueError(
                    f"circuit: it does not compute a linear map: output {k} is {fb[o]!r} at a random "
                    f"point, its linear part gives {wb[out._outputs[k]]!r} (an affine or non-linear circuit)"
                )
        break
    return out


def fix_inputs(circuit: Circuit, values: dict[int, Any]) -> Circuit:
    """The circuit with the inputs in ``values`` replaced by constants (e.g. one operand of a
    product fixed, which makes a bilinear circuit linear in the other); the remaining inputs
    keep their order. Gates are copied one for one (the size is unchanged).

    Examples
    --------
    Horner's circuit with z = 2 fixed computes the linear map a ↦ a_0 + 2a_1 + 4a_2:

    >>> from kmatrix import circuits
    >>> h = circuits.fix_inputs(circuits.horner(3), {3: 2})
    >>> h.n_inputs, h.evaluate([1, 1, 1], field="fraction") == [7]
    (3, True)
    """
    if not isinstance(values, dict) or not values:
        raise TypeError("values: expected a non-empty dict {input index: constant}")
    n = circuit.n_inputs
    for j in values:
        if isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < n:
            raise ValueError(f"values: {j!r} is not an input index 0…{n - 1}")
    free = [j for j in range(n) if j not in values]
    if not free:
        raise ValueError("values: at least one input must stay free")
    out = Circuit(len(free), field=circuit.field)
    out.name = f"fix_inputs({circuit.name})"
    remap = {j: k for k, j in enumerate(free)}
    for j, v in values.items():
        remap[j] = out.const(v)
    for i in range(n, circuit.num_nodes):
        remap[i] = out._append_mapped(circuit.node(i), remap)
    for o in circuit._outputs:
        out.output(remap[o])
    return out
