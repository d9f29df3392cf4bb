"""kmatrix.nn.compress: layers replaced by their projections, outputs within the reported
error on planted cases, budgets, filter, fine-tune, bad input."""

import copy

import pytest
import torch
from torch import nn

import kmatrix
from kmatrix.nn import LayerReport, ProjectedLinear, compress, finetune
from kmatrix.nn.compress import budget_params


def _planted_lowrank_linear(m, n, r, gen, noise=0.0):
    lin = nn.Linear(n, m, dtype=torch.float64)
    with torch.no_grad():
        W = torch.randn(m, r, dtype=torch.float64, generator=gen) @ torch.randn(r, n, dtype=torch.float64, generator=gen)
        lin.weight.copy_(W + noise * torch.randn(m, n, dtype=torch.float64, generator=gen))
        lin.bias.copy_(torch.randn(m, dtype=torch.float64, generator=gen))
    return lin


def test_single_layer_output_within_reported_error(gen):
    """‖Δy‖ ≤ ‖ΔW‖₂‖x‖ ≤ rel_error·‖W‖_F·‖x‖ for every input row."""
    lin = _planted_lowrank_linear(24, 16, 3, gen, noise=0.05)
    ref = copy.deepcopy(lin)
    new, reports = compress(lin, "lowrank", rank=3)
    assert isinstance(new, ProjectedLinear) and isinstance(new.weight, kmatrix.LowRank)
    (rep,) = reports
    assert isinstance(rep, LayerReport) and rep.name == "" and rep.shape == (24, 16)
    assert 0 < rep.rel_error < 0.1 and rep.optimal and rep.params == 3 * 40 and rep.dense_params == 384
    x = torch.randn(50, 16, dtype=torch.float64, generator=gen)
    dy = (new(x) - ref(x)).norm(dim=-1)
    bound = rep.rel_error * ref.weight.detach().norm() * x.norm(dim=-1)
    assert bool((dy <= bound * (1 + 1e-12)).all())
    assert torch.equal(new.bias.detach(), ref.bias.detach())


@pytest.mark.parametrize("family,opts", [("butterfly", {}), ("monarch", {}), ("lowrank", {"rank": 2})])
def test_planted_mlp_is_recovered(family, opts, gen):
    """Planted structured weights: compression is exact, the model's output unchanged."""
    n = 16
    model = nn.Sequential(nn.Linear(n, n, dtype=torch.float64), nn.ReLU(), nn.Linear(n, n, dtype=torch.float64))
    with torch.no_grad():
        for lin in (model[0], model[2]):
            if family == "butterfly":
                W = kmatrix.Butterfly(n, dtype=torch.float64, generator=gen).to_dense()
            elif family == "monarch":
                W = kmatrix.Monarch(n, dtype=torch.float64, generator=gen).to_dense()
            else:
                W = torch.randn(n, 2, dtype=torch.float64, generator=gen) @ torch.randn(2, n, dtype=torch.float64, generator=gen)
            lin.weight.copy_(W)
    ref = copy.deepcopy(model)
    model, reports = compress(model, family, **opts)
    assert [r.name for r in reports] == ["0", "2"]
    assert all(isinstance(model[i], ProjectedLinear) for i in (0, 2))
    assert max(r.rel_error for r in reports) <= 1e-12
    x = torch.randn(8, n, dtype=torch.float64, generator=gen)
    torch.testing.assert_close(model(x), ref(x), rtol=1e-10, atol=1e-10)


def test_two_layer_bound(gen):
    """Through a 1-Lipschitz ReLU: ‖Δy‖ ≤ ‖W₂‖‖ΔW₁x‖ + ‖ΔW₂‖‖h'‖ ≤ e₁‖W₂‖₂‖W₁‖_F‖x‖ + e₂‖W₂‖_F‖h'‖."""
    model = nn.Sequential(_planted_lowrank_linear(20, 12, 2, gen, 0.1), nn.ReLU(), _planted_lowrank_linear(8, 20, 2, gen, 0.1))
    ref = copy.deepcopy(model)
    model, (r1, r2) = compress(model, "lowrank", rank=2)
    x = torch.randn(30, 12, dtype=torch.float64, generator=gen)
    h_new = model[1](model[0](x))
    W1, W2 = ref[0].weight.detach(), ref[2].weight.detach()
    bound = r1.rel_error * torch.linalg.matrix_norm(W2, 2) * W1.norm() * x.norm(dim=-1) + r2.rel_error * W2.norm() * h_new.norm(dim=-1)
    assert bool(((model(x) - ref(x)).norm(dim=-1) <= bound * (1 + 1e-12)).all())


