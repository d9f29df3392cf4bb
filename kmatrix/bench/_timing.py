"""Timing helpers: median wall time of repeated calls, after warm-up."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_time(fn: Callable[[], object], repeats: int = 7, warmup: int = 2, min_time: float = 0.0) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs (each run loops until ``min_time``)."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        loops = 0
        t0 = time.perf_counter()
        while True:
            fn()
            loops += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time:
                break
        samples.append(elapsed / loops)
    return statistics.median(samples)


def format_table(headers: list[str], rows: list[list[object]]) -> str:
    """A plain fixed-width table."""
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        if v == 0:
            return "0"
        if abs(v) >= 1e4 or abs(v) < 1e-2:
            return f"{v:.2e}"
        return f"{v:.3g}"
    return str(v)
