"""``kmatrix learn``: learn a transform from samples with a structured family (survey
Definition 3.2, Algorithm 1; the ICML 2019 butterfly recovery experiment).

    kmatrix learn --target dft --n 256 --family kmatrix --width 1 --restarts 8 --out DIR

prints the best relative error ‖W − T‖_F / ‖T‖_F and the time, and writes into DIR (if given)
``learn.csv`` (one row per restart), ``learn_curve.png`` (error per step of the best restart)
and ``learned.kmx`` (the best model, ``kmatrix.load`` reads it back).
"""

from __future__ import annotations

import os
import time


def run_learn(args) -> int:
    import torch

    from ...core.io import save
    from ...learn import recover
    from ...learn.report import history_curve, plot_curves, write_csv

    torch.set_num_threads(max(1, args.threads))
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    rec = recover(args.target, args.family, args.n, width=args.width, budget=args.budget,
                  complex_family=True if args.complex else None, real_part=args.real_part,
                  restarts=args.restarts, samples=args.samples, unitary_steps=args.unitary_steps,
                  unitary_lbfgs_steps=args.unitary_lbfgs_steps, steps=args.steps, lbfgs_steps=args.lbfgs_steps,
                  success=args.success, seed=args.seed, max_time=args.max_time,
                  progress=None if args.progress else False, init=args.init)
    wall = time.perf_counter() - t0
    errs = ", ".join(f"{e:.2e}" for e in rec.errors)
    print(f"learn {args.target} (n = {args.n}) with {rec.config}: {rec.params} parameters")
    print(f"restarts: {rec.restarts} (errors {errs}; starts {', '.join(rec.inits)})")
    print(f"best relative error ||W - T||_F / ||T||_F = {rec.error:.3e}  "
          f"({'reached' if rec.error <= args.success else 'NOT reached'} the {args.success:g} goal) "
          f"in {wall:.1f} s ({rec.success_time:.1f} s up to the best restart)")
    if rec.error > args.success and "project" in rec.inits and rec.model is not None \
            and not rec.model.is_complex:
        # target-blind: the projected start of a real K-matrix reaches only products U1 D U2 with
        # orthogonal 2x2 blocks; many real transforms (a real circulant) need complex blocks
        print("hint: a real K-matrix's projected start covers U1 D U2 with orthogonal 2x2 blocks only; "
              "--complex fits a complex K-matrix (complex blocks, e.g. a real circular convolution)")
    if args.out:
        rows = [{"target": args.target, "family": args.family, "n": args.n, "config": rec.config,
                 "params": rec.params, "restart": i, "error": e, "time_s": round(t, 3)}
                for i, (e, t) in enumerate(zip(rec.errors, rec.times))]
        write_csv(os.path.join(args.out, "learn.csv"), rows)
        files = ["learn.csv"]
        if rec.model is not None:
            save(rec.model, os.path.join(args.out, "learned.kmx"))
            files.append("learned.kmx")
        try:
            t, e = history_curve(rec.histories)
            plot_curves(os.path.join(args.out, "learn_curve.png"),
                        [(f"{args.family} ({rec.config})", t, e)],
                        f"learning {args.target}, n = {args.n}")
            files.append("learn_curve.png")
        except ImportError:
            print("(matplotlib is not installed: no PNG; pip install 'kmatrix[plot]')")
        print("wrote " + ", ".join(os.path.join(args.out, f) for f in files))
    return 0


def add_learn_arguments(p) -> None:
    from ...learn import FAMILIES, TARGETS

    p.add_argument("--target", required=True, choices=list(TARGETS), help="matrix to learn")
    p.add_argument("--n", type=int, default=64, help="size n (default 64)")
    p.add_argument("--family", default="kmatrix", choices=list(FAMILIES) + ["sparse+lowrank"],
                   help="family (default kmatrix)")
    p.add_argument("--width", type=int, default=None, help="K-matrix width w (kmatrix family)")
    p.add_argument("--budget", type=int, default=None, help="parameters (scalars) for the family (default: its own size)")
    p.add_argument("--complex", action="store_true", help="a complex family for a real target (complex samples)")
    p.add_argument("--real-part", action="store_true", help="RealPart of a complex family on real samples (DCT, DST)")
    p.add_argument("--restarts", type=int, default=8, help="random restarts at most (default 8)")
    p.add_argument("--samples", type=int, default=None, help="number of samples (default: twice the unknowns, ≤ n; n for a width-1 kmatrix, whose first restart then starts from the projected estimate)")
    p.add_argument("--unitary-steps", type=int, default=2000, help="Adam steps on unitary blocks (twiddle families)")
    p.add_argument("--unitary-lbfgs-steps", type=int, default=0,
                   help="L-BFGS steps closing the unitary phase (default 0; 1500 for a permutation)")
    p.add_argument("--init", default="auto", choices=["auto", "random", "project"],
                   help="start: project = least-squares estimate projected onto BB* (kmatrix, samples ≥ n); "
                        "auto (default) = project the first restart when possible at width 1, random otherwise")
    p.add_argument("--steps", type=int, default=1000, help="Adam steps before L-BFGS")
    p.add_argument("--lbfgs-steps", type=int, default=500, help="L-BFGS steps of the free phase (default 500)")
    p.add_argument("--success", type=float, default=1e-6, help="stop restarting at this error (default 1e-6)")
    p.add_argument("--max-time", type=float, default=None, help="seconds for all restarts")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: small problems)")
    p.add_argument("--out", default=None, help="folder for learn.csv, learn_curve.png, learned.kmx")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def register(sub) -> None:
    p = sub.add_parser("learn", help="learn a transform (dft, dct, hadamard, ...) from samples with a family",
                       epilog="example: kmatrix learn --target dft --n 64 --family kmatrix")
    add_learn_arguments(p)
    p.set_defaults(func=_checked)


def _checked(args) -> int:
    if args.n < 2:
        raise SystemExit(f"kmatrix learn: --n: expected an integer ≥ 2, got {args.n}")
    if args.restarts < 1:
        raise SystemExit(f"kmatrix learn: --restarts: expected a positive integer, got {args.restarts}")
    try:
        return run_learn(args)
    except ValueError as e:
        raise SystemExit(f"kmatrix learn: {e}") from None
