"""Composition of structured matrices: transpose / adjoint views, sums, products, scaling.

The operators never cut the autograd graph: ``A + B``, ``A - B``, ``A @ B``, ``c * A``, ``A / c``
and ``-A`` build compositions that hold the operands themselves (θ shared, gradients reach the
operands' parameters). The generic forms are the flattening ``Sum`` / ``Product`` and ``Scaled``.

Merging into one family's parameters is explicit: :func:`merge` (``M.merged()``) applies the
registered rules of a small table (``@register_rule("add", Toeplitz, Toeplitz)``: Toeplitz +
Toeplitz is a Toeplitz, K-matrix @ K-matrix a K-matrix of the summed width, ...) and each
family's ``_merge_scale`` (c·W in the same family). A merging rule builds **new** parameters from
the operands' current values (detached): gradients of the merged matrix do not reach the
operands. A rule registered with ``shares=True`` returns a matrix holding the operands' own
parameters (or none, e.g. Permutation @ Permutation), so the operators use it too.
"""

from __future__ import annotations

import cmath
import itertools
import numbers
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .structured import StructuredMatrix

__all__ = [
    "Adjoint",
    "Product",
    "Scaled",
    "Sum",
    "Transposed",
    "combine",
    "merge",
    "register_rule",
    "scale",
]

#: op -> (left class, right class) -> (rule, shares)
_RULES: dict[str, dict[tuple[type, type], tuple[Callable, bool]]] = {"add": {}, "matmul": {}}


def register_rule(op: str, left: type, right: type, *, shares: bool = False):
    """Decorator: ``fn(a, b)`` combines ``a`` (an instance of ``left``) with ``b`` under ``op``
    (``"add"`` or ``"matmul"``) and returns a StructuredMatrix, or None to decline.

    ``shares=False`` (default): a *merging* rule, building new parameters from the operands'
    current values; only :func:`merge` applies it. ``shares=True``: the result holds the
    operands' own parameters (or has none), so gradients reach them and ``+`` / ``@`` apply it.

    Examples
    --------
    A merging rule for a new family with a diagonal parameter (applied by :func:`kmatrix.merge`):

    >>> class Doubling(kmatrix.StructuredMatrix):
    ...     # W = 2·diag(d)
    ...     def __init__(self, d):
    ...         super().__init__((len(d), len(d)), d.dtype)
    ...         self.d = torch.nn.Parameter(d.clone())
    ...     def _matvec(self, x):
    ...         return 2 * self.d * x
    ...     flops = 0
    ...     def _config(self):
    ...         return {"d": self.d.detach()}
    >>> @kmatrix.core.register_rule("add", Doubling, Doubling)
    ... def _add(a, b):
    ...     return Doubling(a.d.detach() + b.d.detach())
    >>> A = Doubling(torch.tensor([1.0, 2.0]))
    >>> type(A + A).__name__, type(kmatrix.merge(A + A)).__name__
    ('Sum', 'Doubling')
    >>> kmatrix.merge(A + A)(torch.ones(2)).tolist()
    [4.0, 8.0]
    """
    if op not in _RULES:
        raise ValueError(f"op: expected one of {sorted(_RULES)}, got {op!r}")

    def deco(fn):
        _RULES[op][(left, right)] = (fn, bool(shares))
        return fn

    return deco


def _check_shapes(op: str, a: StructuredMatrix, b: StructuredMatrix) -> None:
    if op == "matmul" and a.shape[1] != b.shape[0]:
        raise ValueError(f"other: cannot multiply {a.shape} @ {b.shape}: inner dimensions differ")
    if op == "add" and a.shape != b.shape:
        raise ValueError(f"other: cannot add matrices of shapes {a.shape} and {b.shape}")


def _apply_rule(op: str, a: StructuredMatrix, b: StructuredMatrix, merging: bool):
    """The first rule along the two MROs that returns a matrix (sharing rules only unless
    ``merging``), else None."""
    table = _RULES[op]
    for ta in type(a).__mro__:
        for tb in type(b).__mro__:
            hit = table.get((ta, tb))
            if hit is not None and (merging or hit[1]):
                out = hit[0](a, b)
                if out is not None:
                    return out
    return None


def combine(op: str, a: StructuredMatrix, b: StructuredMatrix) -> StructuredMatrix:
    """``a + b`` or ``a @ b``: a sharing rule if one applies, else the generic Sum / Product.
    Never makes new parameters (gradients reach ``a`` and ``b``).

    Examples
    --------
    >>> D = kmatrix.Diagonal(torch.tensor([1.0, 2.0]))
    >>> type(kmatrix.core.combine("add", D, D)).__name__
    'Sum'
    """
    _check_shapes(op, a, b)
    out = _apply_rule(op, a, b, merging=False)
    if out is not None:
        return out
    return Sum([a, b]) if op == "add" else Product([a, b])


