"""Zoo entries: Sparse (listing representation) and SparseProduct.

References are built with scipy.sparse.coo_matrix(...).toarray() from the stored listing, which
sums duplicate locations as Sparse does, independently of the family's index_add kernel.
"""

import numpy as np
import scipy.sparse
import torch

from ...families import Sparse, SparseProduct
from ..battery import ZooEntry, dot_flops, random_tensor


def _random_sparse(m, n, s, dtype, g):
    """s listed entries at random locations (duplicates possible, exercising the summing rule)."""
    rows = torch.randint(0, m, (s,), generator=g)
    cols = torch.randint(0, n, (s,), generator=g)
    return Sparse(rows, cols, random_tensor((s,), dtype, g), (m, n))


def _coo_reference(S):
    vals = S.values.detach().to(torch.complex128).numpy()
    dense = scipy.sparse.coo_matrix((vals, (S.rows.numpy(), S.cols.numpy())), shape=S.shape).toarray()
    return torch.from_numpy(np.ascontiguousarray(dense))


def sparse_flops(S) -> int:
    """Row i with k_i ≥ 1 stored entries is an inner product of length k_i (numpy's bincount
    of the listing, not the library's count)."""
    counts = np.bincount(S.rows.numpy(), minlength=S.shape[0])
    return sum(dot_flops(1, int(k), S.is_complex) for k in counts if k > 0)


def _product_reference(P):
    out = None
    for f in P.factors:
        d = _coo_reference(f)
        out = d if out is None else out @ d
    return out


ENTRIES = [
    ZooEntry(
        "Sparse",
        lambda n, dt, g: _random_sparse(n + 2, n, 3 * n, dt, g),
        _coo_reference,
        flops=sparse_flops,
    ),
    ZooEntry(
        "SparseProduct",
        lambda n, dt, g: SparseProduct(
            [_random_sparse(n + 1, 2 * n, 4 * n, dt, g), _random_sparse(2 * n, n, 3 * n, dt, g),
             _random_sparse(n, n, 2 * n, dt, g)]
        ),
        _product_reference,
        flops=lambda P: sum(sparse_flops(f) for f in P.factors),
    ),
]
