"""One autograd definition for the fused backend: kmatrix.kernels.op.ButterflyMultiply, also
registered as the custom op's autograd. Calling the public op directly, calling
butterfly_multiply (the Function) and the plain-autograd reference must agree to first and
second order, and torch.func's higher-order transforms must work through the Function.

Tolerances: float64 throughout; first and second derivatives of a product of ≤ 4 butterfly
stages with O(1) entries, computed in different association orders: ≤ 1e-12 relative.
"""

from __future__ import annotations

import torch

from kmatrix.kernels import butterfly_multiply
from kmatrix.kernels.op import ButterflyMultiply, reference_chain

OP = torch.ops.kmatrix.butterfly_multiply


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def _inputs(gen, dtype=torch.float64):
    tw = torch.randn(2, 1, 3, 4, 2, 2, dtype=dtype, generator=gen) / 2**0.5
    x = torch.randn(3, 1, 8, dtype=dtype, generator=gen)
    return tw.requires_grad_(True), x.requires_grad_(True)


def test_raw_op_double_backward(gen):
    # The op's registered autograd is the Function's: double backward works on the raw op too.
    for dt in (torch.float64, torch.complex128):
        tw, x = _inputs(gen, dt)
        assert torch.autograd.gradgradcheck(lambda t, xx: OP(t, xx, [False, True]), (tw, x))


def test_second_order_paths_agree(gen):
    tw, x = _inputs(gen)
    v = torch.randn(3, 1, 8, dtype=torch.float64, generator=gen)
    paths = {
        "op": lambda t, xx: OP(t, xx, [False, True]),
        "function": lambda t, xx: ButterflyMultiply.apply(t, xx, [False, True]),
        "public": lambda t, xx: butterfly_multiply(t, xx, [False, True]),
        "reference": lambda t, xx: reference_chain(t, xx, [False, True]),
    }
    out = {}
    for name, f in paths.items():
        y = f(tw, x)
        gt, gx = torch.autograd.grad((y * v).pow(2).sum(), (tw, x), create_graph=True)
        hvp = torch.autograd.grad(gt.sum() + gx.sum(), (tw, x))
        out[name] = (gt.detach(), gx.detach(), *hvp)
    for name in ("op", "function", "public"):
        for a, b in zip(out[name], out["reference"]):
            assert rel(a, b) <= 1e-12, name


def test_torch_func_reverse_over_reverse_hessian(gen):
    # jacrev(jacrev(.)): the double backward under torch.func (forward mode, hence
    # torch.func.hessian = jacfwd(jacrev), is not implemented: the Function has no jvp).
    tw, x = _inputs(gen)
    tw, x = tw.detach(), x.detach()

    def loss(t, f):
        return f(t, x, [False, True]).pow(2).sum()

    def hessian(f):
        return torch.func.jacrev(torch.func.jacrev(f))(tw)  # 96 × 96 entries

    h = hessian(lambda t: loss(t, butterfly_multiply))
    h_ref = hessian(lambda t: loss(t, reference_chain))
    assert h.shape == (*tw.shape, *tw.shape) and rel(h, h_ref) <= 1e-12
