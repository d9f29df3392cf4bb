"""``StructuredLinear.to_linear()`` (so ``KLinear.to_linear()``): an equivalent, independent
``nn.Linear`` for every registered family.

Reference: the layer's forward (structured product) vs the dense ``nn.Linear``; for KLinear also
the dense weight built on the per-stage plain-PyTorch reference backend (an independent path).
float64, tolerance 1e-10 relative to the output's size (dense matrices of a few products of
order-one factors, eps 1e-16; LDR reconstruction is the least accurate family).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kmatrix.kernels import set_backend
from kmatrix.nn import KLinear, StructuredLinear, registry


def _check_copy(layer, lin, x) -> None:
    before = [p.detach().clone() for p in layer.parameters()]
    assert lin.weight.requires_grad and lin.weight.grad_fn is None
    lin(x).abs().sum().backward()
    with torch.no_grad():
        for p in lin.parameters():
            p.add_(1.0)
    assert all(torch.equal(a, b.detach()) for a, b in zip(before, layer.parameters()))
    assert all(p.grad is None for p in layer.parameters())


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("bias", [True, False])
def test_klinear_to_linear(dtype, bias, gen):
    layer = KLinear(20, 12, bias=bias, width=2, dtype=dtype, generator=gen)
    lin = layer.to_linear()
    assert isinstance(lin, nn.Linear) and (lin.in_features, lin.out_features) == (20, 12)
    assert lin.weight.dtype == dtype and (lin.bias is None) == (not bias)
    x = torch.randn(7, 20, dtype=dtype, generator=gen)
    previous = set_backend("reference")
    try:
        with torch.no_grad():
            W = layer.weight.to_dense()[:12, :20]
            expected = x @ W.T + (layer.bias if bias else 0)
    finally:
        set_backend(previous)
    with torch.no_grad():
        got, own = lin(x), layer(x)
    scale = expected.abs().max().item()
    assert (got - expected).abs().max().item() <= 1e-12 * scale
    assert (own - expected).abs().max().item() <= 1e-12 * scale
    _check_copy(layer, lin, x)


OPTIONS = {
    "ldr": {"rank": 2},
    "lowrank": {"rank": 3},
    "sparse": {"nnz": 40},
    "sparse_lowrank": {"rank": 2, "nnz": 30},
}


@pytest.mark.parametrize("family", sorted(registry.FAMILIES))
def test_every_structured_layer_to_linear(family, gen):
    layer = StructuredLinear(
        16, 10, family, dtype=torch.float64, generator=gen, **OPTIONS.get(family, {})
    )
    lin = layer.to_linear()
    x = torch.randn(5, 16, dtype=torch.float64, generator=gen)
    with torch.no_grad():
        got, own = lin(x), layer(x)
    assert (got - own).abs().max().item() <= 1e-10 * (1 + own.abs().max().item())
    _check_copy(layer, lin, x)
