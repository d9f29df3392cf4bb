"""The converse of Theorem 4.5: a product of sparse matrices → the linear circuit that applies it.

W = S_1 S_2 ⋯ S_K applied right to left: the vector meets S_K first. Each factor's row
i computes y_i = Σ_j S[i, j]·z_j from the previous values z by a balanced tree of lin gates
(:func:`kmatrix.circuits.library.balanced_sum`; a coefficient per nonzero, folded into the gate
that consumes it): a row with k ≥ 2 nonzeros costs k − 1 gates and depth ⌈log2 k⌉, a row that
is a plain copy (one entry 1) is a wire, a scaled copy is folded into its consumers (a unary
gate only when it is an output), an empty row is the constant 0 (dropped from sums). So the
circuit has at most Σ_k nnz(S_k) gates, and its depth is K when every row has at most two
nonzeros — the factors of :func:`kmatrix.circuits.to_sparse_factors` — so circuit → factors →
circuit round-trips (same matrix; the gates are those of the layered normal form).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from .circuit import Circuit, Wire
from .fields import GF
from .library import balanced_sum

__all__ = ["from_sparse_factors"]


def _triplets(f: Any, k: int) -> tuple[list[int], list[int], list, tuple[int, int]]:
    """(rows, cols, values, shape) of one factor, values as Python numbers (exact ones kept)."""
    name = f"factors[{k}]"
    if isinstance(f, tuple) and len(f) == 4:
        rows, cols, vals, shape = f
        return (
            [int(r) for r in rows],
            [int(c) for c in cols],
            list(vals),
            (int(shape[0]), int(shape[1])),
        )
    from ..families._coo import coo_of

    rows, cols, vals, shape, _ = coo_of(f, name)
    return rows.tolist(), cols.tolist(), vals.tolist(), shape


def from_sparse_factors(factors, field: GF | None = None) -> Circuit:
    """The linear circuit of W = S_1 ⋯ S_K (``help("kmatrix.circuits.from_sparse")``).

    ``factors``: a ``kmatrix.SparseProduct`` (what :func:`to_sparse_factors` returns), or a list
    [S_1, …, S_K] applied right to left whose entries are ``kmatrix.Sparse``, ``scipy.sparse``,
    ``torch.sparse``, dense arrays/tensors, or exact triplets (rows, cols, values, (m, n)) as
    :func:`sparse_factor_triplets` returns them (int / Fraction values stay exact). ``field``:
    GF(p) for a circuit over a prime field (triplet values then residues). Shapes must chain.

    Examples
    --------
    >>> from kmatrix import circuits
    >>> P = circuits.to_sparse_factors(circuits.hadamard(2))
    >>> circuits.from_sparse_factors(P).to_dense(field="fraction") == [[1, 1], [1, -1]]
    True
    """
    from ..families.sparse_product import SparseProduct

    if isinstance(factors, SparseProduct):
        factors = list(factors.factors)
    if not isinstance(factors, (list, tuple)) or len(factors) == 0:
        raise TypeError("factors: expected a non-empty list of sparse matrices or a SparseProduct")
    trips = [_triplets(f, k) for k, f in enumerate(factors)]
    for k in range(len(trips) - 1):
        if trips[k][3][1] != trips[k + 1][3][0]:
            raise ValueError(
                f"factors: shapes do not chain, factor {k} is {trips[k][3]} and factor {k + 1} is {trips[k + 1][3]}"
            )
    n = trips[-1][3][1]
    c = Circuit(n, field=field)
    c.name = "from_sparse_factors"
    z: list[Wire] = list(c.x)
    for rows, cols, vals, (m, _) in reversed(trips):
        terms: list[list[Wire]] = [[] for _ in range(m)]
        for r, col, v in zip(rows, cols, vals):
            if isinstance(v, np.generic):
                v = v.item()
            if isinstance(v, float) and v.is_integer():
                v = int(v)
            terms[r].append(z[col] * (Fraction(v) if isinstance(v, Fraction) else v))
        z = [balanced_sum(c, t) if t else Wire(c, None, 0) for t in terms]
    for w in z:
        c.output(w)
    return c
