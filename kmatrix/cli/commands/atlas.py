"""``kmatrix atlas``: the expressivity atlas (survey Question 2.3, §4 as one figure).

    kmatrix atlas --n 64 [--targets dft,dct,...] [--families dense,lowrank,...] --out DIR

fits every family to every target at matched parameter budgets (n log n, 2n log n, 4n log n,
n²/8, n²) and writes ``atlas.csv`` (one row per target, family, budget) and ``atlas.png``
(relative error against parameters on log axes, one panel per target, one line per family),
then prints which family wins at each budget.
"""

from __future__ import annotations

import os
import time


def _names(text: str | None, known: list[str], what: str) -> list[str] | None:
    if text is None:
        return None
    names = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in names if s not in known]
    if bad or not names:
        raise SystemExit(f"kmatrix atlas: --{what}: unknown {', '.join(bad) or '(empty)'}; choose from {', '.join(known)}")
    return names


def summary_lines(rows: list[dict]) -> list[str]:
    from ...learn.atlas import winners

    lines = []
    by_target: dict[str, list[str]] = {}
    for r in sorted(winners(rows), key=lambda r: (r["target"], r["budget_params"])):
        by_target.setdefault(r["target"], []).append(f"{r['budget']}: {r['family']} ({r['error']:.1e})")
    for t, items in by_target.items():
        lines.append(f"  {t:<12} " + "; ".join(items))
    return lines


def run_atlas(args) -> int:
    import torch

    from ...learn import FAMILIES, TARGETS
    from ...learn.atlas import atlas
    from ...learn.report import plot_atlas, write_csv

    torch.set_num_threads(max(1, args.threads))
    targets = _names(args.targets, list(TARGETS), "targets")
    families = _names(args.families, list(FAMILIES) + ["sparse+lowrank"], "families")
    budgets = None if args.budgets is None else [b.strip() for b in args.budgets.split(",")]
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    try:
        rows = atlas(targets, families, args.n, budgets=budgets, restarts=args.restarts,
                     unitary_steps=args.unitary_steps, steps=args.steps, seed=args.seed,
                     max_time_per_fit=args.max_time_per_fit, progress=None if args.progress else False)
    except ValueError as e:
        raise SystemExit(f"kmatrix atlas: {e}") from None
    if not rows:
        raise SystemExit("kmatrix atlas: no (target, family, budget) combination fits; widen --budgets")
    csv_path = os.path.join(args.out, "atlas.csv")
    write_csv(csv_path, rows)
    files = [csv_path]
    try:
        png = os.path.join(args.out, "atlas.png")
        plot_atlas(rows, png)
        files.append(png)
    except ImportError:
        print("(matplotlib is not installed: no PNG; pip install 'kmatrix[plot]')")
    print(f"atlas, n = {args.n}: {len(rows)} points in {time.perf_counter() - t0:.1f} s; best family per budget "
          "(relative error ||W - T||_F / ||T||_F):")
    for line in summary_lines(rows):
        print(line)
    print("wrote " + ", ".join(files))
    return 0


def register(sub) -> None:
    p = sub.add_parser("atlas", help="best error of every family on every target at matched budgets (CSV + PNG)",
                       epilog="example: kmatrix atlas --n 16 --targets dft,hadamard --out /tmp/kmatrix-atlas")
    p.add_argument("--n", type=int, default=32, help="size n (default 32)")
    p.add_argument("--targets", default=None, help="comma-separated targets (default: all)")
    p.add_argument("--families", default=None, help="comma-separated families (default: all)")
    p.add_argument("--budgets", default=None, help="comma-separated budget labels: 'n log n','2n log n','4n log n','n^2/8','n^2'")
    p.add_argument("--restarts", type=int, default=1, help="restarts per fit (default 1)")
    p.add_argument("--unitary-steps", type=int, default=600, help="Adam steps on unitary blocks (twiddle families)")
    p.add_argument("--steps", type=int, default=300, help="Adam steps before L-BFGS")
    p.add_argument("--max-time-per-fit", type=float, default=20.0, help="seconds per fit (default 20)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--out", default="kmatrix-atlas", help="output folder (default ./kmatrix-atlas)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    p.set_defaults(func=run_atlas)
