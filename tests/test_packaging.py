"""Packaging: a non-editable install (``pip install .``) must ship the C++ source of the fused
kernel, which is compiled at first use on the target machine (no manual build step).

Builds the wheel from a copy of the sources in a temporary directory (offline, no build
isolation: setuptools is already installed) and checks its file list; ~2 s.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_ships_kernel_source(tmp_path):
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "kmatrix", src / "kmatrix", ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "-q", str(src), "-w", str(tmp_path / "dist")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        pytest.skip(f"cannot build a wheel offline here: {proc.stderr.strip()[-300:]}")
    (wheel,) = (tmp_path / "dist").glob("kmatrix-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "kmatrix/kernels/_butterfly_cpu.cpp" in names
    assert "kmatrix/kernels/cpu.py" in names and "kmatrix/transforms/__init__.py" in names
