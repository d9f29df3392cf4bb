"""
Exact arithmetic and the transposition principle on circuits
============================================================

Build an arithmetic circuit with ordinary Python arithmetic on its input wires, evaluate it
exactly over the rationals and a prime field, differentiate it with Baur–Strassen, and transpose
a linear circuit (Theorem 3.10) — checking every claim exactly, without rounding.
"""

import os
import sys
from fractions import Fraction

import numpy as np
import torch

from kmatrix import circuits

SMALL = "--small" in sys.argv or os.environ.get("KMATRIX_EXAMPLES_SMALL") == "1"
n = 8 if SMALL else 64

# %%
# A circuit's inputs are the wires ``c.x[0], c.x[1], ...``; ``+``, ``-``, ``*`` and ``/`` on
# wires (and constants) append gates, ``c.output(w)`` marks an output.
c = circuits.Circuit(n_inputs=3)
y = 2 * c.x[0] + c.x[1]
c.output(y)
c.output(y * c.x[2])
print(c.size, "gates, depth", c.depth)
print(c.evaluate([1, 2, 3], field="fraction"))  # exact rationals
print(c.evaluate([Fraction(1, 3), 2, 3], field="fraction"))
print(c.evaluate([1, 2, 3], field=circuits.GF(7)))  # the prime field Z/7
assert c.evaluate([1, 2, 3], field="fraction") == [4, 12]

# %%
# Baur–Strassen: all partial derivatives of seed·outputs in one backward pass.
# d/dx (1·(2x0 + x1) + 1·(2x0 + x1)·x2) at (1, 2, 3) = (2 + 2·3, 1 + 3, 2·1 + 2) = (8, 4, 4).
g = c.gradient([1, 2, 3], seed=[1, 1], field="fraction")
print("gradient", g)
assert g == [8, 4, 4]

# %%
# A linear circuit computes x -> W x. The Toeplitz circuit of the library computes a Toeplitz
# matrix; its dense matrix over the rationals is exact.
rng = np.random.default_rng(0)
col = [int(v) for v in rng.integers(-5, 6, n)]
row = [col[0]] + [int(v) for v in rng.integers(-5, 6, n - 1)]
T = circuits.toeplitz(col, row)
W = np.array(T.to_dense(field="fraction"), dtype=object)
assert all(W[i, j] == (col[i - j] if i >= j else row[j - i]) for i in range(n) for j in range(n))

# %%
# The transposition principle (Theorem 3.10): reversing the DAG of a linear circuit computes
# Wᵀ with about the same number of gates. Checked exactly over the rationals.
Tt = T.transpose(method="reverse")
Wt = np.array(Tt.to_dense(field="fraction"), dtype=object)
assert (Wt == W.T).all()
print(f"Toeplitz circuit n={n}: size {T.size} -> transpose size {Tt.size}")

# %%
# The same for the radix-2 FFT circuit, whose constants are complex roots of unity: compare in
# complex128 (the constants themselves are rounded).
F = circuits.fft(n)
Ft = F.transpose(method="reverse")
dense = F.to_dense(dtype=torch.complex128).numpy()
dense_t = Ft.to_dense(dtype=torch.complex128).numpy()
err = np.abs(dense_t - dense.T).max()
print(f"FFT circuit n={n}: size {F.size}, depth {F.depth}; transpose size {Ft.size}, error {err:.1e}")
assert err < 1e-12
