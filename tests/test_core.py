"""Core behaviour not covered family-by-family: dtype rule, dispatch, composites, save/load,
autograd-derived adjoints, error messages."""

import pickle

import pytest
import torch

import kmatrix
from kmatrix import Dense, Diagonal, Permutation, Product, Scaled, StructuredMatrix, Sum, merge
from kmatrix.core.compose import register_rule


class Lower(StructuredMatrix):
    """A family defining only _matvec (cumulative weighted sum): the adjoints must come from the
    autograd fallback."""

    def __init__(self, w):
        super().__init__((w.shape[0], w.shape[0]), w.dtype)
        self.w = torch.nn.Parameter(w.clone())

    @property
    def flops(self):
        return 2 * self.shape[0]

    def _matvec(self, x):
        return torch.cumsum(x * self.w, dim=-1)

    def _config(self):
        return {"w": self.w.detach()}


def _dense_lower(w):
    return torch.tril(torch.ones(len(w), len(w), dtype=w.dtype)) * w


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_autograd_adjoints(dtype):
    w = torch.randn(6, dtype=dtype)
    M = Lower(w)
    ref = _dense_lower(w)
    y = torch.randn(3, 6, dtype=dtype)
    torch.testing.assert_close(M.T(y), y @ ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(M.H(y), y @ ref.conj(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(M.to_dense(), ref)
    # gradients flow through the autograd-derived transpose to θ (double backward)
    T = M.T

    def f(w_):
        return torch.func.functional_call(T, {"base.w": w_}, (y,))

    assert torch.autograd.gradcheck(f, (w.clone().requires_grad_(),))


def test_dtype_rule_promotions():
    D = Dense(torch.randn(3, 4, dtype=torch.float64))
    x32 = torch.randn(4, dtype=torch.float32)
    assert D(x32).dtype == torch.float64  # computed in the matrix's precision
    xc = torch.randn(4, dtype=torch.complex128)
    y = D(xc)
    assert y.dtype == torch.complex128
    torch.testing.assert_close(y, D.weight.detach().to(torch.complex128) @ xc)
    # .to keeps the field: a complex matrix never drops its imaginary part
    C = Dense(torch.randn(3, 3, dtype=torch.complex128))
    assert C.to(torch.float32).dtype == torch.complex64
    # a real matrix may be promoted to complex
    R = Diagonal(torch.randn(3, dtype=torch.float64))
    assert R.to(torch.complex128).dtype == torch.complex128


def test_constructor_dtype_rules():
    d = torch.randn(5, dtype=torch.float64)
    assert Diagonal(d).dtype == torch.float64
    assert Diagonal(d, dtype=torch.float32).dtype == torch.float32
    with pytest.raises(TypeError, match="d: expected a floating-point"):
        Diagonal(torch.arange(3))
    assert Diagonal(torch.arange(3), dtype=torch.float64).dtype == torch.float64
    with pytest.raises(TypeError, match="d: complex values cannot be stored"):
        Diagonal(torch.randn(3, dtype=torch.complex64), dtype=torch.float32)
    with pytest.raises(ValueError, match="d: expected finite"):
        Diagonal(torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="d: expected a non-empty"):
        Diagonal(torch.zeros(0))
    with pytest.raises(ValueError, match="W: expected a 2-d"):
        Dense(torch.randn(3))
    with pytest.raises(ValueError, match="perm: expected a permutation"):
        Permutation([0, 0, 1])
    with pytest.raises(TypeError, match="perm: expected integer"):
        Permutation(torch.tensor([0.0, 1.0]))


def test_dispatch_rules_and_fallbacks():
    p1, p2 = torch.randperm(6), torch.randperm(6)
    P1, P2 = Permutation(p1, dtype=torch.float64), Permutation(p2, dtype=torch.float64)
    P = P1 @ P2
    assert isinstance(P, Permutation)
    torch.testing.assert_close(P.to_dense(), P1.to_dense() @ P2.to_dense())
    D1, D2 = Diagonal(torch.randn(6, dtype=torch.float64)), Diagonal(torch.randn(6, dtype=torch.float64))
    assert isinstance(merge(D1 @ D2), Diagonal) and isinstance(merge(D1 + D2), Diagonal)
    assert isinstance(merge(3.0 * D1), Diagonal)
    assert isinstance(D1 @ D2, Product) and isinstance(3.0 * D1, Scaled)  # operators share θ
    mixed = D1 @ P1
    assert isinstance(mixed, Product)
    torch.testing.assert_close(mixed.to_dense(), D1.to_dense() @ P1.to_dense())
    s = D1 + P1 + P2
    assert isinstance(s, Sum) and len(s.terms) == 3  # flattened
    torch.testing.assert_close(s.to_dense(), D1.to_dense() + P1.to_dense() + P2.to_dense())
    prod = (D1 @ P1) @ (P2 @ D2 @ P1)
    assert isinstance(prod, Product) and len(prod.factors) >= 4
    sc = 2j * P1
    assert isinstance(sc, Scaled) and sc.is_complex
    torch.testing.assert_close(sc.H.to_dense(), (2j * P1.to_dense()).conj().T.to(torch.complex128))
    with pytest.raises(ValueError, match="cannot add"):
        D1 + Dense(torch.randn(6, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="cannot multiply"):
        Dense(torch.randn(6, 5, dtype=torch.float64)) @ D1


def test_custom_rule_is_used_most_specific_first():
    class MyDiag(Diagonal):
        pass

    hits = []

    @register_rule("matmul", MyDiag, MyDiag)
    def _rule(a, b):
        hits.append(1)
        # decline: the next rule (Diagonal, Diagonal) applies

    a = MyDiag(torch.randn(4, dtype=torch.float64))
    out = merge(a @ MyDiag(torch.randn(4, dtype=torch.float64)))
    assert hits and isinstance(out, Diagonal)


def test_composites_share_parameters_and_grads():
    A = Dense(torch.randn(4, 4, dtype=torch.float64))
    B = Lower(torch.randn(4, dtype=torch.float64))
    C = A @ B + B.T
    x = torch.randn(2, 4, dtype=torch.float64)
    C(x).sum().backward()
    assert A.weight.grad is not None and B.w.grad is not None
    ref = A.weight.detach() @ _dense_lower(B.w.detach()) + _dense_lower(B.w.detach()).T
    torch.testing.assert_close(C.to_dense().detach(), ref)
    assert C.flops == A.flops + B.flops + B.flops + 4


def test_save_load_composite(tmp_path):
    A = Dense(torch.randn(4, 4, dtype=torch.complex128))
    P = Permutation(torch.randperm(4), dtype=torch.complex128)
    C = 0.5 * (A @ P) + A.T
    kmatrix.save(C, tmp_path / "c.kmx")
    C2 = kmatrix.load(tmp_path / "c.kmx")
    torch.testing.assert_close(C2.to_dense(), C.to_dense().detach())
    C3 = pickle.loads(pickle.dumps(C))
    torch.testing.assert_close(C3.to_dense().detach(), C.to_dense().detach())
    bad = tmp_path / "bad.pt"
    torch.save({"hello": 1}, bad)
    with pytest.raises(ValueError, match="not a kmatrix file"):
        kmatrix.load(bad)


def test_matmul_semantics_and_errors():
    A = Dense(torch.randn(3, 4, dtype=torch.float64))
    W = A.weight.detach()
    X = torch.randn(5, 4, 2, dtype=torch.float64)
    torch.testing.assert_close((A @ X), W @ X)
    Z = torch.randn(7, 3, dtype=torch.float64)
    torch.testing.assert_close(Z @ A, Z @ W)
    with pytest.raises(ValueError, match="scalar"):
        A @ torch.tensor(1.0)
    with pytest.raises(TypeError, match="x: expected a torch.Tensor"):
        A([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="shape: expected positive"):
        Lower(torch.zeros(0))


def test_check_distinct_names_the_pair():
    from kmatrix.core.validation import check_distinct

    check_distinct(torch.randn(50_000, dtype=torch.complex128), "nodes")  # sort-based: cheap
    with pytest.raises(ValueError, match=r"nodes\[1\] == nodes\[3\]"):
        check_distinct(torch.tensor([1.0, 2.0, 3.0, 2.0]), "nodes")
    with pytest.raises(ValueError, match=r"s\[0\] == s\[2\]"):
        check_distinct(torch.tensor([1 + 1j, 2, 1 + 1j]), "s")


def test_dense_flops_formula():
    assert Dense(torch.randn(3, 5, dtype=torch.float64)).flops == 3 * 9
    assert Dense(torch.randn(3, 5, dtype=torch.complex128)).flops == 3 * 38


def test_public_namespace_exports_every_family():
    from kmatrix import families

    assert set(families.__all__) <= set(kmatrix.__all__)
    for name in kmatrix.__all__:
        assert hasattr(kmatrix, name), name


@pytest.mark.parametrize("make", [
    lambda: kmatrix.Toeplitz(torch.randn(4, dtype=torch.float64)),
    lambda: kmatrix.Fourier(4, dtype=torch.complex128),
    lambda: Dense(torch.randn(3, 4, dtype=torch.float64)),
    lambda: Diagonal(torch.randn(4, dtype=torch.float64)) @ Permutation(torch.randperm(4)),
])
def test_empty_batch(make):
    M = make()
    for x in (torch.randn(0, M.shape[1], dtype=torch.float64), torch.randn(2, 0, M.shape[1], dtype=torch.complex128)):
        y = M(x)
        assert y.shape == (*x.shape[:-1], M.shape[0])
        assert y.dtype == torch.promote_types(M.dtype, x.dtype)
        assert M.T(torch.zeros(*x.shape[:-1], M.shape[0], dtype=x.dtype)).shape == x.shape


def test_half_precision_matrix_on_complex_input():
    """complex64 holds float32 parts: a float16 matrix would round them, so it raises (issue 11,
    no silent downcast) and names the fix, which works."""
    D = Dense(torch.randn(3, 3), dtype=torch.float16)
    x = torch.randn(2, 3, dtype=torch.complex64)
    with pytest.raises(TypeError, match=r"float16.*complex64.*M.to\(torch.float32\)"):
        D(x)
    y = D.to(torch.float32)(x)
    assert y.dtype == torch.complex64
    ref = x @ D.weight.detach().to(torch.complex64).T
    assert (y - ref).abs().max() <= 1e-5 * ref.abs().max()


def test_non_numeric_and_non_finite_arguments():
    with pytest.raises(TypeError, match="W: expected a numeric array"):
        Dense([["a", "b"]])
    with pytest.raises(ValueError, match="scalar: expected a finite number"):
        float("nan") * Diagonal(torch.randn(3))
    with pytest.raises(ValueError, match="scalar: expected a finite number"):
        kmatrix.Fourier(4) * float("inf")
