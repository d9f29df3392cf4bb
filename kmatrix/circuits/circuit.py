"""The circuit IR and its builder: straight-line programs over a field (survey §2.5).

A :class:`Circuit` is an arithmetic circuit in the sense of Definition 2.7: ``n_inputs`` input
nodes x₀ … x_{n−1}, then nodes appended one at a time, each referring only to *earlier* nodes
(so the node order is a topological order by construction), and an ordered list of outputs:

* ``lin``: α·X + β·Y, or α·X (a unary gate) — the linear gate of Definition 2.8;
* ``mul``: X·Y;  ``div``: X/Y;
* ``const``: a constant of the field (free, like the inputs).

**Size** is the number of gates (``lin``, ``mul``, ``div``; inputs and constants excluded), the
survey's complexity measure. Multiplication of a value by a constant is *not* a gate of its own:
the builder folds it into the α or β of the gate that consumes it (a :class:`Wire` carries a
pending scale), so ``2*x0 + 3*x1`` is one gate and ``size`` means the same in every circuit of
the library. A scaled value that is itself an output costs one unary gate.

**Depth** of a node: 0 for inputs and constants, 1 + the larger depth of its operands for a gate;
``depth`` is the largest over all nodes and ``layers()`` groups the gates by depth (the layers of
Theorem 4.5).

Builder::

    c = Circuit(n_inputs=4)
    y = 2 * c.x[0] + c.x[1]          # one lin gate: 2·x0 + 1·x1
    c.output(y)
    c.output(c.x[2] * c.x[3] - y)    # a mul gate, then a lin gate

The low-level API (:meth:`Circuit.lin`, :meth:`mul`, :meth:`div`, :meth:`const`,
:meth:`Circuit.from_gates`) works on node indices and checks every reference.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Any

from .fields import GF, normalize_constant

__all__ = ["Circuit", "Gate", "Wire"]

IN, CONST, LIN, MUL, DIV = "in", "const", "lin", "mul", "div"
_GATE_OPS = (LIN, MUL, DIV)

#: One node as stored: ``op`` in {"in", "const", "lin", "mul", "div"}; operands ``a``, ``b``
#: (node indices, ``b = None`` for a unary lin gate); ``alpha``, ``beta`` the lin coefficients;
#: for a const node ``alpha`` is its value.
Gate = namedtuple("Gate", ["op", "a", "b", "alpha", "beta"])
Gate.__doc__ = """One node of a circuit as stored (:meth:`Circuit.node`): ``op`` in {"in", "const",
"lin", "mul", "div"}; operands ``a``, ``b`` (node indices, ``b = None`` for a unary lin gate);
``alpha``, ``beta`` the lin coefficients (α·a + β·b); for a const node ``alpha`` is its value.

