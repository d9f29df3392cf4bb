"""The contracts every structured matrix satisfies, as plain functions (no pytest needed).

Each ``check_*(entry, dtype, gen)`` builds matrices with ``entry.make`` and compares them with
``entry.reference`` (a dense matrix computed independently of the family's code); it raises
``AssertionError`` saying what failed. ``check_family(make, reference, ...)`` runs them all on a
user's own family; the project's tests (``tests/test_zoo.py``) run the same functions over the
zoo. Tolerances: see :mod:`kmatrix.testing.battery` (normwise, against float64/complex128).
"""

from __future__ import annotations

import math
import os
import pickle
import tempfile
from collections.abc import Callable

import numpy as np
import torch
from torch.func import functional_call

from ..core.compose import Product, Sum, merge
from ..core.io import load, save
from ..core.structured import StructuredMatrix
from .battery import ALL_DTYPES, ZooEntry, normwise_error, random_tensor

__all__ = [
    "CHECKS",
    "check_bad_input",
    "check_composition",
    "check_family",
    "check_flops",
    "check_gradcheck",
    "check_lbfgs_step",
    "check_no_silent_downcast",
    "check_no_stale_cache",
    "check_numpy_interop",
    "check_products",
    "check_real_matrix_on_complex_input",
    "check_rule",
    "check_serialisation",
    "check_to_dense",
    "check_to_dtype_and_counts",
    "check_transpose_and_adjoint",
    "run_checks",
]

WIDE = torch.complex128
DOUBLE = (torch.float64, torch.complex128)


def _inner(a, b):
    return (a.to(WIDE) * b.to(WIDE)).sum()


def _close(a, b, tol, what):
    a, b = a.detach().to(WIDE), b.detach().to(WIDE)
    err = float((a - b).norm())
    scale = float(b.norm())
    assert err <= tol * (1 + scale), f"{what}: error {err:.2e} (scale {scale:.2e}, tol {tol:.0e})"


def _raises(exc_type, fn, match: str | None = None, what: str = ""):
    try:
        fn()
    except exc_type as exc:
        if match is not None:
            assert match in str(exc), f"{what}: message {str(exc)!r} does not mention {match!r}"
        return
    except Exception as exc:
        raise AssertionError(f"{what}: expected {exc_type.__name__}, got {type(exc).__name__}: {exc}") from exc
    raise AssertionError(f"{what}: expected {exc_type.__name__}, nothing was raised")


# ---------------------------------------------------------------------- values
def check_to_dense(entry: ZooEntry, dtype, gen) -> None:
    """``to_dense()`` equals the independent reference at every size (relative Frobenius)."""
    for n in entry.sizes:
        M = entry.make(n, dtype, gen)
        assert isinstance(M, StructuredMatrix), f"make returned {type(M).__name__}"
        ref = entry.reference(M)
        dense = M.to_dense().detach()
        assert tuple(dense.shape) == M.shape == tuple(ref.shape), f"n={n}: shapes {dense.shape}, {M.shape}, {ref.shape}"
        err = float((dense.to(WIDE) - ref.to(WIDE)).norm() / ref.to(WIDE).norm())
        assert err <= entry.tolerance(dtype), f"n={n}: to_dense error {err:.2e}"


