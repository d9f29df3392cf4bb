"""
Projecting a trained weight onto a family
=========================================

``kmatrix.project(M, family)`` returns a structured W close to a given matrix M in Frobenius
norm and a report (relative error, parameters, whether the method is provably optimal). Two
stories: a planted matrix, where projection finds the hidden structure, and the hidden layer of
an MLP trained on scikit-learn's digits, where it compresses a weight that has no structure
of its own, and a short fine-tune wins back most of the accuracy.
"""

import copy
import os
import sys

import torch
from sklearn.datasets import load_digits
from torch import nn

import kmatrix

SMALL = "--small" in sys.argv or os.environ.get("KMATRIX_EXAMPLES_SMALL") == "1"
hidden = 64 if SMALL else 256
epochs, finetune_epochs = (15, 3) if SMALL else (40, 10)
batch = 200 if SMALL else 100
torch.manual_seed(0)

# %%
# A planted matrix: a random butterfly (its 2×2 blocks mix entries at distance 1, 2, 4, ...)
# plus a little noise. Each projection method is run on the same M; the butterfly projection
# (hierarchical rank-1 factorization) finds the planted factor, the others cannot.
n = 32 if SMALL else 128
B = kmatrix.Butterfly(
    n, init="random", dtype=torch.float64, generator=torch.Generator().manual_seed(0)
)
with torch.no_grad():
    planted_dense = B.to_dense()
noise = 1e-3 * torch.randn(n, n, dtype=torch.float64) / n**0.5
M = planted_dense + noise
print(
    f"planted: a {n}x{n} butterfly ({B.num_params} parameters) + noise of relative size "
    f"{float(noise.norm() / planted_dense.norm()):.0e}"
)
print(f"{'family':<10} {'params':>7} {'rel. error':>11} {'optimal':>8}")
planted = {}
for family, options in [
    ("butterfly", {}),
    ("monarch", {}),
    ("lowrank", {"rank": B.num_params // (2 * n)}),
]:
    W, rep = kmatrix.project(M, family, **options)
    planted[family] = rep.rel_error
    print(f"{family:<10} {rep.num_params:>7} {rep.rel_error:>11.1e} {rep.optimal!s:>8}")
assert planted["butterfly"] < 1e-2 < planted["lowrank"]

# %%
# The butterfly projection's error is the noise level: it found the planted factor (not
# provably — the method is a heuristic, ``optimal`` False — but here exactly). Monarch and low
# rank are optimal *within their families* (blockwise and truncated SVD), and their families do
# not contain this matrix.

# %%
# A trained weight: an MLP 64 → H → H → 10 on the 8×8 digits (1797 images; scikit-learn ships
# them, no download), Adam on mini-batches.
X_all, y_all = load_digits(return_X_y=True)
X_all = torch.tensor(X_all / 16.0, dtype=torch.float32)
y_all = torch.tensor(y_all)
perm = torch.randperm(len(y_all))
train, test = perm[:1400], perm[1400:]
X_train, y_train, X_test, y_test = X_all[train], y_all[train], X_all[test], y_all[test]


def accuracy(model) -> float:
    with torch.no_grad():
        return (model(X_test).argmax(dim=1) == y_test).float().mean().item()


def train_epochs(model, epochs, lr):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        for i in range(0, len(y_train), batch):
            opt.zero_grad()
            nn.functional.cross_entropy(
                model(X_train[i : i + batch]), y_train[i : i + batch]
            ).backward()
            opt.step()


mlp = nn.Sequential(
    nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 10)
)
train_epochs(mlp, epochs, 3e-3)
dense_acc = accuracy(mlp)
print(f"\ndense MLP (hidden {hidden}): test accuracy {dense_acc:.3f}")
assert dense_acc > 0.85

# %%
# Project the hidden H×H weight onto three families at comparable sizes, swap it in as a
# :class:`~kmatrix.nn.ProjectedLinear` (structured W, the old bias), and measure the accuracy
# before and after a short fine-tune of the whole model. The trained weight is not structured,
# so the projection error is large; what matters is how much accuracy survives, and how fast it
# comes back.
weight = mlp[2].weight.detach()
logn = hidden.bit_length() - 1
choices = [
    ("butterfly", {}),
    ("monarch", {"nblocks": 8 if SMALL else 16}),
    ("lowrank", {"rank": logn}),  # 2·H·log2 H parameters, the same as one butterfly
]
rows = []
for family, options in choices:
    W, rep = kmatrix.project(weight, family, **options)
    model = copy.deepcopy(mlp)
    model[2] = kmatrix.nn.ProjectedLinear(W, mlp[2].bias)
    before = accuracy(model)
    train_epochs(model, finetune_epochs, 1e-3)
    rows.append((family, rep.num_params, rep.rel_error, before, accuracy(model)))

print(
    f"\nhidden layer {hidden}x{hidden} ({hidden * hidden} dense parameters), test accuracy dense "
    f"{dense_acc:.3f}"
)
print(
    f"{'family':<10} {'params':>7} {'rel. error':>11} "
    f"{'acc. projected':>15} {'after fine-tune':>16}"
)
for family, params, err, before, after in rows:
    print(f"{family:<10} {params:>7} {err:>11.2f} {before:>15.3f} {after:>16.3f}")
for family, params, err, before, after in rows:
    assert params < hidden * hidden and 0 < err < 1, family
    assert after > 0.8, (family, after)

# %%
# The one-liner for a whole model is :func:`kmatrix.nn.compress` (select layers with
# ``filter``, size them with ``budget``, optionally fine-tune); it returns one report per layer.
model, reports = kmatrix.nn.compress(
    copy.deepcopy(mlp), "monarch", filter=lambda name, layer: name == "2"
)
print(f"\ncompress: {[(r.name, r.family, r.params, round(r.rel_error, 2)) for r in reports]}")
assert isinstance(model[2], kmatrix.nn.ProjectedLinear)
