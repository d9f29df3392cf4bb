"""Composition of structured matrices: transpose / adjoint views, sums, products, scaling.

``A + B``, ``A @ B`` and ``c * A`` dispatch through a small rule table: a family registers how
it combines with another (``@register_rule("matmul", Permutation, Permutation)``) and the
first rule along the two classes' MROs that returns a matrix wins; otherwise the generic,
flattening ``Sum`` / ``Product`` is built. Generic compositions share θ with their operands
(gradients flow to them); a rule that merges two families builds new parameters from the
operands' current values.
"""

from __future__ import annotations

import cmath
import itertools
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .structured import StructuredMatrix

__all__ = ["Adjoint", "Product", "Scaled", "Sum", "Transposed", "combine", "register_rule", "scale"]

_RULES: dict[str, dict[tuple[type, type], Callable]] = {"add": {}, "matmul": {}}


def register_rule(op: str, left: type, right: type):
    """Decorator: ``fn(a, b)`` combines ``a`` (an instance of ``left``) with ``b`` under ``op``
    (``"add"`` or ``"matmul"``) and returns a StructuredMatrix, or None to decline."""
    if op not in _RULES:
        raise ValueError(f"op: expected one of {sorted(_RULES)}, got {op!r}")

    def deco(fn):
        _RULES[op][(left, right)] = fn
        return fn

    return deco


def _check_shapes(op: str, a: StructuredMatrix, b: StructuredMatrix) -> None:
    if op == "matmul" and a.shape[1] != b.shape[0]:
        raise ValueError(f"other: cannot multiply {a.shape} @ {b.shape}: inner dimensions differ")
    if op == "add" and a.shape != b.shape:
        raise ValueError(f"other: cannot add matrices of shapes {a.shape} and {b.shape}")


def combine(op: str, a: StructuredMatrix, b: StructuredMatrix) -> StructuredMatrix:
    """``a + b`` or ``a @ b`` by the most specific registered rule, else Sum / Product."""
    _check_shapes(op, a, b)
    table = _RULES[op]
    for ta in type(a).__mro__:
        for tb in type(b).__mro__:
            rule = table.get((ta, tb))
            if rule is not None:
                out = rule(a, b)
                if out is not None:
                    return out
    return Sum([a, b]) if op == "add" else Product([a, b])


def scale(a: StructuredMatrix, scalar) -> StructuredMatrix:
    """``scalar * a``: the family's own ``_scale`` if it has one, else ``Scaled``."""
    if isinstance(scalar, torch.Tensor):
        scalar = scalar.item()
    if not cmath.isfinite(scalar):
        raise ValueError(f"scalar: expected a finite number, got {scalar}")
    out = a._scale(scalar)
    return out if out is not None else Scaled(scalar, a)


def _result_dtype(mats) -> torch.dtype:
    dt = mats[0].dtype
    for m in mats[1:]:
        dt = torch.promote_types(dt, m.dtype)
    return dt


class _View(StructuredMatrix):
    """A matrix derived from ``base`` without copying it (shares θ): shape n×m, same dtype and
    flops as the base."""

    def __init__(self, base: StructuredMatrix):
        super().__init__((base.shape[1], base.shape[0]), base.dtype, base.device)
        self.base = base

    @property
    def dtype(self):
        return self.base.dtype

    @property
    def flops(self) -> int:
        return self.base.flops

    def _config(self):
        return {"base": self.base}


class Transposed(_View):
    """Wᵀ as a view of W: product by ``W._rmatvec``. Cost: that of Wᵀy."""

    def _matvec(self, x):
        return self.base._rmatvec(x)

    def _rmatvec(self, y):
        return self.base._matvec(y)

    def _transpose(self):
        return self.base

    def to_dense(self):
        return self.base.to_dense().transpose(0, 1)


class Adjoint(_View):
    """Wᴴ as a view of W: product by ``W._hmatvec``. Cost: that of Wᴴy."""

    def _matvec(self, x):
        return self.base._hmatvec(x)

    def _hmatvec(self, y):
        return self.base._matvec(y)

    def _adjoint(self):
        return self.base

    def to_dense(self):
        return self.base.to_dense().transpose(0, 1).conj()