def check_products(entry: ZooEntry, dtype, gen) -> None:
    """W x on batches with two leading dimensions, W @ v, W @ X, batched W @ X, X @ W."""
    for n in entry.sizes:
        M = entry.make(n, dtype, gen)
        m, k = M.shape
        ref = entry.reference(M)
        tol = entry.tolerance(dtype)
        x = random_tensor((3, 2, k), dtype, gen)
        y = M(x)
        assert y.shape == (3, 2, m) and y.dtype == M.dtype, f"n={n}: output {tuple(y.shape)} {y.dtype}"
        checks = [
            ("W(x)", y, x.to(WIDE) @ ref.T, x),
        ]
        v = random_tensor((k,), dtype, gen)
        checks.append(("W @ v", M @ v, ref @ v.to(WIDE), v))
        X = random_tensor((k, 5), dtype, gen)
        checks.append(("W @ X", M @ X, ref @ X.to(WIDE), X))
        XB = random_tensor((2, k, 3), dtype, gen)
        checks.append(("W @ X batched", M @ XB, ref @ XB.to(WIDE), XB))
        Z = random_tensor((4, m), dtype, gen)
        checks.append(("X @ W", Z @ M, Z.to(WIDE) @ ref, Z))
        for what, got, want, inp in checks:
            err = normwise_error(got, want, ref, inp)
            assert err <= tol, f"n={n}: {what} error {err:.2e} > {tol:.0e}"


def check_transpose_and_adjoint(entry: ZooEntry, dtype, gen) -> None:
    """<Wx, y> = <x, Wᵀy> and the sesquilinear form with Wᴴ; .T / .H against the reference."""
    for n in entry.sizes:
        M = entry.make(n, dtype, gen)
        m, k = M.shape
        ref = entry.reference(M)
        tol = entry.tolerance(dtype)
        x = random_tensor((k,), dtype, gen)
        y = random_tensor((m,), dtype, gen)
        scale = float(ref.norm() * x.norm() * y.norm())
        assert M.T.shape == (k, m) and M.H.shape == (k, m)
        assert abs(_inner(M(x), y) - _inner(x, M.T(y))) <= tol * scale, f"n={n}: <Wx,y> != <x,Wᵀy>"
        lhs = _inner(M(x), y.conj())
        rhs = _inner(x, M.H(y).conj())
        assert abs(lhs - rhs) <= tol * scale, f"n={n}: <Wx,y> != <x,Wᴴy> (sesquilinear)"
        assert normwise_error(M.T(y), ref.T @ y.to(WIDE), ref, y) <= tol, f"n={n}: Wᵀ y"
        assert normwise_error(M.H(y), ref.conj().T @ y.to(WIDE), ref, y) <= tol, f"n={n}: Wᴴ y"
        _close(M.T.to_dense(), ref.T, tol * float(ref.norm()), f"n={n}: W.T.to_dense()")
        _close(M.H.to_dense(), ref.conj().T, tol * float(ref.norm()), f"n={n}: W.H.to_dense()")
        assert M.T.T.shape == M.shape


def check_real_matrix_on_complex_input(entry: ZooEntry, dtype, gen) -> None:
    """A real matrix on a complex input of the same precision acts on real and imaginary parts."""
    if dtype.is_complex:
        return
    M = entry.make(entry.sizes[0], dtype, gen)
    if M.is_complex:
        return
    ref = entry.reference(M)
    cdt = torch.complex64 if dtype == torch.float32 else torch.complex128
    x = random_tensor((2, M.shape[1]), cdt, gen)
    y = M(x)
    assert y.is_complex(), "real matrix on complex input gave a real output"
    assert normwise_error(y, x.to(WIDE) @ ref.T, ref, x) <= entry.tolerance(cdt)


# ---------------------------------------------------------------------- gradients
def check_gradcheck(entry: ZooEntry, dtype, gen) -> None:
    """torch.autograd.gradcheck of (x, θ) ↦ W_θ x and of the transpose (which shares θ)."""
    if dtype not in DOUBLE or not entry.gradcheck:
        return
    M = entry.make(entry.grad_size, dtype, gen)
    names = [name for name, _ in M.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for _, p in M.named_parameters()]
    x = random_tensor((2, M.shape[1]), dtype, gen).requires_grad_(True)

    def f(x, *ps):
        return functional_call(M, dict(zip(names, ps)), (x,))

    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-5, rtol=1e-4)
    T = M.T
    names_in_T = {id(p): name for name, p in T.named_parameters()}
    missing = [n for n, p in M.named_parameters() if id(p) not in names_in_T]
    assert not missing, f"M.T does not share parameters {missing} with M"
    names_T = [names_in_T[id(p)] for _, p in M.named_parameters()]
    y = random_tensor((2, M.shape[0]), dtype, gen).requires_grad_(True)

    def fT(y, *ps):
        return functional_call(T, dict(zip(names_T, ps)), (y,))

    assert torch.autograd.gradcheck(fT, (y, *params), eps=1e-6, atol=1e-5, rtol=1e-4)


