"""Zoo entries: Vandermonde (default path, and the fast path forced on FFT-like nodes).

Reference: ``numpy.vander(nodes, n, increasing=True)`` in complex128 (V[i, j] = a_i^j).
Default tolerances apply: at the battery's sizes (n ≤ 16 + 3 nodes) the direct path has
error ≲ n·ε and the fast path on roots-of-unity-like nodes (growth indicator G ≈ 2–30) ≲ G·log2(n)·ε.
"""

import math

import numpy as np
import torch

from ...core.validation import complex_dtype_of
from ...families import Vandermonde
from ..battery import ZooEntry


def _reference(M):
    a = M.nodes.detach().to(torch.complex128).numpy()
    return torch.from_numpy(np.vander(a, M.shape[1], increasing=True))


def _make_default(n, dt, g):
    # m = n + 3 nodes: real ones uniform in [-1, 1], complex ones in the annulus 0.5 ≤ |a| ≤ 1
    # (|a| > 1 would overflow a^(n-1) at large n)
    m = n + 3
    real = dt.to_real() if dt.is_complex else dt
    if not dt.is_complex:
        return Vandermonde(torch.rand(m, generator=g, dtype=real) * 2 - 1, n)
    r = 0.5 + 0.5 * torch.rand(m, generator=g, dtype=real)
    phi = 2 * math.pi * torch.rand(m, generator=g, dtype=real)
    return Vandermonde(torch.polar(r, phi), n)


def _make_fast(n, dt, g):
    # roots of unity of order m = n + 3, rotated, with a small radial jitter: the nodes for
    # which the fast path is accurate (see the Vandermonde docstring); always complex
    m = n + 3
    real = torch.float64 if complex_dtype_of(dt) == torch.complex128 else torch.float32
    r = 1 - 0.01 * torch.rand(m, generator=g, dtype=real)
    phi = 2 * math.pi * (torch.arange(m, dtype=real) + torch.rand((), generator=g, dtype=real)) / m
    return Vandermonde(torch.polar(r, phi), n, method="fast")


ENTRIES = [
    ZooEntry("Vandermonde", _make_default, _reference),
    ZooEntry("Vandermonde-fast", _make_fast, _reference, dtypes=(torch.complex64, torch.complex128)),
]
