"""Wrong (and a few valid but unusual) arguments for every entry into compiled code.

Run in a child process by tests/test_kernel_safety.py (``python _kernel_fuzz_cases.py SEED
NAME...``), so an abort or segfault in the kernel is a failed test, not a dead test runner.
For each case the child prints one JSON line {"case", "outcome", "detail"}: outcome "raised"
(a Python exception whose message names the expected argument), "ok" (a valid call whose result
matched the plain-PyTorch reference), or "wrong" (anything else: the test fails).
"""

from __future__ import annotations

import json
import random
import sys

import torch

from kmatrix.kernels import butterfly_multiply_reference, cpu
from kmatrix.kernels.op import reference_chain, reference_chain_backward

OP = torch.ops.kmatrix.butterfly_multiply
OP_BWD = torch.ops.kmatrix.butterfly_multiply_backward
F32, F64, C64, C128 = torch.float32, torch.float64, torch.complex64, torch.complex128


def tw(shape=(1, 2, 3, 4, 2, 2), dtype=F32, gen=None):
    if dtype.is_complex or dtype.is_floating_point:
        return torch.randn(shape, dtype=dtype, generator=gen) / 2**0.5
    return torch.ones(shape, dtype=dtype)


def xs(shape=(5, 2, 8), dtype=F32, gen=None):
    if dtype.is_complex or dtype.is_floating_point:
        return torch.randn(shape, dtype=dtype, generator=gen)
    return torch.ones(shape, dtype=dtype)


