"""Shared pieces of the network benchmarks (digits, charlm): structured layers at a matched
budget, atomic file output, seeding."""

from __future__ import annotations

import csv
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

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


def _tmp_in(path: Path, suffix: str):
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return tmp


def atomic_write_csv(path, header: list[str], rows: list[list[object]]) -> Path:
    """Write a CSV atomically (temp file in the same folder, then os.replace)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_in(path, ".csv")
    try:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def atomic_savefig(fig, path) -> Path:
    """Save a matplotlib figure as PNG atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_in(path, ".png")
    try:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path
