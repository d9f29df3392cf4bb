"""kmatrix._torch_compat: every wrapper of a private torch name works on the installed torch,
and when the private name is missing the fallback is taken (safe: the generic path), with the
same results."""

from __future__ import annotations

import pytest
import torch

import kmatrix
from kmatrix import _torch_compat as tc
from kmatrix.kernels import butterfly_multiply, cpu
from kmatrix.kernels import op as op_module
from kmatrix.kernels.op import ButterflyMultiply, reference_chain

PRIVATE = [
    "_peek_interpreter_stack",
    "_len_dispatch_stack",
    "_get_current_dispatch_mode",
    "_is_torch_function_mode_enabled",
    "_parse_to",
    "_decomposition_table",
    "_FunctionBase",
]


def test_private_names_resolve_on_this_torch():
    # The supported torch range is tested here: each private name exists, so the fast paths
    # are used (a missing one would silently cost speed, never correctness).
    for name in PRIVATE:
        assert getattr(tc, name) is not None, name
    assert tc._DIRECT_APPLY and tc._FAST_STATE


def test_lookup_reports_a_missing_name(monkeypatch):
    assert tc._lookup("_C._nn._parse_to") is torch._C._nn._parse_to
    monkeypatch.delattr(torch._C._nn, "_parse_to")
    assert tc._lookup("_C._nn._parse_to") is None
    assert tc._lookup("no_such_module.thing") is None


def test_state_checks_on_this_torch():
    x = torch.randn(3)
    assert not tc.functorch_active() and not tc.dispatch_mode_active()
    assert not tc.torch_function_mode_active() and tc.plain_eager(x)
    seen = {}

    def probe(v):
        seen["functorch"] = tc.functorch_active()
        seen["plain"] = tc.plain_eager(v)
        return v

    torch.func.vmap(probe)(torch.randn(2, 3))
    assert seen == {"functorch": True, "plain": False}
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        assert tc.dispatch_mode_active() and not tc.plain_eager()

    class Mode(torch.overrides.TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            return func(*args, **(kwargs or {}))

    with Mode():
        assert tc.torch_function_mode_active() and not tc.plain_eager()

    class Sub(torch.Tensor):
        pass

    assert not tc.plain_eager(x.as_subclass(Sub))  # subclasses may override anything
    assert tc.plain_eager(torch.nn.Parameter(x))


@pytest.mark.parametrize(
    "args,kwargs",
    [
        ((torch.float64,), {}),
        (("cpu",), {}),
        (("cpu", torch.complex64), {}),
        ((torch.device("cpu"), torch.float16, True), {}),
        ((torch.zeros(2, dtype=torch.float64),), {}),
        ((), {"dtype": torch.float32, "non_blocking": True}),
        ((), {"device": "cpu"}),
        ((), {"memory_format": torch.channels_last}),
    ],
)
def test_parse_to_fallback_matches_torch(args, kwargs):
    assert tc._parse_to_python(*args, **kwargs) == torch._C._nn._parse_to(*args, **kwargs)


def test_parse_to_fallback_in_module_to(monkeypatch, gen):
    monkeypatch.setattr(tc, "_parse_to", None)
    B = kmatrix.Butterfly(8, generator=gen)
    B64 = B.to(torch.float64)
    assert B64.dtype == torch.float64 and B64.twiddle.dtype == torch.float64
    assert B.to("cpu", torch.complex128).dtype == torch.complex128
    with pytest.raises(TypeError, match="invalid combination"):
        tc.parse_to(1.5)


@pytest.mark.parametrize(
    "name", ["_peek_interpreter_stack", "_len_dispatch_stack", "_is_torch_function_mode_enabled"]
)
def test_missing_state_check_takes_the_generic_path(monkeypatch, gen, name):
    # Without the private name the check answers "active": no direct kernel call, no lean
    # path; the custom op computes the same product, bit for bit.
    tw = torch.randn(2, 1, 6, 32, 2, 2, dtype=torch.float64, generator=gen)
    x = torch.randn(5, 1, 64, dtype=torch.float64, generator=gen)
    calls = []
    real_check = op_module.check_op_args
    monkeypatch.setattr(op_module, "check_op_args", lambda *a: calls.append(1) or real_check(*a))
    fast = butterfly_multiply(tw, x, [False, True])
    assert not calls  # the lean path: no op machinery
    monkeypatch.undo()
    monkeypatch.setattr(tc, name, None)
    monkeypatch.setattr(tc, "_FAST_STATE", False)  # as computed at import without the name
    if name == "_len_dispatch_stack":
        monkeypatch.setattr(tc, "_get_current_dispatch_mode", None)
    assert not tc.plain_eager(x)
    calls = []  # the custom op's implementation checks its arguments: count those calls
    real_check = op_module.check_op_args
    monkeypatch.setattr(op_module, "check_op_args", lambda *a: calls.append(1) or real_check(*a))
    slow = butterfly_multiply(tw, x, [False, True])
    assert torch.equal(slow, fast) and calls  # same bits, through torch.ops.kmatrix
    t = tw.clone().requires_grad_(True)
    y = butterfly_multiply(t, x, [False, True])
    assert "ButterflyMultiply" in type(y.grad_fn).__name__
    (g,) = torch.autograd.grad(y.sum(), t)
    t2 = tw.clone().requires_grad_(True)
    (g_ref,) = torch.autograd.grad(reference_chain(t2, x, [False, True]).sum(), t2)
    assert (g - g_ref).norm() <= 1e-12 * g_ref.norm()


def test_apply_function_fallback(monkeypatch, gen):
    tw = torch.randn(1, 2, 4, 8, 2, 2, dtype=torch.float64, generator=gen, requires_grad=True)
    x = torch.randn(3, 2, 16, dtype=torch.float64, generator=gen)
    g = torch.randn(3, 2, 16, dtype=torch.float64, generator=gen)
    results = []
    for direct in (True, False):
        monkeypatch.setattr(tc, "_DIRECT_APPLY", direct)
        y = tc.apply_function(ButterflyMultiply, tw, x, [True])
        results.append((y.detach(), torch.autograd.grad(y, tw, g)[0]))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])


def test_global_decomposition_registration(monkeypatch):
    op = torch.ops.kmatrix.butterfly_multiply.default
    assert op in torch._decomp.decomposition_table  # registered at import
    monkeypatch.setattr(tc, "_decomposition_table", None)
    assert tc.register_global_decomposition(op, lambda *a: None) is False
    table = {}
    monkeypatch.setattr(tc, "_decomposition_table", table)
    assert tc.register_global_decomposition(op, len) and table[op] is len


def test_kernel_module_is_loaded():
    assert cpu.available()
