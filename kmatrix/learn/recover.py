"""Recovering a transform from samples with random restarts (ICML 2019's butterfly experiment).

Given a target T (:mod:`kmatrix.learn.targets`) and a family (:mod:`kmatrix.learn.families`),
draw L random inputs X (Gaussian, real or complex as T), Y = X Tᵀ, and fit a fresh random member
of the family with :func:`~kmatrix.learn.fit`, up to ``restarts`` times, stopping at the first
restart whose matrix error ‖W − T‖_F / ‖T‖_F is ≤ ``success``. The recipe:

* kmatrix with at least n samples (``init="project"``, and the first restart of
  ``init="auto"`` at width 1): a generic start from the samples, blind to the target's type: the
  least-squares estimate Ŵ of W (X has full column rank, so ‖X Wᵀ − Y‖ is the matrix error
  weighted by the sample covariance; padded to the K-matrix size N by the identity), projected
  onto BB* by the hierarchical factorization
  (:func:`kmatrix.project.kaleidoscope.hierarchical_twiddle`, its random combinations drawn
  per restart; the other factors of a wider K-matrix start at I), then L-BFGS on the samples
  (``lbfgs_steps``);
* twiddle families (butterfly, kmatrix) otherwise: Adam on unitary blocks (:func:`unitary_twiddles`,
  ``unitary_steps``), then Adam on free twiddles (``steps``, lr/10), then L-BFGS (the finisher);
* the others: a short Adam phase then L-BFGS (their least-squares problems are convex or
  benign: dense, Toeplitz, circulant, LDR, sparse are linear in θ; low rank has no spurious
  minima).

A real target may be fitted by a complex family on complex samples (W ≈ T), or through
RealPart on real samples (``real_part=True``: Re W ≈ T, the route to the DCT and DST).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch

from ..families import KMatrix, RealPart
from ..nn.registry import get_family
from ..project.kaleidoscope import hierarchical_twiddle
from .families import FAMILIES, make_family, unitary_twiddles
from .fit import fit
from .targets import TARGETS, make_target

__all__ = ["INITS", "Recovery", "recover"]

#: the starts :func:`recover` accepts
INITS = ("auto", "random", "project")


@dataclass
class Recovery:
    """The outcome of :func:`recover`: ``error`` the best matrix error over the restarts,
    ``errors`` / ``times`` (wall) / ``cpu_times`` (process CPU seconds, the fair figure on a
    shared machine) per restart, ``model`` the best model, ``params`` its parameter count
    (``num_params``), ``samples`` the number of samples L, ``histories`` the fit histories
    (all phases) of the best restart, ``config`` the family member fitted, ``inits`` the start
    of each restart (``"project"`` or ``"random"``), ``success_time`` the seconds up to the
    best restart; ``row()`` is the record the CLI writes as CSV.

    Examples
    --------
    >>> rec = kmatrix.learn.recover("dft", "kmatrix", 8, restarts=2, unitary_steps=100,
    ...                             steps=100, lbfgs_steps=100, init="random")
    >>> rec.config, rec.params, rec.samples
    ('KMatrix width=1 complex', 96, 16)
    >>> rec.error < 1e-6, rec.restarts, [h.phase[0] for h in rec.histories], rec.inits
    (True, 1, ['adam', 'adam'], ['random'])
    >>> sorted(rec.row())[:4]
    ['config', 'error', 'family', 'n']
    """

    target: str
    family: str
    n: int
    params: int
    error: float = math.inf
    errors: list[float] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    cpu_times: list[float] = field(default_factory=list)
    restarts: int = 0
    total_time: float = 0.0
    model: object = None
    histories: list = field(default_factory=list)
    config: str = ""
    samples: int = 0
    inits: list[str] = field(default_factory=list)

    @property
    def success_time(self) -> float:
        """Seconds of the restarts up to and including the best one."""
        if not self.errors:
            return math.nan
        i = min(range(len(self.errors)), key=lambda k: self.errors[k])
        return sum(self.times[: i + 1])

    def row(self) -> dict:
        return {"target": self.target, "family": self.family, "n": self.n, "config": self.config,
                "params": self.params, "samples": self.samples, "error": self.error, "restarts": self.restarts,
                "time_s": round(self.total_time, 2), "time_to_best_s": round(self.success_time, 2)}


def _matrix_error(M, T: torch.Tensor) -> float:
    with torch.no_grad():
        D = M.to_dense()
        D = D.to(T.dtype) if T.is_complex() or not D.is_complex() else D
        return float((D - T).norm() / T.norm())


def _config(M) -> str:
    base = M.base if isinstance(M, RealPart) else M
    parts = [type(base).__name__]
    for attr in ("width", "rank", "nnz"):
        v = getattr(base, attr, None)
        if isinstance(v, int):
            parts.append(f"{attr}={v}")
    if isinstance(M, RealPart):
        parts.append("RealPart")
    if base.is_complex:
        parts.append("complex")
    return " ".join(parts)


def recover(
    target: str,
    family: str,
    n: int,
    *,
    width: int | None = None,
    budget: int | None = None,
    complex_family: bool | None = None,
    real_part: bool = False,
    restarts: int = 8,
    samples: int | None = None,
    unitary_steps: int = 2000,
    unitary_lbfgs_steps: int = 0,
    unitary_scales: bool = False,
    unitary_spread: float = 1.0,
    steps: int = 1000,
    lbfgs_steps: int = 500,
    lr: float = 0.01,
    success: float = 1e-6,
    tol: float = 1e-13,
    seed: int = 0,
    max_time: float | None = None,
    progress: bool | None = None,
    init: str = "auto",
) -> Recovery:
    """Learn ``target`` (n×n) with ``family`` from ``samples`` random Gaussian samples, up to
    ``restarts`` random restarts.

    ``width`` / ``budget``: the family's size (see :func:`make_family`). ``complex_family``: a
    complex member (default: complex exactly when the target is); for a real target it is fitted
    on complex samples (W ≈ T as a complex matrix) unless ``real_part``: then RealPart(W) is
    fitted on real samples (Re W ≈ T; how the DCT/DST are reached). ``samples``: default
    max(16, min(n, ⌈2·params / n⌉)) — twice as many equations as unknowns, which the matrix
    error (reported) checks — and n for a width-1 K-matrix under ``init="auto"`` (the projected
    start needs a full-rank sample set). ``success``: stop restarting at this matrix error. ``tol``: each fit's
    target (relative training error). ``max_time``: wall-clock budget for all restarts.
    ``unitary_steps`` / ``unitary_lbfgs_steps``: Adam / L-BFGS steps of the unitary phase
    (twiddle families; L-BFGS there polishes a unitary target such as a permutation before the
    free phase). ``unitary_scales``: the phase's blocks are diag(gains) · unitary (reaches
    U₁ D U₂ such as a convolution) and ``unitary_spread`` (0.1: start near the identity); see
    :func:`unitary_twiddles`.
    ``seed`` fixes the target's randomness, the samples and every restart's initialisation.
    ``init``: ``"random"`` (every restart from a random member and the unitary phase),
    ``"project"`` (every restart from the least-squares estimate Ŵ of W, projected onto BB*
    by :func:`kmatrix.project.kaleidoscope.hierarchical_twiddle`, then L-BFGS: a generic start
    that does not read the target; needs the kmatrix family,
    no ``real_part``, and ``samples`` ≥ n) or
    ``"auto"`` (default: for a width-1 K-matrix with ``samples`` ≥ n the first restart is
    projected, the others random; otherwise all random). Width ≥ 2 is not projected by
    default: its other factors start at I, and from there L-BFGS did worse than the random
    recipe on a non-member (DCT, n = 32, width 2: 7.6e-2 against 1.9e-2), while at width 1
    the projected start was as good or better on every non-member tried (n = 32: DCT 0.51
    against 0.54, DST, Hartley, Legendre, Toeplitz, low rank, randn within 4%) and 3–5×
    faster.
    Measured (loaded 2-core machine, 1 thread, seed 0, complex width-1 K-matrix, 2n samples):
    at n = 256 the first, projected restart recovers a random permutation (error 8.7e-16, 1.2
    CPU s) and a random convolution (1.8e-15, 0.1 CPU s), where random restarts of the unitary
    recipe (80–120 CPU s each) ended at 9.3e-2 and 0.81.

    Returns a :class:`Recovery`. Cost: each step is one forward and one reverse pass of the
    family's fast product on the L samples.

    Examples
    --------
    The 8-point DFT from 16 random samples, with a width-1 K-matrix (BB*); the error is the
    matrix error ‖W − F‖_F / ‖F‖_F, not the training error:

    >>> rec = kmatrix.learn.recover("dft", "kmatrix", 8, unitary_steps=100, steps=100,
    ...                             lbfgs_steps=100)
    >>> rec.error < 1e-6
    True
    >>> F = torch.fft.fft(torch.eye(8, dtype=torch.complex128), dim=0, norm="ortho")
    >>> torch.allclose(rec.model.to_dense(), F, atol=1e-6)
    True
    """
    if not isinstance(target, str) or target not in TARGETS:
        raise ValueError(f"target: expected one of {', '.join(TARGETS)}, got {target!r}")
    try:
        fam = get_family(family)
    except (TypeError, ValueError):
        raise ValueError(f"family: expected one of {', '.join(FAMILIES)}, got {family!r}") from None
    if not isinstance(init, str) or init not in INITS:
        raise ValueError(f"init: expected one of {', '.join(INITS)}, got {init!r}")
    if isinstance(restarts, bool) or not isinstance(restarts, int) or restarts < 1:
        raise ValueError(f"restarts: expected a positive integer, got {restarts!r}")
    g = torch.Generator()
    g.manual_seed(seed)
    T = make_target(target, n, g)
    tgt = TARGETS[target]
    cplx = tgt.is_complex or bool(complex_family) or bool(real_part)
    if tgt.is_complex and (complex_family is False or real_part):
        raise ValueError(f"complex_family, real_part: the {target} target is complex; it needs a complex family "
                         "and complex samples")
    complex_output = bool(real_part)
    dtype = torch.float64 if (not cplx or complex_output) else torch.complex128
    probe = make_family(family, n, budget=budget, width=width, dtype=dtype, complex_output=complex_output,
                        generator=torch.Generator().manual_seed(0))
    if probe is None:
        raise ValueError(f"budget: {budget} parameters are too few for the {family} family at n = {n}")
    data_dtype = torch.complex128 if (cplx and not complex_output) else torch.float64
    if samples is None:  # twice as many real equations as real unknowns, at most n samples
        L = max(16, min(n, math.ceil(2 * probe.num_real_params / (n * (2 if data_dtype.is_complex else 1)))))
        if init == "auto" and isinstance(probe, KMatrix) and probe.width == 1:
            L = max(L, n)  # the projected start needs a full-rank sample set
    else:
        L = samples
    if isinstance(L, bool) or not isinstance(L, int) or L < 1:
        raise ValueError(f"samples: expected a positive integer, got {samples!r}")
    X = torch.randn(L, n, dtype=data_dtype, generator=g)
    if data_dtype.is_complex:
        X = X / math.sqrt(2)
    Y = X @ T.T.to(data_dtype)
    projectable = isinstance(probe, KMatrix) and L >= n
    if init == "project" and not projectable:
        raise ValueError(f"init: 'project' needs the kmatrix family without real_part and samples ≥ n = {n} "
                         f"(got family {family!r}, real_part={real_part}, {L} samples)")
    W_hat = None
    if init == "project" or (init == "auto" and projectable and probe.width == 1):
        # the least-squares estimate of W, extended by the identity to N×N (as kmatrix.benes)
        W_hat = torch.linalg.lstsq(X, Y).solution.T
        pad = torch.eye(probe.size, dtype=W_hat.dtype)
        pad[:n, :n] = W_hat
        W_hat = pad
    rec = Recovery(target, family, n, probe.num_params, config=_config(probe), samples=L)
    start = time.perf_counter()
    for r in range(restarts):
        left = None if max_time is None else max_time - (time.perf_counter() - start)
        if left is not None and left <= 0:
            break
        t0, c0 = time.perf_counter(), time.process_time()
        gr = torch.Generator()
        gr.manual_seed(seed * 1000003 + r + 1)
        M = make_family(family, n, budget=budget, width=width, dtype=dtype, complex_output=complex_output, generator=gr)
        hist = []
        start_kind = "project" if W_hat is not None and (init == "project" or r == 0) else "random"
        rec.inits.append(start_kind)
        if start_kind == "project":
            tw, _off = hierarchical_twiddle(W_hat, gr)
            with torch.no_grad():
                full = torch.eye(2, dtype=M.twiddle.dtype).expand(M.twiddle.shape).clone()
                full[:1] = tw.to(full.dtype)
                M.twiddle.copy_(full)
            if lbfgs_steps > 0:
                hist.append(fit(M, X, Y, optimizer="lbfgs", steps=lbfgs_steps, tol=tol, max_time=left,
                                progress=progress))
        elif fam.twiddles and unitary_steps > 0:
            with unitary_twiddles(M, gr, scaled=unitary_scales, spread=unitary_spread):
                hist.append(fit(M, X, Y, optimizer="auto" if unitary_lbfgs_steps else "adam", lr=lr,
                                steps=unitary_steps, lbfgs_steps=unitary_lbfgs_steps, tol=tol,
                                max_time=left, progress=progress))
        if start_kind == "project" or (hist and hist[-1].status == "converged"):
            pass
        else:
            left = None if max_time is None else max(0.0, max_time - (time.perf_counter() - start))
            hist.append(fit(M, X, Y, optimizer="auto", lr=lr / 10 if fam.twiddles else lr,
                            steps=steps if fam.twiddles else min(steps, 300), lbfgs_steps=lbfgs_steps,
                            tol=tol, max_time=left, progress=progress))
        err = _matrix_error(M, T)
        rec.errors.append(err)
        rec.times.append(time.perf_counter() - t0)
        rec.cpu_times.append(time.process_time() - c0)
        rec.restarts = r + 1
        if err < rec.error:
            rec.error, rec.model, rec.histories = err, M, hist
        if err <= success:
            break
    rec.total_time = time.perf_counter() - start
    return rec
