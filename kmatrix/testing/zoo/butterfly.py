"""Zoo entries: Butterfly (square / rectangular, both stride orders, stacked), KMatrix (widths 1
and 2, expansion 2), RealPart.

The references rebuild every matrix from its twiddles as an explicit product of the butterfly
factor matrices B_k^(N) of Definitions 5.1–5.2 (block-diagonal matrices of N/k butterfly
factors [[D1, D2], [D3, D4]] with diagonal D_i), in float64/complex128, independently of the
kernels and of the families' own code.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from ...families import Butterfly, KMatrix, RealPart
from ..battery import ZooEntry, dot_flops

WIDE = torch.complex128


def butterfly_factor_reference(t: torch.Tensor, k: int) -> torch.Tensor:
    """B_k^(N) of Definition 5.2 from one stage's twiddles t (N/2, 2, 2): N/k butterfly factors
    B_k = [[D1, D2], [D3, D4]] (Definition 5.1) on the diagonal; factor f's D_i[j] come from
    pair p = f·k/2 + j (the layout: pair p acts on (x_i, x_{i+k/2}), i = (p // (k/2))·k + p mod k/2)."""
    t = t.detach().to(WIDE)
    half = k // 2
    blocks = []
    for f in range(t.shape[0] // half):
        blk = t[f * half:(f + 1) * half]
        d1, d2, d3, d4 = (torch.diag(blk[:, a, b]) for a, b in ((0, 0), (0, 1), (1, 0), (1, 1)))
        blocks.append(torch.cat([torch.cat([d1, d2], 1), torch.cat([d3, d4], 1)], 0))
    return torch.block_diag(*blocks)


def butterfly_reference(tw: torch.Tensor, increasing: bool) -> torch.Tensor:
    """The N×N product of the stages of ``tw`` (L, N/2, 2, 2), stage 0 applied first:
    increasing strides give B^(N) = B_N^(N) ⋯ B_2^(N) (Definition 5.3)."""
    levels, half = tw.shape[0], tw.shape[1]
    n = 2 * half
    out = torch.eye(n, dtype=WIDE)
    for k in range(levels):
        block = 2 << k if increasing else n >> k
        out = butterfly_factor_reference(tw[k], block) @ out
    return out


def sparse_factor_reference(t: np.ndarray, stride: int) -> sp.csr_matrix:
    """B_k^(N), k = 2·stride, as a scipy sparse matrix from its four diagonals (Definitions
    5.1–5.2) — for sizes where the dense reference is too large."""
    half = t.shape[0]
    n = 2 * half
    p = np.arange(half)
    i = (p // stride) * 2 * stride + p % stride
    j = i + stride
    rows = np.concatenate([i, i, j, j])
    cols = np.concatenate([i, j, i, j])
    vals = np.concatenate([t[:, 0, 0], t[:, 0, 1], t[:, 1, 0], t[:, 1, 1]])
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, n))


def apply_stages_reference(tw: np.ndarray, x: np.ndarray, increasing: bool) -> np.ndarray:
    """x (N, B) -> the product of the stages of ``tw`` (L, N/2, 2, 2), each a sparse B_k^(N)."""
    n = 2 * tw.shape[1]
    for k in range(tw.shape[0]):
        stride = 1 << k if increasing else n >> (k + 1)
        x = sparse_factor_reference(tw[k], stride) @ x
    return x


def butterfly_matrix_reference(M: Butterfly) -> torch.Tensor:
    tw = M.twiddle.detach()
    tws = [tw] if M.nstack is None else list(tw)
    mats = [butterfly_reference(t, M.increasing_stride)[: M.out_size, : M.in_size] for t in tws]
    return torch.block_diag(*mats)


def kmatrix_reference(M: KMatrix) -> torch.Tensor:
    """S (M_w ⋯ M_1) Sᵀ with M_i = B_i B_i'^* (Definition 5.4), B'^* = part 0 (decreasing)."""
    tw = M.twiddle.detach()
    n = M.size
    out = torch.eye(n, dtype=WIDE)
    for i in range(tw.shape[0]):
        out = butterfly_reference(tw[i, 1], True) @ butterfly_reference(tw[i, 0], False) @ out
    return out[: M.out_size, : M.in_size]


def _reference(M):
    if isinstance(M, Butterfly):
        return butterfly_matrix_reference(M)
    if isinstance(M, KMatrix):
        return kmatrix_reference(M)
    if isinstance(M, RealPart):
        return _reference(M.base).real.to(WIDE)
    raise TypeError(type(M).__name__)


def _complex(dt):
    return dt if dt.is_complex else (torch.complex128 if dt == torch.float64 else torch.complex64)


def _tw_flops(M) -> int:
    """Counted from the twiddle tensor: each stage is N/2 independent 2×2 blocks, i.e. N outputs
    that are inner products of length 2; the number of stages is the number of (N/2, 2, 2)
    slices (a RealPart costs its complex base's product)."""
    tw = (M.base if isinstance(M, RealPart) else M).twiddle
    half = tw.shape[-3]
    stages = tw.numel() // (half * 4)
    return stages * dot_flops(2 * half, 2, tw.is_complex())


ENTRIES = [
    ZooEntry(
        "Butterfly-square",
        lambda n, dt, g: Butterfly(n, dtype=dt, generator=g),
        _reference,
        flops=_tw_flops,
    ),
    ZooEntry(
        "Butterfly-rect-decreasing",
        lambda n, dt, g: Butterfly(n, n // 2 + 3, increasing_stride=False, dtype=dt, generator=g),
        _reference,
        flops=_tw_flops,
        sizes=(3, 16),
        bench=False,
    ),
    ZooEntry(
        "Butterfly-rect-increasing",
        lambda n, dt, g: Butterfly(n - 1, n + 2, init="orthogonal", dtype=dt, generator=g),
        _reference,
        flops=_tw_flops,
        sizes=(4, 13),
        bench=False,
    ),
    ZooEntry(
        "Butterfly-stacked",
        lambda n, dt, g: Butterfly(n, n - 1, nstack=3, dtype=dt, generator=g),
        _reference,
        flops=_tw_flops,
        bench=False,
    ),
    ZooEntry(
        "KMatrix-w1",
        lambda n, dt, g: KMatrix(n, width=1, dtype=dt, generator=g),
        _reference,
        flops=_tw_flops,
    ),
    ZooEntry(
        "KMatrix-w2-rect",
        lambda n, dt, g: KMatrix(n, n // 2 + 1, width=2, dtype=dt, generator=g),
        _reference,
        flops=_tw_flops,
        sizes=(4, 12),
        bench=False,
    ),
    ZooEntry(
        "KMatrix-w1-e2",
        lambda n, dt, g: KMatrix(n + 1, n, width=1, expansion=2, init="unitary", dtype=dt, generator=g),
        _reference,
        flops=_tw_flops,
        sizes=(3, 9),
        bench=False,
    ),
    ZooEntry(
        "RealPart-KMatrix",
        lambda n, dt, g: RealPart(KMatrix(n, n + 1, width=2, dtype=_complex(dt), generator=g)),
        _reference,
        flops=_tw_flops,
        dtypes=(torch.float32, torch.float64),
        bench=False,
    ),
]
