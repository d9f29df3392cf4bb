"""Issue 8's remainder: one family registry for kmatrix.nn and kmatrix.learn, the recovery
table (``kmatrix bench recovery_table``), the unitary-phase L-BFGS option of ``recover``, and
(slow) the n = 256 recoveries of a random permutation and a random convolution (by the
projected start, tests/test_learn_project_init.py)."""

import csv
import math

import pytest
import torch

import kmatrix
from kmatrix.learn import make_family, make_target, recover


def test_learn_families_is_the_nn_registry():
    # one registry: the learn name is an alias of the nn dict (same object, same entries)
    assert kmatrix.learn.FAMILIES is kmatrix.nn.FAMILIES
    assert kmatrix.learn.Family is kmatrix.nn.FamilySpec
    assert {n for n, s in kmatrix.nn.FAMILIES.items() if s.twiddles} >= {"butterfly", "kmatrix"}
    assert not kmatrix.nn.FAMILIES["dense"].twiddles


def test_make_family_default_sizes_are_the_documented_ones(gen):
    n = 32  # log2 n = 5; counts written out here, not taken from the registry
    sizes = {"dense": n * n, "lowrank": 2 * 5 * n, "sparse": 4 * n * 5, "sparse_lowrank": 2 * n * 5 + 2 * 5 * n,
             "toeplitz": 2 * n - 1, "circulant": n, "ldr": 2 * 2 * n, "butterfly": 2 * n * 5,
             "kmatrix": 4 * n * 5}
    for name, count in sizes.items():
        M = make_family(name, n, generator=gen)
        assert M.shape == (n, n) and M.num_params == count, (name, M.num_params, count)
    # an alias of the registry names the same family
    assert type(make_family("sparse+lowrank", n, generator=gen)).__name__ == "SparsePlusLowRank"
    # kmatrix starts unitary: W^H W = I (float64 rounding of log-depth products)
    K = make_family("kmatrix", n, dtype=torch.complex128, generator=gen).to_dense().detach()
    torch.testing.assert_close(K.conj().T @ K, torch.eye(n, dtype=torch.complex128), rtol=0, atol=1e-12)


def test_make_family_budget_agrees_with_solve_budget(gen):
    n = 16
    for name in ("lowrank", "sparse", "ldr", "kmatrix"):
        b = 4 * n * 4 * 2 + 3
        M = make_family(name, n, budget=b, generator=gen)
        opts = kmatrix.nn.solve_budget(name, n, n, b)
        spec = kmatrix.nn.FAMILIES[name]
        assert M.num_params == spec.count(n, n, **opts) <= b
    assert make_family("dense", n, budget=n * n - 1, generator=gen) is None
    assert make_family("kmatrix", n, budget=4 * n * 4 - 1, generator=gen) is None
    with pytest.raises(ValueError, match="family: expected one of"):
        make_family("bogus", n)


def test_recover_unitary_lbfgs_phase_and_cpu_times():
    r = recover("permutation", "kmatrix", 8, width=2, complex_family=True, samples=24, restarts=1,
                unitary_steps=50, unitary_lbfgs_steps=20, steps=10, lbfgs_steps=10, progress=False)
    phases = set(r.histories[0].phase)
    assert phases == {"adam", "lbfgs"}, phases  # the unitary phase ran Adam, then L-BFGS
    assert len(r.cpu_times) == len(r.times) == r.restarts == 1 and r.cpu_times[0] > 0
    assert r.samples == 24 and math.isfinite(r.error)


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_scaled_unitary_blocks(gen, dtype):
    from kmatrix.learn.families import UnitaryBlocks, unitary_twiddles

    A = torch.randn(7, 2, 2, dtype=dtype, generator=gen)
    U = UnitaryBlocks(scaled=True)(A)
    gains = torch.exp(torch.diagonal(A, dim1=-2, dim2=-1).real)
    V = U / gains[..., :, None].to(dtype)  # diag(gains)⁻¹ U is unitary (orthogonal over ℝ)
    torch.testing.assert_close(V.conj().transpose(-1, -2) @ V, torch.eye(2, dtype=dtype).expand(7, 2, 2),
                               rtol=0, atol=1e-12)
    torch.testing.assert_close(UnitaryBlocks()(A), V, rtol=0, atol=1e-12)  # the same unitary factor
    K = kmatrix.KMatrix(8, width=2, dtype=dtype)
    with unitary_twiddles(K, gen, scaled=True):  # gains start at 1: a unitary start
        D = K.to_dense().detach()
        torch.testing.assert_close(D.conj().T @ D, torch.eye(8, dtype=dtype), rtol=0, atol=1e-12)
        with torch.no_grad():
            d = torch.diagonal(K.parametrizations.twiddle.original, dim1=-2, dim2=-1)
            (d.real if d.is_complex() else d).fill_(0.5)
        D = K.to_dense().detach()
    # every one of the 2·2·3 stages scales its rows by e^0.5: the product by e^6
    torch.testing.assert_close(K.to_dense().detach(), D)
    s = torch.linalg.svdvals(D)
    torch.testing.assert_close(s, torch.full((8,), math.exp(0.5 * 12), dtype=s.dtype))


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_recovery_table_writes_csv_and_markdown(tmp_path, capsys):
    from kmatrix.bench import recovery_table as rt
    from kmatrix.cli.main import main

    out = tmp_path / "rt"
    assert main(["bench", "recovery_table", "--n", "4", "--targets", "dft", "dct", "--families", "dense", "kmatrix",
                 "--restarts", "1", "--max-time", "20", "--unitary-steps", "100", "--steps", "50",
                 "--lbfgs-steps", "50", "--no-progress", "--out", str(out)]) == 0
    rows = _rows(out / "recovery_n4.csv")
    cols = {(r["target"], r["column"]) for r in rows}
    assert cols == {("dft", "dense"), ("dft", "kmatrix w=1"), ("dft", "kmatrix w=2"), ("dct", "dense"),
                    ("dct", "kmatrix w=1"), ("dct", "kmatrix w=2"), ("dct", "kmatrix Re w=1"),
                    ("dct", "kmatrix Re w=2")}
    by = {(r["target"], r["column"]): r for r in rows}
    # dense with 2n samples is a convex least-squares problem: exact
    assert float(by[("dft", "dense")]["error"]) <= 1e-8 and int(by[("dft", "dense")]["samples"]) == 8
    md = (out / "recovery_n4.md").read_text()
    assert "| dft |" in md and "| dct |" in md and "loaded" in md
    assert "recovery_n4.csv" in capsys.readouterr().out
    # the markdown helper marks errors ≤ 1e-6 in bold and missing cells with a dash
    text = rt.markdown([{"target": "t", "column": "c", "error": 1e-9, "time_to_best_s": 1.0},
                        {"target": "t", "column": "d", "error": 0.5, "time_to_best_s": math.nan}], 4)
    assert "**1.0e-09**" in text and "5.0e-01" in text and "| t | 1 | – |" in text


