"""The shared battery: every family in kmatrix.testing.ZOO × dtype passes every contract."""

import pickle

import pytest
import torch
from torch.func import functional_call

import kmatrix
from kmatrix.testing import ZOO
from kmatrix.testing.battery import normwise_error, random_tensor

CASES = [(e, dt) for e in ZOO for dt in e.dtypes]
IDS = [f"{e.name}-{str(dt).replace('torch.', '')}" for e, dt in CASES]
GRAD_CASES = [(e, dt) for e in ZOO if e.gradcheck for dt in (torch.float64, torch.complex128) if dt in e.dtypes]
GRAD_IDS = [f"{e.name}-{str(dt).replace('torch.', '')}" for e, dt in GRAD_CASES]
WIDE = torch.complex128


def _inner(a, b):
    return (a.to(WIDE) * b.to(WIDE)).sum()


@pytest.mark.parametrize("entry,dtype", CASES, ids=IDS)
def test_to_dense_matches_reference(entry, dtype, gen):
    for n in entry.sizes:
        M = entry.make(n, dtype, gen)
        assert isinstance(M, kmatrix.StructuredMatrix)
        ref = entry.reference(M)
        dense = M.to_dense().detach()
        assert tuple(dense.shape) == M.shape == tuple(ref.shape)
        err = (dense.to(WIDE) - ref.to(WIDE)).norm() / ref.to(WIDE).norm()
        assert err <= entry.tolerance(dtype), f"n={n}: to_dense error {err:.2e}"


@pytest.mark.parametrize("entry,dtype", CASES, ids=IDS)
def test_products(entry, dtype, gen):
    for n in entry.sizes:
        M = entry.make(n, dtype, gen)
        m, k = M.shape
        ref = entry.reference(M)
        tol = entry.tolerance(dtype)
        # forward on a batch with two leading dimensions
        x = random_tensor((3, 2, k), dtype, gen)
        y = M(x)
        assert y.shape == (3, 2, m) and y.dtype == M.dtype
        assert normwise_error(y, x.to(WIDE) @ ref.T, ref, x) <= tol
        # W @ vector, W @ matrix, batched W @ X, X @ W
        v = random_tensor((k,), dtype, gen)
        assert normwise_error(M @ v, ref @ v.to(WIDE), ref, v) <= tol
        X = random_tensor((k, 5), dtype, gen)
        assert normwise_error(M @ X, ref @ X.to(WIDE), ref, X) <= tol
        XB = random_tensor((2, k, 3), dtype, gen)
        assert normwise_error(M @ XB, ref @ XB.to(WIDE), ref, XB) <= tol
        Z = random_tensor((4, m), dtype, gen)
        assert normwise_error(Z @ M, Z.to(WIDE) @ ref, ref, Z) <= tol


@pytest.mark.parametrize("entry,dtype", CASES, ids=IDS)
def test_transpose_and_adjoint(entry, dtype, gen):
    for n in entry.sizes:
        M = entry.make(n, dtype, gen)
        m, k = M.shape
        ref = entry.reference(M)
        tol = entry.tolerance(dtype)
        x = random_tensor((k,), dtype, gen)
        y = random_tensor((m,), dtype, gen)
        scale = ref.norm() * x.norm() * y.norm()
        # bilinear: <Wx, y> = <x, Wᵀy>
        assert M.T.shape == (k, m)
        assert abs(_inner(M(x), y) - _inner(x, M.T(y))) <= tol * scale
        # sesquilinear: <Wx, y> = <x, Wᴴy> with <a, b> = Σ a_i conj(b_i)
        assert M.H.shape == (k, m)
        lhs = _inner(M(x), y.conj())
        rhs = _inner(x, M.H(y).conj())
        assert abs(lhs - rhs) <= tol * scale
        assert normwise_error(M.T(y), ref.T @ y.to(WIDE), ref, y) <= tol
        assert normwise_error(M.H(y), ref.conj().T @ y.to(WIDE), ref, y) <= tol
        assert torch.allclose(M.T.to_dense().to(WIDE), ref.T, atol=tol * ref.norm())
        assert torch.allclose(M.H.to_dense().to(WIDE), ref.conj().T, atol=tol * ref.norm())
        assert M.T.T.shape == M.shape


@pytest.mark.parametrize("entry,dtype", [c for c in CASES if not c[1].is_complex], ids=[i for c, i in zip(CASES, IDS) if not c[1].is_complex])
def test_real_matrix_promotes_complex_input(entry, dtype, gen):
    M = entry.make(entry.sizes[0], dtype, gen)
    if M.is_complex:
        pytest.skip("family is complex")
    ref = entry.reference(M)
    cdt = torch.complex64 if dtype == torch.float32 else torch.complex128
    x = random_tensor((2, M.shape[1]), cdt, gen)
    y = M(x)
    assert y.is_complex()
    assert normwise_error(y, x.to(WIDE) @ ref.T, ref, x) <= entry.tolerance(cdt)


