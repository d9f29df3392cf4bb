"""The learnable families at a parameter budget (survey Question 2.3, §4–5), drawn from the one
family registry :data:`kmatrix.nn.FAMILIES` (``kmatrix.learn.FAMILIES`` is the same dict).

:func:`make_family` builds a freshly, randomly initialised n×n member (the registry's
``build``, generator-driven). With a budget b (``num_params``: scalars of its field, a complex
scalar counts once, so a complex target compares complex families on the same footing as a real
one real families) it is the largest member within b (:func:`kmatrix.nn.solve_budget`: lowrank
r = ⌊b/2n⌋, sparse s = b, sparse_lowrank rank ⌊b/4n⌋ + the rest as entries, ldr r = ⌊b/2n⌋,
monarch the rank at √n blocks, kmatrix w = ⌊b / 4N log2 N⌋; dense, toeplitz, circulant and
butterfly have one size), or None when b is below the family's smallest member. Without a budget
it is the registry's default-size member (``FamilySpec.default``: lowrank r = log2 n, sparse
4n log2 n entries, sparse_lowrank 2n log2 n entries + rank log2 n, ldr r = 2, monarch √n blocks,
kmatrix w = 1). N = 2^⌈log2 n⌉.

``"kmatrix"`` starts with unitary (complex) / orthogonal (real) blocks, so the start is well
scaled at any width; for a real target ``complex_output=True`` learns ``RealPart`` of a complex
member (its complex scalars then count twice against the real budget).

Twiddle families (``FamilySpec.twiddles``) train better when every 2×2 block starts and stays
unitary for a while (the targets of §5 are products of unitary blocks): :func:`unitary_twiddles`
parametrises each block as exp(A − Aᴴ) (closed form for 2×2) during a first phase.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn
from torch.nn.utils import parametrize

from ..core.structured import StructuredMatrix
from ..core.validation import budget_count
from ..families import Butterfly, KMatrix, RealPart
from ..nn.registry import FAMILIES, FamilySpec, get_family, solve_budget

__all__ = ["FAMILIES", "Family", "family_names", "make_family", "unitary_twiddles"]

#: the registry's entry type (kept for ``kmatrix.learn.Family``)
Family = FamilySpec


def family_names() -> list[str]:
    """The names :func:`make_family` accepts (the keys of ``FAMILIES``; aliases such as
    ``"sparse+lowrank"`` are accepted too).

    Examples
    --------
    >>> kmatrix.learn.family_names()[:4]
    ['dense', 'lowrank', 'sparse', 'sparse_lowrank']
    """
    return list(FAMILIES)


def _build(spec: FamilySpec, n: int, budget, width, dtype, generator):
    if width is not None:
        options = {"width": width}
    elif budget is None:
        options = spec.default_options(n, n)
    else:
        try:
            options = solve_budget(spec, n, n, budget)
        except ValueError:  # below the family's smallest member
            return None
    if spec.name == "kmatrix":
        options.setdefault("init", "unitary" if dtype.is_complex else "orthogonal")
    return spec.build(n, n, dtype, None, generator, **options)


def make_family(
    name: str,
    n: int,
    *,
    budget: int | None = None,
    width: int | None = None,
    dtype: torch.dtype = torch.float64,
    complex_output: bool = False,
    generator: torch.Generator | None = None,
) -> StructuredMatrix | None:
    """A random n×n member of family ``name`` within ``budget`` parameters (scalars of
    ``dtype``; None: the family's default size), or None when the budget is too small.
    ``width``: the K-matrix width (overrides the budget). ``complex_output``: for a real
    ``dtype``, RealPart of a complex matrix of the family (twice the parameters).

    Examples
    --------
    >>> W = kmatrix.learn.make_family("kmatrix", 8)
    >>> type(W).__name__, W.shape
    ('KMatrix', (8, 8))
    """
    try:
        spec = get_family(name)
    except (TypeError, ValueError):
        raise ValueError(f"family: expected one of {', '.join(FAMILIES)}, got {name!r}") from None
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n: expected an integer ≥ 2, got {n!r}")
    if budget is not None:  # an int count, or a float in (0, 1]: a fraction of the n² dense count
        budget = budget_count(budget, n * n)
    if width is not None and (isinstance(width, bool) or not isinstance(width, int) or width < 1):
        raise ValueError(f"width: expected a positive integer, got {width!r}")
    if width is not None and spec.name != "kmatrix":
        raise ValueError(f"width: only the kmatrix family has a width, got family {name!r}")
    if generator is None:
        generator = torch.Generator()
        generator.manual_seed(0)
    if complex_output and not dtype.is_complex:
        from ..core.validation import complex_dtype_of

        b = None if budget is None else budget // 2  # complex parameters count twice
        if b == 0:
            return None
        M = _build(spec, n, b, width, complex_dtype_of(dtype), generator)
        return None if M is None else RealPart(M)
    return _build(spec, n, budget, width, dtype, generator)


# ---------------------------------------------------------------------------------------------
# the unitary phase for twiddle families
# ---------------------------------------------------------------------------------------------
class UnitaryBlocks(nn.Module):
    """A ↦ exp(A − Aᴴ) on the trailing 2×2 blocks (unitary; orthogonal with det 1 over ℝ),
    in closed form: with S = A − Aᴴ, t = tr S / 2, M = S − tI and d² = −det M,
    exp(S) = eᵗ (cosh d · I + sinh(d)/d · M). O(1) per block. ``scaled``: the block is
    diag(e^{Re A₁₁}, e^{Re A₂₂}) · exp(A − Aᴴ) instead (row gains times a unitary; the real
    diagonal of A is unused by A − Aᴴ), so a product of such stages also reaches U₁ D U₂ with a
    diagonal D, e.g. a convolution F⁻¹ diag(F c) F."""

    def __init__(self, scaled: bool = False):
        super().__init__()
        self.scaled = scaled

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
        U = torch.exp(t)[..., None, None] * (c[..., None, None] * eye + sinhc[..., None, None] * M)
        if self.scaled:
            U = torch.exp(torch.diagonal(A, dim1=-2, dim2=-1).real).to(U.dtype)[..., :, None] * U
        return U


@contextlib.contextmanager
def unitary_twiddles(model: nn.Module, generator: torch.Generator | None = None, scaled: bool = False,
                     spread: float = 1.0):
    """Within the block, every Butterfly / KMatrix twiddle of ``model`` is the unitary
    exp(A − Aᴴ) of a fresh unconstrained tensor A with i.i.d. N(0, 1) entries (a random
    unitary start, drawn from ``generator``); on exit the current unitary values are written
    back as plain twiddle parameters (new ``nn.Parameter`` objects). ``scaled``: blocks
    diag(gains) · unitary (:class:`UnitaryBlocks`), the gains starting at 1. ``spread``: the
    standard deviation of A's entries (1: a spread-out random unitary; 0.1: near the identity,
    every block a small random rotation).

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
            parametrize.register_parametrization(m, "twiddle", UnitaryBlocks(scaled), unsafe=True)
            orig = m.parametrizations.twiddle.original
            with torch.no_grad():
                orig.copy_(spread * torch.randn(orig.shape, dtype=orig.dtype, generator=generator).to(orig.device))
                if scaled:  # gains e^0 = 1 at the start
                    d = torch.diagonal(orig, dim1=-2, dim2=-1)
                    (d.real if d.is_complex() else d).zero_()
        yield mods
    finally:
        for m in mods:
            if parametrize.is_parametrized(m, "twiddle"):
                parametrize.remove_parametrizations(m, "twiddle", leave_parametrized=True)
