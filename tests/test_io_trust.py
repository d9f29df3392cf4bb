"""kmatrix.save / kmatrix.load trust (issue 11): class resolution, dtype whitelist, constructor
checks on loaded values, sizes checked before allocating, malformed documents, shared
parameters and requires_grad, atomic writes; validation after dtype changes; replace_linear
ties. Every crafted file is a real ``save`` output edited the way an attacker or a damaged disk
would."""

import math
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

import kmatrix
from kmatrix.core import Product, Sum
from kmatrix.core.structured import StructuredMatrix
from kmatrix.families import LDR, Butterfly, Cauchy, Dense, Diagonal, Permutation, Sparse
from kmatrix.nn import KLinear, replace_linear
from kmatrix.testing import ZOO, check_save_load
from kmatrix.testing.serialisation import shared_composites, sharing_pattern


# ---------------------------------------------------------------------- helpers
def _doc(M, tmp_path):
    path = tmp_path / "m.kmx"
    kmatrix.save(M, path)
    return torch.load(path, weights_only=True)


def _write(doc, tmp_path, name="bad.kmx"):
    path = tmp_path / name
    torch.save(doc, path)
    return path


def _node(doc, family_suffix):
    """Index of the (first) node whose family ends with ``family_suffix``."""
    return next(i for i, n in enumerate(doc["nodes"]) if n["family"].endswith(family_suffix))


def _poison_state(doc, family_suffix, name, value):
    """Point the stored state ``name`` of a node at a new tensor (the constructor arguments stay
    valid, so only the post-load checks can catch it)."""
    doc["tensors"].append(value)
    doc["nodes"][_node(doc, family_suffix)]["state"][name]["tensor"] = len(doc["tensors"]) - 1
    return doc


def _load_error(doc, tmp_path, match):
    path = _write(doc, tmp_path)
    with pytest.raises(ValueError, match=match) as info:
        kmatrix.load(path)
    assert str(path) in str(info.value)  # every error names the file
    return info.value


# ---------------------------------------------------------------------- class resolution
def test_same_named_user_class_cannot_hijack_a_family(tmp_path, gen):
    s = torch.randn(5, dtype=torch.float64, generator=gen)
    M = kmatrix.families.Cauchy(s, s + 10.0)
    path = tmp_path / "c.kmx"
    kmatrix.save(M, path)

    class Cauchy(StructuredMatrix):
        def __init__(self, **kwargs):
            raise AssertionError("the user's class was instantiated by kmatrix.load")

    assert Cauchy.__name__ == "Cauchy" and Cauchy is not kmatrix.families.Cauchy
    M2 = kmatrix.load(path)
    assert type(M2) is kmatrix.families.Cauchy
    torch.testing.assert_close(M2.to_dense(), M.to_dense(), rtol=0, atol=0)


class _Scaling(StructuredMatrix):
    """A user family: c·I (for the families= allow-list)."""

    def __init__(self, n, c):
        super().__init__((n, n), torch.float64)
        self.c = nn.Parameter(torch.tensor(float(c), dtype=torch.float64))

    def _matvec(self, x):
        return self.c * x

    def _config(self):
        return {"n": self.shape[0], "c": float(self.c.detach())}


def test_user_families_load_only_when_listed(tmp_path):
    M = _Scaling(3, 2.5)
    path = tmp_path / "u.kmx"
    kmatrix.save(M, path)
    with pytest.raises(ValueError, match="families="):
        kmatrix.load(path)
    M2 = kmatrix.load(path, families=[_Scaling])
    assert type(M2) is _Scaling and float(M2.c.detach()) == 2.5
    with pytest.raises(TypeError, match="families"):
        kmatrix.load(path, families=[int])


def test_spoofed_module_name_is_not_a_kmatrix_family(tmp_path):
    M = Diagonal(torch.ones(3, dtype=torch.float64))
    doc = _doc(M, tmp_path)

    class Fake(StructuredMatrix):  # claims to live in kmatrix but is not that module's attribute
        pass

    Fake.__module__, Fake.__qualname__ = "kmatrix.families.diagonal", "Fake"
    kmatrix.core.structured.FAMILIES["kmatrix.families.diagonal.Fake"] = Fake
    try:
        doc["nodes"][0]["family"] = "kmatrix.families.diagonal.Fake"
        _load_error(doc, tmp_path, "unknown structured-matrix family")
    finally:
        del kmatrix.core.structured.FAMILIES["kmatrix.families.diagonal.Fake"]


