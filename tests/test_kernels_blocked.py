"""The blocked plain-PyTorch butterfly path (backend "torch", the fallback of the fused one)
against the dense float64 definition and the per-stage reference.

Tolerances: in float64 the blocked path multiplies out r ≤ 5 stages into one matrix and sums
2^r products per entry (error of order r·eps per block, L·eps overall, entries of order one
since the 2×2 blocks have variance 1/2): 1e-12 normwise. Gradients: same order (1e-11).
"""

from __future__ import annotations

import pytest
import torch
from test_kernels import dense_butterfly, rand_twiddle, rel

from kmatrix.kernels import butterfly_multiply, cpu, set_backend
from kmatrix.kernels.blocked import _gather_index, chain_blocked, pass_sizes
from kmatrix.kernels.op import reference_chain


def dense_chain(twiddle: torch.Tensor, increasing: list[bool]) -> torch.Tensor:
    """(S, N, N) complex128: B_{F-1} ⋯ B_0 from the entry-by-entry dense definition."""
    M = None
    for f in range(twiddle.shape[0]):
        D = dense_butterfly(twiddle[f], increasing[f])
        M = D if M is None else D @ M
    return M


@pytest.mark.parametrize(
    "kind", [(torch.float64, torch.float64), (torch.complex128, torch.complex128),
             (torch.float64, torch.complex128)]
)  # fmt: skip
def test_matches_dense_definition(kind, gen):
    tdt, xdt = kind
    for L, incs in ((1, [True]), (3, [False]), (4, [False, True]), (5, [True, False, True]),
                    (6, [False, True])):  # fmt: skip
        tw = torch.stack([rand_twiddle(2, L, tdt, gen) for _ in incs])
        x = torch.randn(5, 2, 1 << L, dtype=xdt, generator=gen)
        expected = torch.einsum("sij,bsj->bsi", dense_chain(tw, incs), x.to(torch.complex128))
        for rmax in (1, 2, 3, 5):
            y = chain_blocked(tw, x, incs, rmax)
            assert y.dtype == xdt and y.shape == x.shape and y.is_contiguous()
            assert rel(y, expected) <= 1e-12, (L, incs, rmax)


def test_edge_sizes_and_pass_split(gen):
    assert pass_sizes(0) == [] and pass_sizes(10) == [5, 5] and pass_sizes(11, 5) == [4, 4, 3]
    assert pass_sizes(7, 2) == [2, 2, 2, 1]
    for L, B in ((0, 3), (2, 0), (1, 1)):
        tw = rand_twiddle(1, L, torch.float64, gen).unsqueeze(0)
        x = torch.randn(B, 1, 1 << L, dtype=torch.float64, generator=gen)
        assert rel(chain_blocked(tw, x, [True]), reference_chain(tw, x, [True])) <= 1e-12


def test_block_entries_are_path_products(gen):
    # The gather indices pick, for entry (m_out, m_in), one 2x2-block entry per stage: every
    # index is in range and each stage's (pair, row, column) choices are consistent with a
    # single path (row bit = output bit, column bit = input bit).
    for L, lo, r, inc in ((5, 0, 5, True), (6, 2, 3, False), (4, 1, 2, True)):
        idx = _gather_index(L, lo, r, inc, torch.device("cpu"))
        assert len(idx) == r
        for j, ix in enumerate(idx):
            assert ix.min() >= 0 and ix.max() < (1 << (L - 1)) * 4
            q = j if inc else r - 1 - j
            M = 1 << r
            mo = torch.arange(M).view(M, 1).expand(M, M).reshape(-1)
            mi = torch.arange(M).view(1, M).expand(M, M).reshape(-1)
            per = ix.view(-1, M * M)
            assert torch.equal(per[0] // 2 % 2, (mo >> q) & 1)
            assert torch.equal(per[0] % 2, (mi >> q) & 1)


@pytest.mark.parametrize("incs", [[True], [False, True]])
def test_gradcheck(incs, gen):
    for tdt, xdt in ((torch.float64, torch.float64), (torch.complex128, torch.complex128),
                     (torch.float64, torch.complex128)):  # fmt: skip
        tw = torch.stack([rand_twiddle(1, 3, tdt, gen) for _ in incs]).requires_grad_(True)
        x = torch.randn(2, 1, 8, dtype=xdt, generator=gen).requires_grad_(True)
        assert torch.autograd.gradcheck(lambda t, v: chain_blocked(t, v, incs, 2), (tw, x))


def test_gradients_match_reference(gen):
    incs = [False, True]
    tw = torch.stack([rand_twiddle(3, 9, torch.float64, gen) for _ in incs])
    x = torch.randn(17, 3, 512, dtype=torch.float64, generator=gen)
    g = torch.randn_like(x)
    grads = []
    for fn in (chain_blocked, reference_chain):
        t, v = tw.clone().requires_grad_(True), x.clone().requires_grad_(True)
        grads.append(torch.autograd.grad(fn(t, v, incs), (t, v), g))
    assert rel(grads[0][0], grads[1][0]) <= 1e-11 and rel(grads[0][1], grads[1][1]) <= 1e-11


def test_backend_torch_and_automatic_fallback(monkeypatch, gen):
    tw = rand_twiddle(1, 6, torch.float64, gen)
    x = torch.randn(9, 1, 64, dtype=torch.float64, generator=gen)
    expected = reference_chain(tw.unsqueeze(0), x, [False])
    assert rel(butterfly_multiply(tw, x, False, backend="torch"), expected) <= 1e-12
    previous = set_backend("torch")
    try:
        assert rel(butterfly_multiply(tw, x, False), expected) <= 1e-12
    finally:
        set_backend(previous)
    # fused backend without a kernel (no compiler): the blocked path, autograd intact
    monkeypatch.setattr(cpu, "_lib", None)
    monkeypatch.setattr(cpu, "_failed", "no compiler (test)")
    t = tw.clone().requires_grad_(True)
    y = butterfly_multiply(t, x, False, backend="fused")
    assert rel(y.detach(), expected) <= 1e-12 and y.grad_fn is not None
    (gt,) = torch.autograd.grad(y.sum(), t)
    t2 = tw.clone().requires_grad_(True)
    (gr,) = torch.autograd.grad(reference_chain(t2.unsqueeze(0), x, [False]).sum(), t2)
    assert rel(gt, gr) <= 1e-11
    # and the public custom op falls back to the same path
    yo = torch.ops.kmatrix.butterfly_multiply(tw.unsqueeze(0), x, [False])
    assert rel(yo, expected) <= 1e-12


def test_bench_prints_the_backend_table(capsys):
    from kmatrix.bench.butterfly import main

    argv = ["--sizes", "64:4", "--repeats", "1", "--skip-klinear", "--fallback-size", "64:8"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "fallback (backend torch) / fused" in out
    for backend in ("fused", "torch", "reference"):
        assert f"\n{backend}" in out or f" {backend} " in out
