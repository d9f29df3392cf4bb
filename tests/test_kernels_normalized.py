"""The fused CPU kernel's normalised forward stages (``Passes::normalize`` in
kmatrix/kernels/_butterfly_cpu.cpp): real data with at least ``cpu.normalized_min_rows()`` rows
per stack index.

Every 2×2 block is rewritten diag(pivots)·[[1, p], [q, 1]] with the pivots carried to the next
stage, so the product is computed with other roundings than the direct stages. Checked here:

* against the float64 per-stage reference, for float32 / float64 / bfloat16 / float16 data,
  complex64 / complex128 (complex twiddles) and complex data with real twiddles,
  both stride orders, chains of 1–3 factors, stacks, N = 2 … 1024; tolerance: the direct
  path's own measured error on the same inputs times 4 plus 8 ulps of the data's precision
  times the number of stages (a worst-case rounding bound per stage in the scaled coordinates
  is a few ulps, the same order as the direct products');
* that it is taken at all: the result above the threshold differs in its last bits from the
  direct stages' (which are row-independent, so the same rows computed in chunks below the
  threshold give them exactly), and that a row's bits do not depend on the batch above the
  threshold either (below it: tests/test_kernel_small_batch.py);
* the refusals: a zero pivot (a permutation block [[0, 1], [1, 0]]), a non-finite twiddle, and
  data so large that the scaled entries overflow (that tile is recomputed directly) give
  exactly the direct stages' result; NaN data gives NaN where the direct stages do.
"""

from __future__ import annotations

import pytest
import torch

from kmatrix.kernels import cpu
from kmatrix.kernels.reference import butterfly_multiply_reference

pytestmark = pytest.mark.skipif(not cpu.available(), reason="no C++ compiler: no fused kernel")

EPS = {
    torch.complex64: 2.0**-24,
    torch.complex128: 2.0**-53,
    torch.float32: 2.0**-24,
    torch.float64: 2.0**-53,
    torch.bfloat16: 2.0**-8,
    torch.float16: 2.0**-11,
}


def _threshold() -> int:
    rows = cpu.normalized_min_rows()
    assert rows is not None and rows >= 1
    return rows


def _wide(t: torch.Tensor) -> torch.Tensor:
    return t.to(torch.complex128) if t.is_complex() else t.double()


def _chain_reference(tw: torch.Tensor, x: torch.Tensor, incs: list[bool]) -> torch.Tensor:
    y = _wide(x)
    for f, inc in enumerate(incs):
        y = butterfly_multiply_reference(_wide(tw[f]), y, inc)
    return y


def _direct(tw, x, incs) -> torch.Tensor:
    """The direct stages' result: the same rows in chunks below the threshold (complex x with
    real twiddles is two kernel rows per row)."""
    step = max(1, (_threshold() - 1) // (2 if x.is_complex() and not tw.is_complex() else 1))
    return torch.cat([cpu.forward(tw, x[i : i + step], incs) for i in range(0, x.shape[0], step)])


def _twiddle(F, S, N, gen, dtype=torch.float32):
    L = N.bit_length() - 1
    shape = (F, S, L, N // 2, 2, 2)
    if dtype.is_complex:
        return torch.randn(shape, generator=gen, dtype=torch.complex128).to(dtype) / 2**0.5
    return torch.randn(shape, generator=gen, dtype=torch.float64).to(dtype) / 2**0.5


DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16, torch.complex64, torch.complex128]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "N, S, F, incs",
    [(2, 1, 1, [True]), (16, 2, 1, [False]), (64, 1, 2, [False, True]), (256, 1, 3, [True, False, True]),
     (1024, 1, 1, [True])],
)  # fmt: skip
def test_normalised_forward_matches_the_float64_reference(dtype, N, S, F, incs, gen):
    tw_dtype = dtype if dtype in (torch.float64, torch.complex64, torch.complex128) else torch.float32
    tw = _twiddle(F, S, N, gen, tw_dtype)
    rows = _threshold() + 5  # one partial tile too
    x = torch.randn(rows, S, N, generator=gen, dtype=torch.complex128 if dtype.is_complex else torch.float64)
    x = x.to(dtype)
    ref = _chain_reference(tw, x, incs)
    y = cpu.forward(tw, x, incs)
    direct = _direct(tw, x, incs)
    scale = ref.norm()
    err = (_wide(y) - ref).norm() / scale
    err_direct = (_wide(direct) - ref).norm() / scale
    L = N.bit_length() - 1
    bound = 4 * err_direct + 8 * EPS[dtype] * F * max(L, 1)
    assert err <= bound, (err.item(), err_direct.item(), bound)
    if dtype not in (torch.bfloat16, torch.float16) and N >= 16:
        assert not torch.equal(y, direct), "the normalised stages did not run"


