"""Building the fused CPU kernel on a fresh machine: missing or unwritable cache directory,
concurrent first use, failed compilation.

A fake compiler (a shell script that copies the already-built library to its ``-o`` target
after a short sleep, and counts its calls) stands in for g++, so these tests exercise the cache,
lock and fallback logic in well under a second each without compiling anything.
"""

from __future__ import annotations

import ctypes
import os
import stat
import threading
from pathlib import Path

import pytest

from kmatrix.kernels import cpu


@pytest.fixture
def real_library() -> str:
    path = cpu.library_path()
    if path is None:  # pragma: no cover - test_kernels asserts the kernel builds
        pytest.skip("the fused kernel is not available on this machine")
    return path


def _fake_compiler(tmp_path: Path, body: str) -> tuple[str, Path]:
    counter = tmp_path / "calls"
    script = tmp_path / "fake-cxx"
    script.write_text(
        f'#!/bin/sh\necho call >> "{counter}"\n'
        'for last; do :; done\n'  # $last = the -o target
        f"{body}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script), counter


def _calls(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def test_concurrent_first_use_builds_once_into_missing_dir(tmp_path, monkeypatch, real_library):
    cxx, counter = _fake_compiler(tmp_path, f'sleep 0.3\ncp "{real_library}" "$last"')
    cache = tmp_path / "missing" / "cache"  # does not exist yet
    monkeypatch.setenv("KMATRIX_CACHE_DIR", str(cache))
    monkeypatch.setattr(cpu, "_compiler", lambda: cxx)
    libs, errors = [], []

    def worker():
        try:
            libs.append(cpu._build())
        except (OSError, RuntimeError) as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(libs) == 4 and all(lib.kmx_abi_version() == cpu._ABI for lib in libs)
    # one compilation (the others waited on the lock and loaded the result), nothing partial left
    assert _calls(counter) == 1
    built = sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock"))
    assert len(built) == 1 and built[0].endswith(".so")
    # a later process finds it and does not compile again
    assert isinstance(cpu._build(), ctypes.CDLL) and _calls(counter) == 1


def test_unwritable_cache_dir_falls_back_to_temp(tmp_path, monkeypatch, real_library):
    cxx, counter = _fake_compiler(tmp_path, f'cp "{real_library}" "$last"')
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("KMATRIX_CACHE_DIR", str(blocker / "cache"))  # cannot be created
    monkeypatch.setattr(cpu.tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(cpu, "_compiler", lambda: cxx)
    lib = cpu._build()
    assert lib.kmx_abi_version() == cpu._ABI and _calls(counter) == 1
    assert tmp_path / "tmp" in Path(lib._name).parents


def test_failed_compile_warns_and_falls_back(tmp_path, monkeypatch):
    cxx, counter = _fake_compiler(tmp_path, 'echo "error: this compiler is broken" >&2\nexit 1')
    cache = tmp_path / "cache"
    monkeypatch.setenv("KMATRIX_CACHE_DIR", str(cache))
    monkeypatch.setattr(cpu, "_compiler", lambda: cxx)
    monkeypatch.setattr(cpu, "_lib", None)
    monkeypatch.setattr(cpu, "_failed", None)
    with pytest.warns(RuntimeWarning, match="(?s)unavailable, using the PyTorch reference.*broken"):
        assert not cpu.available()
    assert _calls(counter) == len(cpu._FLAG_SETS)  # every flag set tried once
    leftovers = [p.name for p in cache.iterdir() if not p.name.endswith(".lock")]
    assert leftovers == []  # no temporary or partial library left behind
    assert cpu.library_path() is None and os.path.isdir(cache)
