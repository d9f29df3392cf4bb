"""Contract: ``kmatrix.save`` → ``kmatrix.load`` gives back the same matrix, the same sharing of
parameters and the same ``requires_grad`` flags (plain functions, no pytest needed)."""

from __future__ import annotations

import os
import tempfile

import torch
from torch import nn

from ..core.compose import Product, Sum
from ..core.io import load, save
from ..core.structured import StructuredMatrix
from .battery import random_tensor

__all__ = ["check_save_load", "shared_composites", "sharing_pattern"]


def sharing_pattern(module: nn.Module) -> list[tuple[str, int, bool]]:
    """(name, group, requires_grad) for every parameter registration, duplicates included, in
    ``named_parameters`` order; ``group`` numbers distinct parameter objects in order of first
    appearance, so two modules have the same sharing iff their patterns are equal."""
    groups: dict[int, int] = {}
    out = []
    for name, p in module.named_parameters(remove_duplicate=False):
        g = groups.setdefault(id(p), len(groups))
        out.append((name, g, bool(p.requires_grad)))
    return out


def shared_composites(M: StructuredMatrix) -> dict[str, StructuredMatrix]:
    """Matrices that reach M's parameters more than once: M itself, M·Mᵀ (M.T: a view or a
    native transpose sharing θ) and M + M (one module twice), built without composition rules."""
    return {"M": M, "M @ M.T": Product([M, M.T]), "M + M": Sum([M, M])}


def check_save_load(M: StructuredMatrix, x: torch.Tensor | None = None, directory: str | None = None) -> StructuredMatrix:
    """Save and load ``M``; assert: same class, shape and dtype, bit-identical products on ``x``
    (default: a fixed random batch), the same sharing pattern and ``requires_grad`` flags, the
    same number of distinct parameters, and gradients of a loss reaching every trainable
    parameter of the loaded matrix. Returns the loaded matrix.

    Examples
    --------
    >>> B = kmatrix.Butterfly(8)
    >>> M2 = kmatrix.testing.check_save_load(B + B.T)
    >>> type(M2).__name__
    'Sum'
    """
    if x is None:
        x = random_tensor((3, M.shape[1]), M.dtype, torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory(dir=directory) as d:
        path = os.path.join(d, "m.kmx")
        save(M, path)
        M2 = load(path)
        left = sorted(os.listdir(d))
    assert left == ["m.kmx"], f"save left extra files: {left}"
    assert type(M2) is type(M) and M2.shape == M.shape and M2.dtype == M.dtype, (type(M2), M2.shape, M2.dtype)
    with torch.no_grad():
        y, y2 = M(x), M2(x)
    assert torch.equal(y, y2), "the loaded matrix computes a different product"
    assert sharing_pattern(M2) == sharing_pattern(M), (
        f"sharing / requires_grad differ:\n{sharing_pattern(M)}\n{sharing_pattern(M2)}"
    )
    assert len(list(M2.parameters())) == len(list(M.parameters()))
    trainable = [p for p in M2.parameters() if p.requires_grad]
    if trainable:
        loss = M2(x).abs().square().sum()
        grads = torch.autograd.grad(loss, trainable, allow_unused=True)
        assert all(gr is not None for gr in grads), "a trainable parameter of the loaded matrix gets no gradient"
    return M2