# ---------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("name", ["ones", "Tensor", "int64", "float128", 3])
def test_dtype_names_are_whitelisted(tmp_path, name):
    M = Permutation(torch.randperm(4), dtype=torch.float64)
    doc = _doc(M, tmp_path)
    assert doc["nodes"][0]["kwargs"]["dtype"] == {"dtype": "float64"}
    doc["nodes"][0]["kwargs"]["dtype"] = {"dtype": name}
    _load_error(doc, tmp_path, "dtype name")


# ---------------------------------------------------------------------- constructor checks on loaded values
def _cauchy(gen):
    s = torch.randn(6, dtype=torch.float64, generator=gen)
    return Cauchy(s, s + 0.5 + torch.rand(6, dtype=torch.float64, generator=gen))


def test_loaded_cauchy_nodes_are_checked(tmp_path, gen):
    M = _cauchy(gen)
    bad = M.s.detach().clone()
    bad[2] = M.t.detach()[4]  # s_2 == t_4: C has an infinite entry
    _load_error(_poison_state(_doc(M, tmp_path), "Cauchy", "s", bad), tmp_path, r"s_i != t_j")
    dup = M.t.detach().clone()
    dup[1] = dup[3]
    _load_error(_poison_state(_doc(M, tmp_path), "Cauchy", "t", dup), tmp_path, "distinct")
    # the constructor arguments are checked as well (the dry run sees them first)
    doc = _doc(M, tmp_path)
    doc["tensors"][doc["nodes"][0]["kwargs"]["s"]["tensor"]][0] = M.t.detach()[0]
    _load_error(doc, tmp_path, r"s_i != t_j")


def test_loaded_ldr_eigenvalues_are_checked(tmp_path, gen):
    s = torch.arange(5, dtype=torch.float64)
    t = s + 0.5
    M = LDR.cauchy_like(torch.randn(5, 2, dtype=torch.float64, generator=gen), torch.randn(5, 2, dtype=torch.float64, generator=gen), s, t)
    bad = t.clone()
    bad[3] = s[1]  # L and R share an eigenvalue: the displacement map is singular
    _load_error(_poison_state(_doc(M, tmp_path), "LDR", "R_diag", bad), tmp_path, "share an eigenvalue")
    nan = M.gen_G.detach().clone()
    nan[0, 0] = math.nan
    _load_error(_poison_state(_doc(M, tmp_path), "LDR", "gen_G", nan), tmp_path, "finite")


def test_loaded_nan_twiddles_are_rejected(tmp_path, gen):
    M = Butterfly(8, dtype=torch.float32, generator=gen)
    bad = M.twiddle.detach().clone()
    bad[1, 2, 0, 1] = math.nan
    _load_error(_poison_state(_doc(M, tmp_path), "Butterfly", "twiddle", bad), tmp_path, "finite")
    bad[1, 2, 0, 1] = math.inf
    _load_error(_poison_state(_doc(M, tmp_path), "Butterfly", "twiddle", bad), tmp_path, "finite")


def test_loaded_permutation_inverse_must_agree(tmp_path):
    M = Permutation(torch.tensor([2, 0, 3, 1]))
    wrong = torch.tensor([0, 1, 2, 3])  # a permutation, but not perm's inverse
    _load_error(_poison_state(_doc(M, tmp_path), "Permutation", "inverse_perm", wrong), tmp_path, "inverse")
    _load_error(_poison_state(_doc(M, tmp_path), "Permutation", "perm", torch.tensor([0, 0, 1, 2])), tmp_path, "permutation")


def test_loaded_sparse_indices_must_be_in_range(tmp_path):
    M = Sparse([0, 1, 2], [2, 0, 1], [1.0, 2.0, 3.0], (3, 3), dtype=torch.float64)
    _load_error(_poison_state(_doc(M, tmp_path), "Sparse", "rows", torch.tensor([0, 7, 2])), tmp_path, r"rows: expected indices in \[0, 3\)")
    _load_error(_poison_state(_doc(M, tmp_path), "Sparse", "cols", torch.tensor([0, -1, 2])), tmp_path, "cols")


