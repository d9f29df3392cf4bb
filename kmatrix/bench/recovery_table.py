"""``kmatrix bench recovery_table``: the (target, family) recovery table of issue 8.

For every target of :mod:`kmatrix.learn.targets` and every learnable family (the registry
``kmatrix.nn.FAMILIES``), :func:`kmatrix.learn.recover` learns the n×n target from random
samples and the best matrix error ‖W − T‖_F / ‖T‖_F over the restarts is recorded with its time.

Columns (one per family; the K-matrix twice):

* every non-twiddle family at its default size (``make_family(name, n)``: dense n², lowrank
  r = log2 n, sparse / sparse_lowrank 4n log2 n entries, ldr r = 2, monarch √n blocks,
  toeplitz, circulant) in the target's field;
* ``butterfly``: one butterfly in the target's field;
* ``kmatrix w=1`` / ``kmatrix w=2``: a complex K-matrix of width 1 / 2 on complex samples
  (W ≈ T as a complex matrix), the configuration of the ICML 2019 recovery experiment;
* for the DCT and DST also ``kmatrix Re w=1`` / ``Re w=2``: RealPart of a complex K-matrix on
  real samples (Re W ≈ T).

Writes ``recovery_n{n}.csv`` (one row per cell, written after every cell, so an interrupted run
keeps what it measured) and ``recovery_n{n}.md`` (errors, then times, one row per target).
Timings on a shared machine are marked "loaded" in the markdown. Cost: cells × ``--restarts``
× at most ``--max-time`` seconds.

    kmatrix bench recovery_table --n 64 --out /tmp/rt --restarts 2 --max-time 40
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

__all__ = ["columns", "main", "markdown", "recovery_table"]


def columns(target: str, families: list[str] | None = None) -> list[tuple[str, str, dict]]:
    """(label, family, recover keywords) of the table's columns for ``target``."""
    from ..learn import TARGETS
    from ..nn import FAMILIES

    fams = list(FAMILIES) if families is None else list(families)
    cplx = TARGETS[target].is_complex
    cols = []
    for f in fams:
        if f == "kmatrix":
            for w in (1, 2):
                cols.append((f"kmatrix w={w}", f, {"width": w, "complex_family": True}))
            if target in ("dct", "dst"):
                for w in (1, 2):
                    cols.append((f"kmatrix Re w={w}", f, {"width": w, "real_part": True}))
        else:
            cols.append((f, f, {"complex_family": True} if cplx else {}))
    return cols


def recovery_table(
    n: int,
    targets=None,
    families=None,
    *,
    restarts: int = 2,
    max_time: float = 40.0,
    samples: int | None = None,
    steps: dict | None = None,
    seed: int = 0,
    csv_path: str | None = None,
    progress: bool | None = None,
) -> list[dict]:
    """Rows {target, column, family, n, config, params, samples, error, restarts, time_s,
    time_to_best_s, cpu_s (process CPU seconds of all restarts: the fair figure under load)} for every (target, column). ``max_time``: seconds per cell (all restarts).
    ``samples``: samples per cell (default 2n: the fit then approximates T in a well-conditioned
    norm, so a family that cannot express T shows its best approximation instead of an
    over-fitted one). ``steps``: recover's ``unitary_steps`` / ``steps`` / ``lbfgs_steps``
    overrides. ``csv_path``: rewritten after every cell."""
    from tqdm.auto import tqdm

    from ..learn import TARGETS, recover
    from ..learn.report import write_csv

    targets = list(TARGETS) if targets is None else list(targets)
    for t in targets:
        if t not in TARGETS:
            raise ValueError(f"targets: expected names among {list(TARGETS)}, got {t!r}")
    jobs = [(t, c) for t in targets if not (TARGETS[t].needs_power_of_two and n & (n - 1))
            for c in columns(t, families)]
    samples = 2 * n if samples is None else samples
    rows: list[dict] = []
    disable = (not sys.stderr.isatty()) if progress is None else not progress
    bar = tqdm(jobs, desc=f"recovery n={n}", unit="cell", disable=disable, dynamic_ncols=True)
    for t, (label, fam, kw) in bar:
        bar.set_postfix_str(f"{t} / {label}", refresh=True)
        t0 = time.perf_counter()
        try:
            rec = recover(t, fam, n, restarts=restarts, seed=seed, max_time=max_time, samples=samples,
                          progress=False, **(steps or {}), **kw)
            row = {**rec.row(), "cpu_s": round(sum(rec.cpu_times), 2)}
        except ValueError as e:  # a family that cannot take this n
            row = {"target": t, "family": fam, "n": n, "config": f"n/a: {e}", "params": 0, "samples": 0,
                   "error": math.nan, "restarts": 0, "time_s": round(time.perf_counter() - t0, 2),
                   "time_to_best_s": math.nan, "cpu_s": math.nan}
        row = {"column": label, **row}
        rows.append(row)
        if csv_path:
            write_csv(csv_path, rows)
    bar.close()
    return rows


