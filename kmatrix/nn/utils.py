"""Optimizer helpers for structured layers (model surgery: :mod:`kmatrix.nn.replace`)."""

from __future__ import annotations

import math
import numbers

from torch import nn

from ..core.structured import StructuredMatrix

__all__ = ["param_groups"]


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Optimizer parameter groups: every parameter owned by a StructuredMatrix (butterfly and
    K-matrix twiddles, other families' θ) gets ``weight_decay = 0`` — shrinking twiddles toward
    zero shrinks a product of log N factors geometrically and destroys the structure — and all
    other parameters (dense weights, biases, norms) get ``weight_decay``. Empty groups are left
    out; a shared parameter appears once. Use as ``torch.optim.AdamW(param_groups(m, 0.01))``.

    Examples
    --------
    >>> model = torch.nn.Sequential(kmatrix.nn.KLinear(64, 64), torch.nn.Linear(64, 10))
    >>> groups = kmatrix.nn.param_groups(model, weight_decay=0.01)
    >>> [(len(g["params"]), g["weight_decay"]) for g in groups]   # dense weights + biases; twiddles
    [(3, 0.01), (1, 0.0)]
    >>> optimizer = torch.optim.AdamW(groups, lr=1e-3)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    if isinstance(weight_decay, bool) or not isinstance(weight_decay, numbers.Real):
        raise TypeError(f"weight_decay: expected a non-negative number, got {weight_decay!r}")
    wd = float(weight_decay)
    if not math.isfinite(wd) or wd < 0:
        raise ValueError(f"weight_decay: expected a finite non-negative number, got {weight_decay}")
    structured: dict[int, nn.Parameter] = {}
    for mod in model.modules():
        if isinstance(mod, StructuredMatrix):
            for p in mod.parameters():
                structured[id(p)] = p
    decay, no_decay, seen = [], [], set()
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        (no_decay if id(p) in structured else decay).append(p)
    groups = []
    if decay:
        groups.append({"params": decay, "weight_decay": wd})
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups
