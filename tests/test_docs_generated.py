"""The benchmark page (docs/benchmarks.rst) shows the benchmarks' own output: files that
docs/make_bench_tables.py writes by running ``kmatrix bench NAME ...``, each stating when and on
which machine it was measured. Checked here: the page includes every file and has no figures of
its own; each file has its header and the command the script runs today; the script runs (tiny
sizes) and its tables have the columns of the committed ones, so a benchmark whose output
changed fails here until the page's files are regenerated."""

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "benchmarks.rst"
GENERATED = ROOT / "docs" / "_generated"


def _script():
    spec = importlib.util.spec_from_file_location("make_bench_tables", ROOT / "docs" / "make_bench_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = _script()
HEADER = re.compile(r"measured \d{4}-\d\d-\d\d \d\d:\d\d UTC on .+, \d+ cores, .+torch .+kmatrix .+")


def _table_headers(text: str) -> list[str]:
    """The column-name rows of the fixed-width tables in a benchmark's output (the line above
    each row of dashes), with runs of spaces collapsed."""
    lines = text.splitlines()
    return [
        " ".join(lines[i - 1].split())
        for i in range(1, len(lines))
        if lines[i].strip() and set(lines[i].strip()) <= {"-", " "}
    ]


def test_page_includes_every_generated_file():
    page = PAGE.read_text()
    included = re.findall(r"^\.\. literalinclude:: _generated/(\S+)$", page, flags=re.MULTILINE)
    expected = sorted(f"bench_{name}.txt" for name in SCRIPT.BENCHMARKS)
    assert sorted(included) == expected, "docs/benchmarks.rst must literalinclude each generated file once"
    assert sorted(p.name for p in GENERATED.glob("bench_*.txt")) == expected


def test_page_has_no_hand_copied_figures():
    """Ratios, times and errors come from the generated files only."""
    page = PAGE.read_text()
    figures = re.findall(r"\d+(?:\.\d+)?\s*×|\d(?:\.\d+)?e-\d+|\d+(?:\.\d+)?\s*ms\b", page)
    assert not figures, f"docs/benchmarks.rst quotes figures by hand: {figures}"


@pytest.mark.parametrize("name", sorted(SCRIPT.BENCHMARKS))
def test_generated_file_says_when_where_and_what(name):
    lines = (GENERATED / f"bench_{name}.txt").read_text().splitlines()
    assert HEADER.fullmatch(lines[0]), f"bench_{name}.txt: first line {lines[0]!r}"
    full_args = SCRIPT.BENCHMARKS[name][0]
    command = "$ kmatrix bench " + " ".join(SCRIPT.shlex.quote(a) for a in [name, *full_args])
    assert lines[1] == command, (
        f"bench_{name}.txt was measured with {lines[1]!r}, the script now runs {command!r}: "
        "run python docs/make_bench_tables.py"
    )
    assert _table_headers("\n".join(lines)), f"bench_{name}.txt has no table"


def test_script_runs_and_tables_match_the_page(tmp_path):
    """Tiny sizes (seconds): the same tables, the same columns as the committed files."""
    assert SCRIPT.main(["--tiny", "--out", str(tmp_path)]) == 0
    for name in SCRIPT.BENCHMARKS:
        fresh = (tmp_path / f"bench_{name}.txt").read_text()
        assert HEADER.fullmatch(fresh.splitlines()[0])
        committed = (GENERATED / f"bench_{name}.txt").read_text()
        assert _table_headers(fresh) == _table_headers(committed), (
            f"kmatrix bench {name} now prints other tables than docs/_generated/bench_{name}.txt: "
            "run python docs/make_bench_tables.py"
        )


# ---------------------------------------------------------------------------------------------
# the atlas figure (docs/atlas.rst), written by docs/make_atlas.py
# ---------------------------------------------------------------------------------------------
def _atlas_script():
    spec = importlib.util.spec_from_file_location("make_atlas", ROOT / "docs" / "make_atlas.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_atlas_page_shows_the_generated_figure():
    page = (ROOT / "docs" / "atlas.rst").read_text()
    assert ".. image:: _generated/atlas.png" in page
    assert ".. literalinclude:: _generated/atlas.txt" in page
    assert "atlas" in (ROOT / "docs" / "index.rst").read_text().split()
    png = (GENERATED / "atlas.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < 300_000, "a small PNG"


def test_atlas_files_say_when_where_and_what():
    """The summary names the command docs/make_atlas.py runs now, and the CSV has its points."""
    import csv

    script = _atlas_script()
    lines = (GENERATED / "atlas.txt").read_text().splitlines()
    assert HEADER.fullmatch(lines[0]), lines[0]
    command = "$ kmatrix atlas " + " ".join(script.shlex.quote(a) for a in script.ARGS) + " --out OUT"
    assert lines[1] == command, "docs/_generated/atlas.* are stale: run python docs/make_atlas.py"
    rows = list(csv.DictReader((GENERATED / "atlas.csv").open()))
    targets = script.ARGS[script.ARGS.index("--targets") + 1].split(",")
    assert sorted({r["target"] for r in rows}) == sorted(targets)
    assert {r["n"] for r in rows} == {script.ARGS[script.ARGS.index("--n") + 1]}
