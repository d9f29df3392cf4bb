"""``kmatrix bench circuits``: measured size ratios of Baur–Strassen and of transposition.

The ratios are observations on the circuits below, not bounds. What is proven (and asserted in
the tests) is size(C′) ≤ 5·size(C) + n + m for the gradient circuit (Theorem 3.6) and, for the
transposition principle (Theorem 3.10), a statement about *additions plus multiplications by
constants* — not about gates: the reversal of a reduced circuit has exactly C's
multiplications by constants and #outputs − #inputs more additions (the last column), while
its gate count (``size``) can be larger, e.g. 1.55× on random circuits.

For each library circuit — ``circuits.LIBRARY``, plus ``from_matrix`` of a dense random integer
n×n matrix and the number-theoretic transform ``fft(n, field=GF(998244353))`` — and for random
circuits it prints

* size s and depth d of the circuit C;
* size of the gradient circuit C′ (inputs (x, seed), Theorem 3.6) and c = size(C′)/s;
* for linear circuits, the transposed circuit's size, additions and multiplications by constants
  (lin coefficients ∉ {0, ±1}) by DAG reversal and by Baur–Strassen on yᵀWx (Theorem 3.10),
  their ratios to s, and the Theorem 3.10 check: ``=`` when C is reduced and the reversal has
  exactly C's multiplications by constants and #outputs − #inputs more additions, ``≤`` when C
  is not reduced and both are at most that, ``FAIL`` otherwise;
* the wall-time ratio gradient(at)/evaluate(x) of the torch passes (median of repeats, batch
  64, float64/complex128; noisy on a shared machine) — Baur–Strassen's constant in time.

Sizes are exact counts (deterministic); only the last column is a timing. A summary line gives
the largest c over the library and over the random circuits.
"""

from __future__ import annotations

import argparse
import random
from fractions import Fraction

import torch

from ..circuits import GF, LIBRARY, Circuit, fft, from_matrix
from ._timing import format_table, median_time


def _random_circuit(rng: random.Random, n: int, gates: int, linear: bool) -> Circuit:
    c = Circuit(n)
    for _ in range(gates):
        N = c.num_nodes
        a, b = rng.randrange(N), rng.randrange(N)
        op = "lin" if linear or rng.random() < 0.5 else rng.choice(["mul", "mul", "div"])
        if op == "lin":
            c.lin(Fraction(rng.randint(-5, 5), rng.randint(1, 3)), a, Fraction(rng.randint(-5, 5), rng.randint(1, 3)), b)
        elif op == "mul":
            c.mul(a, b)
        else:
            c.div(a, b)
    consumed = set()
    for i in range(n, c.num_nodes):
        g = c.node(i)
        consumed.update([g.a] + ([g.b] if g.b is not None else []))
    for i in range(c.num_nodes):
        if i not in consumed:
            c.output(i)
    return c


NTT_PRIME = 998244353  # = 119·2²³ + 1: GF(p) has 2^k-th roots of unity for k ≤ 23


def _dense(n: int) -> Circuit:
    rng = random.Random(n)
    return from_matrix([[rng.randint(1, 9) * rng.choice([-1, 1]) for _ in range(n)] for _ in range(n)])


def _library(sizes: list[int]) -> list[Circuit]:
    out = []
    builders = dict(LIBRARY)
    builders["from_matrix"] = _dense
    builders["ntt"] = lambda n: fft(n, field=GF(NTT_PRIME))
    for name, build in builders.items():
        for n in sizes:
            if name in ("polynomial_multiply", "from_matrix") and n > 32:
                n = 32  # 3^k products / n² entries: keep the table quick
            out.append(build(n))
    return out


def theorem_3_10_check(c: Circuit, rev: dict) -> str:
    """'=' / '≤' when the reversal's counts meet Theorem 3.10 (reduced / not reduced), else 'FAIL'."""
    k = c.counts()
    extra = c.n_outputs - c.n_inputs
    if c.is_reduced:
        ok = rev["const_mults"] == k["const_mults"] and rev["additions"] == k["additions"] + extra
        return "=" if ok else "FAIL"
    n_used = sum(c.live()[: c.n_inputs])
    ok = rev["const_mults"] <= k["const_mults"] and rev["additions"] <= k["additions"] + c.n_outputs - n_used
    return "≤" if ok else "FAIL"


