"""Compress a trained model: project every selected ``nn.Linear`` weight onto a structured
family (:func:`kmatrix.project`) and swap the layer for a :class:`ProjectedLinear` (the
dense-to-structured conversion of Monarch for pretrained models, Dao et al. 2022), optionally
followed by a short fine-tune.

Output error: for a layer y = W x + b replaced by W' x + b, ‖Δy‖ ≤ ‖W − W'‖₂ ‖x‖ ≤
rel_error · ‖W‖_F · ‖x‖, with rel_error the layer's reported ‖W − W'‖_F / ‖W‖_F; through
1-Lipschitz activations the layer errors add up along the network.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..core.structured import StructuredMatrix
from ..core.validation import budget_count, check_budget_value
from ..families._twiddle import padded_size
from ..families.kaleidoscope import kmatrix_size
from ..project import METHODS, project

__all__ = ["LayerReport", "ProjectedLinear", "budget_params", "compress", "finetune"]


class ProjectedLinear(nn.Module):
    """y = W x + b with W a structured matrix (``weight``) and b the old layer's bias.

    Examples
    --------
    >>> layer = kmatrix.nn.ProjectedLinear(kmatrix.Monarch(16, 8), torch.zeros(8))
    >>> layer(torch.randn(3, 16)).shape
    torch.Size([3, 8])
    """

    def __init__(self, weight: StructuredMatrix, bias: torch.Tensor | None = None):
        super().__init__()
        if not isinstance(weight, StructuredMatrix):
            raise TypeError(f"weight: expected a StructuredMatrix, got {type(weight).__name__}")
        self.weight = weight
        self.out_features, self.in_features = weight.shape
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.weight(x)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


@dataclasses.dataclass
class LayerReport:
    """One replaced layer: its dotted name, shape (out, in), the projection's relative
    Frobenius error, parameter counts before (dense weight) and after (structured weight),
    whether the projection is optimal, padding, and the projection time.

    Examples
    --------
    >>> _, (rep,) = kmatrix.nn.compress(torch.nn.Linear(64, 64), "monarch")
    >>> rep.shape, rep.dense_params, rep.params, rep.optimal
    ((64, 64), 4096, 1024, True)
    """

    name: str
    family: str
    shape: tuple[int, int]
    rel_error: float
    dense_params: int
    params: int
    optimal: bool
    padded: bool
    time: float
    options: dict


def budget_params(family: str, shape: tuple[int, int], budget: float) -> dict:
    """The family's options that keep a weight of ``shape`` (m, n) within ``budget`` parameters
    — an int is a number of parameters, a float in (0, 1] a fraction of m·n (the convention of
    :class:`~kmatrix.nn.StructuredLinear`) — the largest rank / nnz / width that fits;
    ValueError when even the smallest member of the family does not fit."""
    m, n = shape
    cap = budget_count(budget, m * n)
    need = None
    if family == "lowrank":
        r = min(int(cap // (m + n)), min(m, n))
        need, out = m + n, {"rank": r}
    elif family == "sparse":
        need, out = 1, {"nnz": int(cap)}
    elif family == "monarch":
        k = math.isqrt(max(m, n) - 1) + 1
        p, l = -(-n // k), -(-m // k)
        per_rank = k * (k * p + k * l)
        need, out = per_rank, {"rank": min(int(cap // per_rank), l, p)}
    elif family == "butterfly":
        N = padded_size(max(m, n))
        need, out = 2 * N * (N.bit_length() - 1), {}
    elif family == "kmatrix":
        N = kmatrix_size(n, m, 1)
        per_width = 4 * N * (N.bit_length() - 1)
        need, out = per_width, {"width": int(cap // per_width)}
    elif family == "sparse+lowrank":
        r = int(cap // (2 * (m + n)))
        need, out = 2 * (m + n), {"rank": r, "nnz": int(cap - r * (m + n))}
    elif family in ("toeplitz", "hankel"):
        need, out = m + n - 1, {}
    elif family == "circulant":
        need, out = n, {}
    else:
        raise ValueError(f"family: expected one of {sorted(METHODS)}, got {family!r}")
    if need > cap:
        what = f"{budget} of the {m}x{n} weight ({cap} parameters)" if isinstance(budget, float) else f"{cap} parameters"
        hint = " (the whole dense count is budget=1.0)" if cap == 1 and not isinstance(budget, float) else ""
        raise ValueError(f"budget: {what} is below the smallest {family} member ({need} parameters){hint}")
    return out


def compress(
    model: nn.Module,
    family: str,
    budget: float | None = None,
    filter: Callable[[str, nn.Linear], bool] | None = None,
    finetune_data=None,
    finetune_epochs: int = 3,
    finetune_lr: float = 1e-3,
    **params,
):
    """Project the weight of every selected ``nn.Linear`` of ``model`` onto ``family`` and
    replace the layer (in place) by a :class:`ProjectedLinear`; returns ``(model, reports)``
    with one :class:`LayerReport` per replaced layer.

    Parameters
    ----------
    model : nn.Module
        The model (a bare ``nn.Linear``, name ``""``, is returned replaced).
    family : str
        One of the families of :func:`kmatrix.project`.
    budget : int, float or None
        What each layer's structured weight may use: an int is a number of parameters, a float
        in (0, 1] a fraction of the layer's m·n dense count (the convention of
        :class:`~kmatrix.nn.StructuredLinear` and :func:`~kmatrix.nn.replace_linear`);
        translated by :func:`budget_params` into a rank, nnz or width (options given in
        ``params`` take precedence). Before this convention an int 1 meant the whole dense count;
        it is now one parameter (and raises, naming ``budget=1.0``).
    filter : callable or None
        ``filter(name, module) -> bool`` selects layers (default: all); ``name`` is the dotted
        path as in ``named_modules``.
    finetune_data : tuple or None
        ``(X, y)`` tensors for a short fine-tune of the whole compressed model (cross-entropy,
        Adam, ``finetune_epochs`` epochs at ``finetune_lr``; :func:`finetune` for other losses).
    finetune_epochs, finetune_lr : int, float
        Fine-tune settings.
    **params
        Options of the projection (``rank``, ``nblocks``, ``width``, ``perm``, ...).

    Examples
    --------
    >>> model = torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    >>> model, reports = kmatrix.nn.compress(model, "lowrank", budget=0.25,
    ...                                      filter=lambda name, lin: lin.out_features == 32)
    >>> [(r.name, r.options, r.params) for r in reports]
    [('0', {'rank': 4}, 256)]
    >>> _, (rep,) = kmatrix.nn.compress(torch.nn.Linear(32, 32), "lowrank", budget=300)  # a count
    >>> rep.options, rep.params
    ({'rank': 4}, 256)
    >>> type(model[0]).__name__, type(model[2]).__name__
    ('ProjectedLinear', 'Linear')
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    if family not in METHODS:
        raise ValueError(f"family: expected one of {sorted(METHODS)}, got {family!r}")
    if budget is not None:
        check_budget_value(budget)
    if filter is not None and not callable(filter):
        raise TypeError(f"filter: expected a callable (name, module) -> bool, got {filter!r}")
    if isinstance(model, nn.Linear):
        targets = [(None, "", model)] if filter is None or filter("", model) else []
    else:
        targets = []
        for parent_name, parent in model.named_modules():
            if isinstance(parent, nn.MultiheadAttention):
                continue  # it reads its projections' .weight directly
            for child_name, child in parent.named_children():
                full = f"{parent_name}.{child_name}" if parent_name else child_name
                if isinstance(child, nn.Linear) and (filter is None or filter(full, child)):
                    targets.append((parent, child_name, child))
    reports = []
    replaced = model
    for parent, child_name, lin in targets:
        W0 = lin.weight.detach()
        opts = dict(budget_params(family, tuple(W0.shape), budget)) if budget is not None else {}
        opts.update(params)
        W, rep = project(W0, family, **opts)
        W = W.to(device=W0.device)
        new = ProjectedLinear(W, lin.bias)
        name = f"{_prefix(model, parent)}{child_name}"
        reports.append(LayerReport(
            name=name, family=family, shape=tuple(W0.shape), rel_error=rep.rel_error,
            dense_params=W0.numel(), params=W.num_params, optimal=rep.optimal, padded=rep.padded,
            time=rep.time, options=opts,
        ))
        if parent is None:
            replaced = new
        else:
            setattr(parent, child_name, new)
    if finetune_data is not None:
        X, y = finetune_data
        finetune(replaced, X, y, epochs=finetune_epochs, lr=finetune_lr)
    return replaced, reports


