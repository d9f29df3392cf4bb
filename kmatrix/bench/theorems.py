"""``kmatrix bench theorems``: the kaleidoscope-theorem constructions — time to build, widths and
expansions reached against the theorem bounds, product time against the input's own fast
product, and Theorem 2.9's linearized-circuit sizes.

* ``benes`` (Theorem 5.6) at n = 2^10 … 2^16: routing + KMatrix construction time (target: n =
  2^16 under 2 s), product time (batch 16, float32) against ``Permutation`` (an index gather);
* ``sparse_to_kmatrix`` (Theorem 5.7) at n = 2^12 with s = 4n random nonzeros: build time,
  width / expansion vs the bound 4⌈s/n⌉ / 4, product time against ``Sparse`` (CSR);
* ``circuit_to_kmatrix`` (Theorem 5.5) of fft(2^10): build time, width vs d, N vs s, num_params,
  product time against the circuit's own torch evaluation and against ``transforms.dft`` (the
  hand-built width-1 DFT);
* ``Circuit.linearize`` (Theorem 2.9): size of the linear circuit / size of the input circuit,
  for Karatsuba's product with one operand fixed, Horner's rule with t fixed, and for random linear circuits hidden behind
  products and quotients.

Times are medians of ``--repeats`` runs (shared machines: quote them with that caveat); ratios
are measured in the same run.
"""

from __future__ import annotations

import argparse
import random
from fractions import Fraction

import numpy as np
import torch
from tqdm import tqdm

from ._timing import format_table, median_time


def _progress(items, desc):
    import sys

    return tqdm(items, desc=desc, unit="case", disable=not sys.stderr.isatty())


def benes_table(log2s, repeats, batch=16):
    from ..families.permutation import Permutation
    from ..theorems import benes

    rng = np.random.default_rng(0)
    rows = []
    for k in _progress(log2s, "benes"):
        n = 1 << k
        p = rng.permutation(n)
        t_build = median_time(lambda p=p: benes(p, dtype=torch.float32), repeats=repeats, warmup=1)
        K = benes(p, dtype=torch.float32)
        P = Permutation(p, dtype=torch.float32)
        x = torch.randn(batch, n)
        assert torch.equal(K(x), P(x))
        with torch.no_grad():
            t_k = median_time(lambda K=K, x=x: K(x), repeats=repeats, min_time=0.02)
            t_p = median_time(lambda P=P, x=x: P(x), repeats=repeats, min_time=0.02)
        rows.append([f"2^{k}", K.width, K.expansion, t_build, t_k * 1e3, t_p * 1e3, t_k / t_p])
    return ["n", "width", "expansion", "build (s)", "KMatrix ms", "Permutation ms", "ratio"], rows