def _params(*mats) -> list[torch.Tensor]:
    seen, out = set(), []
    for M in mats:
        for p in M.parameters():
            if id(p) not in seen and p.requires_grad:
                seen.add(id(p))
                out.append(p)
    return out


def _check_gradients_reach(C, dense_fn, operands, gen, what: str, tol: float = 1e-9) -> None:
    """Gradients of a loss through C's fast product equal those through ``dense_fn()`` (the
    dense matrix built from the operands' ``to_dense()``, differentiable), for every parameter
    of every operand: an operator that cut the graph leaves them None."""
    params = _params(*operands)
    x = random_tensor((3, C.shape[1]), C.dtype, gen)
    w = random_tensor((3, C.shape[0]), WIDE, gen)
    y = C(x)
    loss = (y.to(WIDE) * w).real.sum()
    if not params:
        return
    got = torch.autograd.grad(loss, params, allow_unused=True)
    D = dense_fn()
    loss_ref = ((x.to(WIDE) @ D.to(WIDE).T) * w).real.sum()
    want = torch.autograd.grad(loss_ref, params, allow_unused=True)
    for p, g, r in zip(params, got, want):
        if r is None or not bool(r.abs().max() > 0):
            continue
        assert g is not None, f"{what}: no gradient reaches an operand parameter of shape {tuple(p.shape)}"
        _close(g, r, tol, f"{what}: gradient of a parameter of shape {tuple(p.shape)}")


def check_rule(op: str, a: StructuredMatrix, b: StructuredMatrix, gen, tol: float = 1e-9) -> None:
    """One composition rule on operands a, b (float64/complex128): the operator's result
    shares θ (gradients equal those through the dense product/sum, for every operand
    parameter), and ``kmatrix.merge`` of it is a single non-generic matrix equal to it.

    Examples
    --------
    Diagonal + Diagonal: the Sum shares θ, and ``kmatrix.merge`` makes one Diagonal equal to it.

    >>> g = torch.Generator().manual_seed(0)
    >>> a = kmatrix.Diagonal(torch.randn(4, dtype=torch.float64))
    >>> b = kmatrix.Diagonal(torch.randn(4, dtype=torch.float64))
    >>> kmatrix.testing.check_rule("add", a, b, g)
    """
    C = a + b if op == "add" else a @ b

    def dense():
        da, db = a.to_dense().to(WIDE), b.to_dense().to(WIDE)
        return da + db if op == "add" else da @ db

    _check_gradients_reach(C, dense, (a, b), gen, f"{type(a).__name__} {op} {type(b).__name__}", tol)
    M = merge(C)
    assert type(M) not in (Sum, Product), (
        f"merge({type(a).__name__} {op} {type(b).__name__}) kept the generic {type(M).__name__}"
    )
    with torch.no_grad():
        _close(M.to_dense(), dense(), tol, f"merge({type(a).__name__} {op} {type(b).__name__})")


