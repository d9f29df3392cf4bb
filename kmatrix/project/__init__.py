"""Projection of a matrix onto a structured family (survey Open Question 6.2).

``kmatrix.project(M, family, **params) -> (W, report)``: W a structured matrix of the family
close to M in Frobenius norm, ``report`` a :class:`ProjectionReport`. One module per method:

==================  =========================================  =========  ===================
family              method                                     optimal    params
==================  =========================================  =========  ===================
``lowrank``         truncated SVD (Eckart–Young)               yes        rank
``sparse``          s largest entries                          yes        nnz
``toeplitz``        diagonal averages                          yes
``hankel``          anti-diagonal averages                     yes
``circulant``       wrapped-diagonal averages (square M)       yes
``sparse+lowrank``  robust PCA, ADMM + polish                  no         lam, rank, nnz, tol
``monarch``         blockwise rank-r SVD                       yes        nblocks, rank
``butterfly``       hierarchical rank-1 factorization          no         order, perm, refine
``kmatrix``         butterfly or BB* init, Adam, L-BFGS        no         width, expansion, ...
==================  =========================================  =========  ===================

M may be a torch tensor or a numpy array, real or complex, float32 or float64. The method runs
in double precision; W comes back in M's precision and the error is measured in double
precision against M. Shapes a family cannot take (butterfly / K-matrix sizes that are not
powers of two, Monarch sizes nblocks does not divide) are zero-padded: W is the corner of the
larger matrix and the report says ``padded`` with the padded shape.
"""

from __future__ import annotations

import contextlib
import inspect
import sys
import time
import types

import torch

from ._common import ProjectionReport, as_matrix, rel_error, wide_dtype
from .butterfly import project_butterfly
from .kaleidoscope import project_kmatrix
from .lowrank import project_lowrank
from .monarch import project_monarch
from .robust_pca import project_sparse_lowrank
from .sparse import project_sparse
from .toeplitz import project_circulant, project_hankel, project_toeplitz

__all__ = ["METHODS", "ProjectionReport", "project"]

METHODS = {
    "lowrank": project_lowrank,
    "sparse": project_sparse,
    "toeplitz": project_toeplitz,
    "hankel": project_hankel,
    "circulant": project_circulant,
    "sparse+lowrank": project_sparse_lowrank,
    "monarch": project_monarch,
    "butterfly": project_butterfly,
    "kmatrix": project_kmatrix,
}


def project(M, family: str, **params):
    """Project M onto ``family`` (one of :data:`METHODS`); returns ``(W, report)``.

    ``params`` are the method's options (see the table in ``help("kmatrix.project")`` and each
    method's docstring); an unknown option raises TypeError naming it.

    Examples
    --------
    A rank-2 matrix projected onto the low-rank family is recovered to rounding:

    >>> M = torch.randn(8, 2, dtype=torch.float64) @ torch.randn(2, 8, dtype=torch.float64)
    >>> W, report = kmatrix.project.project(M, "lowrank", rank=2)
    >>> type(W).__name__, bool((W.to_dense() - M).abs().max() < 1e-12)
    ('LowRank', True)
    """
    if not isinstance(family, str) or family not in METHODS:
        raise ValueError(f"family: expected one of {sorted(METHODS)}, got {family!r}")
    M = as_matrix(M)
    method = METHODS[family]
    sig = inspect.signature(method)
    unknown = sorted(set(params) - set(list(sig.parameters)[1:]))
    if unknown:
        allowed = ", ".join(list(sig.parameters)[1:]) or "none"
        raise TypeError(f"{', '.join(unknown)}: not an option of family {family!r} (options: {allowed})")
    Mw = M.to(wide_dtype(M.dtype))
    start, cpu_start = time.perf_counter(), time.process_time()
    with torch.no_grad() if family != "kmatrix" else contextlib.nullcontext():
        W, optimal, details = method(Mw, **params)
    elapsed, cpu_elapsed = time.perf_counter() - start, time.process_time() - cpu_start
    W = W.to(M.dtype)
    padded_shape = details.pop("_padded_shape", None)
    report = ProjectionReport(
        family=family,
        rel_error=rel_error(W, M),
        time=elapsed,
        num_params=W.num_params,
        optimal=optimal,
        shape=tuple(M.shape),
        padded=padded_shape is not None,
        padded_shape=padded_shape,
        details=details,
        cpu_time=cpu_elapsed,
    )
    return W, report


class _CallableModule(types.ModuleType):
    """``kmatrix.project`` is this package *and* callable as :func:`project`, so that both
    ``kmatrix.project(M, "butterfly")`` and ``import kmatrix.project.butterfly as pb`` work (a
    function bound to the same name would hide the subpackage from ``import ... as``)."""

    def __call__(self, M, family: str, **params):
        return project(M, family, **params)


sys.modules[__name__].__class__ = _CallableModule
