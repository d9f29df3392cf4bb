"""Model surgery and optimizer helpers for structured layers."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import torch
from torch import nn

from ..core.structured import StructuredMatrix
from .klinear import KLinear

__all__ = ["param_groups", "replace_linear"]


def replace_linear(
    model: nn.Module,
    filter: Callable[[str, nn.Linear], bool] | None = None,
    **kwargs,
) -> nn.Module:
    """Replace every ``nn.Linear`` of ``model`` (in place) by a :class:`KLinear` of the same
    shape, bias presence, dtype and device (unless given in ``kwargs``); returns ``model``.

    ``filter(name, module) -> bool`` (``name`` the dotted path, as in ``named_modules``) selects
    which layers to replace (default: all). ``kwargs`` go to ``KLinear`` (``width``,
    ``expansion``, ``init``, ...). The bias values are copied; the K-matrix weight is freshly
    initialised (it generally cannot equal the old dense weight). Linear layers owned by an
    ``nn.MultiheadAttention`` are skipped: that module reads their ``.weight`` tensor directly.
    A bare ``nn.Linear`` passed as ``model`` (name ``""`` for ``filter``) cannot be swapped in
    place: its replacement is returned instead.

    Ties are kept: an ``nn.Linear`` registered in several places (or under several names) gets
    one replacement, registered in every one of them (``filter`` is asked once, with the first
    name ``named_modules`` reports for it).

    Examples
    --------
    >>> model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    >>> kmatrix.nn.replace_linear(model) is model
    True
    >>> [type(m).__name__ for m in model]
    ['KLinear', 'ReLU', 'KLinear']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    if filter is not None and not callable(filter):
        raise TypeError(f"filter: expected a callable (name, module) -> bool, got {filter!r}")
    if isinstance(model, nn.Linear):  # no parent to swap it in: return the replacement
        if filter is not None and not filter("", model):
            return model
        return _klinear_like(model, kwargs)
    targets = []
    chosen: dict[int, bool] = {}  # id(linear) -> replace it? (decided once per module: ties kept)
    for parent_name, parent in model.named_modules():
        if isinstance(parent, nn.MultiheadAttention):
            continue
        # every registration, duplicates included (named_children would skip a second name)
        for child_name, child in parent._modules.items():
            if not isinstance(child, nn.Linear):
                continue
            if id(child) not in chosen:
                full = f"{parent_name}.{child_name}" if parent_name else child_name
                chosen[id(child)] = filter is None or bool(filter(full, child))
            if chosen[id(child)]:
                targets.append((parent, child_name, child))
    replacement: dict[int, KLinear] = {}
    for parent, child_name, lin in targets:
        if id(lin) not in replacement:
            replacement[id(lin)] = _klinear_like(lin, kwargs)
        setattr(parent, child_name, replacement[id(lin)])
    return model


def _klinear_like(lin: nn.Linear, kwargs: dict) -> KLinear:
    kw = {"dtype": lin.weight.dtype, "device": lin.weight.device, **kwargs}
    new = KLinear(lin.in_features, lin.out_features, bias=lin.bias is not None, **kw)
    if lin.bias is not None:
        with torch.no_grad():
            new.bias.copy_(lin.bias.detach())
    return new


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
