"""``M.flops`` against the arithmetic that actually runs: each product is executed under
tests/_opcount.OpCounter (a TorchDispatchMode that adds up real flops of every ATen operation
by conventions written in that file, not taken from kmatrix), and the library's count must
agree to 3%.

Why 3%: the conventions differ only in lower-order terms — e.g. the direct Vandermonde path
builds its first chunk of powers with one extra multiplication per row (measured +0.8%), the
complex LDR path counts some real-by-complex products as 6 flops (−2.2%), the subproduct-tree
paths tally a few additions differently (+0.9 … +1.4%). Everything else matched exactly
(dense, low rank, diagonal, Fourier, Toeplitz / Hankel / circulant, Butterfly, KMatrix).
Butterfly and KMatrix run on the plain-PyTorch reference backend here, since the fused C++
kernel is one opaque operation to the dispatcher.
"""

import math
import warnings

import pytest
import torch
from _opcount import OpCounter

from kmatrix import (
    LDR,
    Butterfly,
    Cauchy,
    Circulant,
    Dense,
    Diagonal,
    Fourier,
    Hankel,
    KMatrix,
    LowRank,
    Sparse,
    Toeplitz,
    Vandermonde,
)
from kmatrix.kernels import get_backend, set_backend

F64, C128 = torch.float64, torch.complex128


def _r(gen, *shape, dtype=F64):
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


def _roots(n, shift=0.0):
    k = torch.arange(n, dtype=torch.float64) + shift
    return torch.polar(torch.ones(n, dtype=torch.float64), 2 * math.pi * k / n).to(C128)


FAMILIES = {
    "Dense": lambda g, m, n, dt: Dense(_r(g, m, n, dtype=dt)),
    "LowRank": lambda g, m, n, dt: LowRank(_r(g, m, 3, dtype=dt), _r(g, 3, n, dtype=dt)),
    "Diagonal": lambda g, m, n, dt: Diagonal(_r(g, n, dtype=dt)),
    "Fourier": lambda g, m, n, dt: Fourier(n),
    "Toeplitz": lambda g, m, n, dt: Toeplitz(_r(g, m, dtype=dt)),
    "Hankel": lambda g, m, n, dt: Hankel(_r(g, m, dtype=dt)),
    "Circulant": lambda g, m, n, dt: Circulant(_r(g, n, dtype=dt)),
    "LDR": lambda g, m, n, dt: LDR.toeplitz_like(_r(g, n, 2, dtype=dt), _r(g, n, 2, dtype=dt)),
    "Vandermonde-direct": lambda g, m, n, dt: Vandermonde(_r(g, m, dtype=dt), n, method="direct"),
    "Cauchy-direct": lambda g, m, n, dt: Cauchy(torch.arange(m).to(dt), torch.arange(n).to(dt) + 0.5),
    "Vandermonde-fast": lambda g, m, n, dt: Vandermonde(
        _roots(m) if dt.is_complex else torch.linspace(-1, 1, m, dtype=dt), n, method="fast"),
    "Cauchy-fast": lambda g, m, n, dt: Cauchy(_roots(m), _roots(n, 0.5), method="fast") if dt.is_complex
    else Cauchy(torch.linspace(-1, 1, m, dtype=dt), torch.linspace(-1, 1, n, dtype=dt) + 3, method="fast"),
    "Butterfly": lambda g, m, n, dt: Butterfly(n, n, dtype=dt, generator=g),
    "KMatrix": lambda g, m, n, dt: KMatrix(n, width=2, dtype=dt, generator=g),
}


@pytest.mark.parametrize("dtype", [F64, C128], ids=["real", "complex"])
@pytest.mark.parametrize("m,n", [(96, 128), (256, 256)])
@pytest.mark.parametrize("name", list(FAMILIES))
def test_flops_match_counted_operations(name, m, n, dtype, gen):
    M = FAMILIES[name](gen, m, n, dtype)
    x = _r(gen, 1, M.shape[1], dtype=M.dtype)
    old = get_backend()
    set_backend("reference")
    try:
        with torch.no_grad(), warnings.catch_warnings(), OpCounter() as oc:
            warnings.simplefilter("ignore")  # method="fast" on real nodes warns (accuracy)
            M(x)
    finally:
        set_backend(old)
    assert oc.flops > 0, name
    assert abs(oc.flops - M.flops) <= 0.03 * M.flops, (name, M.flops, oc.flops, oc.ops)


@pytest.mark.parametrize("dtype", [F64, C128], ids=["real", "complex"])
def test_sparse_flops_are_a_lower_bound_of_the_counted_work(dtype, gen):
    """Sparse.flops is the algorithm's count 2·nnz − r (one multiply-add per entry); the
    implementation measured 3.95× that over ℝ and 1.73× over ℂ at batch 1 (products, then
    segment sums through a cumulative sum), so only the bound and that factor are pinned."""
    m, n, s = 96, 128, 300
    S = Sparse(torch.randint(0, m, (s,), generator=gen), torch.randint(0, n, (s,), generator=gen),
               _r(gen, s, dtype=dtype), (m, n))
    with torch.no_grad(), OpCounter() as oc:
        S(_r(gen, 1, n, dtype=dtype))
    assert S.flops <= oc.flops <= 5 * S.flops, (S.flops, oc.flops, oc.ops)
