"""Special constructions as exact K-matrices (the ones torch_butterfly ships as special cases):
the 2-D DFT, circular 2-D convolution with channels, Fastfood, ACDC and the Haar wavelet
transform. Each returns ONE :class:`kmatrix.KMatrix` (new parameters) equal to its definition up
to the rounding of the transform's constants (≤ 1e-12 relative in complex128 / float64).

Building blocks: the width-1 DFT (:func:`kmatrix.transforms._build.dft_twiddle`; Bluestein,
width 2, for other lengths), Kronecker products of K-matrices (:func:`kron_twiddle`: the stages
of A on the high index bits and of B on the low ones interleave inside each factor, because
operators on disjoint bits commute), Beneš routing (:func:`kmatrix.benes`), sums and products
(:mod:`kmatrix.theorems.sums`) and Theorem 5.7 for the block-diagonal frequency response.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..families._twiddle import padded_size
from ..families.kaleidoscope import KMatrix
from ..transforms._build import conj_transpose, dft_any_twiddle, scale_input, scale_output
from ..transforms._common import resolve_dtype
from ._tw import identity_twiddle, kmatrix_of, pair_low, pair_of
from .benes import benes_twiddle, check_permutation, complete_partial_permutation
from .sparse import sparse_twiddle
from .sums import product_twiddle, sum_twiddle

__all__ = ["acdc", "circular_conv2d", "fastfood", "fft2d", "haar", "kron_twiddle"]


def _check_n(n, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name}: expected a positive integer, got {n!r}")
    return int(n)


def kron_twiddle(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Twiddle of A ⊗ B (size N_A·N_B, index i = i_A·N_B + i_B) from the twiddles of A and B:
    width max(w_A, w_B) (the shorter padded with identity factors). In factor f the vector meets
    A's B'^* stages (strides ≥ N_B), B's whole factor (strides < N_B), then A's B stages; A's and
    B's stages act on disjoint bits and commute, so factor f is A_f ⊗ B_f and the product is
    (Π A_f) ⊗ (Π B_f)."""
    na, nb = 2 * hi.shape[3], 2 * lo.shape[3]
    la, lb = na.bit_length() - 1, nb.bit_length() - 1
    w = max(hi.shape[0], lo.shape[0])
    dt = np.complex128 if np.iscomplexobj(hi) or np.iscomplexobj(lo) else np.float64
    n = na * nb
    out = identity_twiddle(w, n, dt)
    for f in range(w):
        for k in range(
            la
        ):  # A's stages: B'^* stage k (stride na/2^(k+1) -> ·nb), B stage k (2^k -> ·nb)
            for part, stage_new, s_a in ((0, k, na >> (k + 1)), (1, lb + k, 1 << k)):
                if f >= hi.shape[0]:
                    continue
                s = s_a * nb
                i = pair_low(n, s)
                pa = pair_of(i // nb, s_a)
                out[f, part, stage_new] = hi[f, part, k][pa]
        for k in range(lb):
            for part, stage_new, s_b in ((0, la + k, nb >> (k + 1)), (1, k, 1 << k)):
                if f >= lo.shape[0]:
                    continue
                i = pair_low(n, s_b)
                pb = pair_of(i % nb, s_b)
                out[f, part, stage_new] = lo[f, part, k][pb]
    return out


def _spread(shape_in: tuple[int, ...], shape_pad: tuple[int, ...]) -> np.ndarray:
    """Flat position in the padded grid of each flat index of the valid grid (row-major)."""
    idx = np.indices(shape_in).reshape(len(shape_in), -1)
    return np.ravel_multi_index(tuple(idx), shape_pad)


def _gather_item(positions: np.ndarray, n_small: int, n_big: int, *, inverse: bool):
    """K-matrix item (tw, in, out) moving x[t] to position positions[t] (inverse=False: n_small →
    n_big) or reading it back (inverse=True: n_big → n_small); one Beneš factor."""
    N = padded_size(n_big)
    rows = np.arange(n_small) if inverse else positions
    cols = positions if inverse else np.arange(n_small)
    perm = complete_partial_permutation(N, rows, cols)
    tw = benes_twiddle(perm)
    return (tw, n_big, n_small) if inverse else (tw, n_small, n_big)


def _dft_items(n1: int, n2: int, inverse: bool = False):
    """(twiddle of F_{N1-corner} ⊗ F_{N2-corner} on the padded grid, padded shape); inverse: the
    unnormalised conjugate transform (F⁻¹ = Fᴴ/n, 1/n applied by the caller)."""
    t1, N1 = dft_any_twiddle(n1)
    t2, N2 = dft_any_twiddle(n2)
    if n1 == 1:
        t1, N1 = np.asarray(identity_twiddle(1, 2), dtype=np.complex128), 1
    if n2 == 1:
        t2, N2 = np.asarray(identity_twiddle(1, 2), dtype=np.complex128), 1
    if inverse:
        t1, t2 = conj_transpose(t1), conj_transpose(t2)
    if N1 == 1:
        return t2, (1, N2)
    if N2 == 1:
        return t1, (N1, 1)
    return kron_twiddle(t1, t2), (N1, N2)


def _dtype_for(dtype, complex_: bool = True) -> torch.dtype:
    dtype = resolve_dtype(dtype, torch.complex128 if complex_ else torch.float64)
    return dtype


def fft2d(n1: int, n2: int | None = None, dtype: torch.dtype | None = None) -> KMatrix:
    """The 2-D DFT of an n1×n2 array flattened row-major (``numpy.fft.fft2(x).ravel()`` of
    ``x.reshape(n1, n2)``): F_{n1} ⊗ F_{n2}, as one KMatrix. Powers of two: **width 1**,
    expansion 1 (the two DFT programs interleave in one Beneš factor). Other sizes: each axis by
    Bluestein (width 2) on a padded grid, with two Beneš factors spreading the input onto the
    grid and gathering the output: width ≤ 4. ``dtype`` default complex128.

    Examples
    --------
    >>> F = kmatrix.fft2d(4, 2, dtype=torch.complex128)
    >>> x = torch.randn(4, 2, dtype=torch.complex128)
    >>> F.shape, torch.allclose(F(x.reshape(-1)), torch.fft.fft2(x).reshape(-1))
    ((8, 8), True)
    """
    n1 = _check_n(n1, "n1")
    n2 = n1 if n2 is None else _check_n(n2, "n2")
    dtype = _dtype_for(dtype)
    tw, (N1, N2) = _dft_items(n1, n2)
    n = n1 * n2
    if (N1, N2) == (max(n1, 1), max(n2, 1)) and 2 * tw.shape[3] == padded_size(n):
        return kmatrix_of(tw, n, n, dtype)
    pos = _spread((n1, n2), (N1, N2))
    size = N1 * N2
    items = [
        _gather_item(pos, n, size, inverse=True),
        (tw, size, size),
        _gather_item(pos, n, size, inverse=False),
    ]
    t, k_in, k_out = product_twiddle(items)
    return kmatrix_of(t, k_in, k_out, dtype)


def circular_conv2d(kernel, dtype: torch.dtype | None = None) -> KMatrix:
    """Circular 2-D convolution with channels as one KMatrix: ``kernel`` of shape
    (C_out, C_in, n1, n2); input x of shape (C_in, n1, n2) flattened, output (C_out, n1, n2)
    flattened, y[o] = Σ_c kernel[o, c] ⊛ x[c] (circular in both axes:
    y[o, i1, i2] = Σ_{c, j1, j2} kernel[o, c, j1, j2]·x[c, (i1 − j1) mod n1, (i2 − j2) mod n2]).

    Convolution theorem: y = (I ⊗ F2⁻¹) · D · (I ⊗ F2) x with F2 = F_{n1} ⊗ F_{n2} (fft2d) and
    D[(o, f), (c, f)] = fft2(kernel)[o, c, f] a C_out·C_in·n1·n2-sparse matrix (Theorem 5.7; ≤ 4
    pieces stacked for min(C_in, C_out) ≤ 4). Complex KMatrix (``dtype`` default complex128)
    whose dense form is real up to rounding for a real kernel.

    Examples
    --------
    One input and one output channel on a 4×4 grid, against ``torch.fft``:

    >>> k = torch.randn(1, 1, 4, 4, dtype=torch.float64)
    >>> x = torch.randn(1, 4, 4, dtype=torch.float64)
    >>> K = kmatrix.circular_conv2d(k)
    >>> ref = torch.fft.ifft2(torch.fft.fft2(k[0, 0]) * torch.fft.fft2(x[0])).real
    >>> torch.allclose(K(x.reshape(-1).to(K.dtype)).real, ref.reshape(-1))
    True
    """
    k = np.asarray(kernel.detach().cpu().numpy() if isinstance(kernel, torch.Tensor) else kernel)
    if k.dtype.kind not in "fc":
        raise TypeError(f"kernel: expected floating-point or complex values, got dtype {k.dtype}")
    if k.ndim != 4 or 0 in k.shape:
        raise ValueError(
            f"kernel: expected a non-empty array of shape (C_out, C_in, n1, n2), got {k.shape}"
        )
    if not np.isfinite(k).all():
        raise ValueError("kernel: expected finite values, found NaN or infinity")
    dtype = _dtype_for(dtype)
    co, ci, n1, n2 = k.shape
    kh = np.fft.fft2(k.astype(np.complex128), axes=(2, 3))
    fwd, (N1, N2) = _dft_items(n1, n2)
    inv, _ = _dft_items(n1, n2, inverse=True)
    g = N1 * N2
    cmax = padded_size(max(ci, co)) if max(ci, co) > 1 else 1
    eye_c = identity_twiddle(1, cmax, np.complex128) if cmax > 1 else None
    big = cmax * g
    fwd_c = fwd if eye_c is None else kron_twiddle(eye_c, fwd)
    inv_c = inv if eye_c is None else kron_twiddle(eye_c, inv)
    # D on the padded grid, with 1/(n1 n2) of the inverse transform folded in
    o, c, f1, f2 = np.indices(kh.shape).reshape(4, -1)
    rows = o * g + f1 * N2 + f2
    cols = c * g + f1 * N2 + f2
    vals = kh.reshape(-1) / (n1 * n2)
    keep = vals != 0
    D = sparse_twiddle(rows[keep], cols[keep], vals[keep], (big, big))
    pos_in = _spread((ci, n1, n2), (cmax, N1, N2))
    pos_out = _spread((co, n1, n2), (cmax, N1, N2))
    items = [
        _gather_item(pos_out, co * n1 * n2, big, inverse=True),
        (inv_c, big, big),
        (D, big, big),
        (fwd_c, big, big),
        _gather_item(pos_in, ci * n1 * n2, big, inverse=False),
    ]
    t, k_in, k_out = product_twiddle(items)
    return kmatrix_of(t, k_in, k_out, dtype).compact()


def _vector(v, name: str, n: int | None = None) -> np.ndarray:
    a = np.asarray(v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v)
    if a.dtype.kind not in "fciu" or a.dtype == bool:
        raise TypeError(f"{name}: expected a numeric vector, got dtype {a.dtype}")
    if a.ndim != 1 or a.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty 1-d vector, got shape {a.shape}")
    if n is not None and a.shape[0] != n:
        raise ValueError(f"{name}: expected length {n}, got {a.shape[0]}")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: expected finite values, found NaN or infinity")
    return a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)