def _prefix(model, parent) -> str:
    if parent is None or parent is model:
        return ""
    for name, mod in model.named_modules():
        if mod is parent:
            return f"{name}."
    return ""  # pragma: no cover


def finetune(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    epochs: int = 3,
    lr: float = 1e-3,
    batch_size: int = 64,
    loss_fn: Callable = F.cross_entropy,
    generator: torch.Generator | None = None,
) -> list[float]:
    """A few epochs of Adam on ``loss_fn(model(X_batch), y_batch)`` (shuffled mini-batches);
    returns the mean loss of each epoch. Leaves the model in eval mode.

    Examples
    --------
    >>> model = torch.nn.Linear(8, 3)
    >>> X, y = torch.randn(64, 8), torch.randint(0, 3, (64,))
    >>> losses = kmatrix.nn.finetune(model, X, y, epochs=2, lr=1e-2)
    >>> len(losses), model.training
    (2, False)
    """
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor) or len(X) != len(y) or len(X) == 0:
        raise ValueError("finetune_data: expected tensors (X, y) with the same non-zero length")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    history = []
    for _ in range(int(epochs)):
        order = torch.randperm(len(X), generator=generator)
        total = 0.0
        for start in range(0, len(X), batch_size):
            idx = order[start:start + batch_size]
            opt.zero_grad()
            loss = loss_fn(model(X[idx]), y[idx])
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        history.append(total / len(X))
    model.eval()
    return history
