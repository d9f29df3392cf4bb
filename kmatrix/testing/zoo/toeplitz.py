"""Zoo entries: Toeplitz (rectangular, both orientations), Hankel, Circulant.

References are scipy.linalg.toeplitz / hankel / circulant applied to the first column and row read
back from the family (``.c``, ``.r``), computed in complex128 independently of the FFT products.
"""

import numpy as np
import scipy.linalg
import torch

from ...families import Circulant, Hankel, Toeplitz
from ..battery import ZooEntry, random_tensor


def _np(t):
    return t.detach().to(torch.complex128).numpy()


def _toeplitz(m, n, dt, g):
    c = random_tensor((m,), dt, g)
    r = random_tensor((n,), dt, g)
    r[0] = c[0]
    return Toeplitz(c, r)


def _hankel(m, n, dt, g):
    c = random_tensor((m,), dt, g)
    r = random_tensor((n,), dt, g)
    r[0] = c[-1]
    return Hankel(c, r)


def _ref(fn):
    return lambda M: torch.from_numpy(np.ascontiguousarray(fn(_np(M.c), _np(M.r))))


ENTRIES = [
    ZooEntry("Toeplitz", lambda n, dt, g: _toeplitz(n + 3, n, dt, g), _ref(scipy.linalg.toeplitz)),
    ZooEntry(
        "Toeplitz-wide", lambda n, dt, g: _toeplitz(n, 2 * n + 1, dt, g), _ref(scipy.linalg.toeplitz), bench=False
    ),
    ZooEntry("Hankel", lambda n, dt, g: _hankel(n, n + 2, dt, g), _ref(scipy.linalg.hankel)),
    ZooEntry(
        "Circulant",
        lambda n, dt, g: Circulant(random_tensor((n,), dt, g)),
        lambda M: torch.from_numpy(np.ascontiguousarray(scipy.linalg.circulant(_np(M.c)))),
    ),
]
