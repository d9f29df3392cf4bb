"""Shared pieces of the network benchmarks (digits, charlm): structured layers at a matched
budget, atomic file output, seeding."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.files import atomic_savefig as _atomic_savefig
from ..core.files import atomic_writer
from ..nn import StructuredLinear, solve_budget

__all__ = ["atomic_savefig", "atomic_write_csv", "make_linear", "seed_all"]


def seed_all(seed: int) -> torch.Generator:
    """Seed Python, numpy and torch's global RNG; returns a torch.Generator seeded the same."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def make_linear(in_f: int, out_f: int, family: str, budget: int | None, generator, bias: bool = True) -> nn.Module:
    """``nn.Linear`` for ``"dense"`` (PyTorch's own layer, the baseline), otherwise a
    StructuredLinear of ``family`` with at most ``budget`` weight parameters (fixed-size
    families at their only size, which must fit)."""
    if family == "dense":
        lin = nn.Linear(in_f, out_f, bias=bias)
        return lin
    opts = solve_budget(family, in_f, out_f, budget) if budget is not None else {}
    return StructuredLinear(in_f, out_f, family, bias=bias, generator=generator, **opts)


def atomic_write_csv(path, header: list[str], rows: list[list[object]]) -> Path:
    """Write a CSV atomically (:func:`kmatrix.core.files.atomic_writer`), creating its folder."""
    path = Path(path)
    with atomic_writer(path, "w", mkdir=True, newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def atomic_savefig(fig, path) -> Path:
    """Save a matplotlib figure as PNG atomically (120 dpi, tight bounding box)."""
    return _atomic_savefig(fig, path, mkdir=True, format="png", dpi=120, bbox_inches="tight")