# ---------------------------------------------------------------------- sizes before allocation
def test_declared_sizes_are_checked_before_allocating(tmp_path, gen):
    """A file of a few KB declaring in_size = 2^20 with a random initialisation would allocate
    20·2^19·4 float64 twiddles (335 MB) before the state is compared: measured in a fresh
    process, the peak memory must stay near the baseline."""
    M = Butterfly(4, dtype=torch.float64, generator=gen)
    doc = _doc(M, tmp_path)
    kw = doc["nodes"][0]["kwargs"]
    kw["in_size"], kw["out_size"], kw["init"] = 2**20, 2**20, "random"
    path = _write(doc, tmp_path)
    assert path.stat().st_size < 10_000
    code = textwrap.dedent(f"""
        import resource, kmatrix
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            kmatrix.load({str(path)!r})
        except ValueError as exc:
            assert "shape" in str(exc), exc
            print("refused", (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
        else:
            print("loaded")
    """)
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    verdict, grew = out.stdout.split()
    assert verdict == "refused" and int(grew) < 64, out.stdout  # MB of peak growth


def test_stored_shape_must_match_declared(tmp_path, gen):
    M = Dense(torch.randn(3, 4, dtype=torch.float64, generator=gen))
    _load_error(_poison_state(_doc(M, tmp_path), "Dense", "weight", torch.zeros(4, 3, dtype=torch.float64)), tmp_path, r"shape \(3, 4\)")
    _load_error(_poison_state(_doc(M, tmp_path), "Dense", "weight", torch.zeros(3, 4, dtype=torch.float32)), tmp_path, "dtype")


# ---------------------------------------------------------------------- malformed documents
def _malformations():
    def set_(path, value):
        def f(doc):
            obj = doc
            for k in path[:-1]:
                obj = obj[k]
            obj[path[-1]] = value
            return doc
        return f

    def drop(path):
        def f(doc):
            obj = doc
            for k in path[:-1]:
                obj = obj[k]
            del obj[path[-1]]
            return doc
        return f

    def deep_list(doc):
        v = 1
        for _ in range(3000):
            v = [v]
        doc["nodes"][0]["kwargs"]["extra"] = v
        return doc

    return {
        "bare int": (lambda doc: 5, "not a kmatrix file"),
        "version str": (set_(["version"], "2"), "version"),
        "version old": (set_(["version"], 1), "version 1"),
        "version new": (set_(["version"], 99), "newer"),
        "missing nodes": (drop(["nodes"]), "expected keys"),
        "extra key": (set_(["payload"], 1), "expected keys"),
        "nodes not list": (set_(["nodes"], {"0": 1}), "nodes"),
        "node not dict": (set_(["nodes", 0], [1, 2]), "expected a dict"),
        "node missing state": (drop(["nodes", 0, "state"]), "expected keys"),
        "family int": (set_(["nodes", 0, "family"], 7), "family"),
        "family unknown": (set_(["nodes", 0, "family"], "os.system"), "unknown structured-matrix family"),
        "kwargs key int": (set_(["nodes", 0, "kwargs", 3], 1), "kwargs"),
        "kwargs unknown arg": (set_(["nodes", 0, "kwargs", "bogus"], 1), "invalid constructor arguments"),
        "value object": (set_(["nodes", 0, "kwargs", "d"], {"tensor": 0, "x": 1}), "reference"),
        "value unknown tag": (set_(["nodes", 0, "kwargs", "d"], {"eval": "1"}), "unknown reference kind"),
        "tensor index": (set_(["nodes", 0, "kwargs", "d"], {"tensor": 99}), "tensor index"),
        "tensor index bool": (set_(["nodes", 0, "kwargs", "d"], {"tensor": True}), "tensor index"),
        "self reference": (set_(["nodes", 0, "kwargs", "d"], {"node": 0}), "node"),
        "deep recursion": (deep_list, "nested deeper"),
        "state entry kind": (set_(["nodes", 0, "state", "diag", "kind"], "code"), "kind"),
        "state entry flag": (set_(["nodes", 0, "state", "diag", "requires_grad"], 1), "requires_grad"),
        "state unexpected key": (set_(["nodes", 0, "state", "extra"], {"tensor": 0, "kind": "buffer", "requires_grad": False}), "unexpected"),
        "state missing key": (drop(["nodes", 0, "state", "diag"]), "missing"),
        "state as buffer": (set_(["nodes", 0, "state", "diag", "kind"], "buffer"), "declare a parameter"),
        "root out of range": (set_(["root"], 3), "root"),
        "tensors not tensors": (set_(["tensors", 0], [1.0, 2.0]), "expected a tensor"),
        "sparse tensor": (set_(["tensors", 0], torch.eye(3).to_sparse()), "dense tensor"),
    }


