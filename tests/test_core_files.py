"""kmatrix.core.files: atomic writes (temporary file beside the destination, then os.replace).

The reference is the file system itself: what a reader finds at the destination after a normal
write, after an exception inside the write, and after the writing process dies mid-write.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kmatrix.core.files import atomic_savefig, atomic_write, atomic_writer


def _leftovers(folder) -> list[str]:
    return [p for p in os.listdir(folder) if p.endswith(".tmp")]


def test_write_bytes_and_text_with_the_usual_mode(tmp_path):
    p = tmp_path / "a.bin"
    payload = os.urandom(1000)
    atomic_write(p, payload)
    assert p.read_bytes() == payload
    atomic_write(str(p), "héllo")  # replaces; text as UTF-8
    assert p.read_text(encoding="utf-8") == "héllo"
    umask = os.umask(0)
    os.umask(umask)
    assert (p.stat().st_mode & 0o777) == (0o666 & ~umask)
    assert _leftovers(tmp_path) == []


def test_exception_inside_leaves_the_old_file(tmp_path):
    p = tmp_path / "keep.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_writer(p, "w") as f:
        f.write("new, partial")
        raise RuntimeError("boom")
    assert p.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_process_killed_mid_write_leaves_the_old_file(tmp_path):
    p = tmp_path / "keep.bin"
    p.write_bytes(b"old")
    code = (
        "import os, sys\n"
        "from kmatrix.core.files import atomic_writer\n"
        "with atomic_writer(sys.argv[1]) as f:\n"
        "    f.write(b'new' * 1000); f.flush()\n"
        "    os._exit(3)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(p)], capture_output=True, timeout=120, check=False
    )
    assert out.returncode == 3, out.stderr.decode()[-500:]
    assert p.read_bytes() == b"old"


def test_mkdir_and_csv_newlines(tmp_path):
    p = tmp_path / "sub" / "dir" / "t.csv"
    with atomic_writer(p, "w", mkdir=True, newline="") as f:
        f.write("a,b\r\n1,2\r\n")
    assert p.read_bytes() == b"a,b\r\n1,2\r\n"


def test_savefig_writes_a_png_atomically(tmp_path):
    pyplot = pytest.importorskip("matplotlib.pyplot")
    fig, ax = pyplot.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    with pytest.raises(FileNotFoundError, match="plots/f.png"):  # no folder made unless asked
        atomic_savefig(fig, tmp_path / "plots" / "f.png")
    p = atomic_savefig(fig, tmp_path / "plots" / "f.png", mkdir=True, dpi=50)
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = atomic_savefig(fig, tmp_path / "f.svg")  # format from the extension
    assert b"<svg" in svg.read_bytes()[:500]

    class Broken:
        def savefig(self, f, **kw):
            f.write(b"half a png")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_savefig(Broken(), p)
    assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the old figure is intact
    assert _leftovers(tmp_path / "plots") == []
    pyplot.close(fig)


def test_bad_arguments_name_themselves(tmp_path):
    with pytest.raises(ValueError, match="mode: expected 'wb' or 'w'"), atomic_writer(tmp_path / "x", "a"):
        pass
    with pytest.raises(TypeError, match="path: expected a file path"), atomic_writer(3):
        pass
    with pytest.raises(TypeError, match="data: expected bytes or str"):
        atomic_write(tmp_path / "x", 3.0)
    assert not (tmp_path / "x").exists()
