"""kmatrix.nn: KLinear (drop-in nn.Linear with a K-matrix weight), replace_linear, param_groups.

Tolerances: KLinear's output against W @ x + b in float64, 1e-12 normwise, where W is built
independently of the library's kernel and of ``to_dense`` — the zoo's reference
``kmatrix_reference``: dense block-diagonal butterfly factors from the twiddles (Definitions
5.1–5.4) multiplied in complex128 (≤ 2w·log2 N ≈ 20 stages of rounding).
"""

import pytest
import torch
from torch import nn

import kmatrix
from kmatrix import KMatrix
from kmatrix.nn import KLinear, param_groups, replace_linear
from kmatrix.testing.zoo.butterfly import kmatrix_reference


def _weight(layer):
    """The layer's weight matrix from the zoo's independent dense reference."""
    W = kmatrix_reference(layer.weight)
    return W if layer.weight.is_complex else W.real.to(layer.weight.dtype)


def test_klinear_matches_dense(gen):
    layer = KLinear(10, 7, width=2, expansion=2, dtype=torch.float64, generator=gen)
    assert isinstance(layer.weight, KMatrix) and isinstance(layer.weight, kmatrix.StructuredMatrix)
    assert (layer.in_features, layer.out_features, layer.width, layer.expansion) == (10, 7, 2, 2)
    assert layer.bias.shape == (7,) and layer.bias.abs().max() <= 1 / 10**0.5
    x = torch.randn(4, 3, 10, dtype=torch.float64, generator=gen)
    y = layer(x)
    ref = x @ _weight(layer).T + layer.bias.detach()
    assert y.shape == (4, 3, 7)
    assert float((y.detach() - ref).norm() / ref.norm()) <= 1e-12
    y.pow(2).sum().backward()
    assert layer.weight.twiddle.grad.abs().sum() > 0 and layer.bias.grad.abs().sum() > 0
    n = layer.weight.size
    assert sum(p.numel() for p in layer.parameters()) == 4 * 2 * n * (n.bit_length() - 1) + 7


def test_klinear_no_bias_and_complex(gen):
    layer = KLinear(8, 8, bias=False, dtype=torch.complex128, generator=gen)
    assert layer.bias is None
    z = torch.randn(3, 8, dtype=torch.complex128, generator=gen)
    assert torch.allclose(layer(z), z @ _weight(layer).T, atol=1e-12)
    # a complex layer also accepts real input
    x = torch.randn(3, 8, dtype=torch.float64, generator=gen)
    assert layer(x).is_complex()
    cb = KLinear(4, 3, dtype=torch.complex64, generator=gen)
    assert cb.bias.dtype == torch.complex64


def test_klinear_bad_input():
    layer = KLinear(8, 4)
    with pytest.raises(TypeError, match="input: a real KLinear layer"):
        layer(torch.randn(2, 8, dtype=torch.complex64))
    with pytest.raises(ValueError, match="input: expected last dimension 8"):
        layer(torch.randn(2, 9))
    with pytest.raises(TypeError, match="input: expected a torch.Tensor"):
        layer([1.0] * 8)
    with pytest.raises(ValueError, match="width"):
        KLinear(8, 4, width=0)
    with pytest.raises(ValueError, match="expansion"):
        KLinear(8, 4, expansion=-1)
    with pytest.raises(ValueError, match="in_features: expected a positive integer"):
        KLinear(0, 4)
    with pytest.raises(TypeError, match="out_features: expected a positive integer"):
        KLinear(4, 2.5)
    with pytest.raises(TypeError, match="bias"):
        KLinear(8, 4, bias=None)


def test_klinear_inits():
    layer = KLinear(6, 6, bias=False, init="identity", dtype=torch.float64)
    x = torch.randn(2, 6, dtype=torch.float64)
    assert torch.equal(layer(x), x)
    q = KLinear(16, 16, bias=False, init="orthogonal", dtype=torch.float64)
    assert torch.allclose(q(x.new_ones(1, 16)).norm(), torch.tensor(4.0, dtype=torch.float64))


