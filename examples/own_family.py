"""
Adding your own family
======================

A new structured family is a subclass of :class:`kmatrix.StructuredMatrix` that writes
``__init__``, ``_matvec``, ``flops`` and ``_config``. Everything else — ``W(x)`` on any batch
shape, ``W @ X``, ``.T`` and ``.H`` (by the transposition principle: autograd's backward of the
product), ``to_dense``, gradients, compositions, dtype conversions, saving — comes from the base
class. Here: the Kronecker product W = A ⊗ B of a p×p and a q×q matrix, n = pq, with an
O(n(p + q)) product instead of O(n²).
"""

import os
import sys
import tempfile

import torch
from torch import nn

import kmatrix
import kmatrix.testing

SMALL = "--small" in sys.argv or os.environ.get("KMATRIX_EXAMPLES_SMALL") == "1"
p, q = (3, 4) if SMALL else (32, 64)


# %%
# The family. ``_matvec`` receives x of shape (batch, n) in the matrix's dtype. With the
# row-major reshape X = x.reshape(p, q), (A ⊗ B) x = vec(A X Bᵀ).
class Kronecker(kmatrix.StructuredMatrix):
    """W = A ⊗ B (W[i·q + k, j·q + l] = A[i, j]·B[k, l]); θ = (A, B), p² + q² scalars."""

    def __init__(self, A, B):
        A, B = torch.as_tensor(A), torch.as_tensor(B)
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            raise ValueError(f"A: expected a square matrix, got shape {tuple(A.shape)}")
        if B.ndim != 2 or B.shape[0] != B.shape[1]:
            raise ValueError(f"B: expected a square matrix, got shape {tuple(B.shape)}")
        n = A.shape[0] * B.shape[0]
        super().__init__((n, n), torch.promote_types(A.dtype, B.dtype))
        self.A = nn.Parameter(A.to(self.dtype).clone())
        self.B = nn.Parameter(B.to(self.dtype).clone())

    def _matvec(self, x):
        p, q = self.A.shape[0], self.B.shape[0]
        X = x.reshape(-1, p, q)
        return (self.A @ X @ self.B.T).reshape(-1, p * q)

    @property
    def flops(self):
        p, q = self.A.shape[0], self.B.shape[0]
        real = p * q * (2 * p - 1) + p * q * (2 * q - 1)  # two matrix products, multiply + add
        return real * (4 if self.is_complex else 1)  # a rough complex count

    def _config(self):  # the constructor's arguments: what kmatrix.save writes
        return {"A": self.A.detach(), "B": self.B.detach()}


# %%
# Check it against a dense reference computed independently of the family's code (here
# ``torch.kron``), in float64 and complex128.
g = torch.Generator().manual_seed(0)
for dtype in (torch.float64, torch.complex128):
    A = torch.randn(p, p, dtype=dtype, generator=g)
    B = torch.randn(q, q, dtype=dtype, generator=g)
    W = Kronecker(A, B)
    ref = torch.kron(A, B)
    x = torch.randn(5, p * q, dtype=dtype, generator=g)
    tol = kmatrix.testing.tolerance(dtype)
    for got, want in [
        (W(x), x @ ref.T),  # product
        (W.T(x), x @ ref),  # transpose (from autograd's backward)
        (W.H(x), x @ ref.conj()),  # conjugate transpose
        (W.to_dense(), ref),
    ]:
        err = kmatrix.testing.normwise_error(got, want, ref, x)
        assert err < tol, (dtype, err)
    print(f"{dtype}: product, .T, .H and to_dense agree with torch.kron (tolerance {tol:.0e})")

# %%
# The whole battery in one call: ``kmatrix.testing.check_family`` runs every contract kmatrix's
# own families pass (products against the reference in four dtypes, .T and .H, gradcheck,
# compositions, an optimiser step, dtype conversions, pickling and save / load, numpy interop,
# bad-input errors, ...) and raises AssertionError listing every failure.
kmatrix.testing.check_family(
    lambda n, dtype, gen: Kronecker(
        torch.randn(2, 2, dtype=dtype, generator=gen),
        torch.randn(n // 2, n // 2, dtype=dtype, generator=gen),
    ),
    lambda M: torch.kron(M.A.detach(), M.B.detach()).to(torch.complex128),
    name="Kronecker",
    sizes=(4, 8) if SMALL else (4, 16, 64),
)
print("check_family: every contract passed")

# %%
# Compositions and saving work at once. ``load`` only builds kmatrix's own families unless you
# list yours with ``families=``.
A = torch.randn(2, 2, dtype=torch.float64, generator=g)
B = torch.randn(3, 3, dtype=torch.float64, generator=g)
W = Kronecker(A, B)
x = torch.randn(2, 6, dtype=torch.float64, generator=g)
M = W @ W.T + 2.0 * W
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "kron.kmx")
    kmatrix.save(M, path)
    M2 = kmatrix.load(path, families=[Kronecker])
assert torch.equal(M2(x), M(x))
print(type(M2).__name__, "of", [type(t).__name__ for t in M2.terms])
