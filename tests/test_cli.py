"""The command line: help, demo and the families benchmark run end to end (small sizes)."""

import pytest

from kmatrix.cli.main import main


def test_help(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "demo" in out and "bench" in out


def test_demo_small(capsys):
    assert main(["demo", "--n", "64", "--batch", "4"]) == 0
    out = capsys.readouterr().out
    assert "Diagonal" in out and "all fast products agree" in out
    assert "hadamard" in out and "fft(16)" in out  # the kaleidoscope and circuits sections


def test_bench_families_small(capsys):
    assert main(["bench", "families", "--sizes", "64", "--batches", "2", "--repeats", "1", "--only", "Diagonal"]) == 0
    out = capsys.readouterr().out
    assert "dense/fast" in out and "Diagonal" in out


def test_bench_unknown():
    with pytest.raises(SystemExit, match="unknown benchmark"):
        main(["bench", "nope"])


@pytest.mark.parametrize("name,symbol", [("vandermonde_accuracy", "V"), ("cauchy_accuracy", "C")])
def test_accuracy_studies_small(capsys, name, symbol):
    assert main(["bench", name, "--log2", "6", "--rows", "4", "--dps", "30"]) == 0
    out = capsys.readouterr().out
    assert f"fast {symbol}x" in out and "auto" in out
    # on roots-of-unity-like nodes the fast path is accurate (the table is not a constant)
    first = next(line for line in out.splitlines() if line.strip().startswith(("roots", "interleaved |z|")))
    assert float(first.split()[-5]) < 1e-12