def _mlp():
    return nn.Sequential(
        nn.Linear(12, 32), nn.ReLU(), nn.Sequential(nn.Linear(32, 32), nn.GELU()), nn.Linear(32, 5, bias=False)
    )


def test_replace_linear_mlp():
    torch.manual_seed(0)
    model = _mlp()
    old_bias = model[0].bias.detach().clone()
    out = replace_linear(model, width=2, allow_larger=True)  # K-matrices of these sizes are larger
    assert out is model
    assert isinstance(model[0], KLinear) and isinstance(model[2][0], KLinear) and isinstance(model[3], KLinear)
    assert not any(type(m) is nn.Linear for m in model.modules())
    assert model[2][0].width == 2 and model[3].bias is None
    assert torch.equal(model[0].bias.detach(), old_bias)
    x = torch.randn(7, 12)
    assert model(x).shape == (7, 5)
    # trains: one optimizer step lowers a regression loss
    target = torch.randn(7, 5)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = (model(x) - target).pow(2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_replace_linear_filter_dtype_and_attention():
    model = _mlp().double()
    replace_linear(model, filter=lambda name, m: m.out_features == 32, allow_larger=True)
    assert isinstance(model[0], KLinear) and isinstance(model[2][0], KLinear)
    assert type(model[3]) is nn.Linear
    assert model[0].weight.dtype == torch.float64
    attn = nn.Sequential(nn.MultiheadAttention(8, 2), nn.Linear(8, 8))
    with pytest.warns(UserWarning, match="inside nn.MultiheadAttention"):
        replace_linear(attn, allow_larger=True)
    assert type(attn[0].out_proj) is not KLinear and isinstance(attn[1], KLinear)
    with pytest.raises(TypeError, match="model"):
        replace_linear("not a model")
    with pytest.raises(TypeError, match="filter"):
        replace_linear(_mlp(), filter=3)


def test_replace_linear_bare_linear_returns_replacement():
    lin = nn.Linear(6, 4).double()
    new = replace_linear(lin, width=2, allow_larger=True)
    assert isinstance(new, KLinear) and (new.in_features, new.out_features, new.width) == (6, 4, 2)
    assert new.weight.dtype == torch.float64 and torch.equal(new.bias.detach(), lin.bias.detach())
    assert replace_linear(lin, filter=lambda name, m: False) is lin


def test_param_groups():
    model = nn.Sequential(KLinear(8, 8), nn.LayerNorm(8), nn.Linear(8, 3))
    groups = param_groups(model, weight_decay=0.1)
    assert len(groups) == 2
    decay, no_decay = groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    ids_no = {id(p) for p in no_decay["params"]}
    assert ids_no == {id(model[0].weight.twiddle)}
    ids_decay = {id(p) for p in decay["params"]}
    assert ids_decay == {id(model[0].bias), id(model[1].weight), id(model[1].bias), id(model[2].weight), id(model[2].bias)}
    assert len(ids_no) + len(ids_decay) == len(list(model.parameters()))
    # usable by an optimizer; twiddles unchanged by decay alone (zero gradient, AdamW)
    opt = torch.optim.AdamW(groups, lr=0.1)
    before = model[0].weight.twiddle.detach().clone()
    w_before = model[2].weight.detach().clone()
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    assert torch.equal(model[0].weight.twiddle.detach(), before)
    assert not torch.equal(model[2].weight.detach(), w_before)
    # shared parameters appear once; structured families other than KMatrix count too
    shared = nn.ModuleList([model[0], model[0], kmatrix.Butterfly(4)])
    g = param_groups(shared, 0.5)
    assert sum(len(x["params"]) for x in g) == 3
    assert len(next(x for x in g if x["weight_decay"] == 0.0)["params"]) == 2
    with pytest.raises(ValueError, match="weight_decay"):
        param_groups(model, -1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        param_groups(model, float("nan"))
    with pytest.raises(TypeError, match="weight_decay"):
        param_groups(model, "0.1")


def test_importable_from_top_level():
    assert kmatrix.nn.KLinear is KLinear
