"""The transposition principle (survey §3.4, Theorem 3.10): from a linear circuit for x ↦ W x,
a circuit for y ↦ Wᵀ y (the transpose, not the conjugate transpose: no constant is conjugated).

Two constructions, as the survey describes:

``method="reverse"`` (the structural proof, footnote 11; Fiduccia / Tellegen). View the circuit
as a DAG whose edges carry the coefficients (an edge a → g of weight α for each operand of a lin
gate) plus one weight-1 edge from each output node to an output terminal. Reverse every edge:
the output terminals become the inputs y_k, the inputs x_j become the outputs, and each node
computes the weighted sum of its reversed in-edges — with k terms that is k − 1 additions by a
balanced tree, every edge weight used exactly once as a coefficient; a single term of weight 1
is a plain wire, of another weight a unary gate; no term (a node that reaches no output) is
zero and is dropped (an unused input x_j gives the output 0 = 0·y₀). Counting *additions* as
binary lin gates and *multiplications by constants* as lin coefficients not in {0, ±1}
(:meth:`Circuit.counts`), the reversal has, on a reduced circuit (no dead gates, every input
used: ``is_reduced``), exactly the same number of multiplications by constants and exactly
#outputs − #inputs more additions: Σ_v (outdeg′(v) − 1) = (E + m) − (n + G) against
Σ_gates (indeg − 1) = E − G (E lin operands, G lin gates). On other circuits the dead gates
are dropped and an unused input x_j gives the output 0 = 0·y₀ (no addition, no multiplication),
so there are at most as many multiplications by constants and at most #outputs − #used inputs
more additions.

The bound is on additions plus multiplications by constants, not on ``size`` (gates): a node
whose reversed in-edges are a single weight ∉ {0, 1} becomes a unary gate of its own, so the
reversal can have more gates than C (``kmatrix bench circuits`` observed up to 1.55× on random
circuits of 5–60 gates, and exactly 1× on the library's linear circuits).

``method="baur-strassen"`` (the survey's proof). Build the circuit for the scalar
f(x, y) = yᵀ(Wx) = Σ_k y_k·o_k (m products and m − 1 additions on top of the circuit), run
Baur–Strassen (:func:`kmatrix.circuits.gradient.adjoint_wires`) with seed 1 for ∇_x f = Wᵀ y,
prune, and drop the now unused inputs x. Constants fold while building (seed 1, products by the
constant adjoint of f), so its size is O(s + n + m) as in Theorem 3.10; the benchmark
reports both sizes (observed: size/size(C) = 1 on the library's linear circuits, ≤ 1.21 on
random ones).
"""

from __future__ import annotations

from .circuit import IN, LIN, Circuit, Wire
from .gradient import adjoint_wires, forward_wires
from .library import balanced_sum

__all__ = ["transpose", "transpose_baur_strassen", "transpose_reverse"]


def _check_linear(circuit: Circuit, what: str) -> None:
    if not circuit.is_linear:
        c = circuit.counts()
        raise ValueError(
            f"circuit: {what} needs a linear circuit (only α·X + β·Y gates, Definition 2.8); this one "
            f"has {c['mul']} mul gates, {c['div']} div gates"
            + (" and constant nodes" if c["size"] + circuit.n_inputs < circuit.num_nodes else "")
        )
    if circuit.n_outputs == 0:
        raise ValueError("circuit: it has no outputs (call circuit.output(...))")


def _sum_terms(dst: Circuit, terms: list[tuple[object, int]]) -> int | None:
    """Σ coef·node over ``terms`` by a balanced tree of lin gates; each coefficient used once as
    a gate coefficient. Returns the node, or None for the empty sum."""
    if not terms:
        return None
    if len(terms) == 1:
        coef, node = terms[0]
        return node if dst._is_one(coef) else dst.lin(coef, node)
    # first level: pairs carry both coefficients; later levels add with coefficient 1
    level: list[tuple[object, int]] = []
    for i in range(0, len(terms) - 1, 2):
        (a1, n1), (a2, n2) = terms[i], terms[i + 1]
        level.append((1, dst.lin(a1, n1, a2, n2)))
    if len(terms) % 2:
        level.append(terms[-1])
    while len(level) > 1:
        nxt = []
        for i in range(0, len(level) - 1, 2):
            (a1, n1), (a2, n2) = level[i], level[i + 1]
            nxt.append((1, dst.lin(a1, n1, a2, n2)))
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    coef, node = level[0]
    return node if dst._is_one(coef) else dst.lin(coef, node)


