"""``kmatrix circuits`` CLI and the DAG drawing (Figure 2)."""

from __future__ import annotations

import pytest

from kmatrix.circuits import fft, horner, prefix_sums
from kmatrix.circuits.draw import layout
from kmatrix.cli.main import main


def test_show_prints_gates_and_writes_png(tmp_path, capsys):
    out = tmp_path / "fft4.png"
    assert main(["circuits", "show", "fft", "--n", "4", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "size=8, depth=2" in text
    assert sum(line.strip().startswith("g") for line in text.splitlines()) == 8  # one line per gate
    assert "outputs: y0 = g8, y1 = g10, y2 = g9, y3 = g11" in text
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_factor_prints_sizes_and_nnz(capsys):
    assert main(["circuits", "factor", "fft", "--n", "16", "--check"]) == 0
    text = capsys.readouterr().out
    assert "s = 80 nodes" in text and "s' = 128" in text and "depth d = 4" in text
    rows = [line.split() for line in text.splitlines() if "nnz/s" in line]
    assert [r[0] for r in rows] == ["P", "W_4", "W_3", "W_2", "W_1", "E"]
    # each layer reads only the previous one: no copy rows, 2 operands per gate (the survey copies
    # every known node: 96, 80, 64, 48)
    assert [int(r[r.index("nnz") + 1]) for r in rows] == [16, 32, 32, 32, 32, 16]
    assert "= 0 " in text.split("max |product")[1]


def test_cli_errors(capsys):
    with pytest.raises(SystemExit, match="not linear"):
        main(["circuits", "factor", "horner", "--n", "3"])
    with pytest.raises(SystemExit, match="unknown circuit"):
        main(["circuits", "show", "nope", "--n", "3"])
    with pytest.raises(SystemExit, match="power of two"):
        main(["circuits", "show", "fft", "--n", "6", "--no-draw"])
    assert main(["circuits", "list"]) == 0
    assert "polynomial_multiply" in capsys.readouterr().out


@pytest.mark.parametrize("n", [4, 8, 16])
def test_fft_layout_is_figure_2(n):
    # Figure 2 / 3 of the survey: inputs in bit-reversed order on the left, outputs y0 … y_{n−1}
    # top to bottom on the right, one butterfly value per lane in between (n rows per column)
    c = fft(n)
    xy, height = layout(c)
    k = n.bit_length() - 1
    top_down = sorted(range(n), key=lambda j: -xy[j][1])
    assert top_down == [int(format(i, f"0{k}b")[::-1], 2) for i in range(n)]
    assert [xy[o] for o in c.outputs] == [(k, height - 1 - r) for r in range(n)]
    assert height == n and all(xy[g][1] in range(n) for layer in c.layers() for g in layer)


def test_layout_places_every_node_once():
    c = prefix_sums(7)
    xy, _ = layout(c)
    assert set(xy) == set(range(c.num_nodes))
    assert len(set(xy.values())) == c.num_nodes and all(xy[i][0] == c.node_depth(i) for i in xy)


def test_draw_returns_figure_and_refuses_huge(tmp_path):
    fig = horner(3).draw(tmp_path / "h.png")
    assert fig is not None and (tmp_path / "h.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="too many"):
        fft(256).draw()


def test_bench_circuits_runs(capsys):
    from kmatrix.bench.circuits import main as bench_main

    assert bench_main(["--sizes", "4", "--random", "2", "--no-timing"]) == 0
    text = capsys.readouterr().out
    for name in ("fft(4)", "hadamard(4)", "prefix_sums(4, sklansky)", "prefix_sums(4, sequential)",
                 "polynomial_multiply(4)", "horner(4)", "toeplitz(4x4)", "from_matrix(4x4)", "ntt(4, GF("):
        assert name in text
    assert "library (observed, not a bound): largest c = grad size/size" in text and "random non-linear circuits" in text
    assert "FAIL" not in text.replace("0 FAIL", "")  # Theorem 3.10's counts hold on every row
    fft_row = next(line.split() for line in text.splitlines() if line.strip().startswith("fft(4)"))
    assert fft_row[1:6] == ["4", "4", "8", "2", "8"]  # n_in, n_out, size, depth, gradient size
