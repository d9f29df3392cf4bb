"""Argument checks shared by every family.

Each helper raises ``ValueError`` / ``TypeError`` whose message names the argument and says
what was expected, so bad input never reaches a kernel and never fails deep in a stack trace.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch

__all__ = [
    "as_tensor",
    "budget_count",
    "check_budget_value",
    "check_distinct",
    "check_finite",
    "check_positive_int",
    "check_power_of_two",
    "complex_dtype_of",
    "real_dtype_of",
]


def real_dtype_of(dtype: torch.dtype) -> torch.dtype:
    """The real dtype of the same precision (complex128 -> float64)."""
    return dtype.to_real() if dtype.is_complex else dtype


def complex_dtype_of(dtype: torch.dtype) -> torch.dtype:
    """The complex dtype of the same precision (float32 -> complex64)."""
    if dtype.is_complex:
        return dtype
    if dtype == torch.float64:
        return torch.complex128
    if dtype in (torch.float32, torch.float16, torch.bfloat16):
        return torch.complex64
    raise TypeError(f"no complex counterpart for dtype {dtype}")


def as_tensor(
    value: Any,
    name: str,
    *,
    dtype: torch.dtype | None = None,
    ndim: int | None = None,
    allow_empty: bool = False,
    integer: bool = False,
) -> torch.Tensor:
    """Convert ``value`` (tensor, array, list) to a tensor and check it.

    Floating/complex values keep their dtype unless ``dtype`` is given; Python and numpy
    floats default to torch's default dtype only when they carry no dtype of their own
    (numpy float64 stays float64). ``integer=True`` asks for an index tensor (int64).
    """
    if isinstance(value, torch.Tensor):
        t = value
    else:
        try:
            arr = np.asarray(value)
        except Exception as exc:  # pragma: no cover - numpy's own message is kept
            raise TypeError(f"{name}: expected a tensor or array-like, got {type(value).__name__}") from exc
        if arr.dtype == object:
            raise TypeError(f"{name}: expected a numeric array, got objects ({type(value).__name__})")
        if arr.dtype.kind not in "biufc":
            raise TypeError(f"{name}: expected a numeric array, got dtype {arr.dtype} ({type(value).__name__})")
        t = torch.from_numpy(np.ascontiguousarray(arr))
    if integer:
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise TypeError(f"{name}: expected integer indices, got dtype {t.dtype}")
        t = t.to(torch.int64)
    else:
        if not (t.is_floating_point() or t.is_complex()) and dtype is None:
            raise TypeError(
                f"{name}: expected a floating-point or complex tensor, got dtype {t.dtype} "
                "(pass dtype= or convert the values to float)"
            )
        if dtype is not None:
            if t.is_complex() and not dtype.is_complex:
                raise TypeError(f"{name}: complex values cannot be stored in real dtype {dtype}")
            if not (dtype.is_floating_point or dtype.is_complex):
                raise TypeError(f"dtype: expected a floating-point or complex dtype, got {dtype}")
            t = t.to(dtype)
    if ndim is not None and t.ndim != ndim:
        raise ValueError(f"{name}: expected a {ndim}-d tensor, got shape {tuple(t.shape)}")
    if not allow_empty and t.numel() == 0:
        raise ValueError(f"{name}: expected a non-empty tensor, got shape {tuple(t.shape)}")
    return t


def check_finite(t: torch.Tensor, name: str) -> None:
    """Raise ValueError if ``t`` holds NaN or infinity."""
    if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name}: expected finite values, found NaN or infinity")


def check_positive_int(value: Any, name: str) -> int:
    """Return ``value`` as an int, raising if it is not a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected a positive integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name}: expected a positive integer, got {value}")
    return int(value)


BUDGET_FORMS = ("an int (number of weight parameters) or a float in (0, 1] (fraction of the dense "
                "out·in count)")


def check_budget_value(budget: Any, name: str = "budget") -> int | float:
    """The one budget convention of the public API (``StructuredLinear``, ``KLinear``,
    ``solve_budget``, ``replace_linear``, ``kmatrix.nn.compress``, ``kmatrix.learn``): an
    **int** ≥ 1 is a number of weight parameters, a **float** in (0, 1] a fraction of the dense
    count (1.0: as many as the dense weight). Returns the int or the float; a bool, a
    non-number, an int ≤ 0 or a float outside (0, 1] (e.g. ``20000.0``: pass ``20000``) raises
    an error naming ``name``."""
    if isinstance(budget, bool) or not isinstance(budget, numbers.Real):
        raise TypeError(f"{name}: expected {BUDGET_FORMS}, got {budget!r}")
    if isinstance(budget, numbers.Integral):
        if budget <= 0:
            raise ValueError(f"{name}: expected a positive integer number of parameters (or a float in (0, 1]), got {budget}")
        return int(budget)
    b = float(budget)
    if not 0.0 < b <= 1.0:  # also NaN
        hint = f" (for {int(b)} parameters pass the int {int(b)})" if b > 1 and b.is_integer() else ""
        raise ValueError(f"{name}: a float budget is a fraction of the dense count, expected in (0, 1], "
                         f"got {budget}{hint}")
    return b


def budget_count(budget: Any, dense: int, name: str = "budget") -> int:
    """``budget`` (see :func:`check_budget_value`) as a number of parameters for a weight of
    ``dense`` entries: the int itself, or ⌊fraction·dense⌋ (at least 1)."""
    b = check_budget_value(budget, name)
    return b if isinstance(b, int) else max(1, math.floor(b * dense))


def check_power_of_two(value: Any, name: str) -> int:
    """Return ``value`` as an int, raising if it is not a power of two."""
    v = check_positive_int(value, name)
    if v & (v - 1):
        raise ValueError(f"{name}: expected a power of two, got {v}")
    return v


def check_distinct(t: torch.Tensor, name: str) -> None:
    """Raise ValueError naming two equal entries of ``t`` (exact equality; O(n log n) by sorting,
    so it is cheap at any size)."""
    flat = t.detach().reshape(-1)
    if flat.numel() < 2:
        return
    keys = torch.view_as_real(flat) if flat.is_complex() else flat[:, None]
    _, inverse, counts = torch.unique(keys, dim=0, return_inverse=True, return_counts=True)
    if bool((counts > 1).any()):
        dup = int(torch.nonzero(counts > 1)[0, 0])
        i, j = (int(v) for v in torch.nonzero(inverse == dup)[:2, 0])
        raise ValueError(f"{name}: expected distinct entries, but {name}[{i}] == {name}[{j}]")