def sparse_table(log2, ratio_s, repeats, batch=16):
    import scipy.sparse as sps

    from ..families.sparse import Sparse
    from ..theorems import sparse_to_kmatrix
    from ..theorems.sparse import theorem_5_7_bound

    n = 1 << log2
    s = ratio_s * n
    rng = np.random.default_rng(1)
    idx = rng.choice(n * n, size=s, replace=False)
    S = sps.coo_matrix((rng.standard_normal(s), (idx // n, idx % n)), shape=(n, n))
    t_build = median_time(lambda: sparse_to_kmatrix(S), repeats=max(1, repeats // 2), warmup=0)
    K = sparse_to_kmatrix(S, dtype=torch.float32)
    Sp = Sparse(S.row, S.col, S.data, (n, n), dtype=torch.float32)
    x = torch.randn(batch, n)
    with torch.no_grad():
        ref = Sp(x)
        err = float((K(x) - ref).norm() / ref.norm())
        t_k = median_time(lambda K=K, x=x: K(x), repeats=repeats, min_time=0.02)
        t_s = median_time(lambda: Sp(x), repeats=repeats, min_time=0.02)
    bw, be = theorem_5_7_bound(s, n, n)
    row = [
        f"2^{log2}",
        f"{ratio_s}n",
        f"{K.width} / {bw}",
        f"{K.expansion} / {be}",
        K.num_params,
        t_build,
        t_k * 1e3,
        t_s * 1e3,
        t_k / t_s,
        err,
    ]
    return [
        "n",
        "s",
        "width / bound",
        "expansion / bound",
        "num_params",
        "build (s)",
        "KMatrix ms",
        "Sparse ms",
        "ratio",
        "rel. error (f32)",
    ], [row]


def circuit_table(log2, repeats, batch=16):
    from ..circuits import fft
    from ..theorems import circuit_to_kmatrix
    from ..transforms import dft

    n = 1 << log2
    c = fft(n)
    t_build = median_time(lambda: circuit_to_kmatrix(c), repeats=max(1, repeats // 2), warmup=0)
    K = circuit_to_kmatrix(c, dtype=torch.complex64)
    F = dft(n, dtype=torch.complex64)
    x = torch.randn(batch, n, dtype=torch.complex64)
    with torch.no_grad():
        ref = torch.fft.fft(x)
        err = float((K(x) - ref).norm() / ref.norm())
        t_k = median_time(lambda K=K, x=x: K(x), repeats=repeats, min_time=0.02)
        t_c = median_time(lambda: c(x), repeats=repeats, min_time=0.02)
        t_f = median_time(lambda: F(x), repeats=repeats, min_time=0.02)
    row = [
        f"fft(2^{log2})",
        c.size,
        c.depth,
        f"{K.width} / {4 * c.depth}",
        K.size,
        K.num_params,
        t_build,
        t_k * 1e3,
        t_c * 1e3,
        t_f * 1e3,
        err,
    ]
    return [
        "circuit",
        "s",
        "d",
        "width / 4d",
        "N",
        "num_params",
        "build (s)",
        "KMatrix ms",
        "circuit ms",
        "dft(n) ms",
        "rel. error (c64)",
    ], [row]


def _obfuscated(rng: random.Random, n: int, gates: int):
    from ..circuits import Circuit

    lin = Circuit(n)
    w = list(lin.x)
    for _ in range(gates):
        w.append(
            w[rng.randrange(len(w))] * Fraction(rng.randint(-5, 5), rng.randint(1, 3))
            + w[rng.randrange(len(w))]
        )
    for o in w[-n:]:
        lin.output(o)
    obf = Circuit(n)
    v = list(obf.x)
    for i in range(n, lin.num_nodes):
        g = lin.node(i)
        x = v[g.a] * g.alpha + v[g.b] * g.beta
        u = obf.x[rng.randrange(n)]
        v.append((x * u) / u if rng.random() < 0.5 else (x + 2) * (u + 1) - x * u - u * 2 - 2)
    for o in lin.outputs:
        obf.output(v[o])
    return lin, obf


def linearize_table(sizes):
    from ..circuits import FRACTION, fix_inputs, horner, polynomial_multiply

    rows = []
    for n in _progress(sizes, "linearize"):
        kara = fix_inputs(polynomial_multiply(n), {n + i: Fraction(i + 1, 3) for i in range(n)})
        L = kara.linearize(seed=0)
        rows.append(
            [f"karatsuba({n}), b fixed", kara.size, L.size, L.size / kara.size, kara.depth, L.depth]
        )
    for n in sizes:
        hor = fix_inputs(horner(n), {n: Fraction(2, 3)})  # t fixed: linear in the coefficients
        L = hor.linearize(seed=0)
        rows.append(
            [f"horner({n}), t fixed", hor.size, L.size, L.size / hor.size, hor.depth, L.depth]
        )
    r = random.Random(0)
    for n, g in ((8, 64), (16, 256), (32, 1024)):
        lin, obf = _obfuscated(r, n, g)
        L = obf.linearize(seed=1)
        assert L.to_dense(field=FRACTION) == lin.to_dense(field=FRACTION)
        rows.append(
            [
                f"random n={n}, {g} lin gates hidden",
                obf.size,
                L.size,
                L.size / obf.size,
                obf.depth,
                L.depth,
            ]
        )
    return ["circuit", "size s", "linear size", "ratio", "depth", "linear depth"], rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="kmatrix bench theorems", description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement (median)")
    p.add_argument(
        "--benes-log2", type=int, nargs="+", default=list(range(10, 17)), help="benes sizes 2^k"
    )
    p.add_argument(
        "--sparse-log2", type=int, default=12, help="sparse_to_kmatrix size 2^k (s = 4n)"
    )
    p.add_argument("--fft-log2", type=int, default=10, help="circuit_to_kmatrix of fft(2^k)")
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    args = p.parse_args(argv)
    if args.quick:
        args.benes_log2, args.sparse_log2, args.fft_log2, args.repeats = [6, 8], 6, 5, 2
    print(
        f"kmatrix bench theorems: torch threads = {torch.get_num_threads()}, median of {args.repeats} repeats\n"
    )
    print("Theorem 5.6: benes(perm), product batch 16 float32 vs Permutation (gather)")
    print(format_table(*benes_table(args.benes_log2, args.repeats)))
    print(
        "\nTheorem 5.7: sparse_to_kmatrix, s = 4n random nonzeros, product batch 16 float32 vs Sparse (CSR)"
    )
    print(format_table(*sparse_table(args.sparse_log2, 4, args.repeats)))
    print("\nTheorem 5.5: circuit_to_kmatrix(fft(n)), product batch 16 complex64")
    print(format_table(*circuit_table(args.fft_log2, args.repeats)))
    print("\nTheorem 2.9: Circuit.linearize, sizes (exact over Q)")
    print(format_table(*linearize_table([4, 16, 64] if not args.quick else [4, 8])))
    return 0
