"""Building and loading the fused CPU kernel: missing, unwritable or foreign cache directory,
concurrent first use, failed or useless compilers, damaged and planted libraries.

A fake compiler (a shell script that copies the already-built library to its ``-o`` target,
answers ``--version``, and counts its compile calls) stands in for g++, so these tests exercise
the cache, lock, checksum, ownership and fallback logic in well under a second each without
compiling the kernel.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import stat
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest

from kmatrix.kernels import cpu

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def real_library() -> str:
    path = cpu.library_path()
    if path is None:  # pragma: no cover - test_kernels asserts the kernel builds
        pytest.skip("the fused kernel is not available on this machine")
    return path


@pytest.fixture
def fresh_state(monkeypatch):
    """A module state as in a new process (nothing loaded, no failure, no private temp dir)."""
    monkeypatch.setattr(cpu, "_lib", None)
    monkeypatch.setattr(cpu, "_failed", None)
    monkeypatch.setattr(cpu, "_private_tmp", None)


def _fake_compiler(tmp_path: Path, body: str, version: str = "fake-c++ 1.0") -> tuple[str, Path]:
    counter = tmp_path / "calls"
    script = tmp_path / f"fake-cxx-{abs(hash(version)) % 10**6}"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = --version ]; then echo "{version}"; exit 0; fi\n'
        f'echo call >> "{counter}"\n'
        "for last; do :; done\n"  # $last = the -o target
        f"{body}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script), counter


def _calls(counter: Path) -> int:
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if not p.name.endswith(".lock"))


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
    built = _files(cache)
    assert len(built) == 2 and built[0].endswith(".so") and built[1] == built[0] + ".sha256"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700  # created private
    # a later process finds it and does not compile again
    assert isinstance(cpu._build(), ctypes.CDLL) and _calls(counter) == 1


def test_unwritable_cache_dir_uses_a_private_temp_dir(
    tmp_path, monkeypatch, real_library, fresh_state
):
    cxx, counter = _fake_compiler(tmp_path, f'cp "{real_library}" "$last"')
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("KMATRIX_CACHE_DIR", str(blocker / "cache"))  # cannot be created
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(cpu.tempfile, "tempdir", str(tmp))
    monkeypatch.setattr(cpu, "_compiler", lambda: cxx)
    # A library planted where the old code looked (a predictable per-user temp path).
    planted = tmp / f"kmatrix-{os.getuid()}"
    planted.mkdir()
    for _, name in cpu._names(cxx):
        shutil.copy(real_library, planted / (name + ".so"))
    with pytest.warns(RuntimeWarning, match="not using the kernel cache"):
        lib = cpu._build()
    assert lib.kmx_abi_version() == cpu._ABI and _calls(counter) == 1
    where = Path(lib._name).parent
    assert where.parent == tmp and where != planted and where.name.startswith("kmatrix-")
    assert stat.S_IMODE(where.stat().st_mode) == 0o700


def test_failed_compile_is_remembered(tmp_path, monkeypatch, fresh_state):
    cxx, counter = _fake_compiler(tmp_path, 'echo "error: this compiler is broken" >&2\nexit 1')
    cache = tmp_path / "cache"
    monkeypatch.setenv("KMATRIX_CACHE_DIR", str(cache))
    monkeypatch.setattr(cpu, "_compiler", lambda: cxx)
    with pytest.warns(RuntimeWarning, match="(?s)unavailable, using the PyTorch reference.*broken"):
        assert not cpu.available()
    assert _calls(counter) == len(cpu._FLAG_SETS)  # every flag set tried once
    # no temporary or partial library left behind: one marker per failed build
    assert all(name.endswith(".failed") for name in _files(cache))
    assert len(_files(cache)) == len(cpu._FLAG_SETS)
    assert cpu.library_path() is None
    # a later process: no compile at all, one warning that names the marker, reference path
    monkeypatch.setattr(cpu, "_failed", None)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert not cpu.available() and not cpu.available()
    assert _calls(counter) == len(cpu._FLAG_SETS)
    assert len(caught) == 1 and "earlier process" in str(caught[0].message)


def test_a_library_that_does_not_load_is_remembered(tmp_path, monkeypatch, fresh_state):
    # $CXX naming a C compiler: the build "succeeds" but the library has undefined C++
    # symbols and does not load. Simulated by a compiler that writes a non-library.
    cxx, counter = _fake_compiler(tmp_path, 'echo "not an ELF file" > "$last"')
    cache = tmp_path / "cache"
    monkeypatch.setenv("KMATRIX_CACHE_DIR", str(cache))
    monkeypatch.setattr(cpu, "_compiler", lambda: cxx)
    with pytest.warns(RuntimeWarning, match="does not load"):
        assert not cpu.available()
    assert _calls(counter) == len(cpu._FLAG_SETS)
    assert all(name.endswith(".failed") for name in _files(cache))  # no broken .so left
    monkeypatch.setattr(cpu, "_failed", None)
    with pytest.warns(RuntimeWarning, match="earlier process"):
        assert not cpu.available()
    assert _calls(counter) == len(cpu._FLAG_SETS)
    # another compiler version is another key: it gets its own try
    cxx2, _ = _fake_compiler(tmp_path, 'echo "not an ELF file" > "$last"', "fake-c++ 2.0")
    assert {n for _, n in cpu._names(cxx2)}.isdisjoint(n for _, n in cpu._names(cxx))


CHILD = """
import sys, torch
from kmatrix.kernels import cpu
path = cpu.library_path()
assert path is not None and path.startswith(sys.argv[1]), path
tw = torch.randn(1, 1, 6, 32, 2, 2, dtype=torch.float64)
x = torch.randn(33, 1, 64, dtype=torch.float64)
from kmatrix.kernels import butterfly_multiply_reference as ref
err = (cpu.forward(tw, x, True) - ref(tw[0], x, True)).abs().max().item()
assert err < 1e-12, err
print("ok")
"""


def _child(cache: Path, cxx: str):
    env = {**os.environ, "KMATRIX_CACHE_DIR": str(cache), "CXX": cxx, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(cache)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_damaged_cached_library_is_rebuilt_in_a_fresh_process(tmp_path, real_library):
    # A truncated or overwritten library used to crash every later process (SIGBUS/SIGSEGV in
    # dlopen or in the kernel). Its checksum no longer matches: it is deleted and rebuilt.
    cxx, counter = _fake_compiler(tmp_path, f'cp "{real_library}" "$last"')
    cache = tmp_path / "cache"
    first = _child(cache, cxx)
    assert first.returncode == 0 and first.stdout.strip() == "ok", first.stderr[-2000:]
    assert _calls(counter) == 1
    (lib,) = (p for p in cache.iterdir() if p.suffix == ".so")
    size = lib.stat().st_size
    good = Path(real_library).read_bytes()
    flipped = good[: size // 2] + bytes([good[size // 2] ^ 0xFF]) + good[size // 2 + 1 :]
    damages = {
        "truncated": lambda: os.truncate(lib, size // 3),
        "overwritten": lambda: lib.write_bytes(os.urandom(size)),
        "one byte flipped": lambda: lib.write_bytes(flipped),
    }
    for n, (what, damage) in enumerate(damages.items(), start=2):
        damage()
        proc = _child(cache, cxx)
        assert proc.returncode == 0 and proc.stdout.strip() == "ok", (what, proc.stderr[-2000:])
        assert "rebuilding the cached butterfly kernel" in proc.stderr, what
        assert _calls(counter) == n, what


def _canary_library(tmp_path: Path) -> tuple[Path, Path] | None:
    """A shared library that, if it is ever loaded, writes a file (its constructor runs at
    dlopen) — a stand-in for planted code. None when no C compiler is around."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        return None
    flag = tmp_path / "planted-code-ran"
    src = tmp_path / "canary.c"
    src.write_text(
        "#include <stdio.h>\n"
        "__attribute__((constructor)) static void ran(void) {\n"
        f'  FILE* f = fopen("{flag}", "w"); if (f) {{ fputs("ran", f); fclose(f); }}\n'
        "}\n"
        f"int kmx_abi_version(void) {{ return {cpu._ABI}; }}\n"
    )
    out = tmp_path / "canary.so"
    proc = subprocess.run([cc, "-shared", "-fPIC", str(src), "-o", str(out)], check=False)
    return (out, flag) if proc.returncode == 0 else None


