"""Model surgery: replace a model's ``nn.Linear`` layers by :class:`StructuredLinear` ones.

What a real model needs, and what :func:`replace_linear` does about it:

* **Fused fast paths.** ``nn.MultiheadAttention`` passes ``out_proj.weight`` as a tensor to
  ``F.multi_head_attention_forward``: its Linear layers are skipped (with a warning). The
  inference fast path of ``nn.TransformerEncoderLayer`` (``eval()`` + no grad) reads
  ``linear1.weight`` / ``linear2.weight`` as tensors: a layer whose feed-forward Linear is
  replaced gets that fast path switched off (``activation_relu_or_gelu = 0``, which only the
  fast-path test reads) and an ``nn.TransformerEncoder`` holding it ``use_nested_tensor =
  False``, so ``eval()`` + ``torch.inference_mode()`` runs the ordinary (unfused) path.
* **Tied weights.** A Linear whose weight (or bias) is also a parameter of another module
  (a language-model head tied to the embedding) is skipped with a warning: replacing it would
  untie it silently.
* **No growth by default.** A layer whose structured form (weight + bias) would have more
  parameters than the dense one is skipped with a warning (a 256→10 classifier head as a
  K-matrix has 8,202 parameters instead of 2,570) unless ``allow_larger=True``.
* **Shared modules.** A Linear registered under several names (the same module object) is
  replaced by one StructuredLinear placed under every name, so it stays shared.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable

import torch
from torch import nn

from ..core.validation import budget_count, check_budget_value
from .klinear import KLinear
from .registry import get_family
from .structured_linear import StructuredLinear

__all__ = ["replace_linear"]

#: Modules whose forward reads their Linear children's ``.weight`` as a tensor (never replaced).
TENSOR_READERS: tuple[type, ...] = (nn.MultiheadAttention,)


def _layer_budget(budget, name: str, lin: nn.Linear) -> int | None:
    if budget is None:
        return None
    dense = lin.in_features * lin.out_features
    if callable(budget):
        b = budget(name, lin)
        return None if b is None else budget_count(b, dense, f"budget({name!r})")
    return budget_count(budget, dense)


def _check_budget_arg(budget) -> None:
    if budget is None or callable(budget):
        return
    if isinstance(budget, bool) or not isinstance(budget, numbers.Real):
        raise TypeError(
            f"budget: expected None, an int (weight parameters per layer), a float in (0, 1] (fraction "
            f"of each dense weight) or a callable (name, linear) -> int | float | None, got {budget!r}"
        )
    check_budget_value(budget)


def replace_linear(
    model: nn.Module,
    family: str = "kmatrix",
    budget=None,
    filter: Callable[[str, nn.Linear], bool] | None = None,
    *,
    allow_larger: bool = False,
    generator: torch.Generator | None = None,
    **options,
) -> nn.Module:
    """Replace the ``nn.Linear`` layers of ``model`` in place by :class:`StructuredLinear` layers
    of ``family`` with the same shape, bias presence, dtype and device; returns ``model``.

    ``budget``: None (the family's options as given), an int (weight parameters per layer), a
    float in (0, 1] (that fraction of each layer's dense weight, in·out), or a callable
    ``(name, linear) -> int | float | None`` (either form, per layer). ``filter(name, module) -> bool`` selects layers (``name``
    the dotted path as in ``named_modules``; default: all). ``options`` go to StructuredLinear
    (``width=``, ``rank=``, ...). Bias values are copied; the structured weight is freshly
    initialised (it generally cannot equal the dense one). Layers skipped, each with a warning
    naming them (``help("kmatrix.nn.replace")``): inside ``nn.MultiheadAttention``; tied to another
    module's parameter; larger than dense unless ``allow_larger``; budget below every member of the
    family. A bare ``nn.Linear`` passed as ``model`` (name ``""``) cannot be swapped in place: its
    replacement is returned instead.
    

    Examples
    --------
    >>> from torch import nn
    >>> model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64))
    >>> model = kmatrix.nn.replace_linear(model, "lowrank", budget=0.25)
    >>> [m.options() for m in model if isinstance(m, kmatrix.nn.StructuredLinear)]
    [{'rank': 8}, {'rank': 8}]
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    if filter is not None and not callable(filter):
        raise TypeError(f"filter: expected a callable (name, module) -> bool, got {filter!r}")
    if not isinstance(allow_larger, bool):
        raise TypeError(f"allow_larger: expected a bool, got {allow_larger!r}")
    spec = get_family(family)
    _check_budget_arg(budget)
    skipped: dict[str, list[str]] = {}

    def make(name: str, lin: nn.Linear):
        b = _layer_budget(budget, name, lin)
        common = {"bias": lin.bias is not None, "budget": b, "dtype": lin.weight.dtype,
                  "device": lin.weight.device, "generator": generator}
        try:
            if spec.name == "kmatrix":  # the K-matrix case keeps its own class (isinstance KLinear)
                new = KLinear(lin.in_features, lin.out_features, **common, **options)
            else:
                new = StructuredLinear(lin.in_features, lin.out_features, spec.name, **common, **options)
        except ValueError as e:
            if b is not None and str(e).startswith("budget:"):
                skipped.setdefault("budget below every member of the family", []).append(name)
                return None
            raise
        dense = lin.weight.numel() + (0 if lin.bias is None else lin.bias.numel())
        if new.num_params > dense and not allow_larger:
            skipped.setdefault(
                "the structured layer would have more parameters than the dense one "
                "(allow_larger=True replaces them anyway)", []).append(f"{name} ({new.num_params} > {dense})")
            return None
        if lin.bias is not None:
            with torch.no_grad():
                new.bias.copy_(lin.bias.detach())
        return new

    if isinstance(model, nn.Linear):  # no parent to swap it in: return the replacement
        if filter is not None and not filter("", model):
            return model
        new = make("", model)
        _warn(skipped, spec.name)
        return model if new is None else new

    # every (parent, attribute) slot holding each Linear, shared modules listed once with all slots
    slots: dict[int, list] = {}
    names: dict[int, str] = {}
    readers = set()
    for pname, parent in model.named_modules(remove_duplicate=False):
        for cname, child in parent._modules.items():  # named_children() lists a module once
            if isinstance(child, nn.Linear):
                full = f"{pname}.{cname}" if pname else cname
                slots.setdefault(id(child), []).append((parent, cname, child))
                names.setdefault(id(child), full)
                if isinstance(parent, TENSOR_READERS):
                    readers.add(id(child))
    owners: dict[int, set] = {}
    for mod in model.modules():
        for p in mod.parameters(recurse=False):
            owners.setdefault(id(p), set()).add(id(mod))

    replaced: dict[int, nn.Module] = {}
    for key, places in slots.items():
        lin, name = places[0][2], names[key]
        if filter is not None and not filter(name, lin):
            continue
        if key in readers:
            skipped.setdefault("inside nn.MultiheadAttention, which reads .weight as a tensor", []).append(name)
            continue
        params = [lin.weight] + ([] if lin.bias is None else [lin.bias])
        if any(len(owners[id(p)]) > 1 for p in params):
            skipped.setdefault("weight tied to another module's parameter (kept tied)", []).append(name)
            continue
        new = make(name, lin)
        if new is None:
            continue
        replaced[key] = new
        for parent, cname, _ in places:
            setattr(parent, cname, new)
    _disable_fused_paths(model, set(map(id, replaced.values())))
    _warn(skipped, spec.name)
    return model


def _disable_fused_paths(model: nn.Module, new_ids: set) -> None:
    """Switch off the inference fast path of transformer encoder layers whose feed-forward
    Linear layers were replaced (it passes ``linear1.weight`` to a fused kernel as a tensor)."""
    touched = False
    for mod in model.modules():
        ffn = (id(getattr(mod, "linear1", None)), id(getattr(mod, "linear2", None)))
        if isinstance(mod, nn.TransformerEncoderLayer) and any(i in new_ids for i in ffn):
            mod.activation_relu_or_gelu = 0  # read only by the fast-path test
            touched = True
    if touched:
        for mod in model.modules():
            if isinstance(mod, nn.TransformerEncoder):
                mod.use_nested_tensor = False


def _warn(skipped: dict, family: str) -> None:
    for reason, names in skipped.items():
        warnings.warn(f"replace_linear({family!r}): kept {len(names)} nn.Linear layer(s) dense, {reason}: "
                      + ", ".join(names), stacklevel=3)
