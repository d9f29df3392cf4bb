"""Zoo entries: Dense, Diagonal, Permutation."""

import torch

from ...families import Dense, Diagonal, Permutation
from ..battery import ZooEntry, dot_flops, random_tensor

ENTRIES = [
    ZooEntry(
        "Dense",
        lambda n, dt, g: Dense(random_tensor((n + 1, n), dt, g)),
        lambda M: M.weight.detach().to(torch.complex128).clone(),
        flops=lambda M: dot_flops(M.shape[0], M.shape[1], M.is_complex),
    ),
    ZooEntry(
        "Diagonal",
        lambda n, dt, g: Diagonal(random_tensor((n,), dt, g)),
        lambda M: torch.diag(M.diag.detach().to(torch.complex128)),
        flops=lambda M: dot_flops(M.shape[0], 1, M.is_complex),  # one multiplication per entry
    ),
    ZooEntry(
        "Permutation",
        lambda n, dt, g: Permutation(torch.randperm(n, generator=g), dtype=dt),
        lambda M: torch.eye(M.shape[0], dtype=torch.complex128)[M.perm],
        has_params=False,
        flops=lambda M: 0,  # data movement only
    ),
]
