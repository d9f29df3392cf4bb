"""kmatrix.learn.fit and kmatrix.nn.SingleLayer (survey Definition 2.1, Definition 3.2,
Algorithm 1, Lemma 3.5).

References are independent: Algorithm 1 re-implemented with dense numpy algebra, the gradient
of E against Lemma 3.5's reduction (kmatrix.circuits.loss_gradient) and finite differences,
recovery errors against the planted matrix's dense form. Tolerances: float64 throughout; 1e-9
for planted recoveries (the issue's bound; L-BFGS reaches ~1e-13), 1e-10 relative for the
Algorithm-1 trajectory (30 steps of rounding in two implementations)."""

import math
import warnings

import numpy as np
import pytest
import torch

import kmatrix
from kmatrix.circuits import loss_gradient
from kmatrix.learn import FitDivergedWarning, History, error_gradient, fit
from kmatrix.nn import SingleLayer

F64 = torch.float64


def _rel(A, B):
    return float((A - B).norm() / B.norm())


def test_gd_is_algorithm_1_and_decreases_monotonically(gen):
    """Convex case (identity g, dense W): fixed η below 1/λ_max of the Hessian 2XᵀX, so E
    decreases at every step; the iterates equal a numpy re-implementation of Algorithm 1."""
    L, n, m = 40, 6, 5
    X = torch.randn(L, n, dtype=F64, generator=gen)
    Y = torch.randn(L, m, dtype=F64, generator=gen)
    W0 = torch.randn(m, n, dtype=F64, generator=gen)
    lam = float(torch.linalg.eigvalsh(2 * X.T @ X).max())
    eta = 0.9 / lam
    model = SingleLayer(kmatrix.Dense(W0))
    h = fit(model, X, Y, optimizer="gd", lr=eta, steps=30, tol=None, progress=False)
    assert isinstance(h, History) and h.status == "max_steps"
    # independent Algorithm 1: θ ← θ − η ∇E, ∇_W E = −2 (Y − X Wᵀ)ᵀ X
    Xn, Yn, W = X.numpy(), Y.numpy(), W0.numpy().copy()
    losses = []
    for _ in range(30):
        R = Yn - Xn @ W.T
        losses.append(float((R**2).sum()))
        W = W - eta * (-2 * R.T @ Xn)
    losses.append(float(((Yn - Xn @ W.T) ** 2).sum()))
    np.testing.assert_allclose(h.loss, losses, rtol=1e-10)
    np.testing.assert_allclose(model.W.weight.detach().numpy(), W, rtol=1e-10, atol=1e-12)
    assert all(b <= a for a, b in zip(h.loss, h.loss[1:]))
    assert h.final_loss == pytest.approx(losses[-1], rel=1e-10)


def test_gd_stops_when_E_below_eps(gen):
    X = torch.randn(30, 4, dtype=F64, generator=gen)
    T = torch.randn(3, 4, dtype=F64, generator=gen)
    Y = X @ T.T
    model = SingleLayer(kmatrix.Dense(torch.zeros(3, 4, dtype=F64)))
    lam = float(torch.linalg.eigvalsh(2 * X.T @ X).max())
    eps = 1e-3 * float(Y.square().sum())
    h = fit(model, X, Y, optimizer="gd", lr=1 / lam, steps=100000, eps=eps, tol=None, progress=False)
    assert h.status == "converged"
    assert h.loss[-1] < eps <= h.loss[-2]  # Algorithm 1's loop test: stops at the first E < ε
    assert h.final_loss == pytest.approx(h.loss[-1])