def test_recovery_table_bad_input(tmp_path):
    from kmatrix.bench import recovery_table as rt

    with pytest.raises(ValueError, match="targets: expected names among"):
        rt.recovery_table(4, ["fourier"], ["dense"])
    with pytest.raises(SystemExit, match="--n: expected an integer"):
        rt.main(["--n", "1", "--out", str(tmp_path)])
    with pytest.raises(SystemExit):
        rt.main(["--families", "bogus", "--out", str(tmp_path)])


# The random-start permutation recipe (init="random"; the default start at width 1 with n or
# more samples is the projected one, see test_recover_permutation_and_convolution_at_256): a
# complex K-matrix of width 2 (overparametrised: width 1 expresses a
# permutation exactly, Theorem 5.6, kmatrix.benes, but its landscape trapped every restart we ran
# at 0.4-0.7), 3n complex samples (a well-conditioned least-squares problem), a unitary phase
# finished by L-BFGS, then the free phase (Adam, L-BFGS). Measured at n = 64 (seed 0, 8 restarts,
# 14-34 CPU s each): 3.5e-5, 0.20, 0.13, 5.2e-4, 5.1e-6, 1.6e-5, 0.19, 0.20 -- the right basin in
# half the restarts, then a slow (sublinear) finish that L-BFGS does not speed up (1000 or 4000
# steps end at the same errors), so 1e-6 is not reached.
PERM_RECIPE = {"width": 2, "unitary_steps": 1000, "unitary_lbfgs_steps": 1000, "steps": 1000, "lbfgs_steps": 1000}


@pytest.mark.slow
def test_recover_permutation_at_64_reaches_the_basin():
    torch.set_num_threads(1)
    r = recover("permutation", "kmatrix", 64, complex_family=True, samples=192, restarts=8, success=1e-4,
                progress=False, **PERM_RECIPE)
    assert r.error <= 1e-4, r.errors  # width 1 with the default recipe: 0.44-0.55
    # the family can express it exactly: the Beneš routing of the same permutation (independent check)
    P = make_target("permutation", 64, torch.Generator().manual_seed(0))
    B = kmatrix.benes(P.argmax(1), dtype=torch.complex128)
    assert B.width == 1 and torch.equal(B.to_dense().detach(), P.to(torch.complex128))


@pytest.mark.slow
@pytest.mark.parametrize("target", ["permutation", "convolution"])
def test_recover_permutation_and_convolution_at_256(target):
    """The issue's requirement (≤ 1e-6 within 8 restarts, each under 3 CPU-minutes), met by the
    default start (``init="auto"``: the least-squares estimate projected onto BB* by the
    hierarchical factorization, then L-BFGS; generic, it does not read the target). Measured
    (loaded, 1 thread): the first restart, permutation 8.7e-16 in 1.2 CPU s, convolution
    1.8e-15 in 0.1 CPU s. The random-start recipes (init="random", width 2, the unitary phase
    closed by L-BFGS) ended at 9.3e-2 and 0.81 here (2 restarts each, 80-120 CPU s each)."""
    torch.set_num_threads(1)
    r = recover(target, "kmatrix", 256, complex_family=True, samples=512, restarts=8, progress=False)
    assert r.error <= 1e-6 and max(r.cpu_times) < 180.0, (r.errors, r.cpu_times)
    assert r.inits[0] == "project" and r.model.width == 1
    T = make_target(target, 256, torch.Generator().manual_seed(0))  # recover's seed 0
    assert float((r.model.to_dense().detach() - T).norm() / T.norm()) <= 1e-6
