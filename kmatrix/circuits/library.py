"""A library of circuits with known size and depth (survey §2.5, Theorem 2.5).

Sizes count gates (inputs and constants free, constant factors folded into the α, β of the
consuming gate; see :mod:`kmatrix.circuits.circuit`); k = log₂ n.

==========================  ============================================  =====================
circuit                     size                                          depth
==========================  ============================================  =====================
``from_matrix(W)`` (m×n,    m(n − 1)  (n ≥ 2; zero entries are skipped)   ⌈log₂ n⌉
all entries ≠ 0)
``fft(n)``, ``hadamard(n)``  n·k  (each butterfly output is one gate      k
                            u ± ω·v)
``prefix_sums(n)`` Sklansky  (n/2)·k for n = 2^k; S(n) = S(⌈n/2⌉) +        ⌈log₂ n⌉
                            S(⌊n/2⌋) + ⌊n/2⌋ in general
``prefix_sums(n,            n − 1                                          n − 1
"sequential")``
``polynomial_multiply(n)``  7·3^k − 8n + 2  (3^k of them products)         3k + 1
(Karatsuba)
``horner(n)``               2(n − 1)  (n − 1 products)                     2(n − 1)
``toeplitz(c, r)``, n×n,    3^(k+1) − 3n  (n ≥ 2; 1 for n = 1)             2k (n ≥ 2)
n = 2^k, generic entries
==========================  ============================================  =====================

The Toeplitz circuit is the Karatsuba-style 2×2 block split T = [[A, B], [C, A]]:
y₀ = A(x₀ + x₁) + (B − A)x₁, y₁ = A(x₀ + x₁) + (C − A)x₀ with three half-size Toeplitz
products (B − A and C − A are Toeplitz; their entries are computed at build time), so its
constants are differences of the entries of c and r: rational entries give an exact circuit
that evaluates over ℚ and GF(p) too. Other shapes are zero-padded to N×N (N = 2^⌈log₂ max(m,n)⌉),
zero constants fold away and the dead gates are pruned, so the size is at most the formula at N.
"""

from __future__ import annotations

import cmath
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .circuit import Circuit, Wire
from .fields import GF

__all__ = [
    "LIBRARY",
    "balanced_sum",
    "fft",
    "from_matrix",
    "hadamard",
    "horner",
    "polynomial_multiply",
    "prefix_sums",
    "toeplitz",
]


def _check_pow2(n: Any, name: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name}: expected a positive integer, got {n!r}")
    n = int(n)
    if n & (n - 1):
        raise ValueError(f"{name}: expected a power of two, got {n}")
    return n


def _check_pos(n: Any, name: str = "n") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name}: expected a positive integer, got {n!r}")
    return int(n)


