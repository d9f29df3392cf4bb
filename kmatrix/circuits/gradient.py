"""Baur–Strassen back-propagation (survey §3.3, Theorem 3.6, Algorithm 2) and Lemma 3.5.

For a circuit f: 𝔽ⁿ → 𝔽ᵐ and a seed s ∈ 𝔽ᵐ, ∇_x ⟨s, f(x)⟩ = J_f(x)ᵀ s is computed by one
reverse pass over the gates (reverse topological order, Algorithm 2): the adjoint d[g] of a node
is the sum over its consumers h of ∂h/∂g · d[h] (Lemma 3.7, the chain rule), with

* h = α·X + β·Y:  d[X] += α·d[h],  d[Y] += β·d[h];
* h = X·Y:        d[X] += Y·d[h],  d[Y] += X·d[h];
* h = X/Y:        q = d[h]/Y;  d[X] += q,  d[Y] −= q·h,

and d[output k] starting at s_k. These are the formal (holomorphic) derivatives of
Definitions 3.3–3.4: over ℂ nothing is conjugated. PyTorch's autograd returns the conjugate
(NOTES.md): ``x.grad`` of ⟨v, f(x)⟩-backward is J^H v, so J^T s = conj(autograd with
grad_outputs = conj(s)).

:func:`gradient` evaluates the pass at a point (torch: vectorised per layer with
``index_add_``; exact: one Python pass per sample); :func:`gradient_circuit` *builds* the pass
as a circuit with inputs (x, s) — the circuit 𝒞′ of Theorem 3.6. Its size is at most
size(𝒞) (forward copies, only of the gates whose values a product or quotient needs) + 2 per
product + 2 per quotient + one addition per extra consumer of each node + the O(n) outputs,
so size(𝒞′) ≤ 5·size(𝒞) + n + m (≤ 2·size(𝒞) + n + m for a linear 𝒞; both bounds are proven
and asserted in the tests). **Observed** — measurements on particular circuits, not bounds
(``kmatrix bench circuits``, exact counts): c = size(𝒞′)/size(𝒞) is exactly
1 on every linear library circuit (fft, NTT, hadamard, prefix sums, toeplitz, from_matrix: 𝒞′ is
then the reversed circuit in s), 1.6–1.8 for Karatsuba, 2.0–2.5 for Horner (→ 5/2 as n grows:
per step two forward copies — the product and the sum the next
product reads — two adjoint products and one addition into d[t]), and over random circuits of
5–60 gates (seed 0) the largest values seen were 1.21 (linear) and 3.03 (non-linear, with
quotients); other circuits can come closer to the bound 5.
"""

from __future__ import annotations

from typing import Any

import torch

from ..core.validation import complex_dtype_of
from .circuit import CONST, DIV, IN, LIN, MUL, Circuit, Wire
from .evaluate import (
    _exact_constants,
    _has_complex_constant,
    _plan_tensors,
    as_object_rows,
    check_exact_field,
    check_input_tensor,
    exact_values,
    forward_buffer,
    layer_plan,
)
from .fields import resolve_field
from .library import balanced_sum

__all__ = ["adjoint_wires", "gradient", "gradient_circuit", "loss_gradient"]


# ---------------------------------------------------------------------------- at a point
def _gradient_torch(circuit: Circuit, at: torch.Tensor, seed, dtype) -> torch.Tensor:
    n, m = circuit.n_inputs, circuit.n_outputs
    at = check_input_tensor(circuit, at, n, "at")
    lead = at.shape[:-1]
    if seed is None:
        if m != 1:
            raise ValueError(f"seed: required when the circuit has {m} outputs (one seed entry per output)")
        seed = torch.ones(*lead, 1, dtype=at.dtype if at.is_floating_point() or at.is_complex() else torch.float64)
    if not isinstance(seed, torch.Tensor):
        raise TypeError(f"seed: expected a torch.Tensor, got {type(seed).__name__}")
    if seed.ndim == 0 or seed.shape[-1] != m:
        raise ValueError(f"seed: expected shape (..., {m}) (one entry per output), got {tuple(seed.shape)}")
    if dtype is None:
        dt = torch.promote_types(
            at.dtype if (at.is_floating_point() or at.is_complex()) else torch.float64,
            seed.dtype if (seed.is_floating_point() or seed.is_complex()) else torch.float64,
        )
        if _has_complex_constant(circuit):
            dt = complex_dtype_of(dt)
    else:
        dt = dtype
    lead = torch.broadcast_shapes(lead, seed.shape[:-1])
    x2 = at.expand(*lead, n).reshape(-1, n).to(dt)
    s2 = seed.expand(*lead, m).reshape(-1, m).to(dt)
    plan = layer_plan(circuit)
    _, layers = _plan_tensors(circuit, plan, dt, x2.device)
    with torch.no_grad():
        v = forward_buffer(circuit, x2)
        d = torch.zeros_like(v)
        col = plan["col"]
        out_cols = torch.tensor([col[o] for o in circuit._outputs], dtype=torch.long, device=x2.device)
        d.index_add_(1, out_cols, s2)
        reverse_sweep(plan, layers, v, d)
    return d[:, :n].reshape(*lead, n)


