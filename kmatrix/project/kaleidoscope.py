"""Projection onto K-matrices (BB*)^w_e (survey Definition 5.4; Open Question 6.2).

No closed form is known (the survey's open question: an "SVD for K-matrices"). We initialise
from the butterfly projections (:mod:`kmatrix.project.butterfly`) and refine:

1. Initialisations of the first factor B₁B₁'^* of a width-w K-matrix of size N (M
   zero-padded to N×N), every other factor the identity: B₁ = the hierarchical butterfly
   factorization of M (B₁'^* = I), or B₁'^* = the transpose of the factorization of Mᵀ (a
   decreasing-stride butterfly, B₁ = I), each with the left-to-right and the balanced order
   (``order="auto"``) or the given one. The one with the smallest error is kept.
2. Refinement of all 4wN log2 N twiddles on f(θ) = ‖S K_θ Sᵀ − M‖_F² / ‖M‖_F² (the corner
   against M; the padded part of K is free): ``adam_steps`` of Adam, then up to ``lbfgs_steps``
   iterations of L-BFGS with a strong-Wolfe line search (complex twiddles optimised through
   their real view). Each evaluation forms the corner densely, O(w n N log N).
3. The best θ seen is returned, so the result is never worse than the initialisation (the
   report's details give both errors). Monarch projections are not used as initialisations: a
   Monarch matrix is not a K-matrix of the same width in general.

A heuristic (``optimal`` False); its error is ≤ the butterfly projection's for every w ≥ 1.

The hierarchical BB* factorization (:func:`hierarchical_twiddle`, a further initialisation of
step 1 for N ≤ ``HIERARCHICAL_MAX``) is exact on the width-1 members U₁ D U₂ with unitary
(orthogonal) 2×2 blocks and one diagonal D, e.g. every permutation, circulant, DFT, Hadamard.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.func import functional_call

from ..families._twiddle import transpose_twiddle
from ..families.kaleidoscope import KMatrix
from ._common import check_int_range, lbfgs_keep_best
from .butterfly import ORDERS, butterfly_twiddle

__all__ = ["hierarchical_twiddle", "project_kmatrix"]

#: largest N for which :func:`project_kmatrix` tries :func:`hierarchical_twiddle` (its SVD of a
#: 3N/2 × 3N/2 matrix costs O(N³))
HIERARCHICAL_MAX = 1024

_PAULI = (((0, 1), (1, 0)), ((0, -1j), (1j, 0)), ((1, 0), (0, -1)))


def _paulis(dtype, device):
    """σx, σy, σz (complex) or σx, σz (real: the real 2-vectors' projectors (I + n·σ)/2)."""
    if dtype.is_complex:
        return torch.tensor(_PAULI, dtype=dtype, device=device)
    return torch.tensor([_PAULI[0], _PAULI[2]], dtype=dtype, device=device)


def _top_eigvec(H: torch.Tensor) -> torch.Tensor:
    """Eigenvector of the largest eigenvalue of Hermitian 2×2 blocks (..., 2, 2)."""
    return torch.linalg.eigh(H)[1][..., :, 1]


def _complete(v: torch.Tensor) -> torch.Tensor:
    """Unit 2-vectors v (..., 2) -> unitary (orthogonal) 2×2 blocks [v, v⊥], v⊥ = (−v̄₂, v̄₁)."""
    w = torch.stack([-v[..., 1].conj(), v[..., 0].conj()], -1)
    return torch.stack([v, w], -1)


def _split_level(Mr: torch.Tensor, generator: torch.Generator, refine: int, rtol: float):
    """One level of :func:`hierarchical_twiddle`: Mr (nb, 2, h, 2, h) holds nb matrices of size
    2h, entry [b, i, r, j, c] = M_b[ih + r, jh + c]. Returns unitary blocks S_in, S_out
    (nb, h, 2, 2) and the blocks (nb, 2, h, h) of S_outᴴ M_b S_inᴴ ≈ diag(M₁, M₂), with the
    relative off-diagonal energy left."""
    nb, _, h, _, _ = Mr.shape
    P = _paulis(Mr.dtype, Mr.device)
    # Q[b, r, c] = the 2×2 block M_b[(r, r+h), (c, c+h)]; energy kept = const + ½ Σ n_rᵀ J_rc n_c
    Q = Mr.permute(0, 2, 4, 1, 3)
    J = torch.einsum("kab,yrcbe,led,yrcad->yrkcl", P, Q, P, Q.conj()).real
    d = P.shape[0]
    J = J.reshape(nb, d * h, d * h)
    U, S, _ = torch.linalg.svd(J)
    top = S >= S[:, :1] * (1 - 1e-6)  # the (often degenerate) top singular subspace
    k = int(top.sum(1).max())
    coef = torch.randn(nb, k, 1, generator=generator, dtype=U.dtype).to(U.device) * top[:, :k, None]
    u = (U[:, :, :k] @ coef).reshape(nb, h, d)
    u = u / u.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(u.dtype).tiny)
    a = _top_eigvec(torch.einsum("...k,kab->...ab", u.to(Mr.dtype), P))
    S_out = _complete(a)
    total = float((Mr.abs() ** 2).sum()) or 1.0
    off_prev = float("inf")
    for _ in range(max(1, refine)):
        # S_in given S_out: Z = S_outᴴ M; column c of Z S_inᴴ = Z[:, (c, c+h)] v (top half kept),
        # column c+h = Z[:, (c, c+h)] v⊥ (bottom half): v = top eigenvector of G_top − G_bottom
        Z = torch.einsum("brki,bkrjc->birjc", S_out.conj(), Mr)
        G = torch.einsum("brjc,brkc->bcjk", Z[:, 0].conj(), Z[:, 0])
        G = G - torch.einsum("brjc,brkc->bcjk", Z[:, 1].conj(), Z[:, 1])
        RH = _complete(_top_eigvec(G))  # S_in's blocks are RHᴴ
        # S_out given S_in: rows (r, r+h) of Y = M S_inᴴ, the same way
        Y = torch.einsum("birjc,bcjk->birkc", Mr, RH)
        H = torch.einsum("birc,bkrc->brik", Y[:, :, :, 0], Y[:, :, :, 0].conj())
        H = H - torch.einsum("birc,bkrc->brik", Y[:, :, :, 1], Y[:, :, :, 1].conj())
        S_out = _complete(_top_eigvec(H))
        D = torch.einsum("brki,bkrjc->birjc", S_out.conj(), Y)
        off = float((D[:, 0, :, 1].abs() ** 2).sum() + (D[:, 1, :, 0].abs() ** 2).sum()) / total
        if off <= 1e-30 or off_prev - off <= rtol * off_prev:  # each step is an exact maximisation
            break
        off_prev = off
    S_in = RH.conj().transpose(-1, -2)
    return S_in, S_out, torch.stack([D[:, 0, :, 0], D[:, 1, :, 1]], 1), off


