"""``kmatrix bench compress``: compress a trained MLP (scikit-learn's 8×8 digits) with
``kmatrix.nn.compress`` and report test accuracy before projection, right after it, and after a
short fine-tune, with each layer's projection error and the parameter counts.

Needs scikit-learn (``pip install scikit-learn``, in the ``dev`` extra); prints the install hint
and exits 0 without it. Fixed seeds: the numbers are reproducible up to thread scheduling.
"""

from __future__ import annotations

import argparse
import copy

import torch
from torch import nn

FAMILIES = (
    ("lowrank", {"budget": 0.25}),
    ("monarch", {}),
    ("butterfly", {}),
    ("kmatrix", {"width": 1, "adam_steps": 0, "lbfgs_steps": 20}),
    ("toeplitz", {}),
)


def load_digits_tensors(seed: int = 0):
    from sklearn.datasets import load_digits

    data = load_digits()
    X = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target, dtype=torch.int64)
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(X), generator=g)
    cut = int(0.75 * len(X))
    return X[order[:cut]], y[order[:cut]], X[order[cut:]], y[order[cut:]]


def mlp(hidden: int = 256) -> nn.Module:
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def accuracy(model: nn.Module, X, y) -> float:
    with torch.no_grad():
        return float((model(X).argmax(-1) == y).float().mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="kmatrix bench compress", description=__doc__.split("\n\n")[0])
    ap.add_argument("--epochs", type=int, default=30, help="training epochs of the dense MLP")
    ap.add_argument("--finetune-epochs", type=int, default=3)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--only", nargs="*", help="families to run (default: all)")
    args = ap.parse_args(argv)
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("kmatrix bench compress needs scikit-learn for the digits data: pip install scikit-learn")
        return 0
    from ..nn.compress import compress, finetune

    torch.manual_seed(0)
    Xtr, ytr, Xte, yte = load_digits_tensors()
    model = mlp(args.hidden)
    finetune(model, Xtr, ytr, epochs=args.epochs, lr=1e-3, generator=torch.Generator().manual_seed(1))
    base = accuracy(model, Xte, yte)
    dense_params = sum(p.numel() for p in model.parameters())
    print(f"digits MLP 64-{args.hidden}-{args.hidden}-10: test accuracy {base:.4f}, {dense_params} parameters")
    print("compressing the two hidden layers (64→h, h→h); the 10-way output layer stays dense\n")
    head = f"{'family':<10} {'options':<28} {'params':>8} {'layer errors':>20} {'acc. projected':>15} {'acc. fine-tuned':>16}"
    print(head)
    print("-" * len(head))
    for family, opts in FAMILIES:
        if args.only and family not in args.only:
            continue
        torch.manual_seed(0)
        m = copy.deepcopy(model)
        m, reports = compress(m, family, filter=lambda name, lin: lin.out_features > 10, **opts)
        projected = accuracy(m, Xte, yte)
        finetune(m, Xtr, ytr, epochs=args.finetune_epochs, lr=1e-3, generator=torch.Generator().manual_seed(2))
        tuned = accuracy(m, Xte, yte)
        params = sum(p.numel() for p in m.parameters())
        errs = " / ".join(f"{r.rel_error:.3f}" for r in reports)
        shown = ", ".join(f"{k}={v}" for k, v in opts.items() if k != "adam_steps" and k != "lbfgs_steps")
        print(f"{family:<10} {shown:<28} {params:>8} {errs:>20} {projected:>15.4f} {tuned:>16.4f}")
    return 0
