"""Argument handling shared by the transform constructors."""

from __future__ import annotations

import torch

from ..core.validation import as_tensor, check_finite, check_positive_int

__all__ = ["check_size", "resolve_dtype", "values_and_dtype"]


def check_size(n, name: str = "n") -> int:
    return check_positive_int(n, name)


def resolve_dtype(dtype: torch.dtype | None, default: torch.dtype | None = None) -> torch.dtype:
    """``dtype`` checked (floating or complex), or ``default`` / torch's default dtype."""
    if dtype is None:
        return default if default is not None else torch.get_default_dtype()
    if not isinstance(dtype, torch.dtype) or not (dtype.is_floating_point or dtype.is_complex):
        raise TypeError(f"dtype: expected a floating-point or complex torch.dtype, got {dtype!r}")
    return dtype


def values_and_dtype(value, name: str, dtype: torch.dtype | None) -> tuple[torch.Tensor, torch.dtype]:
    """A 1-d vector of values (complex128 copy for construction) and the dtype of the result:
    ``dtype`` if given (a complex vector needs a complex dtype), else the vector's own dtype
    (Python lists: torch's default dtype)."""
    t = as_tensor(value, name, ndim=1) if dtype is None else as_tensor(value, name, dtype=dtype, ndim=1)
    check_finite(t, name)
    out = resolve_dtype(dtype, t.dtype)
    if t.is_complex() and not out.is_complex:
        raise TypeError(f"{name}: complex values need a complex dtype, got dtype={out}")
    return t.detach().to(torch.complex128).cpu(), out
