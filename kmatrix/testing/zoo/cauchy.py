"""Zoo entries: Cauchy (default path, and the fast path forced on interleaved circle nodes).

Reference: the explicit formula 1/(s_i − t_j) in complex128 (numpy). Default tolerances apply:
the nodes are kept apart (|s_i − t_j| ≥ 0.2), so C is well scaled, the direct path has error
≲ n·ε and the fast path on circle nodes (growth indicator ≲ 10) ≲ G·log2(n)·ε; the separation
also keeps gradcheck's finite differences (step 1e-6) accurate.
"""

import math

import torch

from ...core.validation import complex_dtype_of
from ...families import Cauchy
from ..battery import ZooEntry


def _reference(M):
    s = M.s.detach().to(torch.complex128).numpy()
    t = M.t.detach().to(torch.complex128).numpy()
    return torch.from_numpy(1.0 / (s[:, None] - t[None, :]))


def _jittered(k, g, real):
    """k distinct random points of [0, 1): one uniform point in each cell [i/k, (i+1)/k)
    (independent uniform draws collide in float32 at k ~ 4000)."""
    return (torch.arange(k, dtype=real) + 0.9 * torch.rand(k, generator=g, dtype=real)) / k


def _make_default(n, dt, g):
    # m = n + 2; real: s in [1, 2], t in [-2, -1]; complex: |s| = 1, |t| = 0.5, random angles
    m = n + 2
    real = dt.to_real() if dt.is_complex else dt
    if not dt.is_complex:
        return Cauchy(1 + _jittered(m, g, real), -1 - _jittered(n, g, real))
    s = torch.polar(torch.ones(m, dtype=real), 2 * math.pi * _jittered(m, g, real))
    t = torch.polar(torch.full((n,), 0.5, dtype=real), 2 * math.pi * _jittered(n, g, real))
    return Cauchy(s, t)


def _make_fast(n, dt, g):
    # s: the (n+2)-th roots of unity scaled by 0.8, t: the n-th roots of unity, both rotated at
    # random: T(z) = z^n − c and |T(s_i)| ≥ 1 − 0.8^n, so the exact fast algorithm is accurate
    m = n + 2
    real = torch.float64 if complex_dtype_of(dt) == torch.complex128 else torch.float32
    u = torch.rand(2, generator=g, dtype=real)
    s = torch.polar(torch.full((m,), 0.8, dtype=real), 2 * math.pi * (torch.arange(m, dtype=real) + u[0]) / m)
    t = torch.polar(torch.ones(n, dtype=real), 2 * math.pi * (torch.arange(n, dtype=real) + u[1]) / n)
    return Cauchy(s, t, method="fast")


ENTRIES = [
    ZooEntry("Cauchy", _make_default, _reference),
    ZooEntry("Cauchy-fast", _make_fast, _reference, dtypes=(torch.complex64, torch.complex128)),
]
