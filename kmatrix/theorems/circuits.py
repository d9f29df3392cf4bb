"""Theorem 5.5: a linear circuit with s gates and depth d → a K-matrix in (BB*)^{O(d)}_{O(s/n)}.

Theorem 4.5 (:func:`kmatrix.circuits.sparse_factor_triplets`) writes the circuit's matrix as
W = P · W_d ⋯ W_1 · E with s′×s′ layer matrices W_k (s′ = 2^⌈log2 s″⌉, s″ the number of nodes
including inputs), nnz(W_k) ≤ 2s″, the output selector P and the input embedding E. We fold
P into W_d and E into W_1 (a row selection and a column selection: no arithmetic), apply
Theorem 5.7 (:func:`kmatrix.sparse_to_kmatrix`) to each of the d factors — each has at most
2s″ ≤ 2s′ nonzeros, so at most 2 pieces of width ≤ 4, stacked: width ≤ 4 and size ≤ 2s′ per
layer — and multiply (:func:`kmatrix.kmatrix_product`: widths add, the common size is the
largest). Result: width ≤ 4d, size ≤ 2s′ ≤ 4s″, i.e. expansion O(s/n), and
num_params = 4·w·N·log2 N = O(d · s log s) — the theorem's bounds. Layers whose factor is a
scaled partial permutation, or whose slots are already ordered (P₂ = I), take 1 factor instead
of 4, so the width reached is usually well below 4d (reported by ``kmatrix verify``).

Constants are the circuit's Python numbers in double precision (float64, complex128 when one is
complex); the K-matrix equals ``circuit.to_dense()`` to rounding (≤ 1e-12 relative): each
stored twiddle value is one layer coefficient, the products of the layers are re-associated.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sps
import torch

from ..circuits.circuit import Circuit
from ..circuits.sparse_factors import sparse_factor_triplets
from ..families.kaleidoscope import KMatrix
from ._tw import kmatrix_of
from .sparse import sparse_twiddle
from .sums import LAYOUTS, product_twiddle

__all__ = ["circuit_to_kmatrix"]


def _coo(trip, dt):
    rows, cols, vals, shape = trip
    v = np.array([complex(x) if dt == np.complex128 else float(x) for x in vals], dtype=dt)
    return sps.coo_matrix(
        (v, (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))), shape=shape
    )


def circuit_to_kmatrix(
    circuit: Circuit, dtype: torch.dtype | None = None, layout: str = "auto"
) -> KMatrix:
    """The matrix of a linear circuit as one KMatrix (Theorem 5.5;
    ``help("kmatrix.theorems.circuits")``): width ≤ 4d (d = depth), size ≤ 4·(nodes incl. inputs).
    ``dtype``: float64 by default (complex128 when a constant is complex). New parameters.
    ValueError for a non-linear circuit (see :meth:`Circuit.linearize`) or one without outputs,
    TypeError for a circuit over GF(p).

    Examples
    --------
    >>> from kmatrix import circuits
    >>> c = circuits.hadamard(8)
    >>> K = kmatrix.circuit_to_kmatrix(c)
    >>> K.shape, torch.allclose(K.to_dense().double(), c.to_dense().double())
    ((8, 8), True)
    """
    if not isinstance(circuit, Circuit):
        raise TypeError(
            f"circuit: expected a kmatrix.circuits.Circuit, got {type(circuit).__name__}"
        )
    if circuit.field is not None:
        raise TypeError(
            f"circuit: its constants live in {circuit.field!r}; a K-matrix holds real or complex numbers"
        )
    if layout not in LAYOUTS:
        raise ValueError(f"layout: expected one of {LAYOUTS}, got {layout!r}")
    trips = sparse_factor_triplets(circuit)  # checks linearity and outputs
    is_c = any(isinstance(v, complex) for t in trips for v in t[2])
    dt = np.complex128 if is_c else np.float64
    if dtype is None:
        dtype = torch.complex128 if is_c else torch.float64
    elif is_c and not dtype.is_complex:
        raise TypeError(f"dtype: the circuit has complex constants, got real dtype {dtype}")
    P, *layers, E = (_coo(t, dt) for t in trips)
    layers[-1] = (layers[-1] @ E).tocoo()  # W_1·E: the first n columns of W_1
    layers[0] = (P @ layers[0]).tocoo()  # P·W_d: the output rows of W_d
    items = []
    for Wk in layers:
        Wk.sum_duplicates()
        Wk.eliminate_zeros()
        m, n = Wk.shape
        items.append(
            (
                sparse_twiddle(
                    Wk.row.astype(np.int64), Wk.col.astype(np.int64), Wk.data, (m, n), layout
                ),
                n,
                m,
            )
        )
    tw, k_in, k_out = product_twiddle(items)
    return kmatrix_of(tw, k_in, k_out, dtype).compact()
