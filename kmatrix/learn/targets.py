"""Target matrices to learn from samples (the ICML 2019 butterfly experiments; survey §1, §4).

Each target is an n×n dense float64 / complex128 matrix built from an independent reference
(torch.fft, scipy.fft, scipy.linalg, numpy's Gauss–Legendre rule), scaled to unit spectral
scale where it is orthogonal/unitary (‖T x‖ = ‖x‖), so relative errors and parameter scales
are comparable across targets. Random targets draw from the given ``torch.Generator``.

=============  =======  ===================================================================
name           field    definition
=============  =======  ===================================================================
dft            complex  F[k, j] = ω^{jk}/√n, ω = e^{−2πι/n} (``torch.fft.fft``, norm="ortho")
idft           complex  the inverse, conj(F) (``torch.fft.ifft``, norm="ortho")
dct            real     orthonormal DCT-II (``scipy.fft.dct``, norm="ortho")
dst            real     orthonormal DST-II (``scipy.fft.dst``, norm="ortho")
hadamard       real     Sylvester H_n/√n (``scipy.linalg.hadamard``), n a power of two
hartley        real     cas(2πjk/n)/√n, cas = cos + sin (= Re F − Im F of the unnormalised F)
convolution    real     circular convolution with a random filter c, ‖c‖ = 1 (circulant)
permutation    real     a uniformly random permutation matrix
legendre       real     orthonormal discrete Legendre transform √w_j · p̃_i(x_j) at the
                        Gauss–Legendre nodes x_j, weights w_j (p̃_i normalised on [−1, 1])
toeplitz       real     random Toeplitz, first column and row N(0, 1/n)
lowrank        real     random rank r = max(1, ⌊log2 n⌋), N(0, 1) factors / √(r n)
randn          real     i.i.d. N(0, 1/n): the control no small family can fit
=============  =======  ===================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["TARGETS", "Target", "make_target", "target_names"]


@dataclass(frozen=True)
class Target:
    """A matrix to learn: ``build(n, generator)`` -> the dense n×n matrix (float64 for
    ``field == "real"``, complex128 for ``"complex"``); ``needs_power_of_two``: only defined for
    n a power of two. The entries of ``TARGETS``; :func:`make_target` builds one by name.

    Examples
    --------
    >>> t = kmatrix.learn.TARGETS["dft"]
    >>> t.name, t.field, t.is_complex, t.needs_power_of_two
    ('dft', 'complex', True, False)
    >>> F = t.build(4, torch.Generator().manual_seed(0))
    >>> torch.allclose(F.conj().T @ F, torch.eye(4, dtype=torch.complex128))   # unitary
    True
    """

    name: str
    field: str  # "real" or "complex"
    build: Callable[[int, torch.Generator], torch.Tensor]
    needs_power_of_two: bool = False
    description: str = ""

    @property
    def is_complex(self) -> bool:
        return self.field == "complex"


def _eye(n: int) -> np.ndarray:
    return np.eye(n)


def _dft(n, g):
    return torch.fft.fft(torch.eye(n, dtype=torch.complex128), dim=0, norm="ortho")


def _idft(n, g):
    return torch.fft.ifft(torch.eye(n, dtype=torch.complex128), dim=0, norm="ortho")


def _dct(n, g):
    import scipy.fft

    return torch.from_numpy(scipy.fft.dct(_eye(n), type=2, norm="ortho", axis=0))


def _dst(n, g):
    import scipy.fft

    return torch.from_numpy(scipy.fft.dst(_eye(n), type=2, norm="ortho", axis=0))


def _hadamard(n, g):
    import scipy.linalg

    return torch.from_numpy(scipy.linalg.hadamard(n).astype(np.float64) / math.sqrt(n))


def _hartley(n, g):
    jk = np.outer(np.arange(n), np.arange(n)) % n
    a = 2 * np.pi * jk / n
    return torch.from_numpy((np.cos(a) + np.sin(a)) / math.sqrt(n))


def _convolution(n, g):
    import scipy.linalg

    c = torch.randn(n, dtype=torch.float64, generator=g)
    c = c / c.norm()
    return torch.from_numpy(scipy.linalg.circulant(c.numpy()))


def _permutation(n, g):
    perm = torch.randperm(n, generator=g)
    return torch.eye(n, dtype=torch.float64)[perm]


def _legendre(n, g):
    from numpy.polynomial import legendre as leg

    x, w = leg.leggauss(n)
    P = np.stack([leg.legval(x, np.eye(n)[i]) * math.sqrt((2 * i + 1) / 2) for i in range(n)])  # p̃_i(x_j)
    return torch.from_numpy(P * np.sqrt(w)[None, :])


def _toeplitz(n, g):
    import scipy.linalg

    c = torch.randn(n, dtype=torch.float64, generator=g) / math.sqrt(n)
    r = torch.randn(n, dtype=torch.float64, generator=g) / math.sqrt(n)
    r[0] = c[0]
    return torch.from_numpy(scipy.linalg.toeplitz(c.numpy(), r.numpy()))


def _lowrank(n, g):
    r = max(1, int(math.log2(n)))
    r = min(r, n)
    L = torch.randn(n, r, dtype=torch.float64, generator=g)
    R = torch.randn(r, n, dtype=torch.float64, generator=g)
    return L @ R / math.sqrt(r * n)


def _randn(n, g):
    return torch.randn(n, n, dtype=torch.float64, generator=g) / math.sqrt(n)


TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        Target("dft", "complex", _dft, False, "discrete Fourier transform (unitary)"),
        Target("idft", "complex", _idft, False, "inverse DFT (unitary)"),
        Target("dct", "real", _dct, False, "DCT-II (orthonormal)"),
        Target("dst", "real", _dst, False, "DST-II (orthonormal)"),
        Target("hadamard", "real", _hadamard, True, "Walsh-Hadamard (orthonormal)"),
        Target("hartley", "real", _hartley, False, "discrete Hartley transform (orthonormal)"),
        Target("convolution", "real", _convolution, False, "circular convolution, random unit filter"),
        Target("permutation", "real", _permutation, False, "random permutation"),
        Target("legendre", "real", _legendre, False, "discrete Legendre transform (orthonormal)"),
        Target("toeplitz", "real", _toeplitz, False, "random Toeplitz"),
        Target("lowrank", "real", _lowrank, False, "random low rank (rank log2 n)"),
        Target("randn", "real", _randn, False, "i.i.d. Gaussian (control)"),
    ]
}


def target_names() -> list[str]:
    """The names :func:`make_target` accepts (the keys of ``TARGETS``).

    Examples
    --------
    >>> kmatrix.learn.target_names()[:3]
    ['dft', 'idft', 'dct']
    """
    return list(TARGETS)


def make_target(name: str, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """The n×n target ``name`` as a dense float64 (real targets) or complex128 tensor.

    Examples
    --------
    >>> T = kmatrix.learn.make_target("hadamard", 8)
    >>> T.shape, T.dtype
    (torch.Size([8, 8]), torch.float64)
    """
    if not isinstance(name, str) or name not in TARGETS:
        raise ValueError(f"target: expected one of {', '.join(TARGETS)}, got {name!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise ValueError(f"n: expected an integer ≥ 2, got {n!r}")
    t = TARGETS[name]
    if t.needs_power_of_two and n & (n - 1):
        raise ValueError(f"n: the {name} target needs a power of two, got {n}")
    if generator is None:
        generator = torch.Generator()
        generator.manual_seed(0)
    return t.build(n, generator).contiguous()
