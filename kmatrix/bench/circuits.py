"""``kmatrix bench circuits``: the size constants of Baur–Strassen and of transposition.

For each library circuit (and random circuits) it prints

* size s and depth d of the circuit C;
* size of the gradient circuit C′ (inputs (x, seed), Theorem 3.6) and c = size(C′)/s;
* for linear circuits, the transposed circuit's size, additions and multiplications by constants
  (lin coefficients ∉ {0, ±1}) by DAG reversal and by Baur–Strassen on yᵀWx (Theorem 3.10),
  against the original's (reversal on a reduced circuit: same multiplications,
  #outputs − #inputs more additions);
* the wall-time ratio gradient(at)/evaluate(x) of the torch passes (median of repeats, batch
  64, float64; noisy on a shared machine) — Baur–Strassen's constant in time.

Sizes are exact counts (deterministic); only the last column is a timing.
"""

from __future__ import annotations

import argparse
import random
from fractions import Fraction

import torch

from ..circuits import LIBRARY, Circuit
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


def _row(c: Circuit, timing: bool) -> list:
    k = c.counts()
    g = c.gradient_circuit()
    row = [c.name, c.n_inputs, c.n_outputs, k["size"], c.depth, g.size, g.size / max(k["size"], 1)]
    if c.is_linear:
        r = c.transpose("reverse").counts()
        b = c.transpose("baur-strassen").counts()
        row += [
            f"{k['additions']}/{k['const_mults']}",
            f"{r['size']} ({r['additions']}/{r['const_mults']})",
            f"{b['size']} ({b['additions']}/{b['const_mults']})",
            r["size"] / max(k["size"], 1),
        ]
    else:
        row += ["-", "-", "-", "-"]
    if timing:
        x = torch.randn(64, c.n_inputs, dtype=torch.complex128 if "fft" in c.name else torch.float64)
        x = x.abs() + 0.5 if not c.is_linear else x  # keep divisions away from 0
        s = torch.randn(64, c.n_outputs, dtype=x.dtype)
        t_f = median_time(lambda: c(x), repeats=5, warmup=1)
        t_g = median_time(lambda: c.gradient(x, s), repeats=5, warmup=1)
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
               "C adds/mults", "rev size (adds/mults)", "BS size (adds/mults)", "rev/size"]
    if timing:
        headers.append("t_grad/t_eval")
    rows = []
    for name, build in LIBRARY.items():
        for n in args.sizes:
            if name == "polynomial_multiply" and n > 32:
                n = 32
            rows.append(_row(build(n), timing))
    print(format_table(headers, rows))
    rng = random.Random(0)
    for linear in (True, False):
        cs, ts = [], []
        for _ in range(args.random):
            c = _random_circuit(rng, rng.randint(2, 8), rng.randint(5, 60), linear)
            cs.append(c.gradient_circuit().size / c.size)
            if linear:
                ts.append(c.transpose("baur-strassen").size / c.size)
        kind = "linear" if linear else "non-linear"
        print(
            f"random {kind} circuits ({args.random}, 5–60 gates): c = grad size/size "
            f"min {min(cs):.2f} mean {sum(cs) / len(cs):.2f} max {max(cs):.2f}"
            + (f"; BS-transpose size/size mean {sum(ts) / len(ts):.2f} max {max(ts):.2f}" if ts else "")
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
