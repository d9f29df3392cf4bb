"""Zoo entries: LowRank and SparsePlusLowRank.

References: numpy products of the stored factors in complex128 (L @ R), plus, for the sparse
part, scipy.sparse.coo_matrix(...).toarray() (which sums duplicate locations as Sparse does).
"""

import numpy as np
import scipy.sparse
import torch

from ...families import LowRank, Sparse, SparsePlusLowRank
from ..battery import ZooEntry, dot_flops, random_tensor
from .sparse import sparse_flops


def _np(t):
    return t.detach().to(torch.complex128).numpy()


def _lr_reference(M):
    return torch.from_numpy(_np(M.L) @ _np(M.R))


def _splr_make(n, dt, g):
    m, s = n + 2, 3 * n
    S = Sparse(torch.randint(0, m, (s,), generator=g), torch.randint(0, n, (s,), generator=g),
               random_tensor((s,), dt, g), (m, n))
    return SparsePlusLowRank(S, LowRank(random_tensor((m, 2), dt, g), random_tensor((2, n), dt, g)))


def _splr_reference(M):
    S = M.sparse
    sp = scipy.sparse.coo_matrix((_np(S.values), (S.rows.numpy(), S.cols.numpy())), shape=S.shape).toarray()
    return torch.from_numpy(np.ascontiguousarray(sp)) + _lr_reference(M.lowrank)


def _lr_flops(M) -> int:
    """R x: r inner products of length n; L (R x): m of length r."""
    m, n = M.shape
    return dot_flops(M.rank, n, M.is_complex) + dot_flops(m, M.rank, M.is_complex)


def _splr_flops(M) -> int:
    """Both parts, then m additions of their outputs (2 real flops each over ℂ)."""
    return sparse_flops(M.sparse) + _lr_flops(M.lowrank) + M.shape[0] * (2 if M.is_complex else 1)


ENTRIES = [
    ZooEntry(
        "LowRank",
        lambda n, dt, g: LowRank(random_tensor((n + 1, 3), dt, g), random_tensor((3, n), dt, g)),
        _lr_reference,
        flops=_lr_flops,
    ),
    ZooEntry("SparsePlusLowRank", _splr_make, _splr_reference, flops=_splr_flops),
]
