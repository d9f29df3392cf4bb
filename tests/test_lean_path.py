"""The lean no-grad path (kmatrix.kernels._lean): products that record no gradient go straight
to the kernel. It must give the general path's result bit for bit (same kernel, same
arguments), agree with the dense float64 definition, and step aside whenever a condition
fails (gradient needed, other backend, odd strides or dtypes, tracing).

Tolerance against the dense float64 matrix (normwise relative): float32 kernel rounding,
O(L·eps) per butterfly with L ≤ 7, unit-norm twiddle columns, eps = 6e-8 → 1e-5 with margin;
float64/complex128: 1e-12.
"""

from __future__ import annotations

import pytest
import torch

import kmatrix
from kmatrix.kernels import _lean, set_backend
from kmatrix.kernels import op as op_module
from kmatrix.nn import KLinear


def rel(a, b):
    a, b = a.to(torch.complex128), b.to(torch.complex128)
    return ((a - b).norm() / b.norm()).item()


@pytest.fixture
def op_calls(monkeypatch):
    """Counts calls into the custom op / general kernel path (its argument checks)."""
    calls = []
    real = op_module.check_op_args
    monkeypatch.setattr(op_module, "check_op_args", lambda *a: calls.append(1) or real(*a))
    runs = []
    real_run = _lean._run
    monkeypatch.setattr(_lean, "_run", lambda *a: runs.append(real_run(*a)) or runs[-1])
    return calls, runs


def _cases(gen):
    c64 = torch.complex64
    return {
        "butterfly": kmatrix.Butterfly(64, generator=gen),
        "butterfly-corner": kmatrix.Butterfly(100, 40, generator=gen),
        "butterfly-stack": kmatrix.Butterfly(16, nstack=3, increasing_stride=False, generator=gen),
        "butterfly-c128": kmatrix.Butterfly(32, dtype=torch.complex128, generator=gen),
        "kmatrix-w2": kmatrix.KMatrix(64, width=2, generator=gen),
        "kmatrix-corner": kmatrix.KMatrix(50, 70, expansion=2, generator=gen),
        "kmatrix-c64": kmatrix.KMatrix(32, dtype=c64, generator=gen),
        "klinear": KLinear(64, 30, generator=gen),
    }


@pytest.mark.parametrize("name", list(_cases(torch.Generator().manual_seed(0))))
def test_lean_matches_dense_and_general_path(name, gen, op_calls):
    calls, runs = op_calls
    m = _cases(gen)[name]
    w = m.weight if isinstance(m, KLinear) else m
    dense = w.to_dense().detach().to(torch.complex128)
    if isinstance(m, KLinear):
        dense = dense[: m.out_features, : m.in_features]
    n_in = dense.shape[1]
    x = torch.randn(7, 3, n_in, dtype=w.dtype, generator=gen)  # leading dims (7, 3)
    tol = 1e-5 if w.dtype in (torch.float32, torch.complex64) else 1e-12
    calls.clear()
    runs.clear()
    with torch.no_grad():
        y = m(x)
    assert not calls and runs and runs[0] is not None, "lean path not taken by the family"
    expected = x.to(torch.complex128) @ dense.T
    if isinstance(m, KLinear):
        expected = expected + m.bias.detach()
    assert y.shape == (7, 3, dense.shape[0]) and y.dtype == w.dtype
    assert rel(y, expected) <= tol
    # the general path (gradient recorded) gives the same bits
    y_general = m(x.clone().requires_grad_(True))
    assert runs[-1] is None and y_general.grad_fn is not None  # the autograd Function
    assert torch.equal(y, y_general.detach())
    # a vector (1-D input) and a single row
    with torch.no_grad():
        assert torch.equal(m(x[0, 0]), y[0, 0]) and torch.equal(m(x[:1, 0]), y[:1, 0])


def test_lean_path_steps_aside(gen, op_calls):
    _, runs = op_calls
    B = kmatrix.Butterfly(32, generator=gen)
    x = torch.randn(6, 32, generator=gen)
    with torch.no_grad():
        expected = B(x)
    cases = {
        "grad": lambda: B(x),  # parameters require grad, grad mode on
        "float64 input": lambda: B(x.double()),  # the dtype rule raises TypeError
        "backend torch": lambda: B(x),
    }
    for name, f in cases.items():
        runs.clear()
        previous = set_backend("torch") if name == "backend torch" else None
        try:
            with torch.set_grad_enabled(name == "grad"):
                if name == "float64 input":
                    with pytest.raises(TypeError, match="cannot take an input of dtype"):
                        f()
                    continue
                y = f()
        finally:
            if previous is not None:
                set_backend(previous)
        assert not any(r is not None for r in runs), name
        assert rel(y.detach(), expected) <= 1e-5, name
    # a strided input is copied once by the general path, then multiplied by the kernel
    xs = torch.randn(6, 64, generator=gen)[:, ::2]
    with torch.no_grad():
        assert torch.equal(B(xs), B(xs.contiguous()))


def test_lean_reads_current_twiddle_values(gen):
    # The plan caches shapes and ctypes arguments, never values: in-place updates are seen.
    K = kmatrix.KMatrix(16, generator=gen)
    x = torch.randn(4, 16, generator=gen)
    with torch.no_grad():
        before = K(x)
        K.twiddle.mul_(2.0)  # each of the 2·4 stages doubles: the product scales by 2^8
        after = K(x)
        K.twiddle.data = torch.randn(K.twiddle.shape, generator=gen)  # new storage
        fresh = K(x)
    assert rel(after, 256 * before) <= 1e-5
    assert rel(fresh, x.to(torch.complex128) @ K.to_dense().detach().to(torch.complex128).T) <= 1e-5


def test_lean_bad_input_raises_like_the_general_path(gen):
    tw = torch.randn(1, 3, 4, 2, 2, generator=gen)
    with torch.no_grad(), pytest.raises(ValueError, match="twiddle: expected shape"):
        kmatrix.kernels.butterfly_multiply(tw, torch.randn(2, 1, 16, generator=gen))
    with torch.no_grad(), pytest.raises(ValueError, match="x: expected last dimension"):
        kmatrix.Butterfly(8, generator=gen)(torch.randn(2, 9, generator=gen))


def test_lean_steps_aside_under_autocast(gen, op_calls):
    # CPU autocast casts the product like F.linear (bfloat16 output): the lean path must not
    # return a float32 result there.
    _, runs = op_calls
    K = kmatrix.KMatrix(64, generator=gen)
    x = torch.randn(5, 64, generator=gen)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        y = K(x)
    assert y.dtype == torch.bfloat16 and not any(r is not None for r in runs)
    with torch.no_grad():
        # bfloat16 (u = 2^-8) rounds x, y and every twiddle (12 stages): (12 + 2)·u
        assert rel(y.float(), K(x)) <= 14 * 2**-8