def test_real_twiddles_on_complex_data(gen):
    """Complex x with real twiddles: the real kernel on (re, im) rows, normalised alike."""
    tw = _twiddle(2, 1, 128, gen)
    x = torch.randn(_threshold() // 2 + 9, 1, 128, generator=gen, dtype=torch.complex64)
    ref = _chain_reference(tw, x, [False, True])
    y = cpu.forward(tw, x, [False, True])
    direct = _direct(tw, x, [False, True])
    err = (_wide(y) - ref).norm() / ref.norm()
    assert err <= 4 * (_wide(direct) - ref).norm() / ref.norm() + 8 * EPS[torch.float32] * 2 * 7
    assert not torch.equal(y, direct)


@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64, torch.bfloat16])
def test_row_bits_do_not_depend_on_the_batch_above_the_threshold(dtype, gen):
    """Every row goes through the same vector operations in its lane whatever the tile it
    shares: any batch of at least the threshold gives a row the same bits."""
    T = _threshold()
    tw = _twiddle(2, 2, 64, gen, dtype if dtype.is_complex else torch.float32)
    x = torch.randn(T + 40, 2, 64, generator=gen, dtype=torch.float64).to(dtype)
    y = cpu.forward(tw, x, [False, True])
    for a, b in ((0, T), (40, T + 40), (7, T + 20)):
        assert torch.equal(cpu.forward(tw, x[a:b], [False, True]), y[a:b]), (a, b)


def test_below_the_threshold_the_direct_stages_run(gen):
    tw = _twiddle(1, 1, 64, gen)
    x = torch.randn(_threshold() - 1, 1, 64, generator=gen)
    y = cpu.forward(tw, x, [True])
    rowwise = torch.cat([cpu.forward(tw, x[i : i + 2], [True]) for i in range(0, x.shape[0], 2)])
    assert torch.equal(y, rowwise)


@pytest.mark.parametrize("case", ["zero pivot", "nan twiddle", "inf twiddle"])
def test_refused_twiddles_run_the_direct_stages(case, gen):
    N = 64
    tw = _twiddle(2, 1, N, gen)
    if case == "zero pivot":
        tw[1, 0, 3, 5] = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    elif case == "nan twiddle":
        tw[0, 0, 2, 7, 1, 0] = float("nan")
    else:
        tw[0, 0, 0, 0, 0, 1] = float("inf")
    x = torch.randn(_threshold() + 3, 1, N, generator=gen)
    y = cpu.forward(tw, x, [False, True])
    torch.testing.assert_close(y, _direct(tw, x, [False, True]), rtol=0, atol=0, equal_nan=True)


def test_overflowing_tiles_are_recomputed_directly(gen):
    """Rotation blocks with small pivots (cos 1.45 ≈ 0.12) shrink the scales 2^-3 a stage, to
    2^-24 after 8 stages, so the scaled entries of data of magnitude 1e33 (1.7e40) overflow
    float32 while the true result (≈ 1e34) does not: that tile (the first 16 rows, one tile) is
    recomputed by the direct stages; the other tiles keep the normalised result."""
    N = 256
    L = N.bit_length() - 1
    theta = torch.full((1, 1, L, N // 2), 1.45)  # cos 1.45 ≈ 0.12: pivots shrink 2^-3 a stage
    c, s = torch.cos(theta), torch.sin(theta)
    tw = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2).contiguous()
    x = torch.randn(_threshold() + 16, 1, N, generator=gen)
    x[:16] *= 1e33  # the first tile's data; the others stay of order 1
    y = cpu.forward(tw, x, [True])
    assert torch.isfinite(y).all()
    torch.testing.assert_close(y[:16], _direct(tw, x[:16], [True]), rtol=0, atol=0)
    ref = _chain_reference(tw, x, [True])
    assert ((y.double() - ref).norm(dim=-1) / ref.norm(dim=-1)).max() < 1e-5


def test_nan_data_propagates_like_the_direct_stages(gen):
    tw = _twiddle(1, 1, 32, gen)
    x = torch.randn(_threshold() + 1, 1, 32, generator=gen)
    x[3, 0, 7] = float("nan")
    y = cpu.forward(tw, x, [True])
    torch.testing.assert_close(torch.isnan(y), torch.isnan(_direct(tw, x, [True])), rtol=0, atol=0)
    assert torch.isnan(y[3]).any() and not torch.isnan(y[4:]).any()


@pytest.mark.slow
def test_twiddles_beyond_the_copy_cap_run_the_direct_stages(gen):
    """The normalised copy of the twiddles is as large as the twiddles; above 64 MiB (here 200
    factors of a 4096-point butterfly, 75 MiB in float32) the direct stages run. The blocks
    [[a, b], [c, a]] with a = 2 in even factors and 1/2 in odd ones keep the scales within
    [1, 2^12], so normalize() would accept them: below the cap (the first 10 factors) the
    normalised result differs from the direct one in its last bits, above it it is the same."""
    F = 200
    tw = _twiddle(F, 1, 4096, gen) / 4
    a = torch.tensor([2.0 if f % 2 == 0 else 0.5 for f in range(F)]).view(F, 1, 1, 1)
    tw[..., 0, 0] = a
    tw[..., 1, 1] = a
    assert tw.numel() * 4 > 64 << 20
    x = torch.randn(_threshold() + 1, 1, 4096, generator=gen)
    incs = [bool(f % 2) for f in range(F)]
    assert not torch.equal(cpu.forward(tw[:10], x, incs[:10]), _direct(tw[:10], x, incs[:10]))
    torch.testing.assert_close(cpu.forward(tw, x, incs), _direct(tw, x, incs), rtol=0, atol=0,
                               equal_nan=True)  # fmt: skip