def reverse_sweep(plan: dict, layers: list, v: torch.Tensor, d: torch.Tensor, conjugate: bool = False) -> None:
    """Algorithm 2 on value buffers, in place: ``v`` (B, ncols) holds every node's value (plan
    columns), ``d`` (B, ncols) the adjoints seeded at the outputs; the layers are walked in
    reverse and each gate's adjoint is pushed to its operands with ``index_add_`` (formal
    derivatives, nothing conjugated). ``conjugate=True`` uses the conjugated local derivatives
    instead (conj(α), conj(Y), …): the vector-Jacobian product J^H d of torch's autograd.
    O(B · size) time, no memory beyond ``d``; call under ``torch.no_grad()``."""
    cj = (lambda t: t.conj()) if conjugate and v.is_complex() else (lambda t: t)
    for Lp, Lt in zip(reversed(plan["layers"]), reversed(layers)):
        pos = Lp.start
        if Lt["unary"] is not None:
            a, al = Lt["unary"]
            k = a.shape[0]
            d.index_add_(1, a, d[:, pos : pos + k] * cj(al))
            pos += k
        if Lt["binary"] is not None:
            a, b, al, be = Lt["binary"]
            k = a.shape[0]
            dg = d[:, pos : pos + k]
            d.index_add_(1, a, dg * cj(al))
            d.index_add_(1, b, dg * cj(be))
            pos += k
        if Lt["mul"] is not None:
            a, b = Lt["mul"]
            k = a.shape[0]
            dg = d[:, pos : pos + k]
            d.index_add_(1, a, dg * cj(v[:, b]))
            d.index_add_(1, b, dg * cj(v[:, a]))
            pos += k
        if Lt["div"] is not None:
            a, b = Lt["div"]
            k = a.shape[0]
            q = d[:, pos : pos + k] / cj(v[:, b])
            d.index_add_(1, a, q)
            d.index_add_(1, b, -q * cj(v[:, pos : pos + k]))
            pos += k


def _gradient_exact(circuit: Circuit, at: Any, seed: Any, field) -> list:
    field = check_exact_field(circuit, field)
    n, m = circuit.n_inputs, circuit.n_outputs
    alpha, beta = _exact_constants(circuit, field)
    rows, lead = as_object_rows(at, n, "at")
    if seed is None:
        if m != 1:
            raise ValueError(f"seed: required when the circuit has {m} outputs (one seed entry per output)")
        srows = [[1]] * len(rows)
    else:
        srows_arr, _ = as_object_rows(seed, m, "seed")
        if len(srows_arr) == 1 and len(rows) > 1:
            srows = [list(srows_arr[0])] * len(rows)
        elif len(srows_arr) != len(rows):
            raise ValueError(f"seed: expected {len(rows)} seed rows (one per point), got {len(srows_arr)}")
        else:
            srows = [list(r) for r in srows_arr]
    ops, A, Bn = circuit._op, circuit._a, circuit._b
    add, mul, div, neg = field.add, field.mul, field.div, field.neg
    results = []
    for r, s in zip(rows, srows):
        xr = [field.convert(v, f"at[{j}]") for j, v in enumerate(r)]
        v = exact_values(circuit, xr, field, alpha, beta)
        d = [field.zero] * circuit.num_nodes
        for k, o in enumerate(circuit._outputs):
            d[o] = add(d[o], field.convert(s[k], f"seed[{k}]"))
        for i in range(circuit.num_nodes - 1, n - 1, -1):
            op, dg = ops[i], d[i]
            if op == LIN:
                d[A[i]] = add(d[A[i]], mul(alpha[i], dg))
                if Bn[i] is not None:
                    d[Bn[i]] = add(d[Bn[i]], mul(beta[i], dg))
            elif op == MUL:
                d[A[i]] = add(d[A[i]], mul(dg, v[Bn[i]]))
                d[Bn[i]] = add(d[Bn[i]], mul(dg, v[A[i]]))
            elif op == DIV:
                q = div(dg, v[Bn[i]])
                d[A[i]] = add(d[A[i]], q)
                d[Bn[i]] = add(d[Bn[i]], neg(mul(q, v[i])))
        results.append(d[:n])
    from .evaluate import _from_rows

    return _from_rows(results, lead, n)