def _pretend_foreign(monkeypatch, *paths: Path) -> None:
    """os.stat/os.lstat report another owner for these files (by inode and change time, so a
    file built later at the same path is ours again): a test cannot chown files to another user without root."""
    inodes = {(os.stat(p).st_ino, os.stat(p).st_ctime_ns) for p in paths}
    for fn_name in ("stat", "lstat"):
        real = getattr(os, fn_name)

        def fake(path, *args, _real=real, **kwargs):
            st = _real(path, *args, **kwargs)
            if (st.st_ino, st.st_ctime_ns) in inodes:
                fields = list(st[:10])
                fields[4] = st.st_uid + 1  # st_uid
                st = os.stat_result(fields)
            return st

        monkeypatch.setattr(os, fn_name, fake)


@pytest.mark.parametrize(
    "how", ["group-writable library", "foreign library", "foreign cache directory"]
)
def test_planted_library_is_never_loaded(how, tmp_path, monkeypatch, real_library, fresh_state):
    # Someone else's file (or one others could have written) sits where the cache would load
    # from, with a matching checksum beside it: it must never be opened (the canary's
    # constructor would run); the kernel is built afresh instead.
    canary = _canary_library(tmp_path)
    planted_src, ran = canary if canary else (Path(real_library), tmp_path / "never")
    cxx, counter = _fake_compiler(tmp_path, f'cp "{real_library}" "$last"')
    monkeypatch.setattr(cpu, "_compiler", lambda: cxx)
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    monkeypatch.setenv("KMATRIX_CACHE_DIR", str(cache))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(cpu.tempfile, "tempdir", str(tmp))
    for _, name in cpu._names(cxx):
        lib = cache / (name + ".so")
        shutil.copy(planted_src, lib)
        (cache / (name + ".so.sha256")).write_text(cpu._sha256(lib) + "\n")
        if how == "group-writable library":
            lib.chmod(0o775 | stat.S_IWOTH)
    if how == "foreign library":
        _pretend_foreign(monkeypatch, *cache.glob("*.so"))
        expect = "rebuilding the cached butterfly kernel.*is owned by uid"
    elif how == "foreign cache directory":  # not ours at all: a private temp dir instead
        _pretend_foreign(monkeypatch, cache)
        expect = "not using the kernel cache.*is owned by uid"
    else:
        expect = "rebuilding the cached butterfly kernel.*writable by group or others"
    with pytest.warns(RuntimeWarning, match=expect):
        lib = cpu._build()
    assert not ran.exists(), "a planted library was loaded"
    assert _calls(counter) == 1 and lib.kmx_abi_version() == cpu._ABI
    assert Path(lib._name).read_bytes() == Path(real_library).read_bytes()
    if how == "foreign cache directory":
        assert Path(lib._name).parent.parent == tmp


def test_cache_dir_writable_by_others_is_not_used(tmp_path, monkeypatch, real_library, fresh_state):
    cxx, _ = _fake_compiler(tmp_path, f'cp "{real_library}" "$last"')
    monkeypatch.setattr(cpu, "_compiler", lambda: cxx)
    cache = tmp_path / "shared-cache"
    cache.mkdir()
    cache.chmod(0o777)
    monkeypatch.setenv("KMATRIX_CACHE_DIR", str(cache))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(cpu.tempfile, "tempdir", str(tmp))
    with pytest.warns(RuntimeWarning, match="writable by group or others"):
        lib = cpu._build()
    assert Path(lib._name).parent.parent == tmp and list(cache.iterdir()) == []
    # a parent directory that others may write (no sticky bit) disqualifies it too
    inner = cache / "inner"
    inner.mkdir(mode=0o700)
    with pytest.raises(cpu._Untrusted, match="above the cache directory"):
        cpu._check_private_dir(inner)
