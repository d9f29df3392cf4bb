"""`kmatrix bench projection` and `kmatrix bench compress` run end to end at small sizes."""

import importlib.util

import pytest

from kmatrix.cli.main import main


def test_bench_projection_small(capsys):
    args = ["bench", "projection", "--sizes", "16", "--repeats", "1", "--widths", "1", "2",
            "--width-n", "8", "--steps", "2", "2"]
    assert main(args) == 0
    out = capsys.readouterr().out
    for name in ("dft", "hadamard", "butterfly+10%", "gaussian"):
        assert name in out
    assert "w = 2" in out
    if importlib.util.find_spec("pyfaust") is None:
        assert "pip install pyfaust" in out
    else:
        assert "error ≤ pyfaust on" in out
    # the exact cases are exact for kmatrix
    dft = next(line for line in out.splitlines() if line.strip().startswith("dft"))
    assert float(dft.split()[3]) < 1e-12


def test_bench_projection_rejects_bad_size():
    with pytest.raises(SystemExit, match="powers of two"):
        main(["bench", "projection", "--sizes", "12", "--widths"])


@pytest.mark.slow
def test_bench_compress_lowrank(capsys):
    pytest.importorskip("sklearn")
    assert main(["bench", "compress", "--epochs", "3", "--finetune-epochs", "1", "--hidden", "64", "--only", "lowrank"]) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "lowrank" in out
