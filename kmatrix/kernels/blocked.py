"""Fast plain-PyTorch butterfly multiply: stages grouped into radix-2^r blocks, one batched
matmul per block.

This is the fallback where the fused kernel does not run (no C++ compiler, CUDA tensors without
a GPU kernel, half precision outside the kernel) and the decomposition that tracing and export
see. Same layout and result as :func:`kmatrix.kernels.butterfly_multiply_reference`.

Math. Take r consecutive stages k0 … k0+r-1 of one butterfly; their strides are the powers 2^b
for the bits b of the range [lo, lo+r) (lo = k0 for increasing strides, L-k0-r for
decreasing). Write an index as i = h·2^(lo+r) + m·2^lo + l with m < 2^r, l < 2^lo: those r
stages only mix the 2^r entries sharing (h, l), so together they are one 2^r × 2^r matrix
M[s, h, l] per stack index and group. A pass computes M (the r stages applied to the identity,
O(S·N·2^r·r) work, independent of the batch) and then y[b, s, h, :, l] = M[s, h, l] x[b, s, h, :,
l], one batched matmul: 2^(r+1) flops per entry instead of 6r for the r stages one by one, but
read and written once instead of r times and run by the BLAS. With r ≤ 5, L stages take
⌈L/5⌉ passes (two at N = 1024).

Autograd differentiates through the block construction and the matmuls (memory: one saved
activation per pass, O(batch·N·⌈L/r⌉)).
"""

from __future__ import annotations

import functools

import torch

from .._torch_compat import plain_eager

__all__ = ["RADIX_MAX", "butterfly_multiply_blocked", "chain_blocked", "pass_sizes"]

RADIX_MAX = 5


