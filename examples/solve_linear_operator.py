"""
Solving a structured system with SciPy
======================================

``kmatrix.aslinearoperator`` wraps a structured matrix as a ``scipy.sparse.linalg.LinearOperator``
(``matvec`` is the fast product, ``rmatvec`` the fast conjugate transpose), so SciPy's iterative
solvers and eigensolvers use the O(n log n) product and never form the matrix.
"""

import os
import sys
import time

import numpy as np
import scipy.linalg
import scipy.sparse.linalg
import torch

import kmatrix

SMALL = "--small" in sys.argv or os.environ.get("KMATRIX_EXAMPLES_SMALL") == "1"
n = 256 if SMALL else 8192
rng = np.random.default_rng(0)

# %%
# A symmetric positive definite Toeplitz matrix: first column c with c[k] = 1/(1 + k)², a
# diagonally dominant kernel (2·Σ_{k≥1} 1/(1+k)² < 1.3 < c[0] + 1).
c = 1.0 / (1.0 + np.arange(n)) ** 2
c[0] += 1.0
T = kmatrix.Toeplitz(torch.from_numpy(c), torch.from_numpy(c))
A = kmatrix.aslinearoperator(T)
b = rng.standard_normal(n)

# %%
# Conjugate gradients with the fast product (O(n log n) per iteration).
t0 = time.perf_counter()
x, info = scipy.sparse.linalg.cg(A, b, rtol=1e-12, atol=0.0)
t_cg = time.perf_counter() - t0
residual = np.linalg.norm(A.matvec(x) - b) / np.linalg.norm(b)
print(f"n = {n}: cg converged (info {info}) in {t_cg * 1e3:.1f} ms, relative residual {residual:.1e}")
assert info == 0 and residual < 1e-10

# %%
# Check against SciPy's direct Toeplitz solver (Levinson recursion, O(n²)).
x_ref = scipy.linalg.solve_toeplitz(c, b)
err = np.linalg.norm(x - x_ref) / np.linalg.norm(x_ref)
print(f"difference to scipy.linalg.solve_toeplitz: {err:.1e}")
assert err < 1e-9

# %%
# The largest singular values through ``svds``, which also uses ``rmatvec`` (Tᴴ y).
k = 3
s = scipy.sparse.linalg.svds(A, k=k, return_singular_vectors=False, random_state=0)
if SMALL:
    s_dense = np.linalg.svd(T.to_dense().detach().numpy(), compute_uv=False)[:k]
    assert np.allclose(np.sort(s), np.sort(s_dense), rtol=1e-8)
print("largest singular values:", np.round(np.sort(s)[::-1], 6))