def _hadamard_stages(n: int) -> np.ndarray:
    levels = n.bit_length() - 1
    h = np.empty((levels, n // 2, 2, 2))
    h[...] = np.array([[1.0, 1.0], [1.0, -1.0]])
    return h


def fastfood(s, g, perm, b, dtype: torch.dtype | None = None) -> KMatrix:
    """Fastfood V = S·H·G·Π·H·B (Le, Sarlós, Smola 2013) as a KMatrix of **width 2**: S, G, B
    diagonals (vectors ``s``, ``g``, ``b``), H the unnormalised Walsh–Hadamard matrix
    (``scipy.linalg.hadamard``), Π the permutation (Π x)[i] = x[perm[i]]; n = len(s) a power of
    two ≥ 2. Factor 1 = [H (B'^* stages, B folded into its first stage), X], factor 2 =
    [Y, H (B stages, G folded into its first and S into its last stage)] with Π = Y·X routed
    through B then B'^*. ``dtype`` default float64 (complex128 when a vector is complex).

    Examples
    --------
    >>> import scipy.linalg
    >>> n = 8
    >>> s, g, b = (torch.randn(n, dtype=torch.float64) for _ in range(3))
    >>> perm = torch.randperm(n)
    >>> V = kmatrix.fastfood(s, g, perm, b)
    >>> H = torch.from_numpy(scipy.linalg.hadamard(n)).double()
    >>> P = torch.eye(n, dtype=torch.float64)[perm]
    >>> ref = torch.diag(s) @ H @ torch.diag(g) @ P @ H @ torch.diag(b)
    >>> V.width, torch.allclose(V.to_dense(), ref)
    (2, True)
    """
    s = _vector(s, "s")
    n = s.shape[0]
    if n < 2 or n & (n - 1):
        raise ValueError(f"s: expected a length that is a power of two ≥ 2, got {n}")
    g, b = _vector(g, "g", n), _vector(b, "b", n)
    p = check_permutation(perm, "perm")
    if p.shape[0] != n:
        raise ValueError(f"perm: expected a permutation of length {n}, got {p.shape[0]}")
    cplx = any(np.iscomplexobj(v) for v in (s, g, b))
    dt = np.complex128 if cplx else np.float64
    dtype = resolve_dtype(dtype, torch.complex128 if cplx else torch.float64)
    H = _hadamard_stages(n).astype(dt)
    xy = benes_twiddle(p, reverse=True).astype(dt)
    tw = np.empty((2, 2) + H.shape, dtype=dt)
    tw[0, 0], tw[0, 1], tw[1, 0], tw[1, 1] = H, xy[0], xy[1], H
    scale_input(tw, b)  # factor 0, B'^* stage 0 (stride n/2): columns
    first = tw[1, 1, 0]  # stride 1: pair p on (2p, 2p+1)
    first[:, :, 0] *= g[0::2, None]
    first[:, :, 1] *= g[1::2, None]
    scale_output(tw, s)  # last factor, B stage L-1 (stride n/2): rows
    return kmatrix_of(tw, n, n, dtype)


def _dct_parts(n: int):
    """DCT-II (orthonormal) = Re(D F_n) P (Makhoul; see kmatrix.transforms.trig): the twiddle of
    Re(D F_n) (as (M + conj M)/2, stacked) and the permutation P."""
    from ..transforms.trig import _dct_diag, _makhoul_perm

    tw, N = dft_any_twiddle(n)
    d = np.zeros(N, dtype=np.complex128)
    d[:n] = _dct_diag(n) / 2
    m = scale_output(tw.copy(), d)
    re = sum_twiddle([m, np.conj(m)], "stacked")
    perm = _makhoul_perm(n)
    P = benes_twiddle(np.concatenate([perm, np.arange(n, padded_size(n))]))
    return product_twiddle([(re, n, n), (P, n, n)])[0]


def acdc(a, d, dtype: torch.dtype | None = None) -> KMatrix:
    """ACDC (Moczulski et al. 2016): A·C·D·C⁻¹ with A = diag(a), D = diag(d) and C the
    orthonormal DCT-II (``scipy.fft.dct(·, norm="ortho")``, so C⁻¹ = Cᵀ), any n = len(a).
    C = Re(D' F_n)·P is a KMatrix as (M + conj M)/2 (a stacked sum, real up to rounding) times a
    Beneš factor; A and D fold into the last stages of C and Cᵀ: **width 4** for n a power of
    two (6 with Bluestein). A complex KMatrix (``dtype`` default complex128) whose dense form is
    real up to rounding for real a, d.

    Examples
    --------
    >>> import scipy.fft
    >>> a, d = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    >>> K = kmatrix.acdc(a, d)
    >>> C = torch.from_numpy(scipy.fft.dct(torch.eye(8).numpy(), axis=0, norm="ortho")).double()
    >>> K.width, torch.allclose(K.to_dense().real, torch.diag(a) @ C @ torch.diag(d) @ C.T)
    (4, True)
    """
    a = _vector(a, "a")
    n = a.shape[0]
    d = _vector(d, "d", n)
    dtype = _dtype_for(dtype)
    C = _dct_parts(n)
    Ct = np.swapaxes(C[::-1, ::-1, ::-1], -1, -2).copy()  # transpose (no conjugation)
    N = 2 * C.shape[3]
    pad = np.zeros(N, dtype=np.complex128)
    pad[:n] = a
    Ca = scale_output(C.astype(np.complex128), pad)
    pad = np.zeros(N, dtype=np.complex128)
    pad[:n] = d
    Ctd = scale_output(Ct.astype(np.complex128), pad)
    t, k_in, k_out = product_twiddle([(Ca, n, n), (Ctd, n, n)])
    return kmatrix_of(t, k_in, k_out, dtype)


def haar(n: int, dtype: torch.dtype | None = None) -> KMatrix:
    """The orthonormal multilevel Haar wavelet transform of length n (a power of two ≥ 2), with
    the coefficients in ``pywt.wavedec(x, "haar")`` order [a_L, d_L, d_{L−1}, …, d_1] (d_1 the
    n/2 finest details), as a KMatrix of **width 2**: factor 1's B stages compute level k at
    stride 2^k on the positions ≡ 0 mod 2^(k+1) (blocks [[1, 1], [1, −1]]/√2), leaving the level-k
    details at the positions 2^k·(2t + 1); factor 2 (Beneš) sorts them into wavedec order.
    ``dtype`` default float64.

    Examples
    --------
    >>> H = kmatrix.haar(4, dtype=torch.float64)
    >>> [[f"{v:.4f}" for v in row] for row in H.to_dense().tolist()]
    [['0.5000', '0.5000', '0.5000', '0.5000'], ['0.5000', '0.5000', '-0.5000', '-0.5000'], ['0.7071', '-0.7071', '0.0000', '0.0000'], ['0.0000', '0.0000', '0.7071', '-0.7071']]
    """
    n = _check_n(n, "n")
    if n < 2 or n & (n - 1):
        raise ValueError(f"n: expected a power of two ≥ 2 for the Haar transform, got {n}")
    dtype = resolve_dtype(dtype, torch.float64)
    levels = n.bit_length() - 1
    tw = identity_twiddle(1, n)
    r = 1 / math.sqrt(2)
    blk = np.array([[r, r], [r, -r]])
    for k in range(levels):
        s = 1 << k
        i = pair_low(n, s)
        tw[0, 1, k][i % (2 * s) == 0] = blk
    pos = np.arange(n)
    out = np.zeros(n, dtype=np.int64)  # out[position] = wavedec index
    for p in range(1, n):
        k = (p & -p).bit_length() - 1  # level k + 1 detail, index t
        t = p >> (k + 1)
        out[p] = (n >> (k + 1)) + t
    perm = np.empty(n, dtype=np.int64)
    perm[out] = pos  # y[out[p]] = z[p]
    P = benes_twiddle(perm)
    return kmatrix_of(np.concatenate([tw, P]), n, n, dtype)
