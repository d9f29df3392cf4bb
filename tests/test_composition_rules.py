"""Dense absorbs a neighbouring Diagonal or Permutation (issue 2: "a Diagonal absorbed into a
neighbouring factor"): the result is one Dense equal to the product (float64/complex128: the
entries are single products or copies, so 1e-14 leaves ample room)."""

import torch

from kmatrix import Dense, Diagonal, Permutation, merge

C128 = torch.complex128


def _dense(M):
    return M.to_dense().detach().to(C128)


def test_dense_absorbs_diagonal_and_permutation(gen):
    W = Dense(torch.randn(4, 5, dtype=torch.float64, generator=gen))
    left = [Diagonal(torch.randn(4, dtype=torch.float64, generator=gen)), Permutation(torch.randperm(4, generator=gen))]
    right = [Diagonal(torch.randn(5, dtype=C128, generator=gen)),
             Permutation(torch.randperm(5, generator=gen), dtype=torch.float64)]
    for A in left:
        C = merge(A @ W)
        assert isinstance(C, Dense) and C.dtype == torch.promote_types(A.dtype, W.dtype)
        assert torch.allclose(_dense(C), _dense(A) @ _dense(W), atol=1e-14)
    for B in right:
        C = merge(W @ B)
        assert isinstance(C, Dense) and C.dtype == torch.promote_types(W.dtype, B.dtype)
        assert torch.allclose(_dense(C), _dense(W) @ _dense(B), atol=1e-14)
    assert merge(W @ right[0]).dtype == C128  # a complex diagonal promotes the result
