"""Zoo entries: Fourier (plain and orthonormal), including a non power of two.

Reference: the explicit formula F[i, j] = exp(−2πι·(ij mod n)/n) in complex128 with numpy (the
exponent reduced mod n in integers first, so the reference is accurate to a few ulps at any n).
"""

import numpy as np
import torch

from ...families import Fourier
from ..battery import ZooEntry

COMPLEX = (torch.complex64, torch.complex128)


def _dft_reference(M):
    n = M.shape[0]
    i = np.arange(n)
    F = np.exp(-2j * np.pi * (np.outer(i, i) % n) / n)
    if M.norm == "ortho":
        F = F / np.sqrt(n)
    return torch.from_numpy(F)


ENTRIES = [
    ZooEntry("Fourier", lambda n, dt, g: Fourier(n, dtype=dt), _dft_reference, dtypes=COMPLEX,
             sizes=(4, 7, 16), has_params=False),
    ZooEntry("Fourier-ortho", lambda n, dt, g: Fourier(n, norm="ortho", dtype=dt), _dft_reference,
             dtypes=COMPLEX, sizes=(5, 16), has_params=False, bench=False),
]
