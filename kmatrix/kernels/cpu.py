"""The fused CPU butterfly kernel (``_butterfly_cpu.cpp``): build at first use, call via ctypes.

The C++ source is compiled once per machine with the system C++ compiler (``$CXX``, else
``g++``/``c++``/``clang++``; ``-O3 -march=native``) into a cache directory
(``$KMATRIX_CACHE_DIR``, else ``$XDG_CACHE_HOME/kmatrix`` or ``~/.cache/kmatrix``), keyed by a
hash of the source, the flags, the compiler and the CPU, so a fresh checkout pays a few seconds
once and later processes load the library directly. The directory is created if missing (a
per-user temporary directory is used if it cannot be written); the library is compiled to a
temporary file and renamed into place under a lock file, so concurrent first uses (threads or
processes) build it once and never load a partial file. It has a plain C ABI (no torch headers,
hence the fast build). If no compiler works, :func:`available` is False and the dispatcher
falls back to the plain-PyTorch reference (one warning).

Tensors are passed as data pointers with strides in scalars; ctypes releases the GIL during
the call and the kernel runs ``torch.get_num_threads()`` threads over tiles of batch rows.
Complexity: 3·N·log2 N real flops per row and stack index with real twiddles, 4× that with
complex twiddles; memory traffic: x read once, y written once (the stages are fused on a
cache-resident tile).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

import torch

__all__ = ["available", "backward", "forward", "library_path"]

_SRC = Path(__file__).with_name("_butterfly_cpu.cpp")
_FLAGS_BASE = ["-O3", "-std=c++17", "-shared", "-fPIC", "-pthread"]
# Tried in order: native SIMD + OpenMP (libgomp.so.1 resolves to the copy torch has loaded, so
# the kernel shares torch's thread pool), then without OpenMP (std::thread), then generic.
_FLAG_SETS = (
    ["-march=native", "-fopenmp", *_FLAGS_BASE],
    ["-march=native", *_FLAGS_BASE],
    _FLAGS_BASE,
)
_ABI = 2

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_failed: str | None = None

_I64P = ctypes.POINTER(ctypes.c_int64)
_INTP = ctypes.POINTER(ctypes.c_int)
_SUFFIX = {
    torch.float32: "f32",
    torch.float64: "f64",
    torch.complex64: "c64",
    torch.complex128: "c128",
}


def _cache_dir() -> Path:
    env = os.environ.get("KMATRIX_CACHE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kmatrix"


def _compiler() -> str | None:
    for cand in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if cand and shutil.which(cand):
            return shutil.which(cand)
    return None


def _cpu_signature() -> str:
    sig = platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith(("flags", "Features", "model name")):
                    sig += line
    except OSError:
        pass
    return sig


class _CompileError(RuntimeError):
    """The compiler ran and rejected these flags (try the next flag set)."""


@contextlib.contextmanager
def _file_lock(path: Path):
    """Exclusive inter-process lock on ``path`` (``fcntl.flock``; a no-op where unavailable), so
    concurrent first uses (two pytest workers, two notebooks) compile once and the others wait
    and load the result."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _compile_into(directory: Path, name: str, cxx: str, flags: list[str]) -> Path:
    """``directory/name`` built from the source unless already there. Creates ``directory``;
    compiles to a private temporary file, then renames it into place (atomic: a concurrent
    reader never sees a partial library), all under a lock file so a concurrent builder waits
    instead of compiling again. Raises OSError if ``directory`` is unusable, _CompileError if
    the compiler rejects ``flags``."""
    out = directory / name
    if out.exists():
        return out
    directory.mkdir(parents=True, exist_ok=True)
    with _file_lock(directory / (name + ".lock")):
        if out.exists():  # built by another process while we waited
            return out
        fd, tmp = tempfile.mkstemp(prefix=name + ".", suffix=".tmp", dir=directory)
        os.close(fd)
        try:
            proc = subprocess.run(
                [cxx, *flags, str(_SRC), "-o", tmp], capture_output=True, text=True, check=False
            )
            if proc.returncode != 0:
                detail = proc.stderr.strip()[-2000:] or f"exit status {proc.returncode}"
                raise _CompileError(f"{' '.join(flags)}: {detail}")
            os.chmod(tmp, 0o755)
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return out


def _build_dirs() -> list[Path]:
    """Where to build: the cache directory, else (unwritable) a per-user temporary one."""
    user = os.getuid() if hasattr(os, "getuid") else "user"
    return [_cache_dir(), Path(tempfile.gettempdir()) / f"kmatrix-{user}"]


