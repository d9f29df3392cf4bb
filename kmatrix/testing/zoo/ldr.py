"""Zoo entries: LDR (displacement rank r) for each kind of operator pair and both forms.

The reference never uses the family's reconstruction formula: it builds the dense operators here
(NOTES.md conventions, in numpy) and solves the displacement equation for W directly,
scipy.linalg.solve_sylvester(L, −R, G Hᵀ) for L W − W R = G Hᵀ, and the Kronecker system
(I − Rᵀ ⊗ L) vec(W) = vec(G Hᵀ) (column-major vec) for the Stein form W − L W R = G Hᵀ, in complex128.
"""

import numpy as np
import scipy.linalg
import torch

from ...families import LDR
from ..battery import ZooEntry, random_tensor

COMPLEX = (torch.complex64, torch.complex128)


def _dense_operator(spec, k):
    """Dense k×k operator from its spec, straight from the definitions (Z[i, j] = 1 iff i = j−1;
    Z_f = Zᵀ + f e_0 e_{k−1}ᵀ)."""
    if isinstance(spec, tuple) and spec[0] == "D":
        return np.diag(spec[1].detach().to(torch.complex128).numpy())
    Z = np.eye(k, k, 1, dtype=complex)  # ones on the superdiagonal
    tag, f = {"Z": ("Zft", 0.0), "Zt": ("Zf", 0.0)}.get(spec, spec) if isinstance(spec, str) else spec
    Zf = Z.T.copy()
    Zf[0, k - 1] += f
    return Zf if tag == "Zf" else Zf.T


def _reference(M):
    G = M.gen_G.detach().to(torch.complex128).numpy()
    H = M.gen_H.detach().to(torch.complex128).numpy()
    m, n = M.shape
    Lm, Rm = _dense_operator(M.L, m), _dense_operator(M.R, n)
    Q = G @ H.T
    if M.form == "sylvester":
        W = scipy.linalg.solve_sylvester(Lm, -Rm, Q)
    elif np.linalg.cond(Lm) < 1e8:  # W − LWR = Q  ⇔  L⁻¹W − WR = L⁻¹Q (a Sylvester equation)
        Li = np.linalg.inv(Lm)
        W = scipy.linalg.solve_sylvester(Li, -Rm, Li @ Q)
    elif np.linalg.cond(Rm) < 1e8:  # ⇔  −LW + WR⁻¹ = QR⁻¹
        Ri = np.linalg.inv(Rm)
        W = scipy.linalg.solve_sylvester(-Lm, Ri, Q @ Ri)
    else:  # both operators singular: the (mn)×(mn) Kronecker system (small sizes only)
        K = np.eye(m * n) - np.kron(Rm.T, Lm)
        W = np.linalg.solve(K, Q.reshape(-1, order="F")).reshape(m, n, order="F")
    return torch.from_numpy(np.ascontiguousarray(W))


def _gens(m, n, r, dt, g):
    return random_tensor((m, r), dt, g), random_tensor((n, r), dt, g)


def _away_from_zero(k, dt, g, lo, hi):
    """k values with modulus in [lo, hi) and random sign / phase."""
    rdt = dt.to_real() if dt.is_complex else dt
    mod = lo + (hi - lo) * torch.rand(k, dtype=rdt, generator=g)
    if dt.is_complex:
        return torch.polar(mod, 2 * torch.pi * torch.rand(k, dtype=rdt, generator=g))
    return mod * torch.where(torch.rand(k, dtype=rdt, generator=g) < 0.5, -1.0, 1.0).to(rdt)


def _toeplitz_like(n, dt, g):
    return LDR.toeplitz_like(*_gens(n, n, 2, dt, g))


def _stein_shifts(n, dt, g):
    return LDR(*_gens(n, n, 3, dt, g), ("Zft", 0.5), ("Zf", 1.0), form="stein")


def _vandermonde_like(n, dt, g):
    a = _away_from_zero(n + 2, dt, g, 0.5, 1.5)
    return LDR.vandermonde_like(*_gens(n + 2, n, 1, dt, g), a)


def _vandermonde_like_stein(n, dt, g):
    # (diag(a), Z) in the Stein form with |a| ≤ 1: the kernel is a_i^j itself, stable at any n
    a = _away_from_zero(n + 2, dt, g, 0.5, 1.0)
    return LDR.vandermonde_like(*_gens(n + 2, n, 1, dt, g), a, form="stein")


def _cauchy_like(n, dt, g):
    s = random_tensor((n,), dt, g)
    t = random_tensor((n + 3,), dt, g) + 5.0  # well separated from s
    return LDR.cauchy_like(*_gens(n, n + 3, 2, dt, g), s, t)


def _stein_shift_diag(n, dt, g):
    t = _away_from_zero(n, dt, g, 0.0, 0.4)  # |λ μ| ≤ 2^{1/m}·0.4 < 1
    return LDR(*_gens(n + 1, n, 2, dt, g), ("Zft", 2.0), ("D", t), form="stein")


def _stein_diag_diag(n, dt, g):
    s = _away_from_zero(n + 1, dt, g, 0.0, 0.9)
    t = _away_from_zero(n, dt, g, 0.0, 0.9)  # |s t| < 0.81
    return LDR(*_gens(n + 1, n, 2, dt, g), ("D", s), ("D", t), form="stein")


def _complex_f(n, dt, g):
    s = _away_from_zero(n, dt, g, 1.5, 2.5)  # the n-th roots of 1j lie on the unit circle
    return LDR(*_gens(n, n + 1, 2, dt, g), ("D", s), ("Zf", 1j))


ENTRIES = [
    ZooEntry("LDR-toeplitz-like", _toeplitz_like, _reference),
    ZooEntry("LDR-stein-shifts", _stein_shifts, _reference, bench=False),
    # the NOTES form (diag(a), Zᵀ) overflows for large n (kernel a^{-1-j}): battery sizes only
    ZooEntry("LDR-vandermonde-like", _vandermonde_like, _reference, bench=False),
    ZooEntry("LDR-vandermonde-like-stein", _vandermonde_like_stein, _reference),
    ZooEntry("LDR-cauchy-like", _cauchy_like, _reference),
    ZooEntry("LDR-stein-shift-diag", _stein_shift_diag, _reference, bench=False),
    ZooEntry("LDR-stein-diag-diag", _stein_diag_diag, _reference, bench=False),
    ZooEntry("LDR-complex-f", _complex_f, _reference, dtypes=COMPLEX, bench=False),
]
