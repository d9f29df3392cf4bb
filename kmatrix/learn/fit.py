"""Training W_θ from samples: E(θ) = Σ_ℓ ‖y⁽ˡ⁾ − g(W_θ x⁽ˡ⁾)‖² (Definition 3.2).

:func:`fit` minimises E over the parameters of a model (a :class:`~kmatrix.nn.SingleLayer`, a
bare :class:`~kmatrix.StructuredMatrix`, or any ``nn.Module`` mapping X to Ŷ) with

* ``"gd"``: Algorithm 1 of the survey exactly: θ_{i+1} = θ_i − η ∇_θ E(θ_i) with a fixed step η
  on the full sum E (or on a mini-batch estimate of it), stopping when E(θ_i) < ε or after the
  maximum number of iterations. Over ℂ the step uses PyTorch's gradient of the real E, the
  conjugate Wirtinger derivative (steepest descent; for real θ it is ∇_θ E).
* ``"adam"``: Adam on E / ‖Y‖² (scale-free) with a learning-rate schedule (cosine by default).
* ``"lbfgs"``: L-BFGS with a strong-Wolfe line search on the full batch, the finisher that
  reaches machine precision once Adam is in the right basin.
* ``"auto"`` (default): Adam, then L-BFGS if the target error is not reached.

Each gradient costs one forward and one reverse pass of W's fast product: O(L(T₁ + T₂)) by
Lemma 3.5 and Baur–Strassen (Theorem 3.6); :func:`error_gradient` returns that gradient.

Safety: X and Y are validated (shapes, dtypes, finiteness); a non-finite loss or one that grows
past ``divergence`` × its initial value stops the run with a warning and restores the best
parameters seen; ``"adam"``/``"lbfgs"`` always return the best parameters seen (``"gd"``
returns its last iterate, as Algorithm 1, unless it diverged).
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from ..core.validation import real_dtype_of

__all__ = ["OPTIMIZERS", "SCHEDULES", "FitDivergedWarning", "History", "error_gradient", "fit"]

OPTIMIZERS = ("auto", "gd", "adam", "lbfgs")
SCHEDULES = ("cosine", "exponential", "constant")


class FitDivergedWarning(RuntimeWarning):
    """Training stopped on a non-finite or diverging loss; the best parameters were restored.

    Examples
    --------
    Gradient descent with a step far too large for the problem diverges; :func:`fit` warns,
    stops and restores the best parameters seen (here the zero start):

    >>> import warnings
    >>> X = torch.randn(8, 4, dtype=torch.float64)
    >>> Y = torch.randn(8, 2, dtype=torch.float64)
    >>> W = kmatrix.Dense(torch.zeros(2, 4, dtype=torch.float64))
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     h = kmatrix.learn.fit(W, X, Y, optimizer="gd", lr=1.0, steps=100, tol=None)
    >>> h.status, [w.category.__name__ for w in caught]
    ('diverged', ['FitDivergedWarning'])
    >>> bool(W.to_dense().abs().max() == 0)
    True
    """


@dataclass
class History:
    """What :func:`fit` did.

    ``loss``: E (Definition 3.2) at every optimizer step (for a mini-batch step, the batch's
    error scaled by L / batch size; for L-BFGS, every function evaluation), ``error``: the
    relative error ‖Ŷ − Y‖_F / ‖Y‖_F at the same points (full batch only; NaN otherwise),
    ``time``: seconds since the start, ``phase``: the optimizer of each step.
    ``final_error``: the relative error of the returned parameters on all of X, Y;
    ``status``: ``"converged"`` (target reached), ``"max_steps"``, ``"time_limit"``,
    ``"diverged"`` or ``"nonfinite"``; ``message``: a sentence saying so.

    Examples
    --------
    >>> X = torch.randn(16, 4, dtype=torch.float64)
    >>> W = kmatrix.Dense(torch.zeros(4, 4, dtype=torch.float64))
    >>> h = kmatrix.learn.fit(W, X, X.flip(1), optimizer="lbfgs", steps=50)   # learn a reversal
    >>> h.status, h.final_error < 1e-10
    ('converged', True)
    >>> h.steps == len(h.loss) == len(h.error) == len(h.phase), set(h.phase)
    (True, {'lbfgs'})
    """

    loss: list[float] = field(default_factory=list)
    error: list[float] = field(default_factory=list)
    time: list[float] = field(default_factory=list)
    phase: list[str] = field(default_factory=list)
    final_error: float = math.nan
    final_loss: float = math.nan
    best_step: int = -1
    status: str = "max_steps"
    message: str = ""
    wall_time: float = 0.0

    @property
    def steps(self) -> int:
        return len(self.loss)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("loss", "error", "time", "phase", "final_error", "final_loss",
                                              "best_step", "status", "message", "wall_time")}


# ---------------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------------
def _check_data(model: nn.Module, X, Y) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module (SingleLayer or StructuredMatrix), got {type(model).__name__}")
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("model: has no trainable parameters θ")
    for name, t in (("X", X), ("Y", Y)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
        if not (t.is_floating_point() or t.is_complex()):
            raise TypeError(f"{name}: expected a floating-point or complex tensor, got dtype {t.dtype}")
        if t.ndim != 2:
            raise ValueError(f"{name}: expected a 2-d tensor (samples, features), got shape {tuple(t.shape)}")
        if t.shape[0] == 0:
            raise ValueError(f"{name}: expected at least one sample, got shape {tuple(t.shape)}")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name}: contains NaN or infinite values")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"X, Y: expected the same number of samples, got {X.shape[0]} and {Y.shape[0]}")
    if real_dtype_of(X.dtype) != real_dtype_of(Y.dtype):
        raise TypeError(f"X, Y: expected the same precision, got {X.dtype} and {Y.dtype}")
    shape = getattr(model, "shape", None)
    if shape is not None and X.shape[1] != shape[1]:
        raise ValueError(f"X: expected {shape[1]} features (model shape {tuple(shape)}), got shape {tuple(X.shape)}")
    with torch.no_grad():
        y0 = model(X[:1])
    if y0.shape[-1] != Y.shape[1]:
        raise ValueError(f"Y: expected {y0.shape[-1]} features (the model's output), got shape {tuple(Y.shape)}")
    if Y.is_complex() and not y0.is_complex():
        raise TypeError(f"Y: complex targets need a complex model output; the model gives {y0.dtype} "
                        "(use a complex family, e.g. dtype=torch.complex128)")
    if real_dtype_of(y0.dtype) != real_dtype_of(Y.dtype):
        raise TypeError(f"Y: expected precision {real_dtype_of(y0.dtype)} (the model's output, {y0.dtype}), "
                        f"got {Y.dtype}; convert the model or the data")
    return X, Y


def _sq_error(model: nn.Module, X: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
    """E = Σ ‖y − ŷ‖² over the rows (real, also for complex data)."""
    r = model(X) - Y
    return (r.real.square().sum() + r.imag.square().sum()) if r.is_complex() else r.square().sum()


def error_gradient(model: nn.Module, X: torch.Tensor, Y: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    """(E(θ), ∇_θ E(θ)) for E of Definition 3.2, by one forward and one reverse pass of the model
    (the gradient :func:`fit` descends; Lemma 3.5 reduces it to ∇_θ(zᵀ W_θ x)). Returns the
    loss and one gradient per ``model.parameters()`` entry (None where unused).

    Examples
    --------
    For a dense W, E = Σ_ℓ ‖W x⁽ˡ⁾ − y⁽ˡ⁾‖² has the gradient 2 (W Xᵀ − Yᵀ) X:

    >>> X = torch.randn(8, 4, dtype=torch.float64)
    >>> Y = torch.randn(8, 3, dtype=torch.float64)
    >>> W = kmatrix.Dense(torch.randn(3, 4, dtype=torch.float64))
    >>> E, (grad,) = kmatrix.learn.error_gradient(W, X, Y)
    >>> R = X @ W.to_dense().T - Y
    >>> torch.allclose(E, R.square().sum()), torch.allclose(grad, 2 * R.T @ X)
    (True, True)
    """
    X, Y = _check_data(model, X, Y)
    params = [p for p in model.parameters() if p.requires_grad]
    with torch.enable_grad():
        E = _sq_error(model, X, Y)
        grads = torch.autograd.grad(E, params, allow_unused=True)
    return E.detach(), grads


# ---------------------------------------------------------------------------------------------
# the training loop
# ---------------------------------------------------------------------------------------------
def _make_schedule(opt, schedule, steps: int):
    if callable(schedule) and not isinstance(schedule, str):
        return torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps), eta_min=0.0)
    if schedule == "exponential":  # lr decays by 1e-3 over the run
        return torch.optim.lr_scheduler.ExponentialLR(opt, 1e-3 ** (1.0 / max(1, steps)))
    if schedule == "constant":
        return None
    raise ValueError(f"schedule: expected one of {SCHEDULES} or a callable step -> factor, got {schedule!r}")


def _progress(total: int, progress, desc: str):
    from tqdm.auto import tqdm

    disable = (not sys.stderr.isatty()) if progress is None else not progress
    return tqdm(total=total, desc=desc, disable=disable, leave=False, unit="step", dynamic_ncols=True)


class _Run:
    """State shared by the phases: best parameters, history, stop conditions."""

    def __init__(self, model, X, Y, tol, eps, divergence, max_time, callback):
        self.model, self.X, self.Y = model, X, Y
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.best = [p.detach().clone() for p in self.params]
        self.best_loss = math.inf
        self.y_norm2 = float((Y.real.square().sum() + Y.imag.square().sum()) if Y.is_complex() else Y.square().sum())
        self.scale = 1.0 / self.y_norm2 if self.y_norm2 > 0 else 1.0
        self.tol, self.eps, self.divergence = tol, eps, divergence
        self.max_time, self.callback = max_time, callback
        self.hist = History()
        self.start = time.perf_counter()
        self.first_loss: float | None = None
        self.stop: str | None = None

    def rel(self, E: float) -> float:
        return math.sqrt(max(E, 0.0) * self.scale) if self.y_norm2 > 0 else math.sqrt(max(E, 0.0))

    def record(self, E: float, phase: str, full: bool) -> None:
        """Record E at the current θ; keep θ if best; decide whether to stop."""
        h = self.hist
        h.loss.append(E)
        h.error.append(self.rel(E) if full else math.nan)
        h.time.append(time.perf_counter() - self.start)
        h.phase.append(phase)
        step = len(h.loss) - 1
        if not math.isfinite(E):
            self.stop = self.stop or "nonfinite"
            return
        if self.first_loss is None:
            self.first_loss = E
        if full and E < self.best_loss:
            self.best_loss = E
            h.best_step = step
            for b, p in zip(self.best, self.params):
                b.copy_(p.detach())
        if self.divergence and E > self.divergence * max(self.first_loss, self.y_norm2, 1e-300):
            self.stop = self.stop or "diverged"
        elif full and ((self.tol is not None and self.rel(E) <= self.tol) or (self.eps is not None and E < self.eps)):
            self.stop = self.stop or "converged"
        elif self.max_time is not None and h.time[-1] > self.max_time:
            self.stop = self.stop or "time_limit"
        if self.callback is not None and self.callback(step, E, self.model) is False:
            self.stop = self.stop or "callback"

    def restore_best(self) -> None:
        with torch.no_grad():
            for b, p in zip(self.best, self.params):
                p.copy_(b)


def _first_order(run: _Run, kind: str, lr: float, steps: int, batch_size, schedule, gen, progress):
    X, Y, L = run.X, run.Y, run.X.shape[0]
    params = run.params
    opt = torch.optim.Adam(params, lr=lr) if kind == "adam" else None
    sched = _make_schedule(opt, schedule, steps) if opt is not None else None
    full = batch_size is None or batch_size >= L
    bar = _progress(steps, progress, kind)
    try:
        for i in range(steps):
            if full:
                xb, yb, factor = X, Y, 1.0
            else:
                idx = torch.randint(0, L, (batch_size,), generator=gen).to(X.device)
                xb, yb, factor = X[idx], Y[idx], L / batch_size
            for p in params:
                p.grad = None
            with torch.enable_grad():
                E = _sq_error(run.model, xb, yb) * factor
                (E * (run.scale if opt is not None else 1.0)).backward()
            Ef = float(E.detach())
            run.record(Ef, kind, full)
            if run.stop is None and not full and (i + 1) % max(1, L // batch_size) == 0:
                with torch.no_grad():  # a full evaluation once per epoch: best, target, divergence
                    run.record(float(_sq_error(run.model, X, Y)), kind + "-eval", True)
            if run.stop is not None:
                break
            with torch.no_grad():
                if opt is None:  # Algorithm 1, line 4
                    for p in params:
                        if p.grad is not None:
                            p.sub_(lr * p.grad)
                else:
                    opt.step()
                    if sched is not None:
                        sched.step()
            if i % 10 == 0 or i == steps - 1:
                bar.set_postfix(rel_err=f"{run.rel(Ef):.2e}", refresh=False)
            bar.update(1)
    finally:
        bar.close()
    if run.stop is None and full:  # E at the last iterate
        with torch.no_grad():
            run.record(float(_sq_error(run.model, X, Y)), kind, True)


def _lbfgs(run: _Run, lr: float, steps: int, progress):
    """L-BFGS (strong-Wolfe line search, full batch) for up to ``steps`` function evaluations.
    When it stops early (no descent direction left in its memory) before the target, it is
    restarted with a fresh memory as long as a round improves the best loss."""
    X, Y = run.X, run.Y
    bar = _progress(steps, progress, "lbfgs")

    class _Stop(Exception):
        pass

    def closure():
        for p in run.params:
            p.grad = None
        with torch.enable_grad():
            E = _sq_error(run.model, X, Y)
            (E * run.scale).backward()
        Ef = float(E.detach())
        run.record(Ef, "lbfgs", True)
        bar.set_postfix(rel_err=f"{run.rel(Ef):.2e}", refresh=False)
        bar.update(1)
        if run.stop is not None or len(run.hist.loss) >= budget_end:
            raise _Stop
        return E * run.scale

    budget_end = len(run.hist.loss) + steps
    try:
        while len(run.hist.loss) < budget_end and run.stop is None:
            before = run.best_loss
            left = budget_end - len(run.hist.loss)
            opt = torch.optim.LBFGS(run.params, lr=lr, max_iter=left, max_eval=left,
                                    history_size=100, line_search_fn="strong_wolfe",
                                    tolerance_grad=0.0, tolerance_change=0.0)
            opt.step(closure)
            if not run.best_loss < before * (1 - 1e-3):
                break
    except _Stop:
        pass
    finally:
        bar.close()


def fit(
    model: nn.Module,
    X: torch.Tensor,
    Y: torch.Tensor,
    *,
    optimizer: str = "auto",
    lr: float | None = None,
    steps: int | None = None,
    lbfgs_steps: int | None = None,
    batch_size: int | None = None,
    schedule="cosine",
    tol: float | None = 1e-12,
    eps: float | None = None,
    divergence: float | None = 1e6,
    max_time: float | None = None,
    seed: int | None = None,
    progress: bool | None = None,
    callback: Callable | None = None,
    threads: int | None = None,
) -> History:
    """Train ``model`` in place so that model(X) ≈ Y; returns the :class:`History`.

    Parameters
    ----------
    model : nn.Module
        A :class:`~kmatrix.nn.SingleLayer`, a :class:`~kmatrix.StructuredMatrix` or any module
        mapping X (L, n) to Ŷ (L, m). Every trainable parameter is updated (all factors of a
        composition that shares θ).
    X, Y : tensors (L, n) and (L, m)
        Samples, finite, of the same precision; complex Y needs a complex model output (a real Y
        with a complex output fits the imaginary part to 0; use ``RealPart`` to drop it).
    optimizer : "auto", "gd", "adam" or "lbfgs"
        ``"gd"``: Algorithm 1, fixed step η = ``lr`` on E (or a mini-batch estimate);
        ``"adam"``: Adam on E / ‖Y‖² with ``schedule``; ``"lbfgs"``: L-BFGS with a strong-Wolfe
        line search on the full batch; ``"auto"`` = Adam then L-BFGS.
    lr : float
        η for gd (required: Algorithm 1's step is the user's choice), Adam's initial learning
        rate (default 0.01), L-BFGS's (default 1).
    steps : int
        Iterations of gd / Adam (default 2000; for ``"lbfgs"`` alone its iterations).
    lbfgs_steps : int
        L-BFGS iterations of ``"auto"`` (default 500).
    batch_size : int
        Mini-batch size for gd / Adam (default: full batch). L-BFGS always uses the full batch.
    schedule : "cosine", "exponential", "constant" or callable
        Adam's learning-rate schedule (a callable maps the step to a factor of ``lr``).
    tol : float
        Stop when the relative error ‖Ŷ − Y‖_F / ‖Y‖_F ≤ tol (default 1e-12; None: never).
    eps : float
        Algorithm 1's threshold: stop when E(θ) < eps.
    divergence : float
        Stop (and restore the best θ) when E exceeds ``divergence`` × max(first E, ‖Y‖²)
        (‖Y‖² is the error of predicting 0, so a start near the optimum is not "diverging").
    max_time : float
        Wall-clock budget in seconds.
    seed : int
        Seed of the mini-batch sampling.
    progress : bool
        tqdm progress bar; default: on when stderr is a terminal.
    callback : callable(step, E, model) -> bool | None
        Called after every recorded step; returning False stops the run.
    threads : int
        torch intra-op threads during the fit (restored after). Default: 1 when every tensor
        is small (X, Y and each parameter under 2^20 scalars), where a step is many small ops
        that threads cannot speed up and that oversubscribed cores slow down badly (20× was
        measured on a loaded 2-core machine); otherwise torch's setting.

    Examples
    --------
    Algorithm 1 on a convex problem (identity g, a dense W), then the default Adam + L-BFGS:

    >>> from kmatrix.learn import fit
    >>> X = torch.eye(3, dtype=torch.float64)
    >>> Y = torch.tensor([[1.0, 2.0], [0.0, 1.0], [3.0, -1.0]], dtype=torch.float64)
    >>> layer = kmatrix.nn.SingleLayer(kmatrix.Dense(torch.zeros(2, 3, dtype=torch.float64)))
    >>> h = fit(layer, X, Y, optimizer="gd", lr=0.25, steps=200, eps=1e-20, tol=None)
    >>> h.status, h.final_error < 1e-10     # stopped at E < ε
    ('converged', True)
    >>> h.loss[0] > h.loss[1] > h.loss[2]      # E decreases at every step for this small η
    True
    """
    X, Y = _check_data(model, X, Y)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer: expected one of {OPTIMIZERS}, got {optimizer!r}")
    if lr is not None and not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr: expected a positive number, got {lr!r}")
    if optimizer == "gd" and lr is None:
        raise ValueError("lr: gd (Algorithm 1) needs the step η; pass lr=")
    for name, v in (("steps", steps), ("lbfgs_steps", lbfgs_steps), ("batch_size", batch_size)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0 or (name == "batch_size" and v == 0)):
            raise ValueError(f"{name}: expected a positive integer, got {v!r}")
    for name, v in (("tol", tol), ("eps", eps), ("max_time", max_time)):
        if v is not None and not (isinstance(v, (int, float)) and v >= 0):
            raise ValueError(f"{name}: expected a nonnegative number or None, got {v!r}")
    if divergence is not None and not (isinstance(divergence, (int, float)) and divergence > 1):
        raise ValueError(f"divergence: expected a number > 1 or None, got {divergence!r}")
    if not (callable(schedule) or schedule in SCHEDULES):
        raise ValueError(f"schedule: expected one of {SCHEDULES} or a callable, got {schedule!r}")
    gen = torch.Generator()
    gen.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2**62, (1,)).item()))

    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads: expected a positive integer or None, got {threads!r}")
    if threads is None:
        small = max([X.numel(), Y.numel()] + [p.numel() for p in model.parameters()]) < 2**20
        threads = 1 if small else torch.get_num_threads()
    prev_threads = torch.get_num_threads()
    torch.set_num_threads(threads)

    run = _Run(model, X, Y, tol, eps, divergence, max_time, callback)
    was_training = model.training
    model.train()
    try:
        if optimizer in ("gd", "adam", "auto"):
            kind = "gd" if optimizer == "gd" else "adam"
            _first_order(run, kind, lr if lr is not None else 0.01, 2000 if steps is None else steps,
                         batch_size, schedule, gen, progress)
        if optimizer == "lbfgs" or (optimizer == "auto" and run.stop is None):
            n_lb = (steps if optimizer == "lbfgs" else lbfgs_steps) or 500
            _lbfgs(run, lr if (optimizer == "lbfgs" and lr is not None) else 1.0, n_lb, progress)
    finally:
        model.train(was_training)
        torch.set_num_threads(prev_threads)

    h = run.hist
    status = run.stop or "max_steps"
    # gd returns its last iterate (Algorithm 1) unless it diverged; the others their best θ
    if (status in ("diverged", "nonfinite") or optimizer != "gd") and math.isfinite(run.best_loss):
        run.restore_best()
    with torch.no_grad():
        E_final = float(_sq_error(model, X, Y))
    if not math.isfinite(E_final):  # never hand back garbage
        run.restore_best()
        with torch.no_grad():
            E_final = float(_sq_error(model, X, Y))
    h.final_loss, h.final_error = E_final, run.rel(E_final)
    h.status = "callback" if status == "callback" else status
    h.wall_time = time.perf_counter() - run.start
    what = {"converged": "reached the target", "max_steps": "used all its steps",
            "time_limit": "ran out of time", "callback": "was stopped by the callback",
            "diverged": f"stopped: the loss grew past {divergence or 0:g}× max(its first value, ‖Y‖²)",
            "nonfinite": "stopped: the loss became NaN or infinite"}[h.status]
    h.message = (f"fit ({optimizer}) {what} after {h.steps} steps in {h.wall_time:.1f} s; "
                 f"relative error {h.final_error:.3e}")
    if h.status in ("diverged", "nonfinite"):
        best = f"step {h.best_step}" if h.best_step >= 0 else "the start"
        h.message += (f" (best parameters, from {best}, restored; lower the learning rate"
                      f"{' (lr=' + format(lr, 'g') + ')' if lr is not None else ''})")
        warnings.warn(h.message, FitDivergedWarning, stacklevel=2)
    return h