# name -> (callable building and making the call, argument name the error must mention or
# None when the call is valid and its result is compared with the reference).
def cases(gen):
    c = {}

    def bad(name, arg):
        def deco(f):
            c[name] = (f, arg)
            return f

        return deco

    # the custom op, forward
    bad("op tw f64 / x f32", "twiddle")(lambda: OP(tw(dtype=F64), xs(), [True]))
    bad("op tw c64 / x f32", "twiddle")(lambda: OP(tw(dtype=C64), xs(), [True]))
    bad("op tw f32 / x c128", "twiddle")(lambda: OP(tw(), xs(dtype=C128), [True]))
    bad("op tw c128 / x c64", "twiddle")(lambda: OP(tw(dtype=C128), xs(dtype=C64), [True]))
    bad("op short twiddle (L-1)", "twiddle")(lambda: OP(tw((1, 2, 2, 4, 2, 2)), xs(), [True]))
    bad("op short twiddle (N/2-1)", "twiddle")(lambda: OP(tw((1, 2, 3, 3, 2, 2)), xs(), [True]))
    bad("op twiddle 5-d", "twiddle")(lambda: OP(tw((2, 3, 4, 2, 2)), xs(), [True]))
    bad("op twiddle 2x3 blocks", "twiddle")(lambda: OP(tw((1, 2, 3, 4, 2, 3)), xs(), [True]))
    bad("op stack mismatch", "twiddle")(lambda: OP(tw(), xs((5, 3, 8)), [True]))
    bad("op x 2-d", "x")(lambda: OP(tw(), xs((5, 8)), [True]))
    bad("op x N=6", "x")(lambda: OP(tw(), xs((5, 2, 6)), [True]))
    bad("op x int64", "x")(lambda: OP(tw(), xs(dtype=torch.int64), [True]))
    bad("op twiddle int32", "twiddle")(lambda: OP(tw(dtype=torch.int32), xs(), [True]))
    bad("op x sparse", "x")(lambda: OP(tw(), xs().to_sparse(), [True]))
    bad("op x on meta", "twiddle")(lambda: OP(tw(), xs().to("meta"), [True]))
    bad("op too many stride orders", "increasing")(lambda: OP(tw(), xs(), [True, False]))
    bad("op no stride orders", "increasing")(lambda: OP(tw(), xs(), []))
    bad("op twiddle a list", "twiddle")(lambda: OP(tw().tolist(), xs(), [True]))
    # the custom op, backward
    bad("bwd grad f64 / x f32", "grad")(lambda: OP_BWD(tw(), xs(), xs(dtype=F64), [True]))
    bad("bwd grad c64 / x f32", "grad")(lambda: OP_BWD(tw(), xs(), xs(dtype=C64), [True]))
    bad("bwd grad short", "grad")(lambda: OP_BWD(tw(), xs(), xs((4, 2, 8)), [True]))
    bad("bwd tw f64 / x f32", "twiddle")(lambda: OP_BWD(tw(dtype=F64), xs(), xs(), [True]))
    bad("bwd tw c64 / x f32", "twiddle")(lambda: OP_BWD(tw(dtype=C64), xs(), xs(), [True]))
    bad("bwd short twiddle", "twiddle")(lambda: OP_BWD(tw((1, 2, 2, 4, 2, 2)), xs(), xs(), [True]))
    bad("bwd stride orders", "increasing")(lambda: OP_BWD(tw(), xs(), xs(), [True, True]))
    # the ctypes entry points
    bad("cpu.forward tw f64 / x f32", "x")(lambda: cpu.forward(tw(dtype=F64), xs(), [True]))
    bad("cpu.forward tw c64 / x f32", "x")(lambda: cpu.forward(tw(dtype=C64), xs(), [True]))
    bad("cpu.forward tw f16", "twiddle")(
        lambda: cpu.forward(tw(dtype=torch.float16), xs(dtype=torch.float16), [True])
    )
    bad("cpu.forward short twiddle", "twiddle")(
        lambda: cpu.forward(tw((1, 2, 2, 4, 2, 2)), xs(), [True])
    )
    bad("cpu.forward x N=6", "x")(lambda: cpu.forward(tw(), xs((5, 2, 6)), [True]))
    bad("cpu.forward x on meta", "x")(lambda: cpu.forward(tw(), xs().to("meta"), [True]))
    bad("cpu.forward stride orders", "increasing")(lambda: cpu.forward(tw(), xs(), [True] * 3))
    bad("cpu.backward grad f64", "grad")(lambda: cpu.backward(tw(), xs(), xs(dtype=F64), [True]))
    bad("cpu.backward grad short", "grad")(lambda: cpu.backward(tw(), xs(), xs((5, 2, 4)), [True]))
    bad("cpu.backward tw c128 / x c64", "x")(
        lambda: cpu.backward(tw(dtype=C128), xs(dtype=C64), xs(dtype=C64), [True])
    )

    # valid but unusual layouts: must run and match the reference
    def strided_x():
        x = xs((8, 2, 5), gen=gen).transpose(0, 2)  # (5, 2, 8), element stride 10
        t = tw(gen=gen)
        return OP(t, x, [True]), reference_chain(t, x, [True])

    def conj_x():
        x = xs(dtype=C64, gen=gen).conj()
        t = tw(dtype=C64, gen=gen)
        return OP(t, x, [False]), reference_chain(t, x.resolve_conj(), [False])

    def expanded_twiddle():
        t = tw((1, 1, 3, 4, 2, 2), gen=gen).expand(1, 2, 3, 4, 2, 2)
        x = xs(gen=gen)
        return cpu.forward(t, x, [True]), butterfly_multiply_reference(t[0], x, True)

    def strided_backward():
        t, x = tw(dtype=F64, gen=gen), xs(dtype=F64, gen=gen)
        g = xs((8, 2, 5), dtype=F64, gen=gen).transpose(0, 2)
        return OP_BWD(t, x, g, [True]), reference_chain_backward(t, x, g.contiguous(), [True])

    for name, f in (
        ("op strided x", strided_x),
        ("op conjugated x", conj_x),
        ("cpu.forward expanded twiddle", expanded_twiddle),
        ("bwd strided grad", strided_backward),
    ):
        c[name] = (f, None)
    return c


class Accepted(Exception):
    """A kernel entry point ran on arguments that the reference cannot interpret."""