@pytest.mark.parametrize("case", sorted(_malformations()))
def test_malformed_documents_give_one_clear_error(tmp_path, case):
    M = Diagonal(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    mutate, match = _malformations()[case]
    doc = mutate(_doc(M, tmp_path))
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(20000)  # only so that torch.save can write the deep case
    try:
        path = _write(doc, tmp_path)
    finally:
        sys.setrecursionlimit(old)
    with pytest.raises(ValueError, match=match) as info:
        kmatrix.load(path)
    assert str(path) in str(info.value)


def test_unreadable_bytes_and_missing_file(tmp_path):
    junk = tmp_path / "junk.kmx"
    junk.write_bytes(b"PK\x03\x04 this is not a torch file" * 10)
    with pytest.raises(ValueError, match="not a readable kmatrix file"):
        kmatrix.load(junk)
    with pytest.raises(FileNotFoundError):
        kmatrix.load(tmp_path / "absent.kmx")
    with pytest.raises(TypeError, match="path"):
        kmatrix.load(3)


# ---------------------------------------------------------------------- sharing and requires_grad
def test_a_plus_a_transpose_keeps_one_shared_parameter(tmp_path, gen):
    A = Butterfly(8, dtype=torch.float64, generator=gen)  # no add rule: A + A.T is a Sum
    C = A + A.T
    assert len(list(C.parameters())) == 1
    path = tmp_path / "c.kmx"
    kmatrix.save(C, path)
    C2 = kmatrix.load(path)
    params = list(C2.parameters())
    assert len(params) == 1 and C2.num_params == C.num_params
    assert C2.terms[0].twiddle is C2.terms[1].base.twiddle
    x = torch.randn(5, 8, dtype=torch.float64, generator=gen)
    (g,) = torch.autograd.grad(C(x).square().sum(), [A.twiddle])
    (g2,) = torch.autograd.grad(C2(x).square().sum(), params)
    torch.testing.assert_close(g2, g, rtol=0, atol=0)  # one parameter gets both terms' gradient
    with torch.no_grad():
        C2.terms[0].twiddle.mul_(2)  # training the loaded matrix moves both terms
    torch.testing.assert_close(C2.to_dense(), C2.terms[0].to_dense() + C2.terms[0].to_dense().T)


def test_product_of_one_module_twice_and_native_shared_transposes(tmp_path, gen):
    B = Butterfly(4, dtype=torch.float64, generator=gen)
    P = B @ B
    assert isinstance(P, Product) and P.factors[0] is P.factors[1]
    P2 = check_save_load(P)
    assert P2.factors[0] is P2.factors[1]
    S = Sparse([0, 1, 2], [1, 2, 0], torch.randn(3, dtype=torch.float64, generator=gen), (3, 3))
    Q = Product([S, S.T])  # two Sparse modules sharing one values parameter
    Q2 = check_save_load(Q)
    assert Q2.factors[0] is not Q2.factors[1] and Q2.factors[0].values is Q2.factors[1].values


def test_requires_grad_false_is_restored(tmp_path, gen):
    L = kmatrix.LowRank(torch.randn(4, 2, dtype=torch.float64, generator=gen), torch.randn(2, 3, dtype=torch.float64, generator=gen))
    L.L.requires_grad_(False)
    L2 = check_save_load(L)
    assert not L2.L.requires_grad and L2.R.requires_grad


def test_save_stores_shared_tensors_once(tmp_path, gen):
    A = Dense(torch.randn(64, 64, dtype=torch.float64, generator=gen))
    kmatrix.save(A, tmp_path / "one.kmx")
    kmatrix.save(Sum([A, A.T, A]), tmp_path / "three.kmx")
    one, three = (os.path.getsize(tmp_path / f) for f in ("one.kmx", "three.kmx"))
    assert three < one + 4096  # the 32 KB weight is stored once, not three times


_ZOO_CASES = [(e, e.dtypes[-1]) for e in ZOO]


@pytest.mark.parametrize("entry,dtype", _ZOO_CASES, ids=[f"{e.name}-{str(d)[6:]}" for e, d in _ZOO_CASES])
def test_zoo_save_load_keeps_products_sharing_and_flags(entry, dtype, gen):
    """Battery contract, every zoo entry: M, M @ M.T and M + M round-trip with the same products,
    the same sharing pattern and the same requires_grad flags (one parameter frozen)."""
    M = entry.make(entry.sizes[0], dtype, gen)
    params = list(M.parameters())
    if params:
        params[0].requires_grad_(False)
    for name, C in shared_composites(M).items():
        C2 = check_save_load(C)
        assert sharing_pattern(C2) == sharing_pattern(C), name


# ---------------------------------------------------------------------- atomic save
def test_failed_save_keeps_the_previous_file(tmp_path, monkeypatch, gen):
    path = tmp_path / "m.kmx"
    old = Diagonal(torch.randn(4, dtype=torch.float64, generator=gen))
    kmatrix.save(old, path)
    before = path.read_bytes()
    real_save = torch.save

    def failing_save(obj, f, *args, **kwargs):
        real_save(obj, f, *args, **kwargs)
        f.truncate(100)  # part of the file written, then the disk fills up
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError, match="No space"):
        kmatrix.save(Diagonal(torch.randn(4, dtype=torch.float64, generator=gen)), path)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == ["m.kmx"]  # no temporary file left behind
    assert path.read_bytes() == before
    torch.testing.assert_close(kmatrix.load(path).diag, old.diag, rtol=0, atol=0)


