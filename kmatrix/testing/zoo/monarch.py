"""Zoo entries: Monarch (square with √n blocks, rectangular with padding, rank 2, complex).

The reference rebuilds M = P L Pᵀ R (Dao et al. 2022) from explicit matrices in complex128:
R and L as ``torch.block_diag`` of their blocks, the two reshape permutations as explicit 0/1
permutation matrices built from their index maps, the product of the four, then the
out_size × in_size corner — independently of the family's batched-matmul code.
"""

from __future__ import annotations

import torch

from ...families import Monarch
from ..battery import ZooEntry

WIDE = torch.complex128


def _perm_matrix(dest: list[int]) -> torch.Tensor:
    """The permutation matrix sending coordinate s to position dest[s]."""
    n = len(dest)
    P = torch.zeros(n, n, dtype=WIDE)
    for s, d in enumerate(dest):
        P[d, s] = 1
    return P


def monarch_reference(M: Monarch) -> torch.Tensor:
    k, r, l = M.nblocks, M.rank, M.out_block
    Rbd = torch.block_diag(*[M.R.detach()[i].to(WIDE) for i in range(k)])  # (k·k·r, k·p)
    Lbd = torch.block_diag(*[M.L.detach()[c].to(WIDE) for c in range(k)])  # (k·l, k·k·r)
    # Pᵀ: R's output (i, c, ρ) at i·k·r + c·r + ρ goes to L's input (c, i, ρ) at c·k·r + i·r + ρ
    mid = [c * k * r + i * r + rho for i in range(k) for c in range(k) for rho in range(r)]
    # P: L's output (c, a) at c·l + a goes to the flat output index a·k + c
    out = [a * k + c for c in range(k) for a in range(l)]
    dense = _perm_matrix(out) @ Lbd @ _perm_matrix(mid) @ Rbd
    m, n = M.shape
    return dense[:m, :n]


ENTRIES = [
    ZooEntry(
        "Monarch-square",
        lambda n, dt, g: Monarch(n, dtype=dt, generator=g),
        monarch_reference,
    ),
    ZooEntry(
        "Monarch-rect-padded",
        lambda n, dt, g: Monarch(n + 1, n // 2 + 1, nblocks=3, dtype=dt, generator=g),
        monarch_reference,
        sizes=(4, 13),
        bench=False,
    ),
    ZooEntry(
        "Monarch-rank2",
        lambda n, dt, g: Monarch(n, n + 3, nblocks=4, rank=2, dtype=dt, generator=g),
        monarch_reference,
        bench=False,
    ),
]
