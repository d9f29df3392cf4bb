"""Interop with numpy / scipy: a structured matrix as a ``scipy.sparse.linalg.LinearOperator``.

``kmatrix.aslinearoperator(M)`` wraps M without forming it: ``matvec`` / ``matmat`` are the fast
product W x, ``rmatvec`` / ``rmatmat`` the conjugate transpose Wᴴ y (scipy's convention; through
``M.H``, itself fast), so iterative solvers and eigen/singular value routines (``cg``, ``gmres``,
``svds``, ``eigsh``...) run at the family's cost per product. The operator's ``dtype`` is M's
(as numpy); arrays are converted to tensors and results back to numpy (no autograd). Inputs
follow the library's dtype rule: a real operator takes complex vectors (real and imaginary
parts), a lower precision is promoted, and a precision the matrix cannot hold (a float64 vector
for a float32 matrix) raises TypeError — convert the matrix (``M.to(torch.float64)``) or the data.
``np.asarray(M)`` gives the dense matrix instead (``StructuredMatrix.__array__``).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.sparse.linalg import LinearOperator

from .core.structured import StructuredMatrix

__all__ = ["aslinearoperator"]

_NUMPY = {
    torch.float16: np.float16,
    torch.float32: np.float32,
    torch.float64: np.float64,
    torch.complex64: np.complex64,
    torch.complex128: np.complex128,
}


class _StructuredOperator(LinearOperator):
    """scipy view of a StructuredMatrix (see the module docstring)."""

    def __init__(self, M: StructuredMatrix):
        if M.dtype not in _NUMPY:
            raise TypeError(f"M: dtype {M.dtype} has no numpy counterpart; convert with M.to(torch.float32)")
        super().__init__(dtype=np.dtype(_NUMPY[M.dtype]), shape=M.shape)
        self.matrix = M

    def _apply(self, op, X: np.ndarray, k: int) -> np.ndarray:
        X = np.asarray(X)
        if X.dtype.kind not in "fc":
            X = X.astype(self.dtype)
        vec = X.ndim == 1
        t = torch.from_numpy(np.ascontiguousarray(X.reshape(k, -1).T)).to(self.matrix.device)
        with torch.no_grad():
            y = op(t)
        out = y.detach().cpu().resolve_conj().numpy().T
        return out.reshape(-1) if vec else out

    def _matvec(self, x):
        return self._apply(self.matrix, x, self.shape[1])

    def _matmat(self, X):
        return self._apply(self.matrix, X, self.shape[1])

    def _rmatvec(self, y):
        return self._apply(self.matrix.H, y, self.shape[0])

    def _rmatmat(self, Y):
        return self._apply(self.matrix.H, Y, self.shape[0])


def aslinearoperator(M: StructuredMatrix) -> LinearOperator:
    """``M`` as a ``scipy.sparse.linalg.LinearOperator``: shape and dtype of M, ``matvec`` /
    ``matmat`` = W x, ``rmatvec`` / ``rmatmat`` = Wᴴ y, each one fast product of M (no dense
    matrix is formed). Example: ``scipy.sparse.linalg.cg(kmatrix.aslinearoperator(T), b)``.

    Examples
    --------
    Solve a Toeplitz system with GMRES without forming the matrix:

    >>> import numpy as np, scipy.sparse.linalg
    >>> T = kmatrix.Toeplitz(torch.tensor([4.0, 1.0, 0.5], dtype=torch.float64),
    ...                      torch.tensor([4.0, 2.0, 0.0], dtype=torch.float64))
    >>> A = kmatrix.aslinearoperator(T)
    >>> A.shape, A.dtype
    ((3, 3), dtype('float64'))
    >>> x, info = scipy.sparse.linalg.gmres(A, np.ones(3), atol=1e-12)
    >>> info, np.allclose(T.to_dense().detach().numpy() @ x, np.ones(3))
    (0, True)
    """
    if not isinstance(M, StructuredMatrix):
        raise TypeError(f"M: expected a StructuredMatrix, got {type(M).__name__}")
    return _StructuredOperator(M)