def _build() -> ctypes.CDLL:
    cxx = _compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler found (set $CXX or install g++)")
    src = _SRC.read_bytes()
    errors = []
    for flags in _FLAG_SETS:
        key = hashlib.sha256(src + " ".join([cxx, *flags, _cpu_signature()]).encode()).hexdigest()
        name = f"butterfly_cpu_{key[:16]}.so"
        for directory in _build_dirs():
            try:
                out = _compile_into(directory, name, cxx, flags)
            except _CompileError as exc:
                errors.append(str(exc))
                break  # these flags fail here; other directories would fail alike
            except OSError as exc:  # directory not creatable / writable: try the next one
                errors.append(f"{directory}: {exc}")
                continue
            try:
                lib = ctypes.CDLL(str(out))
            except OSError as exc:  # e.g. a damaged cached file: drop it, build again once
                errors.append(f"{out}: {exc}")
                with contextlib.suppress(OSError):
                    os.unlink(out)
                try:
                    lib = ctypes.CDLL(str(_compile_into(directory, name, cxx, flags)))
                except (OSError, _CompileError) as exc2:
                    errors.append(f"{out}: {exc2}")
                    continue
            if lib.kmx_abi_version() != _ABI:  # pragma: no cover - stale cache guard
                errors.append(f"ABI mismatch in {out}")
                continue
            return lib
    raise RuntimeError("could not compile the fused butterfly kernel:\n" + "\n".join(errors))


def _load() -> ctypes.CDLL | None:
    global _lib, _failed
    if _lib is not None or _failed is not None:
        return _lib
    with _lock:
        if _lib is None and _failed is None:
            try:
                lib = _build()
                vp, i64, ci = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
                for sfx in _SUFFIX.values():
                    f = getattr(lib, f"kmx_fwd_{sfx}")
                    f.argtypes = [vp, vp, vp, i64, i64, ci, ci, _INTP, _I64P, _I64P, ci]
                    f.restype = None
                    b = getattr(lib, f"kmx_bwd_{sfx}")
                    b.argtypes = [
                        vp,
                        vp,
                        vp,
                        vp,
                        vp,
                        i64,
                        i64,
                        ci,
                        ci,
                        _INTP,
                        _I64P,
                        _I64P,
                        _I64P,
                        ci,
                    ]
                    b.restype = None
                _lib = lib
            except (OSError, RuntimeError, AttributeError) as exc:  # no compiler / failed build
                _failed = str(exc)
                warnings.warn(
                    f"kmatrix: fused butterfly kernel unavailable, using the PyTorch reference ({exc})",
                    RuntimeWarning,
                    stacklevel=3,
                )
    return _lib


def available() -> bool:
    """True when the compiled kernel could be built and loaded (builds it on first call)."""
    return _load() is not None


def library_path() -> str | None:
    """Path of the loaded shared library (None when unavailable)."""
    lib = _load()
    return None if lib is None else lib._name


def _row_view(t: torch.Tensor, kernel_complex: bool) -> tuple[torch.Tensor, int, list[int]]:
    """(real view, row components, strides [b, c, s, n, crow] in scalars) of a (B, S, N) tensor.

    With real twiddles a complex tensor is two real rows per batch index (real, imaginary
    parts): its strides in scalars double and the component stride is 1. With complex twiddles
    the kernel reads interleaved (re, im) pairs itself.
    """
    if t.is_complex():
        r = torch.view_as_real(t)
        sb, ss, sn = (2 * st for st in t.stride())
        if kernel_complex:
            return r, 1, [sb, 0, ss, sn, 1]
        return r, 2, [sb, 1, ss, sn, 2]
    sb, ss, sn = t.stride()
    return t, 1, [sb, 0, ss, sn, 1]


_MADV_POPULATE_WRITE = 23  # Linux >= 5.14
_POPULATE_MIN_BYTES = 1 << 20
_madvise = None


