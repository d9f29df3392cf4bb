"""Sparse matrices in the listing representation (survey Def 2.3, §4.2).

An m×n matrix W is s-sparse if at most s of its entries are nonzero. The listing representation
keeps s triples (rows[k], cols[k], values[k]) and every entry not listed is zero:

    W[i, j] = Σ_{k : rows[k] = i, cols[k] = j} values[k].

θ = ``values`` (an ``nn.Parameter``, learnable, real or complex); the locations ``rows`` and
``cols`` are fixed int64 buffers (no gradient can move a location: this is exactly why the
listing representation fails the Efficient-Gradient property, survey §4.2). Gradients with respect
to the values and to x are exact (an explicit backward, below).

Duplicates: a location listed twice contributes the *sum* of its values (COO semantics, as
``scipy.sparse.coo_matrix(...).toarray()``), so sums of sparse matrices and circuits whose gates
read one input twice (α·X + β·X) need no special case. ``coalesced_copy()`` merges duplicates
into one entry (a copy with new parameters); ``nnz`` counts *stored* entries s (what the product costs).

Product (the O(s) algorithm of §4.2): y[:, rows[k]] += values[k] · x[:, cols[k]]. Computed by
torch's CSR sparse × dense kernel on the listing sorted into row-major order (the layout is cached
per matrix and orientation), with an explicit backward (``kernels.sparse``): ∂/∂x = Wᴴ g by the
same kernel, ∂/∂values[k] = Σ_b g[b, rows[k]]·conj(x[b, cols[k]]). Chosen by measurement (torch
2.13 CPU, one thread, n = 2^14, s = 4n, batch 64, forward; shared machine, ±30 %): gather +
``index_add`` 25 ms (float32) / 58 ms (complex64), CSR 2.2 / 10.8 ms; ``torch.sparse.mm`` on a
COO tensor with autograd spent 0.5–1 s in backward (dense gradient for the values), and CSR
tensors do not support autograd for complex values, hence the explicit backward. At batch 1 all
paths take ~0.1–0.5 ms and index_add has less set-up, so batches below 8 rows use it
(``kernels.sparse.CSR_MIN_BATCH``); it stays available as ``_matvec_reference`` (tests
cross-check the two). Transposes use the layout of (cols, rows).

flops: over ℝ each stored entry is one multiplication and each output row i with k_i ≥ 1 stored
entries needs k_i − 1 additions, so flops = 2·nnz − r with r the number of distinct nonempty
rows. Over ℂ a multiplication is 6 real flops (4 multiplications + 2 additions) and an
addition 2, so flops = 6·nnz + 2(nnz − r) = 8·nnz − 2r.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..core.compose import register_rule
from ..core.structured import StructuredMatrix
from ..core.validation import as_tensor, check_finite, check_positive_int
from ..kernels.sparse import csr_layout, listing_matmul, listing_matmul_reference
from .diagonal import Diagonal
from .permutation import Permutation

__all__ = ["Sparse"]


def _check_shape(shape: Any) -> tuple[int, int]:
    if not isinstance(shape, (tuple, list, torch.Size)) or len(shape) != 2:
        raise TypeError(f"shape: expected a pair (m, n) of positive integers, got {shape!r}")
    m, n = shape
    try:
        m = check_positive_int(m, "shape")
        n = check_positive_int(n, "shape")
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"shape: expected a pair (m, n) of positive integers, got {tuple(shape)!r}") from None
    return m, n


def _indices(value: Any, name: str) -> torch.Tensor:
    if isinstance(value, (list, tuple)) and len(value) == 0:
        return torch.empty(0, dtype=torch.int64)  # np.asarray([]) would be float64
    return as_tensor(value, name, integer=True, ndim=1, allow_empty=True)


def _check_listing(rows: torch.Tensor, cols: torch.Tensor, values: torch.Tensor, m: int, n: int) -> None:
    """Equal lengths, finite values, int64 indices in range: the constructor and
    ``Sparse._check_parameters`` (after load / dtype changes) both run this."""
    check_finite(values, "values")
    if not (rows.shape[0] == cols.shape[0] == values.shape[0]):
        raise ValueError(
            "rows, cols, values: expected equal lengths, got "
            f"{rows.shape[0]}, {cols.shape[0]}, {values.shape[0]}"
        )
    for name, idx, bound in (("rows", rows, m), ("cols", cols, n)):
        if idx.dtype != torch.int64:
            raise ValueError(f"{name}: expected int64 indices, got dtype {idx.dtype}")
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= bound):
            bad = idx[(idx < 0) | (idx >= bound)][0].item()
            raise ValueError(f"{name}: expected indices in [0, {bound}) for shape {(m, n)}, found {bad}")


class Sparse(StructuredMatrix):
    """W[i, j] = Σ values[k] over the listed k with (rows[k], cols[k]) = (i, j); zero elsewhere.

    Parameters
    ----------
    rows, cols : integer tensors / arrays of length s
        Locations, 0 ≤ rows < m, 0 ≤ cols < n. Stored as int64 buffers (fixed).
    values : float or complex tensor / array of length s
        The listed values; they become the ``nn.Parameter`` ``values`` (a copy, in their own dtype
        unless ``dtype`` is given; integer values need ``dtype=``). NaN / infinity rejected.
    shape : (m, n)
        Positive dimensions. s = 0 (the zero matrix) is allowed.

    ``num_params`` = s; product O(s) (times the batch); flops = 2·nnz − r over ℝ and 8·nnz − 2r
    over ℂ, with r the number of nonempty rows (see ``help("kmatrix.families.sparse")``). ``W.T`` is
    a Sparse with rows and cols swapped that shares the same ``values`` parameter.

    Examples
    --------
    >>> S = kmatrix.Sparse(torch.tensor([0, 2]), torch.tensor([1, 0]), torch.tensor([5.0, -1.0]), (3, 2))
    >>> S.to_dense().tolist()
    [[0.0, 5.0], [0.0, 0.0], [-1.0, 0.0]]
    >>> S(torch.tensor([1.0, 2.0])).tolist()
    [10.0, 0.0, -1.0]
    """

    def __init__(self, rows, cols, values, shape, dtype: torch.dtype | None = None):
        m, n = _check_shape(shape)
        values = as_tensor(values, "values", dtype=dtype, ndim=1, allow_empty=True)
        rows = _indices(rows, "rows").to(values.device)
        cols = _indices(cols, "cols").to(values.device)
        _check_listing(rows, cols, values, m, n)
        super().__init__((m, n), values.dtype, values.device)
        self.register_buffer("rows", rows.clone())
        self.register_buffer("cols", cols.clone())
        self.values = nn.Parameter(values.clone())

    @classmethod
    def _from_parts(cls, rows: torch.Tensor, cols: torch.Tensor, values: nn.Parameter, shape) -> Sparse:
        """A Sparse sharing the *same* ``values`` parameter (for native transposes); no checks."""
        obj = cls.__new__(cls)
        StructuredMatrix.__init__(obj, shape, values.dtype, values.device)
        obj.register_buffer("rows", rows)
        obj.register_buffer("cols", cols)
        obj.values = values
        return obj

    @classmethod
    def from_dense(cls, M, tol: float = 0.0, dtype: torch.dtype | None = None) -> Sparse:
        """The entries of M with ``|M[i, j]| > tol``, in row-major order (exact copies of the
        values). ``tol`` must be ≥ 0; tol = 0 keeps every nonzero."""
        M = as_tensor(M, "M", dtype=dtype, ndim=2)
        check_finite(M, "M")
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol >= 0:
            raise ValueError(f"tol: expected a nonnegative number, got {tol!r}")
        r, c = torch.nonzero(M.abs() > tol, as_tuple=True)
        return cls(r, c, M[r, c], tuple(M.shape))

    def _check_parameters(self):
        _check_listing(self.rows, self.cols, self.values, *self.shape)

    # ------------------------------------------------------------------ counts
    @property
    def nnz(self) -> int:
        """Number of stored entries s (duplicates counted separately)."""
        return int(self.values.shape[0])

    @property
    def flops(self) -> int:
        nz_rows = int(torch.unique(self.rows).numel())
        if self.is_complex:
            return 8 * self.nnz - 2 * nz_rows
        return 2 * self.nnz - nz_rows

    # ------------------------------------------------------------------ products
    def _layouts(self):
        """CSR layouts of W and Wᵀ, kept in the base class's derived-data cache while ``rows``
        and ``cols`` hold the same values (however they are written; checking costs O(nnz))."""
        r, c = self.rows, self.cols
        m, n = self.shape
        return self._derived("layouts", (r, c), lambda: (csr_layout(r, c, m, n), csr_layout(c, r, n, m)))

    def _matvec(self, x):
        fwd, bwd = self._layouts()
        return listing_matmul(self.values, x, self.rows, self.cols, fwd, bwd)

    def _rmatvec(self, y):
        fwd, bwd = self._layouts()
        return listing_matmul(self.values, y, self.cols, self.rows, bwd, fwd)

    def _matvec_reference(self, x):
        """W x by gather + index_add (plain autograd): the cross-check of the CSR path."""
        return listing_matmul_reference(self.values, x, self.rows, self.cols, self.shape[0])

    def _transpose(self):
        return Sparse._from_parts(self.cols, self.rows, self.values, (self.shape[1], self.shape[0]))

    def to_dense(self):
        out = torch.zeros(self.shape, dtype=self.dtype, device=self.device)
        return out.index_put((self.rows, self.cols), self.values, accumulate=True)

    # ------------------------------------------------------------------ helpers
    def coalesced_copy(self) -> Sparse:
        """A **copy with new parameters**: an equal Sparse with each location listed once
        (duplicates summed), row-major order, built from the current values (like every merging
        rule: no gradient reaches this matrix's ``values`` through the copy). O(s log s)."""
        m, n = self.shape
        key = self.rows * n + self.cols
        uniq, inv = torch.unique(key, return_inverse=True)
        vals = torch.zeros(uniq.shape[0], dtype=self.dtype, device=self.device)
        vals = vals.index_add(0, inv, self.values.detach())
        return Sparse(uniq // n, uniq % n, vals, (m, n))

    def _merge_scale(self, scalar):
        return Sparse(self.rows, self.cols, self.values.detach() * scalar, self.shape)

    def _config(self):
        return {"rows": self.rows, "cols": self.cols, "values": self.values.detach(), "shape": self.shape}

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, nnz={self.nnz}"


# ---------------------------------------------------------------------- composition rules
@register_rule("add", Sparse, Sparse)
def _sparse_add(a: Sparse, b: Sparse) -> Sparse:
    """S₁ + S₂ is the union of the two listings (exact under the summing convention), then
    coalesced so an overlapping location is stored once: nnz ≤ nnz₁ + nnz₂."""
    dt = torch.promote_types(a.dtype, b.dtype)
    joined = Sparse(
        torch.cat([a.rows, b.rows]),
        torch.cat([a.cols, b.cols]),
        torch.cat([a.values.detach().to(dt), b.values.detach().to(dt)]),
        a.shape,
    )
    return joined.coalesced_copy()


@register_rule("matmul", Diagonal, Sparse)
def _diag_sparse(d: Diagonal, s: Sparse) -> Sparse:
    """diag(d)·S scales row i by d[i]: values[k]·d[rows[k]], same locations, no extra flops."""
    dt = torch.promote_types(d.dtype, s.dtype)
    return Sparse(s.rows, s.cols, s.values.detach().to(dt) * d.diag.detach().to(dt)[s.rows], s.shape)


@register_rule("matmul", Sparse, Diagonal)
def _sparse_diag(s: Sparse, d: Diagonal) -> Sparse:
    """S·diag(d) scales column j by d[j]: values[k]·d[cols[k]], same locations."""
    dt = torch.promote_types(d.dtype, s.dtype)
    return Sparse(s.rows, s.cols, s.values.detach().to(dt) * d.diag.detach().to(dt)[s.cols], s.shape)


@register_rule("matmul", Permutation, Sparse, shares=True)
def _perm_sparse(p: Permutation, s: Sparse) -> Sparse:
    """(P S)[i, :] = S[perm[i], :]: an entry in row r moves to row perm⁻¹[r]; the result shares
    S's ``values`` parameter (only the locations move)."""
    return Sparse._from_parts(p.inverse_perm[s.rows], s.cols, s.values, s.shape)


@register_rule("matmul", Sparse, Permutation, shares=True)
def _sparse_perm(s: Sparse, p: Permutation) -> Sparse:
    """(S P)[:, j] = S[:, perm⁻¹[j]]: an entry in column c moves to column perm[c]; shares
    S's ``values``."""
    return Sparse._from_parts(s.rows, p.perm[s.cols], s.values, s.shape)
