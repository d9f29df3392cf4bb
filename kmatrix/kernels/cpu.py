"""The fused CPU butterfly kernel (``_butterfly_cpu.cpp``): build at first use, call via ctypes.

Build and cache. The C++ source is compiled once per machine with the system C++ compiler
(``$CXX``, else ``g++``/``c++``/``clang++``; ``-O3 -march=native``) into a cache directory
(``$KMATRIX_CACHE_DIR``, else ``$XDG_CACHE_HOME/kmatrix`` or ``~/.cache/kmatrix``), keyed by a
hash of the source, the flags, the compiler's path *and its ``--version`` text*, the CPU and the
ABI, so a fresh checkout pays a few seconds once and later processes load the library directly.

Trust rules (a shared library is code: loading a foreign or damaged one runs it):

* the cache directory is created ``0700``; before anything in it is used, it must be owned by
  the current user and not writable by group or others, and every ancestor must be owned by
  the user or root and not group/other-writable unless sticky (like ``/tmp``). Otherwise, or
  if it cannot be created, the build goes to a fresh private ``tempfile.mkdtemp`` directory
  (unpredictable name, ``0700``) used by this process only and removed at exit — never a fixed
  shared path;
* the library is compiled to a temporary file, its SHA-256 written beside it
  (``<name>.so.sha256``), both renamed into place under a lock file (atomic; concurrent first
  uses build once). Before ``ctypes.CDLL`` the library must be a regular file owned by the
  user, not group/other-writable, and match its checksum; a truncated, overwritten or foreign
  library is deleted and rebuilt, never loaded;
* a compiler that fails (rejects the flags, is a C compiler, produces a library that does not
  load) leaves a marker ``<name>.failed`` holding its error: later processes skip that build at
  once (one warning, then the plain-PyTorch reference) instead of compiling again. Delete the
  marker (or change ``$CXX``) to retry. No partial file is left behind.

If no compiler works, :func:`available` is False and the dispatcher falls back to the
plain-PyTorch reference (one warning). The library has a plain C ABI (no torch headers, hence the
fast build).

Dtypes: float32, float64, complex64, complex128 (twiddle and x alike; real twiddles with complex
x), and bfloat16 / float16 x with float32 twiddles (float32 arithmetic on the cached tile).

Calls. Tensors are passed as data pointers with strides in scalars; every call checks dtype,
device, shape, stride and conjugation of its arguments first (:func:`forward`,
:func:`backward` raise TypeError/ValueError naming the argument), and the C functions return
an error code (allocation failure -> MemoryError) instead of throwing. ctypes releases the GIL
during the call and the kernel runs ``torch.get_num_threads()`` threads over tiles of batch rows
(or fewer, when OpenMP grants fewer). Complexity: 3·N·log2 N real flops per row and stack index
with real twiddles, 4× that with complex twiddles; memory traffic: x read once, y written once
(the stages are fused on a cache-resident tile). Forward calls with at least
:func:`normalized_min_rows` rows per stack index run normalised stages, 2·N·log2 N flops per
row with real twiddles, half the direct stages' multiplies (the direct stages' result up to
rounding of the same order: tests/test_kernels_normalized.py).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import hashlib
import os
import platform
import shutil
import stat
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

import torch

from ..core.files import atomic_write
from ._shapes import chain_shape

__all__ = ["available", "backward", "forward", "library_path", "normalized_min_rows"]

_SRC = Path(__file__).with_name("_butterfly_cpu.cpp")
_FLAGS_BASE = ["-O3", "-std=c++17", "-shared", "-fPIC", "-pthread"]
# Tried in order: native SIMD + OpenMP (libgomp.so.1 resolves to the copy torch has loaded, so
# the kernel shares torch's thread pool), then without OpenMP (std::thread), then generic.
_FLAG_SETS = (
    ["-march=native", "-fopenmp", *_FLAGS_BASE],
    ["-march=native", *_FLAGS_BASE],
    _FLAGS_BASE,
)
_ABI = 5
_COMPILE_TIMEOUT_S = 600

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_failed: str | None = None
_private_tmp: Path | None = None  # this process's mkdtemp fallback, created on first need

_I64P = ctypes.POINTER(ctypes.c_int64)
_INTP = ctypes.POINTER(ctypes.c_int)
_SUFFIX = {
    torch.float32: "f32",
    torch.float64: "f64",
    torch.complex64: "c64",
    torch.complex128: "c128",
}
_REAL = {torch.complex64: torch.float32, torch.complex128: torch.float64}
# Half-precision data: float32 twiddles, converted on load / rounded on store, float32 inside.
_HALF_SUFFIX = {torch.bfloat16: "bf16", torch.float16: "f16"}


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


def _compiler_version(cxx: str) -> str:
    """The compiler's ``--version`` text (part of the cache key: an upgraded compiler rebuilds,
    and a failed build is remembered per compiler version)."""
    try:
        proc = subprocess.run(
            [cxx, "--version"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({type(exc).__name__})"
    return f"{proc.returncode}:{proc.stdout.strip()[:2000]}"


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
    """The compiler ran and failed with these flags (try the next flag set)."""


class _Untrusted(OSError):
    """A cache directory or file that another user could have written."""


def _uid() -> int | None:
    return os.getuid() if hasattr(os, "getuid") else None


def _check_owned(path: Path, st: os.stat_result, what: str) -> None:
    uid = _uid()
    if uid is None:  # pragma: no cover - non-POSIX: no ownership model to check
        return
    if st.st_uid != uid:
        raise _Untrusted(f"{what} {path} is owned by uid {st.st_uid}, not by this user ({uid})")
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise _Untrusted(
            f"{what} {path} is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
        )


def _check_private_dir(path: Path) -> None:
    """Raise :class:`_Untrusted` unless ``path`` (resolved) is a directory owned by this user,
    not group/other-writable, under ancestors that only this user or root can modify."""
    uid = _uid()
    if uid is None:  # pragma: no cover - non-POSIX
        return
    real = Path(os.path.realpath(path))
    st = os.stat(real)
    if not stat.S_ISDIR(st.st_mode):
        raise _Untrusted(f"cache directory {real} is not a directory")
    _check_owned(real, st, "cache directory")
    for parent in real.parents:
        pst = os.stat(parent)
        if pst.st_uid not in (uid, 0):
            raise _Untrusted(f"{parent} (above the cache directory) is owned by uid {pst.st_uid}")
        if pst.st_mode & (stat.S_IWGRP | stat.S_IWOTH) and not pst.st_mode & stat.S_ISVTX:
            raise _Untrusted(f"{parent} (above the cache directory) is writable by others")


def _fallback_dir() -> Path:
    """This process's private build directory: ``tempfile.mkdtemp`` (random name, mode 0700)."""
    global _private_tmp
    if _private_tmp is None or not _private_tmp.is_dir():
        _private_tmp = Path(tempfile.mkdtemp(prefix="kmatrix-"))
        atexit.register(shutil.rmtree, _private_tmp, True)  # a loaded library stays mapped
    _check_private_dir(_private_tmp)
    return _private_tmp