def transpose_reverse(circuit: Circuit) -> Circuit:
    """Wᵀ by reversing the DAG (Theorem 3.10's structural proof: every edge reversed, each node
    the weighted sum of its reversed in-edges; on a reduced circuit the same multiplications by
    constants and #outputs − #inputs more additions). Inputs y₀…y_{m−1}, outputs
    (Wᵀy)_0…(Wᵀy)_{n−1}.

    Examples
    --------
    >>> from kmatrix import circuits
    >>> c = circuits.prefix_sums(3)
    >>> circuits.transpose_reverse(c).to_dense(field="fraction") == [[1, 1, 1], [0, 1, 1], [0, 0, 1]]
    True
    """
    _check_linear(circuit, "transpose")
    n, m = circuit.n_inputs, circuit.n_outputs
    dst = Circuit(m, field=circuit.field)
    dst.name = f"transpose({circuit.name})"
    terms: list[list[tuple[object, int]]] = [[] for _ in range(circuit.num_nodes)]
    for k, o in enumerate(circuit._outputs):
        terms[o].append((1, k))
    value: list[int | None] = [None] * circuit.num_nodes
    for i in range(circuit.num_nodes - 1, -1, -1):
        t = _sum_terms(dst, terms[i])
        terms[i] = []
        value[i] = t
        if t is None or circuit._op[i] == IN:
            continue
        assert circuit._op[i] == LIN
        terms[circuit._a[i]].append((circuit._alpha[i], t))
        if circuit._b[i] is not None:
            terms[circuit._b[i]].append((circuit._beta[i], t))
    for j in range(n):
        dst.output(dst.lin(0, 0) if value[j] is None else value[j])
    return dst


def transpose_baur_strassen(circuit: Circuit) -> Circuit:
    """Wᵀ as ∇_x (yᵀ W x) by Baur–Strassen (the survey's proof of Theorem 3.10); inputs y,
    outputs Wᵀ y.

    Examples
    --------
    >>> from kmatrix import circuits
    >>> c = circuits.prefix_sums(3)
    >>> circuits.transpose_baur_strassen(c).to_dense(field="fraction") == [[1, 1, 1], [0, 1, 1], [0, 0, 1]]
    True
    """
    _check_linear(circuit, "transpose")
    n, m = circuit.n_inputs, circuit.n_outputs
    f = Circuit(n + m, field=circuit.field)
    vals = forward_wires(f, circuit, list(f.x[:n]))
    f.output(balanced_sum(f, [f.x[n + k] * vals[o] for k, o in enumerate(circuit._outputs)]))
    # Baur–Strassen on the single output f, seed the constant 1, into a fresh circuit g
    g = Circuit(n + m, field=circuit.field)
    gvals = forward_wires(g, f, list(g.x))
    grads = adjoint_wires(g, f, gvals, [Wire(g, None, 1)])
    for j in range(n):
        w = grads[j]
        # a zero gradient entry (input x_j unused by W) is the gate 0·y₀, not 0·x₀
        g.output(g.lin(0, n) if w.node is None and g._is_zero(w.coef) else w)
    g = g.prune()
    # the x inputs are unused after pruning (the gradient of a function linear in x does not
    # depend on x): move to a circuit whose inputs are y only
    used = [False] * g.num_nodes
    for i in range(g.n_inputs, g.num_nodes):
        for op_ in (g._a[i], g._b[i]):
            if op_ is not None:
                used[op_] = True
    for o in g._outputs:
        used[o] = True
    assert not any(used[:n]), "gradient of yᵀWx w.r.t. x depends on x"
    out = Circuit(m, field=circuit.field)
    out.name = f"transpose_bs({circuit.name})"
    remap = {n + k: k for k in range(m)}
    for i in range(g.n_inputs, g.num_nodes):
        remap[i] = out._append_mapped(g.node(i), remap)
    for o in g._outputs:
        out.output(remap[o])
    return out


def transpose(circuit: Circuit, method: str = "reverse") -> Circuit:
    """A circuit for y ↦ Wᵀ y; ``method`` is ``"reverse"`` or ``"baur-strassen"``.

    Examples
    --------
    >>> from kmatrix import circuits
    >>> c = circuits.toeplitz([1, 2, 3], [1, 4, 5])
    >>> t = circuits.transpose(c)
    >>> t.to_dense(field="fraction") == [[1, 2, 3], [4, 1, 2], [5, 4, 1]]
    True
    """
    if method == "reverse":
        return transpose_reverse(circuit)
    if method in ("baur-strassen", "baur_strassen", "bs"):
        return transpose_baur_strassen(circuit)
    raise ValueError(f"method: expected 'reverse' or 'baur-strassen', got {method!r}")