def test_error_gradient_is_lemma_3_5(gen):
    """∇_θ E of fit's objective equals Lemma 3.5's z-reduction on a small butterfly with tanh."""
    n, L = 8, 12
    W = kmatrix.Butterfly(n, dtype=F64, generator=gen)
    layer = SingleLayer(W, "tanh")
    X = torch.randn(L, n, dtype=F64, generator=gen)
    Y = torch.randn(L, n, dtype=F64, generator=gen)
    E, grads = error_gradient(layer, X, Y)
    g, gp = kmatrix.nn.ACTIVATIONS["tanh"]
    ref = loss_gradient(W, X, Y, g=g, g_prime=gp)
    assert len(grads) == len(ref) == 1
    torch.testing.assert_close(grads[0], ref[0], rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        assert float(E) == pytest.approx(float(((Y - torch.tanh(W(X))) ** 2).sum()), rel=1e-13)
        # and both against a central finite difference of E in one random direction
        d = torch.randn(W.twiddle.shape, dtype=F64, generator=gen)
        h = 1e-6
        t0 = W.twiddle.detach().clone()
        W.twiddle.copy_(t0 + h * d)
        Ep = float(((Y - torch.tanh(W(X))) ** 2).sum())
        W.twiddle.copy_(t0 - h * d)
        Em = float(((Y - torch.tanh(W(X))) ** 2).sum())
        W.twiddle.copy_(t0)
    assert float((grads[0] * d).sum()) == pytest.approx((Ep - Em) / (2 * h), rel=1e-6)


def _recover(make, target_dense, X, restarts=3, **kw):
    Y = X @ target_dense.T
    best = math.inf
    for _ in range(restarts):
        M = make()
        with warnings.catch_warnings():  # a restart may diverge (warned, best parameters kept)
            warnings.simplefilter("ignore", FitDivergedWarning)
            fit(SingleLayer(M), X, Y, progress=False, **{"steps": 300, **kw})
        best = min(best, _rel(M.to_dense().detach(), target_dense))
        if best <= 1e-9:
            break
    return best


def test_fit_recovers_planted_butterfly(gen):
    n = 16
    T = kmatrix.Butterfly(n, dtype=F64, generator=gen).to_dense().detach()
    X = torch.randn(2 * n, n, dtype=F64, generator=gen)
    err = _recover(lambda: kmatrix.Butterfly(n, dtype=F64, generator=gen), T, X)
    assert err <= 1e-9


def test_fit_recovers_planted_lowrank(gen):
    n, r = 16, 3
    T = (torch.randn(n, r, dtype=F64, generator=gen) @ torch.randn(r, n, dtype=F64, generator=gen))
    X = torch.randn(2 * n, n, dtype=F64, generator=gen)

    def make():
        return kmatrix.LowRank(0.3 * torch.randn(n, r, dtype=F64, generator=gen),
                               0.3 * torch.randn(r, n, dtype=F64, generator=gen))

    assert _recover(make, T, X) <= 1e-9


def test_fit_complex_data_and_realpart(gen):
    """Complex X, Y with a complex low-rank family (planted, recovered to 1e-9); real targets
    through RealPart of a complex dense matrix (Re W ≈ T, a convex least-squares problem)."""
    n, r = 12, 2
    c = torch.complex128
    T = torch.randn(n, r, dtype=c, generator=gen) @ torch.randn(r, n, dtype=c, generator=gen)
    X = torch.randn(2 * n, n, dtype=c, generator=gen)

    def make():
        return kmatrix.LowRank(0.3 * torch.randn(n, r, dtype=c, generator=gen), 0.3 * torch.randn(r, n, dtype=c, generator=gen))

    assert _recover(make, T, X) <= 1e-9
    Tr = torch.randn(n, n, dtype=F64, generator=gen)
    Xr = torch.randn(2 * n, n, dtype=F64, generator=gen)
    W = kmatrix.Dense(torch.randn(n, n, dtype=c, generator=gen))
    model = SingleLayer(kmatrix.RealPart(W))
    h = fit(model, Xr, Xr @ Tr.T, steps=100, progress=False)
    assert model(Xr).dtype == F64
    # Im W is free (a singular least-squares problem): L-BFGS ends near 1e-10, not 1e-13
    assert h.final_error <= 1e-8
    assert _rel(W.weight.detach().real, Tr) <= 1e-7


def test_fit_trains_every_factor_of_a_product(gen):
    """A generic Product shares θ with its factors: fit moves both and fits the target (a
    two-factor linear network of full width: no spurious minima)."""
    n = 8
    A = kmatrix.Dense(torch.randn(n, n, dtype=F64, generator=gen) / n**0.5)
    B = kmatrix.Dense(torch.randn(n, n, dtype=F64, generator=gen) / n**0.5)
    P = kmatrix.Product([A, B])
    a0, b0 = A.weight.detach().clone(), B.weight.detach().clone()
    X = torch.randn(3 * n, n, dtype=F64, generator=gen)
    T = torch.randn(n, n, dtype=F64, generator=gen)
    h = fit(SingleLayer(P), X, X @ T.T, steps=300, progress=False)
    assert not torch.equal(A.weight.detach(), a0) and not torch.equal(B.weight.detach(), b0)
    assert h.final_error < 1e-8
    torch.testing.assert_close(P.to_dense().detach(), T, rtol=0, atol=1e-7 * float(T.abs().max()))


def test_fit_trains_both_factors_of_matmul(gen):
    """``A @ B`` shares θ with A and B (compositions are lazy products): SingleLayer(A @ B) trains
    both K-matrices; the target is a planted product of the same shape."""
    n = 8
    A = kmatrix.KMatrix(n, dtype=F64, generator=gen)
    B = kmatrix.KMatrix(n, dtype=F64, generator=gen)
    AB = A @ B
    assert {id(A.twiddle), id(B.twiddle)} <= {id(p) for p in AB.parameters()}
    a0, b0 = A.twiddle.detach().clone(), B.twiddle.detach().clone()
    T = torch.randn(n, n, dtype=F64, generator=gen)
    X = torch.randn(2 * n, n, dtype=F64, generator=gen)
    h = fit(SingleLayer(AB), X, X @ T.T, steps=60, lbfgs_steps=30, tol=None, progress=False)
    assert not torch.equal(A.twiddle.detach(), a0) and not torch.equal(B.twiddle.detach(), b0)
    assert h.final_loss < h.loss[0]
    torch.testing.assert_close(AB.to_dense().detach(), A.to_dense().detach() @ B.to_dense().detach())


def test_divergence_stops_with_message_and_best_parameters(gen):
    X = torch.randn(20, 5, dtype=F64, generator=gen)
    Y = torch.randn(20, 5, dtype=F64, generator=gen)
    W0 = torch.randn(5, 5, dtype=F64, generator=gen)
    model = SingleLayer(kmatrix.Dense(W0))
    with pytest.warns(FitDivergedWarning, match=r"grew past .*best parameters.* restored"):
        h = fit(model, X, Y, optimizer="gd", lr=1e3, steps=1000, progress=False)
    assert h.status == "diverged" and h.steps < 1000
    best = min(range(len(h.loss)), key=lambda i: h.loss[i])
    assert h.best_step == best
    W = model.W.weight.detach()
    assert torch.isfinite(W).all()
    assert h.final_loss == pytest.approx(h.loss[best])
    if best == 0:
        torch.testing.assert_close(W, W0, rtol=0, atol=0)


def test_nonfinite_loss_stops_and_restores(gen):
    """An activation that overflows to inf: status nonfinite, the best θ back, finite."""
    X = torch.randn(10, 4, dtype=F64, generator=gen)
    Y = torch.randn(10, 4, dtype=F64, generator=gen)
    W0 = torch.randn(4, 4, dtype=F64, generator=gen)
    model = SingleLayer(kmatrix.Dense(W0), activation=lambda u: torch.exp(300 * u))
    with pytest.warns(FitDivergedWarning, match="NaN or infinite"):
        h = fit(model, X, Y, optimizer="adam", lr=0.5, steps=200, divergence=None, progress=False)
    assert h.status == "nonfinite"
    assert torch.isfinite(model.W.weight).all()
    assert math.isfinite(h.final_loss) or h.best_step == -1


def test_minibatch_seeded_and_reproducible(gen):
    X = torch.randn(64, 6, dtype=F64, generator=gen)
    T = torch.randn(6, 6, dtype=F64, generator=gen)
    W0 = torch.randn(6, 6, dtype=F64, generator=gen)
    runs = []
    for _ in range(2):
        model = SingleLayer(kmatrix.Dense(W0))
        h = fit(model, X, X @ T.T, optimizer="adam", lr=0.1, steps=64, batch_size=16, seed=5, tol=None, progress=False)
        runs.append((h.loss, model.W.weight.detach().clone()))
    assert runs[0][0] == runs[1][0]
    torch.testing.assert_close(runs[0][1], runs[1][1], rtol=0, atol=0)
    assert "adam-eval" in h.phase and h.steps > 64
    first = next(e for e, p in zip(h.error, h.phase) if p == "adam-eval")
    assert h.final_error < first  # the best full-data evaluation is returned


def test_no_progress_output_when_not_a_terminal(gen, capsys):
    X = torch.randn(8, 4, dtype=F64, generator=gen)
    fit(SingleLayer(kmatrix.Dense(torch.randn(4, 4, dtype=F64, generator=gen))), X, X, steps=5,
        lbfgs_steps=3, tol=None)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_single_layer_activations(gen):
    W = kmatrix.Dense(torch.randn(3, 4, dtype=F64, generator=gen))
    x = torch.randn(5, 4, dtype=F64, generator=gen)
    u = x @ W.weight.detach().T
    for name, ref in [(None, u), ("identity", u), ("relu", u.clamp_min(0)), ("tanh", torch.tanh(u)),
                      ("sigmoid", 1 / (1 + torch.exp(-u)))]:
        torch.testing.assert_close(SingleLayer(W, name)(x).detach(), ref, rtol=1e-13, atol=1e-14)
    torch.testing.assert_close(SingleLayer(W, torch.sin)(x).detach(), torch.sin(u))
    act = torch.nn.PReLU(dtype=F64)
    layer = SingleLayer(W, act)
    assert {id(p) for p in layer.parameters()} == {id(W.weight), id(act.weight)}
    assert layer.shape == (3, 4) and layer.num_params == 13 and not layer.is_linear
    Wc = kmatrix.Dense(torch.randn(3, 4, dtype=torch.complex128, generator=gen))
    with pytest.raises(TypeError, match="activation: relu"):
        SingleLayer(Wc, "relu")(x)
    SingleLayer(Wc, "tanh")(x)  # tanh is defined over ℂ


def test_single_layer_bad_arguments(gen):
    W = kmatrix.Dense(torch.randn(3, 4, dtype=F64, generator=gen))
    with pytest.raises(TypeError, match="W: expected a kmatrix StructuredMatrix"):
        SingleLayer(torch.nn.Linear(4, 3))
    with pytest.raises(ValueError, match="activation: expected one of"):
        SingleLayer(W, "softplus2")
    with pytest.raises(TypeError, match="activation"):
        SingleLayer(W, 3)


@pytest.mark.parametrize(
    "X_shape, Y_shape, X_dtype, Y_dtype, match, exc",
    [
        ((10, 4), (9, 3), F64, F64, "X, Y: expected the same number of samples", ValueError),
        ((10, 5), (10, 3), F64, F64, "X: expected 4 features", ValueError),
        ((10, 4), (10, 2), F64, F64, "Y: expected 3 features", ValueError),
        ((10, 4), (10, 3), torch.float32, F64, "X, Y: expected the same precision", TypeError),
        ((10, 4), (10, 3), F64, torch.complex128, "Y: complex targets need a complex model", TypeError),
        ((10, 4), (10, 3), torch.int64, F64, "X: expected a floating-point", TypeError),
        ((4,), (3,), F64, F64, "X: expected a 2-d tensor", ValueError),
    ],
)
def test_fit_bad_data(gen, X_shape, Y_shape, X_dtype, Y_dtype, match, exc):
    model = SingleLayer(kmatrix.Dense(torch.randn(3, 4, dtype=F64, generator=gen)))
    X = torch.randn(X_shape, dtype=F64, generator=gen).to(X_dtype) if X_dtype != torch.int64 else torch.ones(X_shape, dtype=torch.int64)
    Y = torch.randn(Y_shape, dtype=Y_dtype if Y_dtype.is_complex else F64, generator=gen).to(Y_dtype)
    with pytest.raises(exc, match=match):
        fit(model, X, Y, progress=False)


def test_fit_bad_values_and_options(gen):
    model = SingleLayer(kmatrix.Dense(torch.randn(3, 4, dtype=F64, generator=gen)))
    X = torch.randn(10, 4, dtype=F64, generator=gen)
    Y = torch.randn(10, 3, dtype=F64, generator=gen)
    Xn = X.clone()
    Xn[2, 1] = float("nan")
    Yi = Y.clone()
    Yi[0, 0] = float("inf")
    with pytest.raises(ValueError, match="X: contains NaN or infinite"):
        fit(model, Xn, Y)
    with pytest.raises(ValueError, match="Y: contains NaN or infinite"):
        fit(model, X, Yi)
    with pytest.raises(ValueError, match="optimizer: expected one of"):
        fit(model, X, Y, optimizer="sgd")
    with pytest.raises(ValueError, match="lr: gd"):
        fit(model, X, Y, optimizer="gd")
    with pytest.raises(ValueError, match="lr: expected a positive"):
        fit(model, X, Y, lr=-1.0)
    with pytest.raises(ValueError, match="schedule"):
        fit(model, X, Y, schedule="linear")
    with pytest.raises(ValueError, match="batch_size"):
        fit(model, X, Y, batch_size=0)
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module"):
        fit(lambda x: x, X, Y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = fit(model, X, Y, steps=3, lbfgs_steps=2, tol=None, progress=False)
    assert h.status == "max_steps" and math.isfinite(h.final_error)