def _populate(t: torch.Tensor) -> torch.Tensor:
    """Pre-fault a fresh output buffer with one ``madvise(MADV_POPULATE_WRITE)``.

    Large buffers that the allocator has just returned to the OS and mapped again otherwise take
    one page fault per 4 KiB page inside the kernel (about 2 µs each on a VM: 8 ms for the two
    16 MiB outputs of a KMatrix product at 4096 × 1024, more than the product itself). A no-op
    where unsupported (other OS, older kernel) or for small buffers.
    """
    global _madvise
    nbytes = t.numel() * t.element_size()
    if nbytes < _POPULATE_MIN_BYTES or _madvise is False:
        return t
    if _madvise is None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            _madvise = libc.madvise
            _madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            _madvise.restype = ctypes.c_int
        except (OSError, AttributeError):
            _madvise = False
            return t
    start = (t.data_ptr() + 4095) & ~4095
    end = (t.data_ptr() + nbytes) & ~4095
    if end > start and _madvise(start, end - start, _MADV_POPULATE_WRITE) != 0:
        _madvise = False  # EINVAL: the kernel does not know the advice; stop trying
    return t


def _arr(v: list[int]):
    return (ctypes.c_int64 * 5)(*v)


def _factors(twiddle: torch.Tensor, increasing) -> tuple[torch.Tensor, object]:
    """(F, S, L, N/2, 2, 2) contiguous twiddles and the ctypes int array of F stride orders."""
    tw = twiddle if twiddle.dim() == 6 else twiddle.unsqueeze(0)
    incs = [bool(increasing)] * tw.shape[0] if isinstance(increasing, bool) else list(increasing)
    assert len(incs) == tw.shape[0]
    return tw.contiguous(), (ctypes.c_int * max(1, len(incs)))(*map(int, incs))


def forward(twiddle: torch.Tensor, x: torch.Tensor, increasing) -> torch.Tensor:
    """y = B_{F-1} ⋯ B_0 x with the compiled kernel, all factors fused on each tile.

    twiddle (S, L, N/2, 2, 2) with ``increasing`` a bool, or (F, S, L, N/2, 2, 2) with
    ``increasing`` a sequence of F bools (one stride order per factor); x (B, S, N) with
    x.dtype == twiddle.dtype or complex x with real twiddle of the same precision."""
    lib = _load()
    assert lib is not None
    tw, incs = _factors(twiddle, increasing)
    F = tw.shape[0]
    B, S, N = x.shape
    L = tw.shape[2]
    y = torch.empty((B, S, N), dtype=x.dtype)
    if B == 0 or S == 0:
        return y
    if L == 0 or F == 0:
        return y.copy_(x)
    _populate(y)
    kc = tw.is_complex()
    _, crow, xst = _row_view(x, kc)
    _, _, yst = _row_view(y, kc)
    fn = getattr(lib, "kmx_fwd_" + _SUFFIX[tw.dtype])
    fn(tw.data_ptr(), x.data_ptr(), y.data_ptr(), B * crow, S, L, F, incs, _arr(xst), _arr(yst),
       torch.get_num_threads())  # fmt: skip
    return y


def backward(
    twiddle: torch.Tensor, x: torch.Tensor, grad: torch.Tensor, increasing
) -> tuple[torch.Tensor, torch.Tensor]:
    """(grad_twiddle, grad_x) of y = B_{F-1} ⋯ B_0 x (arguments as in :func:`forward`) for the
    upstream gradient ``grad`` (torch's complex convention: grad_x = Bᴴ grad, grad_twiddle =
    Σ_batch grad·xᴴ per 2×2 block at its stage; real twiddles get the real part). Recomputes
    the activations tile by tile: extra memory independent of the batch (no log2 N copies)."""
    lib = _load()
    assert lib is not None
    tw, incs = _factors(twiddle, increasing)
    F = tw.shape[0]
    B, S, N = x.shape
    L = tw.shape[2]
    gx = torch.empty((B, S, N), dtype=x.dtype)
    gtw = torch.zeros_like(tw)
    if twiddle.dim() == 5:
        gtw = gtw[0]
    if B == 0 or S == 0:
        return gtw, gx.zero_()
    if L == 0 or F == 0:
        return gtw, gx.copy_(grad)
    _populate(gx)
    kc = tw.is_complex()
    _, crow, xst = _row_view(x, kc)
    _, _, gyst = _row_view(grad, kc)
    _, _, gxst = _row_view(gx, kc)
    fn = getattr(lib, "kmx_bwd_" + _SUFFIX[tw.dtype])
    fn(tw.data_ptr(), x.data_ptr(), grad.data_ptr(), gx.data_ptr(), gtw.data_ptr(), B * crow, S, L,
       F, incs, _arr(xst), _arr(gyst), _arr(gxst), torch.get_num_threads())  # fmt: skip
    return gtw, gx