def check_composition(entry: ZooEntry, dtype, gen) -> None:
    """A + A, A − A, 2.5·A, A / 4, −A, A @ Aᵀ, Aᵀ @ A: values against the reference, gradients
    reaching A's parameters (the operators share θ), and ``kmatrix.merge`` of each equal."""
    if dtype not in DOUBLE:
        return
    A = entry.make(entry.sizes[0], dtype, gen)
    B = entry.make(entry.sizes[0], dtype, gen)
    ref = entry.reference(A).to(WIDE)
    tol = 1e-9
    dA = lambda: A.to_dense().to(WIDE)
    combos = [
        ("A + A", A + A, 2 * ref, lambda: 2 * dA()),
        ("A - A", A - A, 0 * ref, lambda: dA() - dA()),
        ("2.5 * A", 2.5 * A, 2.5 * ref, lambda: 2.5 * dA()),
        ("A / 4", A / 4, ref / 4, lambda: dA() / 4),
        ("-A", -A, -ref, lambda: -dA()),
        ("A @ A.T", A @ A.T, ref @ ref.T, lambda: dA() @ dA().T),
        ("A.T @ A", A.T @ A, ref.T @ ref, lambda: dA().T @ dA()),
    ]
    if B.shape == A.shape:
        refB = entry.reference(B).to(WIDE)
        combos.append(("A + B", A + B, ref + refB, lambda: dA() + B.to_dense().to(WIDE)))
        combos.append(("A - 3B", A - 3 * B, ref - 3 * refB, lambda: dA() - 3 * B.to_dense().to(WIDE)))
    if A.shape[0] == A.shape[1] and B.shape == A.shape:
        combos.append(("A @ B", A @ B, ref @ entry.reference(B).to(WIDE), lambda: dA() @ B.to_dense().to(WIDE)))
    for what, C, R, dense in combos:
        assert isinstance(C, StructuredMatrix), f"{what} is a {type(C).__name__}"
        assert C.shape == tuple(R.shape), f"{what}: shape {C.shape}"
        with torch.no_grad():
            _close(C.to_dense(), R, tol, f"{what}: to_dense")
            x = random_tensor((C.shape[1],), dtype, gen)
            assert normwise_error(C(x), R @ x.to(WIDE), R + 1e-300, x) <= tol * 10, f"{what}: product"
        _check_gradients_reach(C, dense, (A, B), gen, what)
        with torch.no_grad():
            _close(merge(C).to_dense(), R, tol, f"merge({what})")


def check_lbfgs_step(entry: ZooEntry, dtype, gen) -> None:
    """Every parameter is contiguous (and so is its gradient), and one ``torch.optim.LBFGS``
    step on ‖W x − t‖² runs and gives a finite loss. Complex parameters are optimised through
    real views (LBFGS is real-only)."""
    M = entry.make(entry.sizes[0], dtype, gen)
    for name, p in M.named_parameters():
        assert p.is_contiguous(), f"parameter {name} is not contiguous (stride {p.stride()})"
    names = [n for n, _ in M.named_parameters()]
    if not names:
        return
    reals = [
        (torch.view_as_real(p.detach()) if p.is_complex() else p.detach()).clone().requires_grad_(True)
        for _, p in M.named_parameters()
    ]
    cplx = [p.is_complex() for _, p in M.named_parameters()]
    x = random_tensor((4, M.shape[1]), dtype, gen)
    target = random_tensor((4, M.shape[0]), M.dtype, gen)
    opt = torch.optim.LBFGS(reals, max_iter=2, history_size=2)

    def closure():
        opt.zero_grad()
        ps = {n: (torch.view_as_complex(r) if c else r) for n, r, c in zip(names, reals, cplx)}
        y = functional_call(M, ps, (x,))
        loss = (y - target).abs().pow(2).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    loss = float(loss.detach())
    assert math.isfinite(loss), f"LBFGS step gave loss {loss}"
    for name, r in zip(names, reals):
        assert r.grad is not None and r.grad.is_contiguous(), f"gradient of {name} missing or not contiguous"


# ---------------------------------------------------------------------- state
def _write_state(M: StructuredMatrix, N: StructuredMatrix, only: str | None = None) -> list[str]:
    """Copy N's parameters and buffers into M in place through ``.data`` (no version bump),
    all of them or only ``only``; returns the names written."""
    src = dict(N.named_parameters())
    src.update(dict(N.named_buffers()))
    written = []
    for name, t in [*M.named_parameters(), *M.named_buffers()]:
        if only is not None and name != only:
            continue
        s = src.get(name)
        if s is None or s.shape != t.shape or s.dtype != t.dtype or t.numel() == 0:
            continue
        t.data.copy_(s.detach())
        written.append(name)
    return written