@pytest.mark.parametrize("entry,dtype", GRAD_CASES, ids=GRAD_IDS)
def test_gradcheck(entry, dtype, gen):
    M = entry.make(entry.grad_size, dtype, gen)
    names = [name for name, p in M.named_parameters()]
    params = [p.detach().clone().requires_grad_(True) for _, p in M.named_parameters()]
    x = random_tensor((2, M.shape[1]), dtype, gen).requires_grad_(True)

    def f(x, *ps):
        return functional_call(M, dict(zip(names, ps)), (x,))

    assert torch.autograd.gradcheck(f, (x, *params), eps=1e-6, atol=1e-5, rtol=1e-4)

    # the transpose is a structured matrix sharing θ: gradients reach the same parameters
    T = M.T
    names_in_T = {id(p): name for name, p in T.named_parameters()}
    missing = [n for n, p in M.named_parameters() if id(p) not in names_in_T]
    assert not missing, f"M.T does not share parameters {missing} with M"
    names_T = [names_in_T[id(p)] for _, p in M.named_parameters()]
    y = random_tensor((2, M.shape[0]), dtype, gen).requires_grad_(True)

    def fT(y, *ps):
        return functional_call(T, dict(zip(names_T, ps)), (y,))

    assert torch.autograd.gradcheck(fT, (y, *params), eps=1e-6, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("entry,dtype", CASES, ids=IDS)
def test_serialisation(entry, dtype, gen, tmp_path):
    M = entry.make(entry.sizes[0], dtype, gen)
    x = random_tensor((3, M.shape[1]), dtype, gen)
    y = M(x).detach()
    # state_dict round trip into a second instance of the same family
    M2 = entry.make(entry.sizes[0], dtype, gen)
    if M2.shape == M.shape:
        M2.load_state_dict(M.state_dict())
        assert torch.equal(M2(x).detach(), y)
    # pickle
    M3 = pickle.loads(pickle.dumps(M))
    assert torch.equal(M3(x).detach(), y)
    # self-describing save / load
    path = tmp_path / "m.kmx"
    kmatrix.save(M, path)
    M4 = kmatrix.load(path)
    assert type(M4) is type(M) and M4.shape == M.shape and M4.dtype == M.dtype
    assert torch.equal(M4(x).detach(), y)
    # readable repr: family, shape, parameters
    r = repr(M)
    assert type(M).__name__ in r and str(M.shape[0]) in r and "num_params" in r


@pytest.mark.parametrize("entry,dtype", [c for c in CASES if c[1] in (torch.float64, torch.complex128)], ids=[i for c, i in zip(CASES, IDS) if c[1] in (torch.float64, torch.complex128)])
def test_to_dtype_and_counts(entry, dtype, gen):
    M = entry.make(entry.sizes[-1], dtype, gen)
    ref = entry.reference(M)
    # counts
    assert M.num_params == sum(p.numel() for p in M.parameters())
    assert M.num_real_params == sum(p.numel() * (2 if p.is_complex() else 1) for p in M.parameters())
    if entry.has_params:
        assert M.num_params > 0
    assert isinstance(M.flops, int) and M.flops >= 0
    # precision change within the field
    single = torch.complex64 if M.is_complex else torch.float32
    Ms = M.to(torch.float32)
    assert Ms.dtype == single
    x = random_tensor((2, M.shape[1]), single, gen)
    assert normwise_error(Ms(x), x.to(WIDE) @ ref.T, ref, x) <= entry.tolerance(single) * 10
    Md = Ms.to(torch.float64)
    assert Md.dtype == dtype


@pytest.mark.parametrize("entry,dtype", [c for c in CASES if c[1] == torch.float64], ids=[i for c, i in zip(CASES, IDS) if c[1] == torch.float64])
def test_composition(entry, dtype, gen):
    A = entry.make(entry.sizes[0], dtype, gen)
    ref = entry.reference(A)
    tol = 1e-9
    combos = [
        (A + A, 2 * ref),
        (A - A, 0 * ref),
        (2.5 * A, 2.5 * ref),
        (A @ A.T, ref @ ref.T),
        (A.T @ A, ref.T @ ref),
        (-A, -ref),
    ]
    for C, R in combos:
        assert isinstance(C, kmatrix.StructuredMatrix)
        assert C.shape == tuple(R.shape)
        assert (C.to_dense().detach().to(WIDE) - R).norm() <= tol * (1 + R.norm())
        x = random_tensor((C.shape[1],), dtype, gen)
        assert normwise_error(C(x), R @ x.to(WIDE), R + 1e-300, x) <= tol * 10


@pytest.mark.parametrize("entry", ZOO, ids=[e.name for e in ZOO])
def test_bad_product_input(entry, gen):
    M = entry.make(entry.sizes[0], entry.dtypes[0], gen)
    with pytest.raises(ValueError, match="x: expected last dimension"):
        M(torch.randn(2, M.shape[1] + 1))
    with pytest.raises(TypeError, match="x: expected a floating-point or complex"):
        M(torch.ones(2, M.shape[1], dtype=torch.int64))
    with pytest.raises(ValueError, match="other"):
        M @ torch.randn(M.shape[1] + 1, 2)
