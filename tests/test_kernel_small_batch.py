"""The compiled kernel's few-rows path (at most 2 rows per stack index: one row at a time
on a scalar buffer, instead of a full tile of 8 or 16 rows; B = 3 and 17 take tiles) against an
independent reference, and the bits of a row independent of the batch it is computed in.

Tolerances: products of L·F stages of 2x2 blocks with entries of size ~1/√2, relative error
of a few L·F units in the last place: 1e-12 in double precision, 1e-5 in single."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils import parametrize

from kmatrix.families.butterfly import Butterfly
from kmatrix.families.kaleidoscope import KMatrix
from kmatrix.kernels import butterfly_multiply, cpu, set_backend

TOL = {torch.float32: 1e-5, torch.float64: 1e-12}
KINDS = {  # (twiddle dtype, x dtype)
    "f32": (torch.float32, torch.float32),
    "f64": (torch.float64, torch.float64),
    "c64": (torch.complex64, torch.complex64),
    "c128": (torch.complex128, torch.complex128),
    "c128-real-twiddle": (torch.float64, torch.complex128),
}

pytestmark = pytest.mark.skipif(cpu._load() is None, reason="compiled kernel unavailable")


@pytest.fixture(autouse=True)
def _fused_backend():
    previous = set_backend("fused")
    yield
    set_backend(previous)


def dense(tw: torch.Tensor, incs) -> torch.Tensor:
    """(S, N, N) complex128 matrices B_{F-1} ⋯ B_0 of twiddles (F, S, L, N/2, 2, 2), built entry
    by entry from the definition (pair p of stage k with stride s acts on rows i, i + s)."""
    F, S, L = tw.shape[:3]
    n = 1 << L
    t = tw.to(torch.complex128)
    out = []
    for s in range(S):
        M = torch.eye(n, dtype=torch.complex128)
        for f in range(F):
            for k in range(L):
                stride = 1 << k if incs[f] else n >> (k + 1)
                D = torch.zeros(n, n, dtype=torch.complex128)
                for p in range(n // 2):
                    i = (p // stride) * 2 * stride + p % stride
                    j = i + stride
                    D[i, i], D[i, j] = t[f, s, k, p, 0, 0], t[f, s, k, p, 0, 1]
                    D[j, i], D[j, j] = t[f, s, k, p, 1, 0], t[f, s, k, p, 1, 1]
                M = D @ M
        out.append(M)
    return torch.stack(out)


def rel(a, b) -> float:
    a, b = a.to(torch.complex128), b.to(torch.complex128)
    return (a - b).norm().item() / max(b.norm().item(), 1e-300)


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("B", [1, 2, 3, 17])
@pytest.mark.parametrize("L,S,incs", [(0, 1, (True,)), (1, 2, (False,)), (4, 1, (True,)),
                                      (6, 3, (False, True, True))])  # fmt: skip
def test_few_rows_match_dense(kind, B, L, S, incs, gen):
    tdt, xdt = KINDS[kind]
    n = 1 << L
    tw = torch.randn(len(incs), S, L, n // 2, 2, 2, dtype=tdt, generator=gen) / 2**0.5
    x = torch.randn(B, S, n, dtype=xdt, generator=gen)
    y = butterfly_multiply(tw, x, list(incs))
    expected = torch.einsum("sij,bsj->bsi", dense(tw, incs), x.to(torch.complex128))
    real = tdt.to_real() if tdt.is_complex else tdt
    assert y.shape == x.shape and y.dtype == xdt
    assert rel(y, expected) <= TOL[real]


@pytest.mark.parametrize("tdt,xdt", [(torch.float32, torch.float32), (torch.float64, torch.float64),
                                     (torch.complex64, torch.complex64),
                                     (torch.complex128, torch.complex128),
                                     (torch.float32, torch.complex64),
                                     (torch.float32, torch.bfloat16)])  # fmt: skip
def test_row_bits_do_not_depend_on_the_batch(tdt, xdt, gen):
    # the few-rows path and the tile path do the same operations in the same order (below
    # cpu.normalized_min_rows() rows per stack index; from there on the normalised stages run,
    # whose bits are batch-independent too: tests/test_kernels_normalized.py)
    n, S = 256, 2
    tw = torch.randn(3, S, 8, n // 2, 2, 2, dtype=tdt, generator=gen) / 2**0.5
    x = torch.randn(40, S, n, dtype=torch.complex128 if xdt.is_complex else torch.float64,
                    generator=gen).to(xdt)  # fmt: skip
    incs = [False, True, True]
    y = butterfly_multiply(tw, x, incs)
    for B in (1, 2, 3, 4, 5, 17):
        assert torch.equal(butterfly_multiply(tw, x[:B], incs), y[:B]), B
        assert torch.equal(butterfly_multiply(tw, x[B:B + 1], incs), y[B:B + 1]), B


class _Double(torch.nn.Module):
    def forward(self, t):
        return 2 * t


@pytest.mark.parametrize("cls", [Butterfly, KMatrix])
def test_parametrized_twiddle_is_used_on_the_lean_path(cls, gen):
    # the families read the twiddle from _parameters; a parametrization moves it out of there
    m = cls(16, dtype=torch.float64)
    x = torch.randn(3, 16, dtype=torch.float64, generator=gen)
    with torch.no_grad():
        before = m(x)
        parametrize.register_parametrization(m, "twiddle", _Double())
        after = m(x)
        expected = x @ m.to_dense().T
    assert rel(after, expected) <= 1e-12
    assert rel(after, before) > 0.5  # the parametrization changed the product