class Sum(StructuredMatrix):
    """W = Σ_k W_k (flattened: a Sum inside a Sum is spliced in). Cost: Σ flops(W_k) + (K−1)m
    additions (doubled over ℂ)."""

    def __init__(self, terms: list[StructuredMatrix]):
        flat: list[StructuredMatrix] = []
        for t in terms:
            if not isinstance(t, StructuredMatrix):
                raise TypeError(f"terms: expected StructuredMatrix entries, got {type(t).__name__}")
            flat.extend(t.terms if isinstance(t, Sum) else [t])
        if not flat:
            raise ValueError("terms: expected at least one matrix")
        for t in flat[1:]:
            if t.shape != flat[0].shape:
                raise ValueError(f"terms: shapes differ: {flat[0].shape} and {t.shape}")
        super().__init__(flat[0].shape, _result_dtype(flat), flat[0].device)
        self.terms = nn.ModuleList(flat)

    @property
    def dtype(self):
        return _result_dtype(list(self.terms))

    @property
    def flops(self) -> int:
        adds = (len(self.terms) - 1) * self.shape[0] * (2 if self.is_complex else 1)
        return sum(t.flops for t in self.terms) + adds

    def _matvec(self, x):
        out = None
        for t in self.terms:
            y = t._apply_rows(x, t._matvec)
            out = y if out is None else out + y
        return out

    def _transpose(self):
        return Sum([t.T for t in self.terms])

    def _adjoint(self):
        return Sum([t.H for t in self.terms])

    def to_dense(self):
        return sum(t.to_dense().to(self.dtype) for t in self.terms)

    def _config(self):
        return {"terms": list(self.terms)}


class Product(StructuredMatrix):
    """W = W_1 W_2 ⋯ W_K (W_K meets the vector first; nested Products are spliced in).
    Cost: Σ flops(W_k)."""

    def __init__(self, factors: list[StructuredMatrix]):
        flat: list[StructuredMatrix] = []
        for f in factors:
            if not isinstance(f, StructuredMatrix):
                raise TypeError(f"factors: expected StructuredMatrix entries, got {type(f).__name__}")
            flat.extend(f.factors if isinstance(f, Product) else [f])
        if not flat:
            raise ValueError("factors: expected at least one matrix")
        for a, b in itertools.pairwise(flat):
            if a.shape[1] != b.shape[0]:
                raise ValueError(f"factors: cannot chain {a.shape} @ {b.shape}: inner dimensions differ")
        super().__init__((flat[0].shape[0], flat[-1].shape[1]), _result_dtype(flat), flat[0].device)
        self.factors = nn.ModuleList(flat)

    @property
    def dtype(self):
        return _result_dtype(list(self.factors))

    @property
    def flops(self) -> int:
        return sum(f.flops for f in self.factors)

    def _matvec(self, x):
        for f in reversed(self.factors):
            x = f._apply_rows(x, f._matvec)
        return x

    def _transpose(self):
        return Product([f.T for f in reversed(self.factors)])

    def _adjoint(self):
        return Product([f.H for f in reversed(self.factors)])

    def to_dense(self):
        out = None
        for f in self.factors:
            d = f.to_dense().to(self.dtype)
            out = d if out is None else out @ d
        return out

    def _config(self):
        return {"factors": list(self.factors)}


class Scaled(StructuredMatrix):
    """W = c·A for a constant scalar c (not a parameter). Cost: flops(A) + m (×6 over ℂ)."""

    def __init__(self, scalar: Any, base: StructuredMatrix):
        if isinstance(scalar, torch.Tensor):
            scalar = scalar.item()
        if not isinstance(scalar, (int, float, complex)):
            raise TypeError(f"scalar: expected a number, got {type(scalar).__name__}")
        if not cmath.isfinite(scalar):
            raise ValueError(f"scalar: expected a finite number, got {scalar}")
        dtype = base.dtype
        if isinstance(scalar, complex):
            dtype = torch.promote_types(dtype, torch.complex64)
        super().__init__(base.shape, dtype, base.device)
        self.scalar = scalar
        self.base = base

    @property
    def dtype(self):
        if isinstance(self.scalar, complex):
            return torch.promote_types(self.base.dtype, torch.complex64)
        return self.base.dtype

    @property
    def flops(self) -> int:
        return self.base.flops + self.shape[0] * (6 if self.is_complex else 1)

    def _matvec(self, x):
        return self.scalar * self.base._apply_rows(x, self.base._matvec)

    def _transpose(self):
        return Scaled(self.scalar, self.base.T)

    def _adjoint(self):
        s = self.scalar.conjugate() if isinstance(self.scalar, complex) else self.scalar
        return Scaled(s, self.base.H)

    def _scale(self, scalar):
        return Scaled(self.scalar * scalar, self.base)

    def to_dense(self):
        return self.scalar * self.base.to_dense().to(self.dtype)

    def _config(self):
        return {"scalar": self.scalar, "base": self.base}
