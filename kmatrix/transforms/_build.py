"""Exact K-matrix twiddles for the classical transforms, built in float64/complex128 numpy.

The central piece is :func:`dft_twiddle`: the N-point DFT (N = 2^n) as ONE factor B·B*
(width 1, Beneš order), built by a small compiler that tracks, over GF(2), which variables each
bit position of the index holds (see :func:`_dft_schedule`). The other constructions
(circulant = F⁻¹ diag(F c) F, Bluestein's DFT of any length, Makhoul's DCT) absorb diagonal
scalings into the first / last stage of these twiddles.

Twiddle layout: (w, 2, n, N/2, 2, 2), as :class:`kmatrix.KMatrix`.
"""

from __future__ import annotations

import numpy as np
import torch

from ..core.validation import complex_dtype_of
from ..families.kaleidoscope import KMatrix, expansion_for

__all__ = [
    "circulant_twiddle",
    "dft_any_twiddle",
    "dft_twiddle",
    "kmatrix_from",
    "next_pow2",
    "scale_input",
    "scale_output",
]


def next_pow2(m: int) -> int:
    """Smallest power of two ≥ max(m, 2)."""
    return max(2, 1 << max(0, (int(m) - 1).bit_length()))


# ---------------------------------------------------------------------------------------------
# The DFT in BB* (width 1)
# ---------------------------------------------------------------------------------------------
def _dft_schedule(n: int):
    """Beneš-order program for F_N, N = 2^n, as 2n stages (pass 1: positions n−1 … 0, the B*
    part; pass 2: positions 0 … n−1, the B part).

    Index bits: input j = Σ j_b 2^b, output k = Σ k_a 2^a, F[k, j] = ω^{jk} = Π_{a+b ≤ n−1}
    ω^{2^{a+b} k_a j_b}. The state of the computation is a function of n bit positions, each
    holding an XOR (over GF(2)) of live variables (j's not yet summed, k's already produced).
    A *transform* stage at position p sums over j_b (which must sit in p alone) and produces
    k_{n−1−b}: its 2×2 block is the Hadamard-like [[ω^..]] carrying every phase ω^{2^{a+b} k_a
    j_b} with a ≤ n−1−b (all those k_a exist by then, since j's are consumed in the order
    j_{n−1}, …, j_0 and k's produced in the order k_0, …, k_{n−1}). An *XOR* stage adds other
    positions into p (a controlled swap). The routing: for each pair (p, q) = (n−1−b, b) with
    p > q, pass 1 at p consumes j_p → k_q and stores k_q ⊕ j_q; pass 1 at q turns j_q into k_q
    (XOR with p); pass 2 at p consumes j_q → k_p. A middle position (n odd) is transformed in
    place. At the end position a holds k_a, with no bit-reversal left over.

    Returns a list of (position, contents before, contents after, transform) where contents are
    bitmasks over the 2n variables (j_b = bit b, k_a = bit n + a) and transform is (b, a) or
    None.
    """
    contents = [1 << b for b in range(n)]
    prog = []

    def push(p, new, transform):
        before = list(contents)
        contents[p] = new
        prog.append((p, before, list(contents), transform))

    for t in range(n):  # pass 1, positions n-1 ... 0
        p = n - 1 - t
        if 2 * p > n - 1:
            b = n - 1 - p
            push(p, (1 << (n + b)) | contents[b], (p, b))
        elif 2 * p == n - 1:
            push(p, 1 << (n + p), (p, p))
        else:
            push(p, contents[p] ^ contents[n - 1 - p], None)
    for p in range(n):  # pass 2, positions 0 ... n-1
        if 2 * p > n - 1:
            push(p, 1 << (n + p), (n - 1 - p, p))
        else:
            push(p, contents[p], None)
    assert contents == [1 << (n + a) for a in range(n)]
    return prog


