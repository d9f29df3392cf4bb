"""Evaluating a circuit: batched torch (vectorised per layer) and exact (ℚ, GF(p)).

**torch.** The nodes are laid out layer by layer (inputs and constants, then the gates of depth
1, 2, …). Each layer gathers the operand columns of all its gates at once, computes the unary
and binary linear gates, products and quotients as whole-tensor operations, and appends the
new columns: ``depth`` steps of O(B · width) work, no Python loop per sample or per gate.
Division by a value 0 gives inf/nan as in torch.

**Autograd in linear memory.** When x needs a gradient, evaluation is one custom autograd
function (``_CircuitFunction``): the forward pass fills the value buffer without a graph and
saves it (B · #nodes numbers); the backward pass is the circuit's own reverse sweep
(Baur–Strassen, Algorithm 2, with conjugated local derivatives: J^H ḡ as torch expects), one
more buffer of the same size. Time and memory are O(B · size) whatever the depth — a graph of
per-layer torch ops costs O(B · size · depth) in the backward pass (``horner(20000)``: 3.4 GB;
now a few MB, tests/test_circuits_memory.py). Double backward
(``create_graph=True``) re-runs the forward pass as differentiable per-layer torch ops and
differentiates that (correct, but with the quadratic memory of the graph).

**Exact.** ``field="fraction"`` or ``GF(p)``: one Python pass per sample over the gates in
order, with the field's exact operations; dividing by a gate whose value is 0 raises
``ZeroDivisionError``. Inputs are nested lists / arrays (or tensors of integers) of shape
(..., n); the result is a nested list of shape (..., m).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..core.validation import complex_dtype_of
from .circuit import CONST, DIV, IN, LIN, MUL, Circuit
from .fields import resolve_field

__all__ = ["evaluate", "evaluate_exact", "evaluate_torch", "layer_plan", "to_dense"]


def _has_complex_constant(circuit: Circuit) -> bool:
    """True when some constant of the circuit is complex (cached until the circuit changes)."""
    hit = circuit._cache.get("complex")
    if hit is not None and hit[0] == circuit._version:
        return hit[1]
    res = any(isinstance(v, complex) for v in circuit._alpha) or any(
        isinstance(v, complex) for v in circuit._beta
    )
    circuit._cache["complex"] = (circuit._version, res)
    return res


class _Layer:
    __slots__ = ("binary", "div", "mul", "start", "stop", "unary")

    def __init__(self):
        self.start = self.stop = 0  # the layer's gates occupy columns start … stop − 1
        self.unary = ([], [], [])  # nodes, operand cols, alpha
        self.binary = ([], [], [], [], [])  # nodes, a cols, b cols, alpha, beta
        self.mul = ([], [], [])  # nodes, a cols, b cols
        self.div = ([], [], [])


def layer_plan(circuit: Circuit) -> dict:
    """The layer-ordered column layout used by torch evaluation and the reverse pass (cached
    until the circuit changes). ``col[node]`` is the node's column in the value buffer."""
    key = circuit._version
    plan = circuit._cache.get("plan")
    if plan is not None and plan["version"] == key:
        return plan
    n = circuit.n_inputs
    col: list[int] = [-1] * circuit.num_nodes
    for j in range(n):
        col[j] = j
    consts = [i for i, op in enumerate(circuit._op) if op == CONST]
    for k, i in enumerate(consts):
        col[i] = n + k
    ncols = n + len(consts)
    layers = []
    for gates in circuit.layers():
        L = _Layer()
        for i in gates:
            op, b = circuit._op[i], circuit._b[i]
            if op == LIN and b is None:
                L.unary[0].append(i)
            elif op == LIN:
                L.binary[0].append(i)
            elif op == MUL:
                L.mul[0].append(i)
            else:
                L.div[0].append(i)
        # columns of this layer: unary, binary, mul, div (in that order)
        L.start = ncols
        for i in L.unary[0] + L.binary[0] + L.mul[0] + L.div[0]:
            col[i] = ncols
            ncols += 1
        L.stop = ncols
        for i in L.unary[0]:
            L.unary[1].append(col[circuit._a[i]])
            L.unary[2].append(circuit._alpha[i])
        for i in L.binary[0]:
            L.binary[1].append(col[circuit._a[i]])
            L.binary[2].append(col[circuit._b[i]])
            L.binary[3].append(circuit._alpha[i])
            L.binary[4].append(circuit._beta[i])
        for grp in (L.mul, L.div):
            for i in grp[0]:
                grp[1].append(col[circuit._a[i]])
                grp[2].append(col[circuit._b[i]])
        layers.append(L)
    plan = {
        "version": key,
        "col": col,
        "consts": consts,
        "layers": layers,
        "ncols": ncols,
        "tensors": {},
    }
    circuit._cache["plan"] = plan
    return plan