def gradient(circuit: Circuit, at, seed=None, field=None, dtype=None):
    """∇_x ⟨seed, f(x)⟩ at x = ``at`` (= J_f(at)ᵀ seed), by one reverse pass (Algorithm 2).

    ``at``: (..., n); ``seed``: (..., m) (broadcast against ``at``), optional when m = 1 (then
    the gradient of the single output). Holomorphic (formal) derivatives: no conjugation over ℂ.
    ``field=None`` with tensors: torch, vectorised per layer (cost O(size · batch)); ``field=
    "fraction"`` / ``GF(p)``: exact, nested lists of shape (..., n).

    Examples
    --------
    f(x0, x1) = x0·x1 + 2·x1: ∇f(3, 4) = (x1, x0 + 2) = (4, 5).

    >>> from kmatrix import circuits
    >>> c = circuits.Circuit(2)
    >>> node = c.output(c.x[0] * c.x[1] + 2 * c.x[1])
    >>> circuits.gradient(c, [3, 4], field="fraction") == [4, 5]
    True
    """
    fld = resolve_field(field)
    if fld is None and circuit.field is None:
        if not isinstance(at, torch.Tensor):
            raise TypeError(
                f"at: expected a torch.Tensor, got {type(at).__name__} (pass field='fraction' or GF(p) for exact)"
            )
        if circuit.field is not None:  # pragma: no cover - guarded above
            raise TypeError("at: GF circuits are evaluated exactly")
        return _gradient_torch(circuit, at, seed, dtype)
    if dtype is not None:
        raise ValueError("dtype: only meaningful for torch evaluation (field=None)")
    return _gradient_exact(circuit, at, seed, fld)


# ---------------------------------------------------------------------------- as a circuit
def forward_wires(dst: Circuit, src: Circuit, inputs: list[Wire]) -> list[Wire]:
    """Copy ``src``'s nodes into ``dst`` with wire arithmetic (constants fold); node i of src
    becomes the wire ``vals[i]`` of dst. Unused copies are removed later by ``prune``."""
    vals: list[Wire] = list(inputs)
    for i in range(src.n_inputs, src.num_nodes):
        g = src.node(i)
        if g.op == CONST:
            vals.append(Wire(dst, None, g.alpha))
        elif g.op == LIN:
            w = vals[g.a] * g.alpha
            vals.append(w if g.b is None else w + vals[g.b] * g.beta)
        elif g.op == MUL:
            vals.append(vals[g.a] * vals[g.b])
        else:
            den = vals[g.b]
            if den.node is None and dst._is_zero(den.coef):
                # src divides by a gate that folds to the constant 0 (e.g. 0·X + 0·Y): keep it a
                # division by a zero-valued node (0·x₀), as in src, instead of a build error
                den = vals[g.b] = Wire(dst, dst.lin(0, 0), 1)
            vals.append(vals[g.a] / den)
    return vals


def adjoint_wires(dst: Circuit, src: Circuit, vals: list[Wire], seeds: list[Wire]) -> list[Wire]:
    """Build Algorithm 2 into ``dst``: returns the wires d[x_j] (j < src.n_inputs) of
    J_src(x)ᵀ·seeds, given the forward values ``vals`` (wires of dst) and one seed wire per
    output. Each node's contributions are summed by a balanced tree when the node is reached
    (all its consumers come later, so all its contributions are known)."""
    contrib: list[list[Wire] | None] = [[] for _ in range(src.num_nodes)]
    for k, o in enumerate(src._outputs):
        contrib[o].append(seeds[k])
    adj: list[Wire | None] = [None] * src.n_inputs
    for i in range(src.num_nodes - 1, -1, -1):
        terms = contrib[i]
        contrib[i] = None
        if not terms:
            continue
        d = balanced_sum(dst, terms)
        g = src.node(i)
        if g.op == IN:
            adj[i] = d
        elif g.op == LIN:
            contrib[g.a].append(d * g.alpha)
            if g.b is not None:
                contrib[g.b].append(d * g.beta)
        elif g.op == MUL:
            contrib[g.a].append(d * vals[g.b])
            contrib[g.b].append(d * vals[g.a])
        elif g.op == DIV:
            q = d / vals[g.b]
            contrib[g.a].append(q)
            contrib[g.b].append(-(q * vals[i]))
    zero = Wire(dst, None, 0)
    return [zero if w is None else w for w in adj]