def random_cases(seed: int, count: int):
    """Random shape/dtype/device mutations of a valid call: each must either run and match the
    reference, or raise a Python exception (any argument named). Never crash."""
    rnd = random.Random(seed)
    gen = torch.Generator().manual_seed(seed)
    dtypes = [F32, F64, C64, C128]
    out = {}
    for i in range(count):
        L = rnd.randint(0, 5)
        n, S, B, F = 1 << L, rnd.randint(1, 3), rnd.randint(0, 40), rnd.randint(1, 3)
        tshape = [F, S, L, n // 2, 2, 2]
        xshape = [B, S, n]
        for _ in range(rnd.choice([0, 0, 1, 2])):
            which = rnd.choice(["t", "x"])
            shape = tshape if which == "t" else xshape
            j = rnd.randrange(len(shape))
            shape[j] = max(0, shape[j] + rnd.choice([-1, 1, 2]))
        xdt = rnd.choice(dtypes)
        tdt = rnd.choice([xdt, xdt.to_real(), rnd.choice(dtypes)])
        incs = [rnd.random() < 0.5 for _ in range(F + rnd.choice([0, 0, 0, 0, -1, 1]))]
        entry = rnd.choice(["op", "op_bwd", "cpu.forward", "cpu.backward"])
        gdt = xdt if rnd.random() < 0.8 else rnd.choice(dtypes)

        def call(tshape=tuple(tshape), xshape=tuple(xshape), tdt=tdt, xdt=xdt, incs=incs,
                 entry=entry, gdt=gdt):  # fmt: skip
            t = torch.randn(tshape, dtype=tdt, generator=gen)
            x = torch.randn(xshape, dtype=xdt, generator=gen)
            g = torch.randn(xshape, dtype=gdt, generator=gen)
            if entry == "op":
                got, ref = (lambda: OP(t, x, incs)), (lambda: reference_chain(t, x, incs))
            elif entry == "op_bwd":
                got = lambda: OP_BWD(t, x, g, incs)
                ref = lambda: reference_chain_backward(t, x, g, incs)
            elif entry == "cpu.forward":
                got, ref = (lambda: cpu.forward(t, x, incs)), (lambda: reference_chain(t, x, incs))
            else:
                got = lambda: cpu.backward(t, x, g, incs)
                ref = lambda: reference_chain_backward(t, x, g, incs)
            y = got()
            try:
                return y, ref()
            except Exception as exc:
                raise Accepted(f"the kernel accepted what the reference rejects: {exc}") from exc

        out[f"random {i}: {entry} tw{tshape} {tdt} x{xshape} {xdt} g {gdt} incs {len(incs)}"] = (
            call,
            "",
        )
    return out


def _close(a, b) -> bool:
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_close(u, v) for u, v in zip(a, b))
    if a.shape != b.shape:
        return False
    a, b = a.detach().to(C128), b.detach().to(C128)
    return bool((a - b).norm() <= 1e-4 * (1 + b.norm()))


def all_cases(seed: int):
    gen = torch.Generator().manual_seed(seed)
    return {**cases(gen), **random_cases(seed, 60)}


def run(seed: int, names: list[str]) -> None:
    table = all_cases(seed)
    for name in names:
        f, arg = table[name]
        try:
            result = f()
        except Exception as exc:  # noqa: BLE001 - every Python error is a handled outcome
            msg = f"{type(exc).__name__}: {exc}"
            ok = arg is not None and arg in str(exc) and not isinstance(exc, Accepted)
            outcome = "raised" if ok else "wrong"
        else:
            if arg:  # a wrong argument that did not raise
                outcome, msg = "wrong", "no error raised"
            else:
                good = _close(*result)
                outcome = "ok" if good else "wrong"
                msg = "matches the reference" if good else "differs from the reference"
        print(json.dumps({"case": name, "outcome": outcome, "detail": msg[:300]}), flush=True)


if __name__ == "__main__":
    run(int(sys.argv[1]), sys.argv[2:])
