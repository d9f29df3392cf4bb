"""The two twiddle-gradient reductions of the fused backward kernel.

Per 2×2 block the kernel forms the products grad·xᴴ for the V batch rows of a tile (one per
vector lane) and must sum them over the lanes. Small twiddles (per-thread accumulator of one
vector per 4 gradient entries ≤ 8 MiB on one thread, ≤ 512 KiB when several threads run, e.g.
a K-matrix up to N = 2^13 or 2^9) defer that reduction: partial sums stay in vectors and are
reduced once per thread. Larger twiddles reduce each block at once. Each case runs on 1 and 2
threads, so that both paths run in both thread modes. Both are compared with the float64 reference here, with the tolerances of
test_kernels.py (float32: 1e-5 outputs / input gradients, 1e-4 twiddle gradients, which sum
over the batch; float64: 1e-12).
"""

from __future__ import annotations

import pytest
import torch

from kmatrix.kernels import cpu
from kmatrix.kernels.op import reference_chain_backward


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.to(torch.complex128), b.to(torch.complex128)
    return (a - b).norm().item() / max(b.norm().item(), 1e-300)


@pytest.fixture(autouse=True)
def _kernel_built():
    if not cpu.available():  # pragma: no cover - test_kernels asserts the kernel builds
        pytest.skip("the fused kernel is not available on this machine")


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    "L, F, dtype, deferred",
    [
        (10, 2, torch.float32, (True, False)),  # 640 KiB: deferred on 1 thread, not on 2
        (6, 3, torch.complex128, (True, True)),
        (15, 1, torch.float32, (False, False)),  # 15·2^14 blocks: 15 MiB -> immediate
        (14, 1, torch.complex128, (False, False)),
    ],
)
def test_twiddle_gradient_both_reductions(L, F, dtype, deferred, threads, gen):
    n = 1 << L
    blocks = F * L * n // 2 * (2 if dtype.is_complex else 1)
    bound = (8 << 20) if threads == 1 else (512 << 10)  # KMX_DEFER_MAX_KB(_MT)
    assert (blocks * 64 <= bound) == deferred[threads - 1]  # the kernel's path (64-byte vectors)
    B = 40  # three tiles of 16 rows (float32) / 5 of 8 (complex128), one partial
    tw = torch.randn(F, 1, L, n // 2, 2, 2, dtype=dtype, generator=gen) / 2**0.5
    x = torch.randn(B, 1, n, dtype=dtype, generator=gen)
    g = torch.randn(B, 1, n, dtype=dtype, generator=gen)
    incs = [bool(f % 2) for f in range(F)]
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        gt, gx = cpu.backward(tw, x, g, incs)
    finally:
        torch.set_num_threads(previous)
    wide = torch.complex128 if dtype.is_complex else torch.float64
    rgt, rgx = reference_chain_backward(tw.to(wide), x.to(wide), g.to(wide), incs)
    single = dtype in (torch.float32, torch.complex64)
    assert rel(gx, rgx) <= (1e-5 if single else 1e-12)
    assert rel(gt, rgt) <= (1e-4 if single else 1e-12)