def balanced_sum(circuit: Circuit, wires: Sequence[Wire]) -> Wire:
    """Σ wires by a balanced binary tree: len − 1 gates (fewer when terms are constant),
    depth ⌈log₂ len⌉ above the deepest term. The empty sum is the constant 0.

    Examples
    --------
    >>> from kmatrix import circuits
    >>> c = circuits.Circuit(4)
    >>> node = c.output(circuits.balanced_sum(c, [c.x[i] for i in range(4)]))
    >>> c.depth, c.evaluate([1, 2, 3, 4], field="fraction") == [10]
    (2, True)
    """
    level = list(wires)
    if not level:
        return Wire(circuit, None, 0)
    while len(level) > 1:
        nxt = [level[i] + level[i + 1] for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def _matrix_entries(W: Any) -> list[list[Any]]:
    if isinstance(W, torch.Tensor):
        if W.ndim != 2:
            raise ValueError(f"W: expected a 2-d matrix, got shape {tuple(W.shape)}")
        return W.detach().cpu().tolist()
    arr = np.array(W, dtype=object)
    if arr.ndim != 2:
        raise ValueError(f"W: expected a 2-d matrix (list of rows), got shape {arr.shape}")
    return arr.tolist()


def from_matrix(W: Any, field: GF | None = None) -> Circuit:
    """The naive circuit of §2.5 for x ↦ W x: each output y_i = Σ_j W[i, j] x_j as a balanced
    tree of α·X + β·Y gates over the non-zero entries (constants folded into the leaves).

    ``W``: a tensor, an array, or a list of rows (ints / Fractions stay exact). Size
    Σ_i max(nnz_i − 1, 0) plus one gate per row that is a single scaled entry or zero (m(n − 1)
    for a dense matrix, n ≥ 2); depth ⌈log₂ max_i nnz_i⌉ (⌈log₂ n⌉ dense).

    Examples
    --------
    >>> from kmatrix import circuits
    >>> c = circuits.from_matrix([[1, 2], [0, 3]])
    >>> c.to_dense(field="fraction") == [[1, 2], [0, 3]]
    True
    """
    rows = _matrix_entries(W)
    m = len(rows)
    n = len(rows[0]) if m else 0
    if m == 0 or n == 0:
        raise ValueError(f"W: expected a non-empty matrix, got shape ({m}, {n})")
    c = Circuit(n, field=field)
    c.name = f"from_matrix({m}x{n})"
    for i, row in enumerate(rows):
        terms = []
        for j, v in enumerate(row):
            w = c._constant(v, f"W[{i}][{j}]")
            if not c._is_zero(w):
                terms.append(c.x[j] * w)
        c.output(balanced_sum(c, terms))
    return c


def _twiddle(e: int, n: int) -> complex | int:
    """ω^e with ω = e^{−2πι/n} (torch.fft.fft convention); exact for ω^e ∈ {1, −ι, −1, ι}."""
    e %= n
    if (4 * e) % n == 0:
        return (1, -1j, -1, 1j)[(4 * e) // n]
    return cmath.exp(-2j * math.pi * e / n)


def fft(n: int, field: GF | None = None) -> Circuit:
    """Radix-2 decimation-in-time Cooley–Tukey FFT (Theorem 2.5): y = F_n x with
    F_n[i, j] = ω^{ij}, ω = e^{−2πι/n} (torch.fft.fft's convention, NOTES.md).

    The inputs are read in bit-reversed order (wiring, no gates), then k = log₂ n stages of
    n/2 butterflies (u, v) ↦ (u + ω^j v, u − ω^j v), each output one gate: size n·k, depth k.
    ``field=GF(p)`` builds the number-theoretic transform over GF(p) with ω the primitive n-th
    root of unity of :meth:`GF.root_of_unity` (needs p ≡ 1 mod n).

    Examples
    --------
    >>> from kmatrix import circuits
    >>> f = circuits.fft(8)
    >>> f.size, f.depth
    (24, 3)
    >>> x = torch.randn(8, dtype=torch.complex128)
    >>> bool((f.evaluate(x) - torch.fft.fft(x)).abs().max() < 1e-12)
    True
    """
    n = _check_pow2(n)
    if field is not None:
        if not isinstance(field, GF):
            raise TypeError(f"field: expected None (ℂ) or GF(p), got {field!r}")
        omega = field.root_of_unity(n)
    c = Circuit(n, field=field)
    c.name = f"fft({n})" if field is None else f"ntt({n}, {field!r})"
    k = n.bit_length() - 1
    a = [c.x[int(format(i, f"0{k}b")[::-1] or "0", 2)] for i in range(n)]
    L = 2
    while L <= n:
        h = L // 2
        for start in range(0, n, L):
            for j in range(h):
                e = j * (n // L)
                w = pow(omega, e, field.p) if field is not None else _twiddle(e, n)
                u, v = a[start + j], a[start + j + h]
                a[start + j] = u + v * w
                a[start + j + h] = u - v * w
        L *= 2
    for w in a:
        c.output(w)
    return c


def hadamard(n: int) -> Circuit:
    """The Sylvester–Hadamard transform H_n[i, j] = (−1)^{popcount(i & j)} (unnormalised):
    k = log₂ n stages of butterflies (u + v, u − v); size n·k, depth k; constants ±1 (exact).

    Examples
    --------
    >>> from kmatrix import circuits
    >>> circuits.hadamard(2).to_dense(field="fraction") == [[1, 1], [1, -1]]
    True
    """
    n = _check_pow2(n)
    c = Circuit(n)
    c.name = f"hadamard({n})"
    a = list(c.x)
    h = 1
    while h < n:
        for start in range(0, n, 2 * h):
            for j in range(start, start + h):
                a[j], a[j + h] = a[j] + a[j + h], a[j] - a[j + h]
        h *= 2
    for w in a:
        c.output(w)
    return c


def prefix_sums(n: int, method: str = "sklansky") -> Circuit:
    """y_i = x_0 + … + x_i (the lower-triangular all-ones matrix).

    ``"sklansky"`` (default): prefix sums of both halves recursively, then the last sum of the
    lower half added to every element of the upper half: depth ⌈log₂ n⌉, size (n/2)·log₂ n for
    n = 2^k (recurrence S(n) = S(⌈n/2⌉) + S(⌊n/2⌋) + ⌊n/2⌋). ``"sequential"``: the running sum,
    size and depth n − 1.

    Examples
    --------
    >>> from kmatrix import circuits
    >>> p = circuits.prefix_sums(4)
    >>> p.evaluate([1, 2, 3, 4], field="fraction") == [1, 3, 6, 10], p.depth
    (True, 2)
    """
    n = _check_pos(n)
    if method not in ("sklansky", "sequential"):
        raise ValueError(f"method: expected 'sklansky' or 'sequential', got {method!r}")
    c = Circuit(n)
    c.name = f"prefix_sums({n}, {method})"

    def sk(xs: list[Wire]) -> list[Wire]:
        if len(xs) == 1:
            return xs
        h = (len(xs) + 1) // 2
        lo, hi = sk(xs[:h]), sk(xs[h:])
        return lo + [lo[-1] + v for v in hi]

    if method == "sklansky":
        ys = sk(list(c.x))
    else:
        ys = [c.x[0]]
        for j in range(1, n):
            ys.append(ys[-1] + c.x[j])
    for y in ys:
        c.output(y)
    return c


def polynomial_multiply(n: int) -> Circuit:
    """Coefficients of a(X)·b(X) for two polynomials of n coefficients (n a power of two) by
    Karatsuba: inputs (a_0…a_{n−1}, b_0…b_{n−1}), 2n − 1 outputs; non-linear (bilinear).

    With a = a₀ + X^h a₁, b = b₀ + X^h b₁: P₀ = a₀b₀, P₂ = a₁b₁, P₁ = (a₀+a₁)(b₀+b₁) and
    ab = P₀ + X^h (P₁ − P₀ − P₂) + X^{2h} P₂: 2h sums for P₁'s operands, 2 gates per middle
    coefficient (2h − 1 of them) and 1 more where it overlaps P₀ or P₂ (2h − 2 of them). Size
    K(n) = 3K(n/2) + 4n − 4, K(1) = 1, i.e. K(n) = 7·3^k − 8n + 2 of which 3^k products; depth
    D(n) = D(n/2) + 3 (P₁'s deepest coefficient, one level below P₀'s and P₂'s, gets two more
    levels), D(1) = 1, i.e. D(n) = 3k + 1.

    Examples
    --------
    (1 + 2z)(3 + 4z) = 3 + 10z + 8z²:

    >>> from kmatrix import circuits
    >>> circuits.polynomial_multiply(2).evaluate([1, 2, 3, 4], field="fraction") == [3, 10, 8]
    True
    """
    n = _check_pow2(n)
    c = Circuit(2 * n)
    c.name = f"polynomial_multiply({n})"

    def kara(a: list[Wire], b: list[Wire]) -> list[Wire]:
        m = len(a)
        if m == 1:
            return [a[0] * b[0]]
        h = m // 2
        p0 = kara(a[:h], b[:h])
        p2 = kara(a[h:], b[h:])
        p1 = kara([a[i] + a[h + i] for i in range(h)], [b[i] + b[h + i] for i in range(h)])
        # Middle coefficient k of X^h·(P1 − P0 − P2), plus the overlapping P0 or P2 term X:
        # (P1_k − P0_k) + (X − P2_k), or (P1_k − P0_k) − P2_k without overlap. Every middle
        # output is then exactly 2 levels above its deepest term (P1's), so D(2h) = D(h) + 3.
        out = list(p0[:h]) + [None] * (2 * h - 1) + list(p2[h - 1 :])
        for k in range(2 * h - 1):
            first = p1[k] - p0[k]
            if k < h - 1:
                out[h + k] = first + (p0[h + k] - p2[k])
            elif k >= h:
                out[h + k] = first + (p2[k - h] - p2[k])
            else:
                out[h + k] = first - p2[k]
        return out

    for w in kara(list(c.x[:n]), list(c.x[n:])):
        c.output(w)
    return c


def horner(n: int) -> Circuit:
    """p(t) = c_0 + c_1 t + … + c_{n−1} t^{n−1} by Horner's rule: inputs (c_0, …, c_{n−1}, t),
    one output; acc ← acc·t + c_i for i = n−2…0: size 2(n − 1) (n − 1 products), depth 2(n − 1).

    Examples
    --------
    Inputs (a_0, …, a_{n−1}, z), output a_0 + a_1 z + … + a_{n−1} z^{n−1}:

    >>> from kmatrix import circuits
    >>> circuits.horner(3).evaluate([1, 2, 3, 4], field="fraction") == [1 + 2 * 4 + 3 * 16]
    True
    """
    n = _check_pos(n)
    c = Circuit(n + 1)
    c.name = f"horner({n})"
    t = c.x[n]
    acc = c.x[n - 1]
    for i in range(n - 2, -1, -1):
        acc = acc * t + c.x[i]
    c.output(acc)
    return c


def toeplitz(col: Any, row: Any) -> Circuit:
    """The Toeplitz matrix T[i, j] = col[i − j] (i ≥ j), row[j − i] (j > i); col[0] must equal
    row[0] (m = len(col), n = len(row)). Karatsuba-style block split
    (``help("kmatrix.circuits.library")``): size 3^(k+1) − 3n and depth 2k for n×n, n = 2^k ≥ 2,
    when no constant difference vanishes.

    Examples
    --------
    >>> from kmatrix import circuits
    >>> T = circuits.toeplitz([1, 2, 3], [1, 4, 5])
    >>> T.to_dense(field="fraction") == [[1, 4, 5], [2, 1, 4], [3, 2, 1]]
    True
    """
    cvals = _vector(col, "c")
    rvals = _vector(row, "r")
    m, n = len(cvals), len(rvals)
    circ = Circuit(n)
    circ.name = f"toeplitz({m}x{n})"
    cv = [circ._constant(v, f"c[{i}]") for i, v in enumerate(cvals)]
    rv = [circ._constant(v, f"r[{i}]") for i, v in enumerate(rvals)]
    if cv[0] != rv[0]:
        raise ValueError(f"r: expected r[0] == c[0] (the shared diagonal), got c[0]={cv[0]!r}, r[0]={rv[0]!r}")
    N = 1 << max(m, n, 1).bit_length() - 1
    if N < max(m, n):
        N *= 2
    t = {k: 0 for k in range(-(N - 1), N)}
    for i, v in enumerate(cv):
        t[i] = v
    for j, v in enumerate(rv):
        t[-j] = v
    zero = Wire(circ, None, 0)
    xs = list(circ.x) + [zero] * (N - n)

    def sub(u, v):
        return circ._cadd(u, circ._cmul(-1, v))

    def toep(tk: dict, xv: list[Wire]) -> list[Wire]:
        L = len(xv)
        if L == 1:
            return [xv[0] * tk[0]]
        h = L // 2
        x0, x1 = xv[:h], xv[h:]
        s = [x0[i] + x1[i] for i in range(h)]
        rng = range(-(h - 1), h)
        p0 = toep({k: tk[k] for k in rng}, s)
        p1 = toep({k: sub(tk[k - h], tk[k]) for k in rng}, x1)
        p2 = toep({k: sub(tk[k + h], tk[k]) for k in rng}, x0)
        return [p0[i] + p1[i] for i in range(h)] + [p0[i] + p2[i] for i in range(h)]

    ys = toep(t, xs)[:m]
    for y in ys:
        circ.output(y)
    # padding rows, and sums feeding a sub-product whose constants all vanished, are dead
    return circ.prune()


def _vector(v: Any, name: str) -> list:
    if isinstance(v, torch.Tensor):
        if v.ndim != 1:
            raise ValueError(f"{name}: expected a 1-d vector, got shape {tuple(v.shape)}")
        vals = v.detach().cpu().tolist()
    else:
        arr = np.array(v, dtype=object)
        if arr.ndim != 1:
            raise ValueError(f"{name}: expected a 1-d vector, got shape {arr.shape}")
        vals = arr.tolist()
    if not vals:
        raise ValueError(f"{name}: expected a non-empty vector")
    return vals


def _library_toeplitz(n: int) -> Circuit:
    """n×n Toeplitz with fixed pseudo-random integer entries in [1, 10⁶] (seed n): generic, so
    the size is the formula's 3^(k+1) − 3n for n = 2^k."""
    import random

    rng = random.Random(n)
    col = [rng.randint(1, 10**6) for _ in range(n)]
    return toeplitz(col, [col[0]] + [rng.randint(1, 10**6) for _ in range(n - 1)])


#: name → builder(n) used by the CLI and the benchmark.
LIBRARY = {
    "fft": fft,
    "hadamard": hadamard,
    "prefix_sums": prefix_sums,
    "prefix_sums_sequential": lambda n: prefix_sums(n, "sequential"),
    "polynomial_multiply": polynomial_multiply,
    "horner": horner,
    "toeplitz": lambda n: _library_toeplitz(n),
}