def check_no_stale_cache(entry: ZooEntry, dtype, gen) -> None:
    """After an in-place write to the parameters and buffers (through ``.data``, which no
    version counter sees), products W x and Wᵀ y match the reference of the new values: all
    tensors at once, then each parameter alone. Products run without autograd first, so any
    cache is filled before the write."""
    n = entry.sizes[-1]
    M = entry.make(n, dtype, gen)
    tol = entry.tolerance(dtype)
    # 9 rows: batched paths (e.g. Sparse's CSR layout from 8 rows) use their caches too
    x = random_tensor((9, M.shape[1]), dtype, gen)
    y = random_tensor((9, M.shape[0]), dtype, gen)

    def products():
        with torch.no_grad():
            return M(x), M.T(y)

    def compare(what):
        ref = entry.reference(M).to(WIDE)
        fx, ty = products()
        assert normwise_error(fx, x.to(WIDE) @ ref.T, ref, x) <= tol, f"stale W x after writing {what}"
        assert normwise_error(ty, y.to(WIDE) @ ref, ref, y) <= tol, f"stale Wᵀ y after writing {what}"

    products()
    N = entry.make(n, dtype, gen)
    if N.shape != M.shape:
        return
    written = _write_state(M, N)
    if not written:
        return
    compare(", ".join(written))
    for name, _ in list(M.named_parameters()):
        products()
        N = entry.make(n, dtype, gen)
        if _write_state(M, N, only=name):
            compare(name)


def check_serialisation(entry: ZooEntry, dtype, gen) -> None:
    """state_dict into a second instance, pickle, ``kmatrix.save`` / ``load``, readable repr."""
    M = entry.make(entry.sizes[0], dtype, gen)
    x = random_tensor((3, M.shape[1]), dtype, gen)
    y = M(x).detach()
    M2 = entry.make(entry.sizes[0], dtype, gen)
    if M2.shape == M.shape:
        M2.load_state_dict(M.state_dict())
        assert torch.equal(M2(x).detach(), y), "load_state_dict did not reproduce the product"
    M3 = pickle.loads(pickle.dumps(M))
    assert torch.equal(M3(x).detach(), y), "pickle round trip changed the product"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.kmx")
        save(M, path)
        own = {type(m) for m in M.modules() if isinstance(m, StructuredMatrix)}
        M4 = load(path, families=sorted(own, key=lambda c: c.__qualname__))  # a user's families too
    assert type(M4) is type(M) and M4.shape == M.shape and M4.dtype == M.dtype
    assert torch.equal(M4(x).detach(), y), "save/load changed the product"
    r = repr(M)
    assert type(M).__name__ in r and str(M.shape[0]) in r and "num_params" in r, f"repr {r!r}"


def check_flops(entry: ZooEntry, dtype, gen) -> None:
    """``flops`` is a nonnegative int; equal to the entry's independent count when it has one
    (``ZooEntry.flops``, written from the definition, not from the library's helpers)."""
    M = entry.make(entry.sizes[-1], dtype, gen)
    f = M.flops
    assert isinstance(f, int) and f >= 0, f"flops = {f!r}"
    if entry.flops is not None:
        want = entry.flops(M)
        assert f == want, f"flops = {f}, independent count {want}"


def check_to_dtype_and_counts(entry: ZooEntry, dtype, gen) -> None:
    """Parameter counts; ``.to(float32)`` keeps the field and stays accurate; back to double."""
    if dtype not in DOUBLE:
        return
    M = entry.make(entry.sizes[-1], dtype, gen)
    ref = entry.reference(M)
    assert M.num_params == sum(p.numel() for p in M.parameters())
    assert M.num_real_params == sum(p.numel() * (2 if p.is_complex() else 1) for p in M.parameters())
    if entry.has_params:
        assert M.num_params > 0, "num_params is 0 for a family with parameters"
    single = torch.complex64 if M.is_complex else torch.float32
    Ms = M.to(torch.float32)
    assert Ms.dtype == single, f".to(float32) gave {Ms.dtype}"
    x = random_tensor((2, M.shape[1]), single, gen)
    assert normwise_error(Ms(x), x.to(WIDE) @ ref.T, ref, x) <= entry.tolerance(single) * 10
    Md = Ms.to(torch.float64)
    assert Md.dtype == dtype, f"back to float64 gave {Md.dtype}"


