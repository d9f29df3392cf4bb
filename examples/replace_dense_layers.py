"""
Replacing the dense layers of a model
=====================================

``kmatrix.nn.replace_linear`` swaps every ``nn.Linear`` of a model for a ``KLinear`` (a K-matrix
weight: O(N log N) parameters and product). Here a small MLP learns a synthetic classification
task twice — dense and with K-matrix layers — and we compare accuracy, size and speed.
(Timings on a shared machine are noisy; rerun on yours.)
"""

import copy
import os
import sys
import time

import torch
from torch import nn

import kmatrix

SMALL = "--small" in sys.argv or os.environ.get("KMATRIX_EXAMPLES_SMALL") == "1"
d, hidden, classes = (64, 128, 4) if SMALL else (1024, 1024, 10)
n_train, epochs = (512, 5) if SMALL else (8192, 20)
torch.manual_seed(0)

# %%
# The task: labels are the argmax of a random linear teacher.
teacher = torch.randn(d, classes)
X = torch.randn(n_train + 512, d)
Y = (X @ teacher).argmax(dim=1)
X_train, Y_train, X_test, Y_test = X[:n_train], Y[:n_train], X[n_train:], Y[n_train:]

dense = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, classes))
structured = kmatrix.nn.replace_linear(copy.deepcopy(dense), filter=lambda name, layer: layer.out_features == hidden)
print(structured)


# %%
# The same training loop for both; ``param_groups`` keeps weight decay off the twiddles.
def train(model):
    opt = torch.optim.AdamW(kmatrix.nn.param_groups(model, weight_decay=1e-4), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    for _ in range(epochs):
        for i in range(0, n_train, 128):
            opt.zero_grad()
            loss = loss_fn(model(X_train[i : i + 128]), Y_train[i : i + 128])
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        acc = (model(X_test).argmax(dim=1) == Y_test).float().mean().item()
    return acc, seconds


def size(model):
    return sum(p.numel() for p in model.parameters())


for name, model in [("dense", dense), ("K-matrix", structured)]:
    acc, seconds = train(model)
    print(f"{name:>9}: {size(model):>8} parameters, test accuracy {acc:.3f}, training {seconds:.2f} s")
    assert acc > 1.2 / classes, f"{name} did not learn"  # above chance (1 / classes)

assert size(structured) < size(dense)