def pass_sizes(levels: int, rmax: int = RADIX_MAX) -> list[int]:
    """Split ``levels`` stages into ⌈levels/rmax⌉ passes of nearly equal size."""
    if levels <= 0:
        return []
    count = -(-levels // rmax)
    return [levels // count + (1 if j < levels % count else 0) for j in range(count)]


def _gather_index(levels: int, lo: int, r: int, increasing: bool, device: torch.device):
    """:func:`_gather_index_build`, cached for plain eager calls. Under tracing (torch.export,
    torch.compile, fake tensors) or a torch.func transform it is rebuilt from ``arange`` and
    traced: a cache filled there would hold fake tensors and hand them to later eager calls."""
    if plain_eager():
        return _gather_index_cached(levels, lo, r, increasing, device)
    return _gather_index_build(levels, lo, r, increasing, device)


def _gather_index_build(levels: int, lo: int, r: int, increasing: bool, device: torch.device):
    """For each of the r stages of a block: the flat index into that stage's twiddle (N/2, 2, 2)
    of the factor contributing to entry (h, l, m_out, m_in) of the block matrix.

    Within a block every stage decides one bit of the index, so input m reaches output m' along
    exactly one path and M[m', m] is the product of the r 2×2-block entries on it: at stage j
    (bit q) the state holds the output bits of the stages already applied and the input bits of
    the others; its pair index is p = (h·2^(r-q-1) + state_hi)·2^(lo+q) + state_lo·2^lo + l and
    the entry is [bit q of m', bit q of m]."""
    n, M = 1 << levels, 1 << r
    nh, nl = n >> (lo + r), 1 << lo
    h = torch.arange(nh).view(nh, 1, 1, 1)
    l_ = torch.arange(nl).view(1, nl, 1, 1)
    mo = torch.arange(M).view(1, 1, M, 1)
    mi = torch.arange(M).view(1, 1, 1, M)
    out, done = [], 0
    for j in range(r):
        q = j if increasing else r - 1 - j
        state = (mo & done) | (mi & (M - 1 - done))
        hi, low = state >> (q + 1), state & ((1 << q) - 1)
        p = ((h * (M >> (q + 1)) + hi) << (lo + q)) + (low << lo) + l_
        idx = p * 4 + ((mo >> q) & 1) * 2 + ((mi >> q) & 1)
        out.append(idx.reshape(-1).to(device))
        done |= 1 << q
    return tuple(out)


_gather_index_cached = functools.lru_cache(maxsize=512)(_gather_index_build)


def _block(twiddle: torch.Tensor, k0: int, r: int, lo: int, increasing: bool, n: int):
    """The (S, nh, nl, 2^r, 2^r) matrices of stages k0 … k0+r-1 (bits [lo, lo+r)): r gathers
    from the twiddles and r-1 elementwise products (see :func:`_gather_index`)."""
    S, L = twiddle.shape[:2]
    M = 1 << r
    idx = _gather_index(L, lo, r, increasing, twiddle.device)
    flat = twiddle.reshape(S, L, -1)
    out = flat[:, k0].index_select(1, idx[0])
    for j in range(1, r):
        out = out * flat[:, k0 + j].index_select(1, idx[j])
    return out.reshape(S, n >> (lo + r), 1 << lo, M, M)


def _passes(twiddle: torch.Tensor, increasing: list[bool], rmax: int):
    """[(lo, r, matrices (S, nh, nl, 2^r, 2^r))] for the whole chain, factor 0 first.

    Increasing factors take the pass sizes of :func:`pass_sizes` from bit 0 up, decreasing ones
    the same bit ranges from the top down, so a decreasing factor followed by an increasing one
    (a K-matrix BB*) ends and starts on the same bit range: those two passes merge into one
    matrix product (M_next · M_prev)."""
    F, _, L, half = twiddle.shape[:4]
    n = 2 * half if L else 1
    sizes = pass_sizes(L, rmax)
    out: list[list] = []
    for f in range(F):
        inc = increasing[f]
        k0 = 0
        for r in sizes if inc else sizes[::-1]:
            lo = k0 if inc else L - k0 - r
            M = _block(twiddle[f], k0, r, lo, inc, n)
            if out and out[-1][0] == lo and out[-1][1] == r:
                out[-1][2] = M @ out[-1][2]  # same groups: one matrix for both passes
            else:
                out.append([lo, r, M])
            k0 += r
    return out


def chain_blocked(
    twiddle: torch.Tensor, x: torch.Tensor, increasing: list[bool], rmax: int = RADIX_MAX
) -> torch.Tensor:
    """y = B_{F-1} ⋯ B_0 x for ``twiddle`` (F, S, L, N/2, 2, 2) and x (B, S, N), factor 0 first.

    Layout. x is held as (S, bit_{L-1}, …, bit_0, B) with its L index bits as separate size-2
    dimensions in some order; a pass permutes its r bits next to the batch (one copy), then one
    ``bmm`` of (S·N/2^r) 2^r×2^r blocks with (2^r × B) slabs, leaving its bits there. The block
    matrices are permuted (cheap) to the order of the other bits. One final copy restores
    (B, S, N). Dtypes as in the reference: equal, or complex x with real twiddles."""
    F, S, L = twiddle.shape[:3]
    b, n = x.shape[0], x.shape[-1]
    if x.is_complex() and not twiddle.is_complex():
        twiddle = twiddle.to(x.dtype)
    if L == 0 or F == 0 or b == 0:
        return x.clone()
    passes = _passes(twiddle, increasing, rmax)
    # dims 1..L of t hold bits `order` (order[0] outermost); dim 0 = stack, dim L+1 = batch.
    # One transpose to batch-last (S, N, B); later permutes then move whole batch rows.
    t = x.reshape(b, S * n).t().contiguous().reshape(S, *([2] * L), b)
    order = list(range(L - 1, -1, -1))
    for lo, r, M in passes:
        bits = list(range(lo + r - 1, lo - 1, -1))  # m = Σ bit_j 2^(j-lo), high bit first
        others = [q for q in order if q < lo or q >= lo + r]
        perm = [0, *(1 + order.index(q) for q in others), *(1 + order.index(q) for q in bits)]
        t = t.permute(*perm, L + 1).reshape(-1, 1 << r, b)
        # M: (S, nh, nl, 2^r, 2^r) indexed by the other bits high to low; reorder like `others`
        natural = [q for q in range(L - 1, -1, -1) if q < lo or q >= lo + r]
        Mb = M.reshape(S, *([2] * (L - r)), 1 << r, 1 << r)
        Mb = Mb.permute(0, *(1 + natural.index(q) for q in others), L - r + 1, L - r + 2)
        t = torch.bmm(Mb.reshape(-1, 1 << r, 1 << r), t).reshape(S, *([2] * L), b)
        order = others + bits
    natural = [0, *(1 + order.index(q) for q in range(L - 1, -1, -1)), L + 1]
    t = t.permute(*natural).reshape(S * n, b)  # bits back in order (batch rows move whole)
    return t.t().contiguous().reshape(b, S, n)


def butterfly_multiply_blocked(
    twiddle: torch.Tensor, x: torch.Tensor, increasing_stride: bool = True
) -> torch.Tensor:
    """y = B x for ``twiddle`` (S, L, N/2, 2, 2) and x (B, S, N) in ⌈L/5⌉ batched matmuls
    (:func:`chain_blocked` with one factor)."""
    return chain_blocked(twiddle.unsqueeze(0), x, [bool(increasing_stride)])
