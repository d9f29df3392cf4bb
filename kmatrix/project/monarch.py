"""Projection onto Monarch matrices by blockwise truncated SVD (Dao et al., ICML 2022, §3.3).

By the entry formula of :mod:`kmatrix.families.monarch`, M' (M zero-padded to k·l × k·p) is a
Monarch matrix with rank-r blocks iff each of its k² blocks B_{c,i} = M'[a·k + c, i·p + j]
(a < l, j < p) has rank ≤ r, and the blocks are disjoint — so the Frobenius projection is the
best rank-r approximation of every block (Eckart–Young), error² = Σ_{c,i} Σ_{t>r} σ_t(B_{c,i})².
Padding keeps this optimal for the m×n corner: a zero-padded block's singular vectors for
nonzero singular values vanish on the padded rows/columns, so the corner of the projection is
the projection of the corner (the padded entries are unconstrained and come out zero).
Cost: k² SVDs of l×p matrices, O(k²·l·p·min(l, p)) = O(n² √n) for k = √n.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..families.monarch import Monarch
from ._common import check_int_range

__all__ = ["project_monarch"]


def project_monarch(M: torch.Tensor, nblocks: int | None = None, rank: int = 1):
    """Closest Monarch(n, m, nblocks, rank) to M (optimal); returns (Monarch, True, details)."""
    m, n = M.shape
    shell = Monarch(n, m, nblocks=nblocks, dtype=M.dtype, device=M.device)  # validates sizes
    k, p, l = shell.nblocks, shell.in_block, shell.out_block
    r = check_int_range(rank, "rank", 1, min(l, p))
    Mp = F.pad(M, (0, k * p - n, 0, k * l - m))
    blocks = Mp.reshape(l, k, k, p).permute(1, 2, 0, 3)  # [c, i, a, j]
    U, s, Vh = torch.linalg.svd(blocks, full_matrices=False)
    root = s[..., :r].sqrt().to(M.dtype)  # (k_c, k_i, r)
    u = U[..., :r] * root[..., None, :]  # (c, i, a, ρ)
    v = Vh[..., :r, :] * root[..., :, None]  # (c, i, ρ, j)
    L = u.permute(0, 2, 1, 3).reshape(k, l, k * r)  # L[c, a, i·r + ρ]
    R = v.permute(1, 0, 2, 3).reshape(k, k * r, p)  # R[i, c·r + ρ, j]
    W = Monarch(n, m, nblocks=k, rank=r, init=(L, R))
    padded = (k * l, k * p) != (m, n)
    return W, True, {"nblocks": k, "rank": r, "_padded_shape": (k * l, k * p) if padded else None}
