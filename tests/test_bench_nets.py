"""Smoke tests of the network benchmarks at tiny settings: they run, the CSV has one row per
family with sane values and the PNG is written (a real run: see README for the tables)."""

import csv
import math

import pytest

pytest.importorskip("sklearn")


def _rows(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_digits_tiny(tmp_path, capsys):
    from kmatrix.bench import digits

    assert digits.main(["--widths", "32", "--families", "dense", "lowrank", "butterfly", "--seeds", "2",
                        "--epochs", "2", "--budget-fraction", "0.5", "--out", str(tmp_path)]) == 0
    rows = _rows(tmp_path / "digits.csv")
    assert [r["family"] for r in rows] == ["dense", "lowrank", "butterfly"]
    for r in rows:
        assert 0.3 < float(r["acc_mean"]) <= 1.0  # chance is 0.1
        assert int(r["seeds"]) == 2 and float(r["train_s_per_epoch"]) > 0
    assert int(rows[0]["hidden_params"]) == 32 * 32 + 32
    assert int(rows[1]["hidden_params"]) <= 512 + 32  # budget 0.5·32² plus bias
    assert (tmp_path / "digits.png").stat().st_size > 1000
    assert "test acc" in capsys.readouterr().out
    X, y, Xt, yt = digits.load_digits_split()
    assert len(X) + len(Xt) == 1797 and abs(float(X.mean())) < 1e-5
    assert set(y.tolist()) == set(yt.tolist()) == set(range(10))


def test_charlm_tiny(tmp_path, capsys):
    from kmatrix.bench import charlm

    assert charlm.main(["--steps", "4", "--d", "32", "--layers", "1", "--ctx", "16", "--batch", "2",
                        "--chars", "20000", "--eval-batches", "2", "--families", "dense", "lowrank", "butterfly",
                        "--budget-fraction", "0.5",
                        "--out", str(tmp_path)]) == 0
    rows = _rows(tmp_path / "charlm.csv")
    assert [r["family"] for r in rows] == ["dense", "lowrank", "butterfly"]
    dense_mlp = int(rows[0]["mlp_params"])
    assert dense_mlp == 2 * (32 * 128) + 128 + 32
    for r in rows:
        assert 0 < float(r["val_bits_per_char"]) < 9 and math.isfinite(float(r["train_tokens_per_s"]))
        assert int(r["mlp_params"]) <= dense_mlp
    assert (tmp_path / "charlm.png").stat().st_size > 1000
    assert "val bits/char" in capsys.readouterr().out


def test_bad_family(tmp_path):
    from kmatrix.bench import digits

    with pytest.raises(SystemExit):
        digits.main(["--families", "nope", "--out", str(tmp_path)])
