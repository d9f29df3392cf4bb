"""
Compiling permutations, sparse matrices and circuits into K-matrices
====================================================================

The kaleidoscope theorems are constructive: every permutation is one B·B* factor (Theorem 5.6,
a Beneš network), every s-sparse matrix is in (BB*)^{4⌈s/n⌉}_4 (Theorem 5.7), and a linear
circuit is a product of sparse matrices (Theorem 4.5), hence a K-matrix (Theorem 5.5). Each
construction below returns a :class:`kmatrix.KMatrix` and is checked against the dense input.
"""

import os
import sys

import torch

import kmatrix
from kmatrix import circuits

SMALL = "--small" in sys.argv or os.environ.get("KMATRIX_EXAMPLES_SMALL") == "1"
n = 16 if SMALL else 256
g = torch.Generator().manual_seed(0)

# %%
# A permutation: (P x)[i] = x[perm[i]]. ``kmatrix.benes`` routes it through a Beneš network:
# width 1, expansion 1, every 2×2 block exactly the identity or the swap.
perm = torch.randperm(n, generator=g)
P = kmatrix.Permutation(perm, dtype=torch.float64)
K = kmatrix.benes(perm, dtype=torch.float64)
print(f"benes: width {K.width}, expansion {K.expansion}, {K.num_params} twiddle entries")
assert torch.equal(K.to_dense(), P.to_dense())
blocks = K.twiddle.detach().reshape(-1, 2, 2)
assert bool(((blocks == 0) | (blocks == 1)).all())

# %%
# A sparse matrix with s = 3n nonzeros at random places: Theorem 5.7 bounds the width by
# 4⌈s/n⌉ = 12 and the expansion by 4.
s = 3 * n
idx = torch.randperm(n * n, generator=g)[:s]
rows, cols = idx // n, idx % n
vals = torch.randn(s, generator=g, dtype=torch.float64)
S = kmatrix.Sparse(rows, cols, vals, (n, n))
KS = kmatrix.sparse_to_kmatrix(S)
err = (KS.to_dense() - S.to_dense()).abs().max()
print(f"sparse_to_kmatrix (s = {s}): width {KS.width}, expansion {KS.expansion}, error {err:.1e}")
assert KS.width <= 12 and KS.expansion <= 4 and err < 1e-12

# %%
# A linear circuit: the Walsh–Hadamard circuit of size n log2 n. ``to_sparse_factors`` writes
# its matrix as a product of d + 1 sparse matrices (Theorem 4.5); each factor becomes a
# K-matrix (Theorem 5.7) and ``kmatrix_product`` merges them into one (closure under products).
# Both functions make new parameters.
H = circuits.hadamard(n)
factors = H.to_sparse_factors().factors
KH = kmatrix.kmatrix_product(*[kmatrix.sparse_to_kmatrix(f) for f in factors])
reference = H.to_dense().to(torch.float64)
err = (KH.to_dense() - reference).abs().max()
print(f"Hadamard circuit (size {H.size}, depth {H.depth}) -> K-matrix of width {KH.width}, "
      f"expansion {KH.expansion}, error {err:.1e}")
assert err < 1e-10

# %%
# The compiled matrices are ordinary structured matrices: they multiply fast, train, and save.
x = torch.randn(4, n, dtype=torch.float64, generator=g)
assert torch.allclose(KH(x), x @ reference.T)
