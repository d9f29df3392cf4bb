"""Contracts every structured matrix satisfies, as reusable check functions.

Tolerances (``TOLERANCES``): the error of a product y = W x is measured normwise,
‖ŷ − y‖ / (‖W‖_F ‖x‖), against a float64/complex128 dense reference. A backward-stable
O(n log n) algorithm has error ≲ c·log2(n)·ε with ε the unit roundoff (6e-8 in float32,
1.1e-16 in float64); we allow 2e-5 in single and 1e-11 in double precision, which leaves a
margin of ~100 over what the fast paths show at the battery's sizes. A family whose fast path is
less stable (Vandermonde, Cauchy) states its own tolerance in its zoo entry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch

from ..core.structured import StructuredMatrix

__all__ = ["ALL_DTYPES", "TOLERANCES", "ZooEntry", "normwise_error", "random_tensor", "tolerance"]

TOLERANCES = {
    torch.float32: 2e-5,
    torch.complex64: 2e-5,
    torch.float64: 1e-11,
    torch.complex128: 1e-11,
}

ALL_DTYPES = (torch.float32, torch.float64, torch.complex64, torch.complex128)


@dataclasses.dataclass
class ZooEntry:
    """One family (or configuration) in the shared battery.

    ``make(n, dtype, generator) -> StructuredMatrix``: a random instance of size about n.
    ``reference(M) -> tensor``: its dense matrix computed independently of the family's code
    (scipy, numpy, explicit formula), in complex128 or float64.
    ``bench``: whether ``kmatrix bench families`` times it (one entry per family configuration).

    Examples
    --------
    >>> entry = kmatrix.testing.ZooEntry(
    ...     "Diagonal",
    ...     lambda n, dtype, gen: kmatrix.Diagonal(torch.randn(n, dtype=dtype, generator=gen)),
    ...     lambda M: torch.diag(M.diag.detach()).to(torch.complex128))
    >>> M = entry.make(4, torch.float64, torch.Generator().manual_seed(0))
    >>> torch.equal(entry.reference(M).real, M.to_dense()), entry.tolerance(torch.float32)
    (True, 2e-05)
    """

    name: str
    make: Callable[[int, torch.dtype, torch.Generator], StructuredMatrix]
    reference: Callable[[StructuredMatrix], torch.Tensor]
    dtypes: tuple = ALL_DTYPES
    sizes: tuple = (4, 16)
    grad_size: int = 4
    tol: dict | None = None
    gradcheck: bool = True
    has_params: bool = True
    #: False for variants (rectangular, stacked, other operators) of a family that another entry
    #: already represents in ``kmatrix bench families`` and the demo's timing table.
    bench: bool = True
    #: optional independent count of ``M.flops`` (from the definition, not the library's helpers)
    flops: Callable[[StructuredMatrix], int] | None = None

    def tolerance(self, dtype: torch.dtype) -> float:
        if self.tol and dtype in self.tol:
            return self.tol[dtype]
        return TOLERANCES[dtype]


def dot_flops(rows: int, inner: int, is_complex: bool) -> int:
    """Real flops of ``rows`` inner products of length ``inner`` counted from the definition:
    ``inner`` multiplications and ``inner − 1`` additions each; over ℂ a multiplication is 6 real
    flops (4 multiplications, 2 additions) and an addition 2. For the zoo's independent flops
    counts (``ZooEntry.flops``)."""
    mul, add = (6, 2) if is_complex else (1, 1)
    return rows * (inner * mul + (inner - 1) * add) if inner > 0 else 0


def tolerance(dtype: torch.dtype) -> float:
    """The battery's default normwise tolerance for a product computed in ``dtype``
    (``TOLERANCES``: 2e-5 in single, 1e-11 in double precision;
    ``help("kmatrix.testing.battery")``).

    Examples
    --------
    >>> kmatrix.testing.tolerance(torch.float32), kmatrix.testing.tolerance(torch.complex128)
    (2e-05, 1e-11)
    """
    return TOLERANCES[dtype]


def random_tensor(shape, dtype, generator=None) -> torch.Tensor:
    """Standard normal entries (complex: real and imaginary parts each N(0, 1/2)).

    Examples
    --------
    >>> x = kmatrix.testing.random_tensor((2, 3), torch.complex64, torch.Generator().manual_seed(0))
    >>> x.shape, x.dtype
    (torch.Size([2, 3]), torch.complex64)
    """
    if dtype.is_complex:
        real = dtype.to_real()
        re = torch.randn(shape, dtype=real, generator=generator)
        im = torch.randn(shape, dtype=real, generator=generator)
        return torch.complex(re, im) / 2**0.5
    return torch.randn(shape, dtype=dtype, generator=generator)


def normwise_error(y_hat: torch.Tensor, y_ref: torch.Tensor, W_ref: torch.Tensor, x: torch.Tensor) -> float:
    """‖ŷ − y‖ / (‖W‖_F ‖x‖), computed in double precision (batched: Frobenius over all).

    Examples
    --------
    >>> W = torch.randn(4, 4, dtype=torch.float64)
    >>> x = torch.randn(4, dtype=torch.float64)
    >>> err = kmatrix.testing.normwise_error((W @ x).float(), W @ x, W, x)
    >>> err < kmatrix.testing.tolerance(torch.float32)
    True
    """
    wide = torch.complex128 if (y_hat.is_complex() or y_ref.is_complex()) else torch.float64
    diff = (y_hat.detach().to(wide) - y_ref.detach().to(wide)).norm()
    scale = W_ref.detach().to(wide).norm() * x.detach().to(wide).norm()
    return float(diff / scale) if scale > 0 else float(diff)
