"""``kmatrix demo``: a tour of the families on embedded defaults.

Each zoo family is built at a useful size (n = 1024 by default) in float64, its fast product is
checked against the dense definition computed independently (scipy / numpy / explicit formula),
and a table reports family, shape, parameters, flops per matvec, time of the fast product
relative to the dense one, and the normwise error ‖ŷ − y‖ / (‖W‖_F ‖x‖).
"""

from __future__ import annotations

import time


def _run(args) -> int:
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from ...bench._timing import format_table, median_time
    from ...families.dense import dense_flops
    from ...testing import ZOO
    from ...testing.battery import normwise_error, random_tensor

    gen = torch.Generator().manual_seed(args.seed)
    rows, worst = [], 0.0
    t0 = time.perf_counter()
    for entry in tqdm(ZOO, desc="demo", unit="family"):
        M = entry.make(args.n, torch.float64, gen)
        ref = entry.reference(M)
        ref = ref.to(torch.complex128) if M.is_complex else (ref.real if ref.is_complex() else ref).double()
        x = random_tensor((args.batch, M.shape[1]), M.dtype, gen)
        with torch.no_grad():
            y = M(x)
            err = normwise_error(y, x.to(ref.dtype) @ ref.T, ref, x)
            W = ref.to(M.dtype)
            t_fast = median_time(lambda M=M, x=x: M(x), repeats=5, min_time=0.01)
            t_dense = median_time(lambda x=x, W=W: F.linear(x, W), repeats=5, min_time=0.01)
        worst = max(worst, err / entry.tolerance(M.dtype))
        rows.append([entry.name, f"{M.shape[0]}x{M.shape[1]}", M.num_params, M.flops,
                     dense_flops(*M.shape, M.is_complex), t_fast / t_dense, err])
    print(format_table(["family", "shape", "params", "flops/matvec", "dense flops", "time vs dense", "error"], rows))
    print(f"\nfloat64, batch {args.batch}; 'time vs dense' = fast / dense (below 1: faster); "
          f"error = ||y_fast - y_ref|| / (||W||_F ||x||) against an independent dense reference. "
          f"{len(rows)} families in {time.perf_counter() - t0:.1f} s.")
    if worst > 1:
        print("FAILED: some family exceeded its tolerance")
        return 1
    print("all fast products agree with their dense definitions")
    return 0


def register(sub) -> None:
    p = sub.add_parser("demo", help="tour of the structured families (checks and timings)")
    p.add_argument("--n", type=int, default=1024, help="matrix size (default 1024)")
    p.add_argument("--batch", type=int, default=16, help="number of vectors (default 16)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_run)