def hierarchical_twiddle(
    M: torch.Tensor,
    generator: torch.Generator | None = None,
    refine: int = 100,
    rtol: float = 1e-12,
):
    """Twiddles (1, 2, L, N/2, 2, 2) of a width-1 K-matrix B·B'^* close to the N×N matrix M
    (N = 2^L ≥ 2), by hierarchical block-diagonalisation, and the off-diagonal energy dropped
    at each level (relative to the level's ‖·‖²; all ≈ 0 when the factorization is exact).

    B·B'^* = S_out^(N/2) · diag(K₁, K₂) · S_in^(N/2) with S the stride-N/2 stages (the first
    of B'^*, the last of B) and K₁, K₂ width-1 K-matrices of size N/2, and so on down. Level
    by level, the stages' 2×2 blocks are unitary (orthogonal for real M) and chosen to maximise
    the energy ‖diag blocks of S_outᴴ M S_inᴴ‖²; with the Bloch vectors n (the projector
    (I + n·σ)/2 onto each block's first column, σ the Pauli matrices) this energy is
    const + ½ Σ_{r,c} n_rᵀ J_rc n_c, J_rc[k, l] = Re tr(σ_k Q_rc σ_l Q_rcᴴ) for the 2×2 blocks
    Q_rc = M[(r, r+h), (c, c+h)]: a bilinear form on a product of spheres. Its spectral
    relaxation (a random combination, from ``generator``, of the top singular vectors of J,
    normalised per block) starts ``refine`` alternating exact maximisations (each block's
    vector is the top eigenvector of a 2×2 Hermitian matrix); then M₁, M₂ (the diagonal
    blocks) are split the same way. The last level's 2×2 blocks (stride 1, with the diagonal
    D absorbed) are kept as they are, so every member U₁ D U₂ of BB* with unitary blocks whose
    levels split exactly comes back exactly (observed for permutations, circulants, the DFT,
    Hadamard and random such members up to N = 256; a heuristic in general: a projection, not
    the optimum. A member with non-unitary blocks is not recovered: a KMatrix(64,
    init="random") comes back at error 0.75).

    Cost: O(N³) (the SVD of J, 3N/2 × 3N/2 at the first level) + O(refine · N²) per level.

    Examples
    --------
    >>> from kmatrix.project.kaleidoscope import hierarchical_twiddle
    >>> P = torch.eye(16, dtype=torch.float64)[torch.randperm(16)]
    >>> tw, off = hierarchical_twiddle(P, torch.Generator().manual_seed(0))
    >>> K = kmatrix.KMatrix(16, init=tw)
    >>> bool((K.to_dense() - P).abs().max() < 1e-12), len(off)
    (True, 3)
    """
    if not isinstance(M, torch.Tensor) or M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"M: expected a square 2-d tensor, got {getattr(M, 'shape', type(M).__name__)}")
    N = M.shape[0]
    if N < 2 or N & (N - 1):
        raise ValueError(f"M: expected a size N that is a power of two ≥ 2, got {N}")
    if not (M.is_complex() or M.is_floating_point()):
        raise TypeError(f"M: expected a floating-point or complex tensor, got {M.dtype}")
    refine = check_int_range(refine, "refine", 1, 10**6)
    if generator is None:
        generator = torch.Generator().manual_seed(0)
    L = N.bit_length() - 1
    dtype = torch.complex128 if M.is_complex() else torch.float64
    tw = torch.zeros(2, L, N // 2, 2, 2, dtype=dtype, device=M.device)
    blocks = M.to(dtype).reshape(1, N, N)
    off = []
    with torch.no_grad():
        for k in range(L - 1):
            nb, m = blocks.shape[0], blocks.shape[1]
            h = m // 2
            S_in, S_out, D, o = _split_level(blocks.reshape(nb, 2, h, 2, h), generator, refine, rtol)
            tw[0, k] = S_in.reshape(N // 2, 2, 2)  # B'^* stage k: stride N/2^(k+1)
            tw[1, L - 1 - k] = S_out.reshape(N // 2, 2, 2)  # B stage L−1−k: the same stride
            blocks = D.reshape(2 * nb, h, h)
            off.append(o)
        tw[0, L - 1] = blocks  # the stride-1 2×2 blocks (D absorbed); B's stride-1 stage = I
        tw[1, 0] = torch.eye(2, dtype=dtype, device=M.device)
    return tw.unsqueeze(0), off


def _loss_fn(K: KMatrix, M: torch.Tensor, complex_: bool):
    _m, n = M.shape
    eye = torch.eye(n, dtype=M.dtype, device=M.device)
    scale = float((M.abs() ** 2).sum()) or 1.0

    def loss(theta):
        tw = torch.view_as_complex(theta) if complex_ else theta
        D = functional_call(K, {"twiddle": tw}, (eye,)).transpose(0, 1)
        return ((D - M).abs() ** 2).sum() / scale

    return loss


def project_kmatrix(
    M: torch.Tensor,
    width: int = 1,
    expansion: int = 1,
    order: str = "auto",
    adam_steps: int = 200,
    lbfgs_steps: int = 100,
    lr: float = 1e-2,
):
    """K-matrix of the given width / expansion close to M; returns (KMatrix, False, details)."""
    m, n = M.shape
    w = check_int_range(width, "width", 1, 64)
    e = check_int_range(expansion, "expansion", 1, 64)
    adam_steps = check_int_range(adam_steps, "adam_steps", 0, 10**6)
    lbfgs_steps = check_int_range(lbfgs_steps, "lbfgs_steps", 0, 10**6)
    if order not in ORDERS:
        raise ValueError(f"order: expected one of {ORDERS}, got {order!r}")
    if not (float(lr) > 0):
        raise ValueError(f"lr: expected a positive learning rate, got {lr}")
    K = KMatrix(n, m, width=w, expansion=e, init="identity", dtype=M.dtype, device=M.device)
    N = K.size
    Mp = F.pad(M, (0, N - n, 0, N - m))
    base = K.twiddle.detach().clone()
    orders = ("left-to-right", "balanced") if order == "auto" else (order,)
    candidates = []
    for o in orders:
        cand_b = base.clone()
        cand_b[0, 1] = butterfly_twiddle(Mp, o)
        cand_bs = base.clone()
        cand_bs[0, 0] = transpose_twiddle(butterfly_twiddle(Mp.transpose(0, 1).contiguous(), o), (0,))
        candidates += [("butterfly B", cand_b), ("butterfly B*", cand_bs)]
    if N <= HIERARCHICAL_MAX:
        cand_h = base.clone()
        cand_h[:1] = hierarchical_twiddle(Mp)[0].to(base.dtype)
        candidates.append(("hierarchical BB*", cand_h))
    complex_ = M.is_complex()
    loss = _loss_fn(K, M, complex_)

    def as_theta(tw):
        return (torch.view_as_real(tw) if complex_ else tw).detach().clone().contiguous()

    with torch.no_grad():
        inits = [(float(loss(as_theta(c))), name, c) for name, c in candidates]
    init_loss, init_name, init_tw = min(inits, key=lambda t: t[0])
    best = [init_loss, as_theta(init_tw)]
    theta = as_theta(init_tw).requires_grad_(True)

    def consider(value: float):
        if value < best[0]:
            best[0], best[1] = value, theta.detach().clone()

    if adam_steps:
        opt = torch.optim.Adam([theta], lr=float(lr))
        for _ in range(adam_steps):
            opt.zero_grad()
            f = loss(theta)
            consider(float(f.detach()))
            f.backward()
            opt.step()
        with torch.no_grad():
            consider(float(loss(theta)))
    if lbfgs_steps:
        with torch.no_grad():
            theta.copy_(best[1])
        lbfgs_keep_best(theta, loss, lbfgs_steps, best)
    tw = torch.view_as_complex(best[1]) if complex_ else best[1]
    W = KMatrix(n, m, width=w, expansion=e, init=tw)
    padded = (N, N) != (m, n)
    return W, False, {
        "init": init_name,
        "init_error": init_loss**0.5,
        "refined_error": best[0] ** 0.5,
        "_padded_shape": (N, N) if padded else None,
    }