def check_no_silent_downcast(entry: ZooEntry, dtype, gen) -> None:
    """A single-precision matrix given a double-precision input raises TypeError naming both
    dtypes and the fix, unless the family computes in the input's precision (no parameters),
    in which case the result is accurate to double precision."""
    if dtype not in (torch.float32, torch.complex64):
        return
    M = entry.make(entry.sizes[0], dtype, gen)
    wide = torch.complex128 if dtype.is_complex else torch.float64
    x = random_tensor((2, M.shape[1]), wide, gen)
    if M.computes_in_input_precision:
        y = M(x)
        assert y.dtype in (torch.float64, torch.complex128), f"{M.dtype} matrix on {wide} input gave {y.dtype}"
        ref = entry.reference(M).to(WIDE)
        assert normwise_error(y, x.to(WIDE) @ ref.T, ref, x) <= 1e-11, "not computed in double precision"
        return
    for inp in (x, x.to(torch.complex128)):
        def call(inp=inp):
            return M(inp)

        _raises(TypeError, call, match=str(inp.dtype).replace("torch.", ""), what=f"{M.dtype} matrix on {inp.dtype} input")
        _raises(TypeError, call, match="M.to(", what="the error names the fix")
        _raises(TypeError, lambda inp=inp: M.T(inp[..., :1].expand(2, M.shape[0]).contiguous()),
                what=f"W.T on {inp.dtype} input")


def check_numpy_interop(entry: ZooEntry, dtype, gen) -> None:
    """``np.asarray(W)`` is the dense matrix (detached, matching numpy dtype); ``W / 2`` works;
    ``W @ ndarray`` raises TypeError saying how to convert."""
    M = entry.make(entry.sizes[0], dtype, gen)
    arr = np.asarray(M)
    want = {torch.float32: np.float32, torch.float64: np.float64,
            torch.complex64: np.complex64, torch.complex128: np.complex128}.get(M.dtype)
    assert isinstance(arr, np.ndarray) and arr.shape == M.shape, f"np.asarray gave {type(arr).__name__} {getattr(arr, 'shape', None)}"
    if want is not None:
        assert arr.dtype == want, f"np.asarray dtype {arr.dtype} for a {M.dtype} matrix"
    ref = entry.reference(M)
    _close(torch.from_numpy(np.ascontiguousarray(arr)), ref, entry.tolerance(dtype), "np.asarray(W)")
    _close((M / 2).to_dense(), ref / 2, entry.tolerance(dtype), "W / 2")
    _raises(TypeError, lambda: M @ np.ones((M.shape[1], 2)), match="torch.from_numpy", what="W @ ndarray")


def check_bad_input(entry: ZooEntry, dtype, gen) -> None:
    """Wrong last dimension → ValueError; integer input → TypeError; bad W @ X → ValueError."""
    M = entry.make(entry.sizes[0], dtype, gen)
    _raises(ValueError, lambda: M(torch.randn(2, M.shape[1] + 1, dtype=dtype.to_real() if dtype.is_complex else dtype)),
            match="x: expected last dimension", what="wrong last dimension")
    _raises(TypeError, lambda: M(torch.ones(2, M.shape[1], dtype=torch.int64)),
            match="x: expected a floating-point or complex", what="integer input")
    _raises(ValueError, lambda: M @ torch.randn(M.shape[1] + 1, 2, dtype=dtype), match="other", what="W @ X bad shape")