def _gf2_decoder(contents: list[int], nvars: int):
    """Variables live in ``contents`` and a function mapping states (int array) to their values
    (dict var -> 0/1 array): solves contents · z = state over GF(2)."""
    n = len(contents)
    live = [v for v in range(nvars) if any((c >> v) & 1 for c in contents)]
    assert len(live) == n, "contents must form an invertible map"
    a = np.array([[(c >> v) & 1 for v in live] for c in contents], dtype=np.int64)  # n × n
    # invert over GF(2) by Gauss-Jordan on [a | I]
    aug = np.concatenate([a, np.eye(n, dtype=np.int64)], axis=1)
    for col in range(n):
        piv = next(r for r in range(col, n) if aug[r, col])
        aug[[col, piv]] = aug[[piv, col]]
        for r in range(n):
            if r != col and aug[r, col]:
                aug[r] ^= aug[col]
    ainv = aug[:, n:]  # z = ainv · s

    def decode(states: np.ndarray) -> dict[int, np.ndarray]:
        bits = (states[:, None] >> np.arange(n)[None, :]) & 1
        z = (bits @ ainv.T) & 1
        return {v: z[:, i] for i, v in enumerate(live)}

    return decode


def dft_twiddle(n_bits: int) -> np.ndarray:
    """Twiddles (1, 2, n, N/2, 2, 2) of the K-matrix equal to F_N, N = 2^n (n ≥ 1), exactly
    (up to the rounding of the roots of unity): the DFT lies in BB* itself, width 1."""
    n = n_bits
    N = 1 << n
    half = N // 2
    roots = np.exp(-2j * np.pi * np.arange(N) / N)
    prog = _dft_schedule(n)
    tw = np.zeros((1, 2, n, half, 2, 2), dtype=np.complex128)
    pairs = np.arange(half)
    for t, (p, before, after, transform) in enumerate(prog):
        s = 1 << p
        i = (pairs // s) * 2 * s + pairs % s
        dec_in = _gf2_decoder(before, 2 * n)
        dec_out = _gf2_decoder(after, 2 * n)
        block = np.zeros((half, 2, 2), dtype=np.complex128)
        for u in (0, 1):
            zo = dec_out(i + u * s)
            for v in (0, 1):
                zi = dec_in(i + v * s)
                ok = np.ones(half, dtype=bool)
                for var in set(zi) & set(zo):
                    ok &= zi[var] == zo[var]
                if transform is None:
                    block[:, u, v] = ok
                    continue
                b, a = transform
                expo = np.zeros(half, dtype=np.int64)
                for a2 in range(a + 1):
                    expo += (zo[n + a2] * zi[b]) << (a2 + b)
                block[:, u, v] = np.where(ok, roots[expo % N], 0)
        part, stage = (0, t) if t < n else (1, t - n)
        tw[0, part, stage] = block
    return tw


# ---------------------------------------------------------------------------------------------
# Diagonal absorption, circulants, Bluestein
# ---------------------------------------------------------------------------------------------
def scale_input(tw: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Twiddles of K·diag(d): the first stage applied (factor 0, part 0, stage 0; stride N/2,
    pair p on (p, p + N/2)) gets its columns scaled. In place; returns ``tw``."""
    half = tw.shape[3]
    tw[0, 0, 0, :, :, 0] *= d[:half, None]
    tw[0, 0, 0, :, :, 1] *= d[half:, None]
    return tw


def scale_output(tw: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Twiddles of diag(d)·K: the last stage (last factor, part 1, last stage; stride N/2) gets
    its rows scaled. In place; returns ``tw``."""
    half = tw.shape[3]
    tw[-1, 1, -1, :, 0, :] *= d[:half, None]
    tw[-1, 1, -1, :, 1, :] *= d[half:, None]
    return tw


def conj_transpose(tw: np.ndarray) -> np.ndarray:
    """Twiddles of Kᴴ: flip (factor, part, stage), conjugate-transpose each block."""
    return np.conj(np.swapaxes(tw[::-1, ::-1, ::-1], -1, -2)).copy()


def circulant_twiddle(col: np.ndarray) -> np.ndarray:
    """Width-2 twiddles of the N×N circulant C[i, j] = col[(i − j) mod N] (N = len(col) a power
    of two ≥ 2): C = F⁻¹ diag(F col) F = (1/N) Fᴴ diag(λ) F, F ∈ BB* (width 1), Fᴴ ∈ BB*
    (BB* is closed under ᴴ), λ absorbed into F's last stage, 1/N into Fᴴ's first."""
    N = len(col)
    f = dft_twiddle(N.bit_length() - 1)
    lam = np.fft.fft(np.asarray(col, dtype=np.complex128))
    first = scale_output(f.copy(), lam)
    second = conj_transpose(f)
    second[0, 0, 0] /= N
    return np.concatenate([first, second], axis=0)


def toeplitz_column(c: np.ndarray, r: np.ndarray) -> np.ndarray:
    """First column of the smallest power-of-two circulant whose (m × k) upper-left corner is
    the Toeplitz matrix T[i, j] = c[i − j] (i ≥ j), r[j − i] (j > i), m = len(c), k = len(r).

    The circulant's entry at offset t = (i − j) mod N serves both c[t] (t < m) and r[N − t]
    (N − t < k); the two uses collide for t in [N − k + 1, m − 1], harmlessly where both are
    zero. With m' (k') the length of c (of r) up to its last nonzero, the corner is exact iff
    N ≥ max(m, k, m' + k − 1, m + k' − 1) (≤ m + k − 1; a narrow band needs less).
    """
    m, k = len(c), len(r)
    nz_c = np.flatnonzero(c)
    nz_r = np.flatnonzero(r[1:])
    mc = (nz_c[-1] + 1) if len(nz_c) else 1
    kr = (nz_r[-1] + 2) if len(nz_r) else 1
    N = next_pow2(max(m, k, mc + k - 1, m + kr - 1))
    col = np.zeros(N, dtype=np.complex128)
    col[:mc] = c[:mc]
    if kr > 1:
        col[N - (kr - 1):] = r[1:kr][::-1]
    return col


def dft_any_twiddle(n: int) -> tuple[np.ndarray, int]:
    """Twiddles of a K-matrix whose n×n corner is F_n, and its size N.

    n a power of two (or 1): width 1, N = max(n, 2). Otherwise Bluestein: ij = (i² + j² −
    (i − j)²)/2 gives F_n = A T A with A = diag(e^{−πι i²/n}) and the symmetric Toeplitz
    T[i, j] = e^{πι (i−j)²/n}, T the corner of a circulant of size N ≥ 2n − 1: width 2, A
    absorbed into the first and last stages.
    """
    if n & (n - 1) == 0:
        N = max(n, 2)
        return dft_twiddle(N.bit_length() - 1), N
    d = np.arange(n)
    chirp_t = np.exp(1j * np.pi * ((d * d) % (2 * n)) / n)  # T's first column (= first row)
    col = toeplitz_column(chirp_t, chirp_t)
    N = len(col)
    tw = circulant_twiddle(col)
    a = np.zeros(N, dtype=np.complex128)
    a[:n] = np.conj(chirp_t)
    scale_input(tw, a)
    scale_output(tw, a)
    return tw, N


def kmatrix_from(tw: np.ndarray, in_size: int, out_size: int, dtype: torch.dtype) -> KMatrix:
    """The KMatrix of these twiddles, corner out_size × in_size, in ``dtype`` (complex twiddles
    keep a complex dtype of that precision)."""
    N = 2 * tw.shape[3]
    t = torch.from_numpy(np.ascontiguousarray(tw))
    if np.iscomplexobj(tw) and not dtype.is_complex:
        dtype = complex_dtype_of(dtype)
    t = t.to(dtype)
    return KMatrix(in_size, out_size, width=tw.shape[0], expansion=expansion_for(in_size, out_size, N), init=t)
