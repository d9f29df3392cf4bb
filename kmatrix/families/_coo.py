"""The nonzeros of any sparse or dense matrix-like as exact (rows, cols, values) arrays: shared by
the constructions that read sparse matrices (Theorem 5.7, circuits from sparse factors)."""

from __future__ import annotations

import numpy as np
import torch

from ..core.validation import as_tensor, check_finite

__all__ = ["coo_of"]


def _finish(rows, cols, vals, shape, dtype, name):
    m, n = shape
    if m == 0 or n == 0:
        raise ValueError(f"{name}: expected a non-empty matrix, got shape {tuple(shape)}")
    vals = np.asarray(vals)
    if not np.isfinite(vals).all():
        raise ValueError(f"{name}: expected finite values, found NaN or infinity")
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    # coalesce duplicates (sum), drop explicit zeros
    if len(rows):
        key = rows * n + cols
        uk, inv = np.unique(key, return_inverse=True)
        if len(uk) != len(key):
            acc = np.zeros(len(uk), dtype=vals.dtype)
            np.add.at(acc, inv, vals)
            rows, cols, vals = uk // n, uk % n, acc
        keep = vals != 0
        rows, cols, vals = rows[keep], cols[keep], vals[keep]
    vals = vals.astype(np.complex128 if np.iscomplexobj(vals) else np.float64)
    return rows, cols, vals, (int(m), int(n)), dtype


def coo_of(S, name: str = "S"):
    """(rows, cols, values, (m, n), torch dtype) of the nonzeros of ``S``: a dense tensor or
    array, ``torch.sparse`` (COO/CSR/CSC), ``scipy.sparse`` or ``kmatrix.Sparse``; duplicates
    summed, explicit zeros dropped, values as float64/complex128 (exact copies). Errors:
    TypeError for non-numeric or integer values, ValueError for a non-2-d or empty matrix and
    for NaN/infinity."""
    from .sparse import Sparse

    if isinstance(S, Sparse):
        v = S.values.detach().cpu()
        dt = v.dtype
        v = v.to(torch.complex128 if v.is_complex() else torch.float64).numpy()
        return _finish(S.rows.cpu().numpy(), S.cols.cpu().numpy(), v, S.shape, dt, name)
    if isinstance(S, torch.Tensor) and S.layout != torch.strided:
        if S.ndim != 2:
            raise ValueError(f"{name}: expected a 2-d matrix, got shape {tuple(S.shape)}")
        if not (S.is_floating_point() or S.is_complex()):
            raise TypeError(
                f"{name}: expected floating-point or complex values, got dtype {S.dtype}"
            )
        c = S.detach().cpu().to_sparse_coo().coalesce()
        idx, v = c.indices().numpy(), c.values()
        dt = v.dtype
        v = v.to(torch.complex128 if v.is_complex() else torch.float64).numpy()
        return _finish(idx[0], idx[1], v, tuple(S.shape), dt, name)
    try:
        import scipy.sparse as sps

        if sps.issparse(S):
            if S.ndim != 2:
                raise ValueError(f"{name}: expected a 2-d matrix, got shape {S.shape}")
            if S.dtype.kind not in "fc":
                raise TypeError(
                    f"{name}: expected floating-point or complex values, got dtype {S.dtype}"
                )
            c = S.tocoo()
            dt = torch.from_numpy(np.zeros(0, dtype=S.dtype)).dtype
            v = c.data.astype(np.complex128 if S.dtype.kind == "c" else np.float64)
            return _finish(c.row, c.col, v, S.shape, dt, name)
    except ImportError:  # pragma: no cover - scipy is a dependency
        pass
    t = as_tensor(S, name, ndim=2, allow_empty=True)
    if t.numel() == 0:
        raise ValueError(f"{name}: expected a non-empty matrix, got shape {tuple(t.shape)}")
    check_finite(t, name)
    t = t.detach().cpu()
    dt = t.dtype
    r, c = torch.nonzero(t, as_tuple=True)
    v = t[r, c].to(torch.complex128 if t.is_complex() else torch.float64).numpy()
    return _finish(r.numpy(), c.numpy(), v, tuple(t.shape), dt, name)