def _build_dir(errors: list[str]) -> Path:
    """The cache directory (created 0700) if it is private, else the mkdtemp fallback."""
    directory = _cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        _check_private_dir(directory)
        return directory
    except OSError as exc:  # not creatable, not writable, or not private (_Untrusted)
        errors.append(f"{directory}: {exc}")
        warnings.warn(
            f"kmatrix: not using the kernel cache {directory} ({exc}); building in a private "
            "temporary directory for this process",
            RuntimeWarning,
            stacklevel=4,
        )
        return _fallback_dir()


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
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verified(lib: Path) -> str | None:
    """None when ``lib`` may be loaded, else why not: it and its checksum file must be regular
    files (not links) owned by this user, not group/other-writable, and the library's SHA-256
    must equal the recorded one."""
    sumfile = lib.with_name(lib.name + ".sha256")
    try:
        for path, what in ((lib, "library"), (sumfile, "checksum file")):
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                return f"{what} {path} is not a regular file"
            _check_owned(path, st, what)
        recorded = sumfile.read_text().strip()
        actual = _sha256(lib)
    except OSError as exc:
        return str(exc)
    if recorded != actual:
        return f"{lib} does not match its recorded SHA-256 (damaged or replaced)"
    return None


def _remove(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _open_checked(lib: Path) -> ctypes.CDLL:
    """``ctypes.CDLL(lib)`` after :func:`_verified`; OSError when it is not loadable."""
    reason = _verified(lib)
    if reason is not None:
        raise _Untrusted(reason)
    handle = ctypes.CDLL(str(lib))
    version = handle.kmx_abi_version()
    if version != _ABI:
        raise OSError(f"{lib}: ABI version {version}, expected {_ABI}")
    return handle


def _obtain(directory: Path, name: str, cxx: str, flags: list[str]) -> ctypes.CDLL:
    """The library ``directory/name.so``: loaded if present and verified, else (missing,
    damaged, foreign) built from the source and loaded. Raises _CompileError when this
    compiler/flags combination fails (now or, per its marker, in an earlier process), OSError
    when the directory is unusable."""
    lib = directory / (name + ".so")
    sumfile = lib.with_name(lib.name + ".sha256")
    marker = directory / (name + ".failed")
    with _file_lock(directory / (name + ".lock")):
        with contextlib.suppress(FileNotFoundError):
            st = os.lstat(marker)
            if stat.S_ISREG(st.st_mode):
                with contextlib.suppress(_Untrusted):
                    _check_owned(marker, st, "marker")
                    raise _CompileError(
                        f"{' '.join(flags)}: failed in an earlier process (delete {marker} to "
                        f"retry): {marker.read_text()[-2000:]}"
                    )
            _remove(marker)  # not ours or not a file: ignore and rebuild
        if os.path.lexists(lib) or os.path.lexists(sumfile):
            try:
                return _open_checked(lib)
            except OSError as exc:  # damaged, foreign, stale: never load it, rebuild
                warnings.warn(
                    f"kmatrix: rebuilding the cached butterfly kernel ({exc})",
                    RuntimeWarning,
                    stacklevel=5,
                )
                _remove(lib, sumfile)
        fd, tmp = tempfile.mkstemp(prefix=name + ".", suffix=".so.tmp", dir=directory)
        os.close(fd)
        try:
            try:
                proc = subprocess.run(
                    [cxx, *flags, str(_SRC), "-o", tmp],
                    capture_output=True,
                    text=True,
                    check=False,
                    timeout=_COMPILE_TIMEOUT_S,
                )
            except subprocess.TimeoutExpired as exc:  # not remembered: may be a slow machine
                raise _CompileError(f"{' '.join(flags)}: timed out after {exc.timeout} s") from exc
            failure = None
            if proc.returncode != 0:
                failure = proc.stderr.strip()[-2000:] or f"exit status {proc.returncode}"
            else:
                os.chmod(tmp, 0o700)
                atomic_write(sumfile, _sha256(Path(tmp)) + "\n")
                os.replace(tmp, lib)
                try:
                    return _open_checked(lib)
                except OSError as exc:  # built but not loadable (e.g. $CXX is a C compiler)
                    _remove(lib, sumfile)
                    failure = f"the built library does not load: {exc}"
            atomic_write(marker, failure)
            raise _CompileError(f"{' '.join(flags)}: {failure}")
        finally:
            _remove(Path(tmp))


def _names(cxx: str) -> list[tuple[list[str], str]]:
    """(flags, file stem) of each build to try, the stem a hash of the source, the compiler's
    path and ``--version``, the flags, the CPU and the ABI version."""
    identity = " ".join([cxx, _compiler_version(cxx), _cpu_signature(), f"abi{_ABI}"])
    src = _SRC.read_bytes()
    out = []
    for flags in _FLAG_SETS:
        key = hashlib.sha256(src + " ".join([identity, *flags]).encode()).hexdigest()
        out.append((flags, f"butterfly_cpu_{key[:16]}"))
    return out


def _build() -> ctypes.CDLL:
    cxx = _compiler()
    if cxx is None:
        raise RuntimeError("no C++ compiler found (set $CXX or install g++)")
    errors: list[str] = []
    directory = _build_dir(errors)
    for flags, name in _names(cxx):
        while True:
            try:
                return _obtain(directory, name, cxx, flags)
            except _CompileError as exc:
                errors.append(str(exc))
                break  # these flags fail with this compiler; try the next set
            except OSError as exc:  # directory unusable (full disk, removed): private fallback
                errors.append(f"{directory}: {exc}")
                if directory == _private_tmp:
                    raise RuntimeError("\n".join(errors)) from exc
                directory = _fallback_dir()
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
                for sfx in (*_SUFFIX.values(), *_HALF_SUFFIX.values()):
                    f = getattr(lib, f"kmx_fwd_{sfx}")
                    f.argtypes = [vp, vp, vp, i64, i64, ci, ci, _INTP, _I64P, _I64P, ci]
                    f.restype = ci
                    b = getattr(lib, f"kmx_bwd_{sfx}")
                    b.argtypes = [vp, vp, vp, vp, vp, i64, i64, ci, ci, _INTP, _I64P, _I64P,
                                  _I64P, ci]  # fmt: skip
                    b.restype = ci
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


def normalized_min_rows() -> int | None:
    """Rows per stack index from which a forward call runs the normalised stages
    (each 2×2 block written diag(pivots)·[[1, p], [q, 1]], the pivots carried to the next
    stage: two multiply-adds per pair instead of four products; see ``Passes::normalize`` in
    ``_butterfly_cpu.cpp``), or None when the kernel is unavailable. Below it, and when the
    twiddles are refused (a zero pivot, scales outside [2^-90, 2^30]) or their normalised copy
    would exceed 64 MiB (a float32 K-matrix from N = 2^18), the direct stages run; a tile whose
    normalised result is not finite is recomputed by the direct stages."""
    lib = _load()
    return None if lib is None else int(lib.kmx_norm_min_rows())


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


def _arr(v: list[int]):
    return (ctypes.c_int64 * 5)(*v)


_ERRORS = {
    1: (MemoryError, "the fused butterfly kernel could not allocate its working memory"),
    2: (ValueError, "the fused butterfly kernel rejected its arguments"),
    3: (RuntimeError, "the fused butterfly kernel failed"),
}


def _raise_on(code: int, what: str) -> None:
    if code:
        exc, msg = _ERRORS.get(code, (RuntimeError, f"unknown error code {code}"))
        raise exc(f"kmatrix: {msg} ({what}, error code {code})")


def _check_call(twiddle, x, increasing, grad=None) -> tuple[torch.Tensor, object]:
    """Validate the arguments of a kernel call (the compiled code reads raw memory: a wrong
    dtype, shape or device would read or write out of bounds). Returns the contiguous
    (F, S, L, N/2, 2, 2) twiddle and the ctypes array of the F stride orders."""
    args = [("twiddle", twiddle), ("x", x)] + ([("grad", grad)] if grad is not None else [])
    for name, t in args:
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
        if t.device.type != "cpu" or t.layout != torch.strided:
            raise ValueError(
                f"{name}: the CPU kernel needs a dense CPU tensor, got {t.layout} on {t.device}"
            )
    if twiddle.dtype not in _SUFFIX:
        raise TypeError(
            "twiddle: expected dtype float32, float64, complex64 or complex128 (float32 for "
            f"bfloat16/float16 x), got {twiddle.dtype}"
        )
    if not (
        x.dtype == twiddle.dtype
        or (x.is_complex() and _REAL.get(x.dtype) == twiddle.dtype)
        or (x.dtype in _HALF_SUFFIX and twiddle.dtype == torch.float32)
    ):
        allowed = str(twiddle.dtype)
        if not twiddle.is_complex():
            allowed += f" (or {twiddle.dtype.to_complex()} with real twiddles)"
        if twiddle.dtype == torch.float32:
            allowed += ", bfloat16 or float16"
        raise TypeError(f"x: expected dtype {allowed} to match twiddle, got {x.dtype}")
    chain_shape(twiddle, x)
    tw = twiddle if twiddle.dim() == 6 else twiddle.unsqueeze(0)
    F = tw.shape[0]
    if isinstance(increasing, (bool, int)):
        incs = [bool(increasing)] * F
    else:
        try:
            incs = [bool(v) for v in increasing]
        except TypeError:
            raise TypeError(
                f"increasing: expected a bool or a sequence of bools, got {increasing!r}"
            ) from None
    if len(incs) != F:
        raise ValueError(
            f"increasing: expected {F} stride orders (one per factor), got {len(incs)}"
        )
    if grad is not None and (grad.shape != x.shape or grad.dtype != x.dtype):
        raise ValueError(
            f"grad: expected shape {tuple(x.shape)} and dtype {x.dtype} (those of x), got "
            f"{tuple(grad.shape)} and {grad.dtype}"
        )
    tw = tw.resolve_conj().resolve_neg().contiguous()
    return tw, (ctypes.c_int * max(1, F))(*map(int, incs))


def forward(twiddle: torch.Tensor, x: torch.Tensor, increasing) -> torch.Tensor:
    """y = B_{F-1} ⋯ B_0 x with the compiled kernel, all factors fused on each tile.

    twiddle (S, L, N/2, 2, 2) with ``increasing`` a bool, or (F, S, L, N/2, 2, 2) with
    ``increasing`` a sequence of F bools (one stride order per factor); x (B, S, N) with
    x.dtype == twiddle.dtype, complex x with real twiddle of the same precision, or bfloat16 /
    float16 x with float32 twiddle (converted to float32 when a tile is loaded, every stage of
    every factor in float32, rounded once to x's dtype when stored: y has x's dtype). Arguments
    are checked (TypeError/ValueError naming the argument); MemoryError if the kernel cannot
    allocate its per-thread tiles."""
    lib = _load()
    if lib is None:
        raise RuntimeError(f"kmatrix: the fused butterfly kernel is unavailable ({_failed})")
    tw, incs = _check_call(twiddle, x, increasing)
    x = x.resolve_conj().resolve_neg()
    F = tw.shape[0]
    B, S, N = x.shape
    L = tw.shape[2]
    y = torch.empty((B, S, N), dtype=x.dtype)
    if B == 0 or S == 0:
        return y
    if L == 0 or F == 0:
        return y.copy_(x)
    kc = tw.is_complex()
    _, crow, xst = _row_view(x, kc)
    _, _, yst = _row_view(y, kc)
    fn = getattr(lib, "kmx_fwd_" + _HALF_SUFFIX.get(x.dtype, _SUFFIX[tw.dtype]))
    code = fn(tw.data_ptr(), x.data_ptr(), y.data_ptr(), B * crow, S, L, F, incs, _arr(xst),
              _arr(yst), torch.get_num_threads())  # fmt: skip
    _raise_on(code, f"forward, x of shape {tuple(x.shape)}")
    return y


def backward(
    twiddle: torch.Tensor, x: torch.Tensor, grad: torch.Tensor, increasing
) -> tuple[torch.Tensor, torch.Tensor]:
    """(grad_twiddle, grad_x) of y = B_{F-1} ⋯ B_0 x (arguments as in :func:`forward`) for the
    upstream gradient ``grad`` (torch's complex convention: grad_x = Bᴴ grad, grad_twiddle =
    Σ_batch grad·xᴴ per 2×2 block at its stage; real twiddles get the real part). Recomputes
    the activations tile by tile: extra memory independent of the batch (no log2 N copies).
    Half-precision x and grad (float32 twiddle): float32 arithmetic, grad_x rounded once to x's
    dtype, grad_twiddle summed and returned in float32."""
    lib = _load()
    if lib is None:
        raise RuntimeError(f"kmatrix: the fused butterfly kernel is unavailable ({_failed})")
    tw, incs = _check_call(twiddle, x, increasing, grad)
    x = x.resolve_conj().resolve_neg()
    grad = grad.resolve_conj().resolve_neg()
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
    kc = tw.is_complex()
    _, crow, xst = _row_view(x, kc)
    _, _, gyst = _row_view(grad, kc)
    _, _, gxst = _row_view(gx, kc)
    fn = getattr(lib, "kmx_bwd_" + _HALF_SUFFIX.get(x.dtype, _SUFFIX[tw.dtype]))
    code = fn(tw.data_ptr(), x.data_ptr(), grad.data_ptr(), gx.data_ptr(), gtw.data_ptr(), B * crow,
              S, L, F, incs, _arr(xst), _arr(gyst), _arr(gxst), torch.get_num_threads())  # fmt: skip
    _raise_on(code, f"backward, x of shape {tuple(x.shape)}")
    return gtw, gx
