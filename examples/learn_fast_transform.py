"""
Learning a fast transform from samples
======================================

Given only input / output pairs (x, F x) of an unknown linear map, learn a structured matrix W_θ
with W_θ ≈ F — here F is the unitary DFT, and W_θ a K-matrix (BB*, width 1, O(n log n)
parameters and product), the experiment of Dao et al. (ICML 2019) and Question 2.3 of the survey.
The fit minimises E(θ) = Σ_ℓ ‖W_θ x⁽ˡ⁾ − y⁽ˡ⁾‖² (Definition 3.2) with the gradient of Lemma 3.5;
success is judged on the *matrix* error ‖W − F‖_F / ‖F‖_F, which the samples alone do not show.
"""

import math
import os
import sys

import torch

import kmatrix
from kmatrix.core.files import atomic_savefig
from kmatrix.learn import fit, make_family, make_target, recover, unitary_twiddles

SMALL = "--small" in sys.argv or os.environ.get("KMATRIX_EXAMPLES_SMALL") == "1"
n = 8 if SMALL else 32
steps = (100, 100, 100) if SMALL else (2000, 1000, 500)  # unitary Adam, free Adam, L-BFGS
torch.manual_seed(0)

# %%
# The target and the samples. ``make_target`` builds the dense n×n matrix (complex128 here);
# L = 2n random complex Gaussian inputs give 2n² equations, at least twice the 4 n log2 n
# unknowns of BB* (the samples :func:`~kmatrix.learn.recover` draws by default are similar).
F = make_target("dft", n)
assert torch.allclose(F, torch.fft.fft(torch.eye(n, dtype=torch.complex128), dim=0, norm="ortho"))
L = 2 * n
X = torch.randn(L, n, dtype=torch.complex128) / math.sqrt(2)
Y = X @ F.T  # row ℓ is F x⁽ˡ⁾
print(f"DFT, n = {n}: {L} samples, {L * n} complex equations")

# %%
# One fit by hand: a random BB* whose 2×2 blocks start (and, for a first phase, stay) unitary
# — :func:`~kmatrix.learn.unitary_twiddles` — then free twiddles with Adam + L-BFGS
# (``optimizer="auto"``). Each step costs one forward and one reverse pass of the fast product.
K = make_family(
    "kmatrix", n, width=1, dtype=torch.complex128, generator=torch.Generator().manual_seed(1)
)
print(
    f"{type(K).__name__}(width={K.width}): {K.num_params} parameters, a dense matrix {n * n} "
    "(BB* is smaller from n = 32 on)"
)
with unitary_twiddles(K, torch.Generator().manual_seed(1)):
    h1 = fit(K, X, Y, optimizer="adam", lr=0.01, steps=steps[0], tol=1e-13, progress=False)
h2 = fit(
    K,
    X,
    Y,
    optimizer="auto",
    lr=0.001,
    steps=steps[1],
    lbfgs_steps=steps[2],
    tol=1e-13,
    progress=False,
)
with torch.no_grad():
    err = float((K.to_dense() - F).norm() / F.norm())
print(
    f"by hand: training error {h2.final_error:.1e}, matrix error {err:.1e} "
    f"({h1.steps} + {h2.steps} steps, {h1.wall_time + h2.wall_time:.1f} s)"
)

# %%
# :func:`~kmatrix.learn.recover` is the same recipe with random restarts (stopping at the first
# restart whose matrix error is below ``success``) and the bookkeeping: it returns a
# :class:`~kmatrix.learn.Recovery` with the best model and the fit histories. (``init="random"``
# keeps this recipe; with at least n samples the default first restart would instead project the
# least-squares estimate of W onto BB* and finish with L-BFGS.)
rec = recover(
    "dft",
    "kmatrix",
    n,
    width=1,
    restarts=3,
    init="random",
    unitary_steps=steps[0],
    steps=steps[1],
    lbfgs_steps=steps[2],
    progress=False,
)
print(
    f"recover: {rec.config}, {rec.samples} samples, matrix error {rec.error:.1e} after "
    f"{rec.restarts} restart(s), {rec.total_time:.1f} s"
)
assert rec.error < 1e-6, rec.error

# %%
# The same budget spent on an unstructured family does not find F: a low-rank matrix with as
# many parameters (rank 2 log2 n) fits the samples at best as well as its rank allows.
low = recover("dft", "lowrank", n, budget=rec.params, restarts=1, progress=False)
print(f"lowrank at the same budget: {low.config}, matrix error {low.error:.2f}")
assert low.error > 0.1

# %%
# The loss falling: relative training error ‖Ŷ − Y‖ / ‖Y‖ against steps, all phases of the best
# restart (unitary Adam, free Adam, L-BFGS). The learned W is the DFT to ~1e-8 or better, and
# multiplies in O(n log n).
errors = [e for h in rec.histories for e in h.error if math.isfinite(e)]
print(
    f"training error: {errors[0]:.1e} at the start, {min(errors):.1e} at the end "
    f"({len(errors)} full-batch steps)"
)
assert min(errors) < 1e-3 * errors[0]
try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    print("(matplotlib is not installed: no plot; pip install 'kmatrix[plot]')")
else:
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    start = 0
    for h in rec.histories:
        pts = [(start + i, e) for i, e in enumerate(h.error) if math.isfinite(e) and e > 0]
        ax.semilogy(
            [p[0] for p in pts], [p[1] for p in pts], label=" then ".join(dict.fromkeys(h.phase))
        )
        start += h.steps
    ax.set_xlabel("step")
    ax.set_ylabel("relative training error")
    ax.set_title(f"learning the {n}-point DFT with a K-matrix (BB*)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    atomic_savefig(fig, "learn_dft_loss.png", dpi=90)  # temporary file + rename
    print("wrote learn_dft_loss.png")

# %%
# The learned matrix is a K-matrix like any other: it multiplies a batch in O(n log n), and its
# transpose and adjoint are structured too.
x = torch.randn(4, n, dtype=torch.complex128)
W = rec.model
with torch.no_grad():
    diff = float((W(x) - torch.fft.fft(x, norm="ortho")).abs().max())
print(f"W x vs torch.fft.fft: max difference {diff:.1e}")
assert diff < 1e-5
assert isinstance(W, kmatrix.StructuredMatrix)
