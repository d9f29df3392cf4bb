"""One example pair of operands for every registered composition rule (float64, small sizes,
random values), so the battery can check each rule: the operator shares θ (gradients reach both
operands) and ``kmatrix.merge`` gives the same matrix. ``missing_rule_examples()`` lists the
registered rules without an example: a new rule must add one here (the project's tests fail
otherwise)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..core.compose import _RULES
from ..core.structured import StructuredMatrix
from ..families import (
    LDR,
    Circulant,
    Dense,
    Diagonal,
    Fourier,
    Hankel,
    KMatrix,
    LowRank,
    Permutation,
    Sparse,
    SparsePlusLowRank,
    SparseProduct,
    Toeplitz,
)
from .battery import random_tensor

__all__ = ["RULE_EXAMPLES", "missing_rule_examples"]

F64 = torch.float64


def _v(k, g):
    return random_tensor((k,), F64, g)


def _dense(m, n, g):
    return Dense(random_tensor((m, n), F64, g))


def _diag(n, g):
    return Diagonal(_v(n, g))


def _perm(n, g):
    return Permutation(torch.randperm(n, generator=g), dtype=F64)


def _sparse(m, n, s, g):
    rows = torch.randint(0, m, (s,), generator=g)
    cols = torch.randint(0, n, (s,), generator=g)
    return Sparse(rows, cols, _v(s, g), (m, n))


def _lowrank(m, n, r, g):
    return LowRank(random_tensor((m, r), F64, g), random_tensor((r, n), F64, g))


def _splr(m, n, g):
    return SparsePlusLowRank(_sparse(m, n, 2 * n, g), _lowrank(m, n, 1, g))


def _toeplitz(m, n, g):
    c, r = _v(m, g), _v(n, g)
    r[0] = c[0]
    return Toeplitz(c, r)


def _hankel(m, n, g):
    c, r = _v(m, g), _v(n, g)
    r[0] = c[-1]
    return Hankel(c, r)


def _ldr(n, r, g):
    return LDR.toeplitz_like(random_tensor((n, r), F64, g), random_tensor((n, r), F64, g))


def _kmatrix(in_size, out_size, width, g):
    return KMatrix(in_size, out_size, width=width, dtype=F64, generator=g)


#: (op, left class, right class) -> gen -> (a, b), with the rule applying to (a, b).
RULE_EXAMPLES: dict[tuple[str, type, type], Callable[[torch.Generator], tuple]] = {
    ("add", Dense, StructuredMatrix): lambda g: (_dense(5, 4, g), _toeplitz(5, 4, g)),
    ("add", StructuredMatrix, Dense): lambda g: (_toeplitz(5, 4, g), _dense(5, 4, g)),
    ("matmul", Dense, Dense): lambda g: (_dense(5, 4, g), _dense(4, 3, g)),
    ("matmul", Dense, Diagonal): lambda g: (_dense(5, 4, g), _diag(4, g)),
    ("matmul", Diagonal, Dense): lambda g: (_diag(5, g), _dense(5, 4, g)),
    ("matmul", Permutation, Dense): lambda g: (_perm(5, g), _dense(5, 4, g)),
    ("matmul", Dense, Permutation): lambda g: (_dense(5, 4, g), _perm(4, g)),
    ("matmul", Diagonal, Diagonal): lambda g: (_diag(4, g), _diag(4, g)),
    ("add", Diagonal, Diagonal): lambda g: (_diag(4, g), _diag(4, g)),
    ("matmul", Permutation, Permutation): lambda g: (_perm(5, g), _perm(5, g)),
    ("matmul", Fourier, Fourier): lambda g: (Fourier(6, dtype=F64), Fourier(6, norm="ortho", dtype=F64)),
    ("add", Sparse, Sparse): lambda g: (_sparse(5, 4, 7, g), _sparse(5, 4, 6, g)),
    ("matmul", Diagonal, Sparse): lambda g: (_diag(5, g), _sparse(5, 4, 7, g)),
    ("matmul", Sparse, Diagonal): lambda g: (_sparse(5, 4, 7, g), _diag(4, g)),
    ("matmul", Permutation, Sparse): lambda g: (_perm(5, g), _sparse(5, 4, 7, g)),
    ("matmul", Sparse, Permutation): lambda g: (_sparse(5, 4, 7, g), _perm(4, g)),
    ("matmul", Sparse, Sparse): lambda g: (_sparse(5, 4, 7, g), _sparse(4, 6, 8, g)),
    ("matmul", SparseProduct, Sparse): lambda g: (
        SparseProduct([_sparse(5, 4, 6, g), _sparse(4, 3, 5, g)]), _sparse(3, 4, 6, g)),
    ("matmul", Sparse, SparseProduct): lambda g: (
        _sparse(5, 4, 6, g), SparseProduct([_sparse(4, 3, 5, g), _sparse(3, 4, 6, g)])),
    ("matmul", SparseProduct, SparseProduct): lambda g: (
        SparseProduct([_sparse(5, 4, 6, g), _sparse(4, 3, 5, g)]),
        SparseProduct([_sparse(3, 4, 5, g), _sparse(4, 2, 4, g)])),
    ("matmul", LowRank, LowRank): lambda g: (_lowrank(5, 4, 2, g), _lowrank(4, 6, 3, g)),
    ("matmul", LowRank, StructuredMatrix): lambda g: (_lowrank(5, 4, 1, g), _diag(4, g)),
    ("matmul", StructuredMatrix, LowRank): lambda g: (_diag(5, g), _lowrank(5, 4, 1, g)),
    ("add", LowRank, LowRank): lambda g: (_lowrank(5, 4, 1, g), _lowrank(5, 4, 2, g)),
    ("add", Sparse, LowRank): lambda g: (_sparse(5, 4, 7, g), _lowrank(5, 4, 1, g)),
    ("add", LowRank, Sparse): lambda g: (_lowrank(5, 4, 1, g), _sparse(5, 4, 7, g)),
    ("add", SparsePlusLowRank, SparsePlusLowRank): lambda g: (_splr(5, 4, g), _splr(5, 4, g)),
    ("add", SparsePlusLowRank, Sparse): lambda g: (_splr(5, 4, g), _sparse(5, 4, 6, g)),
    ("add", Sparse, SparsePlusLowRank): lambda g: (_sparse(5, 4, 6, g), _splr(5, 4, g)),
    ("add", SparsePlusLowRank, LowRank): lambda g: (_splr(5, 4, g), _lowrank(5, 4, 1, g)),
    ("add", LowRank, SparsePlusLowRank): lambda g: (_lowrank(5, 4, 1, g), _splr(5, 4, g)),
    ("add", Toeplitz, Toeplitz): lambda g: (_toeplitz(5, 4, g), _toeplitz(5, 4, g)),
    ("add", Hankel, Hankel): lambda g: (_hankel(5, 4, g), _hankel(5, 4, g)),
    ("add", Circulant, Circulant): lambda g: (Circulant(_v(6, g)), Circulant(_v(6, g))),
    ("matmul", Circulant, Circulant): lambda g: (Circulant(_v(6, g)), Circulant(_v(6, g))),
    ("add", LDR, LDR): lambda g: (_ldr(5, 2, g), _ldr(5, 1, g)),
    ("matmul", KMatrix, KMatrix): lambda g: (_kmatrix(4, 5, 1, g), _kmatrix(6, 4, 2, g)),
}


def missing_rule_examples() -> list[tuple[str, str, str]]:
    """The library's registered rules (op, left, right) without an entry in ``RULE_EXAMPLES``
    (rules registered by code outside the package are not counted).

    Examples
    --------
    Every composition rule kmatrix registers has an example in the rule tests:

    >>> kmatrix.testing.missing_rule_examples()
    []
    """
    return [
        (op, left.__name__, right.__name__)
        for op, table in _RULES.items()
        for (left, right) in table
        if (op, left, right) not in RULE_EXAMPLES
        and left.__module__.startswith("kmatrix.") and right.__module__.startswith("kmatrix.")
    ]
