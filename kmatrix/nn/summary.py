"""``summary(model)``: one row per linear layer (dense ``nn.Linear`` or :class:`StructuredLinear`):
family, shape, parameters and flops per input row, against the dense layer of the same shape.

Flops are real floating-point operations of one input row: the weight's ``flops`` (the
family's count, e.g. m(2n−1) for dense) plus the bias additions; dense = m(2n−1) + m.
"""

from __future__ import annotations

import dataclasses

from torch import nn

from ..families.dense import dense_flops
from .structured_linear import StructuredLinear

__all__ = ["LayerRow", "Summary", "summary"]


@dataclasses.dataclass(frozen=True)
class LayerRow:
    name: str
    family: str
    in_features: int
    out_features: int
    params: int
    flops: int
    dense_params: int
    dense_flops: int


@dataclasses.dataclass(frozen=True)
class Summary:
    """Rows (:class:`LayerRow`) and totals; ``str()`` is the table.

    Examples
    --------
    >>> s = kmatrix.nn.summary(torch.nn.Sequential(torch.nn.Linear(32, 32), torch.nn.Linear(32, 4)))
    >>> s.params, s.dense_params
    (1188, 1188)
    """

    rows: tuple[LayerRow, ...]
    model_params: int

    @property
    def params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def dense_params(self) -> int:
        return sum(r.dense_params for r in self.rows)

    @property
    def flops(self) -> int:
        return sum(r.flops for r in self.rows)

    @property
    def dense_flops(self) -> int:
        return sum(r.dense_flops for r in self.rows)

    def __str__(self) -> str:
        head = ("layer", "family", "shape", "params", "dense", "ratio", "flops", "dense flops", "ratio")
        body = [
            (r.name or "(model)", r.family, f"{r.in_features}→{r.out_features}", f"{r.params:,}",
             f"{r.dense_params:,}", f"{r.params / r.dense_params:.3f}", f"{r.flops:,}",
             f"{r.dense_flops:,}", f"{r.flops / r.dense_flops:.3f}")
            for r in self.rows
        ]
        if self.rows:
            body.append(("total", "", "", f"{self.params:,}", f"{self.dense_params:,}",
                         f"{self.params / self.dense_params:.3f}", f"{self.flops:,}", f"{self.dense_flops:,}",
                         f"{self.flops / self.dense_flops:.3f}"))
        widths = [max(len(str(row[i])) for row in [head, *body]) for i in range(len(head))]
        lines = ["  ".join(str(c).ljust(w) if i < 3 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
                 for row in [head, *body]]
        lines.insert(1, "  ".join("-" * w for w in widths))
        dense_model = self.model_params - self.params + self.dense_params
        lines.append(f"model parameters: {self.model_params:,} (with every listed layer dense: {dense_model:,})")
        return "\n".join(lines)

    __repr__ = __str__


def summary(model: nn.Module) -> Summary:
    """The table of ``model``'s linear layers (a shared layer listed once, under its first name).

    Examples
    --------
    >>> model = torch.nn.Sequential(kmatrix.nn.StructuredLinear(32, 32, "butterfly"), torch.nn.Linear(32, 4))
    >>> [(r.family, r.params) for r in kmatrix.nn.summary(model).rows]
    [('butterfly', 352), ('dense (nn.Linear)', 132)]
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    rows = []
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear):
            m, n = mod.out_features, mod.in_features
            cplx = mod.weight.is_complex()
            bias = 0 if mod.bias is None else m
            fl = dense_flops(m, n, cplx) + bias * (2 if cplx else 1)
            rows.append(LayerRow(name, "dense (nn.Linear)", n, m, m * n + bias, fl, m * n + bias, fl))
        elif isinstance(mod, StructuredLinear):
            m, n = mod.out_features, mod.in_features
            cplx = mod.weight.is_complex
            bias = 0 if mod.bias is None else m
            dfl = dense_flops(m, n, cplx) + bias * (2 if cplx else 1)
            rows.append(LayerRow(name, mod.family, n, m, mod.num_params, mod.flops, m * n + bias, dfl))
    total = sum(p.numel() for p in model.parameters())
    return Summary(tuple(rows), total)
