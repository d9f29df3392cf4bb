"""The fast (subproduct-tree) paths of Vandermonde and Cauchy: ``method="auto"`` stays within 10×
of the direct path's error on the benchmark cases, and ``method="fast"`` warns
(kmatrix.AccuracyWarning) when the growth indicator says the result may be meaningless.

References are independent of the library: mpmath at 30 digits on sampled outputs (the
benchmarks' reference functions, which only use mpmath) or the dense float64 matrix built with
numpy. The error is normwise against the magnitude of the sum, ‖ŷ − y‖ / ‖|W||x|‖ on the
sampled entries; the direct path's own error is ~1e-16 there, so "within 10×" is asserted
against max(direct error, 1e-16) (a lucky direct error of 3e-17 must not fail the test).
"""

import math
import warnings

import numpy as np
import pytest
import torch

import kmatrix
from kmatrix.bench import cauchy_accuracy as cbench
from kmatrix.bench import vandermonde_accuracy as vbench
from kmatrix.bench._accuracy import relative_error
from kmatrix.bench.fast_growth import KINDS, make_nodes
from kmatrix.families._fast_accuracy import FAST_WARN_GROWTH

ROWS = 6
DPS = 30
# n = 1200 and 1300 are the sizes where "auto" used to take the fast path on interleaved circle
# nodes (error 1.5e-13 against 2.8e-16 direct)
FAST_SIZES = [64, 1200, 1300]
SLOW_SIZES = [1024, 2048, 3000, 4096]


def _sizes():
    return [pytest.param(n) for n in FAST_SIZES] + [pytest.param(n, marks=pytest.mark.slow) for n in SLOW_SIZES]


def _seed(gen) -> int:
    return int(torch.randint(0, 2**31, (), generator=gen))


def _randn(n, cplx, rng):
    v = rng.standard_normal(n)
    return v + 1j * rng.standard_normal(n) if cplx else v


@pytest.mark.parametrize("n", _sizes())
@pytest.mark.parametrize("case", cbench.CASES)
def test_cauchy_auto_within_10x_of_direct(case, n, gen):
    rng = np.random.default_rng(_seed(gen))
    s, t = cbench.make_nodes(case, n, rng)
    x, y = _randn(n, np.iscomplexobj(s), rng), _randn(n, np.iscomplexobj(s), rng)
    st, tt = torch.from_numpy(s), torch.from_numpy(t)
    auto, direct = kmatrix.Cauchy(st, tt), kmatrix.Cauchy(st, tt, method="direct")
    S = np.sort(rng.choice(n, size=min(ROWS, n), replace=False))
    ref = cbench.reference(s, t, x, S, DPS)
    scale = (1.0 / np.abs(s[S][:, None] - t[None, :])) @ np.abs(x)
    refT = -cbench.reference(t, s, y, S, DPS)  # Cᵀ = −C(t, s)
    scaleT = (1.0 / np.abs(t[S][:, None] - s[None, :])) @ np.abs(y)
    with torch.no_grad():
        for ref_, sc, v, op in ((ref, scale, x, "C"), (refT, scaleT, y, "T")):
            vt = torch.from_numpy(v)[None]
            ya = (auto(vt) if op == "C" else auto.T(vt))[0].numpy()[S]
            yd = (direct(vt) if op == "C" else direct.T(vt))[0].numpy()[S]
            ea, ed = relative_error(ya, ref_, sc), relative_error(yd, ref_, sc)
            assert ed <= 1e-14, (case, n, op, ed)
            assert ea <= 10 * max(ed, 1e-16), (case, n, op, ea, ed)


@pytest.mark.parametrize("n", _sizes())
@pytest.mark.parametrize("case", vbench.CASES)
def test_vandermonde_auto_within_10x_of_direct(case, n, gen):
    rng = np.random.default_rng(_seed(gen))
    a = vbench.make_nodes(case, n, rng)
    x, y = _randn(n, np.iscomplexobj(a), rng), _randn(n, np.iscomplexobj(a), rng)
    at = torch.from_numpy(a)
    auto, direct = kmatrix.Vandermonde(at, n), kmatrix.Vandermonde(at, n, method="direct")
    S = np.sort(rng.choice(n, size=min(ROWS, n), replace=False))
    ref = vbench.reference_rows(a, x, S, DPS)
    scale = (np.abs(a[S])[:, None] ** np.arange(n)[None, :]) @ np.abs(x)
    J = np.arange(max(0, n - 4), n)  # the last columns of Vᵀ y: the largest powers
    refT = vbench.reference_cols(a, y, J, DPS)
    scaleT = (np.abs(a)[:, None] ** J[None, :]).T @ np.abs(y)
    with torch.no_grad():
        xt, yt = torch.from_numpy(x)[None], torch.from_numpy(y)[None]
        for ya, yd, ref_, sc in (
            (auto(xt)[0].numpy()[S], direct(xt)[0].numpy()[S], ref, scale),
            (auto.T(yt)[0].numpy()[J], direct.T(yt)[0].numpy()[J], refT, scaleT),
        ):
            ea, ed = relative_error(ya, ref_, sc), relative_error(yd, ref_, sc)
            assert ed <= 1e-14, (case, n, ed)
            assert ea <= 10 * max(ed, 1e-16), (case, n, ea, ed)