def _plan_tensors(circuit: Circuit, plan: dict, dtype: torch.dtype, device) -> list:
    """Index and coefficient tensors of every layer in ``dtype`` on ``device`` (cached)."""
    key = (dtype, str(device))
    if key in plan["tensors"]:
        return plan["tensors"][key]

    def idx(v):
        return torch.tensor(v, dtype=torch.long, device=device)

    def coef(v):
        vals = [complex(c) if dtype.is_complex else float(c) for c in v]
        return torch.tensor(vals, dtype=dtype, device=device)

    consts = coef([circuit._alpha[i] for i in plan["consts"]])
    out = []
    for L in plan["layers"]:
        out.append(
            {
                "unary": (idx(L.unary[1]), coef(L.unary[2])) if L.unary[0] else None,
                "binary": (idx(L.binary[1]), idx(L.binary[2]), coef(L.binary[3]), coef(L.binary[4]))
                if L.binary[0]
                else None,
                "mul": (idx(L.mul[1]), idx(L.mul[2])) if L.mul[0] else None,
                "div": (idx(L.div[1]), idx(L.div[2])) if L.div[0] else None,
            }
        )
    res = [consts, out]
    plan["tensors"][key] = res
    return res


def _torch_dtype(circuit: Circuit, x: torch.Tensor, dtype: torch.dtype | None) -> torch.dtype:
    cplx = _has_complex_constant(circuit)
    if dtype is not None:
        if not (dtype.is_floating_point or dtype.is_complex):
            raise TypeError(f"dtype: expected a floating-point or complex dtype, got {dtype}")
        if cplx and not dtype.is_complex:
            raise TypeError(f"dtype: the circuit has complex constants; a real dtype ({dtype}) cannot hold them")
        if x.is_complex() and not dtype.is_complex:
            raise TypeError(f"dtype: x is complex; a real dtype ({dtype}) would drop its imaginary part")
        return dtype
    dt = x.dtype if (x.is_floating_point() or x.is_complex()) else torch.float64
    return complex_dtype_of(dt) if cplx else dt


