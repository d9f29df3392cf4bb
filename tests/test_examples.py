"""The gallery scripts in examples/ run, in their small-size mode, as part of the default suite
(each script asserts its own claims against dense / exact references)."""

import pathlib
import runpy
import sys

import pytest

EXAMPLES = sorted((pathlib.Path(__file__).resolve().parents[1] / "examples").glob("*.py"))


def test_gallery_is_not_empty():
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs_small(script, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # scripts that write files write them here
    monkeypatch.setattr(sys, "argv", [str(script), "--small"])
    runpy.run_path(str(script), run_name="__main__")
    assert capsys.readouterr().out.strip(), f"{script.name} printed nothing"


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_is_a_gallery_page(script):
    """sphinx-gallery needs a docstring with an RST title first; the script needs a small mode."""
    text = script.read_text()
    assert text.startswith('"""\n'), f"{script.name}: start with a docstring holding a title"
    title, underline = text.split("\n")[1:3]
    assert title and set(underline) == {"="} and len(underline) >= len(title), script.name
    assert '"--small" in sys.argv' in text and "KMATRIX_EXAMPLES_SMALL" in text, script.name