def _check_scalar(scalar):
    """A Python/numpy number, or a 0-d tensor: kept as a tensor when it requires grad (so a
    learnable scale keeps its gradient), else converted to a Python number."""
    if isinstance(scalar, torch.Tensor):
        if scalar.ndim != 0:
            raise TypeError(f"scalar: expected a number or a 0-d tensor, got a tensor of shape {tuple(scalar.shape)}")
        if scalar.dtype == torch.bool:
            raise TypeError(f"scalar: expected a numeric tensor, got dtype {scalar.dtype}")
        if scalar.requires_grad:
            if not bool(torch.isfinite(scalar.detach())):
                raise ValueError(f"scalar: expected a finite number, got {scalar.item()}")
            return scalar
        scalar = scalar.item()
    if hasattr(scalar, "item") and not isinstance(scalar, (int, float, complex)):  # numpy scalars
        scalar = scalar.item()
    if isinstance(scalar, bool) or not isinstance(scalar, numbers.Number):
        raise TypeError(f"scalar: expected a number, got {type(scalar).__name__}")
    if not cmath.isfinite(scalar):
        raise ValueError(f"scalar: expected a finite number, got {scalar}")
    return scalar


def scale(a: StructuredMatrix, scalar) -> StructuredMatrix:
    """``scalar * a`` as a ``Scaled`` view sharing θ (a Scaled of a Scaled multiplies the
    constants). :func:`merge` turns it into the family's own form where one exists.

    Examples
    --------
    >>> D = kmatrix.Diagonal(torch.tensor([1.0, 2.0]))
    >>> kmatrix.core.scale(D, 3.0).to_dense().diagonal().tolist()
    [3.0, 6.0]
    """
    scalar = _check_scalar(scalar)
    if isinstance(a, Scaled):
        return Scaled(a.scalar * scalar, a.base)
    return Scaled(scalar, a)


def merge(M: StructuredMatrix) -> StructuredMatrix:
    """The matrix M with every composition merged where a family rule exists (**new
    parameters**, built from the current values; gradients of the result do not reach M's).

    Scaled → the family's c·W (``_merge_scale``); Product → adjacent factors merged by the
    ``"matmul"`` rules (K-matrix @ K-matrix: widths add; Circulant @ Circulant; LowRank
    products; Diagonal / Permutation absorbed into Dense / Sparse; Permutation @ Permutation
    ...); Sum → pairs merged by the ``"add"`` rules (Toeplitz + Toeplitz, Sparse + Sparse,
    LowRank + LowRank, Dense + anything, ...). Parts without a rule are kept as they are
    (shared with M); a leaf family is returned unchanged. Equal to M up to rounding.

    Examples
    --------
    >>> A = kmatrix.KMatrix(16, width=1)
    >>> B = kmatrix.KMatrix(16, width=2)
    >>> M = kmatrix.merge(A @ B)                   # widths add; new parameters
    >>> type(M).__name__, M.width
    ('KMatrix', 3)
    >>> x = torch.randn(2, 16)
    >>> torch.allclose(M(x), A(B(x)), atol=1e-5)
    True
    """
    if not isinstance(M, StructuredMatrix):
        raise TypeError(f"M: expected a StructuredMatrix, got {type(M).__name__}")
    return M._merged()


def _merge_list(items: list, op: str, adjacent: bool) -> tuple[list, bool]:
    """Repeatedly merge pairs of ``items`` by the rules of ``op`` (adjacent pairs for a
    product, any pair for a sum); a rule result that is itself a Sum / Product is no merge."""
    items = list(items)
    changed = False
    progress = True
    while progress and len(items) > 1:
        progress = False
        pairs = (
            [(i, i + 1) for i in range(len(items) - 1)]
            if adjacent
            else [(i, j) for i in range(len(items)) for j in range(i + 1, len(items))]
        )
        for i, j in pairs:
            out = _apply_rule(op, items[i], items[j], merging=True)
            if out is not None and not isinstance(out, (Sum, Product)):
                items[i] = out
                del items[j]
                changed = progress = True
                break
    return items, changed


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

    @property
    def computes_in_input_precision(self) -> bool:
        """As the base: a view of a parameter-free family (Fourier, Permutation) computes in the
        input's precision too."""
        return self.base.computes_in_input_precision

    def _config(self):
        return {"base": self.base}


class Transposed(_View):
    """Wᵀ as a view of W: product by ``W._rmatvec``. Cost: that of Wᵀy.

    Examples
    --------
    >>> K = kmatrix.KMatrix(8, dtype=torch.float64)
    >>> type(K.T).__name__, torch.allclose(K.T.to_dense(), K.to_dense().T)
    ('Transposed', True)
    """

    def _matvec(self, x):
        return self.base._rmatvec(x)

    def _rmatvec(self, y):
        return self.base._matvec(y)

    def _transpose(self):
        return self.base

    def _merged(self):
        base = self.base._merged()
        return self if base is self.base else base.T

    def to_dense(self):
        return self.base.to_dense().transpose(0, 1)