def test_filter_budget_and_finetune(gen):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4))
    X = torch.randn(64, 32, generator=gen)
    y = torch.randint(0, 4, (64,), generator=gen)
    model, reports = compress(model, "lowrank", budget=0.25, filter=lambda name, lin: lin.out_features == 32,
                              finetune_data=(X, y), finetune_epochs=2)
    assert [r.name for r in reports] == ["0"] and isinstance(model[2], nn.Linear)
    assert reports[0].options == {"rank": 4} and reports[0].params <= 0.25 * 32 * 32
    assert model[0].weight.L.dtype == torch.float32 and not model.training
    losses = finetune(model, X, y, epochs=3, lr=1e-2, generator=gen)
    assert len(losses) == 3 and losses[-1] < losses[0]


def test_budget_params():
    assert budget_params("lowrank", (64, 64), 0.25) == {"rank": 8}
    assert budget_params("sparse", (10, 10), 0.5) == {"nnz": 50}
    assert budget_params("kmatrix", (64, 64), 1.0) == {"width": 2}
    assert budget_params("monarch", (64, 64), 0.5) == {"rank": 2}
    with pytest.raises(ValueError, match="budget"):
        budget_params("butterfly", (8, 8), 0.1)


def test_budget_int_is_a_count_float_a_fraction(gen):
    """The convention of StructuredLinear: int = parameters, float in (0, 1] = fraction of m·n;
    both give the same projection options, and compress reports them."""
    for family, shape in (("lowrank", (64, 48)), ("sparse", (10, 12)), ("kmatrix", (64, 64)),
                          ("monarch", (64, 64)), ("sparse+lowrank", (40, 30))):
        m, n = shape
        for frac in (0.4, 0.5, 1.0):  # kmatrix 64: 1536 parameters per width ≤ 0.4·4096
            assert budget_params(family, shape, frac) == budget_params(family, shape, int(frac * m * n))
    assert budget_params("lowrank", (64, 64), 1000) == {"rank": 7}  # 7·128 ≤ 1000 < 8·128
    assert budget_params("sparse", (10, 10), 37) == {"nnz": 37}
    lin = nn.Linear(64, 64)
    _, (r_frac,) = compress(copy.deepcopy(lin), "lowrank", budget=0.25)
    _, (r_count,) = compress(copy.deepcopy(lin), "lowrank", budget=1024)
    assert r_frac.options == r_count.options == {"rank": 8} and r_frac.params == r_count.params == 1024
    _, (r_small,) = compress(copy.deepcopy(lin), "lowrank", budget=300)
    assert r_small.options == {"rank": 2} and r_small.params <= 300


def test_bad_input():
    with pytest.raises(TypeError, match="model"):
        compress("mlp", "lowrank")
    with pytest.raises(ValueError, match="family"):
        compress(nn.Linear(4, 4), "dense")
    for b in (0, -3, 1.5, 0.0, float("nan"), 16.0):
        with pytest.raises(ValueError, match="budget"):
            compress(nn.Linear(4, 4), "lowrank", budget=b)
    for b in (True, "half", [0.5]):
        with pytest.raises(TypeError, match="budget: expected an int"):
            compress(nn.Linear(4, 4), "lowrank", budget=b)
    with pytest.raises(ValueError, match=r"budget: 1 parameters is below .* \(the whole dense count is budget=1.0\)"):
        compress(nn.Linear(4, 4), "lowrank", budget=1)
    with pytest.raises(TypeError, match="filter"):
        compress(nn.Linear(4, 4), "lowrank", filter=3)
    with pytest.raises(ValueError, match="rank"):
        compress(nn.Linear(4, 4), "lowrank", rank=9)
    with pytest.raises(TypeError, match="weight"):
        ProjectedLinear(torch.zeros(3, 3))