Examples
--------
>>> from kmatrix import circuits
>>> c = circuits.Circuit(2)
>>> node = c.output(3 * c.x[0] + c.x[1])
>>> c.node(node)
Gate(op='lin', a=0, b=1, alpha=3, beta=1)
"""


class Wire:
    """A builder value: ``coef · node`` (``node`` an index), or the constant ``coef`` when
    ``node is None``. Arithmetic on wires appends gates to their circuit, folding constant
    factors into the coefficients of linear gates.

    Examples
    --------
    >>> from kmatrix import circuits
    >>> c = circuits.Circuit(2)
    >>> w = 3 * c.x[0] - c.x[1] / 2               # one linear gate: constants fold into it
    >>> node = c.output(w * w)
    >>> c.size, c.evaluate([1, 2], field="fraction") == [4]
    (2, True)
    """

    __slots__ = ("circuit", "coef", "node")

    def __init__(self, circuit: Circuit, node: int | None, coef: Any):
        self.circuit = circuit
        self.node = node
        self.coef = coef

    @property
    def is_constant(self) -> bool:
        return self.node is None

    def _lift(self, other) -> Wire:
        if isinstance(other, Wire):
            if other.circuit is not self.circuit:
                raise ValueError("cannot combine wires of two different circuits")
            return other
        return Wire(self.circuit, None, self.circuit._constant(other, "operand"))

    def __add__(self, other):
        """``w + v`` (a wire or a constant): a linear gate α·a + β·b, the constants folded into
        α, β (``2 * c.x[0] + c.x[1]`` is one gate).

        Examples
        --------
        >>> from kmatrix import circuits
        >>> c = circuits.Circuit(2)
        >>> node = c.output(2 * c.x[0] + c.x[1])
        >>> c.size, c.gate_list()[0].split("[")[0].strip()
        (1, 'g2 = 2·x0 + x1')
        """
        return self.circuit._w_add(self, self._lift(other))

    __radd__ = __add__

    def __neg__(self):
        return self.circuit._w_scale(self, -1)

    def __pos__(self):
        return self

    def __sub__(self, other):
        return self.circuit._w_add(self, -self._lift(other))

    def __rsub__(self, other):
        return self.circuit._w_add(self._lift(other), -self)

    def __mul__(self, other):
        """``w * v``: a product gate for two wires; a constant factor is folded into a linear
        gate's coefficients instead (no product gate).

        Examples
        --------
        >>> from kmatrix import circuits
        >>> c = circuits.Circuit(2)
        >>> w = 3 * c.x[0]                        # folded: no gate yet
        >>> w.coef, c.size
        (3, 0)
        >>> node = c.output(c.x[0] * c.x[1])      # a product gate
        >>> c.size, c.is_linear
        (1, False)
        """
        return self.circuit._w_mul(self, self._lift(other))

    __rmul__ = __mul__

    def __truediv__(self, other):
        return self.circuit._w_div(self, self._lift(other))

    def __rtruediv__(self, other):
        return self.circuit._w_div(self._lift(other), self)

    def __pow__(self, k):
        """``w ** k`` for an integer k by repeated squaring: ⌊log₂ k⌋ + popcount(k) − 1 product
        gates (k ≥ 1; the scale c of ``c·node`` is folded as cᵏ); ``w ** 0`` is the constant 1,
        ``w ** -k`` is ``1 / w ** k`` (one more gate, a quotient)."""
        if isinstance(k, bool) or not isinstance(k, int):
            raise TypeError(f"k: a circuit can only raise to an integer power, got {k!r}")
        if k < 0:
            return 1 / (self**-k)
        result, base = None, self
        while True:  # binary method, least significant bit first
            if k & 1:
                result = base if result is None else result * base
            k >>= 1
            if not k:
                break
            base = base * base
        return Wire(self.circuit, None, 1) if result is None else result

    def __repr__(self) -> str:
        if self.node is None:
            return f"Wire(const {self.coef!r})"
        return f"Wire({self.coef!r}·{self.circuit._name(self.node)})"


class _Inputs(Sequence):
    """``circuit.x``: the input wires x₀ … x_{n−1}."""

    def __init__(self, circuit: Circuit):
        self._c = circuit

    def __len__(self) -> int:
        return self._c.n_inputs

    def __getitem__(self, j):
        if isinstance(j, slice):
            return [self[i] for i in range(*j.indices(len(self)))]
        n = self._c.n_inputs
        if isinstance(j, bool) or not isinstance(j, int) or not -n <= j < n:
            raise IndexError(f"x[{j!r}]: the circuit has {n} inputs x[0] … x[{n - 1}]")
        return Wire(self._c, j % n, 1)


class Circuit:
    """An arithmetic circuit (straight-line program) with ``n_inputs`` inputs.

    Parameters
    ----------
    n_inputs : int
        Number of input nodes (≥ 1).
    field : None or GF(p)
        ``None``: constants are numbers of characteristic 0 (int, Fraction, float, complex;
        see :mod:`kmatrix.circuits.fields`). ``GF(p)``: constants are residues mod p (the
        circuit is a circuit *over* GF(p), e.g. the number-theoretic transform).

    Notes
    -----
    Building: ``c.x[i]`` is the :class:`Wire` of input i (``c.x[0]``, ``c.x[1]``, ...); ``+``,
    ``-``, ``*`` and ``/`` on wires and constants append gates and return new wires, and
    ``c.output(w)`` marks a wire as the next output. ``c.lin``, ``c.mul``, ``c.div`` and
    ``c.const`` append gates by node index instead. Evaluating: :meth:`evaluate` (torch
    tensors, or exactly over ``field="fraction"`` / ``GF(p)``), :meth:`to_dense` for a linear
    circuit's matrix, :meth:`gradient` (Baur–Strassen), :meth:`transpose` (Theorem 3.10),
    :meth:`to_sparse_factors` (Theorem 4.5).

    Examples
    --------
    >>> from kmatrix import circuits
    >>> c = circuits.Circuit(n_inputs=3)
    >>> y = 2 * c.x[0] + c.x[1]
    >>> outputs = [c.output(y), c.output(y * c.x[2])]   # output() returns the gate's node index
    >>> c.size, c.depth, c.is_linear
    (2, 2, False)
    >>> c.evaluate([1, 2, 3], field="fraction") == [4, 12]
    True
    >>> c.gradient([1, 2, 3], seed=[1, 1], field="fraction") == [8, 4, 4]
    True
    """

    def __init__(self, n_inputs: int, field: GF | None = None):
        if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or n_inputs < 1:
            raise ValueError(f"n_inputs: expected a positive integer, got {n_inputs!r}")
        if field is not None and not isinstance(field, GF):
            raise TypeError(
                f"field: a circuit's constants live in characteristic 0 (field=None) or in GF(p); "
                f"got {field!r}"
            )
        self.field = field
        self._n_inputs = n_inputs
        self._op: list[str] = [IN] * n_inputs
        self._a: list[int | None] = [None] * n_inputs
        self._b: list[int | None] = [None] * n_inputs
        self._alpha: list[Any] = [None] * n_inputs
        self._beta: list[Any] = [None] * n_inputs
        self._depth: list[int] = [0] * n_inputs
        self._outputs: list[int] = []
        self._version = 0
        self._cache: dict = {}
        self.name = "circuit"
        self.x = _Inputs(self)

    # ------------------------------------------------------------------ structure
    @property
    def n_inputs(self) -> int:
        return self._n_inputs

    @property
    def n_outputs(self) -> int:
        return len(self._outputs)

    @property
    def num_nodes(self) -> int:
        """Inputs + constants + gates."""
        return len(self._op)

    @property
    def outputs(self) -> tuple[int, ...]:
        return tuple(self._outputs)

    def node(self, i: int) -> Gate:
        """The node ``i`` as a :data:`Gate` record."""
        return Gate(self._op[i], self._a[i], self._b[i], self._alpha[i], self._beta[i])

    def nodes(self) -> list[Gate]:
        return [self.node(i) for i in range(self.num_nodes)]

    def node_depth(self, i: int) -> int:
        return self._depth[i]

    @property
    def size(self) -> int:
        """Number of gates (lin, mul, div); inputs and constants are free (Definition 2.7)."""
        return sum(op in _GATE_OPS for op in self._op)

    @property
    def depth(self) -> int:
        """Length of the longest path from an input or constant to any node."""
        return max(self._depth)

    def layers(self) -> list[list[int]]:
        """Gate indices grouped by depth: ``layers()[k-1]`` are the gates of depth k, k = 1…depth."""
        out: list[list[int]] = [[] for _ in range(self.depth)]
        for i, op in enumerate(self._op):
            if op in _GATE_OPS:
                out[self._depth[i] - 1].append(i)
        return out

    @property
    def is_linear(self) -> bool:
        """True when every gate is α·X + β·Y and there are no constant nodes (Definition 2.8):
        the circuit computes x ↦ W x."""
        return all(op in (IN, LIN) for op in self._op)

    def counts(self) -> dict[str, int]:
        """Operation counts.

        * ``size``: gates; ``lin``/``mul``/``div``: gates of each kind;
        * ``additions``: binary lin gates (α·X + β·Y performs one addition; a unary α·X none);
        * ``const_mults``: multiplications by constants = lin coefficients (α or β of every lin
          operand) not in {0, 1, −1} — multiplying by ±1 is a sign, by 0 produces a constant;
        * ``edges``: lin operands (each carries one coefficient).
        """
        c = {"size": 0, "lin": 0, "mul": 0, "div": 0, "additions": 0, "const_mults": 0, "edges": 0}
        for i, op in enumerate(self._op):
            if op not in _GATE_OPS:
                continue
            c["size"] += 1
            c[op] += 1
            if op == LIN:
                coefs = [self._alpha[i]] if self._b[i] is None else [self._alpha[i], self._beta[i]]
                c["edges"] += len(coefs)
                c["additions"] += len(coefs) - 1
                c["const_mults"] += sum(not self._is_trivial_coef(v) for v in coefs)
        return c

    def _is_trivial_coef(self, v) -> bool:
        if self.field is not None:
            return v % self.field.p in (0, 1, self.field.p - 1)
        return v == 0 or v == 1 or v == -1

    def consumers(self) -> list[list[int]]:
        """For each node, the gates that use it as an operand (with multiplicity)."""
        cons: list[list[int]] = [[] for _ in self._op]
        for i, op in enumerate(self._op):
            if op in _GATE_OPS:
                cons[self._a[i]].append(i)
                if self._b[i] is not None:
                    cons[self._b[i]].append(i)
        return cons

    def live(self) -> list[bool]:
        """``live()[i]``: node i lies on a path to an output."""
        alive = [False] * self.num_nodes
        for o in self._outputs:
            alive[o] = True
        for i in range(self.num_nodes - 1, -1, -1):
            if alive[i] and self._op[i] in _GATE_OPS:
                alive[self._a[i]] = True
                if self._b[i] is not None:
                    alive[self._b[i]] = True
        return alive

    @property
    def is_reduced(self) -> bool:
        """No dead gates and every input used: every node lies on a path to an output."""
        return all(self.live())

    def prune(self) -> Circuit:
        """A copy without the gates and constants that reach no output (inputs are kept)."""
        alive = self.live()
        out = Circuit(self.n_inputs, field=self.field)
        out.name = self.name
        remap: dict[int, int] = {j: j for j in range(self.n_inputs)}
        for i in range(self.n_inputs, self.num_nodes):
            if alive[i]:
                remap[i] = out._append_mapped(self.node(i), remap)
        for o in self._outputs:
            out._outputs.append(remap[o])
        return out

    def copy(self) -> Circuit:
        out = Circuit(self.n_inputs, field=self.field)
        out.name = self.name
        for lst in ("_op", "_a", "_b", "_alpha", "_beta", "_depth", "_outputs"):
            setattr(out, lst, list(getattr(self, lst)))
        return out

    def _append_mapped(self, g: Gate, remap: dict[int, int]) -> int:
        """Append node ``g`` whose operands are indices of another circuit mapped by ``remap``."""
        if g.op == CONST:
            return self.const(g.alpha)
        a = remap[g.a]
        b = None if g.b is None else remap[g.b]
        if g.op == LIN:
            return self.lin(g.alpha, a, g.beta, b)
        return self.mul(a, b) if g.op == MUL else self.div(a, b)

    # ------------------------------------------------------------------ low-level construction
    def _constant(self, value, name: str = "constant"):
        if isinstance(value, Wire):
            raise TypeError(f"{name}: expected a constant, got a Wire")
        c = normalize_constant(value, name)
        if self.field is not None:
            c = self.field.convert(c, name)
        return c

    def _check_operand(self, idx, name: str) -> int:
        if isinstance(idx, Wire):
            raise TypeError(f"{name}: the low-level API takes node indices; got a Wire (use wire arithmetic)")
        if isinstance(idx, bool) or not isinstance(idx, int):
            raise TypeError(f"{name}: expected a node index (int), got {idx!r}")
        if not 0 <= idx < self.num_nodes:
            if idx < 0:
                raise ValueError(f"{name}: node index {idx} is negative")
            raise ValueError(
                f"{name}: node {idx} does not exist (yet): a gate may only refer to inputs "
                f"0…{self.n_inputs - 1} and earlier nodes (this circuit has {self.num_nodes} nodes)"
            )
        return idx

    def _append(self, op, a, b, alpha, beta) -> int:
        self._op.append(op)
        self._a.append(a)
        self._b.append(b)
        self._alpha.append(alpha)
        self._beta.append(beta)
        if op == CONST:
            d = 0
        else:
            d = 1 + max(self._depth[a], 0 if b is None else self._depth[b])
        self._depth.append(d)
        self._version += 1
        return len(self._op) - 1

    def const(self, value) -> int:
        """Append a constant node (free: not counted in ``size``); returns its index."""
        return self._append(CONST, None, None, self._constant(value, "value"), None)

    def lin(self, alpha, a: int, beta=None, b: int | None = None) -> int:
        """Append the gate α·node[a] + β·node[b] (or α·node[a] when ``b`` is None)."""
        a = self._check_operand(a, "a")
        alpha = self._constant(alpha, "alpha")
        if b is None:
            if beta is not None:
                raise ValueError("beta: given without an operand b")
            return self._append(LIN, a, None, alpha, None)
        b = self._check_operand(b, "b")
        if beta is None:
            raise ValueError("beta: a binary lin gate needs a coefficient beta")
        return self._append(LIN, a, b, alpha, self._constant(beta, "beta"))

    def mul(self, a: int, b: int) -> int:
        """Append the gate node[a]·node[b]."""
        return self._append(MUL, self._check_operand(a, "a"), self._check_operand(b, "b"), None, None)

    def div(self, a: int, b: int) -> int:
        """Append the gate node[a]/node[b]; dividing by a constant node equal to 0 is an error."""
        a = self._check_operand(a, "a")
        b = self._check_operand(b, "b")
        if self._op[b] == CONST and self._is_zero(self._alpha[b]):
            raise ValueError(f"b: division by an exact zero constant (node {b} is the constant 0)")
        return self._append(DIV, a, b, None, None)

    def output(self, value) -> int:
        """Mark a value as the next output; returns its node index.

        ``value`` is a :class:`Wire`, a node index or a constant. A wire ``c·node`` with c ≠ 1
        costs one unary gate; the constant 0 becomes the gate 0·x₀ (so a linear circuit stays
        linear); another constant becomes a constant node.
        """
        if isinstance(value, Wire):
            if value.circuit is not self:
                raise ValueError("value: this wire belongs to another circuit")
            node = self._materialize(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            node = self._check_operand(value, "value")
        else:
            node = self._materialize(Wire(self, None, self._constant(value, "value")))
        self._outputs.append(node)
        self._version += 1
        return node

    def _materialize(self, w: Wire) -> int:
        if w.node is None:
            if self._is_zero(w.coef):
                return self.lin(0, 0)
            return self.const(w.coef)
        if self._is_one(w.coef):
            return w.node
        return self.lin(w.coef, w.node)

    @classmethod
    def from_gates(
        cls, n_inputs: int, gates: Iterable[Sequence], outputs: Iterable[int], field: GF | None = None
    ) -> Circuit:
        """Build from a gate list; node k (k ≥ n_inputs) is ``gates[k − n_inputs]``.

        Gate forms: ``("lin", α, a)``, ``("lin", α, a, β, b)``, ``("mul", a, b)``,
        ``("div", a, b)``, ``("const", value)``; ``outputs`` are node indices.
        """
        c = cls(n_inputs, field=field)
        for k, g in enumerate(gates):
            where = f"gates[{k}] (node {c.num_nodes})"
            if not isinstance(g, (tuple, list)) or not g:
                raise TypeError(f"{where}: expected a tuple like ('lin', alpha, a, beta, b), got {g!r}")
            op, args = g[0], tuple(g[1:])
            try:
                if op == LIN and len(args) in (2, 4):
                    c.lin(*args)
                elif op in (MUL, DIV) and len(args) == 2:
                    (c.mul if op == MUL else c.div)(*args)
                elif op == CONST and len(args) == 1:
                    c.const(args[0])
                else:
                    raise ValueError(
                        f"unknown gate form {g!r}; expected ('lin', α, a), ('lin', α, a, β, b), "
                        "('mul', a, b), ('div', a, b) or ('const', value)"
                    )
            except (ValueError, TypeError) as exc:
                raise type(exc)(f"{where}: {exc}") from None
        for k, o in enumerate(outputs):
            c.output(c._check_operand(o, f"outputs[{k}]"))
        return c

    # ------------------------------------------------------------------ constant arithmetic
    def _is_zero(self, v) -> bool:
        return (v % self.field.p == 0) if self.field is not None else v == 0

    def _is_one(self, v) -> bool:
        return (v % self.field.p == 1) if self.field is not None else v == 1

    def _cmul(self, u, v):
        if self.field is not None:
            return u * v % self.field.p
        return normalize_constant(u * v)

    def _cadd(self, u, v):
        if self.field is not None:
            return (u + v) % self.field.p
        return normalize_constant(u + v)

    def _cinv(self, v):
        if self._is_zero(v):
            raise ValueError("division by an exact zero constant")
        if self.field is not None:
            return pow(v, -1, self.field.p)
        if isinstance(v, (int, Fraction)):
            return normalize_constant(Fraction(1) / v)
        return normalize_constant(1 / v)

    # ------------------------------------------------------------------ wire arithmetic
    def _w_scale(self, w: Wire, c) -> Wire:
        c = self._constant(c) if not isinstance(c, Wire) else c
        coef = self._cmul(w.coef, c)
        if w.node is not None and self._is_zero(coef):
            return Wire(self, None, coef)
        return Wire(self, w.node, coef)

    def _w_add(self, u: Wire, v: Wire) -> Wire:
        if u.node is None and v.node is None:
            return Wire(self, None, self._cadd(u.coef, v.coef))
        if u.node is None and self._is_zero(u.coef):
            return v
        if v.node is None and self._is_zero(v.coef):
            return u
        if u.node is None:  # affine: the constant becomes a constant node
            return Wire(self, self.lin(1, self.const(u.coef), v.coef, v.node), 1)
        if v.node is None:
            return Wire(self, self.lin(u.coef, u.node, 1, self.const(v.coef)), 1)
        return Wire(self, self.lin(u.coef, u.node, v.coef, v.node), 1)

    def _w_mul(self, u: Wire, v: Wire) -> Wire:
        if u.node is None:
            return self._w_scale(v, u.coef)
        if v.node is None:
            return self._w_scale(u, v.coef)
        return Wire(self, self.mul(u.node, v.node), self._cmul(u.coef, v.coef))

    def _w_div(self, u: Wire, v: Wire) -> Wire:
        if v.node is None:
            if self._is_zero(v.coef):
                raise ValueError("division by an exact zero constant")
            return self._w_scale(u, self._cinv(v.coef))
        if self._op[v.node] == CONST and self._is_zero(self._alpha[v.node]):
            raise ValueError("division by an exact zero constant")
        if u.node is None:
            if self._is_zero(u.coef):
                return u
            num = self.const(u.coef)
            return Wire(self, self.div(num, v.node), self._cinv(v.coef))
        return Wire(self, self.div(u.node, v.node), self._cmul(u.coef, self._cinv(v.coef)))

    def wire(self, node: int) -> Wire:
        """The wire 1·node[i] (to continue building from a node index)."""
        return Wire(self, self._check_operand(node, "node"), 1)

    # ------------------------------------------------------------------ printing
    def _name(self, i: int) -> str:
        op = self._op[i]
        if op == IN:
            return f"x{i}"
        if op == CONST:
            return f"k{i}"
        return f"g{i}"

    @staticmethod
    def _fmt_const(v) -> str:
        if isinstance(v, complex):
            return f"{v.imag:.4g}j" if v.real == 0 else f"({v.real:.4g}{v.imag:+.4g}j)"
        if isinstance(v, float):
            return f"{v:.6g}"
        return str(v) if not isinstance(v, Fraction) else f"({v})"

    def _term(self, coef, node, first: bool) -> str:
        name = self._name(node)
        if self._is_one(coef):
            return name if first else f"+ {name}"
        if self._is_minus_one(coef):
            return f"-{name}" if first else f"- {name}"
        if not first and self._is_negative(coef):  # "a - 3·x", not "a + -3·x"
            return f"- {self._fmt_const(-coef)}·{name}"
        s = f"{self._fmt_const(coef)}·{name}"
        return s if first else f"+ {s}"

    def _is_negative(self, v) -> bool:
        """A real coefficient < 0, or a purely imaginary one with negative imaginary part."""
        if self.field is not None:
            return False
        if isinstance(v, complex):
            return v.real == 0 and v.imag < 0
        return v < 0

    def _is_minus_one(self, v) -> bool:
        return (v % self.field.p == self.field.p - 1) if self.field is not None else v == -1

    def describe_node(self, i: int) -> str:
        g = self.node(i)
        if g.op == IN:
            return f"{self._name(i)} = input {i}"
        if g.op == CONST:
            return f"{self._name(i)} = {self._fmt_const(g.alpha)}"
        if g.op == MUL:
            rhs = f"{self._name(g.a)} · {self._name(g.b)}"
        elif g.op == DIV:
            rhs = f"{self._name(g.a)} / {self._name(g.b)}"
        else:
            rhs = self._term(g.alpha, g.a, True)
            if g.b is not None:
                rhs += " " + self._term(g.beta, g.b, False)
        return f"{self._name(i)} = {rhs}"

    def gate_list(self) -> list[str]:
        """One line per gate (and constant), then the outputs."""
        lines = [
            f"{self.describe_node(i):<40s} [depth {self._depth[i]}]"
            for i in range(self.n_inputs, self.num_nodes)
        ]
        lines.append("outputs: " + ", ".join(f"y{k} = {self._name(o)}" for k, o in enumerate(self._outputs)))
        return lines

    def __repr__(self) -> str:
        kind = "linear" if self.is_linear else "non-linear"
        fld = "" if self.field is None else f", field={self.field!r}"
        return (
            f"Circuit({self.name!r}: n_inputs={self.n_inputs}, n_outputs={self.n_outputs}, "
            f"size={self.size}, depth={self.depth}, {kind}{fld})"
        )

    # ------------------------------------------------------------------ operations (other modules)
    def evaluate(self, x, field=None, dtype=None):
        """The circuit's outputs at x: shape (..., n_inputs) → (..., n_outputs).

        ``field=None`` with a tensor: torch evaluation, batched and vectorised per layer (in
        ``dtype``, default the promotion of x's dtype and the constants'; float64 for integer
        x). ``field="fraction"`` or ``GF(p)``: exact evaluation of nested lists / arrays (see
        :mod:`kmatrix.circuits.evaluate`).

        Examples
        --------
        >>> from kmatrix import circuits
        >>> c = circuits.Circuit(2)
        >>> node = c.output(c.x[0] * c.x[1] + 2 * c.x[1])
        >>> c.evaluate([3, 4], field="fraction") == [20]
        True
        >>> c(torch.tensor([[3.0, 4.0], [1.0, 1.0]])).tolist()    # batched, in torch
        [[20.0], [3.0]]
        """
        from .evaluate import evaluate

        return evaluate(self, x, field=field, dtype=dtype)

    __call__ = evaluate

    def to_dense(self, field=None, dtype=None):
        """The matrix W with circuit(x) = W x (linear circuits only); see
        :func:`kmatrix.circuits.evaluate.to_dense`."""
        from .evaluate import to_dense

        return to_dense(self, field=field, dtype=dtype)

    @classmethod
    def from_matrix(cls, W, field: GF | None = None) -> Circuit:
        """The naive circuit of §2.5 for x ↦ W x; see :func:`kmatrix.circuits.library.from_matrix`."""
        from .library import from_matrix

        return from_matrix(W, field=field)

    def gradient(self, at, seed=None, field=None, dtype=None):
        """∇_x ⟨seed, f(x)⟩ at ``at`` by one reverse pass (Baur–Strassen, Algorithm 2); see
        :func:`kmatrix.circuits.gradient.gradient`."""
        from .gradient import gradient

        return gradient(self, at, seed=seed, field=field, dtype=dtype)

    def gradient_circuit(self) -> Circuit:
        """The circuit (x, seed) ↦ J(x)ᵀ seed (Theorem 3.6); see
        :func:`kmatrix.circuits.gradient.gradient_circuit`."""
        from .gradient import gradient_circuit

        return gradient_circuit(self)

    def transpose(self, method: str = "reverse") -> Circuit:
        """A circuit for y ↦ Wᵀ y (Theorem 3.10), ``method="reverse"`` or ``"baur-strassen"``;
        see :mod:`kmatrix.circuits.transpose`."""
        from .transpose import transpose

        return transpose(self, method=method)

    @property
    def T(self) -> Circuit:
        return self.transpose()

    def to_sparse_factors(self, dtype=None):
        """W as a product of sparse matrices (Theorem 4.5); see
        :func:`kmatrix.circuits.sparse_factors.to_sparse_factors`."""
        from .sparse_factors import to_sparse_factors

        return to_sparse_factors(self, dtype=dtype)

    def draw(self, path=None, **kwargs):
        """Draw the DAG (survey Figure 2) with matplotlib; see :func:`kmatrix.circuits.draw.draw`."""
        from .draw import draw

        return draw(self, path, **kwargs)

    def linearize(self, seed=None) -> Circuit:
        """The linear circuit of the linear map this circuit computes (Theorem 2.9, Strassen's
        argument); see :func:`kmatrix.circuits.linearize.linearize`."""
        from .linearize import linearize

        return linearize(self, seed=seed)

    @classmethod
    def from_sparse_factors(cls, factors, field=None) -> Circuit:
        """The linear circuit of a product of sparse matrices (the converse of Theorem 4.5);
        see :func:`kmatrix.circuits.from_sparse.from_sparse_factors`."""
        from .from_sparse import from_sparse_factors

        return from_sparse_factors(factors, field=field)