class Adjoint(_View):
    """Wᴴ as a view of W: product by ``W._hmatvec``. Cost: that of Wᴴy.

    Examples
    --------
    >>> K = kmatrix.KMatrix(8, dtype=torch.complex128)
    >>> torch.allclose(K.H.to_dense(), K.to_dense().conj().T)
    True
    """

    def _matvec(self, x):
        return self.base._hmatvec(x)

    def _hmatvec(self, y):
        return self.base._matvec(y)

    def _adjoint(self):
        return self.base

    def _merged(self):
        base = self.base._merged()
        return self if base is self.base else base.H

    def to_dense(self):
        return self.base.to_dense().transpose(0, 1).conj()


class Sum(StructuredMatrix):
    """W = Σ_k W_k (flattened: a Sum inside a Sum is spliced in). Cost: Σ flops(W_k) + (K−1)m
    additions (doubled over ℂ).

    Examples
    --------
    >>> D = kmatrix.Diagonal(torch.tensor([1.0, 2.0]))
    >>> S = D + 2 * D
    >>> type(S).__name__, len(S.terms), S.to_dense().diagonal().tolist()
    ('Sum', 2, [3.0, 6.0])
    """

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

    def _merged(self):
        terms = [t._merged() for t in self.terms]
        items, changed = _merge_list(terms, "add", adjacent=False)
        if not changed and all(a is b for a, b in zip(terms, self.terms)):
            return self
        return items[0] if len(items) == 1 else Sum(items)

    def to_dense(self):
        return sum(t.to_dense().to(self.dtype) for t in self.terms)

    def _config(self):
        return {"terms": list(self.terms)}


class Product(StructuredMatrix):
    """W = W_1 W_2 ⋯ W_K (W_K meets the vector first; nested Products are spliced in).
    Cost: Σ flops(W_k).

    Examples
    --------
    >>> D = kmatrix.Diagonal(torch.tensor([1.0, 2.0]))
    >>> P = kmatrix.Permutation(torch.tensor([1, 0]))
    >>> M = D @ P                                 # P meets the vector first
    >>> type(M).__name__, M(torch.tensor([10.0, 20.0])).tolist()
    ('Product', [20.0, 20.0])
    """

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

    def _merged(self):
        factors = [f._merged() for f in self.factors]
        items, changed = _merge_list(factors, "matmul", adjacent=True)
        if not changed and all(a is b for a, b in zip(factors, self.factors)):
            return self
        return items[0] if len(items) == 1 else Product(items)

    def to_dense(self):
        out = None
        for f in self.factors:
            d = f.to_dense().to(self.dtype)
            out = d if out is None else out @ d
        return out

    def _config(self):
        return {"factors": list(self.factors)}


class Scaled(StructuredMatrix):
    """W = c·A for a scalar c: a Python number (constant), or a 0-d tensor that requires grad
    (a learnable scale: its gradient is kept). Shares θ with A. Cost: flops(A) + m (×6 over ℂ).

    Examples
    --------
    >>> D = kmatrix.Diagonal(torch.tensor([1.0, 2.0]))
    >>> M = 0.5 * D
    >>> type(M).__name__, M.to_dense().diagonal().tolist()
    ('Scaled', [0.5, 1.0])
    >>> kmatrix.merge(M).diag.tolist()            # one Diagonal, new parameters
    [0.5, 1.0]
    """

    def __init__(self, scalar: Any, base: StructuredMatrix):
        if not isinstance(base, StructuredMatrix):
            raise TypeError(f"base: expected a StructuredMatrix, got {type(base).__name__}")
        scalar = _check_scalar(scalar)
        super().__init__(base.shape, self._dtype_for(scalar, base), base.device)
        self.scalar = scalar
        self.base = base

    @staticmethod
    def _dtype_for(scalar, base) -> torch.dtype:
        is_complex = scalar.is_complex() if isinstance(scalar, torch.Tensor) else isinstance(scalar, complex)
        if is_complex:
            return torch.promote_types(base.dtype, torch.complex64)
        return base.dtype

    @property
    def dtype(self):
        return self._dtype_for(self.scalar, self.base)

    @property
    def flops(self) -> int:
        return self.base.flops + self.shape[0] * (6 if self.is_complex else 1)

    def _matvec(self, x):
        return self.scalar * self.base._apply_rows(x, self.base._matvec)

    def _transpose(self):
        return Scaled(self.scalar, self.base.T)

    def _adjoint(self):
        s = self.scalar
        s = s.conj() if isinstance(s, torch.Tensor) else (s.conjugate() if isinstance(s, complex) else s)
        return Scaled(s, self.base.H)

    def _merged(self):
        base = self.base._merged()
        c = self.scalar.detach().item() if isinstance(self.scalar, torch.Tensor) else self.scalar
        out = base._merge_scale(c)
        if out is not None:
            return out
        return self if base is self.base else Scaled(self.scalar, base)

    def to_dense(self):
        return self.scalar * self.base.to_dense().to(self.dtype)

    def _config(self):
        return {"scalar": self.scalar, "base": self.base}
