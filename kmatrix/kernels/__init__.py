"""Butterfly multiply kernels behind one dispatch point.

``butterfly_multiply(twiddle, x, increasing_stride)`` is the only entry the families call.
Layout (public, shared by Butterfly and KMatrix):

* ``twiddle``: (S, L, N/2, 2, 2) — S independent stacked matrices, L = log2 N stages;
  stage 0 is applied first.
* ``x``: (B, S, N) -> output (B, S, N).
* at stage k the stride is s = 2^k (``increasing_stride=True``) or N / 2^(k+1) (False);
  pair p acts on (x_i, x_{i+s}) with i = (p // s)·2s + p mod s, and
  [y_i, y_{i+s}] = twiddle[., k, p] @ [x_i, x_{i+s}].
"""

from .reference import butterfly_multiply_reference

butterfly_multiply = butterfly_multiply_reference

__all__ = ["butterfly_multiply", "butterfly_multiply_reference"]
