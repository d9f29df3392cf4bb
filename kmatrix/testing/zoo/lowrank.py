"""Zoo entries: LowRank and SparsePlusLowRank.

References: numpy products of the stored factors in complex128 (L @ R), plus, for the sparse
part, scipy.sparse.coo_matrix(...).toarray() (which sums duplicate locations as Sparse does).
"""

import numpy as np
import scipy.sparse
import torch

from ...families import LowRank, Sparse, SparsePlusLowRank
from ..battery import ZooEntry, random_tensor


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


ENTRIES = [
    ZooEntry(
        "LowRank",
        lambda n, dt, g: LowRank(random_tensor((n + 1, 3), dt, g), random_tensor((3, n), dt, g)),
        _lr_reference,
    ),
    ZooEntry("SparsePlusLowRank", _splr_make, _splr_reference),
]
