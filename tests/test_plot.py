"""``kmatrix plot sparsity``: the survey's Figure 4 (BB* factor sparsity patterns)."""

import numpy as np
import pytest
import torch

from kmatrix import KMatrix
from kmatrix.cli.main import main


def test_factor_patterns_are_butterfly_factors():
    """Each factor of a BB* matrix has exactly 2n allowed nonzeros, in 2×2 blocks at its stride
    (the pattern drawn in the figure)."""
    n = 16
    K = KMatrix(n, init="random", dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    factors = K.factors()
    assert [kind for kind, _ in factors] == ["B*"] * 4 + ["B"] * 4
    strides = [8, 4, 2, 1, 1, 2, 4, 8]
    for (kind, M), s in zip(factors, strides):
        nz = torch.nonzero(M)
        assert len(nz) == 2 * n
        d = (nz[:, 0] - nz[:, 1]).abs()
        assert set(d.tolist()) == {0, s}
    prod = torch.eye(n, dtype=torch.float64)
    for _, M in factors:
        prod = M @ prod
    assert torch.allclose(prod, K.to_dense().detach(), atol=1e-12)


def test_plot_sparsity_writes_png(tmp_path, capsys):
    import matplotlib.image as mpimg

    out = tmp_path / "fig4.png"
    assert main(["plot", "sparsity", "--n", "16", "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = mpimg.imread(str(out))[..., :3]
    red = (img[..., 0] > 0.7) & (img[..., 1] < 0.3) & (img[..., 2] < 0.3)
    blue = (img[..., 2] > 0.6) & (img[..., 0] < 0.3)
    assert red.sum() > 100 and blue.sum() > 100
    # the B factors (red) are drawn left of the B* factors (blue)
    assert np.nonzero(red)[1].mean() < np.nonzero(blue)[1].mean()


def test_plot_sparsity_bad_n(tmp_path):
    with pytest.raises(SystemExit, match="power of two"):
        main(["plot", "sparsity", "--n", "12", "--out", str(tmp_path / "x.png")])