def _err(v: float) -> str:
    return "–" if not math.isfinite(v) else ("**" + f"{v:.1e}" + "**" if v <= 1e-6 else f"{v:.1e}")


def markdown(rows: list[dict], n: int, loaded: bool = True) -> str:
    """Two markdown tables (best matrix error; seconds to the best restart), targets × columns.
    Errors ≤ 1e-6 in bold."""
    cols = list(dict.fromkeys(r["column"] for r in rows))
    targets = list(dict.fromkeys(r["target"] for r in rows))
    cell = {(r["target"], r["column"]): r for r in rows}
    out = [f"### Recovery at n = {n}: best relative error ‖W − T‖_F / ‖T‖_F", "",
           "| target | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for t in targets:
        out.append(f"| {t} | " + " | ".join(_err(cell[(t, c)]["error"]) if (t, c) in cell else ""
                                             for c in cols) + " |")
    note = " (loaded shared machine: 2 cores, other jobs running)" if loaded else ""
    out += ["", f"Seconds up to the best restart{note}:", "",
            "| target | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for t in targets:
        out.append(f"| {t} | " + " | ".join(f"{cell[(t, c)]['time_to_best_s']:.0f}" if (t, c) in cell
                                             and math.isfinite(cell[(t, c)]["time_to_best_s"]) else "–"
                                             for c in cols) + " |")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    from ..core.files import atomic_write
    from ..learn import TARGETS
    from ..nn import FAMILIES

    ap = argparse.ArgumentParser(prog="kmatrix bench recovery_table", description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=64, help="size n (default 64)")
    ap.add_argument("--targets", nargs="+", default=None, choices=list(TARGETS), help="default: all")
    ap.add_argument("--families", nargs="+", default=None, choices=list(FAMILIES), help="default: all")
    ap.add_argument("--restarts", type=int, default=2, help="random restarts per cell (default 2)")
    ap.add_argument("--max-time", type=float, default=40.0, help="seconds per cell, all restarts (default 40)")
    ap.add_argument("--samples", type=int, default=None, help="samples per cell (default 2n)")
    ap.add_argument("--unitary-steps", type=int, default=None, help="recover's unitary_steps (default 2000)")
    ap.add_argument("--steps", type=int, default=None, help="recover's Adam steps (default 1000)")
    ap.add_argument("--lbfgs-steps", type=int, default=None, help="recover's L-BFGS steps (default 500)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--out", default="recovery-table", help="folder for the CSV and markdown")
    ap.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    args = ap.parse_args(argv)
    if args.n < 2:
        raise SystemExit(f"kmatrix bench recovery_table: --n: expected an integer ≥ 2, got {args.n}")
    if args.restarts < 1:
        raise SystemExit(f"kmatrix bench recovery_table: --restarts: expected a positive integer, got {args.restarts}")
    import torch

    torch.set_num_threads(max(1, args.threads))
    os.makedirs(args.out, exist_ok=True)
    csv_path = os.path.join(args.out, f"recovery_n{args.n}.csv")
    md_path = os.path.join(args.out, f"recovery_n{args.n}.md")
    t0 = time.perf_counter()
    rows = recovery_table(args.n, args.targets, args.families, restarts=args.restarts, max_time=args.max_time,
                          samples=args.samples, seed=args.seed,
                          steps={k: v for k, v in (("unitary_steps", args.unitary_steps), ("steps", args.steps),
                                                   ("lbfgs_steps", args.lbfgs_steps)) if v is not None}, csv_path=csv_path, progress=None if args.progress else False)
    md = markdown(rows, args.n)
    atomic_write(md_path, md.encode())
    print(md)
    print(f"{len(rows)} cells in {time.perf_counter() - t0:.0f} s; wrote {csv_path}, {md_path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
