"""``kmatrix bench families``: fast product vs dense product for every family in the zoo.

For each zoo entry (one random instance per family configuration) at n = 2^10, 2^12, 2^14 and
batch 1 and 64, in float32 (complex64 for complex families): the median time of the family's fast
product and of the dense product ``F.linear(x, W)`` with W = M.to_dense(), measured in the same
run, their ratio (dense / fast: > 1 means the structured product wins), the family's flops per
matvec, the dense flops m(2n−1) and their ratio (the speed-up the asymptotics claim; a measured
ratio far below it means the fast path is overhead- or memory-bound at that size). The dense matrix at n = 2^14 takes 1 GiB (2 GiB complex).
"""

from __future__ import annotations

import argparse
import gc

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ..families.dense import dense_flops
from ..testing import ZOO
from ._timing import format_table, median_time


def _measure(entry, n: int, batches, repeats: int, gen) -> list[list[object]]:
    dtype = torch.float32
    M = entry.make(n, dtype, gen)
    if M.is_complex:
        dtype = torch.complex64
    rows = []
    with torch.no_grad():
        W = M.to_dense().detach()
        m, k = M.shape
        for b in batches:
            x = torch.randn(b, k, dtype=dtype, generator=gen)
            t_fast = median_time(lambda x=x: M(x), repeats=repeats, min_time=0.02)
            t_dense = median_time(lambda x=x, W=W: F.linear(x, W), repeats=repeats, min_time=0.02)
            d_flops = dense_flops(m, k, W.is_complex())
            rows.append([entry.name, f"{m}x{k}", b, M.num_params, M.flops, d_flops,
                         d_flops / max(M.flops, 1), t_fast * 1e3, t_dense * 1e3, t_dense / t_fast])
        del W
    gc.collect()
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="kmatrix bench families", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[2**10, 2**12, 2**14])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--only", nargs="*", default=None,
                   help="zoo entry names to include (default: every entry with bench=True)")
    args = p.parse_args(argv)
    names = sorted({e.name for e in ZOO if e.name != "Dense"})
    unknown = sorted(set(args.only or ()) - set(names))
    if unknown:
        p.error(f"--only: unknown zoo entries {', '.join(unknown)}; available: {', '.join(names)}")
    if args.only is not None and not args.only:
        p.error("--only: expected at least one zoo entry name")
    for flag, vals in (("--sizes", args.sizes), ("--batches", args.batches), ("--repeats", [args.repeats])):
        if any(v < 1 for v in vals):
            p.error(f"{flag}: expected positive integers, got {' '.join(map(str, vals))}")
    gen = torch.Generator().manual_seed(0)
    entries = [e for e in ZOO if e.name != "Dense" and (e.name in args.only if args.only else e.bench)]
    rows: list[list[object]] = []
    jobs = [(e, n) for n in args.sizes for e in entries]
    for e, n in tqdm(jobs, desc="families", unit="case"):
        rows.extend(_measure(e, n, args.batches, args.repeats, gen))
    headers = ["family", "shape", "batch", "params", "flops", "dense flops", "flop ratio",
               "fast ms", "dense ms", "dense/fast"]
    print(format_table(headers, rows))
    print(f"\nfloat32 (complex64 for complex families), torch threads = {torch.get_num_threads()}, "
          f"median of {args.repeats} repeats; dense/fast > 1 means the structured product is faster.")
    return 0
