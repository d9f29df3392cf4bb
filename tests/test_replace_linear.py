"""kmatrix.nn.replace_linear on real model patterns (every family, transformer fast path, tied
heads, growth, shared modules) and kmatrix.nn.summary.

Tolerance: the transformer's inference-mode output against its autograd-mode output, 1e-5
(float32, the same unfused operations in another mode)."""

import warnings

import pytest
import torch
from torch import nn

from kmatrix.nn import FAMILIES, KLinear, StructuredLinear, replace_linear, summary


def _mlp():
    return nn.Sequential(nn.Linear(48, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU(), nn.Linear(40, 30))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_family_at_a_budget_fraction(family, gen):
    model = _mlp()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fixed-size families may exceed a small budget: skipped
        replace_linear(model, family, budget=0.5, generator=gen)
    for lin_old_shape, mod in zip([(48, 40), (40, 40), (40, 30)], [model[0], model[2], model[4]]):
        if isinstance(mod, StructuredLinear):
            assert mod.family == family and (mod.in_features, mod.out_features) == lin_old_shape
            assert mod.weight.num_params <= 0.5 * lin_old_shape[0] * lin_old_shape[1]
        else:
            assert type(mod) is nn.Linear
    x = torch.randn(5, 48, generator=gen)
    loss = model(x).pow(2).mean()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_budget_forms_and_errors():
    m = replace_linear(_mlp(), "lowrank", budget=lambda name, lin: 2 * (lin.in_features + lin.out_features))
    assert [m[i].weight.rank for i in (0, 2, 4)] == [2, 2, 2]
    m = replace_linear(_mlp(), "lowrank", budget=800)
    assert [m[i].weight.rank for i in (0, 2, 4)] == [9, 10, 11]
    m = replace_linear(_mlp(), "sparse", budget=0.25)
    assert [m[i].weight.nnz for i in (0, 2, 4)] == [480, 400, 300]
    # a callable may answer in either form, per layer; 1.0 is each layer's dense count
    m = replace_linear(_mlp(), "sparse", budget=lambda name, lin: 0.25 if name == "0" else 100)
    assert [m[i].weight.nnz for i in (0, 2, 4)] == [480, 100, 100]
    m = replace_linear(_mlp(), "sparse", budget=1.0)
    assert [m[i].weight.nnz for i in (0, 2, 4)] == [1920, 1600, 1200]
    with pytest.raises(ValueError, match=r"budget\('2'\): a float budget is a fraction"):
        replace_linear(_mlp(), "sparse", budget=lambda name, lin: 0.25 if name == "0" else 2.5)
    with pytest.raises(ValueError, match=r"budget: a float budget is a fraction .* expected in \(0, 1\]"):
        replace_linear(_mlp(), "lowrank", budget=1.5)
    with pytest.raises(TypeError, match="budget: expected None, an int"):
        replace_linear(_mlp(), "lowrank", budget="half")
    with pytest.raises(ValueError, match="family: unknown family"):
        replace_linear(_mlp(), "fourier")
    with pytest.raises(TypeError, match="allow_larger"):
        replace_linear(_mlp(), "lowrank", rank=2, allow_larger=1)
    # a budget below every member of a family: that layer stays dense, with a warning naming it
    with pytest.warns(UserWarning, match=r"budget below every member of the family: 0, 2, 4"):
        m = replace_linear(_mlp(), "toeplitz", budget=10)
    assert all(type(m[i]) is nn.Linear for i in (0, 2, 4))


def test_classifier_head_that_would_grow_is_kept():
    model = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    with pytest.warns(UserWarning, match=r"more parameters than the dense one .*: 2 \(8202 > 2570\)"):
        replace_linear(model)  # K-matrix, width 1
    assert isinstance(model[0], KLinear) and type(model[2]) is nn.Linear
    replace_linear(model, allow_larger=True)
    assert isinstance(model[2], KLinear) and model[2].num_params == 8202


def test_tied_head_stays_tied():
    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(50, 32)
            self.body = nn.Linear(32, 32)
            self.head = nn.Linear(32, 50, bias=False)
            self.head.weight = self.emb.weight

        def forward(self, t):
            return self.head(torch.relu(self.body(self.emb(t))))

    lm = LM()
    with pytest.warns(UserWarning, match=r"weight tied to another module's parameter \(kept tied\)[^,]*: head"):
        replace_linear(lm, "lowrank", rank=4)
    assert type(lm.head) is nn.Linear and lm.head.weight is lm.emb.weight
    assert isinstance(lm.body, StructuredLinear)
    assert lm(torch.tensor([[1, 2, 3]])).shape == (1, 3, 50)


def test_module_registered_twice_stays_shared(gen):
    shared = nn.Linear(20, 20)
    model = nn.Sequential(shared, nn.Tanh(), shared)
    holder = nn.ModuleDict({"seq": model, "alias": shared})  # a third name for the same module
    replace_linear(holder, "lowrank", rank=3, generator=gen)
    assert isinstance(model[0], StructuredLinear) and model[0] is model[2] is holder["alias"]
    assert sum(p.numel() for p in holder.parameters()) == 3 * 40 + 20
    x = torch.randn(2, 20, generator=gen)
    torch.testing.assert_close(model(x), model[0](torch.tanh(model[0](x))))


def test_transformer_encoder_inference_fast_path(gen):
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(32, 4, dim_feedforward=64, batch_first=True, dropout=0.0)
    enc = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=True)
    with pytest.warns(UserWarning, match="inside nn.MultiheadAttention"):
        replace_linear(enc, "lowrank", budget=0.5)
    assert all(isinstance(lay.linear1, StructuredLinear) for lay in enc.layers)
    assert all(type(lay.self_attn.out_proj) is not StructuredLinear for lay in enc.layers)
    enc.eval()
    x = torch.randn(3, 7, 32, generator=gen)
    pad = torch.zeros(3, 7, dtype=torch.bool)
    pad[0, 5:] = True
    ref = enc(x, src_key_padding_mask=pad)  # parameters require grad: the unfused path
    with torch.inference_mode():
        y = enc(x, src_key_padding_mask=pad)
        y2 = enc(x)
    assert y.shape == ref.shape
    torch.testing.assert_close(y[~pad], ref.detach()[~pad], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y2, enc(x).detach(), rtol=1e-5, atol=1e-5)


def test_summary_table(gen):
    model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 5, bias=False))
    replace_linear(model, "lowrank", rank=2, filter=lambda name, m: name == "2")
    model.again = model[2]  # shared: listed once
    s = summary(model)
    assert [r.name for r in s.rows] == ["0", "2", "4"]
    r0, r2, r4 = s.rows
    assert (r0.family, r0.params, r0.flops) == ("dense (nn.Linear)", 12 * 32 + 32, 32 * 23 + 32)
    assert (r2.family, r2.params, r2.dense_params) == ("lowrank", 2 * 64 + 32, 32 * 32 + 32)
    assert r2.flops == model[2].weight.flops + 32 and r2.dense_flops == 32 * 63 + 32
    assert (r4.params, r4.flops) == (160, 5 * 63)
    assert s.params == r0.params + r2.params + r4.params
    assert s.model_params == sum(p.numel() for p in model.parameters())
    text = str(s)
    for col in ("layer", "family", "shape", "params", "flops", "dense", "lowrank", "12→32", "total"):
        assert col in text
    with pytest.raises(TypeError, match="model"):
        summary(3)
