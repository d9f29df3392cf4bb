"""The learnable families, by name, with parameter budgets (survey Question 2.3, §4–5).

Each entry builds a freshly, randomly initialised n×n :class:`~kmatrix.StructuredMatrix` whose
number of parameters (``num_params``: scalars of its field, a complex scalar counts once, so a
complex target compares complex families on the same footing as a real one real families) is
the largest the family allows within a budget, so families are compared at matched counts:

============== ======================================= ===============================
name           configuration chosen for a budget b     parameters
============== ======================================= ===============================
dense          all entries (needs b ≥ n²)              n²
lowrank        rank r = ⌊b / 2n⌋                       2rn
sparse         s = b entries at random fixed positions s
sparse+lowrank s = b/2 entries + rank ⌊b / 4n⌋         s + 2rn
toeplitz       first column and row (needs b ≥ 2n−1)   2n − 1
circulant      first column (needs b ≥ n)              n
ldr            Toeplitz-like (Z_1, Z_−1), rank ⌊b/2n⌋  2rn
monarch        k blocks, k the largest power of two     2nk (n divisible by k)
               ≤ b/2n dividing n (default k ≈ √n)
butterfly      one butterfly B (needs b ≥ 2N log2 N)   2N log2 N
kmatrix        (BB*)^w, w = ⌊b / 4N log2 N⌋ (or given) 4wN log2 N
============== ======================================= ===============================

(N = 2^⌈log2 n⌉.) ``"kmatrix"`` follows the dtype it is given; for a real target
``complex_output=True`` learns ``RealPart`` of a complex K-matrix (its complex scalars then
count twice against the real budget).

Twiddle families train better when every 2×2 block starts and stays unitary for a while
(the targets of §5 are products of unitary blocks): :func:`unitary_twiddles` parametrises each
block as exp(A − Aᴴ) (closed form for 2×2) during a first phase.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..core.structured import StructuredMatrix
from ..core.validation import budget_count
from ..families import (
    LDR,
    Butterfly,
    Circulant,
    Dense,
    KMatrix,
    LowRank,
    Monarch,
    RealPart,
    Sparse,
    SparsePlusLowRank,
    Toeplitz,
)
from ..families._twiddle import padded_size

__all__ = ["FAMILIES", "Family", "family_names", "make_family", "unitary_twiddles"]


def _log2(n: int) -> int:
    return max(1, padded_size(n).bit_length() - 1)


def _randn(shape, dtype, gen, scale):
    return torch.randn(shape, dtype=dtype, generator=gen) * scale


@dataclass(frozen=True)
class Family:
    """A learnable family: ``build(n, budget, dtype, generator, width)`` -> a random n×n matrix
    of the family with at most ``budget`` parameters (scalars of dtype; None: the family's default
    size), or None when the budget is below what the family needs; ``twiddles``: trained with
    the unitary phase first (:func:`unitary_twiddles`). The entries of ``FAMILIES``.

    Examples
    --------
    >>> fam = kmatrix.learn.FAMILIES["monarch"]
    >>> fam.name, fam.twiddles
    ('monarch', False)
    >>> W = fam.build(16, 128, torch.float64, torch.Generator().manual_seed(0), None)
    >>> type(W).__name__, W.num_params            # k = 4 blocks: 2·n·k = 128 parameters
    ('Monarch', 128)
    >>> fam.build(16, 10, torch.float64, torch.Generator().manual_seed(0), None) is None
    True
    """

    name: str
    build: Callable
    twiddles: bool = False
    description: str = ""


def _dense(n, b, dtype, g, width):
    if b is not None and b < n * n:
        return None
    return Dense(_randn((n, n), dtype, g, 1 / math.sqrt(n)))


def _lowrank(n, b, dtype, g, width):
    r = max(1, int(math.log2(n))) if b is None else min(n, b // (2 * n))
    if r < 1:
        return None
    s = (r * n) ** -0.25
    return LowRank(_randn((n, r), dtype, g, s), _randn((r, n), dtype, g, s))


def _support(n, s, g):
    idx = torch.randperm(n * n, generator=g)[:s]
    return idx // n, idx % n


def _sparse(n, b, dtype, g, width):
    s = 4 * n * _log2(n) if b is None else min(b, n * n)
    if s < 1:
        return None
    rows, cols = _support(n, s, g)
    return Sparse(rows, cols, _randn((s,), dtype, g, math.sqrt(n / s)), (n, n))


def _sparse_lowrank(n, b, dtype, g, width):
    b = 4 * n * _log2(n) if b is None else b
    r = b // (4 * n)
    s = min(n * n, b - 2 * r * n)
    if r < 1 or s < 1:
        return None
    rows, cols = _support(n, s, g)
    sp = Sparse(rows, cols, _randn((s,), dtype, g, math.sqrt(n / (2 * s))), (n, n))
    sc = (r * n) ** -0.25 / 2**0.25
    return SparsePlusLowRank(sp, LowRank(_randn((n, r), dtype, g, sc), _randn((r, n), dtype, g, sc)))


def _toeplitz(n, b, dtype, g, width):
    if b is not None and b < 2 * n - 1:
        return None
    c = _randn((n,), dtype, g, 1 / math.sqrt(n))
    r = _randn((n,), dtype, g, 1 / math.sqrt(n))
    r[0] = c[0]
    return Toeplitz(c, r)


def _circulant(n, b, dtype, g, width):
    if b is not None and b < n:
        return None
    return Circulant(_randn((n,), dtype, g, 1 / math.sqrt(n)))


def _ldr(n, b, dtype, g, width):
    r = 2 if b is None else min(n, b // (2 * n))
    if r < 1:
        return None
    s = (r * n) ** -0.5
    return LDR.toeplitz_like(_randn((n, r), dtype, g, s), _randn((n, r), dtype, g, s), dtype=dtype)


def _monarch(n, b, dtype, g, width):
    # θ = 2·n·k (rank 1, k blocks of size n/k, n divisible by k); the paper's k = √n by default
    if b is None:
        k = 1 << max(0, (math.isqrt(n)).bit_length() - 1)
    else:
        k = 1 << max(0, (b // (2 * n)).bit_length() - 1) if b >= 2 * n else 0
        k = min(k, n)
    while k >= 1 and n % k:
        k //= 2
    if k < 1:
        return None
    return Monarch(n, nblocks=k, dtype=dtype, generator=g)


def _butterfly(n, b, dtype, g, width):
    N = padded_size(n)
    if b is not None and b < 2 * N * _log2(n):
        return None
    return Butterfly(n, init="random", dtype=dtype, generator=g)


def _kmatrix(n, b, dtype, g, width):
    N = padded_size(n)
    per = 4 * N * _log2(n)
    if width is None:
        width = 1 if b is None else b // per
    if width < 1:
        return None
    # unitary blocks: every factor unitary, so the start is well scaled at any width
    return KMatrix(n, width=width, init="unitary" if dtype.is_complex else "orthogonal", dtype=dtype, generator=g)


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in [
        Family("dense", _dense, False, "all n² entries (§2.2)"),
        Family("lowrank", _lowrank, False, "W = L R (Def 2.2)"),
        Family("sparse", _sparse, False, "s entries at fixed random positions (Def 2.3)"),
        Family("sparse+lowrank", _sparse_lowrank, False, "S + L R (§4.3)"),
        Family("toeplitz", _toeplitz, False, "Toeplitz (§4.5)"),
        Family("circulant", _circulant, False, "circulant (§4.5)"),
        Family("ldr", _ldr, False, "Toeplitz-like low displacement rank (Def 4.2)"),
        Family("monarch", _monarch, False, "Monarch P L Pᵀ R, k blocks (Dao et al. 2022)"),
        Family("butterfly", _butterfly, True, "one butterfly matrix (Def 5.3)"),
        Family("kmatrix", _kmatrix, True, "K-matrix (BB*)^w (Def 5.4)"),
    ]
}


def family_names() -> list[str]:
    """The names :func:`make_family` accepts (the keys of ``FAMILIES``).

    Examples
    --------
    >>> kmatrix.learn.family_names()[:4]
    ['dense', 'lowrank', 'sparse', 'sparse+lowrank']
    """
    return list(FAMILIES)


def make_family(
    name: str,
    n: int,
    *,
    budget: float | None = None,
    width: int | None = None,
    dtype: torch.dtype = torch.float64,
    complex_output: bool = False,
    generator: torch.Generator | None = None,
) -> StructuredMatrix | None:
    """A random n×n member of family ``name`` within ``budget`` parameters (scalars of
    ``dtype``; an int, or a float in (0, 1]: that fraction of n², the convention of
    :class:`kmatrix.nn.StructuredLinear`; None: the family's default size), or None when the
    budget is too small.
    ``width``: the K-matrix width (overrides the budget). ``complex_output``: for a real
    ``dtype``, RealPart of a complex matrix of the family (twice the parameters).

    Examples
    --------
    >>> W = kmatrix.learn.make_family("kmatrix", 8)
    >>> type(W).__name__, W.shape
    ('KMatrix', (8, 8))
    """
    if not isinstance(name, str) or name not in FAMILIES:
        raise ValueError(f"family: expected one of {', '.join(FAMILIES)}, got {name!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n: expected an integer ≥ 2, got {n!r}")
    if budget is not None:
        budget = budget_count(budget, n * n)
    if width is not None and (isinstance(width, bool) or not isinstance(width, int) or width < 1):
        raise ValueError(f"width: expected a positive integer, got {width!r}")
    if width is not None and name != "kmatrix":
        raise ValueError(f"width: only the kmatrix family has a width, got family {name!r}")
    if generator is None:
        generator = torch.Generator()
        generator.manual_seed(0)
    if complex_output and not dtype.is_complex:
        from ..core.validation import complex_dtype_of

        base_dtype = complex_dtype_of(dtype)
        b = None if budget is None else budget // 2  # complex parameters count twice
        M = FAMILIES[name].build(n, b, base_dtype, generator, width)
        return None if M is None else RealPart(M)
    return FAMILIES[name].build(n, budget, dtype, generator, width)


# ---------------------------------------------------------------------------------------------
# the unitary phase for twiddle families
# ---------------------------------------------------------------------------------------------
class UnitaryBlocks(nn.Module):
    """A ↦ exp(A − Aᴴ) on the trailing 2×2 blocks (unitary; orthogonal with det 1 over ℝ),
    in closed form: with S = A − Aᴴ, t = tr S / 2, M = S − tI and d² = −det M,
    exp(S) = eᵗ (cosh d · I + sinh(d)/d · M). O(1) per block."""

    def forward(self, A: torch.Tensor) -> torch.Tensor:
        S = A - A.conj().transpose(-1, -2)
        t = (S[..., 0, 0] + S[..., 1, 1]) / 2
        eye = torch.eye(2, dtype=S.dtype, device=S.device)
        M = S - t[..., None, None] * eye
        d2 = -(M[..., 0, 0] * M[..., 1, 1] - M[..., 0, 1] * M[..., 1, 0])
        d = torch.sqrt(d2) if d2.is_complex() else torch.sqrt(d2.to(torch.complex128 if d2.dtype == torch.float64 else torch.complex64))
        small = d.abs() < 1e-6
        safe = torch.where(small, torch.ones_like(d), d)
        sinhc = torch.where(small, 1 + d * d / 6, torch.sinh(safe) / safe)
        c = torch.cosh(d)
        if not A.is_complex():
            c, sinhc = c.real, sinhc.real
        return torch.exp(t)[..., None, None] * (c[..., None, None] * eye + sinhc[..., None, None] * M)


@contextlib.contextmanager
def unitary_twiddles(model: nn.Module, generator: torch.Generator | None = None):
    """Within the block, every Butterfly / KMatrix twiddle of ``model`` is the unitary
    exp(A − Aᴴ) of a fresh unconstrained tensor A with i.i.d. N(0, 1) entries (a random
    unitary start, drawn from ``generator``); on exit the current unitary values are written
    back as plain twiddle parameters (new ``nn.Parameter`` objects).

    Examples
    --------
    Inside the block the butterfly is unitary, whatever its twiddles were; after it, it keeps
    the last unitary value as ordinary (free) parameters:

    >>> B = kmatrix.Butterfly(8, dtype=torch.complex128)
    >>> with kmatrix.learn.unitary_twiddles(B, torch.Generator().manual_seed(0)):
    ...     D = B.to_dense()
    >>> I = torch.eye(8, dtype=torch.complex128)
    >>> torch.allclose(D.conj().T @ D, I), torch.allclose(B.to_dense(), D)
    (True, True)
    >>> type(B.twiddle).__name__
    'Parameter'
    """
    mods = [m for m in model.modules() if isinstance(m, (Butterfly, KMatrix))]
    try:
        for m in mods:
            parametrize.register_parametrization(m, "twiddle", UnitaryBlocks(), unsafe=True)
            orig = m.parametrizations.twiddle.original
            with torch.no_grad():
                orig.copy_(torch.randn(orig.shape, dtype=orig.dtype, generator=generator).to(orig.device))
        yield mods
    finally:
        for m in mods:
            if parametrize.is_parametrized(m, "twiddle"):
                parametrize.remove_parametrizations(m, "twiddle", leave_parametrized=True)
