"""The expressivity atlas: Question 2.3 (survey §2, §4) as one table and one figure.

For every target (:mod:`~kmatrix.learn.targets`) and family (:mod:`~kmatrix.learn.families`),
the best relative error ‖W − T‖_F / ‖T‖_F that :func:`~kmatrix.learn.recover` reaches at
matched parameter budgets b ∈ {n log2 n, 2n log2 n, 4n log2 n, n²/8, n²} (scalars of the
target's field: complex targets compare complex families, a complex scalar counting once).
A family whose smallest member exceeds a budget has no point there; a family of fixed size
(dense, Toeplitz, circulant, butterfly) is fitted once and appears at every budget it fits.
Cost: one recovery per (target, family, distinct size).
"""

from __future__ import annotations

import math
import time

import torch

from ..nn.registry import get_family
from .families import FAMILIES, make_family
from .recover import recover
from .targets import TARGETS

__all__ = ["BUDGETS", "atlas", "budgets_for", "winners"]

#: budget labels and their sizes as functions of n
BUDGETS = {
    "n log n": lambda n: n * max(1, int(math.log2(n))),
    "2n log n": lambda n: 2 * n * max(1, int(math.log2(n))),
    "4n log n": lambda n: 4 * n * max(1, int(math.log2(n))),
    "n^2/8": lambda n: n * n // 8,
    "n^2": lambda n: n * n,
}


def budgets_for(n: int, labels=None) -> list[tuple[str, int]]:
    labels = list(BUDGETS) if labels is None else labels
    for lab in labels:
        if lab not in BUDGETS:
            raise ValueError(f"budgets: expected labels among {list(BUDGETS)}, got {lab!r}")
    return [(lab, BUDGETS[lab](n)) for lab in labels]


def atlas(
    targets=None,
    families=None,
    n: int = 64,
    *,
    budgets=None,
    restarts: int = 1,
    unitary_steps: int = 600,
    steps: int = 300,
    lbfgs_steps: int = 300,
    seed: int = 0,
    max_time_per_fit: float | None = 20.0,
    progress: bool | None = None,
) -> list[dict]:
    """Rows {target, family, n, budget, budget_params, params, config, error, time_s} for every
    (target, family, budget) where the family fits the budget (``params``: its scalars)."""
    import sys

    from tqdm.auto import tqdm

    targets = list(TARGETS) if targets is None else list(targets)
    families = list(FAMILIES) if families is None else list(families)
    for t in targets:
        if t not in TARGETS:
            raise ValueError(f"targets: expected names among {list(TARGETS)}, got {t!r}")
    for i, f in enumerate(families):
        try:
            families[i] = get_family(f).name  # aliases (sparse+lowrank) accepted
        except (TypeError, ValueError):
            raise ValueError(f"families: expected names among {list(FAMILIES)}, got {f!r}") from None
    blist = budgets_for(n, budgets)
    jobs = []
    for t in targets:
        if TARGETS[t].needs_power_of_two and n & (n - 1):
            continue
        dtype = torch.complex128 if TARGETS[t].is_complex else torch.float64
        for f in families:
            for lab, b in blist:
                M = make_family(f, n, budget=b, dtype=dtype, generator=torch.Generator().manual_seed(0))
                if M is not None:
                    jobs.append((t, f, lab, b, M.num_params))
    rows, cache = [], {}
    disable = (not sys.stderr.isatty()) if progress is None else not progress
    for t, f, lab, b, params in tqdm(jobs, desc="atlas", unit="fit", disable=disable):
        key = (t, f, params)
        if key not in cache:
            t0 = time.perf_counter()
            rec = recover(t, f, n, budget=b, restarts=restarts, unitary_steps=unitary_steps, steps=steps,
                          lbfgs_steps=lbfgs_steps, seed=seed, max_time=max_time_per_fit, progress=False)
            cache[key] = (rec.error, rec.config, time.perf_counter() - t0)
        err, config, secs = cache[key]
        rows.append({"target": t, "family": f, "n": n, "budget": lab, "budget_params": b, "params": params,
                     "config": config, "error": err, "time_s": round(secs, 2)})
    return rows


def winners(rows: list[dict]) -> list[dict]:
    """The family with the smallest error for each (target, budget)."""
    best: dict = {}
    for r in rows:
        k = (r["target"], r["budget"])
        if k not in best or r["error"] < best[k]["error"]:
            best[k] = r
    return list(best.values())
