"""Theorem 4.5 (De Sa et al., restored in NOTES.md): a linear circuit → a product of sparse
matrices.

Let the linear circuit C have s nodes (inputs included) and depth d, and let s′ be the least
power of two ≥ s. Number the nodes layer by layer — inputs 0…n−1, then the w_1 gates of depth 1,
…, the w_d gates of depth d — so that z_k = n + w_1 + … + w_{k−1} nodes are known before layer k.
The s′×s′ layer matrix W_k has rows

    W_k[i, :] = e_iᵀ                        for i < z_k still needed (copy what is known),
    W_k[i, :] = α_i e_{i1}ᵀ + β_i e_{i2}ᵀ   for z_k ≤ i < z_k + w_k (the gates of layer k),
    W_k[i, :] = 0                            otherwise,

where node i < z_k is *still needed* after layer k when a gate of a later layer reads it or it
is an output. The survey's construction copies every known node (all i < z_k); dropping the
copies nobody reads later leaves W_k ⋯ W_1 [v; 0] equal to the survey's vector on every
position that is read again, so the product is the same, and nnz(W_k) = (nodes still needed) +
(operands of layer k) ≤ z_k + 2w_k ≤ 2s still. It changes the total: Σ_k nnz(W_k) is
O(s + Σ_k live_k) instead of Σ_k z_k = Θ(s·d) — a chain of 20000 gates has ~4·10⁴ entries in
all instead of 2·10⁸ (which did not fit in memory). With the input embedding E = [I_n; 0]
(s′×n) and the truncated permutation P (m×s′, P[k, pos(output k)] = 1):

    W = P · W_d ⋯ W_1 · E,

d + 1 factors besides E (d + 2 in all); nnz(P) = m, nnz(E) = n. Returned as a
``kmatrix.SparseProduct`` (factors [P, W_d, …, W_1, E], the last applied first) whose
``to_dense()`` equals ``circuit.to_dense()``. Time and memory O(s + total nnz).
"""

from __future__ import annotations

import torch

from .circuit import Circuit
from .evaluate import _has_complex_constant
from .transpose import _check_linear

__all__ = ["layer_positions", "sparse_factor_triplets", "to_sparse_factors"]


def layer_positions(circuit: Circuit) -> tuple[list[int], list[int]]:
    """(pos, z): ``pos[node]`` = its row in the layered numbering; ``z[k-1]`` = z_k."""
    pos = [-1] * circuit.num_nodes
    for j in range(circuit.n_inputs):
        pos[j] = j
    nxt = circuit.n_inputs
    z = []
    for layer in circuit.layers():
        z.append(nxt)
        for g in layer:
            pos[g] = nxt
            nxt += 1
    return pos, z


def sparse_factor_triplets(circuit: Circuit) -> list[tuple[list[int], list[int], list, tuple[int, int]]]:
    """The factors [P, W_d, …, W_1, E] as (rows, cols, values, shape) with the circuit's own
    (possibly exact) constants as values; product order as in ``SparseProduct``. Copy rows are
    kept only for nodes still needed after their layer
    (``help("kmatrix.circuits.sparse_factors")``), so the lists hold O(s + total nnz) entries.

    Examples
    --------
    Exact entries (rows, cols, values, shape) of each factor, left to right:

    >>> from kmatrix import circuits
    >>> trip = circuits.sparse_factor_triplets(circuits.hadamard(2))
    >>> [t[3] for t in trip]
    [(2, 4), (4, 4), (4, 2)]
    """
    _check_linear(circuit, "to_sparse_factors")
    n, m, s = circuit.n_inputs, circuit.n_outputs, circuit.num_nodes
    sp = 1 << (s - 1).bit_length()
    pos, _z = layer_positions(circuit)
    layers = circuit.layers()
    d = len(layers)
    # last[node] = the last layer (1-based) whose gates read it; d + 1 for outputs (P reads them)
    last = [0] * s
    for k, layer in enumerate(layers, start=1):
        for g in layer:
            last[circuit._a[g]] = k
            if circuit._b[g] is not None:
                last[circuit._b[g]] = k
    for o in circuit._outputs:
        last[o] = d + 1
    live = {j for j in range(n) if last[j] > 1}  # known before layer 1 and needed after it
    layer_mats = []
    for k, layer in enumerate(layers, start=1):
        rows = sorted(pos[v] for v in live)
        cols = list(rows)
        vals: list = [1] * len(rows)
        for g in layer:
            rows.append(pos[g])
            cols.append(pos[circuit._a[g]])
            vals.append(circuit._alpha[g])
            if circuit._b[g] is not None:
                rows.append(pos[g])
                cols.append(pos[circuit._b[g]])
                vals.append(circuit._beta[g])
        layer_mats.append((rows, cols, vals, (sp, sp)))
        # the state after layer k + 1 keeps what is read after layer k + 1
        live = {v for v in live if last[v] > k + 1}
        live.update(g for g in layer if last[g] > k + 1)
    P = (list(range(m)), [pos[o] for o in circuit._outputs], [1] * m, (m, sp))
    E = (list(range(n)), list(range(n)), [1] * n, (sp, n))
    return [P, *reversed(layer_mats), E]


def to_sparse_factors(circuit: Circuit, dtype: torch.dtype | None = None):
    """W = P · W_d ⋯ W_1 · E as a ``kmatrix.SparseProduct`` of ``kmatrix.Sparse`` factors
    (``help("kmatrix.circuits.sparse_factors")``). ``dtype``: default float64, complex128 when a
    constant is complex.

    Examples
    --------
    >>> from kmatrix import circuits
    >>> P = circuits.to_sparse_factors(circuits.hadamard(4))
    >>> type(P).__name__, len(P.factors)
    ('SparseProduct', 4)
    >>> torch.equal(P.to_dense(), circuits.hadamard(4).to_dense().to(P.dtype))
    True
    """
    from ..families.sparse import Sparse
    from ..families.sparse_product import SparseProduct

    if circuit.field is not None:
        raise TypeError(
            f"circuit: its constants live in {circuit.field!r}; sparse factors are torch matrices "
            "(use sparse_factor_triplets for the exact entries)"
        )
    trip = sparse_factor_triplets(circuit)
    dt = dtype or (torch.complex128 if _has_complex_constant(circuit) else torch.float64)
    factors = []
    for rows, cols, vals, shape in trip:
        v = [complex(c) for c in vals] if dt.is_complex else [float(c) for c in vals]
        factors.append(
            Sparse(
                torch.tensor(rows, dtype=torch.long),
                torch.tensor(cols, dtype=torch.long),
                torch.tensor(v, dtype=dt),
                shape,
            )
        )
    return SparseProduct(factors)
