"""Shared pieces of the accuracy benchmarks: high-precision references on sampled outputs.

The error of a product y = W x is measured normwise against the *magnitude* of the sum,
‖ŷ_S − y_S‖ / ‖(|W| |x|)_S‖ on a random sample S of output entries, with y_S computed by
mpmath at ``dps`` decimal digits from the exact binary values of the float64 inputs (so the
error is the algorithm's, not the rounding of the nodes). |W||x| is a sum of non-negative
terms, computed in float64 without cancellation. Sampling keeps the reference affordable at
n = 2^14 (the full product would need n² high-precision operations).
"""

from __future__ import annotations

import math

import mpmath
import numpy as np

__all__ = ["fmt_err", "mp_context", "relative_error", "to_mp"]


def mp_context(dps: int):
    """A private mpmath context at ``dps`` digits (does not touch the global one)."""
    ctx = mpmath.MPContext()
    ctx.dps = dps
    return ctx


def to_mp(ctx, v) -> list:
    """numpy array (real or complex, float64) → list of exact mpmath numbers."""
    if np.iscomplexobj(v):
        return [ctx.mpc(complex(z)) for z in v]
    return [ctx.mpf(float(z)) for z in v]


def relative_error(approx: np.ndarray, ref: np.ndarray, scale: np.ndarray) -> float:
    """‖approx − ref‖₂ / ‖scale‖₂ (inf/nan when the approximation overflowed)."""
    approx = np.asarray(approx, dtype=np.complex128)
    if not np.all(np.isfinite(approx)):
        return float("nan")
    num = np.linalg.norm(approx - np.asarray(ref, dtype=np.complex128))
    den = np.linalg.norm(scale)
    return float(num / den) if den > 0 else float(num)


def fmt_err(e: float) -> str:
    if math.isnan(e):
        return "nan"
    if e == float("inf"):
        return "inf"
    return f"{e:.1e}"
