"""
Quick start
===========

Build a structured matrix, multiply with it, check it against its dense form, compose it with
others, and use a K-matrix as a layer.
"""

import os
import sys

import torch

import kmatrix

SMALL = "--small" in sys.argv or os.environ.get("KMATRIX_EXAMPLES_SMALL") == "1"
n = 64 if SMALL else 1024
torch.manual_seed(0)

# %%
# A Toeplitz matrix T[i, j] = c[i - j] (first column c, first row r) multiplies a vector in
# O(n log n) by circulant embedding and the FFT. ``T(x)`` acts on the last dimension, like
# ``nn.Linear`` without bias.
c, r = torch.randn(n, dtype=torch.float64), torch.randn(n, dtype=torch.float64)
r[0] = c[0]  # the corner belongs to both; a conflicting value raises ValueError
T = kmatrix.Toeplitz(c, r)
x = torch.randn(8, n, dtype=torch.float64)
y = T(x)
err = (y - x @ T.to_dense().T).norm() / y.norm()
print(f"Toeplitz {T.shape}: {T.num_params} parameters, {T.flops} flops, error {err:.1e}")
assert err < 1e-12

# %%
# Compositions stay structured: ``+``, ``@`` and scalar ``*`` build a Sum / Product / Scaled
# that shares the parameters of its parts (or one matrix of a family when a rule knows one).
D = kmatrix.Diagonal(torch.randn(n, dtype=torch.float64))
M = 0.5 * (T @ D) + T.T
dense = 0.5 * (T.to_dense() @ D.to_dense()) + T.to_dense().T
print(type(M).__name__, "error", f"{(M.to_dense() - dense).abs().max():.1e}")
assert torch.allclose(M.to_dense(), dense)

# %%
# Gradients reach the parameters through the fast product (autograd; by Baur–Strassen in the
# same complexity as the product).
loss = M(x).square().sum()
loss.backward()
(grad,) = [p.grad for p in T.parameters()]
print(f"T has one parameter tensor (its {grad.numel()} diagonals); gradient norm {grad.norm():.3f}")
assert grad.shape == (2 * n - 1,)

# %%
# The DFT is exactly a width-1 K-matrix (one factor B B*): ``transforms.dft`` builds it.
F = kmatrix.transforms.dft(n, dtype=torch.complex128)
z = torch.randn(3, n, dtype=torch.complex128)
err = (F(z) - torch.fft.fft(z)).abs().max()
print(f"dft({n}) as a K-matrix: width {F.width}, error vs torch.fft.fft {err:.1e}")
assert err < 1e-10

# %%
# ``kmatrix.nn.KLinear`` is a drop-in ``nn.Linear`` with a K-matrix weight.
layer = kmatrix.nn.KLinear(n, n)
dense_layer = torch.nn.Linear(n, n)
n_k = sum(p.numel() for p in layer.parameters())
n_d = sum(p.numel() for p in dense_layer.parameters())
print(f"KLinear({n}, {n}): {n_k} parameters, nn.Linear: {n_d}")
out = layer(torch.randn(4, n))
assert out.shape == (4, n)
