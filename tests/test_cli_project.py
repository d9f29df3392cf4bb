"""`kmatrix project FILE --family F`: .npy / .pt / .safetensors inputs, the report, --out."""

import numpy as np
import pytest
import scipy.linalg
import torch

import kmatrix
from kmatrix.cli.main import main


def test_project_npy_dft_bitrev_writes_result(tmp_path, capsys):
    F = np.fft.fft(np.eye(32), axis=0)
    np.save(tmp_path / "F.npy", F)
    out = tmp_path / "W.kmx"
    assert main(["project", str(tmp_path / "F.npy"), "--family", "butterfly", "--perm", "bitrev", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "butterfly" in text and "rel. error" in text and "wrote" in text
    W = kmatrix.load(out)
    assert np.abs(W.to_dense().detach().numpy() - F).max() < 1e-12
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".kmatrix-")]  # no temp left


def test_project_pt_with_key(tmp_path, capsys, gen):
    M = torch.randn(16, 16, dtype=torch.float64, generator=gen)
    torch.save({"weight": M, "bias": torch.zeros(16)}, tmp_path / "m.pt")
    assert main(["project", str(tmp_path / "m.pt"), "--key", "weight", "--family", "lowrank", "--rank", "4"]) == 0
    s = np.linalg.svd(M.numpy(), compute_uv=False)
    expect = np.sqrt((s[4:] ** 2).sum() / (s**2).sum())
    assert f"{expect:.3e}" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="--key"):
        main(["project", str(tmp_path / "m.pt"), "--family", "lowrank"])
    with pytest.raises(SystemExit, match="not in"):
        main(["project", str(tmp_path / "m.pt"), "--key", "nope", "--family", "lowrank"])


def test_project_safetensors(tmp_path, capsys, gen):
    st = pytest.importorskip("safetensors.torch")
    c = torch.randn(8, dtype=torch.float64, generator=gen).numpy()
    T = torch.from_numpy(scipy.linalg.toeplitz(c))
    st.save_file({"m": T.contiguous()}, str(tmp_path / "m.safetensors"))
    assert main(["project", str(tmp_path / "m.safetensors"), "--family", "toeplitz"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("rel. error"))
    assert float(line.split()[2]) <= 1e-12


def test_project_bad_input(tmp_path):
    with pytest.raises(SystemExit, match="no such file"):
        main(["project", str(tmp_path / "missing.npy"), "--family", "lowrank"])
    (tmp_path / "m.txt").write_text("1 2")
    with pytest.raises(SystemExit, match="unsupported"):
        main(["project", str(tmp_path / "m.txt"), "--family", "lowrank"])
    np.save(tmp_path / "v.npy", np.zeros(4))
    with pytest.raises(SystemExit, match="2-d"):
        main(["project", str(tmp_path / "v.npy"), "--family", "lowrank"])
    np.save(tmp_path / "nan.npy", np.full((4, 4), np.nan))
    with pytest.raises(SystemExit, match="finite"):
        main(["project", str(tmp_path / "nan.npy"), "--family", "lowrank"])
    np.save(tmp_path / "m.npy", np.ones((4, 6)))
    with pytest.raises(SystemExit, match="square"):
        main(["project", str(tmp_path / "m.npy"), "--family", "circulant"])
    with pytest.raises(SystemExit, match="rank"):
        main(["project", str(tmp_path / "m.npy"), "--family", "toeplitz", "--rank", "2"])