def test_save_creates_a_normal_file(tmp_path):
    path = tmp_path / "m.kmx"
    kmatrix.save(Diagonal(torch.ones(2)), path)
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)


# ---------------------------------------------------------------------- checks after dtype changes
@pytest.mark.parametrize("convert", ["to", "half"])
def test_dtype_change_that_merges_cauchy_nodes_raises_and_undoes(convert):
    s = torch.tensor([1.0, 1.0001, 3.0], dtype=torch.float64)  # 1.0001 rounds to 1.0 in float16
    t = torch.tensor([-1.0, -2.0], dtype=torch.float64)
    M = Cauchy(s, t)
    M.s.grad = torch.ones(3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"undone.*s: expected distinct entries"):
        M.to(torch.float16) if convert == "to" else M.half()
    assert M.dtype == torch.float64 and M.s.dtype == torch.float64
    assert torch.equal(M.s.detach(), s) and torch.equal(M.s.grad, torch.ones(3, dtype=torch.float64))
    assert torch.isfinite(M.to_dense()).all()
    assert M.to(torch.float32).dtype == torch.float32  # a harmless conversion still works


def test_dtype_change_inside_a_composite_is_checked_and_undone(gen):
    A = Dense(torch.tensor([[1e6, 1.0], [2.0, 3.0]], dtype=torch.float64))  # 1e6 overflows float16
    B = Diagonal(torch.randn(2, dtype=torch.float64, generator=gen))
    C = Sum([B, A])
    with pytest.raises(ValueError, match="W|weight"):
        C.half()
    assert A.weight.dtype == B.diag.dtype == torch.float64 and A.weight[0, 0] == 1e6
    LD = LDR.cauchy_like(torch.ones(2, 1, dtype=torch.float64), torch.ones(2, 1, dtype=torch.float64),
                         torch.tensor([0.0, 1.0]), torch.tensor([1.0001, 2.0]))  # 1.0001 -> 1.0
    with pytest.raises(ValueError, match="share an eigenvalue"):
        LD.to(torch.float16)


# ---------------------------------------------------------------------- replace_linear ties
class _Tied(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(8, 8)
        self.again = self.lin  # one Linear under two names
        self.block = nn.Sequential(nn.ReLU(), self.lin)  # and in a second parent

    def forward(self, x):
        return self.block(self.again(self.lin(x)))


def test_replace_linear_keeps_a_tie():
    model = _Tied()
    replace_linear(model, allow_larger=True)  # an 8→8 K-matrix has more parameters than dense
    assert isinstance(model.lin, KLinear)
    assert model.lin is model.again is model.block[1]
    assert len(list(model.parameters())) == len(list(KLinear(8, 8).parameters()))
    seen = []
    replace_linear(_Tied(), filter=lambda name, m: seen.append(name) or True, allow_larger=True)
    assert seen == ["lin"]  # asked once, with the first name
