"""Worker of tests/test_distributed.py, run under torchrun (and imported by the test for the
single-process reference): a float64 model with structured layers, a fixed data set, one
gradient on the first global batch and a few optimizer steps over sharded batches."""

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from kmatrix.nn import StructuredLinear
from kmatrix.nn import distributed as kd

N, GLOBAL_BATCH, EPOCHS, SEED = 48, 8, 2, 3


def make_model():
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    dt = torch.float64
    return nn.Sequential(
        StructuredLinear(10, 12, "kmatrix", dtype=dt, generator=g), nn.Tanh(),
        StructuredLinear(12, 12, "sparse", nnz=40, dtype=dt, generator=g), nn.Tanh(),
        StructuredLinear(12, 9, "lowrank", rank=3, dtype=dt, generator=g), nn.Tanh(),
        nn.Linear(9, 3, dtype=dt),
    )


def make_data():
    g = torch.Generator().manual_seed(1)
    return torch.randn(N, 10, dtype=torch.float64, generator=g), torch.randn(N, 3, dtype=torch.float64, generator=g)


def run(rank=None, world=None):
    """Returns (gradients on the first global batch, parameters after EPOCHS epochs of SGD)."""
    model = make_model()
    net = kd.wrap(model)
    X, y = make_data()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    first = next(kd.shard_batches(N, GLOBAL_BATCH, 0, SEED, rank_=rank, world=world))
    F.mse_loss(net(X[first]), y[first]).backward()
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters()}
    opt.zero_grad()
    for epoch in range(EPOCHS):
        for idx in kd.shard_batches(N, GLOBAL_BATCH, epoch, SEED, rank_=rank, world=world):
            opt.zero_grad()
            F.mse_loss(net(X[idx]), y[idx]).backward()
            opt.step()
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    return grads, params


if __name__ == "__main__":
    r, w = kd.setup(seed=0)
    grads, params = run()
    if kd.is_main():
        torch.save({"grads": grads, "params": params, "world": w}, Path(sys.argv[1]) / "ddp.pt")
    kd.teardown()