def _row(c: Circuit, timing: bool) -> list:
    k = c.counts()
    g = c.gradient_circuit()
    s = max(k["size"], 1)
    row = [c.name, c.n_inputs, c.n_outputs, k["size"], c.depth, g.size, g.size / s]
    if c.is_linear:
        r = c.transpose("reverse").counts()
        b = c.transpose("baur-strassen").counts()
        row += [
            f"{k['additions']}/{k['const_mults']}",
            f"{r['size']} ({r['additions']}/{r['const_mults']})",
            f"{b['size']} ({b['additions']}/{b['const_mults']})",
            r["size"] / s,
            b["size"] / s,
            theorem_3_10_check(c, r),
        ]
    else:
        row += ["-"] * 6
    if timing:
        if c.field is not None:
            row.append("-")  # GF(p) circuits evaluate exactly, not with torch
        else:
            cplx = any(isinstance(v, complex) for v in (g_.alpha for g_ in c.nodes()))
            x = torch.randn(64, c.n_inputs, dtype=torch.complex128 if cplx else torch.float64)
            x = x.abs() + 0.5 if not c.is_linear else x  # keep divisions away from 0
            sd = torch.randn(64, c.n_outputs, dtype=x.dtype)
            t_f = median_time(lambda: c(x), repeats=5, warmup=1)
            t_g = median_time(lambda: c.gradient(x, sd), repeats=5, warmup=1)
            row.append(t_g / t_f)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="kmatrix bench circuits", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[4, 16, 64], help="n for the library circuits")
    ap.add_argument("--random", type=int, default=20, help="random circuits per kind (linear / non-linear)")
    ap.add_argument("--no-timing", action="store_true", help="sizes only")
    args = ap.parse_args(argv)
    timing = not args.no_timing
    headers = ["circuit", "n_in", "n_out", "size", "depth", "grad size", "c=grad/size",
               "C adds/mults", "rev size (adds/mults)", "BS size (adds/mults)", "rev/size", "BS/size",
               "Thm 3.10"]
    if timing:
        headers.append("t_grad/t_eval")
    rows = [_row(c, timing) for c in _library(args.sizes)]
    print(format_table(headers, rows))
    c_lib = max(r[6] for r in rows)
    worst = max(rows, key=lambda r: r[6])[0]
    bs_lib = max((r[11] for r in rows if r[11] != "-"), default=float("nan"))
    print(f"library (observed, not a bound): largest c = grad size/size {c_lib:.2f} ({worst}); "
          f"largest BS-transpose size/size {bs_lib:.2f}")
    rng = random.Random(0)
    for linear in (True, False):
        cs, rs, bs, checks = [], [], [], []
        for _ in range(args.random):
            c = _random_circuit(rng, rng.randint(2, 8), rng.randint(5, 60), linear)
            cs.append(c.gradient_circuit().size / c.size)
            if linear:
                r = c.transpose("reverse").counts()
                rs.append(r["size"] / c.size)
                bs.append(c.transpose("baur-strassen").size / c.size)
                checks.append(theorem_3_10_check(c, r))
        kind = "linear" if linear else "non-linear"
        line = (
            f"random {kind} circuits ({args.random}, 5–60 gates; observed): c = grad size/size "
            f"min {min(cs):.2f} mean {sum(cs) / len(cs):.2f} max {max(cs):.2f}"
        )
        if linear:
            line += (
                f"; rev size/size mean {sum(rs) / len(rs):.2f} max {max(rs):.2f}"
                f"; BS size/size mean {sum(bs) / len(bs):.2f} max {max(bs):.2f}"
                f"; Thm 3.10: {checks.count('=')} '=' (reduced), {checks.count('≤')} '≤', "
                f"{checks.count('FAIL')} FAIL"
            )
        print(line)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