#: name -> check, in the order ``check_family`` runs them.
CHECKS: dict[str, Callable] = {
    "to_dense": check_to_dense,
    "products": check_products,
    "transpose_and_adjoint": check_transpose_and_adjoint,
    "real_matrix_on_complex_input": check_real_matrix_on_complex_input,
    "gradcheck": check_gradcheck,
    "composition": check_composition,
    "lbfgs_step": check_lbfgs_step,
    "no_stale_cache": check_no_stale_cache,
    "serialisation": check_serialisation,
    "flops": check_flops,
    "to_dtype_and_counts": check_to_dtype_and_counts,
    "no_silent_downcast": check_no_silent_downcast,
    "numpy_interop": check_numpy_interop,
    "bad_input": check_bad_input,
}


def run_checks(entry: ZooEntry, gen: torch.Generator | None = None, only=None, skip=()) -> list[str]:
    """Run the contracts on ``entry`` for each of its dtypes; returns the failures as
    ``"check[dtype]: message"`` lines (empty when everything passed).

    Examples
    --------
    >>> entry = kmatrix.testing.ZooEntry(
    ...     "Diagonal",
    ...     lambda n, dtype, gen: kmatrix.Diagonal(torch.randn(n, dtype=dtype, generator=gen)),
    ...     lambda M: torch.diag(M.diag.detach()).to(torch.complex128),
    ...     dtypes=(torch.float64,), sizes=(4,))
    >>> kmatrix.testing.run_checks(entry, only=["products", "transpose_and_adjoint"])
    []
    """
    gen = gen if gen is not None else torch.Generator().manual_seed(0)
    failures = []
    for name, fn in CHECKS.items():
        if (only is not None and name not in only) or name in skip:
            continue
        for dt in entry.dtypes:
            try:
                fn(entry, dt, gen)
            except Exception as exc:  # noqa: BLE001 - every failure is reported, not just the first
                failures.append(f"{name}[{str(dt).replace('torch.', '')}]: {type(exc).__name__}: {exc}")
    return failures


def check_family(
    make: Callable[[int, torch.dtype, torch.Generator], StructuredMatrix],
    reference: Callable[[StructuredMatrix], torch.Tensor],
    *,
    name: str = "family",
    dtypes: tuple = ALL_DTYPES,
    sizes: tuple = (4, 16),
    seed: int = 0,
    skip: tuple = (),
    only: tuple | None = None,
    **entry_options,
) -> None:
    """Run every contract on a family: ``make(n, dtype, generator)`` builds a random instance
    of size about n, ``reference(M)`` its dense matrix computed independently (numpy, scipy, a
    formula). Raises AssertionError listing every failed check; returns None when all pass.
    ``only`` / ``skip``: names of checks (keys of ``CHECKS``) to run / leave out.
    ``entry_options``: the other :class:`ZooEntry` fields (``tol``, ``gradcheck``, ``grad_size``,
    ``has_params``, ``flops``).

        kmatrix.testing.check_family(lambda n, dt, g: MyFamily(torch.randn(n, dtype=dt, generator=g)),
                                     lambda M: my_dense_formula(M))

    Examples
    --------
    The battery on kmatrix's own Diagonal, in float64 only (the default runs four dtypes):

    >>> kmatrix.testing.check_family(
    ...     lambda n, dtype, gen: kmatrix.Diagonal(torch.randn(n, dtype=dtype, generator=gen)),
    ...     lambda M: torch.diag(M.diag.detach()).to(torch.complex128),
    ...     name="Diagonal", dtypes=(torch.float64,), sizes=(4,))
    """
    entry = ZooEntry(name, make, reference, dtypes=tuple(dtypes), sizes=tuple(sizes), **entry_options)
    failures = run_checks(entry, torch.Generator().manual_seed(seed), only=only, skip=skip)
    if failures:
        raise AssertionError(f"{name}: {len(failures)} contract(s) failed:\n" + "\n".join(failures))
