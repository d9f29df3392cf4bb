"""The learning commands at tiny sizes: ``kmatrix learn``, ``kmatrix atlas`` and
``kmatrix demo --quick`` run and write their files (CSV parsed back, PNG signature checked)."""

import csv

import pytest
import torch

import kmatrix
from kmatrix.cli.main import main
from kmatrix.learn import make_target

PNG = b"\x89PNG\r\n\x1a\n"


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _png(path):
    with open(path, "rb") as f:
        return f.read(8) == PNG


def test_learn_command_writes_files(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["learn", "--target", "dft", "--n", "8", "--width", "1", "--restarts", "4", "--unitary-steps", "600",
                 "--no-progress", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "best relative error" in text and "reached the 1e-06 goal" in text
    rows = _rows(out / "learn.csv")
    assert rows and min(float(r["error"]) for r in rows) <= 1e-6
    assert _png(out / "learn_curve.png")
    M = kmatrix.load(out / "learned.kmx")  # the saved model is the learned DFT
    err = (M.to_dense().detach() - make_target("dft", 8)).norm() / make_target("dft", 8).norm()
    assert float(err) <= 1e-6


def test_learn_command_init_option(tmp_path, capsys):
    # --init project: the least-squares estimate projected onto BB*, a random permutation exactly
    out = tmp_path / "perm"
    assert main(["learn", "--target", "permutation", "--n", "16", "--complex", "--samples", "32", "--init", "project",
                 "--restarts", "1", "--no-progress", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "starts project)" in text and "reached the 1e-06 goal" in text
    P = make_target("permutation", 16, torch.Generator().manual_seed(0)).to(torch.complex128)
    assert float((kmatrix.load(out / "learned.kmx").to_dense().detach() - P).norm() / P.norm()) <= 1e-10
    assert main(["learn", "--target", "permutation", "--n", "16", "--samples", "8", "--init", "random", "--restarts",
                 "1", "--unitary-steps", "5", "--steps", "5", "--lbfgs-steps", "5", "--no-progress"]) == 0
    assert "starts random)" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="init: 'project' needs"):
        main(["learn", "--target", "dft", "--n", "16", "--samples", "8", "--init", "project", "--no-progress"])
    # a real K-matrix misses a real circulant (its U1 D U2 needs complex blocks): the hint names
    # --complex; with --complex the same command recovers it
    assert main(["learn", "--target", "convolution", "--n", "16", "--restarts", "1", "--unitary-steps", "5",
                 "--steps", "5", "--lbfgs-steps", "5", "--no-progress"]) == 0
    assert "hint:" in capsys.readouterr().out
    assert main(["learn", "--target", "convolution", "--n", "16", "--restarts", "1", "--complex",
                 "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "reached the 1e-06 goal" in text and "hint:" not in text


def test_learn_command_bad_arguments(tmp_path, capsys):
    # usage errors: one line on stderr, exit status 2 (the CLI's error boundary returns it)
    assert main(["learn", "--target", "fourier", "--n", "8"]) == 2
    assert "invalid choice: 'fourier'" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="budget: 3 parameters are too few for the dense family"):
        main(["learn", "--target", "dft", "--family", "dense", "--budget", "3", "--n", "8", "--no-progress"])
    with pytest.raises(SystemExit, match="n: the hadamard target needs a power of two"):
        main(["learn", "--target", "hadamard", "--family", "dense", "--n", "12", "--no-progress"])
    with pytest.raises(SystemExit, match="--n: expected an integer"):
        main(["learn", "--target", "dft", "--n", "1"])


def test_atlas_command_writes_csv_and_png(tmp_path, capsys):
    out = tmp_path / "atlas"
    assert main(["atlas", "--n", "8", "--targets", "hadamard,dft", "--families", "dense,lowrank,kmatrix",
                 "--budgets", "4n log n,n^2", "--unitary-steps", "100", "--steps", "50",
                 "--no-progress", "--out", str(out)]) == 0
    rows = _rows(out / "atlas.csv")
    assert {r["target"] for r in rows} == {"hadamard", "dft"}
    dense = [r for r in rows if r["family"] == "dense"]
    assert dense and all(float(r["error"]) <= 1e-8 for r in dense)  # n² parameters: exact
    assert all(int(r["params"]) <= int(r["budget_params"]) for r in rows)
    assert _png(out / "atlas.png")
    assert "best family per budget" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--families: unknown monarch2"):
        main(["atlas", "--families", "monarch2", "--out", str(out)])


def test_demo_quick_writes_its_files(tmp_path, capsys):
    out = tmp_path / "demo"
    rc = main(["demo", "--quick", "--only", "learn,atlas,transforms", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0, text
    for name in ("learn_dft.png", "atlas.png"):
        assert _png(out / name) and str(out / name) in text
    rows = _rows(out / "atlas.csv")
    assert {r["target"] for r in rows} == {"dft", "hadamard", "convolution"}
    assert "recovered (goal 1e-6)" in text
    with pytest.raises(SystemExit, match="--only: unknown section"):
        main(["demo", "--only", "bogus", "--out", str(out)])


@pytest.mark.slow
@pytest.mark.parametrize("target, width, kw", [
    ("dft", 1, {}), ("idft", 1, {}), ("hadamard", 1, {"complex_family": True}),
])
def test_recover_at_256(target, width, kw):
    """The issue's requirement: a complex K-matrix recovers these at n = 256 to ≤ 1e-6 from at
    most 8 restarts (each under 3 minutes on 2 cores). (Permutation and convolution are not
    met by this recipe yet: see the closing note of issue 8.)"""
    from kmatrix.learn import recover

    torch.set_num_threads(1)
    r = recover(target, "kmatrix", 256, width=width, restarts=8, max_time=8 * 180.0, progress=False, **kw)
    assert r.error <= 1e-6, r.errors
    assert max(r.times) < 180.0