def check_input_tensor(circuit: Circuit, x: Any, n: int, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim == 0 or x.shape[-1] != n:
        raise ValueError(
            f"{name}: expected shape (..., {n}) (the circuit has {n} inputs), got shape {tuple(x.shape)}"
        )
    return x


def _layer_parts(L: dict, buf: torch.Tensor) -> list[torch.Tensor]:
    """The new columns of one layer (unary, binary, mul, div gates, in plan order)."""
    parts = []
    if L["unary"] is not None:
        a, al = L["unary"]
        parts.append(buf[:, a] * al)
    if L["binary"] is not None:
        a, b, al, be = L["binary"]
        parts.append(buf[:, a] * al + buf[:, b] * be)
    if L["mul"] is not None:
        a, b = L["mul"]
        parts.append(buf[:, a] * buf[:, b])
    if L["div"] is not None:
        a, b = L["div"]
        parts.append(buf[:, a] / buf[:, b])
    return parts


def forward_buffer(circuit: Circuit, x2: torch.Tensor) -> torch.Tensor:
    """All node values of the rows of x2 (B, n) already in the target dtype, in plan columns.

    Without autograd the (B, ncols) buffer is allocated once and each layer writes its slice:
    O(B · ncols) memory traffic in all, so deep narrow circuits (Horner, sequential sums) cost
    O(B · size), not O(B · size · depth). When x2 needs a graph, the layers are concatenated
    out of place instead (in-place slice writes would make the backward pass quadratic)."""
    plan = layer_plan(circuit)
    consts, layers = _plan_tensors(circuit, plan, x2.dtype, x2.device)
    B, n = x2.shape
    if not (torch.is_grad_enabled() and x2.requires_grad):
        buf = x2.new_empty(B, plan["ncols"])
        buf[:, :n] = x2
        if plan["consts"]:
            buf[:, n : n + len(plan["consts"])] = consts
        for Lp, L in zip(plan["layers"], layers):
            pos = Lp.start
            for part in _layer_parts(L, buf):
                k = part.shape[1]
                buf[:, pos : pos + k] = part
                pos += k
        return buf
    buf = x2
    if plan["consts"]:
        buf = torch.cat([buf, consts.expand(B, -1)], dim=1)
    for L in layers:
        buf = torch.cat([buf, *_layer_parts(L, buf)], dim=1)
    return buf


def _output_columns(circuit: Circuit, device) -> torch.Tensor:
    col = layer_plan(circuit)["col"]
    return torch.tensor([col[o] for o in circuit._outputs], dtype=torch.long, device=device)


class _CircuitFunction(torch.autograd.Function):
    """y = circuit(x2) for x2 (B, n) with backward = the circuit's reverse sweep (module
    docstring): O(B · size) memory for any depth."""

    @staticmethod
    def forward(ctx, x2, circuit):
        with torch.no_grad():
            buf = forward_buffer(circuit, x2)
        ctx.circuit = circuit
        ctx.version = circuit._version
        ctx.save_for_backward(x2, buf)
        return buf[:, _output_columns(circuit, x2.device)]

    @staticmethod
    def backward(ctx, g):
        x2, buf = ctx.saved_tensors
        circuit = ctx.circuit
        if circuit._version != ctx.version:
            raise RuntimeError(
                "circuit: it was modified (gates or outputs added) after this forward pass; "
                "re-evaluate it before calling backward"
            )
        if torch.is_grad_enabled():  # create_graph=True: differentiate the per-layer graph
            with torch.enable_grad():  # x2 is the saved input: gx stays a function of x2 and g
                y = forward_buffer(circuit, x2)[:, _output_columns(circuit, x2.device)]
                (gx,) = torch.autograd.grad(y, x2, g, create_graph=True)
            return gx, None
        from .gradient import reverse_sweep

        plan = layer_plan(circuit)
        _, layers = _plan_tensors(circuit, plan, buf.dtype, buf.device)
        with torch.no_grad():
            d = torch.zeros_like(buf)
            d.index_add_(1, _output_columns(circuit, buf.device), g.to(buf.dtype))
            reverse_sweep(plan, layers, buf, d, conjugate=True)
        return d[:, : circuit.n_inputs], None


def evaluate_torch(circuit: Circuit, x: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Batched evaluation: x (..., n) → (..., m), vectorised per layer (see module docstring)."""
    if circuit.field is not None:
        raise TypeError(
            f"x: this circuit's constants live in {circuit.field!r}; evaluate it exactly with "
            f"field={circuit.field!r} (nested lists of ints), not on a torch tensor"
        )
    if circuit.n_outputs == 0:
        raise ValueError("circuit: it has no outputs (call circuit.output(...))")
    n = circuit.n_inputs
    x = check_input_tensor(circuit, x, n)
    dt = _torch_dtype(circuit, x, dtype)
    lead = x.shape[:-1]
    x2 = x.reshape(-1, n).to(dt)
    if torch.is_grad_enabled() and x2.requires_grad:
        return _CircuitFunction.apply(x2, circuit).reshape(*lead, circuit.n_outputs)
    buf = forward_buffer(circuit, x2)
    return buf[:, _output_columns(circuit, x.device)].reshape(*lead, circuit.n_outputs)


def _exact_constants(circuit: Circuit, field) -> tuple[list, list]:
    alpha = [None] * circuit.num_nodes
    beta = [None] * circuit.num_nodes
    for i, op in enumerate(circuit._op):
        if op in (LIN, CONST):
            alpha[i] = field.convert(circuit._alpha[i], f"constant alpha of node {i}")
        if op == LIN and circuit._b[i] is not None:
            beta[i] = field.convert(circuit._beta[i], f"constant beta of node {i}")
    return alpha, beta


def check_exact_field(circuit: Circuit, field):
    """Resolve ``field`` for exact work on ``circuit`` (a GF circuit only in its own field)."""
    field = resolve_field(field)
    if circuit.field is not None:
        if field is None:
            return circuit.field
        if field != circuit.field:
            raise ValueError(
                f"field: this circuit's constants are elements of {circuit.field!r}; it can only "
                f"be evaluated in that field, not in {field!r}"
            )
    return field


def as_object_rows(x: Any, n: int, name: str = "x") -> tuple[np.ndarray, tuple]:
    """x of shape (..., n) as an object array of rows (B, n) and the leading shape."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().tolist()
    arr = np.empty(0, dtype=object)
    try:
        arr = np.array(x, dtype=object)
    except Exception as exc:  # pragma: no cover - ragged input
        raise ValueError(f"{name}: expected a rectangular nested sequence of numbers") from exc
    if arr.ndim == 0 or arr.shape[-1] != n:
        raise ValueError(
            f"{name}: expected shape (..., {n}) (the circuit has {n} inputs), got shape {arr.shape}"
        )
    return arr.reshape(-1, n), arr.shape[:-1]


def _from_rows(rows: list[list], lead: tuple, m: int) -> list:
    out = np.empty((len(rows), m), dtype=object)
    for k, r in enumerate(rows):
        out[k, :] = r
    return out.reshape(*lead, m).tolist()


def exact_values(circuit: Circuit, xrow: list, field, alpha: list, beta: list) -> list:
    """All node values for one input row (already converted into ``field``)."""
    v = list(xrow) + [None] * (circuit.num_nodes - circuit.n_inputs)
    ops, A, Bn = circuit._op, circuit._a, circuit._b
    add, mul, div = field.add, field.mul, field.div
    for i in range(circuit.n_inputs, circuit.num_nodes):
        op = ops[i]
        if op == LIN:
            t = mul(alpha[i], v[A[i]])
            v[i] = t if Bn[i] is None else add(t, mul(beta[i], v[Bn[i]]))
        elif op == MUL:
            v[i] = mul(v[A[i]], v[Bn[i]])
        elif op == DIV:
            v[i] = div(v[A[i]], v[Bn[i]])
        elif op == CONST:
            v[i] = alpha[i]
        elif op != IN:  # pragma: no cover
            raise AssertionError(op)
    return v


def evaluate_exact(circuit: Circuit, x: Any, field) -> list:
    """Exact evaluation over ``field`` (``"fraction"`` or GF(p)); returns nested lists (..., m)."""
    field = check_exact_field(circuit, field)
    if circuit.n_outputs == 0:
        raise ValueError("circuit: it has no outputs (call circuit.output(...))")
    alpha, beta = _exact_constants(circuit, field)
    rows, lead = as_object_rows(x, circuit.n_inputs)
    results = []
    for r in rows:
        xr = [field.convert(v, f"x[{j}]") for j, v in enumerate(r)]
        vals = exact_values(circuit, xr, field, alpha, beta)
        results.append([vals[o] for o in circuit._outputs])
    return _from_rows(results, lead, circuit.n_outputs)


def evaluate(circuit: Circuit, x: Any, field=None, dtype=None):
    """Dispatch: torch (``field=None`` and a tensor) or exact (``field`` given, or a GF circuit).

    Examples
    --------
    >>> from kmatrix import circuits
    >>> c = circuits.prefix_sums(4)
    >>> circuits.evaluate(c, [1, 2, 3, 4], field="fraction") == [1, 3, 6, 10]
    True
    >>> circuits.evaluate(c, torch.tensor([[1.0, 2.0, 3.0, 4.0]])).tolist()
    [[1.0, 3.0, 6.0, 10.0]]
    """
    fld = resolve_field(field)
    if fld is None and circuit.field is None:
        if not isinstance(x, torch.Tensor):
            raise TypeError(
                f"x: expected a torch.Tensor for floating-point evaluation, got {type(x).__name__} "
                "(pass field='fraction' or field=GF(p) to evaluate exactly)"
            )
        return evaluate_torch(circuit, x, dtype=dtype)
    if dtype is not None:
        raise ValueError("dtype: only meaningful for torch evaluation (field=None)")
    return evaluate_exact(circuit, x, fld)


def to_dense(circuit: Circuit, field=None, dtype: torch.dtype | None = None):
    """The matrix W (m × n) of a linear circuit, circuit(x) = W x.

    ``field=None``: a torch tensor (``dtype`` default float64, complex128 with complex
    constants); ``"fraction"`` / ``GF(p)``: an exact nested list of m rows (a GF circuit
    defaults to its own field). Cost: the circuit evaluated on the n unit vectors.

    Examples
    --------
    >>> from kmatrix import circuits
    >>> circuits.to_dense(circuits.prefix_sums(3), field="fraction") == [[1, 0, 0], [1, 1, 0], [1, 1, 1]]
    True
    """
    if not circuit.is_linear:
        raise ValueError(
            "circuit: to_dense needs a linear circuit (only α·X + β·Y gates, no constants); "
            f"this one has {circuit.counts()['mul']} mul and {circuit.counts()['div']} div gates"
            + (" and constant nodes" if any(op == CONST for op in circuit._op) else "")
        )
    n = circuit.n_inputs
    fld = resolve_field(field)
    if fld is None and circuit.field is None:
        dt = dtype or (torch.complex128 if _has_complex_constant(circuit) else torch.float64)
        return evaluate_torch(circuit, torch.eye(n, dtype=dt), dtype=dt).transpose(0, 1).contiguous()
    fld = check_exact_field(circuit, fld)
    eye = [[1 if i == j else 0 for j in range(n)] for i in range(n)]
    cols = evaluate_exact(circuit, eye, fld)  # n × m: column j of W is circuit(e_j)
    return [[cols[j][i] for j in range(n)] for i in range(circuit.n_outputs)]