def gradient_circuit(circuit: Circuit) -> Circuit:
    """The circuit 𝒞′ of Theorem 3.6: inputs (x₀…x_{n−1}, s₀…s_{m−1}), outputs J(x)ᵀ s.

    Built by :func:`forward_wires` + :func:`adjoint_wires` and pruned of the forward gates the
    reverse pass does not use (for a linear circuit: all of them, and 𝒞′ is a transposed
    circuit in s). Holomorphic derivatives, like :func:`gradient`.

    Examples
    --------
    The gradient as a circuit: inputs (x, seed), outputs ∇(seed·f)(x).

    >>> from kmatrix import circuits
    >>> c = circuits.Circuit(2)
    >>> node = c.output(c.x[0] * c.x[1] + 2 * c.x[1])
    >>> g = circuits.gradient_circuit(c)
    >>> g.n_inputs, g.evaluate([3, 4, 1], field="fraction") == [4, 5]
    (3, True)
    """
    if circuit.n_outputs == 0:
        raise ValueError("circuit: it has no outputs (call circuit.output(...))")
    n, m = circuit.n_inputs, circuit.n_outputs
    dst = Circuit(n + m, field=circuit.field)
    vals = forward_wires(dst, circuit, list(dst.x[:n]))
    adj = adjoint_wires(dst, circuit, vals, list(dst.x[n:]))
    for w in adj:
        dst.output(w)
    out = dst.prune()
    out.name = f"gradient({circuit.name})"
    return out


# ---------------------------------------------------------------------------- Lemma 3.5
def loss_gradient(W, x: torch.Tensor, y: torch.Tensor, g=None, g_prime=None) -> tuple[torch.Tensor, ...]:
    """∇_θ E(θ) for E(θ) = Σ_ℓ ‖y⁽ˡ⁾ − g(W_θ x⁽ˡ⁾)‖² (Definition 3.2) through Lemma 3.5.

    With u = W_θ₀ x (one product per sample, T₂) and z = −2 (y − g(u)) ⊙ g′(u) (fixed, no θ),
    ∇_θ E|θ₀ = ∇_θ (Σ_ℓ z⁽ˡ⁾ᵀ W_θ x⁽ˡ⁾)|θ₀, which one reverse pass of the bilinear form
    computes (T₁ = O(T₂) by Baur–Strassen; here the pass is PyTorch's autograd over W's own fast
    product). Total O(L·(T₁ + T₂)).

    ``W``: a module computing x ↦ W_θ x on the last dimension (a ``StructuredMatrix``), real;
    ``x``: (L, n); ``y``: (L, m); ``g``, ``g_prime``: elementwise g and its derivative
    (default identity, 1). Returns one gradient per ``W.parameters()`` entry (None for a
    parameter the product does not use).

    Examples
    --------
    Against autograd on the dense matrix:

    >>> W = kmatrix.Dense(torch.randn(2, 3, dtype=torch.float64))
    >>> x, y = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    >>> (grad,) = kmatrix.circuits.loss_gradient(W, x, y)
    >>> Wd = W.weight.detach().clone().requires_grad_(True)
    >>> ((y - x @ Wd.T) ** 2).sum().backward()
    >>> torch.allclose(grad, Wd.grad)
    True
    """
    if not isinstance(W, torch.nn.Module):
        raise TypeError(f"W: expected a torch.nn.Module (e.g. a StructuredMatrix), got {type(W).__name__}")
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
        if t.is_complex():
            raise TypeError(f"{name}: Lemma 3.5's squared error is for real data; got a complex tensor")
    if (g is None) != (g_prime is None):
        raise ValueError("g, g_prime: give both the function and its derivative, or neither (identity)")
    if g is None:
        g, g_prime = (lambda u: u), (lambda u: torch.ones_like(u))
    params = list(W.parameters())
    if not params:
        raise ValueError("W: has no parameters θ to differentiate")
    with torch.no_grad():
        u = W(x)
        if u.shape != y.shape:
            raise ValueError(f"y: expected shape {tuple(u.shape)} (that of W x), got {tuple(y.shape)}")
        z = -2 * (y - g(u)) * g_prime(u)
    with torch.enable_grad():
        bilinear = (z * W(x)).sum()
        grads = torch.autograd.grad(bilinear, params, allow_unused=True)
    return tuple(grads)
