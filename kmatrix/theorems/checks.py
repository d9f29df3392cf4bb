"""The theorem table: every construction run on fresh random instances and checked entrywise
against its input (what ``kmatrix verify`` prints).

Each check returns a :class:`Row`: the theorem, the instance, n, s (nonzeros or gates), d
(depth), the width and expansion reached against the theorem's bound, num_params, the error
max|K − ref| / max|ref| against an independent dense reference, whether exactness (error 0)
is required, the construction time and a pass flag. Exact checks (0/1 switches with the input's
own values) pass only with error 0; the others need ≤ 1e-12 (float64/complex128).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

__all__ = ["GROUPS", "Row", "run_checks"]

TOL = 1e-12


@dataclass
class Row:
    theorem: str
    instance: str
    n: int
    s: object
    d: object
    width: str
    expansion: str
    num_params: object
    error: float
    exact: bool
    seconds: float
    ok: bool


def _err(K, ref) -> float:
    D = K.to_dense().detach().cpu().numpy()
    ref = np.asarray(ref)
    scale = max(np.abs(ref).max(), 1e-300)
    return float(np.abs(D - ref).max() / scale)


def _row(theorem, instance, n, s, d, K, bound_w, bound_e, ref, exact, seconds) -> Row:
    err = _err(K, ref)
    ok = (err == 0.0 if exact else err <= TOL) and (bound_w is None or K.width <= bound_w)
    ok = ok and (bound_e is None or K.expansion <= bound_e)
    bw = "" if bound_w is None else f" / ≤{bound_w}"
    be = "" if bound_e is None else f" / ≤{bound_e}"
    return Row(
        theorem,
        instance,
        n,
        s,
        d,
        f"{K.width}{bw}",
        f"{K.expansion}{be}",
        K.num_params,
        err,
        exact,
        seconds,
        ok,
    )


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def _random_sparse(m, n, s, rng, complex_=False):
    A = np.zeros((m, n), dtype=complex if complex_ else float)
    idx = rng.choice(m * n, size=s, replace=False)
    A.flat[idx] = rng.standard_normal(s) + (1j * rng.standard_normal(s) if complex_ else 0)
    return A


def _checks_benes(rng):
    from .benes import benes

    for n in (1000, 1024):
        p = rng.permutation(n)
        K, t = _timed(lambda p=p: benes(p, dtype=torch.float64))
        ref = np.zeros((n, n))
        ref[np.arange(n), p] = 1
        yield _row("5.6 benes", "random perm", n, "-", "-", K, 1, 1, ref, True, t)


def _checks_sparse(rng):
    from .sparse import sparse_to_kmatrix, theorem_5_7_bound

    for m, n, s, cplx in (
        (256, 256, 256, False),
        (256, 256, 768, True),
        (64, 64, 1024, False),
        (100, 60, 300, True),
    ):
        A = _random_sparse(m, n, s, rng, cplx)
        K, t = _timed(lambda A=A: sparse_to_kmatrix(A))
        bw, be = theorem_5_7_bound(s, m, n)
        kind = "complex" if cplx else "real"
        yield _row("5.7 sparse", f"{m}x{n} {kind}", max(m, n), s, "-", K, bw, be, A, True, t)
    A = np.diag(rng.standard_normal(512))
    K, t = _timed(lambda: sparse_to_kmatrix(A))
    yield _row("5.7 sparse", "diagonal", 512, 512, "-", K, 4, 4, A, True, t)


def _checks_sums(gen):
    from ..families.kaleidoscope import KMatrix
    from .sums import kmatrix_product, kmatrix_sum

    for specs in (((1, 1), (2, 1), (1, 2)), ((1, 1),) * 6):
        terms = [
            KMatrix(48, 48, width=w, expansion=e, dtype=torch.float64, generator=gen)
            for w, e in specs
        ]
        K, t = _timed(lambda terms=terms: kmatrix_sum(*terms))
        ref = sum(T.to_dense().detach().numpy() for T in terms)
        e = max(T.expansion for T in terms)
        yield _row(
            "sum (closure)",
            f"{len(terms)} K-matrices",
            48,
            "-",
            "-",
            K,
            sum(w for w, _ in specs),
            4 * e,
            ref,
            False,
            t,
        )
    A = KMatrix(40, 48, width=2, dtype=torch.complex128, generator=gen)
    B = KMatrix(48, 40, width=1, expansion=2, dtype=torch.complex128, generator=gen)
    K, t = _timed(lambda: kmatrix_product(A, B))
    ref = A.to_dense().detach().numpy() @ B.to_dense().detach().numpy()
    yield _row("product (closure)", "2 K-matrices", 48, "-", "-", K, 3, None, ref, False, t)


def _checks_circuits(rng):
    from .. import circuits as C
    from .circuits import circuit_to_kmatrix

    col = list(rng.standard_normal(16))
    sp = np.where(rng.random((64, 64)) < 0.05, rng.standard_normal((64, 64)), 0.0)
    for c in (
        C.fft(64),
        C.hadamard(64),
        C.prefix_sums(100),
        C.toeplitz(col, [col[0], *rng.standard_normal(15)]),
        C.from_matrix(sp),
    ):
        K, t = _timed(lambda c=c: circuit_to_kmatrix(c))
        n = max(c.n_inputs, c.n_outputs)
        bound_e = max(1, -(-4 * c.num_nodes // n))
        yield _row(
            "5.5 circuit",
            c.name,
            n,
            c.size,
            c.depth,
            K,
            4 * c.depth,
            bound_e,
            c.to_dense().numpy(),
            False,
            t,
        )


def _check_circuit_rows(rng):
    """Theorem 2.9 (linearize) and the converse of Theorem 4.5 (exact, over ℚ)."""
    from .. import circuits as C
    from ..circuits import FRACTION, Circuit

    rows = []
    n = 16
    b = [Fraction(int(rng.integers(-9, 10)), int(rng.integers(1, 5))) for _ in range(n)]
    kara = C.fix_inputs(C.polynomial_multiply(n), {n + i: b[i] for i in range(n)})
    L, t = _timed(lambda: kara.linearize(seed=0))
    ok = L.to_dense(field=FRACTION) == [
        [b[i - j] if 0 <= i - j < n else 0 for j in range(n)] for i in range(2 * n - 1)
    ]
    rows.append(
        Row(
            "2.9 linearize",
            f"karatsuba({n}), b fixed",
            n,
            f"{kara.size}→{L.size}",
            f"{kara.depth}→{L.depth}",
            "-",
            "-",
            "-",
            0.0 if ok else 1.0,
            True,
            t,
            ok,
        )
    )
    # a random linear circuit hidden behind products and quotients
    r = random.Random(int(rng.integers(2**31)))
    lin = Circuit(8)
    w = list(lin.x)
    for _ in range(40):
        w.append(
            w[r.randrange(len(w))] * Fraction(r.randint(-5, 5), r.randint(1, 3))
            + w[r.randrange(len(w))]
        )
    for o in w[-4:]:
        lin.output(o)
    obf = Circuit(8)
    v = list(obf.x)
    for i in range(8, lin.num_nodes):
        g = lin.node(i)
        x = v[g.a] * g.alpha + v[g.b] * g.beta
        u = obf.x[r.randrange(8)]
        v.append((x * u) / u if r.random() < 0.5 else (x + 2) * (u + 1) - x * u - u * 2 - 2)
    for o in lin.outputs:
        obf.output(v[o])
    L, t = _timed(lambda: obf.linearize(seed=1))
    ok = L.to_dense(field=FRACTION) == lin.to_dense(field=FRACTION)
    rows.append(
        Row(
            "2.9 linearize",
            "random, obfuscated",
            8,
            f"{obf.size}→{L.size}",
            f"{obf.depth}→{L.depth}",
            "-",
            "-",
            "-",
            0.0 if ok else 1.0,
            True,
            t,
            ok,
        )
    )
    c = C.fft(64)
    F, t = _timed(lambda: Circuit.from_sparse_factors(c.to_sparse_factors()))
    err = float((F.to_dense() - c.to_dense()).abs().max())
    rows.append(
        Row(
            "4.5 converse",
            "fft(64) round trip",
            64,
            f"{c.size}→{F.size}",
            f"{c.depth}→{F.depth}",
            "-",
            "-",
            "-",
            err,
            True,
            t,
            err == 0.0,
        )
    )
    return rows


def _checks_special(rng):
    import scipy.fft as sf
    import scipy.linalg as sl

    from . import special

    for n1, n2 in ((32, 32), (12, 10)):
        K, t = _timed(lambda n1=n1, n2=n2: special.fft2d(n1, n2))
        ref = np.kron(sf.fft(np.eye(n1), axis=0), sf.fft(np.eye(n2), axis=0))
        yield _row("special", f"fft2d({n1}x{n2})", n1 * n2, "-", "-", K, None, None, ref, False, t)
    co, ci, n1, n2 = 3, 2, 8, 8
    k = rng.standard_normal((co, ci, n1, n2))
    K, t = _timed(lambda: special.circular_conv2d(k))
    ref = np.zeros((co * n1 * n2, ci * n1 * n2))
    for c in range(ci):
        for i1 in range(n1):
            for i2 in range(n2):
                ref[:, c * n1 * n2 + i1 * n2 + i2] = np.roll(
                    k[:, c], (i1, i2), axis=(1, 2)
                ).reshape(-1)
    yield _row(
        "special",
        f"conv2d {ci}->{co} ch {n1}x{n2}",
        ci * n1 * n2,
        "-",
        "-",
        K,
        None,
        None,
        ref,
        False,
        t,
    )
    n = 256
    s, g, b = rng.standard_normal(n), rng.standard_normal(n), rng.choice([-1.0, 1.0], n)
    p = rng.permutation(n)
    K, t = _timed(lambda: special.fastfood(s, g, p, b))
    P = np.zeros((n, n))
    P[np.arange(n), p] = 1
    H = sl.hadamard(n)
    yield _row(
        "special",
        "fastfood",
        n,
        "-",
        "-",
        K,
        None,
        None,
        np.diag(s) @ H @ np.diag(g) @ P @ H @ np.diag(b),
        False,
        t,
    )
    n = 64
    a, d = rng.standard_normal(n), rng.standard_normal(n)
    Cm = sf.dct(np.eye(n), norm="ortho", axis=0)
    K, t = _timed(lambda: special.acdc(a, d))
    yield _row(
        "special", "acdc", n, "-", "-", K, None, None, np.diag(a) @ Cm @ np.diag(d) @ Cm.T, False, t
    )
    n = 256
    K, t = _timed(lambda: special.haar(n))
    ref = np.zeros((n, n))
    for j in range(n):
        x = np.zeros(n)
        x[j] = 1
        out, a_ = [], x
        while len(a_) > 1:
            out.insert(0, (a_[0::2] - a_[1::2]) / np.sqrt(2))
            a_ = (a_[0::2] + a_[1::2]) / np.sqrt(2)
        ref[:, j] = np.concatenate([a_, *out])
    yield _row("special", "haar", n, "-", "-", K, None, None, ref, False, t)


GROUPS = ("benes", "sparse", "sums", "circuits", "linearize", "special")


def run_checks(seed: int | None = None, only=None) -> tuple[list[Row], int]:
    """All checks (or the groups in ``only``, a subset of :data:`GROUPS`) on instances drawn
    from ``seed`` (fresh when None); returns (rows, seed)."""
    only = GROUPS if only is None else tuple(only)
    bad = [g for g in only if g not in GROUPS]
    if bad:
        raise ValueError(f"only: unknown check groups {bad}; expected some of {GROUPS}")
    if seed is None:
        seed = int.from_bytes(np.random.default_rng().bytes(4), "little")
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    runs = {
        "benes": lambda: list(_checks_benes(rng)),
        "sparse": lambda: list(_checks_sparse(rng)),
        "sums": lambda: list(_checks_sums(gen)),
        "circuits": lambda: list(_checks_circuits(rng)),
        "linearize": lambda: _check_circuit_rows(rng),
        "special": lambda: list(_checks_special(rng)),
    }
    rows: list[Row] = []
    for g in GROUPS:
        if g in only:
            rows += runs[g]()
    return rows, seed
