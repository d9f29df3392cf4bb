"""Shared pieces of the projections: input checks, the report, the error measure.

Every method works on M in float64 / complex128 (the caller's M converted once) and returns a
structured matrix in that precision; ``kmatrix.project`` converts the result to M's precision
and measures ‖W − M‖_F / ‖M‖_F in double precision against the caller's M.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from ..core.structured import StructuredMatrix

__all__ = ["ProjectionReport", "as_matrix", "check_int_range", "rel_error", "wide_dtype"]

_ACCEPTED = (torch.float32, torch.float64, torch.complex64, torch.complex128)


@dataclasses.dataclass
class ProjectionReport:
    """What ``kmatrix.project`` did.

    Attributes
    ----------
    family : str
        The family projected onto.
    rel_error : float
        ``‖W − M‖_F / ‖M‖_F`` (absolute ``‖W‖_F`` when M = 0), in double precision.
    time : float
        Seconds spent in the method (wall clock, excluding the error measurement).
    cpu_time : float
        CPU seconds of the process (all threads) spent in the method; on a loaded machine a
        steadier measure than ``time``.
    num_params : int
        W's parameter count (a complex scalar counts once).
    optimal : bool
        True when the method provably returns a closest member of the family in Frobenius
        norm (truncated SVD, top-s, diagonal averages, blockwise SVD); False for heuristics.
    shape : tuple
        M's shape (m, n).
    padded : bool
        True when M's shape was not one the family takes and M was zero-padded to
        ``padded_shape`` (W is the corner of a larger structured matrix).
    padded_shape : tuple or None
        The padded shape, or None.
    details : dict
        Method-specific extras (iterations, initial error, chosen order or permutation, ...).

    Examples
    --------
    >>> M = torch.randn(32, 32, dtype=torch.float64)
    >>> W, report = kmatrix.project(M, "lowrank", rank=4)
    >>> report.optimal, report.num_params, report.padded
    (True, 256, False)
    """

    family: str
    rel_error: float
    time: float
    num_params: int
    optimal: bool
    shape: tuple[int, int]
    padded: bool = False
    padded_shape: tuple[int, int] | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    cpu_time: float = 0.0

    def __str__(self) -> str:
        pad = f", padded to {self.padded_shape}" if self.padded else ""
        opt = "optimal" if self.optimal else "heuristic"
        lines = [
            f"family      {self.family} ({opt}{pad})",
            f"shape       {self.shape[0]} x {self.shape[1]}",
            f"rel. error  {self.rel_error:.3e}   (||W - M||_F / ||M||_F)",
            f"params      {self.num_params}   (dense: {self.shape[0] * self.shape[1]})",
            f"time        {self.time:.3f} s   (CPU {self.cpu_time:.3f} s)",
        ]
        for k, v in self.details.items():
            if isinstance(v, float):
                v = f"{v:.3e}"
            elif isinstance(v, (list, tuple)) and len(v) > 8:
                v = f"[{', '.join(map(str, v[:8]))}, ...] ({len(v)} entries)"
            lines.append(f"{k:<11} {v}")
        return "\n".join(lines)


def wide_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype.is_complex else torch.float64


def as_matrix(M: Any, name: str = "M") -> torch.Tensor:
    """M (torch tensor or numpy array, 2-D, float32/64 or complex64/128, finite) as a tensor."""
    if isinstance(M, np.ndarray):
        if M.dtype.kind not in "fc":
            raise TypeError(f"{name}: expected a float or complex array, got dtype {M.dtype}")
        M = torch.from_numpy(np.ascontiguousarray(M))
    elif not isinstance(M, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor or numpy.ndarray, got {type(M).__name__}")
    if M.dtype not in _ACCEPTED:
        raise TypeError(f"{name}: expected dtype float32, float64, complex64 or complex128, got {M.dtype}")
    if M.ndim != 2:
        raise ValueError(f"{name}: expected a 2-d matrix, got shape {tuple(M.shape)}")
    if M.numel() == 0:
        raise ValueError(f"{name}: expected a non-empty matrix, got shape {tuple(M.shape)}")
    if not bool(torch.isfinite(M).all()):
        raise ValueError(f"{name}: expected finite entries, found NaN or infinity")
    return M.detach()


def check_int_range(value: Any, name: str, lo: int, hi: int) -> int:
    """``value`` as an int in [lo, hi], else a ValueError / TypeError naming ``name``."""
    v = _int(value, name)
    if not lo <= v <= hi:
        raise ValueError(f"{name}: expected {lo} ≤ {name} ≤ {hi}, got {v}")
    return v


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer, got {value!r}")
    return int(value)


def rel_error(W: StructuredMatrix, M: torch.Tensor) -> float:
    """‖W − M‖_F / ‖M‖_F in double precision (‖W‖_F if M = 0)."""
    wide = torch.complex128 if (W.is_complex or M.is_complex()) else torch.float64
    with torch.no_grad():
        D = W.to_dense().detach().to(wide)
        Mw = M.to(wide)
        den = float(Mw.norm())
        num = float((D - Mw).norm())
    return num / den if den > 0 else num


def lbfgs_keep_best(theta: torch.Tensor, loss, steps: int, best: list) -> None:
    """Up to ``steps`` L-BFGS iterations (strong-Wolfe line search) on the leaf ``theta`` for the
    scalar ``loss(theta)``, keeping in ``best`` = [value, tensor] the lowest finite loss seen
    (every evaluation, and the final point): a failed line search or a step that ends higher
    never makes the result worse than ``best`` was on entry."""
    opt = torch.optim.LBFGS([theta], max_iter=steps, line_search_fn="strong_wolfe",
                            tolerance_grad=1e-14, tolerance_change=1e-16)

    def closure():
        opt.zero_grad()
        f = loss(theta)
        value = float(f.detach())
        if value < best[0]:  # NaN compares False: never kept
            best[0], best[1] = value, theta.detach().clone()
        f.backward()
        return f

    try:
        opt.step(closure)
    except RuntimeError:  # a failed line search keeps the best point seen
        pass
    with torch.no_grad():
        if bool(torch.isfinite(theta).all()):
            value = float(loss(theta))
            if value < best[0]:
                best[0], best[1] = value, theta.detach().clone()