def _dense_cauchy(s, t):
    return 1.0 / (s[:, None] - t[None, :])


def _dense_vandermonde(a, n):
    return a[:, None] ** np.arange(n)[None, :]


def _fast_error(family, a, b, n, x):
    """(warnings raised, normwise error of the fast product against numpy's dense product)."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        if family == "V":
            M = kmatrix.Vandermonde(torch.from_numpy(a), n, method="fast")
            W = _dense_vandermonde(a, n)
        else:
            M = kmatrix.Cauchy(torch.from_numpy(a), torch.from_numpy(b), method="fast")
            W = _dense_cauchy(a, b)
        with torch.no_grad():
            y = M(torch.from_numpy(x).to(M.dtype)).numpy()
    acc = [m for m in w if issubclass(m.category, kmatrix.AccuracyWarning)]
    ref = x @ W.T
    scale = np.abs(x) @ np.abs(W).T
    err = math.inf if not np.all(np.isfinite(y)) else _ratio_of_norms(y - ref, scale)
    return acc, err, M.growth()


def _ratio_of_norms(num, den) -> float:
    """‖num‖/‖den‖ without overflow: both scaled by max|den| first (Vandermonde entries of large
    nodes reach 1e200, whose squares overflow float64 and would make the ratio a silent 0)."""
    big = float(np.max(np.abs(den)))
    if not math.isfinite(big) or big == 0:
        return math.inf
    return float(np.linalg.norm(num / big) / np.linalg.norm(den / big))


@pytest.mark.parametrize("family", ["V", "C"])
def test_fast_warns_on_meaningless_results(family, gen):
    # random real nodes in [-1, 1], n = 256: the measured fast errors are 1e+42 (V) and 0.67 (C)
    rng = np.random.default_rng(_seed(gen))
    n = 256
    a, b = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    x = rng.standard_normal((2, n))
    acc, err, G = _fast_error(family, a, b, n, x)
    assert G > FAST_WARN_GROWTH
    assert err > 1e-3  # the result really is meaningless ...
    assert len(acc) == 1 and "method='direct'" in str(acc[0].message)  # ... and the user is told
    # the transpose path warns too
    with pytest.warns(kmatrix.AccuracyWarning):  # noqa: PT031 - building and applying the transpose
        M = kmatrix.Vandermonde(torch.from_numpy(a), n, method="fast") if family == "V" else \
            kmatrix.Cauchy(torch.from_numpy(a), torch.from_numpy(b), method="fast")
        M.T(torch.ones(1, M.shape[0], dtype=M.dtype))
    # the default never warns and is accurate
    with warnings.catch_warnings():
        warnings.simplefilter("error", kmatrix.AccuracyWarning)
        M = kmatrix.Vandermonde(torch.from_numpy(a), n) if family == "V" else \
            kmatrix.Cauchy(torch.from_numpy(a), torch.from_numpy(b))
        W = _dense_vandermonde(a, n) if family == "V" else _dense_cauchy(a, b)
        y = M(torch.from_numpy(x)).detach().numpy()
        assert np.linalg.norm(y - x @ W.T) / np.linalg.norm(np.abs(x) @ np.abs(W).T) <= 1e-14


@pytest.mark.parametrize("family", ["V", "C"])
def test_fast_quiet_and_accurate_below_the_line(family, gen):
    """The no-warning side of FAST_WARN_GROWTH on fresh random node sets (the benchmark's five
    kinds): G ≤ 1e6 ⇒ error ≤ 1e-8. kmatrix bench fast_growth measured ≤ 2.6e-11 (120 sets) and
    ≤ 3.3e-10 (another 120), so 1e-8 leaves a 30× margin; roots of unity give G = 2 and warn never."""
    rng = np.random.default_rng(_seed(gen))
    quiet = 0
    for k in range(10):
        n = int(2 ** rng.uniform(3, 7.5))
        a = make_nodes(k % len(KINDS), n, rng)
        b = make_nodes(k % len(KINDS), n, rng)
        x = rng.standard_normal((2, n)).astype(a.dtype)
        acc, err, G = _fast_error(family, a, b.astype(a.dtype), n, x)
        assert bool(acc) == (G > FAST_WARN_GROWTH)
        if G <= FAST_WARN_GROWTH:
            quiet += 1
            assert err <= 1e-8, (KINDS[k % len(KINDS)], n, G, err)
    n = 512
    w = np.exp(2j * np.pi * np.arange(n) / n)
    acc, err, G = _fast_error(family, w, w * np.exp(1j * np.pi / n), n, rng.standard_normal((2, n)) + 0j)
    assert not acc and G <= 3 and err <= 1e-13
